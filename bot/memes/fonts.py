"""Fonts for captions: found on the system, never copied into the repository.

A template names its caption font (``sans-bold`` by default; see ``CAPTION_FONTS``), or any
font file in the search paths by its file name without extension (``impact`` for
``impact.ttf`` dropped into a configured folder). Glyphs the caption font lacks come from a
fallback chain, chosen per grapheme cluster from each font's character map (read with
fontTools): colour emoji, then CJK, then wide-coverage fonts. When nothing at all is found,
Pillow's built-in scalable font draws the text (Latin only), so the renderer always works.

Debian packages (``REQUIRED_PACKAGES`` are what the tests and the intended look need)::

    fonts-dejavu-core       DejaVu Sans/Serif/Mono (caption fonts, wide Latin/Greek/Cyrillic)
    fonts-noto-color-emoji  Noto Color Emoji (colour bitmaps, 10 MB)
    fonts-wqy-microhei      WenQuanYi Micro Hei (Chinese, Japanese kana, Hangul; 5 MB)
    fonts-noto-core         optional: Noto Sans per script (Thai, Devanagari, …; 42 MB)
    fonts-symbola           optional: monochrome emoji and symbols (3 MB)

``python -m bot.memes.fonts`` lists what was found and prints the ``apt-get install`` line
for anything missing (``--missing`` prints only the package names, for a Makefile).
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import sys
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fontTools.ttLib import TTCollection, TTFont, TTLibError
from PIL import ImageFont

from .text import IGNORABLE, wants_emoji_font

DEFAULT_SEARCH_PATHS: tuple[str, ...] = (
    "/usr/share/fonts",
    "/usr/local/share/fonts",
    "~/.local/share/fonts",
    "~/.fonts",
)
FONT_SUFFIXES = (".ttf", ".otf", ".ttc", ".otc")


@dataclass(frozen=True)
class FontSpec:
    """A font we know how to find: candidate file names (``fnmatch`` patterns allowed, first
    found wins unless ``every_match``) and the Debian package that ships the first."""

    name: str
    files: tuple[str, ...]
    package: str | None
    required: bool = False
    every_match: bool = False  # Noto ships one file per script: use them all


CAPTION_FONTS: dict[str, FontSpec] = {
    spec.name: spec
    for spec in (
        FontSpec("sans-bold", ("DejaVuSans-Bold.ttf",), "fonts-dejavu-core", required=True),
        FontSpec("sans", ("DejaVuSans.ttf",), "fonts-dejavu-core"),
        FontSpec("serif-bold", ("DejaVuSerif-Bold.ttf",), "fonts-dejavu-core"),
        FontSpec("mono-bold", ("DejaVuSansMono-Bold.ttf",), "fonts-dejavu-core"),
    )
}
DEFAULT_FONT = "sans-bold"

# Tried in this order for clusters the caption font lacks (emoji-presentation clusters try
# the emoji fonts first). Bold CJK first when the large Noto CJK package is there; the
# small WenQuanYi otherwise.
FALLBACK_FONTS: tuple[FontSpec, ...] = (
    FontSpec("emoji", ("NotoColorEmoji.ttf",), "fonts-noto-color-emoji", required=True),
    FontSpec(
        "cjk",
        ("NotoSansCJK-Bold.ttc", "wqy-microhei.ttc", "DroidSansFallbackFull.ttf"),
        "fonts-wqy-microhei",
        required=True,
    ),
    FontSpec("wide", ("DejaVuSans.ttf",), "fonts-dejavu-core"),
    FontSpec("scripts", ("NotoSans*-Bold.ttf",), "fonts-noto-core", every_match=True),
    FontSpec("symbols", ("Symbola_hint.ttf", "Symbola.ttf"), "fonts-symbola"),
)
_EMOJI_SPECS = ("emoji", "symbols")
# What the renderer's intended look (and its tests) needs, in install order.
REQUIRED_PACKAGES: tuple[str, ...] = tuple(
    dict.fromkeys(
        spec.package
        for spec in (*CAPTION_FONTS.values(), *FALLBACK_FONTS)
        if spec.required and spec.package
    )
)


@dataclass(frozen=True)
class Face:
    """One font face: a file (and its index inside a .ttc collection).

    ``strike`` is set for bitmap-only colour fonts (Noto Color Emoji's CBDT strike is 109
    px): FreeType draws those at that size only, so the renderer draws at the strike and
    scales the picture. ``color`` faces are drawn with their embedded colours, no outline.
    """

    path: str
    index: int = 0
    color: bool = False
    strike: int | None = None

    @property
    def label(self) -> str:
        return Path(self.path).stem if self.path else "pillow-builtin"


BUILTIN = Face(path="")


@dataclass(frozen=True)
class FontReport:
    """What a font book found: each known font's file (or ``None``) and what to install."""

    found: dict[str, str | None]
    missing_required: tuple[str, ...]
    missing_optional: tuple[str, ...]

    def install_command(self, *, optional: bool = False) -> str | None:
        """The exact ``apt-get install`` line for the missing packages (``None`` if none)."""
        packages = self.missing_required + (self.missing_optional if optional else ())
        if not packages:
            return None
        return "apt-get install -y --no-install-recommends " + " ".join(packages)


