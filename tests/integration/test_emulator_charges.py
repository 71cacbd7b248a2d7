"""Exactly which requests the emulator charges: the bot's ledger is checked against it.

The ledger must never count fewer credits than Imgur did, so the emulator has to count
like Imgur: a processed request is charged once (even if its client stopped waiting),
an answer that stands in for an unprocessed request is not, and the counts are readable
per Client-ID and per daily window at any moment through ``GET /_emulator/stats``.
"""

from __future__ import annotations

import asyncio
import io
from contextlib import AsyncExitStack

import aiohttp
import pytest
from aiohttp import web
from PIL import Image

from fakes.imgur import Emulator, EmulatorConfig, make_app
from fakes.imgur.clock import ManualClock
from fakes.imgur.faults import BODY, HEADER, REPLACING, Faults
from fakes.imgur.pipeline import STATE_KEY

CLIENT = {"Authorization": "Client-ID ledger-test"}


@pytest.fixture
async def make_emu():
    async with AsyncExitStack() as stack:

        async def start(**config) -> Emulator:
            config.setdefault("item_count", 100)
            return await stack.enter_async_context(Emulator(EmulatorConfig(**config)))

        yield start


async def get(http, url, headers=CLIENT):
    async with http.get(url, headers=headers) as response:
        return response.status, response.headers, await response.read()


async def eventually(condition, seconds: float = 10.0) -> None:
    """Wait for the server side to catch up (bounded; not a speed assertion)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():
        assert loop.time() < deadline, "the server never got there"
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("handler_cancellation", [False, True])
async def test_a_delayed_request_is_charged_once_though_its_client_gave_up(handler_cancellation):
    # handler_cancellation=True: a server that cancels the handler of a closed connection.
    app = make_app(EmulatorConfig(item_count=100))
    state = app[STATE_KEY]
    runner = web.AppRunner(app, handler_cancellation=handler_cancellation)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        state.faults.add("latency", path_prefix="/3/tags", seconds=0.3, times=1)
        timeout = aiohttp.ClientTimeout(total=0.05)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            with pytest.raises(asyncio.TimeoutError):
                await get(http, f"http://127.0.0.1:{port}/3/tags")

        await eventually(lambda: state.stats.credits_charged == 1)
        await eventually(lambda: not state.in_flight)
        assert state.stats.credits_charged == 1
        assert dict(state.stats.by_client) == {"ledger-test": 1}
    finally:
        await runner.cleanup()


NOT_CHARGED = sorted(REPLACING - {"connection_reset"})
CHARGED = sorted(BODY | HEADER | {"latency"})


@pytest.mark.parametrize(
    ("kind", "credits"), [(k, 0) for k in NOT_CHARGED] + [(k, 1) for k in CHARGED]
)
async def test_which_faulted_answers_are_charged(make_emu, kind, credits):
    emu = await make_emu()
    emu.faults.add(
        kind, path_prefix="/3/tags", times=1, **({"seconds": 0.01} if kind == "latency" else {})
    )
    async with aiohttp.ClientSession() as http:
        await get(http, f"{emu.base_url}/3/tags")
    assert emu.stats.credits_charged == credits
    assert emu.remaining("ledger-test")["ClientRemaining"] == 12_500 - credits


async def test_a_dropped_connection_is_not_charged(make_emu):
    emu = await make_emu()
    fault = emu.faults.add("connection_reset", path_prefix="/3/tags")  # aiohttp retries once
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientError):
            await get(http, f"{emu.base_url}/3/tags")
    emu.faults.clear(fault.id)
    assert emu.stats.faults_applied["connection_reset"] >= 1
    assert emu.stats.credits_charged == 0


async def test_stats_show_credits_per_client_and_daily_window(make_emu):
    clock = ManualClock()
    emu = await make_emu(clock=clock, client_daily_limit=14)
    other = {"Authorization": "Client-ID someone-else"}
    png = io.BytesIO()
    Image.new("RGB", (4, 4)).save(png, "PNG")
    form = aiohttp.FormData()
    form.add_field("image", png.getvalue(), filename="a.png")
    async with aiohttp.ClientSession() as http:
        for _ in range(3):
            await get(http, f"{emu.base_url}/3/tags")
        async with http.post(f"{emu.base_url}/3/image", data=form, headers=CLIENT) as r:
            assert r.status == 200  # 10 credits: 13 so far
        last_fit = await get(http, f"{emu.base_url}/3/tags")  # the 14th credit
        over = await get(http, f"{emu.base_url}/3/credits")
        await get(http, f"{emu.base_url}/3/tags", headers=other)
        clock.advance(86_400)
        for _ in range(2):
            await get(http, f"{emu.base_url}/3/tags")
        async with http.get(f"{emu.base_url}/_emulator/stats") as r:
            stats = await r.json()

    assert (last_fit[0], over[0]) == (200, 429)  # the refused call charges nothing
    assert stats["by_client"] == {"ledger-test": 16, "someone-else": 1}
    assert stats["credits_by_day"] == {
        "ledger-test": [
            {
                "window_start": "2026-01-01T00:00:00+00:00",
                "window_end": "2026-01-02T00:00:00+00:00",
                "credits": 14,
            },
            {
                "window_start": "2026-01-02T00:00:00+00:00",
                "window_end": "2026-01-03T00:00:00+00:00",
                "credits": 2,
            },
        ],
        "someone-else": [
            {
                "window_start": "2026-01-01T00:00:00+00:00",
                "window_end": "2026-01-02T00:00:00+00:00",
                "credits": 1,
            }
        ],
    }
    assert stats["credits_charged"] == 17


def rate_headers(headers) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items() if "rate" in k.lower()}


@pytest.mark.parametrize("shape", ["classic", "errors"])
async def test_a_spent_429_says_so_in_its_headers_and_a_plain_one_does_not(make_emu, shape):
    emu = await make_emu(rate_limit_429_shape=shape)
    url = f"{emu.base_url}/3/tags"
    async with aiohttp.ClientSession() as http:
        emu.faults.add("rate_limited_429_spent", path_prefix="/3/tags", times=1)
        spent = await get(http, url)
        emu.faults.add("rate_limited_429_spent", path_prefix="/3/tags", times=1, scope="user")
        user = await get(http, url)
        emu.faults.add("rate_limited_429", path_prefix="/3/tags", times=1)
        plain = await get(http, url)
        after = await get(http, url)

    assert spent[0] == user[0] == plain[0] == 429
    assert rate_headers(spent[1])["x-ratelimit-clientremaining"] == "0"
    assert int(rate_headers(spent[1])["x-ratelimit-userremaining"]) > 0
    assert int(rate_headers(spent[1])["x-ratelimit-clientreset"]) > 0
    assert rate_headers(user[1])["x-ratelimit-userremaining"] == "0"
    assert int(rate_headers(user[1])["x-ratelimit-clientremaining"]) > 0
    assert rate_headers(plain[1]) == {}
    # One answer, not a drained day: the next call is served and only it is charged.
    assert after[0] == 200
    assert rate_headers(after[1])["x-ratelimit-clientremaining"] == str(12_500 - 1)
    assert emu.stats.credits_charged == 1


def test_a_429_fault_claims_only_a_scope_it_can_have():
    with pytest.raises(ValueError, match="client, user"):
        Faults().add("rate_limited_429_spent", scope="post")
