"""Caption text from strangers: cleaned, capped, cased and split into what a reader sees.

Everything here is pure string work, shared by the layout (which measures and wraps) and by
the cog (which splits a ``|``-separated line into one text per box before rendering).

Lengths are counted in grapheme clusters (what a reader calls a character: a flag, a family
emoji or an accented letter is one), using the ``regex`` module's ``\\X``; counting code
points would make 20 family emoji "100 characters".
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

import regex

from .errors import TextTooLong, TooManyTexts

# Format characters (Unicode category Cf) that carry meaning inside emoji and scripts are
# kept; every other Cf (bidi overrides, soft hyphens, BOMs, word joiners) is invisible in a
# caption and only good for spoofing, so it goes.
_KEPT_FORMAT = frozenset({0x200C, 0x200D}) | frozenset(range(0xE0020, 0xE0080))
# A few combining marks are language; hundreds on one letter ("Zalgo") are vandalism that
# would make the fitter shrink everything else to nothing.
MAX_MARKS_PER_CHARACTER = 4

_DISCORD_EMOJI = regex.compile(r"<a?:(\w{1,32}):\d{15,25}>")
_SPACES = regex.compile(r"[^\S\n]+")
_GRAPHEME = regex.compile(r"\X")
# Clusters a colour emoji font should draw: emoji that default to emoji presentation
# (which includes flags' regional indicators and skin tones), or anything that asks for it
# with VARIATION SELECTOR-16 (a keycap, "❤️").
_WANTS_EMOJI = regex.compile(r"\p{Emoji_Presentation}|\uFE0F")
# Code points that never decide which font draws a cluster: joiners and variation selectors
# are consumed by the shaper, not drawn.
IGNORABLE = frozenset({0x200C, 0x200D, 0xFE0E, 0xFE0F})

CASE_STYLES = ("upper", "lower", "none", "title", "mock")


def clean_text(text: str | None) -> str:
    """Make a member's text safe and tidy to draw.

    NFC-normalised; control and invisible format characters removed (newlines kept as line
    breaks, tabs and other spaces become one space); Discord's custom emoji markup
    ``<:name:123…>`` becomes ``:name:``; at most ``MAX_MARKS_PER_CHARACTER`` combining marks
    per character; lines stripped and empty ones dropped. ``None`` gives ``""``.
    """
    if not text:
        return ""
    text = _DISCORD_EMOJI.sub(r":\1:", text)
    text = unicodedata.normalize("NFC", text)
    kept: list[str] = []
    marks = 0
    for char in text:
        if char in "\r\n\u2028\u2029\x85":
            kept.append("\n")
            marks = 0
            continue
        category = unicodedata.category(char)
        if category in ("Mn", "Me"):
            marks += 1
            if marks > MAX_MARKS_PER_CHARACTER:
                continue
        else:
            marks = 0
        if category == "Cc" or category == "Cs":
            kept.append(" " if char == "\t" else "")
        elif category == "Cf" and ord(char) not in _KEPT_FORMAT:
            continue
        else:
            kept.append(char)
    lines = (_SPACES.sub(" ", line).strip() for line in "".join(kept).split("\n"))
    return "\n".join(line for line in lines if line)


def graphemes(text: str) -> list[str]:
    """The text cut into grapheme clusters (never splits a flag, emoji sequence or accent)."""
    return _GRAPHEME.findall(text)


def text_length(text: str) -> int:
    """Length as a reader counts it: grapheme clusters, not code points."""
    return len(_GRAPHEME.findall(text))


def wants_emoji_font(cluster: str) -> bool:
    """Whether a cluster should come from a colour emoji font when one is available."""
    return _WANTS_EMOJI.search(cluster) is not None


def apply_case(text: str, style: str) -> str:
    """Apply a box's case style: ``upper`` (the classic), ``lower``, ``none`` (as typed),
    ``title``, or ``mock`` (aLtErNaTiNg, letters only, starting low)."""
    if style == "upper":
        return text.upper()
    if style == "lower":
        return text.lower()
    if style == "title":
        return text.title()
    if style == "mock":
        out, upper = [], False
        for char in text:
            if char.isalpha():
                out.append(char.upper() if upper else char.lower())
                upper = not upper
            else:
                out.append(char)
        return "".join(out)
    return text


def prepare_texts(texts: Sequence[str | None], limit: int) -> list[str]:
    """Clean every box's text and enforce the per-box cap (raises ``TextTooLong``).

    The cap is checked on the cleaned text, so invisible characters a member pasted do not
    count against them.
    """
    cleaned = [clean_text(text) for text in texts]
    for number, text in enumerate(cleaned, start=1):
        length = text_length(text)
        if length > limit:
            raise TextTooLong(number, length, limit)
    return cleaned


def split_texts(
    values: Sequence[str | None], boxes: int, template: str = "This template"
) -> list[str]:
    """Turn what a member typed into exactly one text per box.

    Either one option per box, or a single ``|``-separated line (``top | bottom``). Missing
    texts become empty boxes; more texts than boxes raises ``TooManyTexts``.
    """
    given = [value or "" for value in values]
    while given and not given[-1].strip():
        given.pop()
    if len(given) == 1 and "|" in given[0]:
        given = [part.strip() for part in given[0].split("|")]
        while given and not given[-1]:
            given.pop()
    if len(given) > boxes:
        raise TooManyTexts(len(given), boxes, template)
    return given + [""] * (boxes - len(given))
