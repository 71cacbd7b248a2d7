"""Bring a Discord attachment onto disk, judge it, and stream it back out to Imgur.

The pipeline, one attachment at a time::

    Discord CDN ──► download_to_temp() ──► temp file ──► inspect_temp() ──► (ledger charge)
                    capped while streaming,           media.inspect in       ──► Imgur upload
                    head sniffed at 16 KiB            an executor                from open_chunks()

Why a temporary file rather than piping the CDN response straight into the Imgur
request: a file must be known whole and sound (not truncated, not corrupt, not a
decompression bomb) BEFORE an upload credit is spent, and that cannot be known until the
last byte has arrived. Holding the bytes in memory instead would cost the whole file per
upload (20 concurrent 9 MB uploads would add 180 MB before any check); on disk each
upload holds a few 64 KiB chunks and the 16 KiB head, and the inspection reads the file
in pieces too (PNG and progressive JPEG data are checked without being decoded whole,
baseline JPEG is decoded at 1/8 scale; only GIF and TIFF first frames are decoded
whole). Disk writes and reads run in the default executor, off the event loop.

Inspections should run on a small executor of their own, shared by the whole bot, e.g.
``ThreadPoolExecutor(max_workers=2, thread_name_prefix="imgurbot-inspect")``: it bounds
how many first frames are decoded at once, and it keeps the decoding to a few threads,
so the C allocator keeps a few arenas rather than one per worker of the default executor
(measured with 20 concurrent 8.3 MB TIFF uploads: 30 MiB of peak RSS added with two
threads of its own, 80 to 120 MiB on the default executor).

Refusals are found as early as possible: a declared size (Discord's attachment ``size``
or the response's ``Content-Length``) over the limit refuses before a byte is read; a
wrong type or an over-limit declared size refuses as soon as the first 16 KiB arrive;
the cap stops the download the moment it is passed, whatever was declared.

A ``TempMedia`` owns its file: ``async with`` it, and the file is deleted on leaving,
on any error and on cancellation (and, as a last resort, when it is garbage collected).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import os
import tempfile
import threading
import weakref
from collections.abc import AsyncIterable, AsyncIterator, Callable
from concurrent.futures import Executor
from typing import Any, Self

import aiohttp

from bot.uploads import media
from bot.uploads.formats import HEAD_BYTES, MediaType, sniff

CHUNK_SIZE = 64 * 1024
TEMP_PREFIX = "imgurbot-upload-"

# Called with (bytes sent so far, total bytes) after each chunk is taken by the consumer.
Progress = Callable[[int, int], object]


class _TempFile:
    """The file descriptor and path behind a ``TempMedia``, shared with executor threads.

    Every read and write holds the lock, and so does closing: a read still running in a
    thread after its awaiting task was cancelled finishes before the descriptor is
    closed, so it can never touch a descriptor number the process has since reused.
    """

    def __init__(self, fd: int, path: str) -> None:
        self.fd = fd
        self.path = path
        self.closed = False
        self._lock = threading.Lock()

    def write(self, data: bytes, digest: Any) -> None:
        with self._lock:
            self._check_open()
            view = memoryview(data)
            while view:
                view = view[os.write(self.fd, view) :]
            digest.update(data)

    def read_at(self, offset: int, length: int) -> bytes:
        with self._lock:
            self._check_open()
            return os.pread(self.fd, length, offset)

    def close(self) -> None:
        # Unlink first: the name is gone at once, even if a thread still holds the lock.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        # At most one chunk's read or write can hold the lock, so this wait is short.
        with self._lock:
            if not self.closed:
                self.closed = True
                os.close(self.fd)

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError(f"{self.path} is already closed")


class TempMedia:
    """A downloaded attachment in a temporary file, deleted when this is closed.

    ``size``, ``sha256`` (hex) and ``head`` (the first 16 KiB) are known once
    ``download_to_temp`` returns; ``media_type`` is what the head sniffed as; ``info`` is
    set by ``inspect_temp``.
    """

    def __init__(self, filename: str, directory: str | os.PathLike[str] | None) -> None:
        fd, path = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".part", dir=directory)
        self._file = _TempFile(fd, path)
        # If an owner forgets to close it, the file still goes with the object.
        self._finalizer = weakref.finalize(self, self._file.close)
        self.filename = filename
        self.size = 0
        self.sha256 = ""
        self.head = b""
        self.media_type: MediaType | None = None
        self.info: media.MediaInfo | None = None

    @property
    def path(self) -> str:
        return self._file.path

    @property
    def closed(self) -> bool:
        return self._file.closed

    def close(self) -> None:
        """Delete the file. Safe to call more than once."""
        self._finalizer()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<TempMedia {self.filename!r} {self.size} bytes {self.media_type}>"

    async def open_chunks(
        self, chunk_size: int = CHUNK_SIZE, on_progress: Progress | None = None
    ) -> AsyncIterator[bytes]:
        """The file's bytes in chunks of at most ``chunk_size``, read in the executor.

        Suitable as an aiohttp request body (or a multipart part). Each call starts again
        from the beginning, so a retried upload reads the file afresh. ``on_progress`` is
        called with (bytes sent, total) when the consumer asks for the next chunk, i.e.
        once the previous one has been written, and last with (total, total).
        """
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        loop = asyncio.get_running_loop()
        sent, total = 0, self.size
        while sent < total:
            length = min(chunk_size, total - sent)
            chunk = await loop.run_in_executor(None, self._file.read_at, sent, length)
            if not chunk:
                raise OSError(f"{self.path} ended at {sent} of {total} bytes")
            yield chunk
            sent += len(chunk)
            if on_progress is not None:
                on_progress(sent, total)


def _chunks_from(
    source: AsyncIterable[bytes] | aiohttp.ClientResponse,
) -> tuple[AsyncIterator[bytes], int | None]:
    if isinstance(source, aiohttp.ClientResponse):
        # An expired CDN link answers 403/404: that is not a file to judge.
        source.raise_for_status()
        return aiter(source.content.iter_chunked(CHUNK_SIZE)), source.content_length
    # The iterator itself (not the iterable) is what must be closed on an early stop.
    return aiter(source), None


async def _stop(source: object, chunks: object) -> None:
    """Stop a download that is being abandoned, so no more bytes flow."""
    if isinstance(source, aiohttp.ClientResponse):
        source.close()
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            await aclose()


async def download_to_temp(
    source: AsyncIterable[bytes] | aiohttp.ClientResponse,
    *,
    filename: str,
    declared_size: int | None,
    limit: int,
    dir: str | os.PathLike[str] | None = None,  # tempfile's own name for it
) -> TempMedia:
    """Stream ``source`` into a new temporary file in ``dir``; return it, or refuse.

    ``source`` is an aiohttp response from Discord's CDN (its status is checked and its
    ``Content-Length`` used) or any async iterable of byte chunks. ``declared_size`` is
    the attachment's size as Discord reported it; ``limit`` is the interaction's
    attachment size limit. Imgur's limit for the type joins it once the head is sniffed.

    Raises ``media.MediaRejected`` for an empty file, a type Imgur does not take, or a
    size over either limit; the temporary file is gone by then, as it is after any
    other error or a cancellation.
    """
    chunks, content_length = _chunks_from(source)
    declared = [size for size in (declared_size, content_length) if size is not None]
    temp = TempMedia(filename, dir)
    digest = hashlib.sha256()
    loop = asyncio.get_running_loop()
    try:
        for size in declared:
            media.check_size(None, size, filename, discord_limit=limit)
        head = bytearray()
        media_type: MediaType | None = None
        cap, received = limit, 0
        async for chunk in chunks:
            received += len(chunk)
            if media_type is None:
                head += chunk[: HEAD_BYTES - len(head)]
                if len(head) >= HEAD_BYTES or received > cap:
                    media_type, cap = _judge_head(bytes(head), filename, declared, limit)
            if received > cap:
                media.check_size(media_type, received, filename, discord_limit=limit, exact=False)
            if chunk:
                await loop.run_in_executor(None, temp._file.write, chunk, digest)
        if received == 0:
            raise media.refuse_empty(filename)
        if media_type is None:
            media_type, cap = _judge_head(bytes(head), filename, declared, limit)
        media.check_size(media_type, received, filename, discord_limit=limit)
    except BaseException:
        temp.close()
        await _stop(source, chunks)
        raise
    temp.size, temp.sha256, temp.head = received, digest.hexdigest(), bytes(head)
    temp.media_type = media_type
    return temp


def _judge_head(
    head: bytes, filename: str, declared: list[int], limit: int
) -> tuple[MediaType, int]:
    """The type the head shows, refused now if Imgur will not take it; and the new cap."""
    media_type = media.check_type(sniff(head), filename, head)
    for size in declared:
        media.check_size(media_type, size, filename, discord_limit=limit)
    return media_type, min(limit, media_type.imgur_limit or 0)


async def inspect_temp(
    temp: TempMedia,
    *,
    discord_limit: int,
    executor: Executor | None = None,
    **limits: int,
) -> media.MediaInfo:
    """Run ``media.inspect`` on the downloaded file in ``executor``; store and return it.

    Pass the bot's own small inspection executor (see the module's docstring); None
    means the event loop's default one. ``limits`` are passed on (``max_pixels``...).
    """
    call = functools.partial(
        media.inspect, temp.path, temp.filename, discord_limit=discord_limit, **limits
    )
    info = await asyncio.get_running_loop().run_in_executor(executor, call)
    temp.info = info
    return info


async def receive(
    source: AsyncIterable[bytes] | aiohttp.ClientResponse,
    *,
    filename: str,
    declared_size: int | None,
    limit: int,
    dir: str | os.PathLike[str] | None = None,
    executor: Executor | None = None,
) -> TempMedia:
    """Download and inspect in one call; the returned ``TempMedia`` has ``info`` set.

    Use it as ``async with await receive(...) as upload:``. On a refusal, an error or a
    cancellation the file is already gone.
    """
    temp = await download_to_temp(
        source, filename=filename, declared_size=declared_size, limit=limit, dir=dir
    )
    try:
        await inspect_temp(temp, discord_limit=limit, executor=executor)
    except BaseException:
        temp.close()
        raise
    return temp
