"""What a file is, told from its first bytes (never from its name or claimed content type).

``sniff(head)`` looks at the first ``HEAD_BYTES`` of a file and names its ``MediaType``.
Each type knows its MIME type, whether it is a picture or a video, whether Imgur's API
takes it and, if so, Imgur's size limit for it (imgur-api.md §5.2 and §7).

Which types Imgur takes follows the current documentation's MIME list (§5.2), which is
also what the emulator enforces:

- taken: JPEG, PNG, APNG, GIF, TIFF; MP4, MOV, WebM, Matroska, FLV, AVI, WMV, MPEG;
- refused, but recognised so the member hears what the file really is and what to do:
  WebP (not in the list), BMP (only the retired upload widget listed it), HEIC (Imgur
  answers "File type invalid", code 1003, §5.2), AVIF (not in the list), MPEG transport
  streams (``video/mp2t`` is not ``video/mpeg``) and WAV audio.

Some other common files (PDF, ZIP, MP3...) are named only in words, for the refusal.
"""

from __future__ import annotations

import struct
from enum import Enum

# Enough for every signature below, including PNG chunks before the first IDAT and three
# MPEG-TS packets. The intake keeps this much of every download in memory.
HEAD_BYTES = 16 * 1024

MIB = 1024 * 1024
# Imgur's API: "up to 10MB" for `image` and 200 MB for `video` (imgur-api.md §7). Read as
# binary megabytes, as the emulator does and as Discord shows attachment sizes.
IMGUR_IMAGE_LIMIT = 10 * MIB
IMGUR_VIDEO_LIMIT = 200 * MIB


class MediaType(Enum):
    """A file format, with what Imgur makes of it.

    The value is (short name, words for a member, MIME type, usual extension, is video,
    Imgur takes it).
    """

    JPEG = ("JPEG", "a JPEG image", "image/jpeg", "jpg", False, True)
    PNG = ("PNG", "a PNG image", "image/png", "png", False, True)
    APNG = ("APNG", "an animated PNG", "image/apng", "png", False, True)
    GIF = ("GIF", "a GIF", "image/gif", "gif", False, True)
    TIFF = ("TIFF", "a TIFF image", "image/tiff", "tiff", False, True)
    WEBP = ("WebP", "a WebP image", "image/webp", "webp", False, False)
    BMP = ("BMP", "a BMP image", "image/bmp", "bmp", False, False)
    HEIC = ("HEIC", "a HEIC photo", "image/heic", "heic", False, False)
    AVIF = ("AVIF", "an AVIF image", "image/avif", "avif", False, False)
    MP4 = ("MP4", "an MP4 video", "video/mp4", "mp4", True, True)
    MOV = ("MOV", "a QuickTime (MOV) video", "video/quicktime", "mov", True, True)
    WEBM = ("WebM", "a WebM video", "video/webm", "webm", True, True)
    MATROSKA = ("MKV", "a Matroska (MKV) video", "video/x-matroska", "mkv", True, True)
    AVI = ("AVI", "an AVI video", "video/x-msvideo", "avi", True, True)
    FLV = ("FLV", "a Flash (FLV) video", "video/x-flv", "flv", True, True)
    WMV = ("WMV", "a Windows Media (WMV) video", "video/x-ms-wmv", "wmv", True, True)
    MPEG = ("MPEG", "an MPEG video", "video/mpeg", "mpg", True, True)
    MPEG_TS = ("MPEG-TS", "an MPEG transport stream", "video/mp2t", "ts", True, False)
    WAV = ("WAV", "a WAV audio file", "audio/wav", "wav", False, False)

    def __init__(
        self, short: str, phrase: str, mime: str, extension: str, video: bool, accepted: bool
    ) -> None:
        self.short = short
        self.phrase = phrase
        self.mime = mime
        self.extension = extension
        self.is_video = video
        self.accepted = accepted

    def __repr__(self) -> str:
        return f"MediaType.{self.name}"

    @property
    def is_image(self) -> bool:
        return self.mime.startswith("image/")

    @property
    def imgur_limit(self) -> int | None:
        """The largest file Imgur's API takes of this type; None if it takes none."""
        if not self.accepted:
            return None
        return IMGUR_VIDEO_LIMIT if self.is_video else IMGUR_IMAGE_LIMIT


ACCEPTED_IMAGES = tuple(t for t in MediaType if t.accepted and t.is_image)
ACCEPTED_VIDEOS = tuple(t for t in MediaType if t.accepted and t.is_video)

