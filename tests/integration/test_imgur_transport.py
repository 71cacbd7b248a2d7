"""The aiohttp adapter against hostile answers: a body far larger than any real one is
refused while streaming, and never read, parsed or cached whole."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from pydantic import SecretStr

from bot.config import CacheSettings, ImgurSettings, Secrets
from bot.imgur import sansio
from bot.imgur.aiohttp_transport import aiohttp_client
from bot.imgur.errors import BadResponse

CHUNK = b'{"data": [' + b" " * (64 * 1024 - 10)
HUGE = 50 * 1024 * 1024


@pytest.fixture
async def huge_server():
    """Streams a 50 MB 200 answer (no Content-Length unless asked), counting what it got
    to send before the client hung up."""
    sent = {"bytes": 0}

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        if request.query.get("length"):
            response.content_length = HUGE
        await response.prepare(request)
        try:
            while sent["bytes"] < HUGE:
                await response.write(CHUNK)
                sent["bytes"] += len(CHUNK)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return response

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", sent
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("length", [False, True])
async def test_an_answer_past_its_kinds_cap_is_refused_while_streaming(huge_server, length):
    base_url, sent = huge_server
    client = aiohttp_client(
        None,
        ImgurSettings(max_retries=0),
        CacheSettings(),
        Secrets(imgur_client_id=SecretStr("cid")),
        base_url=base_url,
    )
    request = sansio.gallery_search("huge", page=1 if length else 0)
    if length:
        request = sansio.Request(
            "GET", request.path, request.kind, params=(("length", "1"),), parse=request.parse
        )
    try:
        with pytest.raises(BadResponse, match="larger than 8,192 KB"):
            await client.get(request)
        assert client.peek(request) is None  # nothing cached
    finally:
        await client.close()
    await asyncio.sleep(0.1)
    # The client stopped reading at the cap (8 MB for a search): most was never sent.
    assert sent["bytes"] < HUGE / 2


async def test_an_upload_slower_to_send_than_the_answer_timeout_still_lands():
    """Sending a big file takes as long as the link needs: only a silence after the last
    byte is a timeout, not the whole upload's length."""
    from fakes.imgur.app import Emulator, EmulatorConfig

    async def slowly():  # 1.2 s to send, where an answer may take 0.4 s
        for _ in range(6):
            await asyncio.sleep(0.2)
            yield PNG_CHUNK if _ == 0 else b"\0" * 16

    async with Emulator(EmulatorConfig(seed=1)) as emu:
        client = aiohttp_client(
            None,
            ImgurSettings(max_retries=0, total_timeout_s=0.4),
            CacheSettings(),
            Secrets(imgur_client_id=SecretStr("cid")),
            base_url=emu.base_url,
        )
        try:
            request = sansio.upload(filename="slow.png", content_type="image/png")
            result = await client.get(request, body=slowly())
        finally:
            await client.close()
    assert result.id in emu.data.images


# A valid 1x1 PNG: the emulator checks what it is given.
PNG_CHUNK = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d4944415478da63f8ffff3f0005fe02fea7d6a4e10000000049454e44ae426082"
)
