"""Check that a PNG's image data decompresses whole, without holding the picture in memory.

Decoding a PNG with Pillow holds every pixel at once (a 4K screenshot: 33 MB), which a
bot that validates many uploads at a time cannot afford. Yet everything that can make a
PNG undecodable is in two places: the chunk CRCs (Pillow's ``verify()`` checks them all)
and the zlib stream of the IDAT chunks. This module inflates that stream in small pieces
and checks what a decoder would: the data ends neither early nor never, and each
scanline starts with a valid filter type. Undoing the filters is arithmetic that cannot
fail, so a PNG that passes both checks decodes.

For an APNG this checks the default image (the IDAT chunks), as Pillow's ``load()`` would
for the first frame.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from typing import BinaryIO

from bot.uploads.containers import BROKEN, CUT_SHORT, Damaged
from bot.uploads.formats import PNG_SIGNATURE

UNDECODABLE = "it cannot be decoded"
# Read and inflate at most this much at a time: the memory this check needs.
_PIECE = 64 * 1024
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # by colour type
_MAX_FILTER_TYPE = 4
# Adam7 passes: (first column, first row, column step, row step).
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2))
_ADAM7 += ((0, 1, 1, 2),)


def check_image_data(fp: BinaryIO) -> None:
    """Raise ``Damaged`` unless the IDAT data of the PNG in ``fp`` inflates whole."""
    fp.seek(len(PNG_SIGNATURE))
    header = fp.read(8 + 13)
    if len(header) < 21 or header[4:8] != b"IHDR":
        raise Damaged(BROKEN)
    width, height, depth, colour, _method, _filter, interlace = struct.unpack_from(
        ">IIBBBBB", header, 8
    )
    if colour not in _CHANNELS:
        raise Damaged(BROKEN)
    passes = _passes(width, height, depth * _CHANNELS[colour], interlaced=interlace == 1)
    _inflate_and_check_rows(_idat_pieces(fp), passes)


def _passes(
    width: int, height: int, bits_per_pixel: int, *, interlaced: bool
) -> list[tuple[int, int, int]]:
    """(offset, row stride, rows) of each pass in the inflated data: one unless Adam7.

    Each row is a filter-type byte followed by the row's pixel bytes.
    """
    passes, offset = [], 0
    for x0, y0, dx, dy in _ADAM7 if interlaced else ((0, 0, 1, 1),):
        columns = (width - x0 + dx - 1) // dx if width > x0 else 0
        rows = (height - y0 + dy - 1) // dy if height > y0 else 0
        if columns and rows:
            stride = 1 + (columns * bits_per_pixel + 7) // 8
            passes.append((offset, stride, rows))
            offset += stride * rows
    return passes


def _idat_pieces(fp: BinaryIO) -> Iterator[bytes]:
    """The data of the consecutive IDAT chunks, in pieces of at most ``_PIECE`` bytes."""
    offset = len(PNG_SIGNATURE)
    seen_idat = False
    while True:
        fp.seek(offset)
        header = fp.read(8)
        if len(header) < 8:
            raise Damaged(CUT_SHORT)
        length, kind = struct.unpack(">I4s", header)
        if kind == b"IDAT":
            seen_idat = True
            left = length
            while left:
                piece = fp.read(min(left, _PIECE))
                if not piece:
                    raise Damaged(CUT_SHORT)
                left -= len(piece)
                yield piece
        elif seen_idat or kind == b"IEND":
            return  # the image data has ended (IDAT chunks must be consecutive)
        offset += 12 + length


def _check_filter_bytes(output: bytes, start: int, passes: list[tuple[int, int, int]]) -> None:
    """Check the filter-type bytes that fall in ``output``, which begins at ``start``."""
    end = start + len(output)
    for offset, stride, rows in passes:
        last = offset + stride * (rows - 1)  # where the last row's filter byte is
        if end <= offset or start > last:
            continue
        first = offset + max(0, -(-(start - offset) // stride)) * stride
        filters = output[first - start : min(end, last + 1) - start : stride]
        if filters and max(filters) > _MAX_FILTER_TYPE:
            raise Damaged(f"{UNDECODABLE} (a row has an unknown filter type)")


def _inflate_and_check_rows(pieces: Iterator[bytes], passes: list[tuple[int, int, int]]) -> None:
    expected = sum(stride * rows for _offset, stride, rows in passes)
    inflater = zlib.decompressobj()
    inflated = 0
    try:
        for piece in pieces:
            data = piece
            while data and inflated < expected:
                output = inflater.decompress(data, _PIECE)
                _check_filter_bytes(output, inflated, passes)
                inflated += len(output)
                data = inflater.unconsumed_tail
            if inflated >= expected or inflater.eof:
                break
        if inflated < expected:
            output = inflater.flush()
            _check_filter_bytes(output, inflated, passes)
            inflated += len(output)
    except zlib.error as error:
        raise Damaged(f"{UNDECODABLE} (its compressed pixels are damaged)") from error
    # More data than the rows need is ignored, as decoders do; less is a damaged file.
    if inflated < expected:
        raise Damaged(CUT_SHORT if not inflater.eof else f"{UNDECODABLE} (rows are missing)")
