"""Meme templates: where the text goes, how it looks, and what is pasted on top.

The shape follows memegen.link's templates, the meme API most people know: a template is an
image plus any number of text boxes, each placed by its top-left corner (``anchor_x``,
``anchor_y``) and size (``scale_x``, ``scale_y``), all as fractions of the image, so one
template fits any size of its image and a member's own image ("custom background") can be
used with any template's layout. Boxes rotate about their centre; on animated backgrounds a
box (or an overlay) can show for only part of the animation (``start``/``stop``, fractions of
the whole running time).

Models are frozen pydantic models: hashable, safe to share between threads and caches, and
stored per server as JSON (``to_json``/``from_json``). Anything invalid raises
``TemplateInvalid`` with one line naming the field, what is wrong and the value given.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Literal

from PIL import ImageColor
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import TemplateInvalid
from .text import CASE_STYLES

FORMAT_VERSION = 1
MAX_BOXES = 20  # Discord allows 25 options a command; a handful of boxes is the norm
MAX_OVERLAYS = 10

_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_FONT_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_EPSILON = 1e-9


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


def _check_colour(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        ImageColor.getrgb(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a colour (use a name like white or #RRGGBB)") from None
    return value


def _check_timing(start: float, stop: float) -> None:
    if start >= stop:
        raise ValueError(f"start ({start}) must be before stop ({stop})")


class TextBox(_Frozen):
    """One place text goes. Defaults make a full-width box across the top fifth."""

    anchor_x: float = Field(0.0, ge=0.0, le=1.0, description="left edge, fraction of width")
    anchor_y: float = Field(0.0, ge=0.0, le=1.0, description="top edge, fraction of height")
    scale_x: float = Field(1.0, gt=0.0, le=1.0, description="width, fraction of image width")
    scale_y: float = Field(0.2, gt=0.0, le=1.0, description="height, fraction of image height")
    align: Literal["left", "center", "right"] = "center"
    valign: Literal["top", "middle", "bottom"] = "middle"
    angle: float = Field(0.0, ge=-360.0, le=360.0, description="degrees, counter-clockwise")
    color: str = "#FFFFFF"
    outline: str | None = Field("#000000", description="outline colour; null for none")
    font: str = "sans-bold"
    style: str = "upper"
    start: float = Field(0.0, ge=0.0, le=1.0)
    stop: float = Field(1.0, ge=0.0, le=1.0)

    @field_validator("color", "outline")
    @classmethod
    def _colour(cls, value: str | None) -> str | None:
        return _check_colour(value)

    @field_validator("font")
    @classmethod
    def _font_name(cls, value: str) -> str:
        if not _FONT_NAME.fullmatch(value):
            raise ValueError(f"{value!r} is not a font name (lower-case letters, digits, - _ .)")
        return value

    @field_validator("style")
    @classmethod
    def _style(cls, value: str) -> str:
        if value not in CASE_STYLES:
            raise ValueError(f"{value!r} is not a style; use one of {', '.join(CASE_STYLES)}")
        return value

    @model_validator(mode="after")
    def _inside_image(self) -> TextBox:
        if self.anchor_x + self.scale_x > 1.0 + _EPSILON:
            raise ValueError(
                f"anchor_x + scale_x is {self.anchor_x + self.scale_x:g}: "
                "the box must end inside the image (at most 1)"
            )
        if self.anchor_y + self.scale_y > 1.0 + _EPSILON:
            raise ValueError(
                f"anchor_y + scale_y is {self.anchor_y + self.scale_y:g}: "
                "the box must end inside the image (at most 1)"
            )
        _check_timing(self.start, self.stop)
        return self

    @property
    def timed(self) -> bool:
        """Whether the box shows for only part of an animation."""
        return self.start > 0.0 or self.stop < 1.0

    def visible_at(self, moment: float) -> bool:
        """Whether the box shows at ``moment`` (fraction of the animation, 0 ≤ moment < 1)."""
        return self.start <= moment < self.stop

    def pixel_box(self, width: int, height: int) -> tuple[int, int, int, int]:
        """The box on an image of this size: (left, top, box width, box height) in pixels."""
        left, top = round(self.anchor_x * width), round(self.anchor_y * height)
        right = min(width, round((self.anchor_x + self.scale_x) * width))
        bottom = min(height, round((self.anchor_y + self.scale_y) * height))
        return left, top, max(0, right - left), max(0, bottom - top)


class Overlay(_Frozen):
    """An image pasted onto the background (under the text), centred on a point.

    ``image`` names the picture (a storage key or link); the caller hands its bytes to the
    renderer. It is scaled to fit a square ``scale`` of the image's shorter side, keeping its
    own proportions, then rotated by ``angle`` degrees counter-clockwise.
    """

    image: str = Field(min_length=1, max_length=2000)
    center_x: float = Field(0.5, ge=0.0, le=1.0)
    center_y: float = Field(0.5, ge=0.0, le=1.0)
    scale: float = Field(0.25, gt=0.0, le=1.0)
    angle: float = Field(0.0, ge=-360.0, le=360.0)
    start: float = Field(0.0, ge=0.0, le=1.0)
    stop: float = Field(1.0, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _timing(self) -> Overlay:
        _check_timing(self.start, self.stop)
        return self

    def visible_at(self, moment: float) -> bool:
        """Whether the overlay shows at ``moment`` (fraction of the animation)."""
        return self.start <= moment < self.stop


class Template(_Frozen):
    """A meme template: its image, its text boxes (drawn in order) and its overlays.

    ``background`` says where the image lives (a link or a storage key; empty for a layout
    meant for members' own images). ``example`` holds one sample text per box for help
    pages and autocomplete.
    """

    version: Literal[1] = FORMAT_VERSION
    id: str
    name: str = Field(min_length=1, max_length=100)
    background: str = Field("", max_length=2000)
    boxes: tuple[TextBox, ...] = Field(min_length=1, max_length=MAX_BOXES)
    overlays: tuple[Overlay, ...] = Field((), max_length=MAX_OVERLAYS)
    example: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _SLUG.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a template id (1-64 of a-z 0-9 - _, starting with a letter "
                "or digit)"
            )
        return value

    @model_validator(mode="after")
    def _examples_fit(self) -> Template:
        if len(self.example) > len(self.boxes):
            raise ValueError(
                f"{len(self.example)} example texts for {len(self.boxes)} boxes; "
                "give at most one per box"
            )
        return self

    @property
    def animated_text(self) -> bool:
        """Whether any box or overlay shows for only part of an animation."""
        return any(box.timed for box in self.boxes) or any(
            o.start > 0 or o.stop < 1 for o in self.overlays
        )

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (JSON types only) that ``from_dict`` turns back into this template."""
        return self.model_dump(mode="json")

    def to_json(self) -> str:
        """Compact JSON for storage; ``from_json`` reads it back equal."""
        return self.model_dump_json()

    @classmethod
    def from_dict(cls, data: Any) -> Template:
        """Validate a dict (from JSON, a form, a file); raises ``TemplateInvalid``."""
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            raise TemplateInvalid(describe(error)) from None

    @classmethod
    def from_json(cls, text: str | bytes) -> Template:
        """Validate stored JSON; raises ``TemplateInvalid`` with one line saying what is wrong."""
        try:
            return cls.model_validate_json(text)
        except ValidationError as error:
            raise TemplateInvalid(describe(error)) from None

    @classmethod
    def build(cls, **fields: Any) -> Template:
        """Construct from keyword fields, raising ``TemplateInvalid`` rather than pydantic's
        multi-line ``ValidationError``."""
        return cls.from_dict(fields)


def describe(error: ValidationError) -> str:
    """Pydantic's errors as one line: the first problem's place, what is wrong, what was given,
    and how many more problems there are."""
    problems = error.errors(include_url=False)
    # A bad item also makes its list "too short" after validation: report the item only.
    locs = [problem["loc"] for problem in problems]
    problems = [
        problem
        for problem in problems
        if not any(
            len(loc) > len(problem["loc"]) and loc[: len(problem["loc"])] == problem["loc"]
            for loc in locs
        )
    ] or problems
    first = problems[0]
    place = "".join(
        f"[{part + 1}]" if isinstance(part, int) else (f".{part}" if i else str(part))
        for i, part in enumerate(first["loc"])
    )
    message = first["msg"].removeprefix("Value error, ")
    given = first.get("input")
    line = f"{place}: {message}" if place else message
    # Our own validators already quote the value; pydantic's built-in messages do not.
    quoted = first["type"] in ("value_error", "missing", "model_type", "json_invalid")
    if not quoted and not isinstance(given, dict | list):
        line += f" (got {given!r})"
    if len(problems) > 1:
        line += f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})"
    return line


