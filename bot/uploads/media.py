"""Judge a downloaded attachment before any Imgur credit is spent on it.

``inspect(path, claimed_name, discord_limit=...)`` reads a file on disk and either
returns a ``MediaInfo`` or raises ``MediaRejected``, whose ``str()`` is the ephemeral
message for the member: it names the file, the limit that was crossed and what to do.

The checks, cheapest first, each one before any pixel is decoded:

1. empty file;
2. the type, from the magic bytes (``formats.sniff``), never from the name or the content
   type Discord reports: unknown or not taken by Imgur is refused with what the file
   looked like next to what its name claims;
3. size, against Imgur's limit for that type and Discord's limit for the interaction;
4. pictures: the pixel count from the header against ``MAX_PIXELS``, and for animations
   frames × pixels against ``MAX_ANIMATION_PIXELS`` (decompression bombs); then Pillow's
   ``verify()`` (PNG: every chunk's CRC up to IEND), then every byte of the first frame's
   data is decoded, truncation being an error (``LOAD_TRUNCATED_IMAGES`` must be off):
   GIF and TIFF by Pillow; baseline JPEG by Pillow at 1/8 scale; PNG and APNG by
   inflating the image data row by row (``png.py``); progressive JPEG by a walk of its
   segments and scans (``jpeg.py``). The last three keep memory to a few pieces of
   64 KiB where a plain decode would hold the whole picture;
   videos: a structural walk of the container (``containers.py``), no decoding.

Everything here is synchronous and CPU or disk bound: call it in an executor
(``intake.inspect_temp`` does).
"""

from __future__ import annotations

import logging
import math
import os
import struct
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import BinaryIO

from PIL import GifImagePlugin, Image, ImageFile, JpegImagePlugin, PngImagePlugin, TiffImagePlugin

from bot.uploads.containers import CUT_SHORT, Damaged, NoVideo, check_container
from bot.uploads.formats import (
    ACCEPTED_IMAGES,
    ACCEPTED_VIDEOS,
    HEAD_BYTES,
    IMGUR_VIDEO_LIMIT,
    MIB,
    MediaType,
    describe_other,
    sniff,
    type_from_name,
)
from bot.uploads.jpeg import check_structure
from bot.uploads.png import UNDECODABLE, check_image_data

log = logging.getLogger(__name__)

# Pillow's own default for MAX_IMAGE_PIXELS (about 89 megapixels, a quarter of a GiB of
# RGB). Ours is a separate constant so that nothing else in the process that changes
# Pillow's global can loosen it.
MAX_PIXELS = 89_478_485
# Frames × pixels of an animation. A 10 MB GIF of 500×500 pixels with 300 frames is 75
# million; a billion refuses frame bombs (thousands of tiny frames on a huge canvas) that
# would make every decoder, Imgur's included, paint the whole canvas again and again.
MAX_ANIMATION_PIXELS = 1_000_000_000
DISPLAY_NAME_LENGTH = 80

_PILLOW_CLASSES: dict[MediaType, type[ImageFile.ImageFile]] = {
    MediaType.JPEG: JpegImagePlugin.JpegImageFile,
    MediaType.PNG: PngImagePlugin.PngImageFile,
    MediaType.APNG: PngImagePlugin.PngImageFile,
    MediaType.GIF: GifImagePlugin.GifImageFile,
    MediaType.TIFF: TiffImagePlugin.TiffImageFile,
}
# What Pillow raises for malformed input (its parsers index, unpack and convert as they
# go). Anything else is a bug here, not a damaged file, and is left to propagate.
_DECODE_ERRORS = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    struct.error,
    IndexError,
    KeyError,
    TypeError,
    ZeroDivisionError,
    OverflowError,
)
# JPEG can be decoded at 1/8 scale: every byte of compressed data is still read and
# checked, but the pixels held in memory are 64 times fewer.
_JPEG_DECODE_SCALE = 8