@dataclass
class _Coverage:
    lock: threading.Lock = field(default_factory=threading.Lock)
    maps: dict[Face, frozenset[int]] = field(default_factory=dict)


class FontBook:
    """Finds font files in the search paths and answers "which face draws this cluster".

    Search paths are files or folders (folders are walked); earlier entries win when two
    hold a file of the same name, so a configured folder can override the system's fonts.
    Safe to share between threads: FreeType font objects are kept per thread.
    """

    def __init__(self, search_paths: Iterable[str | os.PathLike[str]] = DEFAULT_SEARCH_PATHS):
        self.search_paths = tuple(Path(p).expanduser() for p in search_paths)
        self._lock = threading.Lock()
        self._index: dict[str, list[Path]] | None = None
        self._faces: dict[str, Face | None] = {}
        self._captions: dict[str, tuple[Face, str | None]] = {}
        self._fallbacks: tuple[tuple[Face, ...], tuple[Face, ...]] | None = None
        self._coverage = _Coverage()
        self._cluster_faces: dict[tuple[Face, str], Face] = {}
        self._local = threading.local()

    # -- finding files ------------------------------------------------------------------
    def _files(self) -> dict[str, list[Path]]:
        """Every font file in the search paths, by lower-case file name, in path order."""
        with self._lock:
            if self._index is None:
                index: dict[str, list[Path]] = {}
                for root in self.search_paths:
                    for path in _walk_fonts(root):
                        index.setdefault(path.name.lower(), []).append(path)
                self._index = index
            return self._index

    def _find(self, spec: FontSpec) -> list[Path]:
        files = self._files()
        found: list[Path] = []
        for pattern in spec.files:
            pattern = pattern.lower()
            names = sorted(n for n in files if fnmatch.fnmatchcase(n, pattern))
            for name in names:
                found.append(files[name][0])
            if found and not spec.every_match:
                return found[:1]
        return found

    def _face(self, path: Path) -> Face | None:
        """Open a file's first face, or ``None`` when fontTools cannot read it."""
        key = str(path)
        if key not in self._faces:
            face = _inspect(path)
            if face is not None and not self.coverage(face):
                face = None  # no character map: nothing it could draw
            self._faces[key] = face
        return self._faces[key]

    def caption_face(self, name: str) -> tuple[Face, str | None]:
        """The face for a template's font name, and a note when it had to be substituted.

        A catalogue name (``sans-bold``) or a font file's stem (``impact``); unknown or
        unreadable fonts fall back to ``DEFAULT_FONT``, then to Pillow's built-in font.
        """
        cached = self._captions.get(name)
        if cached is None:
            cached = self._captions[name] = self._caption_face(name)
        return cached

    def _caption_face(self, name: str) -> tuple[Face, str | None]:
        spec = CAPTION_FONTS.get(name) or FontSpec(
            name, tuple(name + s for s in FONT_SUFFIXES), None
        )
        for path in self._find(spec):
            face = self._face(path)
            if face is not None and not face.color:
                return face, None
        if name != DEFAULT_FONT:
            face, _ = self.caption_face(DEFAULT_FONT)
            return face, f"font {name!r} was not found; used {DEFAULT_FONT}"
        return BUILTIN, f"font {DEFAULT_FONT!r} was not found; used Pillow's built-in font"

    def fallback_faces(self, *, emoji_first: bool = False) -> tuple[Face, ...]:
        """The fallback chain in order (emoji fonts moved to the front if asked)."""
        if self._fallbacks is None:
            emoji: list[Face] = []
            rest: list[Face] = []
            for spec in FALLBACK_FONTS:
                for path in self._find(spec):
                    face = self._face(path)
                    if face is not None:
                        (emoji if spec.name in _EMOJI_SPECS else rest).append(face)
            self._fallbacks = (tuple(emoji), tuple(rest))
        emoji, rest = self._fallbacks
        if emoji_first:
            return emoji + rest
        # Emoji fonts stay in the chain (after the rest) for symbols only they have.
        return rest + emoji

    def warm(self) -> FontReport:
        """Find every font and read every character map now (a fraction of a second,
        mostly the CJK font's), so the first meme after start-up is not the slow one.
        Call it in an executor at start-up; returns the report."""
        report = self.report()
        self.fallback_faces()
        return report

    def report(self) -> FontReport:
        """Which known fonts were found, and which Debian packages would fill the gaps."""
        found: dict[str, str | None] = {}
        missing_required: list[str] = []
        missing_optional: list[str] = []
        for spec in (*CAPTION_FONTS.values(), *FALLBACK_FONTS):
            paths = [p for p in self._find(spec) if self._face(p) is not None]
            found[spec.name] = str(paths[0]) if paths else None
            if not paths and spec.package:
                target = missing_required if spec.required else missing_optional
                if spec.package not in target:
                    target.append(spec.package)
        missing_optional = [p for p in missing_optional if p not in missing_required]
        return FontReport(found, tuple(missing_required), tuple(missing_optional))

    # -- coverage -----------------------------------------------------------------------
    def coverage(self, face: Face) -> frozenset[int]:
        """The code points a face maps to glyphs (empty for Pillow's built-in font)."""
        cached = self._coverage.maps.get(face)
        if cached is not None:
            return cached
        with self._coverage.lock:
            if face not in self._coverage.maps:
                self._coverage.maps[face] = _read_cmap(face)
            return self._coverage.maps[face]

    def covers(self, face: Face, cluster: str) -> bool:
        """Whether a face has glyphs for every code point of a cluster (joiners and
        variation selectors aside)."""
        coverage = self.coverage(face)
        return all(ord(c) in coverage for c in cluster if ord(c) not in IGNORABLE)

    def face_for(self, cluster: str, primary: Face) -> Face:
        """The face that should draw one grapheme cluster, given the caption's face.

        The first face in (caption, fallbacks…) whose character map has every code point of
        the cluster (joiners and variation selectors aside); clusters asking for emoji
        presentation try the colour emoji font first. Failing that, the first face that has
        the cluster's first character; failing that, the caption face (its "missing glyph"
        box is the honest answer).
        """
        if cluster == " ":
            return primary
        key = (primary, cluster)
        face = self._cluster_faces.get(key)
        if face is not None:
            return face
        points = [ord(c) for c in cluster if ord(c) not in IGNORABLE] or [ord(cluster[0])]
        emoji = wants_emoji_font(cluster)
        chain = (
            (*self.fallback_faces(emoji_first=True), primary)
            if emoji
            else (primary, *self.fallback_faces())
        )
        face = next((f for f in chain if self.coverage(f).issuperset(points)), None)
        if face is None:
            face = next((f for f in chain if points[0] in self.coverage(f)), primary)
        if len(self._cluster_faces) > 50_000:  # a bound, not a policy: clusters repeat
            self._cluster_faces.clear()
        self._cluster_faces[key] = face
        return face

    # -- FreeType objects ---------------------------------------------------------------
    def font(self, face: Face, size: int) -> ImageFont.FreeTypeFont:
        """A Pillow font for a face at a pixel size (bitmap faces: always their strike).

        Kept per thread: FreeType faces must not be used by two threads at once, and the
        renderer runs in an executor pool.
        """
        cache: dict[tuple[Face, int], ImageFont.FreeTypeFont] | None = getattr(
            self._local, "fonts", None
        )
        if cache is None:
            cache = self._local.fonts = {}
        size = face.strike or max(1, int(size))
        key = (face, size)
        font = cache.get(key)
        if font is None:
            if len(cache) > 256:
                cache.clear()
            if not face.path:
                font = ImageFont.load_default(size)
            else:
                font = ImageFont.truetype(face.path, size, index=face.index)
            cache[key] = font
        return font  # type: ignore[return-value]


