"""Rate limits, the CDN and the event feed of the fake Discord.

Rate limits follow Discord's Rate Limits page and its OpenAPI spec: bucket headers on every
2xx (interaction callbacks and webhooks included), a spent bucket after a 429, and a global
50 requests/s that spares interaction endpoints and answers ``global: true`` with ``Via``.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import Counter

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands

from fakes.discord import FakeDiscord
from fakes.discord.feed import redact_path

TOKEN = "test-token"
AUTH = {"Authorization": f"Bot {TOKEN}"}


class FakeClock:
    """The limiter's clock, moved by hand: no test sleeps to wait out a rate limit."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@app_commands.command(description="Answer, then follow up")
async def twostep(interaction: discord.Interaction) -> None:
    await interaction.response.send_message("one")
    await interaction.followup.send("two")


class LimitsBot(commands.Bot):
    def __init__(self) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents.default(),
            guild_ready_timeout=0.05,
        )

    async def setup_hook(self) -> None:
        self.tree.add_command(twostep)
        await self.tree.sync()


@pytest.fixture
async def bot(fd: FakeDiscord):
    bot = LimitsBot()
    await bot.login(TOKEN)
    runner = asyncio.create_task(bot.connect())
    await fd.wait_until_ready()
    await asyncio.wait_for(bot.wait_until_ready(), 10)
    yield bot
    await bot.close()
    await asyncio.wait_for(runner, 10)


def bucket_headers(headers) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower().startswith("x-ratelimit-")}


# -- per-route buckets ---------------------------------------------------------------------


async def test_an_injected_429_spends_the_bucket_until_its_retry_time(fd: FakeDiscord) -> None:
    clock = FakeClock()
    fd.limiter.clock = clock
    fd.global_rate_limit = None
    channel = fd.add_channel(fd.add_guild("g"), "general")
    url = f"{fd.rest_url}/channels/{channel.id}/messages"
    fd.inject_rate_limit(f"/channels/{channel.id}/messages", retry_after=2.5)
    async with aiohttp.ClientSession(headers=AUTH) as http:
        async with http.post(url, json={"content": "a"}) as resp:
            assert resp.status == 429 and resp.headers["Via"]
            assert (await resp.json()) == {
                "message": "You are being rate limited.",
                "retry_after": 2.5,
                "global": False,
            }
            first = bucket_headers(resp.headers)
        assert first["X-RateLimit-Remaining"] == "0"
        assert float(first["X-RateLimit-Reset-After"]) == 2.5
        assert first["X-RateLimit-Scope"] == "user"
        assert abs(float(first["X-RateLimit-Reset"]) - (time.time() + 2.5)) < 1

        clock.now += 1.0  # not yet: the bucket is still spent, and says so
        async with http.post(url, json={"content": "b"}) as resp:
            assert resp.status == 429
            assert resp.headers["X-RateLimit-Remaining"] == "0"
            assert float(resp.headers["X-RateLimit-Reset-After"]) == pytest.approx(1.5)

        clock.now += 1.5  # the retry time: a fresh window
        async with http.post(url, json={"content": "c"}) as resp:
            assert resp.status == 200
            limit = int(resp.headers["X-RateLimit-Limit"])
            assert resp.headers["X-RateLimit-Remaining"] == str(limit - 1)
            assert resp.headers["X-RateLimit-Bucket"] == first["X-RateLimit-Bucket"]
    assert [m.content for m in fd.channel_messages(channel)] == ["c"]


