"""Fitting a caption into its box: the largest size at which the wrapped text stays inside.

The search runs on estimates: each word's width is measured once at a reference size and
scaled, which is what a font's outlines do (hinting moves a pixel or two), so trying a size
costs arithmetic, not rasterising. The size found is then laid out for real, every run of
text measured by its inked bounding box (outline included) at that size; if the real layout
spills over, the size steps down until it does not. A layout that comes back ``fitted`` has
every inked pixel inside the box by measurement, not by hope.

Words wrap at spaces; a word wider than the box is broken between grapheme clusters (which
also wraps Chinese and Japanese, written without spaces). Explicit newlines are kept.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from .fonts import Face, FontBook
from .text import graphemes

REFERENCE_SIZE = 100  # px: widths measured once at this size, then scaled
EMOJI_SCALE = 0.85  # colour emoji drawn at 0.85 em tall next to the caption's letters
_SLACK = 0.03  # estimates allow 3% for hinting and kerning the real layout checks


@dataclass(frozen=True, slots=True)
class Run:
    """Text drawn in one call with one face, starting at pen position ``x`` on its line.
    ``rtl`` runs belong to a right-to-left paragraph and are drawn with that direction."""

    face: Face
    text: str
    x: int
    rtl: bool = False


@dataclass(frozen=True, slots=True)
class Line:
    """One line of a box: its runs, its pen origin (``x``) and baseline (``y``) in the box."""

    runs: tuple[Run, ...]
    x: int
    y: int


@dataclass(frozen=True, slots=True)
class BoxLayout:
    """Where a box's text goes, in the box's own pixels (0, 0 is its top-left corner).

    ``ink`` is the inked area (outline included) as (left, top, right, bottom);
    ``fitted`` is False only when not even a 1 px font fits (the text is then drawn
    clipped to the box).
    """

    size: int
    stroke: int
    lines: tuple[Line, ...]
    ink: tuple[int, int, int, int]
    fitted: bool = True

    @property
    def empty(self) -> bool:
        return not self.lines


EMPTY = BoxLayout(0, 0, (), (0, 0, 0, 0))


@dataclass(frozen=True, slots=True)
class _Word:
    clusters: tuple[tuple[str, Face], ...]
    width: float  # advance at REFERENCE_SIZE


def stroke_width(size: int, outline_ratio: float) -> int:
    """Outline thickness for a font size: proportional, at least 1 px when there is one."""
    if outline_ratio <= 0:
        return 0
    return max(1, round(size * outline_ratio))


def emoji_scale(face: Face, size: int) -> float:
    """How much a bitmap face's strike is scaled to sit in text of ``size`` px."""
    assert face.strike
    return size * EMOJI_SCALE / face.strike


def direction(rtl: bool) -> str | None:
    """The shaper's direction for a run: right to left in an RTL paragraph, else its own."""
    return "rtl" if rtl else None


def run_advance(book: FontBook, face: Face, text: str, size: int, rtl: bool = False) -> float:
    """The pen advance of a run at a size."""
    if face.strike:
        advance = book.font(face, size).getlength(text, direction=direction(rtl))
        return advance * emoji_scale(face, size)
    return book.font(face, size).getlength(text, direction=direction(rtl))


def run_ink(
    book: FontBook, face: Face, text: str, size: int, stroke: int, rtl: bool = False
) -> tuple[int, int, int, int]:
    """Inked box of a run drawn with its pen at (0, baseline 0): (left, top, right, bottom).

    Measured in the direction it is drawn (a space at the end of an RTL run ends up on its
    left). Colour bitmap runs are not outlined; their scaled box is rounded outwards, and
    the renderer draws them into exactly this box.
    """
    if face.strike:
        left, top, right, bottom = strike_box(book, face, text, rtl)
        k = emoji_scale(face, size)
        x0, y0 = math.floor(left * k), math.floor(top * k)
        return (
            x0,
            y0,
            x0 + max(1, math.ceil((right - left) * k)),
            y0 + max(1, math.ceil((bottom - top) * k)),
        )
    return book.font(face, size).getbbox(
        text, anchor="ls", stroke_width=stroke, direction=direction(rtl)
    )


@lru_cache(maxsize=1024)
def strike_box(
    book: FontBook, face: Face, text: str, rtl: bool = False
) -> tuple[int, int, int, int]:
    """A bitmap run's box at the font's strike, pen at (0, baseline 0). Cached: FreeType
    decodes the emoji's PNG to answer, about 2 ms, and the answer never changes."""
    return book.font(face, face.strike or 0).getbbox(text, anchor="ls", direction=direction(rtl))


def fit_text(
    book: FontBook,
    text: str,
    width: int,
    height: int,
    font: str,
    *,
    align: str = "center",
    valign: str = "middle",
    outline_ratio: float = 0.05,
    line_spacing: float = 1.0,
    max_size: int | None = None,
) -> tuple[BoxLayout, tuple[str, ...]]:
    """Lay ``text`` out in a ``width`` × ``height`` box at the largest size that fits.

    Returns the layout and notes for people (font substituted, characters no installed
    font has, text that could not fit). Results are cached: the same text in the same box
    is laid out once.
    """
    return _fit_cached(
        book, text, width, height, font, align, valign, outline_ratio, line_spacing, max_size
    )


