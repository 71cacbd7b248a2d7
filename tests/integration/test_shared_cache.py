"""The cluster's shared cache: two ImgurClients (two "processes", each with its own Redis
connection) in front of one Imgur emulator and the real Redis (``require_redis``).

One process's fetch serves the other; identical requests in flight in both cost one call;
a lease left by a dead process delays the others only until it expires; a deleted answer
is gone for every process; and while Redis cannot be reached every answer is still right,
from each process's own cache, with one log line when it goes and one when it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr

from bot.clock import FakeClock
from bot.config import CacheSettings, ImgurSettings, Secrets
from bot.errors import QuotaExceeded
from bot.imgur import sansio
from bot.imgur.aiohttp_transport import aiohttp_client
from bot.imgur.client import ImgurClient
from bot.imgur.sansio import Request
from bot.imgur.shared_cache import SharedCache, namespace_for
from fakes.imgur.app import Emulator, EmulatorConfig

CLIENT_ID = "shared-cache-client-id-77"
LOGGER = "bot.imgur.shared_cache"


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(EmulatorConfig(seed=3, item_count=120)) as emulator:
        yield emulator


class Processes:
    """Opens clients that share one Redis namespace, and closes them all after."""

    def __init__(self, emu: Emulator, url: str, prefix: str) -> None:
        self.emu = emu
        self.url = url
        self.prefix = prefix
        self.namespace = namespace_for(CLIENT_ID, emu.base_url)
        self.clients: list[ImgurClient] = []
        self.caches: list[SharedCache] = []

    def open(
        self,
        *,
        url: str | None = None,
        clock: FakeClock | None = None,
        connections: int = 32,
        **cache: Any,
    ) -> ImgurClient:
        settings = CacheSettings(**({"lease_s": 0.5} | cache))
        shared = SharedCache.from_url(
            url or self.url,
            settings,
            clock or FakeClock(),
            namespace=self.namespace,
            prefix=self.prefix,
            max_connections=connections,
        )
        client = aiohttp_client(
            None,
            ImgurSettings(max_retries=0, total_timeout_s=5.0),
            settings,
            Secrets(imgur_client_id=SecretStr(CLIENT_ID)),
            base_url=self.emu.base_url,
            clock=shared._clock,
            shared=shared,
        )
        self.clients.append(client)
        self.caches.append(shared)
        return client

    async def close(self) -> None:
        for client in self.clients:
            await client.close()
        for cache in self.caches:
            await cache.close()


@pytest.fixture
async def cluster(emu: Emulator, redis_prefix) -> AsyncIterator[Processes]:
    url, prefix = redis_prefix
    processes = Processes(emu, url, prefix)
    try:
        yield processes
    finally:
        await processes.close()


@pytest.fixture
async def redis(redis_prefix) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_prefix[0])
    try:
        yield client
    finally:
        await client.aclose()


def calls(emu: Emulator) -> int:
    return emu.stats.requests


class HeldGate:
    """A ledger stand-in that lets its attempt through only when ``open`` is set."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.open = asyncio.Event()

    @asynccontextmanager
    async def __call__(self, _req: Request) -> AsyncIterator[Any]:
        self.entered.set()
        await self.open.wait()
        yield self

    def settle(self, *_args: Any, **_kwargs: Any) -> None:
        return None


@asynccontextmanager
async def refusing_gate(_req: Request) -> AsyncIterator[Any]:
    raise QuotaExceeded("guild", None, "guild budget spent")
    yield  # pragma: no cover


async def test_one_process_fetch_serves_every_process(cluster: Processes) -> None:
    a, b = cluster.open(), cluster.open()
    first = await a.fetch(sansio.gallery())
    second = await b.fetch(sansio.gallery())
    assert calls(cluster.emu) == 1
    assert not first.from_cache and second.from_cache and not second.stale
    assert second.data == first.data and second.fetched_at == first.fetched_at
    assert [i.id for i in await b.get(sansio.gallery())] == [i.id for i in first.parse(
        sansio.gallery().parse)]  # fmt: skip


