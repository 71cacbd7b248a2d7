"""``/metrics`` and ``/healthz`` of a running bot, scraped over HTTP after real commands.

The bot is the e2e world's (genuine discord.py through the fake Discord, Imgur emulator);
the server is ``bot.metrics.MetricsServer``, as ``imgurbot run`` starts it with ``[metrics]
port`` set, here on a free port.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from types import SimpleNamespace

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.activity import ImgurCall
from bot.cli import check_health
from bot.clock import SystemClock
from bot.config import MetricsSettings
from bot.failures import ExitStatus, Failure
from bot.health import Heartbeat
from bot.metrics import BotMetrics, MetricsServer, gateway_latencies

from .helpers import private_text


@pytest.fixture
async def served(world, tmp_path) -> AsyncIterator[tuple[object, MetricsServer]]:
    heartbeat = Heartbeat(world.bot, tmp_path / "health.json", 5.0, SystemClock())
    await heartbeat.start()
    server = await MetricsServer(world.bot, heartbeat, "127.0.0.1", 0).start()
    try:
        yield world, server
    finally:
        await server.stop()
        await heartbeat.stop()


async def get(url: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, response.headers["Content-Type"], await response.text()


async def scrape(server: MetricsServer) -> dict[tuple[str, frozenset], float]:
    status, content_type, text = await get(server.url + "/metrics")
    assert status == 200 and content_type.startswith("text/plain; version=")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_commands_imgur_calls_cache_and_refusals_are_counted(served) -> None:
    world, server = served
    before = await scrape(server)
    assert value(before, "imgurbot_commands_total", command="imgur frontpage", outcome="ok") == 0

    await world.run("imgur", "frontpage")  # asks Imgur
    await world.run("imgur", "frontpage")  # from the cache
    capped = await world.run(
        "imgur-admin", "quota", "set", guild=str(world.guild.id), allowance=0, user=world.fd.owner
    )
    await private_text(capped)
    refused = await world.run("imgur", "search", query="never asked before")
    assert "allowance" in await private_text(refused)
    bad = await world.run("imgur", "item", link="https://example.com/nope")
    await private_text(bad)

    after = await scrape(server)
    commands = "imgurbot_commands_total"
    assert value(after, commands, command="imgur frontpage", outcome="ok") == 2
    assert value(after, commands, command="imgur search", outcome="refused") == 1
    assert value(after, commands, command="imgur item", outcome="rejected") == 1
    assert value(after, commands, command="imgur-admin quota set", outcome="ok") == 1
    # Each command's first response and its end, timed once each.
    for histogram in ("first_response", "final_answer"):
        name = f"imgurbot_command_{histogram}_seconds_count"
        assert value(after, name, command="imgur frontpage") == 2
        assert value(after, name, command="imgur search") == 1
    calls = "imgurbot_imgur_calls_total"
    assert value(after, calls, scope="guild", kind="frontpage", verdict="imgur") == 1
    assert value(after, calls, scope="guild", kind="frontpage", verdict="cache") == 1
    assert value(after, calls, scope="guild", kind="search", verdict="refused") == 1
    assert value(after, "imgurbot_imgur_requests_total", scope="guild", kind="frontpage") == 1
    assert value(after, "imgurbot_imgur_credits_total", scope="guild", kind="frontpage") == 1
    assert value(after, "imgurbot_cache_lookups_total", result="hit") == 1
    assert value(after, "imgurbot_cache_lookups_total", result="miss") == 2  # one refused
    assert value(after, "imgurbot_ledger_refusals_total", scope="guild") == 1
    for scope in ("client", "ip", "post", "upload", "slowdown"):
        assert ("imgurbot_breaker_open", frozenset({("scope", scope)})) in after, scope
        assert value(after, "imgurbot_breaker_open", scope=scope) == 0
    assert world.emu.stats.api_calls == 1  # what the counters say Imgur saw


def test_two_bots_in_one_process_count_apart() -> None:
    one, two = BotMetrics(), BotMetrics()  # a shared registry would refuse the second
    one.imgur_call(
        ImgurCall(datetime.now(UTC), 1, 2, "frontpage", "GET", "/3/gallery", "frontpage", "imgur")
    )
    assert b'imgurbot_imgur_calls_total{kind="frontpage",scope="guild",verdict="imgur"} 1.0' in (
        one.scrape()
    )
    assert b"imgurbot_imgur_calls_total{" not in two.scrape()


async def test_healthz_is_healthy_then_not_when_the_database_refuses_writes(served) -> None:
    world, server = served
    status, content_type, text = await get(server.url + "/healthz")
    assert status == 200 and content_type.startswith("application/json")
    document = json.loads(text)
    assert document["healthy"] and document["problems"] == []
    assert document["gateway"]["connected"] and document["store"]["writable"]
    assert document["imgur"]["breakers_open"] == []

    # The database stops taking writes (as a full disk or a read-only remount would).
    await world.bot.store.run(lambda db: db.execute("PRAGMA query_only = 1"))
    try:
        status, _, text = await get(server.url + "/healthz")
    finally:
        await world.bot.store.run(lambda db: db.execute("PRAGMA query_only = 0"))
    document = json.loads(text)
    assert status == 503 and not document["healthy"]
    assert not document["store"]["writable"] and "readonly" in document["store"]["problem"]
    (problem,) = document["problems"]
    assert problem.startswith("the database refused a write:")

    status, _, _ = await get(server.url + "/healthz")
    assert status == 200  # healthy again once it takes writes


def test_gateway_latency_is_per_shard_and_skips_shards_not_connected() -> None:
    sharded = SimpleNamespace(latencies=[(0, 0.042), (1, math.inf), (3, 0.051)])
    assert gateway_latencies(sharded) == [(0, 0.042), (3, 0.051)]
    single = SimpleNamespace(shard_id=None, latency=0.03)
    assert gateway_latencies(single) == [(0, 0.03)]
    assert gateway_latencies(SimpleNamespace(shard_id=2, latency=math.nan)) == []


async def test_check_health_asks_healthz_when_the_metrics_port_is_on(served, capsys) -> None:
    world, server = served
    config = world.bot.config.model_copy(
        update={"metrics": MetricsSettings(host="0.0.0.0", port=server.port)}
    )
    assert await asyncio.to_thread(check_health, config) == 0
    assert f"healthy: connected to Discord's gateway, database writable ({server.url}" in (
        capsys.readouterr().out
    )

    await world.bot.store.run(lambda db: db.execute("PRAGMA query_only = 1"))
    try:
        assert await asyncio.to_thread(check_health, config) == 1
    finally:
        await world.bot.store.run(lambda db: db.execute("PRAGMA query_only = 0"))
    assert "imgurbot: unhealthy: the database refused a write:" in capsys.readouterr().err

    await server.stop()  # the bot is gone
    assert await asyncio.to_thread(check_health, config) == 1
    err = capsys.readouterr().err
    assert f"nothing answers on {server.url}/healthz" in err and "not running" in err


async def test_a_metrics_port_already_taken_is_said_in_words(served) -> None:
    world, server = served
    with pytest.raises(Failure) as caught:
        await MetricsServer(world.bot, server.heartbeat, "127.0.0.1", server.port).start()
    assert caught.value.status == ExitStatus.IN_USE
    first, todo = caught.value.lines
    assert first.startswith(f"cannot serve /metrics and /healthz on 127.0.0.1:{server.port}")
    assert "IMGURBOT_METRICS__PORT" in todo
