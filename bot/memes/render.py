"""Rendering a meme: a template's boxes and overlays drawn on a background, encoded.

``render`` is the whole job (CPU-bound: call it in an executor, never on the event loop);
``render_preview`` is the cheap version for showing a member what they will get before
anything is uploaded (scaled-down decode, a still, lower quality).

Drawing order: background, overlays, then the text boxes in the template's order. A box at
angle 0 is drawn straight onto the picture; a rotated box (or one with translucent colours,
or text that had to be cut) is drawn on its own layer, rotated about the box's centre, and
composited. Animated backgrounds get every frame captioned: the text is drawn once per
distinct set of visible boxes and composited onto each frame, whose duration and the loop
count are kept.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from PIL import Image, ImageColor, ImageDraw

from .encode import MIME, encode_animation, encode_still
from .errors import TooManyTexts
from .fonts import Face, FontBook, default_font_book
from .images import Background, ImageLimits, composite, load_background, load_overlay
from .layout import BoxLayout, clear_layout_caches, direction, fit_text, run_ink, strike_box
from .model import Overlay, Template, TextBox
from .text import apply_case, prepare_texts

IMGUR_MAX_BYTES = 10 * 1024 * 1024  # POST /3/image "up to 10MB"


@dataclass(frozen=True)
class RenderOptions:
    """How to render. The defaults make an upload for Imgur.

    - ``format``: ``auto`` (JPEG, or PNG when the picture has transparency; GIF when
      animated), or force ``jpeg``/``png``/``webp`` for stills.
    - ``max_bytes``: the encoded size limit (Imgur's API: 10 MB).
    - ``max_side``: larger backgrounds are scaled down before drawing.
    - ``quick_scaling``: scale by whole factors (JPEG draft decoding, box filter): fast,
      ends between half of ``max_side`` and all of it. For previews.
    - ``animate``: False draws only the first frame of an animation (every box shown).
    - ``max_text_length``: per-box cap in characters as readers count them.
    - ``outline_ratio``: outline thickness as a fraction of the font size.
    - ``max_text_height``: largest font size, as a fraction of the image's shorter side,
      so one short word does not fill a whole box.
    - ``fonts``: the font book (``None``: the process-wide one).
    """

    format: str = "auto"
    max_bytes: int = IMGUR_MAX_BYTES
    max_side: int = 2048
    quick_scaling: bool = False
    jpeg_quality: int = 90
    animate: bool = True
    max_text_length: int = 200
    outline_ratio: float = 0.05
    line_spacing: float = 1.0
    max_text_height: float = 0.10
    limits: ImageLimits = field(default_factory=ImageLimits)
    fonts: FontBook | None = None

    def __post_init__(self) -> None:
        if self.format not in ("auto", "jpeg", "png", "webp"):
            raise ValueError(f"format must be auto, jpeg, png or webp (got {self.format!r})")


PREVIEW_OPTIONS = RenderOptions(max_side=640, quick_scaling=True, jpeg_quality=80, animate=False)


@dataclass(frozen=True)
class Rendered:
    """A finished meme: the encoded bytes and what a caller needs to post or upload them.

    ``adjustments`` says what was done to stay under the size limit (empty when nothing);
    ``notes`` says what else a member or an admin may want to know (a font substituted,
    text cut because it could not fit).
    """

    data: bytes
    mime: str
    width: int
    height: int
    frames: int
    duration_ms: int
    loop: int | None
    adjustments: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def extension(self) -> str:
        return {v: k for k, v in MIME.items()}[self.mime].lower().replace("jpeg", "jpg")


@dataclass(frozen=True)
class _PlacedBox:
    box: TextBox
    left: int
    top: int
    width: int
    height: int
    layout: BoxLayout


@dataclass(frozen=True)
class _PlacedOverlay:
    overlay: Overlay
    image: Image.Image
    position: tuple[int, int]


def render(
    template: Template,
    background: bytes | Image.Image | Background,
    texts: Sequence[str | None],
    *,
    overlays: Mapping[str, bytes | Image.Image] | None = None,
    options: RenderOptions = RenderOptions(),
) -> Rendered:
    """Draw ``texts`` (one per box, in order; fewer leave boxes empty) on ``background``.

    ``background`` may be the image's bytes, a Pillow image, or a ``Background`` the
    caller decoded once with ``load_background`` and keeps cached. ``overlays`` maps each of
    the template's overlay names to its picture; a missing one is skipped with a note.

    Raises ``TextTooLong``, ``TooManyTexts``, ``BadImage`` or ``OutputTooLarge``, each
    with a one-line message for the member.
    """
    if len(texts) > len(template.boxes):
        raise TooManyTexts(len(texts), len(template.boxes), template.name)
    cleaned = prepare_texts(list(texts), options.max_text_length)
    cleaned += [""] * (len(template.boxes) - len(cleaned))
    book = options.fonts or default_font_book()
    picture = load_background(
        background,
        limits=options.limits,
        max_side=options.max_side,
        animate=options.animate,
        quick=options.quick_scaling,
    )
    width, height = picture.size
    notes: list[str] = []
    boxes = _place_boxes(book, template, cleaned, width, height, options, notes)
    placed_overlays = _place_overlays(template, overlays or {}, width, height, options, notes)

    if picture.animated:
        return _render_animation(book, picture, boxes, placed_overlays, options, notes)
    # Bytes were decoded here, so the picture is ours to draw on; anything the caller
    # handed in (a cached Background, a Pillow image) is copied, never changed.
    image = picture.frames[0] if isinstance(background, bytes) else picture.frames[0].copy()
    for placed in placed_overlays:
        composite(image, placed.image, placed.position)
    for placed in boxes:
        _draw_box(book, image, placed)
    fmt = _still_format(options.format, image)
    encoded = encode_still(image, fmt, options.jpeg_quality, options.max_bytes)
    return Rendered(
        data=encoded.data,
        mime=encoded.mime,
        width=encoded.size[0],
        height=encoded.size[1],
        frames=1,
        duration_ms=0,
        loop=None,
        adjustments=encoded.adjustments,
        notes=tuple(notes),
    )


def render_preview(
    template: Template,
    background: bytes | Image.Image | Background,
    texts: Sequence[str | None],
    *,
    overlays: Mapping[str, bytes | Image.Image] | None = None,
    options: RenderOptions = PREVIEW_OPTIONS,
) -> Rendered:
    """A quick look before uploading: the background decoded scaled down by a whole factor
    to at most 640 px, the first frame only with every box shown, JPEG at quality 80. Same
    rules and errors as ``render``; the text is fitted to the smaller picture, so it looks
    the same."""
    return render(template, background, texts, overlays=overlays, options=options)


def _place_boxes(
    book: FontBook,
    template: Template,
    texts: list[str],
    width: int,
    height: int,
    options: RenderOptions,
    notes: list[str],
) -> list[_PlacedBox]:
    max_size = max(1, round(min(width, height) * options.max_text_height))
    placed: list[_PlacedBox] = []
    for number, (box, text) in enumerate(zip(template.boxes, texts, strict=True), start=1):
        if not text:
            continue
        left, top, box_width, box_height = box.pixel_box(width, height)
        layout, box_notes = fit_text(
            book,
            apply_case(text, box.style),
            box_width,
            box_height,
            box.font,
            align=box.align,
            valign=box.valign,
            outline_ratio=options.outline_ratio if box.outline else 0.0,
            line_spacing=options.line_spacing,
            max_size=max_size,
        )
        notes.extend(f"box {number}: {note}" for note in box_notes)
        if not layout.empty:
            placed.append(_PlacedBox(box, left, top, box_width, box_height, layout))
    return placed


def _place_overlays(
    template: Template,
    supplied: Mapping[str, bytes | Image.Image],
    width: int,
    height: int,
    options: RenderOptions,
    notes: list[str],
) -> list[_PlacedOverlay]:
    placed: list[_PlacedOverlay] = []
    for overlay in template.overlays:
        source = supplied.get(overlay.image)
        if source is None:
            notes.append(f"overlay {overlay.image!r} was not supplied; it was left out")
            continue
        picture = load_overlay(source, limits=options.limits)
        side = max(1, round(min(width, height) * overlay.scale))
        picture = picture.copy()
        picture.thumbnail((side, side), Image.Resampling.LANCZOS)
        if picture.size[0] < side and picture.size[1] < side:  # thumbnail never enlarges
            ratio = side / max(picture.size)
            picture = picture.resize(
                (max(1, round(picture.width * ratio)), max(1, round(picture.height * ratio))),
                Image.Resampling.LANCZOS,
            )
        if overlay.angle % 360:
            picture = picture.rotate(overlay.angle, Image.Resampling.BICUBIC, expand=True)
        x = round(overlay.center_x * width - picture.width / 2)
        y = round(overlay.center_y * height - picture.height / 2)
        placed.append(_PlacedOverlay(overlay, picture, (x, y)))
    return placed


def _still_format(requested: str, image: Image.Image) -> str:
    if requested != "auto":
        return requested.upper()
    return "PNG" if image.mode == "RGBA" else "JPEG"


def _translucent(colour: str | None) -> bool:
    return colour is not None and len(rgba := ImageColor.getrgb(colour)) == 4 and rgba[3] < 255


def _draw_box(book: FontBook, image: Image.Image, placed: _PlacedBox) -> None:
    """Draw one box's text onto ``image`` (straight on, or through a rotated layer)."""
    box = placed.box
    direct = (
        not box.angle % 360
        and placed.layout.fitted
        and not _translucent(box.color)
        and not _translucent(box.outline)
    )
    if direct:
        _draw_layout(book, image, placed.layout, box, (placed.left, placed.top))
        return
    layer = Image.new("RGBA", (placed.width, placed.height), (0, 0, 0, 0))
    _draw_layout(book, layer, placed.layout, box, (0, 0))
    if box.angle % 360:
        layer = layer.rotate(box.angle, Image.Resampling.BICUBIC, expand=True)
    x = round(placed.left + placed.width / 2 - layer.width / 2)
    y = round(placed.top + placed.height / 2 - layer.height / 2)
    composite(image, layer, (x, y))


def _draw_layout(
    book: FontBook,
    image: Image.Image,
    layout: BoxLayout,
    box: TextBox,
    origin: tuple[int, int],
) -> None:
    draw = ImageDraw.Draw(image)
    fill = ImageColor.getrgb(box.color)
    outline = ImageColor.getrgb(box.outline) if box.outline else None
    for line in layout.lines:
        for run in line.runs:
            x = origin[0] + line.x + run.x
            y = origin[1] + line.y
            if run.face.strike:
                glyphs, (dx, dy) = _bitmap_run(book, run.face, run.text, layout.size, run.rtl)
                composite(image, glyphs, (x + dx, y + dy))
            elif run.face.color:
                draw.text(
                    (x, y), run.text, font=book.font(run.face, layout.size), anchor="ls",
                    embedded_color=True, direction=direction(run.rtl),
                )  # fmt: skip
            else:
                draw.text(
                    (x, y),
                    run.text,
                    font=book.font(run.face, layout.size),
                    fill=fill,
                    anchor="ls",
                    stroke_width=layout.stroke if outline else 0,
                    stroke_fill=outline,
                    direction=direction(run.rtl),
                )


@lru_cache(maxsize=512)
def _bitmap_run(
    book: FontBook, face: Face, text: str, size: int, rtl: bool
) -> tuple[Image.Image, tuple[int, int]]:
    """A colour bitmap run (emoji) drawn at the font's strike and scaled to ``size``: the
    picture and its offset from the pen position, exactly the box ``run_ink`` measured.
    Cached: the same emoji at the same size is scaled once (callers never modify it)."""
    font = book.font(face, size)
    left, top, right, bottom = strike_box(book, face, text, rtl)
    strike = Image.new("RGBA", (max(1, right - left), max(1, bottom - top)), (0, 0, 0, 0))
    ImageDraw.Draw(strike).text(
        (-left, -top), text, font=font, anchor="ls", embedded_color=True, direction=direction(rtl)
    )
    x0, y0, x1, y1 = run_ink(book, face, text, size, 0, rtl)
    return strike.resize((x1 - x0, y1 - y0), Image.Resampling.LANCZOS), (x0, y0)


def clear_caches() -> None:
    """Forget every fitted layout, measured word and scaled emoji (fonts stay loaded).

    Nothing needs this for correctness (the caches are keyed by everything they depend
    on); the benchmark calls it to time fitting from scratch."""
    clear_layout_caches()
    _bitmap_run.cache_clear()


def _moments(durations: Sequence[int]) -> list[float]:
    """When each frame starts, as a fraction of the whole animation."""
    total = sum(durations)
    if total <= 0:
        return [index / len(durations) for index in range(len(durations))]
    moments, elapsed = [], 0
    for duration in durations:
        moments.append(elapsed / total)
        elapsed += duration
    return moments


def _render_animation(
    book: FontBook,
    picture: Background,
    boxes: list[_PlacedBox],
    overlays: list[_PlacedOverlay],
    options: RenderOptions,
    notes: list[str],
) -> Rendered:
    width, height = picture.size
    # One layer per distinct set of visible boxes and overlays, drawn once, cropped to
    # what it inks, and composited onto every frame that shows that set.
    layers: dict[tuple[bool, ...], tuple[Image.Image, tuple[int, int]] | None] = {}
    frames: list[Image.Image] = []
    for frame, moment in zip(picture.frames, _moments(picture.durations), strict=True):
        visible = tuple(p.overlay.visible_at(moment) for p in overlays) + tuple(
            p.box.visible_at(moment) for p in boxes
        )
        if visible not in layers:
            layers[visible] = _layer(book, (width, height), overlays, boxes, visible)
        frame = frame.copy()
        layer = layers[visible]
        if layer is not None:
            composite(frame, *layer)
        frames.append(frame)
    encoded = encode_animation(frames, picture.durations, picture.loop, options.max_bytes)
    return Rendered(
        data=encoded.data,
        mime=encoded.mime,
        width=encoded.size[0],
        height=encoded.size[1],
        frames=encoded.frames,
        duration_ms=picture.duration_ms,
        loop=picture.loop,
        adjustments=encoded.adjustments,
        notes=tuple(notes),
    )


def _layer(
    book: FontBook,
    size: tuple[int, int],
    overlays: list[_PlacedOverlay],
    boxes: list[_PlacedBox],
    visible: tuple[bool, ...],
) -> tuple[Image.Image, tuple[int, int]] | None:
    shown_overlays = [p for p, v in zip(overlays, visible, strict=False) if v]
    shown_boxes = [p for p, v in zip(boxes, visible[len(overlays) :], strict=True) if v]
    if not shown_overlays and not shown_boxes:
        return None
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    for placed in shown_overlays:
        composite(layer, placed.image, placed.position)
    for placed in shown_boxes:
        _draw_box(book, layer, placed)
    bbox = layer.getbbox()
    if bbox is None:
        return None
    return layer.crop(bbox), (bbox[0], bbox[1])
