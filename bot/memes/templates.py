"""Where meme templates come from, and how a server's own are kept.

Three sources, each with its own key prefix so a key names one template whatever the
others hold (``TemplateEntry.key``):

- ``server:<slug>``: a server's custom templates, made with ``/meme template-add`` from an
  attachment or a link; the image itself is stored (links from Discord's CDN expire), as
  ``ServerTemplates`` rows in the store;
- ``imgur:<id>``: Imgur's default meme templates (``/3/memegen/defaults``, a legacy endpoint
  cached for a week), with the classic top and bottom captions;
- ``bot:<slug>``: the bot's own, drawn with Pillow (plain colours and gradients), so there is
  always something to make a meme with when Imgur's list cannot be had.

Layouts (``parse_layout``) are what a member may give with a template or a custom image: a
preset name (``classic``, ``top``, ``bottom``, ``center``, ``left-right``, ``four``) or
memegen-style JSON, a list of boxes (``[{"anchor_x": 0.1, "scale_x": 0.8, …}]``), each box
with its own position, size, alignment, angle, colour, font and timing (``TextBox``).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from PIL import Image, ImageOps

from bot.imgur.models import MemeTemplate
from bot.store import Schema, Store

from .errors import BadImage, TemplateInvalid
from .images import Background, ImageLimits, load_background
from .model import Template, TextBox, classic_boxes, classic_template, slugify

Source = Literal["server", "imgur", "bot"]
SOURCE_LABELS: dict[Source, str] = {
    "server": "this server",
    "imgur": "Imgur",
    "bot": "built in",
}
SAMPLE_TEXTS = ("TOP TEXT", "BOTTOM TEXT")


@dataclass(frozen=True)
class TemplateEntry:
    """One template as members see it: its key, where it comes from, its layout, and what
    is needed to get its image (``image_url`` for Imgur's, ``version`` to cache by)."""

    key: str
    source: Source
    template: Template
    version: str
    image_url: str | None = None
    imgur_id: str | None = None
    width: int | None = None
    height: int | None = None
    frames: int = 1

    @property
    def name(self) -> str:
        return self.template.name

    @property
    def label(self) -> str:
        """How autocomplete and lists show it: ``"10 Guy · Imgur"``."""
        return f"{self.name} · {SOURCE_LABELS[self.source]}"

    @property
    def page_url(self) -> str | None:
        """The template's page on Imgur, for Imgur's templates."""
        return f"https://imgur.com/{self.imgur_id}" if self.imgur_id else None

    @property
    def sample_texts(self) -> tuple[str, ...]:
        """One sample text per box, to show where text goes."""
        boxes = len(self.template.boxes)
        if self.template.example:
            return self.template.example
        if boxes == 2:
            return SAMPLE_TEXTS
        return tuple(f"TEXT {n}" for n in range(1, boxes + 1))

    def matches(self, needle: str) -> bool:
        """Whether a member's search words find this template (name, key or keywords)."""
        needle = needle.strip().lower()
        if not needle:
            return True
        haystack = " ".join((self.name, self.key, *self.template.keywords)).lower()
        return needle in haystack or template_slug(needle) in slugify(haystack)


def template_slug(name: str) -> str:
    """A template's id from its name: ``"Our Cat!"`` → ``"our-cat"``. A name with no Latin
    letter or digit to slug (``"猫"``) gets a short hash of itself instead, so names in any
    script have ids of their own."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    if re.search(r"[A-Za-z0-9]", plain):
        return slugify(name)
    return "t-" + hashlib.sha256(name.strip().casefold().encode()).hexdigest()[:12]


# -- Imgur's default templates ------------------------------------------------------------


def imgur_entry(meme: MemeTemplate) -> TemplateEntry:
    """An entry for one of Imgur's default templates (classic captions on its image)."""
    return TemplateEntry(
        key=f"imgur:{meme.id}",
        source="imgur",
        template=classic_template(meme.name, meme.image_url, id=template_slug(meme.name)),
        version=meme.image_url,
        image_url=meme.image_url,
        imgur_id=meme.id,
        width=meme.width,
        height=meme.height,
    )


# -- the bot's own, drawn ------------------------------------------------------------------


def _gradient(size: tuple[int, int], top: str, bottom: str) -> Image.Image:
    ramp = Image.linear_gradient("L").resize(size, Image.Resampling.BILINEAR)
    return ImageOps.colorize(ramp, top, bottom)


def _panels(size: tuple[int, int], upper: str, lower: str) -> Image.Image:
    image = Image.new("RGB", size, upper)
    image.paste(Image.new("RGB", (size[0], size[1] // 2), lower), (0, size[1] // 2))
    return image


def _caption_bar(size: tuple[int, int]) -> Image.Image:
    image = _gradient(size, "#6b7b8c", "#2b3440")
    image.paste(Image.new("RGB", (size[0], size[1] // 4), "white"), (0, 0))
    return image


_DARK_TEXT = {"color": "#000000", "outline": None, "style": "none"}


@dataclass(frozen=True)
class _Drawn:
    slug: str
    name: str
    draw: Callable[[], Image.Image]
    boxes: tuple[TextBox, ...]
    keywords: tuple[str, ...] = ()
    example: tuple[str, ...] = ()


_SQUARE = (800, 800)
_BUILTINS: tuple[_Drawn, ...] = (
    _Drawn("black", "Plain black", lambda: Image.new("RGB", _SQUARE, "black"), classic_boxes()),
    _Drawn(
        "white",
        "Plain white",
        lambda: Image.new("RGB", _SQUARE, "white"),
        tuple(box.model_copy(update=_DARK_TEXT) for box in classic_boxes()),
        example=("Top text", "Bottom text"),
    ),
    _Drawn(
        "sunset",
        "Sunset gradient",
        lambda: _gradient(_SQUARE, "#ff9a3c", "#5b247a"),
        classic_boxes(),
        ("gradient", "orange", "purple"),
    ),
    _Drawn(
        "ocean",
        "Ocean gradient",
        lambda: _gradient(_SQUARE, "#43cea2", "#185a9d"),
        classic_boxes(),
        ("gradient", "blue", "green"),
    ),
    _Drawn(
        "expectation-reality",
        "Expectation / reality",
        lambda: _panels(_SQUARE, "#4f9d69", "#a23b3b"),
        (
            TextBox(anchor_x=0.05, anchor_y=0.1, scale_x=0.9, scale_y=0.3),
            TextBox(anchor_x=0.05, anchor_y=0.6, scale_x=0.9, scale_y=0.3),
        ),
        ("two panels", "before after"),
        ("EXPECTATION", "REALITY"),
    ),
    _Drawn(
        "caption",
        "Caption bar",
        lambda: _caption_bar(_SQUARE),
        (
            TextBox(anchor_x=0.04, anchor_y=0.02, scale_x=0.92, scale_y=0.21, **_DARK_TEXT),
            TextBox(anchor_x=0.025, anchor_y=0.73, scale_x=0.95, scale_y=0.25, valign="bottom"),
        ),
        ("modern", "white bar"),
        ("When the caption goes on top", "AND HERE"),
    ),
)


def builtin_entries() -> list[TemplateEntry]:
    """The bot's own templates: nothing to download, always there."""
    return [
        TemplateEntry(
            key=f"bot:{drawn.slug}",
            source="bot",
            template=Template.build(
                id=drawn.slug,
                name=drawn.name,
                boxes=drawn.boxes,
                keywords=drawn.keywords,
                example=drawn.example,
            ),
            version="1",
            width=_SQUARE[0],
            height=_SQUARE[1],
        )
        for drawn in _BUILTINS
    ]


def draw_builtin(slug: str) -> Background:
    """Draw one of the bot's own backgrounds (CPU work: call it in an executor)."""
    for drawn in _BUILTINS:
        if drawn.slug == slug:
            return load_background(drawn.draw())
    raise KeyError(slug)


# -- layouts -------------------------------------------------------------------------------

LAYOUTS: dict[str, tuple[TextBox, ...]] = {
    "classic": classic_boxes(2),
    "top": (classic_boxes(2)[0],),
    "bottom": classic_boxes(1),
    "center": (TextBox(anchor_x=0.05, anchor_y=0.35, scale_x=0.9, scale_y=0.3),),
    "left-right": (
        TextBox(anchor_x=0.02, anchor_y=0.1, scale_x=0.46, scale_y=0.8),
        TextBox(anchor_x=0.52, anchor_y=0.1, scale_x=0.46, scale_y=0.8),
    ),
    "four": tuple(
        TextBox(anchor_x=x, anchor_y=y, scale_x=0.46, scale_y=0.4)
        for y in (0.05, 0.55)
        for x in (0.02, 0.52)
    ),
}
LAYOUT_HELP = (
    "a layout is classic, top, bottom, center, left-right or four, a template's name, or "
    'JSON boxes like [{"anchor_x":0.1,"anchor_y":0.7,"scale_x":0.8,"scale_y":0.25}]'
)


def parse_layout(text: str) -> tuple[TextBox, ...] | None:
    """A preset's boxes or JSON boxes; ``None`` when ``text`` is neither (it may be a
    template's name, which the caller looks up). Raises ``TemplateInvalid`` for JSON that
    breaks the model, saying which box and field."""
    text = text.strip()
    preset = LAYOUTS.get(text.lower())
    if preset is not None:
        return preset
    if not text.startswith(("[", "{")):
        return None
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as error:
        raise TemplateInvalid(
            f"The layout is not valid JSON ({error.msg}); {LAYOUT_HELP}."
        ) from None
    boxes = data.get("boxes", data.get("text")) if isinstance(data, dict) else data
    # memegen.link calls the boxes "text"; either name (or a bare list) is accepted.
    template = Template.from_dict({"id": "layout", "name": "layout", "boxes": boxes})
    return template.boxes


# -- a server's own templates, stored ------------------------------------------------------

SCHEMA = Schema(
    "memes",
    [
        [
            """CREATE TABLE meme_templates (
                guild_id BIGINT NOT NULL,
                slug TEXT NOT NULL,
                name TEXT NOT NULL,
                template TEXT NOT NULL,
                source TEXT NOT NULL,
                mime TEXT NOT NULL,
                width INTEGER NOT NULL,
                height INTEGER NOT NULL,
                frames INTEGER NOT NULL,
                sha256 TEXT NOT NULL,
                image {blob} NOT NULL,
                added_by BIGINT NOT NULL,
                added_at DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (guild_id, slug)
            )""",
            # One row per server, written first by every add: a lock both engines honour,
            # so the count check and the insert after it see every earlier add.
            """CREATE TABLE meme_template_locks (
                guild_id BIGINT PRIMARY KEY,
                adds BIGINT NOT NULL
            )""",
        ]
    ],
)
_COLUMNS = "slug, template, width, height, frames, sha256"


@dataclass(frozen=True)
class PreparedImage:
    """A template image ready to store: bytes, type, size and frame count."""

    data: bytes
    mime: str
    width: int
    height: int
    frames: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


_DEFAULT_LIMITS = ImageLimits()
_KEEP_AS_IS = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp"}


def prepare_image(
    data: bytes, max_side: int, limits: ImageLimits = _DEFAULT_LIMITS
) -> PreparedImage:
    """Check a template image and make it what is stored (CPU work: run in an executor).

    The image must decode (``BadImage`` says why not, bombs included). Animations are kept
    byte for byte (captioning needs every frame as it was); stills already small enough in
    a common format are kept too, and the rest are scaled to ``max_side`` and re-encoded
    (JPEG, or PNG when transparent), so a server's templates stay small.
    """
    background = load_background(data, limits=limits)
    width, height = background.size
    if background.animated:
        if background.format not in ("GIF", "WEBP"):
            raise BadImage("That animation's format cannot be captioned; use a GIF.")
        return PreparedImage(
            data, _KEEP_AS_IS[background.format], width, height, len(background.frames)
        )
    if background.format in ("JPEG", "PNG") and max(width, height) <= max_side:
        return PreparedImage(data, _KEEP_AS_IS[background.format], width, height, 1)
    frame = background.frames[0]
    if max(frame.size) > max_side:
        frame = frame.copy()
        frame.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    if frame.mode == "RGBA":
        frame.save(buffer, "PNG")
        mime = "image/png"
    else:
        frame.save(buffer, "JPEG", quality=90, optimize=True)
        mime = "image/jpeg"
    return PreparedImage(buffer.getvalue(), mime, frame.width, frame.height, 1)


class TemplateExists(TemplateInvalid):
    """A server already has a template with that name."""


class TemplatesFull(TemplateInvalid):
    """A server has as many templates as it may keep."""


class ServerTemplates:
    """Each server's own templates in the store (portable SQL only: see ``bot.store``)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def setup(self) -> None:
        await self._store.apply(SCHEMA)

    @staticmethod
    def _entry(row: dict[str, Any]) -> TemplateEntry:
        return TemplateEntry(
            key=f"server:{row['slug']}",
            source="server",
            template=Template.from_json(row["template"]),
            version=row["sha256"],
            width=row["width"],
            height=row["height"],
            frames=row["frames"],
        )

    async def list(self, guild_id: int) -> list[TemplateEntry]:
        rows = await self._store.fetch(
            f"SELECT {_COLUMNS} FROM meme_templates WHERE guild_id = ? ORDER BY name, slug",
            guild_id,
        )
        return [self._entry(row) for row in rows]

    async def get(self, guild_id: int, slug: str) -> TemplateEntry | None:
        row = await self._store.fetchone(
            f"SELECT {_COLUMNS} FROM meme_templates WHERE guild_id = ? AND slug = ?",
            guild_id,
            slug,
        )
        return self._entry(row) if row else None

    async def image(self, guild_id: int, slug: str) -> bytes | None:
        row = await self._store.fetchone(
            "SELECT image FROM meme_templates WHERE guild_id = ? AND slug = ?", guild_id, slug
        )
        return bytes(row["image"]) if row else None

    async def add(
        self,
        guild_id: int,
        template: Template,
        image: PreparedImage,
        *,
        source: str,
        added_by: int,
        added_at: float,
        limit: int,
    ) -> TemplateEntry:
        """Store a new template; ``TemplateExists`` or ``TemplatesFull`` otherwise.

        One transaction: it first writes the server's lock row (a second add for the same
        server waits there until the first commits, on SQLite and PostgreSQL alike), then
        inserts only while the server has fewer than ``limit`` templates. So admins adding
        at once never pass the limit, whichever engine and however many processes."""
        *_, added = await self._store.batch(
            [
                (
                    "INSERT INTO meme_template_locks (guild_id, adds) VALUES (?, 0) "
                    "ON CONFLICT (guild_id) DO NOTHING",
                    (guild_id,),
                ),
                (
                    "UPDATE meme_template_locks SET adds = adds + 1 WHERE guild_id = ?",
                    (guild_id,),
                ),
                (
                    """INSERT INTO meme_templates (guild_id, slug, name, template, source, mime,
                           width, height, frames, sha256, image, added_by, added_at)
                       SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?
                       WHERE (SELECT COUNT(*) FROM meme_templates WHERE guild_id = ?) < ?
                       ON CONFLICT (guild_id, slug) DO NOTHING""",
                    (
                        guild_id,
                        template.id,
                        template.name,
                        template.to_json(),
                        source,
                        image.mime,
                        image.width,
                        image.height,
                        image.frames,
                        image.sha256,
                        image.data,
                        added_by,
                        added_at,
                        guild_id,
                        limit,
                    ),
                ),
            ]
        )
        if not added:
            existing = await self.get(guild_id, template.id)
            if existing is not None:
                raise TemplateExists(
                    f"This server already has a template called “{existing.name}”; remove it "
                    "first or pick another name."
                )
            raise TemplatesFull(
                f"This server has {limit} templates, the most it may keep; remove one first."
            )
        entry = await self.get(guild_id, template.id)
        assert entry is not None
        return entry

    async def remove(self, guild_id: int, slug: str) -> bool:
        removed = await self._store.execute(
            "DELETE FROM meme_templates WHERE guild_id = ? AND slug = ?", guild_id, slug
        )
        return removed > 0


def layout_template(name: str, boxes: Sequence[TextBox]) -> Template:
    """A template named ``name`` with these boxes (its id is the name's slug)."""
    return Template.build(id=template_slug(name), name=name.strip()[:100], boxes=tuple(boxes))
