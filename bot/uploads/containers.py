"""Cheap structural checks of video containers: is the file whole, and shaped like its type?

Nothing is decoded. Each check walks the container's own table of parts (MP4 boxes,
Matroska elements, RIFF chunks, FLV tags, ASF objects), reading a few bytes at each and
seeking over the rest, so a 200 MB video costs a few thousand small reads. That is enough
to refuse a download cut short, a recording that never finished (no MP4 ``moov`` index),
a file that is only a header, or an audio-only file, before an Imgur credit is spent.
Imgur decodes the video itself.

``check_container(fp, size, media_type)`` raises ``Damaged`` with words for a member.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from typing import BinaryIO

from bot.uploads.formats import HEAD_BYTES, MediaType, ebml_header, read_vint

# A legitimate file has far fewer parts; a walk past this is refused rather than spun on.
MAX_PARTS = 1_000_000

CUT_SHORT = "it stops part-way through (the file is cut short)"
BROKEN = "its internal structure is damaged"


class Damaged(Exception):
    """A container that is not whole. ``str()`` says what is wrong, for a member."""


class NoVideo(Damaged):
    """A whole container with no video in it (an audio-only MP4, WebM or FLV)."""


class _File:
    """Positioned reads over an open binary file of known size."""

    def __init__(self, fp: BinaryIO, size: int) -> None:
        self.fp = fp
        self.size = size

    def read_at(self, offset: int, length: int) -> bytes:
        self.fp.seek(offset)
        return self.fp.read(length)


def check_container(fp: BinaryIO, size: int, media_type: MediaType) -> None:
    """Raise ``Damaged`` unless the video file in ``fp`` is structurally whole."""
    check = _CHECKS.get(media_type)
    if check is None:
        raise ValueError(f"no container check for {media_type.name}")
    check(_File(fp, size))


def _guard(seen: int) -> None:
    if seen > MAX_PARTS:
        raise Damaged(f"{BROKEN} (it claims more than {MAX_PARTS:,} parts)")


# -- MP4 and QuickTime (ISO base media boxes) ----------------------------------------------


def _boxes(f: _File, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, box end) of each box between ``start`` and ``end``."""
    offset, seen = start, 0
    while end - offset >= 8:  # fewer bytes than a box header: trailing padding, ignored
        seen += 1
        _guard(seen)
        header = f.read_at(offset, 16)
        size, kind = struct.unpack_from(">I4s", header)
        header_len = 8
        if size == 1:  # a 64-bit size follows the type
            if len(header) < 16:
                raise Damaged(CUT_SHORT)
            size, header_len = struct.unpack_from(">Q", header, 8)[0], 16
        elif size == 0:  # "to the end of the file"
            size = end - offset
        if size < header_len:
            raise Damaged(BROKEN)
        if offset + size > end:
            raise Damaged(CUT_SHORT)
        yield kind, offset + header_len, offset + size
        offset += size


