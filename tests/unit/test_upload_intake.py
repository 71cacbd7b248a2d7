"""Streaming an attachment to a temporary file, judging it, and reading it back for Imgur."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aiohttp
import pytest
import upload_samples as samples
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.uploads import intake, media
from bot.uploads.formats import HEAD_BYTES, IMGUR_IMAGE_LIMIT, MIB, MediaType
from bot.uploads.intake import TEMP_PREFIX, download_to_temp, inspect_temp, receive
from bot.uploads.media import MediaRejected, Refusal

CHUNK = 64 * 1024
DISCORD_LIMIT = 25 * MIB


@pytest.fixture(autouse=True)
def _no_upload_temp_files_left():
    before = set(Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*"))
    yield
    assert set(Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*")) <= before


def leftovers(directory: Path) -> list[Path]:
    """Files still in ``directory``. Checked while the refusal (and so its traceback, and
    the TempMedia in it) is still alive, so garbage collection cannot have tidied up."""
    return list(directory.iterdir())


@pytest.fixture
def upload_dir(tmp_path):
    """Where downloads go; it must be empty again once each test is over."""
    directory = tmp_path / "uploads"
    directory.mkdir()
    yield directory
    assert list(directory.iterdir()) == []


class Source:
    """An async iterable of chunks that records how much was pulled and whether it closed."""

    def __init__(self, data: bytes, chunk: int = CHUNK, *, then=None) -> None:
        self.data, self.chunk, self.then = data, chunk, then
        self.pulled = 0
        self.closed = False
        self.started = False

    async def _chunks(self):
        self.started = True
        try:
            for start in range(0, len(self.data), self.chunk):
                piece = self.data[start : start + self.chunk]
                self.pulled += len(piece)
                yield piece
            if self.then is not None:
                async for piece in self.then(self):
                    yield piece
        finally:
            self.closed = True

    def __aiter__(self):
        return self._chunks()


async def endless_zeros(source: Source):
    """After the real bytes, zeros for ever: only the cap can stop this download."""
    block = bytes(CHUNK)
    while True:
        source.pulled += len(block)
        yield block


def noisy(size: int) -> bytes:
    return hashlib.shake_256(b"imgurbot").digest(size)


async def download(source, upload_dir, *, name="cat.png", declared=None, limit=DISCORD_LIMIT):
    return await download_to_temp(
        source, filename=name, declared_size=declared, limit=limit, dir=upload_dir
    )


# -- downloading ---------------------------------------------------------------------------


async def test_a_download_lands_in_a_temp_file_with_its_size_hash_and_head(upload_dir):
    data = samples.picture("PNG", size=(300, 300))
    assert len(data) > HEAD_BYTES
    async with await download(Source(data, chunk=1000), upload_dir) as temp:
        assert Path(temp.path).parent == upload_dir
        assert await asyncio.to_thread(Path(temp.path).read_bytes) == data
        assert temp.size == len(data)
        assert temp.sha256 == hashlib.sha256(data).hexdigest()
        assert temp.head == data[:HEAD_BYTES]
        assert temp.media_type is MediaType.PNG
    assert temp.closed
    assert list(upload_dir.iterdir()) == []


async def test_a_file_shorter_than_the_head_is_sniffed_at_the_end(upload_dir):
    data = samples.mp4()
    async with await download(Source(data, chunk=7), upload_dir, name="clip.mp4") as temp:
        assert (temp.size, temp.head, temp.media_type) == (len(data), data, MediaType.MP4)


async def test_an_empty_download_is_refused(upload_dir):
    with pytest.raises(MediaRejected) as caught:
        await download(Source(b""), upload_dir, name="blank.png")
    assert leftovers(upload_dir) == []
    assert caught.value.refusal is Refusal.EMPTY
    assert "`blank.png`: it is empty (0 bytes)" in str(caught.value)


async def test_a_declared_size_over_the_limit_is_refused_before_a_byte_is_read(upload_dir):
    source = Source(samples.picture("PNG"))
    with pytest.raises(MediaRejected) as caught:
        await download(source, upload_dir, declared=30 * MIB)
    assert not source.started
    assert caught.value.limit_bytes == DISCORD_LIMIT
    assert "it is 30 MB, and the largest file I can take here is 25 MB" in str(caught.value)


async def test_a_declared_size_over_imgurs_limit_is_refused_once_the_head_shows_the_type(
    upload_dir,
):
    data = samples.picture("PNG") + noisy(64 * CHUNK)
    source = Source(data)
    with pytest.raises(MediaRejected) as caught:
        await download(source, upload_dir, declared=12 * MIB)
    assert leftovers(upload_dir) == []
    assert source.pulled <= HEAD_BYTES + CHUNK  # stopped as soon as the head arrived
    assert source.closed
    assert caught.value.limit_bytes == IMGUR_IMAGE_LIMIT
    assert "it is 12 MB, and Imgur takes pictures up to 10 MB" in str(caught.value)


async def test_the_cap_stops_an_undeclared_download_mid_stream(upload_dir):
    source = Source(samples.picture("PNG"), then=endless_zeros)
    with pytest.raises(MediaRejected) as caught:
        await download(source, upload_dir, limit=DISCORD_LIMIT)
    assert leftovers(upload_dir) == []
    # Imgur's 10 MB for a picture joined Discord's 25 MB as soon as the type was known.
    assert IMGUR_IMAGE_LIMIT < source.pulled <= IMGUR_IMAGE_LIMIT + CHUNK
    assert source.closed
    assert caught.value.refusal is Refusal.TOO_LARGE
    assert str(caught.value) == (
        "I can't upload `cat.png`: it is more than 10 MB, and Imgur takes pictures up to "
        "10 MB. Save it as a JPEG, or make it smaller, and try again."
    )


async def test_discords_limit_caps_a_video_below_imgurs(upload_dir):
    source = Source(samples.mp4(), then=endless_zeros)
    with pytest.raises(MediaRejected) as caught:
        await download(source, upload_dir, name="clip.mp4", limit=8 * MIB)
    assert 8 * MIB < source.pulled <= 8 * MIB + CHUNK
    assert "it is more than 8 MB, and the largest file I can take here is 8 MB" in str(caught.value)


async def test_a_wrong_type_stops_the_download_as_soon_as_the_head_arrives(upload_dir):
    source = Source(b"%PDF-1.5\n" + noisy(40 * CHUNK))
    with pytest.raises(MediaRejected) as caught:
        await download(source, upload_dir, name="cat.png")
    assert leftovers(upload_dir) == []
    assert source.pulled <= HEAD_BYTES + CHUNK
    assert source.closed
    assert caught.value.refusal is Refusal.UNKNOWN_TYPE
    assert "its name says PNG, but it is a PDF document" in str(caught.value)


async def test_a_type_imgur_refuses_stops_the_download_early(upload_dir):
    source = Source(samples.picture("WEBP", size=(400, 400)) + noisy(10 * CHUNK))
    with pytest.raises(MediaRejected) as caught:
        await download(source, upload_dir, name="sticker.webp")
    assert source.pulled <= HEAD_BYTES + CHUNK
    assert caught.value.refusal is Refusal.UNSUPPORTED_TYPE


async def test_an_error_from_the_source_removes_the_temp_file(upload_dir):
    async def reset(source):
        raise ConnectionResetError("the CDN hung up")
        yield b""  # pragma: no cover (makes this an async generator)

    with pytest.raises(ConnectionResetError):
        await download(Source(samples.picture("PNG", size=(200, 200)), then=reset), upload_dir)
    assert leftovers(upload_dir) == []


async def test_cancelling_a_download_removes_the_temp_file(upload_dir):
    stalled = asyncio.Event()

    async def stall(source):
        stalled.set()
        await asyncio.Event().wait()  # the CDN stops sending
        yield b""  # pragma: no cover

    source = Source(samples.picture("PNG", size=(300, 300)), then=stall)
    task = asyncio.create_task(download(source, upload_dir))
    await stalled.wait()
    assert len(list(upload_dir.iterdir())) == 1  # the partial file exists meanwhile
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert leftovers(upload_dir) == []
    assert source.closed


async def test_a_forgotten_temp_media_is_deleted_when_collected(upload_dir):
    temp = await download(Source(samples.picture("PNG")), upload_dir)
    assert [str(p) for p in upload_dir.iterdir()] == [temp.path]
    del temp
    gc.collect()
    assert list(upload_dir.iterdir()) == []


async def test_closing_twice_is_harmless_and_reading_after_close_fails(upload_dir):
    temp = await download(Source(samples.picture("PNG")), upload_dir)
    temp.close()
    temp.close()
    with pytest.raises(ValueError, match="closed"):
        async for _chunk in temp.open_chunks():
            pass


# -- from an aiohttp response (the CDN) ------------------------------------------------------


@pytest.fixture
async def cdn():
    """A local stand-in for Discord's CDN: files, and one response that never finishes."""
    files: dict[str, bytes] = {}
    hold = asyncio.Event()

    async def serve(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name == "never-ends.png":
            # Headers promise 50 MB; 16 KiB of PNG arrive, then nothing.
            response = web.StreamResponse(headers={"Content-Length": str(50 * MIB)})
            await response.prepare(request)
            await response.write(samples.picture("PNG", size=(300, 300))[:HEAD_BYTES])
            await hold.wait()
            return response
        if name not in files:
            raise web.HTTPNotFound()
        return web.Response(body=files[name], content_type="application/octet-stream")

    app = web.Application()
    app.router.add_get("/attachments/{name}", serve)
    async with TestServer(app, host="127.0.0.1") as server:
        async with aiohttp.ClientSession() as session:
            yield server, session, files
            hold.set()


async def test_a_cdn_response_streams_to_disk(cdn, upload_dir):
    server, session, files = cdn
    files["cat.gif"] = data = samples.animation("GIF", frames=6, size=(200, 150))
    async with session.get(server.make_url("/attachments/cat.gif")) as response:
        temp = await download(response, upload_dir, name="cat.gif")
    async with temp:
        assert (temp.size, temp.sha256) == (len(data), hashlib.sha256(data).hexdigest())


async def test_a_content_length_over_the_limit_refuses_without_waiting_for_the_body(
    cdn, upload_dir
):
    server, session, _files = cdn
    async with asyncio.timeout(30):  # a guard against hanging, not a measurement
        async with session.get(server.make_url("/attachments/never-ends.png")) as response:
            with pytest.raises(MediaRejected) as caught:
                await download(response, upload_dir, name="never-ends.png")
    assert "it is 50 MB, and the largest file I can take here is 25 MB" in str(caught.value)


async def test_an_expired_cdn_link_is_an_http_error_not_a_bad_file(cdn, upload_dir):
    server, session, _files = cdn
    async with session.get(server.make_url("/attachments/gone.png")) as response:
        with pytest.raises(aiohttp.ClientResponseError) as caught:
            await download(response, upload_dir)
    assert caught.value.status == 404


# -- reading back for the upload -----------------------------------------------------------


async def test_reading_back_streams_small_chunks_with_monotonic_progress(upload_dir):
    data = samples.mp4(frame_bytes=5 * CHUNK + 123)
    progress: list[tuple[int, int]] = []
    async with await download(Source(data), upload_dir, name="clip.mp4") as temp:
        chunks = [c async for c in temp.open_chunks(16 * 1024, lambda *p: progress.append(p))]
    assert b"".join(chunks) == data
    # Never the whole file at once: every chunk is at most the chunk size asked for.
    assert max(len(c) for c in chunks) == 16 * 1024
    assert len(chunks) == -(-len(data) // (16 * 1024))
    sent = [s for s, _total in progress]
    assert sent == sorted(set(sent))  # strictly increasing
    assert {total for _s, total in progress} == {len(data)}
    assert progress[-1] == (len(data), len(data))
    assert len(progress) == len(chunks)


async def test_progress_reports_what_the_consumer_has_taken(upload_dir):
    data = samples.picture("PNG", size=(200, 200))
    progress: list[int] = []
    async with await download(Source(data), upload_dir) as temp:
        reader = temp.open_chunks(1024, lambda sent, total: progress.append(sent))
        first = await anext(reader)
        assert progress == []  # handed over, not yet sent
        await anext(reader)
        assert progress == [len(first)]
        await reader.aclose()


async def test_each_read_starts_from_the_beginning_so_a_retry_sends_it_all(upload_dir):
    data = samples.picture("PNG", size=(200, 200))
    async with await download(Source(data), upload_dir) as temp:
        reader = temp.open_chunks(1000)
        await anext(reader)
        await reader.aclose()  # the first attempt failed after one chunk
        assert b"".join([c async for c in temp.open_chunks(1000)]) == data


async def test_an_aiohttp_request_can_stream_the_file_as_its_body(cdn, upload_dir):
    """What the Imgur client will do: the reader as a streaming request body."""
    _server, session, _files = cdn
    received = bytearray()

    async def sink(request: web.Request) -> web.Response:
        async for piece in request.content.iter_chunked(CHUNK):
            received.extend(piece)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/3/image", sink)
    data = samples.picture("JPEG", size=(400, 300))
    async with TestServer(app, host="127.0.0.1") as imgur:
        async with await download(Source(data), upload_dir, name="cat.jpg") as temp:
            body = temp.open_chunks(4096)
            async with session.post(imgur.make_url("/3/image"), data=body) as response:
                assert response.status == 200
    assert bytes(received) == data


# -- inspecting ----------------------------------------------------------------------------


async def test_inspect_temp_judges_the_file_in_an_executor_and_keeps_the_answer(upload_dir):
    data = samples.animation("PNG", frames=3, size=(40, 30))
    async with await download(Source(data), upload_dir, name="loop.png") as temp:
        info = await inspect_temp(temp, discord_limit=DISCORD_LIMIT)
        assert temp.info is info
        assert (info.media_type, info.width, info.height, info.frames) == (
            MediaType.APNG,
            40,
            30,
            3,
        )


async def test_receive_downloads_and_inspects(upload_dir):
    data = samples.picture("JPEG", size=(120, 80))
    async with await receive(
        Source(data),
        filename="photo.jpg",
        declared_size=len(data),
        limit=DISCORD_LIMIT,
        dir=upload_dir,
    ) as temp:
        assert temp.info is not None
        assert (temp.info.media_type, temp.info.size) == (MediaType.JPEG, len(data))


async def test_receive_removes_the_file_when_inspection_refuses_it(upload_dir):
    with pytest.raises(MediaRejected) as caught:
        await receive(
            Source(samples.picture("PNG")[:-200]),
            filename="cut.png",
            declared_size=None,
            limit=DISCORD_LIMIT,
            dir=upload_dir,
        )
    assert caught.value.refusal is Refusal.CORRUPT
    assert leftovers(upload_dir) == []


async def test_inspections_run_on_the_executor_the_bot_gives(upload_dir, monkeypatch):
    """The bot's own small executor bounds how many inspections decode at once."""
    threads: list[str] = []
    real_inspect = media.inspect

    def recording_inspect(*args, **kwargs):
        threads.append(threading.current_thread().name)
        return real_inspect(*args, **kwargs)

    monkeypatch.setattr(intake.media, "inspect", recording_inspect)
    data = samples.picture("PNG")
    temps = [await download(Source(data), upload_dir, name=f"{n}.png") for n in range(3)]
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="inspect-test") as executor:
        infos = await asyncio.gather(
            *(inspect_temp(t, discord_limit=DISCORD_LIMIT, executor=executor) for t in temps)
        )
    for temp in temps:
        temp.close()
    assert [i.media_type for i in infos] == [MediaType.PNG] * 3
    assert len(threads) == 3
    assert all(name.startswith("inspect-test") for name in threads)
