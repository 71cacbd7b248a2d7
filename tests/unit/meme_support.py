"""Helpers for the meme tests: flat backgrounds, and measuring what the renderer inked.

Every check of the renderer is a measurement of its output: render on a flat colour, decode
the result, and call a pixel "ink" where it differs from that colour.
"""

from __future__ import annotations

import io
import math

import pytest
from PIL import Image, ImageChops

from bot.memes import FontBook, Rendered, RenderOptions, default_font_book

BACKGROUND = (40, 90, 160)
PNG = RenderOptions(format="png")


def installed_fonts() -> FontBook:
    """The system font book, failing (not skipping) with the exact install line when the
    fonts these tests rely on are missing."""
    book = default_font_book()
    command = book.report().install_command()
    if command:
        pytest.fail(f"fonts the meme tests need are missing; install them with: {command}")
    return book


def flat(width: int, height: int, colour: tuple[int, ...] = BACKGROUND, fmt: str = "PNG") -> bytes:
    """An image of one colour, encoded."""
    buffer = io.BytesIO()
    mode = "RGBA" if len(colour) == 4 else "RGB"
    Image.new(mode, (width, height), colour).save(buffer, fmt)
    return buffer.getvalue()


def decode(rendered: Rendered | bytes) -> Image.Image:
    data = rendered.data if isinstance(rendered, Rendered) else rendered
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def ink(
    image: Image.Image, colour: tuple[int, ...] = BACKGROUND, threshold: int = 0
) -> Image.Image:
    """Mode-L mask: 255 where ``image`` differs from the flat ``colour`` by more than
    ``threshold`` in any channel."""
    rgb = image.convert("RGB")
    difference = ImageChops.difference(rgb, Image.new("RGB", rgb.size, colour[:3]))
    strongest = ImageChops.lighter(
        ImageChops.lighter(difference.getchannel(0), difference.getchannel(1)),
        difference.getchannel(2),
    )
    return strongest.point(lambda v: 255 if v > threshold else 0)


def count(mask: Image.Image) -> int:
    """Pixels set in a mask."""
    return mask.histogram()[255]


def outside(mask: Image.Image, box: tuple[int, int, int, int]) -> int:
    """Mask pixels outside ``box`` (left, top, right, bottom)."""
    inside = Image.new("L", mask.size, 0)
    inside.paste(255, box)
    return count(ImageChops.subtract(mask, inside))


def bands(mask: Image.Image) -> list[tuple[int, int]]:
    """Runs of rows that hold ink, as (first, last + 1): one per line of text."""
    width, height = mask.size
    rows = [mask.crop((0, y, width, y + 1)).getbbox() is not None for y in range(height)]
    runs: list[tuple[int, int]] = []
    start = None
    for y, inked in enumerate([*rows, False]):
        if inked and start is None:
            start = y
        elif not inked and start is not None:
            runs.append((start, y))
            start = None
    return runs


def coloured(image: Image.Image, spread: int = 80) -> int:
    """Pixels that are clearly coloured (channels far apart), unlike white text, black
    outlines or a grey background."""
    r, g, b = image.convert("RGB").split()
    high = ImageChops.lighter(ImageChops.lighter(r, g), b)
    low = ImageChops.darker(ImageChops.darker(r, g), b)
    return count(ImageChops.subtract(high, low).point(lambda v: 255 if v > spread else 0))


def rotated_rectangle(box: tuple[int, int, int, int], angle: float) -> list[tuple[float, float]]:
    """Corners of ``box`` rotated by ``angle`` degrees counter-clockwise about its centre
    (image coordinates: y grows downwards)."""
    left, top, right, bottom = box
    cx, cy = (left + right) / 2, (top + bottom) / 2
    a = math.radians(angle)
    corners = [(left, top), (right, top), (right, bottom), (left, bottom)]
    return [
        (cx + (x - cx) * math.cos(a) + (y - cy) * math.sin(a),
         cy - (x - cx) * math.sin(a) + (y - cy) * math.cos(a))
        for x, y in corners
    ]  # fmt: skip


def inside_polygon(x: float, y: float, polygon: list[tuple[float, float]], margin: float) -> bool:
    """Whether a point is inside a convex polygon, or within ``margin`` px of it."""
    sign = 0
    for (x1, y1), (x2, y2) in zip(polygon, polygon[1:] + polygon[:1], strict=True):
        edge = math.hypot(x2 - x1, y2 - y1)
        cross = ((x2 - x1) * (y - y1) - (y2 - y1) * (x - x1)) / edge
        if abs(cross) <= margin:
            continue
        side = 1 if cross > 0 else -1
        if sign and side != sign:
            return False
        sign = side
    return True