@lru_cache(maxsize=1024)
def _fit_cached(
    book: FontBook,
    text: str,
    width: int,
    height: int,
    font: str,
    align: str,
    valign: str,
    outline_ratio: float,
    line_spacing: float,
    max_size: int | None,
) -> tuple[BoxLayout, tuple[str, ...]]:
    primary, substituted = book.caption_face(font)
    notes = (substituted,) if substituted else ()
    if not text or width <= 0 or height <= 0:
        return EMPTY, notes
    paragraphs = [
        [_word(book, primary, word) for word in paragraph.split(" ")]
        for paragraph in text.split("\n")
    ]
    missing = dict.fromkeys(
        cluster
        for words in paragraphs
        for word in words
        for cluster, face in word.clusters
        if not book.covers(face, cluster)
    )
    if missing:
        shown = ", ".join(f"{c} (U+{ord(c[0]):04X})" for c in list(missing)[:5])
        notes += (f"no installed font has {shown}; shown as empty boxes",)
    space = book.font(primary, REFERENCE_SIZE).getlength(" ")
    ascent, descent = book.font(primary, REFERENCE_SIZE).getmetrics()
    line_height = (ascent + descent) / REFERENCE_SIZE
    ink_height = _reference_ink_height(book, paragraphs)

    def estimate_fits(size: int) -> bool:
        scale = size / REFERENCE_SIZE
        stroke = stroke_width(size, outline_ratio)
        available = (width - 2 * stroke) / (scale * (1 + _SLACK))
        if available <= 0:
            return False
        lines = _count_lines(book, paragraphs, space, available)
        if lines is None:
            return False
        block = ((lines - 1) * line_spacing * line_height + ink_height) * size + 2 * stroke
        return block <= height

    top = max(1, min(height, max_size or height))
    low, high = 1, top
    if not estimate_fits(1):
        high = 1
    while low < high:
        middle = (low + high + 1) // 2
        if estimate_fits(middle):
            low = middle
        else:
            high = middle - 1

    def layout_at(size: int, force: bool = False) -> BoxLayout | None:
        return _layout_at(
            book, primary, paragraphs, size, width, height, outline_ratio, line_spacing,
            align, valign, force=force,
        )  # fmt: skip

    size = low
    while (layout := layout_at(size)) is None and size > 1:
        size = max(1, size - max(1, size // 25))
    if layout is not None:
        return layout, notes
    clipped = layout_at(1, force=True)
    assert clipped is not None
    return clipped, (*notes, "the text did not fit its box even at 1 px; it was cut")


def clear_layout_caches() -> None:
    """Forget fitted layouts and measured words."""
    _fit_cached.cache_clear()
    _reference_width.cache_clear()
    strike_box.cache_clear()


def _word(book: FontBook, primary: Face, word: str) -> _Word:
    clusters = tuple((cluster, book.face_for(cluster, primary)) for cluster in graphemes(word))
    return _Word(clusters, sum(_reference_width(book, f, t) for f, t in _group(clusters)))


def _reference_ink_height(book: FontBook, paragraphs: list[list[_Word]]) -> float:
    """Height of the tallest inked line at size 1 (the ink, not the font's ascent plus
    descent: a line of capitals is far shorter, and the box should be filled by what is
    drawn). One measurement per face, of all its text at once."""
    by_face: dict[Face, list[str]] = {}
    for words in paragraphs:
        for word in words:
            for face, text in _group(word.clusters):
                by_face.setdefault(face, []).append(text)
    top = bottom = 0
    for face, texts in by_face.items():
        _left, ink_top, _right, ink_bottom = run_ink(book, face, "".join(texts), REFERENCE_SIZE, 0)
        top, bottom = min(top, ink_top), max(bottom, ink_bottom)
    return (bottom - top) / REFERENCE_SIZE


def _group(
    clusters: tuple[tuple[str, Face], ...] | list[tuple[str, Face]],
) -> list[tuple[Face, str]]:
    """Consecutive clusters of one face joined into (face, text) runs."""
    runs: list[tuple[Face, str]] = []
    for cluster, face in clusters:
        if runs and runs[-1][0] == face:
            runs[-1] = (face, runs[-1][1] + cluster)
        else:
            runs.append((face, cluster))
    return runs


@lru_cache(maxsize=8192)
def _reference_width(book: FontBook, face: Face, text: str) -> float:
    """A run's advance at ``REFERENCE_SIZE``; words repeat across memes, so it is cached."""
    return run_advance(book, face, text, REFERENCE_SIZE)


def _count_lines(
    book: FontBook, paragraphs: list[list[_Word]], space: float, available: float
) -> int | None:
    """Lines the greedy wrap makes at reference widths in ``available`` reference units;
    ``None`` when a single cluster is wider than the line."""
    count = 0
    for words in paragraphs:
        count += 1
        used = -space
        for word in words:
            if used + space + word.width <= available:
                used += space + word.width
                continue
            if word.width <= available:
                count += used > 0
                used = word.width
                continue
            # Break the long word between clusters, continuing the current line.
            used += space
            for cluster, face in word.clusters:
                w = _reference_width(book, face, cluster)
                if w > available:
                    return None
                if used + w > available:
                    count += 1
                    used = 0.0
                used += w
        # a paragraph with no words still takes its line
    return count


def _layout_at(
    book: FontBook,
    primary: Face,
    paragraphs: list[list[_Word]],
    size: int,
    width: int,
    height: int,
    outline_ratio: float,
    line_spacing: float,
    align: str,
    valign: str,
    *,
    force: bool = False,
) -> BoxLayout | None:
    """The real layout at one size, measured ink and all; ``None`` if it spills over."""
    stroke = stroke_width(size, outline_ratio)
    available = width - 2 * stroke
    space = book.font(primary, size).getlength(" ")
    wrapped: list[tuple[list[tuple[str, Face]], bool]] = []
    for words in paragraphs:
        rtl = _right_to_left(words)
        line: list[tuple[str, Face]] = []
        used = 0.0
        for word in words:
            word_width = sum(run_advance(book, f, t, size) for f, t in _group(word.clusters))
            gap = space if line else 0.0
            if used + gap + word_width <= available:
                if line:
                    line.append((" ", primary))
                line.extend(word.clusters)
                used += gap + word_width
                continue
            if word_width <= available and line:
                wrapped.append((line, rtl))
                line, used = list(word.clusters), word_width
                continue
            if line:
                line.append((" ", primary))
                used += space
            for cluster, face in word.clusters:
                w = run_advance(book, face, cluster, size)
                if used + w > available and line:
                    wrapped.append((line, rtl))
                    line, used = [], 0.0
                line.append((cluster, face))
                used += w
        wrapped.append((line, rtl))

    ascent, descent = book.font(primary, size).getmetrics()
    advance = round((ascent + descent) * line_spacing)
    measured: list[tuple[tuple[Run, ...], int, int, int, int]] = []
    for number, (clusters, rtl) in enumerate(wrapped):
        runs: list[Run] = []
        pen = 0.0
        left = top = math.inf
        right = bottom = -math.inf
        grouped = _group(_spaces_join(book, clusters))
        # A right-to-left paragraph shows its runs (one per font) from right to left; each
        # run's own letters are ordered by the shaper, told the paragraph's direction.
        for face, text in reversed(grouped) if rtl else grouped:
            x = round(pen)
            ink_left, ink_top, ink_right, ink_bottom = run_ink(book, face, text, size, stroke, rtl)
            if ink_right > ink_left:
                left, right = min(left, x + ink_left), max(right, x + ink_right)
                top, bottom = min(top, ink_top), max(bottom, ink_bottom)
            runs.append(Run(face, text, x, rtl))
            pen += run_advance(book, face, text, size, rtl)
        if left == math.inf:  # nothing inked (only spaces)
            left = right = 0
            top = bottom = 0
        baseline = number * advance
        measured.append(
            (tuple(runs), int(left), int(right), baseline + int(top), baseline + int(bottom))
        )

    block_top = min(m[3] for m in measured)
    block_bottom = max(m[4] for m in measured)
    widest = max(m[2] - m[1] for m in measured)
    if not force and (widest > width or block_bottom - block_top > height):
        return None

    block = block_bottom - block_top
    offset_y = {"top": 0, "middle": (height - block) // 2, "bottom": height - block}[valign]
    shift_y = offset_y - block_top
    lines: list[Line] = []
    ink_left, ink_right = width, 0
    for number, (runs, left, right, _top, _bottom) in enumerate(measured):
        line_width = right - left
        start = {"left": 0, "center": (width - line_width) // 2, "right": width - line_width}[align]
        x = start - left
        lines.append(Line(runs, x, number * advance + shift_y))
        ink_left, ink_right = min(ink_left, start), max(ink_right, start + line_width)
    ink = (ink_left, offset_y, ink_right, offset_y + block)
    return BoxLayout(size, stroke, tuple(lines), ink, fitted=not force)


def _right_to_left(words: list[_Word]) -> bool:
    """Whether a paragraph reads right to left: its first letter with a strong direction
    is Hebrew, Arabic or another right-to-left script (the Unicode bidi rule P2)."""
    for word in words:
        for cluster, _face in word.clusters:
            for char in cluster:
                kind = unicodedata.bidirectional(char)
                if kind == "L":
                    return False
                if kind in ("R", "AL"):
                    return True
    return False


def _spaces_join(book: FontBook, clusters: list[tuple[str, Face]]) -> list[tuple[str, Face]]:
    """Give each space the face of the cluster before it (when that face has a space), so
    a run of one script stays one run, one draw call kerned as a whole, across its spaces.
    Emoji bitmap fonts keep out of it: their space is an emoji's width."""
    out: list[tuple[str, Face]] = []
    for cluster, face in clusters:
        previous = out[-1][1] if out else None
        if cluster == " " and previous and not previous.strike and 0x20 in book.coverage(previous):
            face = out[-1][1]
        out.append((cluster, face))
    return out