async def test_callbacks_and_interaction_webhooks_carry_bucket_headers(
    fd: FakeDiscord, bot: LimitsBot
) -> None:
    """Discord's OpenAPI spec lists X-RateLimit-* on the callback's 200 and 204 and on every
    webhook route; each interaction (id + token) is its own bucket of one shared hash."""
    guild = fd.add_guild("g")
    channel = fd.add_channel(guild, "general")
    for _ in range(2):
        record = await fd.slash("twostep", channel=channel)
        await record.wait_followup(1)
    callbacks = fd.requests("POST", "/interactions/")
    followups = fd.requests("POST", "/webhooks/")
    for request in callbacks + followups:
        headers = bucket_headers(request.response_headers)
        assert set(headers) == {
            "X-RateLimit-Limit",
            "X-RateLimit-Remaining",
            "X-RateLimit-Reset",
            "X-RateLimit-Reset-After",
            "X-RateLimit-Bucket",
        }, request
        limit = int(headers["X-RateLimit-Limit"])
        assert headers["X-RateLimit-Remaining"] == str(limit - 1)  # separate per interaction
    assert len({r.response_headers["X-RateLimit-Bucket"] for r in callbacks}) == 1
    assert len({r.response_headers["X-RateLimit-Bucket"] for r in followups}) == 1
    # The 204 form (no with_response) carries them too.
    record = await fd.slash("twostep", channel=channel)
    await record.wait_done()
    async with aiohttp.ClientSession() as http:
        url = f"{fd.rest_url}/interactions/{record.id}/{record.token}/callback"
        async with http.post(url, json={"type": 4, "data": {"content": "late"}}) as resp:
            assert resp.status == 400  # already acknowledged; the 2xx case is above
    assert fd.world.interactions[record.id].rejected == [(4, 400, 40060)]


# -- the global limit ------------------------------------------------------------------------


def admitted_per_window(fd: FakeDiscord) -> int:
    """The most requests the global limit admitted in one of its one-second windows: a
    window opens with the first admission after the previous one closed (Discord states the
    limit as 50 requests per second; the fake counts in such consecutive windows). Every
    request counts but those to interaction endpoints, which the global limit spares."""
    times = sorted(
        r.admitted_at
        for r in fd.requests()
        if r.admitted_at is not None and not r.path.startswith(("/interactions/", "/webhooks/"))
    )
    most, opened, count = 0, float("-inf"), 0
    for at in times:
        if at - opened >= 1.0:
            opened, count = at, 0
        count += 1
        most = max(most, count)
    return most


async def test_the_global_limit_holds_under_a_burst_of_thousands(fd: FakeDiscord) -> None:
    guild = fd.add_guild("g")
    channels = [fd.add_channel(guild, f"c{i}") for i in range(20)]
    connector = aiohttp.TCPConnector(limit=200)
    statuses: Counter[int] = Counter()
    bodies: list[dict] = []
    async with aiohttp.ClientSession(headers=AUTH, connector=connector) as http:

        async def post(i: int) -> None:
            url = f"{fd.rest_url}/channels/{channels[i % 20].id}/messages"
            async with http.post(url, json={"content": str(i)}) as resp:
                statuses[resp.status] += 1
                if resp.status == 429:
                    assert resp.headers["Via"] and resp.headers["X-RateLimit-Global"] == "true"
                    assert resp.headers["X-RateLimit-Scope"] == "global"
                    assert "X-RateLimit-Bucket" not in resp.headers  # Discord's global 429
                    bodies.append(await resp.json())

        await asyncio.gather(*(post(i) for i in range(3000)))
    assert statuses[200] + statuses[429] == 3000 and statuses[429] > 2000
    assert all(b["global"] is True and 0 < b["retry_after"] <= 1 for b in bodies)
    assert admitted_per_window(fd) <= 50
    assert sum(len(fd.channel_messages(c)) for c in channels) == statuses[200]


async def test_discordpy_honours_the_global_limit_and_interactions_are_spared(
    fd: FakeDiscord, bot: LimitsBot
) -> None:
    fd.global_rate_limit = 40
    guild = fd.add_guild("g")
    channels = [fd.add_channel(guild, f"c{i}") for i in range(10)]
    await fd.flush()
    targets = [bot.get_channel(int(c.id)) or await bot.fetch_channel(int(c.id)) for c in channels]
    sends = [targets[i % 10].send(f"post {i}") for i in range(100)]
    # An interaction during the burst is answered at once: interaction endpoints are exempt.
    record = await fd.slash("twostep", channel=channels[0])
    await asyncio.gather(*sends)
    await record.wait_followup(1)
    assert sum(len(fd.channel_messages(c)) for c in channels) == 100 + 2
    assert admitted_per_window(fd) <= 40
    assert all(r.status != 429 for r in fd.requests(None, "/interactions/"))
    assert any(scope == "global" for _, _, scope in fd.limiter.rejected)


# -- the CDN -----------------------------------------------------------------------------------


