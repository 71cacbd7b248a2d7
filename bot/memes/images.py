"""Reading backgrounds and overlays from strangers' bytes, safely, and pasting layers.

``load_background`` decodes once into a ``Background`` (every frame a full canvas, with its
duration and the loop count), which the caller may cache and render many times: the
renderer never changes it. Inputs are checked against ``ImageLimits`` from the header,
before any pixel is decoded, so a decompression bomb (a small file that decodes to
gigapixels, or a GIF of thousands of frames) is refused with a message instead of eating
the bot's memory. Pillow's own bomb check stays on behind ours.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import BadImage

ACCEPTED_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP")


@dataclass(frozen=True)
class ImageLimits:
    """What an input image may cost. Defaults suit a bot on a small machine: a 50 MP photo
    is accepted (and scaled down before drawing), a GIF up to 300 frames and 40 MP in all
    (160 MB of decoded frames at most)."""

    max_pixels: int = 50_000_000
    max_frames: int = 300
    max_total_pixels: int = 40_000_000


@dataclass(frozen=True, eq=False)
class Background:
    """A decoded image: frames (RGB, or RGBA when any pixel is transparent), each frame's
    duration in ms, the loop count (``None``: play once; 0: forever) and the source format.
    """

    frames: tuple[Image.Image, ...]
    durations: tuple[int, ...]
    loop: int | None
    format: str

    @property
    def size(self) -> tuple[int, int]:
        return self.frames[0].size

    @property
    def animated(self) -> bool:
        return len(self.frames) > 1

    @property
    def has_alpha(self) -> bool:
        return self.frames[0].mode == "RGBA"

    @property
    def duration_ms(self) -> int:
        return sum(self.durations)

    def first_frame(self) -> Background:
        """The first frame alone, as a still."""
        return Background(self.frames[:1], (0,), None, self.format)


def load_background(
    source: bytes | Image.Image | Background,
    *,
    limits: ImageLimits = ImageLimits(),
    max_side: int | None = None,
    animate: bool = True,
    quick: bool = False,
) -> Background:
    """Decode an image for drawing on. Raises ``BadImage`` with a message for people.

    ``max_side`` scales a larger image down (Lanczos). ``quick=True`` scales by whole
    factors instead, ending between half of ``max_side`` and all of it: a JPEG decodes at
    1/2, 1/4 or 1/8 scale directly and the rest is a box filter, which is what makes
    previews cheap. ``animate=False`` keeps only the first frame. A ``Background`` passes
    through (scaled if it is too big).
    """
    if isinstance(source, Background):
        background = source if animate else source.first_frame()
        if max_side and max(background.size) > max_side:
            frames = tuple(_fit(frame.copy(), max_side, quick) for frame in background.frames)
            background = Background(
                frames, background.durations, background.loop, background.format
            )
        return background
    if isinstance(source, Image.Image):
        # Scaling happens in place: never on the caller's picture.
        too_big = max_side and max(source.size) > max_side
        image = source.copy() if too_big else source
    else:
        image = _open(source)
    width, height = image.size
    if width <= 0 or height <= 0:
        raise BadImage(f"The image is empty ({width}×{height} pixels); use another one.")
    if width * height > limits.max_pixels:
        raise BadImage(
            f"The image is {width}×{height} ({width * height / 1e6:.0f} megapixels); "
            f"the limit is {limits.max_pixels / 1e6:.0f} megapixels. Use a smaller one."
        )
    frame_count = getattr(image, "n_frames", 1) if animate else 1
    if frame_count > 1:
        if frame_count > limits.max_frames:
            raise BadImage(
                f"The animation has {frame_count} frames; the limit is {limits.max_frames}. "
                "Use a shorter one."
            )
        if frame_count * width * height > limits.max_total_pixels:
            raise BadImage(
                f"The animation is too big to caption ({frame_count} frames of "
                f"{width}×{height}); use a shorter or smaller one."
            )
    try:
        if frame_count > 1:
            return _decode_animation(image, frame_count, max_side, quick)
        return _decode_still(image, max_side, quick)
    except Image.DecompressionBombError:
        raise BadImage("The image decodes to far too many pixels; use another one.") from None
    except (OSError, SyntaxError, ValueError, EOFError):
        raise BadImage("The image is damaged or cut short; use another one.") from None


def load_overlay(
    source: bytes | Image.Image, *, limits: ImageLimits = ImageLimits()
) -> Image.Image:
    """An overlay picture as RGBA (first frame of an animation)."""
    background = load_background(source, limits=limits, animate=False, max_side=2048)
    frame = background.frames[0]
    return frame if frame.mode == "RGBA" else frame.convert("RGBA")


def _open(data: bytes) -> Image.Image:
    if not data:
        raise BadImage("The image is empty (0 bytes); use another one.")
    try:
        return Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except Image.DecompressionBombError:
        raise BadImage("The image decodes to far too many pixels; use another one.") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        raise BadImage(
            "That file is not an image I can read; use a PNG, JPEG, GIF, WebP or BMP."
        ) from None


def _fit(image: Image.Image, max_side: int | None, quick: bool = False) -> Image.Image:
    """Scale down to at most ``max_side`` (see ``load_background`` for ``quick``)."""
    if not max_side or max(image.size) <= max_side:
        return image
    if not quick:
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        return image
    factor = math.ceil(max(image.size) / max_side)
    return image.reduce(factor) if factor > 1 else image


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or (
        image.mode in ("P", "L", "RGB") and "transparency" in image.info
    )


def _decode_still(image: Image.Image, max_side: int | None, quick: bool) -> Background:
    source_format = image.format or "PNG"
    if quick and max_side and image.format == "JPEG" and max(image.size) > max_side:
        # Decode at 1/2, 1/4 or 1/8 scale directly: the largest that still covers
        # what ``_fit`` will reduce to.
        factor = math.ceil(max(image.size) / max_side)
        image.draft(image.mode, (image.width // factor, image.height // factor))
    if image.format in ("JPEG", "WEBP") and image.getexif().get(0x0112, 1) != 1:
        image = ImageOps.exif_transpose(image)  # phone photos stand up as they were taken
    image = _fit(image, max_side, quick)
    mode = "RGBA" if _has_alpha(image) else "RGB"
    if image.mode != mode:
        image = image.convert(mode)
    else:
        image.load()
    if mode == "RGBA" and image.getchannel("A").getextrema()[0] == 255:
        image = image.convert("RGB")  # an alpha channel with nothing transparent in it
    return Background((image,), (0,), None, source_format)


def _decode_animation(
    image: Image.Image, frame_count: int, max_side: int | None, quick: bool
) -> Background:
    # Pillow composes each GIF/WebP frame onto the previous ones, applying the disposal
    # methods, so every frame read here is the full picture a viewer sees at that moment.
    frames: list[Image.Image] = []
    durations: list[int] = []
    transparent = False
    for number in range(frame_count):
        image.seek(number)
        if _has_alpha(image):
            frame = image.convert("RGBA")
            transparent = transparent or frame.getchannel("A").getextrema()[0] < 255
        else:
            frame = image.convert("RGB")
        frames.append(_fit(frame, max_side, quick))
        durations.append(int(image.info.get("duration", 0) or 0))
    loop = image.info.get("loop")
    mode = "RGBA" if transparent else "RGB"
    frames = [frame if frame.mode == mode else frame.convert(mode) for frame in frames]
    return Background(tuple(frames), tuple(durations), loop, image.format or "GIF")


def composite(base: Image.Image, layer: Image.Image, position: tuple[int, int]) -> None:
    """Paste an RGBA ``layer`` over ``base`` (RGB or RGBA) at ``position``, clipped to the
    base: the layer may hang over any edge (a rotated box near a corner)."""
    x, y = position
    left, top = max(0, x), max(0, y)
    right = min(base.width, x + layer.width)
    bottom = min(base.height, y + layer.height)
    if right <= left or bottom <= top:
        return
    piece = layer
    if (left, top, right, bottom) != (x, y, x + layer.width, y + layer.height):
        piece = layer.crop((left - x, top - y, right - x, bottom - y))
    if base.mode == "RGBA":
        base.alpha_composite(piece, (left, top))
    else:
        base.paste(piece, (left, top), piece)