def _walk_fonts(root: Path) -> Iterable[Path]:
    if root.is_file():
        if root.suffix.lower() in FONT_SUFFIXES:
            yield root
        return
    if not root.is_dir():
        return
    for folder, _dirs, names in sorted(os.walk(root, followlinks=True)):
        for name in sorted(names):
            if name.lower().endswith(FONT_SUFFIXES):
                yield Path(folder, name)


def _open(path: str, index: int) -> TTFont:
    if path.lower().endswith((".ttc", ".otc")):
        return TTCollection(path, lazy=True).fonts[index]
    return TTFont(path, lazy=True, fontNumber=index)


def _inspect(path: Path) -> Face | None:
    try:
        font = _open(str(path), 0)
        strike = None
        if "CBLC" in font:
            strike = max(s.bitmapSizeTable.ppemY for s in font["CBLC"].strikes)
        elif "sbix" in font:
            strike = max(font["sbix"].strikes)
        color = strike is not None or "COLR" in font
        return Face(str(path), 0, color=color, strike=strike)
    except (TTLibError, OSError, KeyError, ValueError, AttributeError):
        return None


# Pillow's built-in font (Aileron) has printable ASCII and Latin-1; it cannot be asked.
_BUILTIN_COVERAGE = frozenset(range(0x20, 0x7F)) | frozenset(range(0xA0, 0x100))