async def test_cdn_streams_with_length_head_and_concurrency(fd: FakeDiscord) -> None:
    data = hashlib.sha256(b"seed").digest() * (9 * 1024 * 1024 // 32)  # 9 MB
    files = [fd.add_attachment(f"f{i}.bin", data) for i in range(20)]
    async with aiohttp.ClientSession() as http:
        async with http.head(files[0].url) as resp:
            assert resp.status == 200 and int(resp.headers["Content-Length"]) == len(data)
            assert await resp.read() == b""

        async def fetch(url: str) -> str:
            async with http.get(url) as resp:
                assert int(resp.headers["Content-Length"]) == len(data)
                digest = hashlib.sha256()
                async for chunk in resp.content.iter_chunked(256 * 1024):
                    digest.update(chunk)
                return digest.hexdigest()

        digests = await asyncio.gather(*(fetch(f.url) for f in files))
    assert set(digests) == {hashlib.sha256(data).hexdigest()}
    assert sorted(fd.cdn.downloads) == sorted(f.id for f in files)  # HEAD is not a download


async def test_cdn_bandwidth_throttle_per_file_and_global(fd: FakeDiscord) -> None:
    slow = fd.add_attachment("slow.bin", bytes(300_000), bandwidth=400_000)
    plain = fd.add_attachment("plain.bin", bytes(300_000))
    async with aiohttp.ClientSession() as http:

        async def timed(url: str) -> float:
            started = time.monotonic()
            async with http.get(url) as resp:
                assert len(await resp.read()) == 300_000
            return time.monotonic() - started

        assert await timed(slow.url) >= 0.7  # 300 kB at 400 kB/s
        fd.cdn_bandwidth = 1_000_000
        assert await timed(plain.url) >= 0.25  # the global setting applies to the rest
        assert await timed(slow.url) >= 0.7  # the file's own wins


# -- the event feed --------------------------------------------------------------------------


async def test_event_feed_shows_requests_messages_interactions_and_gateway(
    fd: FakeDiscord, bot: LimitsBot
) -> None:
    events = fd.events()
    seen: list = []
    stop = fd.subscribe(seen.append)
    channel = fd.add_channel(fd.add_guild("g"), "general")
    record = await fd.slash("twostep", channel=channel)
    await record.wait_followup(1)
    await bot.get_channel(int(channel.id)).send("scheduled")
    await fd.reconnect_bot()
    await fd.wait_for(lambda: len(seen) >= 8)
    kinds = []
    while (event := events.get_nowait()) is not None:
        kinds.append((event.kind, event.data.get("action")))
    assert ("interaction", "dispatched") in kinds and ("interaction", "callback") in kinds
    assert kinds.count(("message", "created")) == 3  # response, followup, channel post
    assert ("gateway", "resume") in kinds and ("gateway", "disconnect") in kinds
    requests = [e.data for e in seen if e.kind == "request"]
    callback = next(r for r in requests if r["path"].startswith("/interactions/"))
    assert callback["path"] == f"/interactions/{record.id}/{{token}}/callback"
    assert callback["status"] == 200 and "type=4" in callback["summary"]
    flat = repr([e.data for e in seen])
    assert record.token not in flat and TOKEN not in flat
    stop()
    events.close()


async def test_a_slow_feed_consumer_loses_old_events_and_blocks_nothing(fd: FakeDiscord) -> None:
    events = fd.events(backlog=10)
    channel = fd.add_channel(fd.add_guild("g"), "general")
    async with aiohttp.ClientSession(headers=AUTH) as http:
        for i in range(30):  # nobody reads meanwhile
            url = f"{fd.rest_url}/channels/{channel.id}/messages"
            async with http.post(url, json={"content": str(i)}) as resp:
                assert resp.status == 200
    first = await events.get()
    assert first.dropped == 50  # 60 events (request + message each), 10 kept
    rest = [events.get_nowait() for _ in range(9)]
    assert events.get_nowait() is None and all(e.dropped == 0 for e in rest)
    assert rest[-2].data["message"]["content"] == "29"  # the request event comes last
    events.close()


def test_tokens_are_redacted_from_paths() -> None:
    assert redact_path("/webhooks/1/abc.def/messages/@original") == (
        "/webhooks/1/{token}/messages/@original"
    )
    assert redact_path("/channels/1/messages") == "/channels/1/messages"