# What a file's name claims, for the words of a refusal only: the bytes decide.
_TYPE_BY_EXTENSION = {
    **{ext: MediaType.JPEG for ext in ("jpg", "jpeg", "jpe", "jfif", "pjpeg")},
    "png": MediaType.PNG,
    "apng": MediaType.APNG,
    "gif": MediaType.GIF,
    "tif": MediaType.TIFF,
    "tiff": MediaType.TIFF,
    "webp": MediaType.WEBP,
    "bmp": MediaType.BMP,
    "dib": MediaType.BMP,
    "heic": MediaType.HEIC,
    "heif": MediaType.HEIC,
    "avif": MediaType.AVIF,
    **{ext: MediaType.MP4 for ext in ("mp4", "m4v", "3gp", "3g2")},
    "mov": MediaType.MOV,
    "qt": MediaType.MOV,
    "webm": MediaType.WEBM,
    "mkv": MediaType.MATROSKA,
    "avi": MediaType.AVI,
    "flv": MediaType.FLV,
    "wmv": MediaType.WMV,
    "asf": MediaType.WMV,
    **{ext: MediaType.MPEG for ext in ("mpg", "mpeg", "m1v", "m2v", "vob")},
    **{ext: MediaType.MPEG_TS for ext in ("ts", "mts", "m2ts")},
    "wav": MediaType.WAV,
}


def type_from_name(filename: str) -> MediaType | None:
    """The type a file's extension claims, or None (no extension, or one we don't know)."""
    stem, dot, ext = filename.rpartition(".")
    if not dot or not stem:
        return None
    return _TYPE_BY_EXTENSION.get(ext.lower())


def sniff(head: bytes) -> MediaType | None:
    """The media type of a file whose first bytes are ``head``; None if it is none we know.

    ``head`` should be the first ``HEAD_BYTES`` of the file (or all of a shorter file).
    """
    if head.startswith(b"\xff\xd8\xff"):
        return MediaType.JPEG
    if head.startswith(PNG_SIGNATURE):
        return MediaType.APNG if _png_animated(head) else MediaType.PNG
    if head.startswith((b"GIF87a", b"GIF89a")):
        return MediaType.GIF
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return MediaType.TIFF
    if head.startswith(b"RIFF") and len(head) >= 12:
        return _RIFF_FORMS.get(head[8:12])
    if head.startswith(EBML_MAGIC):
        return _ebml_type(head)
    if head.startswith(b"FLV\x01"):
        return MediaType.FLV
    if head.startswith(ASF_HEADER_GUID):
        return MediaType.WMV
    if head[4:8] == b"ftyp":
        return _iso_media_type(head)
    if _is_mpeg_program_stream(head):
        return MediaType.MPEG
    if _is_transport_stream(head):
        return MediaType.MPEG_TS
    if _is_bmp(head):
        return MediaType.BMP
    if head[4:8] in _QUICKTIME_FIRST_ATOMS:
        # Old QuickTime files start straight with their atoms, without an ftyp box.
        return MediaType.MOV
    return None


def describe_other(head: bytes) -> str | None:
    """Words for a few common files that are not media at all, for a refusal."""
    for magic, words in _OTHER_MAGIC:
        if head.startswith(magic):
            return words
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "an MP3 audio file"
    sample = head[:512]
    if sample and all(32 <= b < 127 or b in b"\t\r\n" for b in sample):
        return "plain text"
    return None


# -- signatures -----------------------------------------------------------------------------

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EBML_MAGIC = b"\x1a\x45\xdf\xa3"
ASF_HEADER_GUID = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")

_RIFF_FORMS = {
    b"AVI ": MediaType.AVI,
    b"WAVE": MediaType.WAV,
    b"WEBP": MediaType.WEBP,
}

_QUICKTIME_FIRST_ATOMS = frozenset({b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})

# ISO base media brands (the ftyp box) that mean a still-image HEIF container.
_HEIF_BRANDS = frozenset(
    {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1"}
)
_AVIF_BRANDS = frozenset({b"avif", b"avis"})

_OTHER_MAGIC = (
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"MZ", "a Windows program"),
    (b"\x7fELF", "a Linux program"),
    (b"OggS", "an Ogg audio or video file"),
    (b"fLaC", "a FLAC audio file"),
    (b"8BPS", "a Photoshop document"),
    (b"gimp xcf", "a GIMP document"),
)


def png_chunks(data: bytes):
    """(type, data offset, length) of each whole chunk header in ``data`` after the signature."""
    offset = len(PNG_SIGNATURE)
    while offset + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, offset)
        yield kind, offset + 8, length
        offset += 12 + length


