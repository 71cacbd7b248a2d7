"""Gateway transport compression: what the ``compress`` query parameter asks for.

Discord's gateway documentation (Events → Gateway → "Transport Compression") offers two
values, and without one it sends plain JSON text frames:

- ``zlib-stream``: one zlib context for the whole connection; every gateway message is
  compressed through it and flushed with ``Z_SYNC_FLUSH``, so each message ends with the
  four bytes ``00 00 ff ff``. Clients buffer binary frames until they see that suffix.
- ``zstd-stream``: one zstd frame for the whole connection that never ends; every websocket
  message carries one whole gateway message as further blocks of that frame.

zstd: no zstd compressor ships with Python before 3.14, and the fake must not depend on one.
A zstd frame may legally consist of *raw* (stored) blocks (RFC 8878, §3.1.1.2, Block_Type 0),
which any zstd decoder reads; so the fake always speaks a valid zstd stream, just without
making it smaller (the fake is on loopback: the bytes on the wire do not matter, the framing
does). Any other ``compress`` value is refused when the socket opens, with a message that
names the accepted ones.
"""

from __future__ import annotations

import struct
import zlib

ZLIB_SUFFIX = b"\x00\x00\xff\xff"
ZSTD_MAGIC = struct.pack("<I", 0xFD2FB528)
# Frame header descriptor 0: no content size (a stream), not single-segment (so a window
# descriptor follows), no checksum, no dictionary.
_ZSTD_DESCRIPTOR = b"\x00"
_ZSTD_WINDOW_LOG = 17  # a 128 KiB window: the largest block size zstd allows
_ZSTD_WINDOW_DESCRIPTOR = bytes([(_ZSTD_WINDOW_LOG - 10) << 3])
ZSTD_MAX_BLOCK = 1 << _ZSTD_WINDOW_LOG
_RAW_BLOCK = 0


class Plain:
    """No transport compression: every message is one TEXT frame of JSON."""

    name = None
    binary = False

    def encode(self, text: str) -> str:
        return text


class ZlibStream:
    """``compress=zlib-stream``: one deflate context per connection, sync-flushed per message."""

    name = "zlib-stream"
    binary = True

    def __init__(self) -> None:
        self._context = zlib.compressobj()

    def encode(self, text: str) -> bytes:
        data = self._context.compress(text.encode())
        return data + self._context.flush(zlib.Z_SYNC_FLUSH)


class ZstdStream:
    """``compress=zstd-stream``: one endless zstd frame per connection, made of raw blocks."""

    name = "zstd-stream"
    binary = True

    def __init__(self) -> None:
        self._started = False

    def encode(self, text: str) -> bytes:
        data = text.encode()
        parts: list[bytes] = []
        if not self._started:
            parts += [ZSTD_MAGIC, _ZSTD_DESCRIPTOR, _ZSTD_WINDOW_DESCRIPTOR]
            self._started = True
        view = memoryview(data)
        for start in range(0, max(len(data), 1), ZSTD_MAX_BLOCK):
            block = view[start : start + ZSTD_MAX_BLOCK]
            # Block header: 3 bytes little-endian; bit 0 last-block (never: the frame goes on
            # for the life of the connection), bits 1-2 block type, bits 3-23 block size.
            header = (len(block) << 3) | (_RAW_BLOCK << 1)
            parts += [header.to_bytes(3, "little"), bytes(block)]
        return b"".join(parts)


TRANSPORTS = {None: Plain, "": Plain, ZlibStream.name: ZlibStream, ZstdStream.name: ZstdStream}


def transport_for(compress: str | None) -> Plain | ZlibStream | ZstdStream:
    """The encoder for a connection's ``compress`` query value; ValueError if unknown."""
    try:
        return TRANSPORTS[compress]()
    except KeyError:
        accepted = ", ".join(repr(k) for k in TRANSPORTS if k)
        raise ValueError(
            f"unknown compress={compress!r}: the gateway accepts {accepted} or no compress"
        ) from None
