"""Encoding a rendered meme, and bringing it under a byte limit (Imgur's API takes 10 MB).

Each encoder tries the cheapest loss first and reports, in words, everything it did:
stills lower their JPEG/WebP quality step by step, then scale down; PNGs go to 256 colours,
then scale down; GIFs use fewer colours, then scale down. If nothing gets under the limit,
``OutputTooLarge`` says so.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image

from .errors import OutputTooLarge

MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp"}
QUALITY_STEPS = (80, 70, 60, 50)
GIF_COLOUR_STEPS = (128, 64, 32)
SCALE_STEP = 0.75
SMALLEST_SIDE = 64  # below this, scaling down further is no longer a meme
PALETTE_SAMPLE_PIXELS = 150_000


@dataclass(frozen=True)
class Encoded:
    data: bytes
    format: str
    size: tuple[int, int]
    adjustments: tuple[str, ...]
    frames: int = 1

    @property
    def mime(self) -> str:
        return MIME[self.format]


def _megabytes(limit: int) -> str:
    return f"{limit / 1_048_576:g} MB"


def encode_still(image: Image.Image, fmt: str, quality: int, max_bytes: int) -> Encoded:
    """Encode one picture as ``fmt`` (JPEG, PNG or WEBP) in at most ``max_bytes``."""
    data = _save_still(image, fmt, quality)
    if len(data) <= max_bytes:
        return Encoded(data, fmt, image.size, ())
    adjustments: list[str] = []
    limit = _megabytes(max_bytes)
    if fmt in ("JPEG", "WEBP"):
        for step in QUALITY_STEPS:
            if step >= quality:
                continue
            quality = step
            data = _save_still(image, fmt, quality)
            if len(data) <= max_bytes:
                adjustments.append(f"{fmt} quality lowered to {quality} to stay under {limit}")
                return Encoded(data, fmt, image.size, tuple(adjustments))
        adjustments.append(f"{fmt} quality lowered to {quality} to stay under {limit}")
    elif image.mode != "P":
        # Fast octree: median cut takes seconds on a busy photo, and it keeps alpha.
        image = image.quantize(256, method=Image.Quantize.FASTOCTREE)
        data = _save_still(image, fmt, quality)
        adjustments.append(f"reduced to 256 colours to stay under {limit}")
        if len(data) <= max_bytes:
            return Encoded(data, fmt, image.size, tuple(adjustments))
    while len(data) > max_bytes:
        smaller = _scaled(image.size)
        if smaller is None:
            raise OutputTooLarge(len(data), max_bytes)
        image = image.resize(smaller, Image.Resampling.LANCZOS)
        data = _save_still(image, fmt, quality)
    adjustments.append(f"scaled down to {image.width}×{image.height} to stay under {limit}")
    return Encoded(data, fmt, image.size, tuple(adjustments))


def encode_animation(
    frames: Sequence[Image.Image],
    durations: Sequence[int],
    loop: int | None,
    max_bytes: int,
) -> Encoded:
    """Encode full-canvas RGB/RGBA frames as a GIF in at most ``max_bytes``.

    Every frame is complete, so each replaces the last outright: with transparency the
    frames are written with disposal 2 (clear to the background) so nothing of the previous
    frame shows through a transparent pixel of the next; opaque frames need no disposal.
    """
    colours = 256
    data = _save_gif(frames, durations, loop, colours)
    size = frames[0].size
    adjustments: list[str] = []
    limit = _megabytes(max_bytes)
    for colours in GIF_COLOUR_STEPS:
        if len(data) <= max_bytes:
            break
        data = _save_gif(frames, durations, loop, colours)
        adjustments = [f"reduced to {colours} colours to stay under {limit}"]
    scaled = False
    while len(data) > max_bytes:
        smaller = _scaled(size)
        if smaller is None:
            raise OutputTooLarge(len(data), max_bytes)
        size, scaled = smaller, True
        data = _save_gif(
            [frame.resize(size, Image.Resampling.BILINEAR) for frame in frames],
            durations,
            loop,
            colours,
        )
    if scaled:
        adjustments.append(f"scaled down to {size[0]}×{size[1]} to stay under {limit}")
    return Encoded(data, "GIF", size, tuple(adjustments), gif_frame_count(data))


def gif_frame_count(data: bytes) -> int:
    """How many frames a GIF holds, by walking its blocks (no decoding).

    The GIF writer merges a frame identical to the one before it into that one (adding
    the durations), so the count written can be lower than the count given.
    """
    view = memoryview(data)
    position = 13
    if view[10] & 0x80:  # global colour table
        position += 3 << ((view[10] & 0x07) + 1)
    frames = 0
    while position < len(view):
        kind = view[position]
        if kind == 0x3B:  # trailer
            break
        if kind == 0x21:  # extension: label, then sub-blocks
            position += 2
        elif kind == 0x2C:  # image: descriptor, local colour table, LZW code size
            frames += 1
            flags = view[position + 9]
            position += 10
            if flags & 0x80:
                position += 3 << ((flags & 0x07) + 1)
            position += 1
        else:
            raise ValueError(f"not a GIF block: {kind:#x} at {position}")
        while position < len(view) and view[position]:
            position += view[position] + 1
        position += 1
    return frames


def _scaled(size: tuple[int, int]) -> tuple[int, int] | None:
    width, height = round(size[0] * SCALE_STEP), round(size[1] * SCALE_STEP)
    if min(width, height) < SMALLEST_SIDE:
        return None
    return width, height


def _save_still(image: Image.Image, fmt: str, quality: int) -> bytes:
    buffer = io.BytesIO()
    if fmt == "JPEG":
        image.save(buffer, "JPEG", quality=quality)
    elif fmt == "WEBP":
        image.save(buffer, "WEBP", quality=quality, method=2)
    else:
        image.save(buffer, "PNG", compress_level=6)
    return buffer.getvalue()


def _palette(frames: Sequence[Image.Image], colours: int) -> Image.Image:
    """One palette for the whole animation, by median cut over every frame at once.

    Frames are sampled into a montage of about ``PALETTE_SAMPLE_PIXELS`` (each frame
    shrunk alike, so each counts), which is how video-to-GIF encoders pick a global
    palette. Measured on a 30-frame 480×360 GIF: 25 ms for the palette plus under 1 ms a
    frame to map, against 8 ms a frame for a palette per frame, with half the colour error;
    and frames that share a palette let the GIF writer compare them cheaply.
    """
    width, height = frames[0].size
    shrink = min(1.0, (PALETTE_SAMPLE_PIXELS / (len(frames) * width * height)) ** 0.5)
    small = (max(1, int(width * shrink)), max(1, int(height * shrink)))
    montage = Image.new("RGB", (small[0], small[1] * len(frames)))
    for number, frame in enumerate(frames):
        sample = frame.resize(small, Image.Resampling.NEAREST) if shrink < 1 else frame
        montage.paste(
            sample.convert("RGB") if sample.mode != "RGB" else sample, (0, number * small[1])
        )
    return montage.quantize(colours, method=Image.Quantize.MEDIANCUT)


def _gif_frame(
    frame: Image.Image, palette: Image.Image, transparent_index: int | None
) -> Image.Image:
    """One frame mapped onto the shared palette (no dithering: dither noise differs from
    frame to frame and shimmers). Transparent pixels (alpha < 128; GIF has no partial
    alpha) take the reserved index."""
    if transparent_index is None:
        return frame.quantize(palette=palette, dither=Image.Dither.NONE)
    paletted = frame.convert("RGB").quantize(palette=palette, dither=Image.Dither.NONE)
    clear = frame.getchannel("A").point(lambda alpha: 255 if alpha < 128 else 0)
    paletted.paste(transparent_index, mask=clear)
    paletted.info["transparency"] = transparent_index
    return paletted


def _save_gif(
    frames: Sequence[Image.Image], durations: Sequence[int], loop: int | None, colours: int
) -> bytes:
    transparent = frames[0].mode == "RGBA"
    transparent_index = colours - 1 if transparent else None
    palette = _palette(frames, colours - 1 if transparent else colours)
    paletted = [_gif_frame(frame, palette, transparent_index) for frame in frames]
    options: dict[str, object] = {
        "save_all": True,
        "append_images": paletted[1:],
        "duration": list(durations),
        "disposal": 2 if transparent else 1,
        "optimize": False,
    }
    if loop is not None:
        options["loop"] = loop
    if transparent_index is not None:
        options["transparency"] = transparent_index
    buffer = io.BytesIO()
    paletted[0].save(buffer, "GIF", **options)
    return buffer.getvalue()
