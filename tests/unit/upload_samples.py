"""Small media files built in memory for the upload tests: real structure, tiny payloads.

Pillow writes the pictures. The containers Pillow cannot write (MP4, MOV, WebM, AVI, FLV,
ASF, MPEG) are assembled here from their published layouts, with a few bytes of fake
frame data: enough for the structural checks, which never decode.
"""

from __future__ import annotations

import io
import random
import struct
import zlib

from PIL import Image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# -- pictures ------------------------------------------------------------------------------


def noise(size: tuple[int, int], seed: int = 0) -> Image.Image:
    """Seeded RGB noise: the same bytes every run, and work for every codec."""
    pixels = random.Random(seed).randbytes(size[0] * size[1] * 3)
    return Image.frombytes("RGB", size, pixels)


def picture(fmt: str, size: tuple[int, int] = (64, 48), **save: object) -> bytes:
    """A noisy RGB picture in ``fmt``, written by Pillow with ``save`` options."""
    image = noise(size)
    if fmt == "GIF":
        image = image.convert("P")
    out = io.BytesIO()
    image.save(out, fmt, **save)
    return out.getvalue()


def big_endian_tiff() -> bytes:
    """Pillow writes 16-bit big-endian greyscale as a Motorola-order ("MM") TIFF."""
    image = Image.frombytes("I;16B", (16, 12), bytes(range(256)) + bytes(128))
    out = io.BytesIO()
    image.save(out, "TIFF")
    return out.getvalue()


def animation(fmt: str, frames: int = 3, size: tuple[int, int] = (32, 24)) -> bytes:
    """An animated GIF or APNG, written by Pillow."""
    images = [noise(size, seed) for seed in range(frames)]
    out = io.BytesIO()
    images[0].save(out, fmt, save_all=True, append_images=images[1:], duration=100, loop=0)
    return out.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR claims ``width`` × ``height``: a decompression bomb's header."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + png_chunk(b"IEND", b"")
    )


# Adam7: (first column, first row, column step, row step) of each of the seven passes.
_ADAM7_PASSES = (
    (0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
    (0, 1, 1, 2),
)  # fmt: skip
_SAMPLES_PER_PIXEL = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def png_rows(
    width: int,
    height: int,
    *,
    colour: int = 2,
    depth: int = 8,
    interlaced: bool = False,
    bad_filter_at: int | None = None,
) -> bytes:
    """The uncompressed scanlines of a PNG (filter byte + pixel bytes per row), patterned.

    ``bad_filter_at`` gives that row (counted in stored order) the invalid filter type 5.
    """
    passes = _ADAM7_PASSES if interlaced else ((0, 0, 1, 1),)
    bits = depth * _SAMPLES_PER_PIXEL[colour]
    out = bytearray()
    rows_done = 0
    for x0, y0, dx, dy in passes:
        columns = len(range(x0, width, dx))
        for row in range(y0, height, dy):
            if not columns:
                continue
            length = (columns * bits + 7) // 8
            out.append(5 if rows_done == bad_filter_at else 0)
            rows_done += 1
            out += bytes((row * 7 + i * 13) & 0xFF for i in range(length))
    return bytes(out)


def png_from_rows(
    width: int,
    height: int,
    rows: bytes,
    *,
    colour: int = 2,
    depth: int = 8,
    interlaced: bool = False,
    lose: int = 0,
) -> bytes:
    """A PNG with ``rows`` compressed as its image data.

    ``lose`` cuts the compressed stream short, so that it inflates to at least that many
    bytes fewer than ``rows``. The chunks' CRCs are right either way: only the image data
    can be wrong.
    """
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, int(interlaced))
    palette = png_chunk(b"PLTE", bytes(range(256)) * 3) if colour == 3 else b""
    compressed = zlib.compress(rows)
    if lose:
        keep = len(compressed)
        while len(zlib.decompressobj().decompress(compressed[:keep])) > len(rows) - lose:
            keep -= 1
        compressed = compressed[:keep]
    return (
        PNG_SIGNATURE
        + png_chunk(b"IHDR", header)
        + palette
        + png_chunk(b"IDAT", compressed)
        + png_chunk(b"IEND", b"")
    )