class Refusal(StrEnum):
    """Why a file was refused, for logs and metrics (the words are in the message)."""

    EMPTY = "empty"
    UNKNOWN_TYPE = "unknown_type"
    UNSUPPORTED_TYPE = "unsupported_type"
    TOO_LARGE = "too_large"
    CORRUPT = "corrupt"
    TOO_MANY_PIXELS = "too_many_pixels"


class MediaRejected(Exception):
    """A file that must not go to Imgur, with the words to tell the member why.

    ``filename`` is cleaned for display; ``limit_bytes`` is the size limit that was
    crossed (None when the refusal is not about size); ``advice`` says what to do.
    """

    def __init__(
        self,
        filename: str,
        reason: str,
        limit_bytes: int | None,
        advice: str,
        *,
        refusal: Refusal,
    ) -> None:
        self.filename = clean_filename(filename)
        self.reason = reason
        self.limit_bytes = limit_bytes
        self.advice = advice
        self.refusal = refusal
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """The ephemeral reply: the name in code style, so no markdown or mention renders."""
        return f"I can't upload `{self.filename}`: {self.reason}. {self.advice}"

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, slots=True)
class MediaInfo:
    """A file that may go to Imgur: its real type and what was cheap to learn about it."""

    media_type: MediaType
    size: int
    display_name: str
    # The name to send to Imgur: the member's name, with the extension of the real type.
    upload_name: str
    # The type the member's file name claimed, if it named one (it may differ).
    claimed_type: MediaType | None
    width: int | None = None
    height: int | None = None
    frames: int | None = None


# -- names ---------------------------------------------------------------------------------

_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})  # controls, bidi/zero-width, surrogates


def clean_filename(name: str, *, max_length: int = DISPLAY_NAME_LENGTH) -> str:
    """A file name that is safe to show: no path, no control or bidi characters, short.

    Bidi overrides can make ``gpj.exe`` read as ``exe.jpg``; control characters can break
    a message's layout; backticks would end the code span the name is shown in.
    """
    name = unicodedata.normalize("NFC", name)
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    kept = []
    for char in name:
        if char.isspace():  # tabs, newlines, line separators: one plain space
            kept.append(" ")
        elif unicodedata.category(char) not in _DROPPED_CATEGORIES:
            kept.append(char)
    name = " ".join("".join(kept).replace("`", "'").split()) or "attachment"
    if len(name) <= max_length:
        return name
    stem, dot, ext = name.rpartition(".")
    suffix = f".{ext}" if dot and stem and len(ext) <= 8 else ""
    stem = name[: len(name) - len(suffix)]
    return stem[: max_length - len(suffix) - 1].rstrip() + "…" + suffix


def upload_name(display_name: str, media_type: MediaType) -> str:
    """``display_name`` with the extension of ``media_type`` (a PNG named cat.mp4: cat.png)."""
    claimed = type_from_name(display_name)
    if claimed is not None and claimed.extension == media_type.extension:
        return display_name
    stem = display_name.rpartition(".")[0] if claimed is not None else display_name
    return f"{stem}.{media_type.extension}"


# -- words ---------------------------------------------------------------------------------


def format_size(size: int) -> str:
    """Binary units labelled as Discord labels them: 10485760 -> '10 MB'."""
    for unit, scale in (("MB", MIB), ("KB", 1024)):
        if size >= scale:
            return f"{_trim(size / scale)} {unit}"
    return f"{size:,} bytes" if size != 1 else "1 byte"


