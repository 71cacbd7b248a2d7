"""What one bot process is doing, for Prometheus, and whether it is healthy, over HTTP.

``BotMetrics`` keeps its own ``CollectorRegistry`` (several bots in one process, as in the
tests, never share counters) and is fed by events that exist anyway:

- commands: ``ImgurTree._call`` wraps each slash command in ``command(interaction)``
  (name and outcome, time to the final answer); the first response is seen on its way to
  Discord, as discord.py's HTTP trace reports the interaction callback;
- Imgur: every ``ImgurCall`` of ``bot.activity`` (calls by scope, kind and verdict,
  requests sent and credits, cache hits, misses and stale answers);
- the ledger's refusals by scope (``Ledger.refusal_watchers``);
- read when scraped: the breakers open now and the gateway's latency per shard.

``MetricsServer`` serves ``/metrics`` (Prometheus text) and ``/healthz`` on ``[metrics]
host/port``: JSON built from a fresh heartbeat probe (``bot.health``: gateway connected, a
write to the database) and the ledger's breakers; 200 when healthy, 503 when not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import time
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from bot.activity import ImgurCall
from bot.errors import QuotaExceeded
from bot.failures import ExitStatus, Failure
from bot.health import HealthReport, judge

if TYPE_CHECKING:
    import discord

    from bot.app import ImgurBot
    from bot.config import MetricsSettings
    from bot.health import Heartbeat

log = logging.getLogger(__name__)

# Discord wants a first response within 3 s; a deferred answer may take up to 15 minutes.
FIRST_RESPONSE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)
FINAL_ANSWER_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)
# The breakers the ledger can open (``bot.ledger.book``), each reported even while closed.
BREAKER_SCOPES = ("client", "ip", "post", "upload", "slowdown")
# How an ImgurCall's verdict counts for the cache (GETs only).
CACHE_RESULTS = {
    "cache": "hit",
    "coalesced": "coalesced",
    "stale": "stale",
    "imgur": "miss",
    "failed": "miss",
    "refused": "miss",
}
_CALLBACK = re.compile(r"/interactions/(\d+)/[^/]+/callback$")


class BotMetrics:
    """Counters and histograms of one bot; ``registry`` is what ``/metrics`` shows."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.commands = Counter(
            "imgurbot_commands", "Slash commands finished, by name and outcome",
            ["command", "outcome"], registry=r,
        )  # fmt: skip
        self.first_response = Histogram(
            "imgurbot_command_first_response_seconds",
            "From a slash command's arrival to its first response (an answer or a defer)",
            ["command"], buckets=FIRST_RESPONSE_BUCKETS, registry=r,
        )  # fmt: skip
        self.final_answer = Histogram(
            "imgurbot_command_final_answer_seconds",
            "From a slash command's arrival to the end of its handling (its final answer)",
            ["command"], buckets=FINAL_ANSWER_BUCKETS, registry=r,
        )  # fmt: skip
        self.imgur_calls = Counter(
            "imgurbot_imgur_calls",
            "Calls made through the ledger, by scope (guild or scheduler), kind and verdict",
            ["scope", "kind", "verdict"], registry=r,
        )  # fmt: skip
        self.imgur_requests = Counter(
            "imgurbot_imgur_requests", "Requests sent to Imgur (retries included), by scope",
            ["scope", "kind"], registry=r,
        )  # fmt: skip
        self.imgur_credits = Counter(
            "imgurbot_imgur_credits", "Imgur credits counted by the ledger, by scope",
            ["scope", "kind"], registry=r,
        )  # fmt: skip
        self.cache = Counter(
            "imgurbot_cache_lookups",
            "Answers asked of the cache: hit, miss, stale (served past its TTL), coalesced "
            "(joined an identical call in flight)",
            ["result"], registry=r,
        )  # fmt: skip
        self.refusals = Counter(
            "imgurbot_ledger_refusals", "Charges the quota ledger refused, by scope",
            ["scope"], registry=r,
        )  # fmt: skip
        self._started: dict[int, tuple[str, float]] = {}  # interaction id -> (command, t0)

    # -- feeding ---------------------------------------------------------------------------

    def attach(self, bot: ImgurBot, trace: aiohttp.TraceConfig | None) -> None:
        """Listen to ``bot``'s Imgur activity, ledger and HTTP calls to Discord (``trace``:
        discord.py's ``http_trace``, without which first responses are not timed)."""
        bot.imgur.activity.watch(self.imgur_call)
        bot.ledger.refusal_watchers.append(self.refusal)
        if trace is not None:
            trace.on_request_end.append(self._on_discord_request)
        self.registry.register(_LiveState(bot))

    def imgur_call(self, event: ImgurCall) -> None:
        scope = "scheduler" if event.guild_id is None else "guild"
        self.imgur_calls.labels(scope, event.kind, event.verdict).inc()
        if event.attempts:
            self.imgur_requests.labels(scope, event.kind).inc(event.attempts)
        if event.credits:
            self.imgur_credits.labels(scope, event.kind).inc(event.credits)
        if event.method == "GET":
            self.cache.labels(CACHE_RESULTS.get(event.verdict, "miss")).inc()

    def refusal(self, refusal: QuotaExceeded) -> None:
        self.refusals.labels(refusal.scope).inc()

    @contextlib.contextmanager
    def command(self, interaction: discord.Interaction[Any]) -> Iterator[None]:
        """Around one slash command's handling: counted with its outcome (set by the error
        handler in ``interaction.extras["outcome"]``; ``ok`` otherwise) and timed."""
        command = _command_name(interaction)
        started = time.perf_counter()
        self._started[interaction.id] = (command, started)
        try:
            yield
        except BaseException:
            interaction.extras.setdefault("outcome", "error")
            raise
        finally:
            self._started.pop(interaction.id, None)
            self.final_answer.labels(command).observe(time.perf_counter() - started)
            self.commands.labels(command, interaction.extras.get("outcome", "ok")).inc()

    async def _on_discord_request(self, _session: Any, _context: Any, params: Any) -> None:
        match = _CALLBACK.search(params.url.path)
        if match is None:
            return
        started = self._started.pop(int(match.group(1)), None)  # the first callback only
        if started is not None:
            command, t0 = started
            self.first_response.labels(command).observe(time.perf_counter() - t0)

    def scrape(self) -> bytes:
        return generate_latest(self.registry)