def with_png_chunk_replaced(png: bytes, kind: bytes, data: bytes) -> bytes:
    """``png`` with the data of its first ``kind`` chunk replaced (CRC recomputed)."""
    offset = len(PNG_SIGNATURE)
    while offset < len(png):
        length, found = struct.unpack_from(">I4s", png, offset)
        end = offset + 12 + length
        if found == kind:
            return png[:offset] + png_chunk(kind, data) + png[end:]
        offset = end
    raise ValueError(f"no {kind!r} chunk")


def png_with_big_metadata(png: bytes, metadata_bytes: int) -> bytes:
    """``png`` with a text chunk after IHDR, pushing the later chunks past a short head."""
    ihdr_end = len(PNG_SIGNATURE) + 12 + 13
    text = png_chunk(b"tEXt", b"Comment\x00" + b"x" * metadata_bytes)
    return png[:ihdr_end] + text + png[ihdr_end:]


def gif_frame_bomb(
    width: int, height: int, frames: int, frame_size: tuple[int, int] = (1, 1)
) -> bytes:
    """A GIF whose canvas is ``width`` × ``height``, with ``frames`` frames that each
    claim ``frame_size`` but hold one pixel of data."""
    out = bytearray(b"GIF89a")
    out += struct.pack("<HHBBB", width, height, 0x80, 0, 0)  # 2-colour global table
    out += b"\x00\x00\x00\xff\xff\xff"
    for _ in range(frames):
        out += b"\x2c" + struct.pack("<HHHHB", 0, 0, *frame_size, 0)
        # LZW, minimum code size 2: clear (4), pixel 0, end (5) as 3-bit codes.
        out += b"\x02\x02\x44\x01\x00"
    out += b"\x3b"
    return bytes(out)


# -- ISO base media: MP4, MOV, HEIC, AVIF ---------------------------------------------------


def box(kind: bytes, payload: bytes = b"") -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def ftyp(major: bytes, *compatible: bytes) -> bytes:
    return box(b"ftyp", major + b"\x00\x00\x02\x00" + b"".join(compatible))


def moov(handler: bytes = b"vide") -> bytes:
    hdlr = box(b"hdlr", b"\x00" * 8 + handler + b"\x00" * 12 + b"\x00")
    trak = box(
        b"trak", box(b"tkhd", b"\x00" * 84) + box(b"mdia", box(b"mdhd", b"\x00" * 24) + hdlr)
    )
    return box(b"moov", box(b"mvhd", b"\x00" * 100) + trak)


def mp4(*, major: bytes = b"isom", handler: bytes = b"vide", frame_bytes: int = 256) -> bytes:
    """ftyp, moov (one track with ``handler``), mdat."""
    return ftyp(major, b"isom", b"mp41") + moov(handler) + box(b"mdat", b"\x42" * frame_bytes)


def mov() -> bytes:
    return mp4(major=b"qt  ")


def quicktime_without_ftyp() -> bytes:
    """Old QuickTime files begin straight with their atoms."""
    return moov() + box(b"mdat", b"\x42" * 64)


def heic() -> bytes:
    return ftyp(b"heic", b"mif1", b"heic") + box(b"meta", b"\x00" * 32)


def avif() -> bytes:
    return ftyp(b"avif", b"mif1", b"avif") + box(b"meta", b"\x00" * 32)


# -- EBML: WebM, Matroska -------------------------------------------------------------------

UNKNOWN_SIZE = b"\x01\xff\xff\xff\xff\xff\xff\xff"