def _png_animated(head: bytes) -> bool:
    """APNG is a PNG whose ``acTL`` chunk comes before the first ``IDAT``."""
    for kind, _offset, _length in png_chunks(head):
        if kind == b"acTL":
            return True
        if kind in (b"IDAT", b"IEND"):
            return False
    return False  # the head ended first: the full check on the file decides (media.py)


def _iso_media_type(head: bytes) -> MediaType:
    """MP4, MOV, HEIC or AVIF, from the major and compatible brands of the ftyp box."""
    box_size = struct.unpack_from(">I", head)[0]
    box_end = min(len(head), box_size if box_size >= 16 else 16)
    major = head[8:12]
    brands = {major} | {head[i : i + 4] for i in range(16, box_end - 3, 4)}
    if major == b"qt  ":
        return MediaType.MOV
    if brands & _AVIF_BRANDS:
        return MediaType.AVIF
    if major in _HEIF_BRANDS:
        return MediaType.HEIC
    # Every other brand (isom, mp41, mp42, avc1, dash, M4V, 3gp...) is the MP4 family.
    return MediaType.MP4


def read_vint(data: bytes, offset: int, *, keep_marker: bool = False) -> tuple[int, int] | None:
    """An EBML variable-length integer at ``offset``: (value, length), None if incomplete.

    Element ids keep their length marker (``keep_marker``); sizes drop it. A size whose
    bits are all ones means "unknown" and is returned as -1.
    """
    if offset >= len(data) or data[offset] == 0:
        return None
    first = data[offset]
    length = 9 - first.bit_length()
    if offset + length > len(data):
        return None
    value = int.from_bytes(data[offset : offset + length], "big")
    if keep_marker:
        return value, length
    value &= (1 << (7 * length)) - 1
    if value == (1 << (7 * length)) - 1:
        return -1, length
    return value, length


EBML_DOCTYPE_ID = 0x4282


def ebml_header(head: bytes) -> tuple[bytes, int] | None:
    """(DocType, offset just after the EBML header) of a Matroska file, None if unreadable."""
    element = read_vint(head, 0, keep_marker=True)
    size = read_vint(head, element[1], keep_marker=False) if element else None
    if element is None or size is None or size[0] < 0:
        return None
    start = element[1] + size[1]
    end = start + size[0]
    if end > len(head):
        return None
    offset, doctype = start, b""
    while offset < end:
        child = read_vint(head, offset, keep_marker=True)
        child_size = read_vint(head, offset + child[1]) if child else None
        if child is None or child_size is None or child_size[0] < 0:
            return None
        data_start = offset + child[1] + child_size[1]
        if child[0] == EBML_DOCTYPE_ID:
            doctype = head[data_start : data_start + child_size[0]].rstrip(b"\x00")
        offset = data_start + child_size[0]
    return doctype, end


def _ebml_type(head: bytes) -> MediaType | None:
    header = ebml_header(head)
    if header is None:
        return None
    doctype = header[0]
    if doctype == b"webm":
        return MediaType.WEBM
    if doctype == b"matroska":
        return MediaType.MATROSKA
    return None


def _is_mpeg_program_stream(head: bytes) -> bool:
    if len(head) < 12:
        return False
    if head.startswith(b"\x00\x00\x01\xba"):
        # The pack header's marker bits: '01' for MPEG-2, '0010' for MPEG-1.
        return head[4] & 0xC4 == 0x44 or head[4] & 0xF1 == 0x21
    if head.startswith(b"\x00\x00\x01\xb3"):
        # An MPEG-1/2 video elementary stream: its sequence header gives a real size.
        width = head[4] << 4 | head[5] >> 4
        height = (head[5] & 0x0F) << 8 | head[6]
        return width > 0 and height > 0
    return False


_TS_PACKET = 188


def _is_transport_stream(head: bytes) -> bool:
    """Sync bytes every 188 bytes (or 192, for Blu-ray's timestamped M2TS)."""
    for start, stride in ((0, _TS_PACKET), (4, _TS_PACKET + 4)):
        offsets = range(start, min(len(head), start + 3 * stride), stride)
        if len(offsets) == 3 and all(head[i] == 0x47 for i in offsets):
            return True
    return False


_BMP_INFO_SIZES = frozenset({12, 40, 52, 56, 64, 108, 124})


def _is_bmp(head: bytes) -> bool:
    # "BM" alone is too weak: also ask for zero reserved fields and a known header size.
    if len(head) < 18 or not head.startswith(b"BM"):
        return False
    reserved = head[6:10]
    info_size = struct.unpack_from("<I", head, 14)[0]
    return reserved == b"\x00\x00\x00\x00" and info_size in _BMP_INFO_SIZES