def _command_name(interaction: discord.Interaction[Any]) -> str:
    command = interaction.command
    if command is not None:
        return command.qualified_name
    data = interaction.data or {}
    return str(data.get("name", "unknown"))


class _LiveState(Collector):
    """What is read at scrape time: the breakers open now, the gateway's latency."""

    def __init__(self, bot: ImgurBot) -> None:
        self._bot = bot

    def collect(self) -> Iterator[GaugeMetricFamily]:
        breakers = GaugeMetricFamily(
            "imgurbot_breaker_open",
            "1 while the ledger's breaker for this Imgur limit is open (calls stopped)",
            labels=["scope"],
        )
        open_now = set(self._bot.ledger.health().breakers_open)
        for scope in sorted(set(BREAKER_SCOPES) | open_now):
            breakers.add_metric([scope], 1.0 if scope in open_now else 0.0)
        yield breakers
        latency = GaugeMetricFamily(
            "imgurbot_gateway_latency_seconds",
            "Time between the gateway's heartbeat and its acknowledgement, per shard",
            labels=["shard"],
        )
        for shard, seconds in gateway_latencies(self._bot):
            latency.add_metric([str(shard)], seconds)
        yield latency


def gateway_latencies(bot: discord.Client) -> list[tuple[int, float]]:
    """(shard id, seconds) for each connected shard (one for an unsharded bot)."""
    pairs = getattr(bot, "latencies", None)
    if pairs is None:
        pairs = [(bot.shard_id or 0, bot.latency)]
    return [(shard, s) for shard, s in pairs if not (math.isnan(s) or math.isinf(s))]