async def test_a_burst_waits_for_redis_connections_instead_of_giving_up_on_redis(
    cluster: Processes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    a, b = cluster.open(connections=2), cluster.open(connections=2)
    requests = [sansio.gallery_search(f"burst {i}") for i in range(40)]
    await asyncio.gather(*(a.fetch(r) for r in requests))  # 40 at once over 2 connections
    again = await asyncio.gather(*(b.fetch(r) for r in requests))
    assert all(f.from_cache for f in again) and calls(cluster.emu) == 40
    assert not [r for r in caplog.records if r.name == LOGGER]  # Redis never "went away"


async def test_keys_are_namespaced_without_the_client_id(
    cluster: Processes, redis: aioredis.Redis
) -> None:
    req = sansio.gallery_search("cats")
    await cluster.open().fetch(req)
    keys = [k.decode() async for k in redis.scan_iter(match=f"{cluster.prefix}:*")]
    assert keys == [f"{cluster.prefix}:{cluster.namespace}:a:{req.cache_key}"]
    assert CLIENT_ID not in keys[0]
    # Redis forgets it when a stale copy is no use any more: TTL + keep_stale_s.
    ttl = CacheSettings()
    assert 0 < await redis.ttl(keys[0]) <= ttl.ttl_search_s + ttl.keep_stale_s


async def test_identical_requests_in_flight_in_two_processes_cost_one_call(
    cluster: Processes, redis: aioredis.Redis
) -> None:
    a, b = cluster.open(), cluster.open()
    req = sansio.gallery("top", "top", "week")
    held = HeldGate()
    first = asyncio.create_task(a.fetch(req, gate=held))
    await held.entered.wait()  # A holds the lease and is about to ask Imgur
    second = asyncio.create_task(b.fetch(req))
    await asyncio.sleep(0.1)
    assert not second.done(), "B must wait for A's answer, not ask Imgur itself"
    assert calls(cluster.emu) == 0
    held.open.set()
    one, two = await asyncio.gather(first, second)
    assert calls(cluster.emu) == 1
    assert two.from_cache and two.data == one.data
    assert not [k async for k in redis.scan_iter(match=f"{cluster.prefix}:*:l:*")]  # given back


async def test_a_lease_left_by_a_dead_process_expires_and_another_fetches(
    cluster: Processes, redis: aioredis.Redis
) -> None:
    b = cluster.open()
    req = sansio.tags()
    lease = f"{cluster.prefix}:{cluster.namespace}:l:{req.cache_key}"
    # What a process killed mid-fetch leaves: its lease, and no answer.
    await redis.set(lease, "dead-process", px=1500)
    fetch = asyncio.create_task(b.fetch(req))
    await asyncio.sleep(0.05)
    finished = fetch.done()
    assert not (finished and await redis.pttl(lease) > 0), "B did not wait for the lease"
    answer = await fetch
    assert calls(cluster.emu) == 1 and not answer.from_cache
    assert await redis.exists(lease) == 0


async def test_a_holder_cancelled_mid_fetch_gives_its_lease_back(cluster: Processes) -> None:
    a, b = cluster.open(lease_s=60), cluster.open(lease_s=60)
    req = sansio.gallery("hot", "time", "day")
    held = HeldGate()
    doomed = asyncio.create_task(a.fetch(req, gate=held))
    await held.entered.wait()
    await a.close()  # cancels what A has in flight
    with contextlib.suppress(asyncio.CancelledError):
        await doomed
    # Not 60 s: the cancelled holder's lease was released on its way out.
    answer = await asyncio.wait_for(b.fetch(req), 10)
    assert not answer.from_cache and calls(cluster.emu) == 1


async def test_a_stale_answer_from_another_process_is_served_when_refused(
    cluster: Processes,
) -> None:
    clock = FakeClock()
    a, b = cluster.open(clock=clock), cluster.open(clock=clock)
    req = sansio.gallery()
    fetched = await a.fetch(req)
    clock.advance(CacheSettings().ttl_frontpage_s + 1)  # past its TTL, inside keep_stale_s
    stale = await b.fetch(req, gate=refusing_gate)
    assert stale.stale and stale.data == fetched.data and stale.fetched_at == fetched.fetched_at
    assert calls(cluster.emu) == 1


async def test_a_forgotten_answer_is_gone_for_every_process(cluster: Processes) -> None:
    a, b = cluster.open(), cluster.open()
    image = sansio.gallery_item(cluster.emu.data.posts[0].id)
    await a.fetch(image)
    await b.fetch(image)  # B holds a copy too
    assert await a.forget(image)
    again = await b.fetch(image)  # not B's own copy: Redis is the truth while it answers
    assert not again.from_cache and calls(cluster.emu) == 2


async def test_answers_past_the_size_cap_are_not_shared(
    cluster: Processes, redis: aioredis.Redis
) -> None:
    a, b = cluster.open(max_entry_kb=1), cluster.open(max_entry_kb=1)
    await a.fetch(sansio.gallery())  # a listing is far above 1 KB
    await b.fetch(sansio.gallery())
    assert calls(cluster.emu) == 2
    assert not [k async for k in redis.scan_iter(match=f"{cluster.prefix}:*:a:*")]


async def test_without_redis_answers_are_served_and_it_is_said_once(
    emu: Emulator, closed_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    # No Redis needed: this one is about Redis not answering.
    cluster = Processes(emu, f"redis://:hunter2@127.0.0.1:{closed_port}/0", "unused")
    try:
        a = cluster.open()
        first = await a.fetch(sansio.gallery())
        again = await a.fetch(sansio.gallery())  # from this process's own cache
        other = await a.fetch(sansio.gallery_search("dogs"))
    finally:
        await cluster.close()
    assert first.data and again.from_cache and again.data == first.data and other.data
    assert calls(emu) == 2
    lines = [r for r in caplog.records if r.name == LOGGER]
    assert len(lines) == 1 and lines[0].levelno == logging.WARNING
    assert "cannot be reached" in lines[0].getMessage()
    assert "hunter2" not in caplog.text  # the URL's password is never logged


class Proxy:
    """A TCP relay in front of Redis that can go down (dropping every connection and
    refusing new ones) and come back: Redis restarting, as the bot sees it."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def up(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def down(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()
        self._server = None

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}


async def test_redis_going_away_and_back_never_gives_a_wrong_answer(
    cluster: Processes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    proxy = Proxy(int(cluster.url.rsplit(":", 1)[1].split("/")[0]))
    await proxy.up()
    url = f"redis://127.0.0.1:{proxy.port}/0"
    a, b = cluster.open(url=url), cluster.open(url=url)
    try:
        shared = await a.fetch(sansio.gallery())
        assert (await b.fetch(sansio.gallery())).from_cache and calls(cluster.emu) == 1

        await proxy.down()
        # Each process on its own: right answers, from its own copies or from Imgur.
        assert (await b.fetch(sansio.gallery())).data == shared.data
        item = cluster.emu.data.posts[1].id
        one = await a.fetch(sansio.gallery_item(item))
        two = await b.fetch(sansio.gallery_item(item))
        assert one.data == two.data and calls(cluster.emu) == 3
        await b.fetch(sansio.gallery_item(item))  # B's own copy
        assert calls(cluster.emu) == 3

        await proxy.up()
        await asyncio.sleep(1.1)  # the first pause before Redis is tried again
        tag = sansio.gallery_tag(next(iter(cluster.emu.data.tags)))
        await a.fetch(tag)
        assert (await b.fetch(tag)).from_cache and calls(cluster.emu) == 4  # shared again
    finally:
        with contextlib.suppress(AssertionError):
            await proxy.down()
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert sum("cannot be reached" in m for m in messages) == 2  # once per process
    assert sum("sharing answers again" in m for m in messages) == 2


async def test_a_redis_url_that_is_not_one_is_explained() -> None:
    from bot.config import ConfigError, load_config

    with pytest.raises(ConfigError) as caught:
        load_config(None, {"IMGURBOT_CACHE__REDIS_URL": "127.0.0.1:6379"})
    assert "redis://127.0.0.1:6379/0" in str(caught.value)


def test_namespace_is_a_hash_of_the_client_and_the_api() -> None:
    one = namespace_for(CLIENT_ID, "https://api.imgur.com")
    assert CLIENT_ID not in one and len(one) == 16
    assert one != namespace_for(CLIENT_ID, "http://127.0.0.1:8089")
    assert one != namespace_for(secrets.token_hex(8), "https://api.imgur.com")