def _read_cmap(face: Face) -> frozenset[int]:
    if not face.path:
        return _BUILTIN_COVERAGE
    try:
        return frozenset(_open(face.path, face.index).getBestCmap() or ())
    except (TTLibError, OSError, KeyError, ValueError, AttributeError):
        return frozenset()


_default_book: FontBook | None = None
_default_lock = threading.Lock()


def default_font_book() -> FontBook:
    """The process-wide font book over ``DEFAULT_SEARCH_PATHS`` (built on first use)."""
    global _default_book
    with _default_lock:
        if _default_book is None:
            _default_book = FontBook()
        return _default_book


def missing_font_packages(
    search_paths: Sequence[str] | None = None, *, optional: bool = False
) -> list[str]:
    """Debian packages to install for the fonts the renderer (and its tests) expect."""
    book = FontBook(search_paths) if search_paths is not None else default_font_book()
    report = book.report()
    return list(report.missing_required + (report.missing_optional if optional else ()))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bot.memes.fonts``: list fonts; exit 1 (with the apt-get line) if any
    required one is missing."""
    parser = argparse.ArgumentParser(prog="python -m bot.memes.fonts", description=main.__doc__)
    parser.add_argument("--path", action="append", help="font file or folder (repeatable)")
    parser.add_argument("--optional", action="store_true", help="also want optional fonts")
    parser.add_argument(
        "--missing", action="store_true", help="print only missing package names, one line"
    )
    args = parser.parse_args(argv)
    book = FontBook(args.path) if args.path else default_font_book()
    report = book.report()
    missing = report.missing_required + (report.missing_optional if args.optional else ())
    if args.missing:
        print(" ".join(missing))
        return 0
    for name, path in report.found.items():
        print(f"{name:12s} {path or '(not found)'}")
    command = report.install_command(optional=args.optional)
    if command:
        print(f"missing fonts; install them with:\n  {command}")
    return 1 if report.missing_required else 0


if __name__ == "__main__":
    sys.exit(main())