# -- the HTTP side ------------------------------------------------------------------------------


def health_document(report: HealthReport, bot: ImgurBot) -> dict[str, Any]:
    """``/healthz``'s JSON: healthy when the gateway is connected and the database takes
    writes. Open breakers are reported, not judged: the bot is then doing its job (waiting
    for Imgur's limits to reset, serving from its cache), and a restart would not help."""
    problems = judge(report, report.at)
    ledger = bot.ledger.health()
    return {
        "healthy": not problems,
        "problems": problems,
        "pid": report.pid,
        "gateway": {
            "connected": report.gateway_connected,
            "since": report.gateway_since,
            "latency_ms": {str(k): round(v * 1000, 1) for k, v in gateway_latencies(bot)},
        },
        "store": {"writable": report.store_problem is None, "problem": report.store_problem},
        "imgur": {
            "breakers_open": list(ledger.breakers_open),
            "client_credits_left": ledger.client_credits_left,
            "used_today": ledger.used_today,
        },
    }


class MetricsServer:
    """``/metrics`` and ``/healthz`` for one bot on ``host:port`` (0: any free port)."""

    def __init__(self, bot: ImgurBot, heartbeat: Heartbeat, host: str, port: int) -> None:
        self.bot = bot
        self.heartbeat = heartbeat
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None
        self._probing: asyncio.Task[HealthReport] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> MetricsServer:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            raise Failure(
                ExitStatus.IN_USE,
                f"cannot serve /metrics and /healthz on {self.host}:{self.port}: "
                f"{exc.strerror or exc}",
                "choose a free [metrics] port (IMGURBOT_METRICS__PORT), or 0 to turn them off",
            ) from None
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        log.info("serving /metrics and /healthz on %s", self.url)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _metrics(self, _request: web.Request) -> web.Response:
        body = self.bot.metrics.scrape()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, _request: web.Request) -> web.Response:
        # Requests arriving together share one probe (one write to the database).
        if self._probing is None or self._probing.done():
            self._probing = asyncio.ensure_future(self.heartbeat.probe())
        report = await asyncio.shield(self._probing)
        document = health_document(report, self.bot)
        return web.json_response(document, status=200 if document["healthy"] else 503)


@contextlib.asynccontextmanager
async def serving(
    bot: ImgurBot, heartbeat: Heartbeat, settings: MetricsSettings
) -> AsyncIterator[MetricsServer | None]:
    """The server while the block runs when ``[metrics] port`` is set; else nothing."""
    if not settings.port:
        yield None
        return
    server = await MetricsServer(bot, heartbeat, settings.host, settings.port).start()
    try:
        yield server
    finally:
        await server.stop()


def healthz_url(settings: MetricsSettings) -> str:
    """Where this machine reaches ``/healthz`` (a wildcard address is reached on loopback)."""
    host = settings.host
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}/healthz"


def ask_healthz(settings: MetricsSettings, timeout_s: float = 8.0) -> tuple[list[str], str, bool]:
    """``imgurbot check --health`` with ``[metrics] port`` set: (problems, the words for a
    healthy bot, whether the database was judged). Blocking: the check is a process of its
    own (the Docker HEALTHCHECK)."""
    import json
    import urllib.error
    import urllib.request

    url = healthz_url(settings)
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            document = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            document = json.loads(exc.read())
        except ValueError:
            return [f"{url} answered {exc.code}, not the bot's health"], "", False
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        return (
            [
                f"nothing answers on {url} ({reason}): the bot is not running, or has not "
                "finished starting"
            ],
            "",
            False,
        )
    problems = [str(p) for p in document.get("problems", [])]
    if not document.get("healthy") and not problems:
        problems = [f"{url} says the bot is unhealthy"]
    store = document.get("store") or {}
    words = (
        f"healthy: connected to Discord's gateway, database writable ({url}, "
        f"pid {document.get('pid')})"
    )
    return problems, words, bool(store.get("problem"))