def classic_boxes(count: int = 2) -> tuple[TextBox, ...]:
    """The classic layout: a caption hugging the top edge and one hugging the bottom.

    Each box is nearly full width (a 2.5% margin either side) and a quarter of the height,
    so a long caption wraps to a few lines before it shrinks. ``count=1`` gives the bottom
    caption only.
    """
    top = TextBox(anchor_x=0.025, anchor_y=0.02, scale_x=0.95, scale_y=0.25, valign="top")
    bottom = TextBox(anchor_x=0.025, anchor_y=0.73, scale_x=0.95, scale_y=0.25, valign="bottom")
    if count == 1:
        return (bottom,)
    if count == 2:
        return (top, bottom)
    raise ValueError("the classic layout has one or two boxes")


def slugify(name: str) -> str:
    """A template id from a name: ``"10 Guy"`` → ``"10-guy"``, ``"Señor!"`` → ``"senor"``."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-")[:64].strip("-")
    return slug or "template"


def classic_template(name: str, background: str = "", *, id: str | None = None) -> Template:
    """A template for an image that comes with nothing but a name and a link (Imgur's default
    meme templates, a member's upload): the classic top and bottom captions."""
    return Template.build(
        id=id or slugify(name),
        name=name.strip()[:100] or "Template",
        background=background,
        boxes=classic_boxes(),
    )
