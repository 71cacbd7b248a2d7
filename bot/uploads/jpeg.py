"""Check a progressive JPEG's structure without decoding it.

A baseline JPEG is decoded at 1/8 scale (``media.py``), which reads every byte of it
yet holds 64 times fewer pixels. A progressive JPEG cannot be decoded that way: its
scans refine every block in turn, so the decoder keeps all the DCT coefficients in
memory, 2 bytes per sample whatever the output scale (a 9-megapixel photo: 27 to 54
MB). So progressive JPEGs get this walk instead, in constant memory: every segment's
length fits the file, a frame header (SOF) comes before the first scan (SOS), each
scan's entropy-coded data ends at a marker, and the file reaches its EOI marker. That
is what a cut-short or mangled file breaks; libjpeg itself shrugs off damage inside the
entropy-coded data with a warning, so decoding would catch little more.
"""

from __future__ import annotations

from typing import BinaryIO

from bot.uploads.containers import BROKEN, CUT_SHORT, Damaged

_PIECE = 64 * 1024
_SOI, _EOI, _SOS, _TEM = 0xD8, 0xD9, 0xDA, 0x01
_RESTARTS = range(0xD0, 0xD8)
# Start-of-frame markers: C0-CF, except DHT (C4), JPG (C8) and DAC (CC).
_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


class _Reader:
    """Sequential reads with a little look-ahead over a file of known size."""

    def __init__(self, fp: BinaryIO, size: int) -> None:
        self.fp = fp
        self.size = size

    def byte_at(self, offset: int) -> int:
        self.fp.seek(offset)
        data = self.fp.read(1)
        if not data:
            raise Damaged(CUT_SHORT)
        return data[0]

    def length_at(self, offset: int) -> int:
        self.fp.seek(offset)
        data = self.fp.read(2)
        if len(data) < 2:
            raise Damaged(CUT_SHORT)
        return int.from_bytes(data, "big")

    def marker_after_entropy_data(self, offset: int) -> int:
        """The offset of the 0xFF that starts the next marker after entropy-coded data.

        In entropy-coded data 0xFF is followed by 0x00 (a stuffed byte) or by a restart
        marker; anything else after 0xFF is a real marker.
        """
        while offset < self.size:
            self.fp.seek(offset)
            piece = self.fp.read(_PIECE + 1)  # one extra byte: what follows a final 0xFF
            if not piece:
                break
            found = piece.find(b"\xff")
            while 0 <= found < len(piece) - 1:
                following = piece[found + 1]
                if following != 0x00 and following not in _RESTARTS:
                    return offset + found
                found = piece.find(b"\xff", found + 2)
            offset += min(len(piece), _PIECE)
        raise Damaged(CUT_SHORT)


def check_structure(fp: BinaryIO, size: int) -> None:
    """Raise ``Damaged`` unless the JPEG in ``fp`` is whole, segment by segment."""
    read = _Reader(fp, size)
    if read.byte_at(0) != 0xFF or read.byte_at(1) != _SOI:
        raise Damaged(BROKEN)
    offset, frame_seen, scans = 2, False, 0
    while True:
        if read.byte_at(offset) != 0xFF:
            raise Damaged(BROKEN)
        while (marker := read.byte_at(offset + 1)) == 0xFF:  # fill bytes before a marker
            offset += 1
        if marker == _EOI:
            break
        if marker in (_SOI, 0x00) or marker in _RESTARTS:
            raise Damaged(BROKEN)  # none of these can stand between segments
        if marker == _TEM:
            offset += 2
            continue
        length = read.length_at(offset + 2)
        if length < 2:
            raise Damaged(BROKEN)
        end = offset + 2 + length  # past the end of the file: the next read says so
        frame_seen = frame_seen or marker in _FRAMES
        if marker == _SOS:
            if not frame_seen:
                raise Damaged(BROKEN)
            scans += 1
            end = read.marker_after_entropy_data(end)
        offset = end
    if not scans:
        raise Damaged(BROKEN)