def ebml(element_id: int, payload: bytes, *, size: bytes | None = None) -> bytes:
    id_bytes = element_id.to_bytes((element_id.bit_length() + 7) // 8, "big")
    if size is None:
        size = (0x10000000 | len(payload)).to_bytes(4, "big")  # 4-byte size vint
    return id_bytes + size + payload


def ebml_uint(element_id: int, value: int) -> bytes:
    return ebml(element_id, value.to_bytes(1, "big"))


def matroska(
    doctype: bytes = b"webm",
    *,
    track_type: int = 1,
    tracks: bool = True,
    clusters: int = 2,
    segment_size_known: bool = True,
) -> bytes:
    header = ebml(0x1A45DFA3, ebml_uint(0x4286, 1) + ebml(0x4282, doctype) + ebml_uint(0x4287, 4))
    entry = ebml(0xAE, ebml_uint(0xD7, 1) + ebml_uint(0x83, track_type) + ebml(0x86, b"V_VP9"))
    body = ebml(0x1549A966, ebml_uint(0x2AD7B1, 1))  # Info: TimecodeScale
    if tracks:
        body += ebml(0x1654AE6B, entry)
    for n in range(clusters):
        body += ebml(
            0x1F43B675, ebml_uint(0xE7, n) + ebml(0xA3, b"\x81\x00\x00\x80" + b"\x42" * 64)
        )
    size = None if segment_size_known else UNKNOWN_SIZE
    return header + ebml(0x18538067, body, size=size)


# -- RIFF: AVI, WAV, WebP -------------------------------------------------------------------


def riff(form: bytes, chunks: bytes) -> bytes:
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + form + chunks


def riff_chunk(kind: bytes, data: bytes) -> bytes:
    return kind + struct.pack("<I", len(data)) + data + (b"\x00" if len(data) % 2 else b"")


def riff_list(kind: bytes, chunks: bytes) -> bytes:
    return riff_chunk(b"LIST", kind + chunks)


def avi(*, movi: bool = True) -> bytes:
    chunks = riff_list(b"hdrl", riff_chunk(b"avih", b"\x00" * 56))
    if movi:
        chunks += riff_list(b"movi", riff_chunk(b"00dc", b"\x42" * 99))
    return riff(b"AVI ", chunks)


def wav() -> bytes:
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 16)
    return riff(b"WAVE", riff_chunk(b"fmt ", fmt) + riff_chunk(b"data", b"\x00" * 64))


# -- FLV, ASF, MPEG -------------------------------------------------------------------------


def flv(*, video: bool = True) -> bytes:
    out = b"FLV\x01\x05" + struct.pack(">I", 9) + struct.pack(">I", 0)
    for kind in (18, 9, 8) if video else (18, 8):
        data = b"\x42" * 40
        out += bytes([kind]) + len(data).to_bytes(3, "big") + b"\x00" * 7 + data
        out += struct.pack(">I", 11 + len(data))
    return out


ASF_HEADER = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")
ASF_DATA = bytes.fromhex("3626b2758e66cf11a6d900aa0062ce6c")


def asf(packets: int = 4) -> bytes:
    header = ASF_HEADER + struct.pack("<QIBB", 30, 0, 1, 2)
    body = b"\x42" * (64 * packets)
    data = (
        ASF_DATA
        + struct.pack("<Q", 50 + len(body))
        + b"\x00" * 16
        + struct.pack("<QH", packets, 0x0101)
    )
    return header + data + body


def mpeg_program_stream() -> bytes:
    pack = b"\x00\x00\x01\xba\x44\x00\x04\x00\x04\x01\x01\x89\xc3\xf8"  # MPEG-2, no stuffing
    system = b"\x00\x00\x01\xbb\x00\x06" + b"\x80\x00\x01\x04\xe1\xff"
    pes = b"\x00\x00\x01\xe0\x00\x10" + b"\x42" * 16
    return pack + system + pes + b"\x00\x00\x01\xb9"


def mpeg_video_stream() -> bytes:
    return b"\x00\x00\x01\xb3" + bytes([0x14, 0x00, 0xF0, 0x13, 0xFF, 0xFF, 0xE0]) + b"\x42" * 32


def transport_stream(packets: int = 4) -> bytes:
    return b"".join(b"\x47\x40\x00\x10" + b"\xff" * 184 for _ in range(packets))