def _find_box(f: _File, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    for found, payload, box_end in _boxes(f, start, end):
        if found == kind:
            return payload, box_end
    return None


def _check_iso_media(f: _File) -> None:
    moov = None
    has_media_data = False
    for kind, payload, end in _boxes(f, 0, f.size):
        if kind == b"moov" and moov is None:
            moov = (payload, end)
        has_media_data = has_media_data or kind == b"mdat"
    if moov is None:
        raise Damaged(
            "it has no 'moov' index, which every MP4 and MOV file needs "
            "(the recording may not have finished)"
        )
    if _find_box(f, *moov, b"mvhd") is None:
        raise Damaged(BROKEN)
    handlers = {_track_handler(f, p, e) for kind, p, e in _boxes(f, *moov) if kind == b"trak"}
    if b"vide" not in handlers:
        raise NoVideo("it has no video track")
    if not has_media_data:
        raise Damaged("it has an index but no video data")


def _track_handler(f: _File, start: int, end: int) -> bytes | None:
    """The handler type of a ``trak`` box: ``vide``, ``soun``..., or None if it has none."""
    mdia = _find_box(f, start, end, b"mdia")
    hdlr = _find_box(f, *mdia, b"hdlr") if mdia else None
    if hdlr is None or hdlr[1] - hdlr[0] < 12:
        return None
    # Version and flags (4 bytes), then QuickTime's component type (4), then the handler.
    return f.read_at(hdlr[0] + 8, 4)


# -- WebM and Matroska (EBML elements) -----------------------------------------------------

SEGMENT_ID = 0x18538067
TRACKS_ID = 0x1654AE6B
CLUSTER_ID = 0x1F43B675
TRACK_ENTRY_ID = 0xAE
TRACK_TYPE_ID = 0x83
VIDEO_TRACK_TYPE = 1
_TOP_LEVEL_FILLERS = frozenset({0xEC, 0xBF})  # Void and CRC-32 elements
_MAX_TRACKS_BYTES = 1024 * 1024


def _element_at(f: _File, offset: int) -> tuple[int, int, int]:
    """(id, size or -1 if unknown, data start) of the element header at ``offset``."""
    header = f.read_at(offset, 12)
    element = read_vint(header, 0, keep_marker=True)
    size = read_vint(header, element[1]) if element else None
    if element is None or size is None:
        raise Damaged(CUT_SHORT if len(header) < 12 else BROKEN)
    return element[0], size[0], offset + element[1] + size[1]


def _elements(data: bytes, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """(id, data start, data end) of each element in a buffer that holds them whole."""
    offset = start
    while offset < end:
        element = read_vint(data, offset, keep_marker=True)
        size = read_vint(data, offset + element[1]) if element else None
        if element is None or size is None or size[0] < 0:
            raise Damaged(BROKEN)
        data_start = offset + element[1] + size[1]
        offset = data_start + size[0]
        if offset > end:
            raise Damaged(BROKEN)
        yield element[0], data_start, offset


def _check_matroska(f: _File) -> None:
    header = ebml_header(f.read_at(0, HEAD_BYTES))
    if header is None:
        raise Damaged(BROKEN)
    offset = header[1]
    element, size, data = _element_at(f, offset)
    while element in _TOP_LEVEL_FILLERS and size >= 0:
        offset = data + size
        element, size, data = _element_at(f, offset)
    if element != SEGMENT_ID:
        raise Damaged(BROKEN)
    if size >= 0 and data + size > f.size:
        raise Damaged(CUT_SHORT)
    segment_end = data + size if size >= 0 else f.size
    has_video_track = has_cluster = False
    offset, seen = data, 0
    while segment_end - offset >= 2:
        seen += 1
        _guard(seen)
        element, size, data = _element_at(f, offset)
        has_cluster = has_cluster or element == CLUSTER_ID
        if size < 0:
            break  # a live recording's cluster of unknown size: nothing further to skip to
        if data + size > segment_end:
            raise Damaged(CUT_SHORT)
        if element == TRACKS_ID:
            has_video_track = has_video_track or _has_video_entry(f, data, size)
        offset = data + size
    if not has_video_track:
        raise NoVideo("it has no video track")
    if not has_cluster:
        raise Damaged("it has a track list but no video data")


def _has_video_entry(f: _File, start: int, size: int) -> bool:
    if size > _MAX_TRACKS_BYTES:
        raise Damaged(BROKEN)
    tracks = f.read_at(start, size)
    for element, entry_start, entry_end in _elements(tracks, 0, len(tracks)):
        if element != TRACK_ENTRY_ID:
            continue
        for child, value_start, value_end in _elements(tracks, entry_start, entry_end):
            if child != TRACK_TYPE_ID:
                continue
            if int.from_bytes(tracks[value_start:value_end], "big") == VIDEO_TRACK_TYPE:
                return True
    return False


# -- AVI (RIFF chunks) -------------------------------------------------------------------


def _check_avi(f: _File) -> None:
    riff_end = 8 + struct.unpack_from("<I", f.read_at(4, 4))[0]
    if riff_end > f.size:
        raise Damaged(CUT_SHORT)
    lists: set[bytes] = set()
    offset, seen = 12, 0
    while riff_end - offset >= 8:
        seen += 1
        _guard(seen)
        header = f.read_at(offset, 12)
        kind, size = struct.unpack_from("<4sI", header)
        if offset + 8 + size > riff_end:
            raise Damaged(CUT_SHORT)
        if kind == b"LIST":
            lists.add(header[8:12])
        offset += 8 + size + (size & 1)  # chunks are padded to an even length
    if b"hdrl" not in lists:
        raise Damaged(BROKEN)
    if b"movi" not in lists:
        raise Damaged("it has a header but no video data")


# -- FLV (tags) ----------------------------------------------------------------------------

_FLV_AUDIO, _FLV_VIDEO, _FLV_SCRIPT = 8, 9, 18


def _check_flv(f: _File) -> None:
    header = f.read_at(0, 9)
    data_offset = struct.unpack_from(">I", header, 5)[0] if len(header) == 9 else 0
    if data_offset < 9:
        raise Damaged(BROKEN)
    offset = data_offset + 4  # each tag is followed by its size; the first by a zero
    has_video, seen = False, 0
    while offset < f.size:
        seen += 1
        _guard(seen)
        tag = f.read_at(offset, 11)
        if len(tag) < 11:
            raise Damaged(CUT_SHORT)
        kind = tag[0] & 0x1F
        if kind not in (_FLV_AUDIO, _FLV_VIDEO, _FLV_SCRIPT):
            raise Damaged(BROKEN)
        data_size = int.from_bytes(tag[1:4], "big")
        if offset + 11 + data_size > f.size:
            raise Damaged(CUT_SHORT)
        has_video = has_video or kind == _FLV_VIDEO
        offset += 11 + data_size + 4
    if not has_video:
        raise NoVideo("it has no video track")


# -- WMV (ASF objects) ---------------------------------------------------------------------

_ASF_DATA_GUID = bytes.fromhex("3626b2758e66cf11a6d900aa0062ce6c")
_ASF_HEADER_SIZE = 30
_ASF_DATA_HEADER_SIZE = 50


def _check_asf(f: _File) -> None:
    header = f.read_at(0, _ASF_HEADER_SIZE)
    if len(header) < _ASF_HEADER_SIZE:
        raise Damaged(CUT_SHORT)
    header_end = struct.unpack_from("<Q", header, 16)[0]
    if header_end < _ASF_HEADER_SIZE:
        raise Damaged(BROKEN)
    data = f.read_at(header_end, _ASF_DATA_HEADER_SIZE)
    if header_end > f.size or len(data) < _ASF_DATA_HEADER_SIZE:
        raise Damaged(CUT_SHORT)
    if not data.startswith(_ASF_DATA_GUID):
        raise Damaged(BROKEN)
    data_size = struct.unpack_from("<Q", data, 16)[0]
    # A broadcast stream may leave the data size at zero ("unknown").
    if data_size and header_end + data_size > f.size:
        raise Damaged(CUT_SHORT)


# -- MPEG program streams ------------------------------------------------------------------


def _check_mpeg(f: _File) -> None:
    head = f.read_at(0, 64)
    if head.startswith(b"\x00\x00\x01\xb3"):
        return  # an elementary video stream: sniff() already read its sequence header
    mpeg2 = head[4] & 0xC0 == 0x40
    pack_length = 14 + (head[13] & 0x07) if mpeg2 else 12
    # After the pack header comes the next start code (a system header or a packet).
    if head[pack_length : pack_length + 3] != b"\x00\x00\x01":
        raise Damaged(CUT_SHORT if len(head) < pack_length + 3 else BROKEN)


_CHECKS: dict[MediaType, Callable[[_File], None]] = {
    MediaType.MP4: _check_iso_media,
    MediaType.MOV: _check_iso_media,
    MediaType.WEBM: _check_matroska,
    MediaType.MATROSKA: _check_matroska,
    MediaType.AVI: _check_avi,
    MediaType.FLV: _check_flv,
    MediaType.WMV: _check_asf,
    MediaType.MPEG: _check_mpeg,
}