def _trim(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _format_pair(size: int, limit: int) -> tuple[str, str]:
    """The size and the limit in words that show they differ (10 MB vs 10 MB would not)."""
    size_text, limit_text = format_size(size), format_size(limit)
    if size_text == limit_text:
        return f"{size:,} bytes", f"{limit:,} bytes ({limit_text})"
    return size_text, limit_text


def _join_names(types: tuple[MediaType, ...]) -> str:
    names = [t.short for t in types]
    return ", ".join(names[:-1]) + " and " + names[-1]


ACCEPTED_WORDS = (
    f"Imgur takes {_join_names(ACCEPTED_IMAGES)} pictures (up to "
    f"{format_size(ACCEPTED_IMAGES[0].imgur_limit or 0)}) and {_join_names(ACCEPTED_VIDEOS)} "
    f"videos (up to {format_size(IMGUR_VIDEO_LIMIT)})"
)

_TYPE_ADVICE = {
    MediaType.WEBP: "Save it as PNG or JPEG and upload that.",
    MediaType.BMP: "Save it as PNG (just as lossless) and upload that.",
    MediaType.HEIC: (
        "Export it as JPEG; on an iPhone, Settings → Camera → Formats → Most Compatible "
        "makes new photos JPEG."
    ),
    MediaType.AVIF: "Save it as PNG or JPEG and upload that.",
    MediaType.MPEG_TS: "Convert it to MP4 (for example `ffmpeg -i in.ts -c copy out.mp4`).",
    MediaType.WAV: "Imgur only hosts pictures and videos; share sound somewhere else.",
}


def _megapixels(pixels: int) -> str:
    value = pixels / 1_000_000
    if value >= 100:
        return f"{value:,.0f}"
    return _trim(value) if value >= 1 else f"{value:.2f}"


# -- checks shared with the intake (which runs them while the download streams) -----------


def refuse_empty(filename: str) -> MediaRejected:
    return MediaRejected(
        filename,
        "it is empty (0 bytes)",
        None,
        "Attach it again: it may not have finished uploading to Discord.",
        refusal=Refusal.EMPTY,
    )


def check_type(media_type: MediaType | None, filename: str, head: bytes) -> MediaType:
    """``media_type`` if Imgur takes it; else ``MediaRejected`` saying what the file is."""
    claimed = type_from_name(filename)
    if media_type is None:
        other = describe_other(head)
        if other and claimed:
            found = f"its name says {claimed.short}, but it is {other}"
        elif other:
            found = f"it is {other}, not a picture or a video"
        elif claimed:
            found = f"its name says {claimed.short}, but its contents match no picture or video"
        else:
            found = "its contents match no picture or video format"
        advice = f"{ACCEPTED_WORDS}. If it should be one of those, save it again and retry."
        raise MediaRejected(filename, found, None, advice, refusal=Refusal.UNKNOWN_TYPE)
    if not media_type.accepted:
        named = (
            f" (although its name says {claimed.short})"
            if claimed and claimed is not media_type
            else ""
        )
        reason = (
            f"it is {media_type.phrase}{named}, and Imgur's API does not take "
            f"{media_type.short} files. {ACCEPTED_WORDS}"
        )
        raise MediaRejected(
            filename, reason, None, _TYPE_ADVICE[media_type], refusal=Refusal.UNSUPPORTED_TYPE
        )
    return media_type


def check_size(
    media_type: MediaType | None,
    size: int,
    filename: str,
    *,
    discord_limit: int,
    exact: bool = True,
) -> None:
    """Refuse ``size`` bytes over Imgur's limit for the type or Discord's for the interaction.

    ``media_type`` is None before the type is known (a declared size checked before the
    download starts): only Discord's limit applies then. ``exact`` is False while a
    download is still streaming: ``size`` is then only how much has arrived.
    """
    imgur_limit = (media_type.imgur_limit or 0) if media_type is not None else math.inf
    limit = int(min(imgur_limit, discord_limit))
    if size <= limit:
        return
    if exact:
        size_text, limit_text = _format_pair(size, limit)
        is_text = f"it is {size_text}"
    else:
        limit_text = format_size(limit)
        is_text = f"it is more than {limit_text}"
    if discord_limit < imgur_limit:
        reason = f"{is_text}, and the largest file I can take here is {limit_text}"
        advice = "Share a smaller file, or upload this one on imgur.com yourself."
    else:
        assert media_type is not None  # Imgur's limit is the tighter one only for a type
        kind = "videos" if media_type.is_video else "pictures"
        reason = f"{is_text}, and Imgur takes {kind} up to {limit_text}"
        advice = _size_advice(media_type)
    raise MediaRejected(filename, reason, limit, advice, refusal=Refusal.TOO_LARGE)


def _size_advice(media_type: MediaType) -> str:
    if media_type.is_video:
        return "Trim it or compress it to a smaller size, then try again."
    if media_type is MediaType.GIF:
        return (
            f"Convert it to an MP4 video (Imgur takes videos up to "
            f"{format_size(IMGUR_VIDEO_LIMIT)}), or make it shorter or smaller."
        )
    if media_type is MediaType.JPEG:
        return "Make it smaller (fewer pixels or a lower quality) and try again."
    return "Save it as a JPEG, or make it smaller, and try again."


# -- the whole inspection ------------------------------------------------------------------


def inspect(
    path: str | os.PathLike[str],
    claimed_name: str,
    *,
    discord_limit: int,
    max_pixels: int = MAX_PIXELS,
    max_animation_pixels: int = MAX_ANIMATION_PIXELS,
) -> MediaInfo:
    """Judge the file at ``path``; ``claimed_name`` is the attachment's name on Discord.

    Returns what the file is, or raises ``MediaRejected``. Synchronous: run it in an
    executor.
    """
    display_name = clean_filename(claimed_name)
    with open(path, "rb") as fp:
        size = os.fstat(fp.fileno()).st_size
        if size == 0:
            raise refuse_empty(display_name)
        head = fp.read(HEAD_BYTES)
        media_type = check_type(sniff(head), display_name, head)
        check_size(media_type, size, display_name, discord_limit=discord_limit)
        width = height = frames = None
        if media_type.is_image:
            media_type, width, height, frames = _inspect_image(
                fp, media_type, display_name, max_pixels, max_animation_pixels
            )
        else:
            _inspect_video(fp, size, media_type, display_name)
    return MediaInfo(
        media_type=media_type,
        size=size,
        display_name=display_name,
        upload_name=upload_name(display_name, media_type),
        claimed_type=type_from_name(display_name),
        width=width,
        height=height,
        frames=frames,
    )


def _corrupt(filename: str, media_type: MediaType, detail: str) -> MediaRejected:
    return MediaRejected(
        filename,
        f"it looks like {media_type.phrase}, but {detail}",
        None,
        "Check that it opens on your device, save or export it again, and retry.",
        refusal=Refusal.CORRUPT,
    )


def _inspect_video(fp: BinaryIO, size: int, media_type: MediaType, filename: str) -> None:
    try:
        check_container(fp, size, media_type)
    except NoVideo:
        raise MediaRejected(
            filename,
            f"it is {media_type.phrase} with no video track (only sound?)",
            None,
            _TYPE_ADVICE[MediaType.WAV],
            refusal=Refusal.UNSUPPORTED_TYPE,
        ) from None
    except Damaged as damage:
        raise _corrupt(filename, media_type, str(damage)) from None


def _too_many_pixels(filename: str, width: int, height: int, limit: int) -> MediaRejected:
    claim = (
        f"its header says it is {width:,}×{height:,} pixels "
        f"({_megapixels(width * height)} megapixels)"
        if width * height > limit
        else "one of its frames claims more pixels than allowed"
    )
    return MediaRejected(
        filename,
        f"{claim}, and the limit is {_megapixels(limit)} megapixels",
        None,
        "Resize it to fewer pixels and try again.",
        refusal=Refusal.TOO_MANY_PIXELS,
    )


def _too_many_frames(
    filename: str, width: int, height: int, frames: int, limit: int
) -> MediaRejected:
    return MediaRejected(
        filename,
        f"it has {frames:,} frames of {width:,}×{height:,} pixels "
        f"({_megapixels(width * height * frames)} megapixels in all), and the limit is "
        f"{_megapixels(limit)} megapixels in all",
        None,
        "Make it shorter or smaller, or convert it to an MP4 video.",
        refusal=Refusal.TOO_MANY_PIXELS,
    )


def _inspect_image(
    fp: BinaryIO,
    media_type: MediaType,
    filename: str,
    max_pixels: int,
    max_animation_pixels: int,
) -> tuple[MediaType, int, int, int]:
    """(type, width, height, frames) of a picture Imgur takes, or ``MediaRejected``."""
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        # A global switch: if anything in the process turned it on, truncated pictures
        # would pass as whole. Fail loudly rather than check less than we claim.
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES is on; uploads need it off")
    image_class = _PILLOW_CLASSES[media_type]
    width = height = 0
    try:
        # The plugin class itself reads the header only, with no global pixel limit of
        # Pillow's in the way, so ours applies, to the size the header claims.
        fp.seek(0)
        with image_class(fp) as picture:
            width, height = picture.size
            if width * height > max_pixels:
                raise _too_many_pixels(filename, width, height, max_pixels)
            if media_type in (MediaType.PNG, MediaType.APNG):
                # The head may end before IDAT; Pillow read every chunk up to it.
                animated = picture.get_format_mimetype() == "image/apng"
                media_type = MediaType.APNG if animated else MediaType.PNG
            # GIF walks its frames (skipping their pixel data); APNG's come from acTL.
            frames = getattr(picture, "n_frames", 1)
            animation = media_type in (MediaType.GIF, MediaType.APNG)
            if animation and width * height * frames > max_animation_pixels:
                raise _too_many_frames(filename, width, height, frames, max_animation_pixels)
            progressive = bool(picture.info.get("progressive"))
            picture.verify()
        if media_type in (MediaType.PNG, MediaType.APNG):
            check_image_data(fp)  # inflates every row, holding 64 KiB rather than the picture
        elif progressive:
            check_structure(fp, os.fstat(fp.fileno()).st_size)  # see jpeg.py for why
        else:
            fp.seek(0)
            with image_class(fp) as picture:
                if media_type is MediaType.JPEG:
                    scale = _JPEG_DECODE_SCALE
                    picture.draft(None, (math.ceil(width / scale), math.ceil(height / scale)))
                picture.load()
    except MediaRejected:
        raise
    except Damaged as damage:
        raise _corrupt(filename, media_type, str(damage)) from None
    except Image.DecompressionBombError:
        # Raised by Pillow for a GIF frame that grows the canvas past Pillow's limit.
        raise _too_many_pixels(filename, width, height, max_pixels) from None
    except _DECODE_ERRORS as error:
        log.debug("%s did not decode as %s: %r", filename, media_type.short, error)
        cut_short = "truncated" in str(error).lower() or not _ends_whole(fp, media_type)
        detail = CUT_SHORT if cut_short else f"{UNDECODABLE} (the file is damaged)"
        raise _corrupt(filename, media_type, detail) from None
    return media_type, width, height, frames


# How each picture format ends, to tell a cut-short file from a damaged one in the words.
_END_MARKERS = {
    MediaType.PNG: b"\x00\x00\x00\x00IEND\xaeB`\x82",
    MediaType.APNG: b"\x00\x00\x00\x00IEND\xaeB`\x82",
    MediaType.JPEG: b"\xff\xd9",
    MediaType.GIF: b"\x3b",
}


def _ends_whole(fp: BinaryIO, media_type: MediaType) -> bool:
    marker = _END_MARKERS.get(media_type)
    if marker is None:
        return True  # TIFF has no end marker: trust what the decoder said
    fp.seek(0, os.SEEK_END)
    fp.seek(max(0, fp.tell() - len(marker)))
    return fp.read() == marker
