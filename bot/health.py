"""Is the running bot healthy? Connected to Discord's gateway, and its database taking writes.

The running bot takes a ``HealthReport`` every ``[run] heartbeat_s``: whether the gateway is
connected (and since when), and whether a small write to the database just succeeded. It
publishes the report as a JSON file beside the database (``<db>.health.json``, replaced
atomically) and removes it when it stops. ``imgurbot check --health``, the Docker
HEALTHCHECK, reads that file from another process and ``judge``s it: no file, a stale one
(the bot is stuck or gone), a disconnected gateway or a database that refused the write are
each one sentence and an unhealthy answer.

The report is the unit, not the file: the ``[metrics]`` port planned for scale-out serves
the same report at ``/healthz``; only ``publish`` changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot.clock import Clock
from bot.store import Schema, StoreUnavailable

if TYPE_CHECKING:
    from bot.app import ImgurBot
    from bot.config import StoreSettings

log = logging.getLogger(__name__)

# One row the heartbeat rewrites: proof that a write reaches the database.
MIGRATIONS = Schema(
    "health",
    [
        (
            "m001_heartbeat",
            [
                "CREATE TABLE IF NOT EXISTS heartbeat "
                "(id INTEGER PRIMARY KEY, at DOUBLE PRECISION, pid INTEGER)"
            ],
        )
    ],
)


@dataclass(frozen=True)
class HealthReport:
    pid: int
    at: float  # unix seconds when taken
    interval_s: float
    gateway_connected: bool
    gateway_since: float  # when the gateway last connected or disconnected
    store_problem: str | None  # None: the heartbeat's write went through

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> HealthReport:
        return cls(**json.loads(text))


def health_path(store: StoreSettings) -> Path:
    """Where the running bot writes its health: beside the SQLite file; on PostgreSQL,
    beside where that file would be, one per process (several may share a machine)."""
    database = Path(store.path)
    if store.url:
        return database.with_name(f"{store.member_name}.health.json")
    return database.with_name(database.name + ".health.json")


def read_report(path: Path) -> HealthReport | None:
    """The last report, or None when there is none (or it cannot be read)."""
    try:
        return HealthReport.from_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def _ago(seconds: float) -> str:
    return f"{seconds:.0f} s ago" if seconds >= 1 else "just now"


def judge(report: HealthReport | None, now: float) -> list[str]:
    """Why the bot is unhealthy, one sentence each; an empty list means healthy."""
    if report is None:
        return ["no health record: the bot is not running, or has not finished starting"]
    if not _alive(report.pid):
        return [f"the bot (pid {report.pid}) is not running any more"]
    # Three missed beats (and a second of slack for a busy machine) mean stuck or gone.
    if now - report.at > 3 * report.interval_s + 1:
        return [f"the last heartbeat was {_ago(now - report.at)}: the bot is stuck"]
    problems = []
    if not report.gateway_connected:
        problems.append(
            f"not connected to Discord's gateway (since {_ago(now - report.gateway_since)})"
        )
    if report.store_problem:
        problems.append(f"the database refused a write: {report.store_problem}")
    return problems


def describe_healthy(report: HealthReport, now: float) -> str:
    return (
        f"healthy: connected to Discord's gateway, database writable "
        f"(heartbeat {_ago(now - report.at)}, pid {report.pid})"
    )


class Heartbeat:
    """Probe the bot every ``interval_s`` and publish the report; remove it when stopped."""

    def __init__(self, bot: ImgurBot, path: Path, interval_s: float, clock: Clock) -> None:
        self.bot = bot
        self.path = path
        self.interval_s = interval_s
        self.clock = clock
        # Connected already if started after READY (the listeners below see what follows).
        self.connected = bot.is_ready() and not bot.is_closed()
        self.since = clock.now().timestamp()
        self._task: asyncio.Task[None] | None = None
        self._publish_failed = False
        self._changed = asyncio.Event()  # a connection change is published at once
        bot.add_listener(self._connected, "on_ready")
        bot.add_listener(self._connected, "on_resumed")
        # A shard that had to IDENTIFY again gets "shard_ready", not "ready" (discord.py).
        bot.add_listener(self._connected, "on_shard_ready")
        bot.add_listener(self._disconnected, "on_disconnect")

    async def _connected(self, *_shard_id: int) -> None:
        # With several shards, connected means all of them (one down is a silent server).
        if not self.connected and self.bot.gateway_open():
            self.connected, self.since = True, self.clock.now().timestamp()
            self._changed.set()

    async def _disconnected(self) -> None:
        if self.connected:
            self.connected, self.since = False, self.clock.now().timestamp()
            self._changed.set()

    async def probe(self) -> HealthReport:
        """The bot's health now; writes one row to the database to prove it takes writes."""
        now = self.clock.now().timestamp()
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
            # cancellation that arrives as the write completes, and stop() would never end.
            async with asyncio.timeout(max(self.interval_s, 5.0)):
                await self.bot.store.execute(
                    "INSERT INTO heartbeat (id, at, pid) VALUES (1, ?, ?) ON CONFLICT (id) "
                    "DO UPDATE SET at = excluded.at, pid = excluded.pid",
                    now, os.getpid(),
                )  # fmt: skip
            problem = None
        except Exception as exc:  # any failure to write is the finding, not a crash
            problem = await asyncio.to_thread(self._explain_store, exc)
        return HealthReport(
            pid=os.getpid(),
            at=now,
            interval_s=self.interval_s,
            gateway_connected=self.connected and not self.bot.is_closed(),
            gateway_since=self.since,
            store_problem=problem,
        )

    def _explain_store(self, exc: BaseException) -> str:
        from bot.preflight import diagnose_store

        failure = diagnose_store(self.bot.store.settings, self.bot.config.secrets.pgpassword)
        if failure is not None:
            return failure.lines[0]
        if isinstance(exc, StoreUnavailable):  # already in words; the engine's own beside
            return f"{exc.reason} ({exc.error})"
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__

    def publish(self, report: HealthReport) -> None:
        temporary = self.path.with_name(self.path.name + ".tmp")
        try:
            temporary.write_text(report.to_json(), encoding="utf-8")
            os.replace(temporary, self.path)
            self._publish_failed = False
        except OSError as exc:
            if not self._publish_failed:  # once, not every beat
                log.warning("cannot write the health record %s: %s", self.path, exc)
            self._publish_failed = True

    async def start(self) -> None:
        await self.bot.store.apply(MIGRATIONS)
        self._task = asyncio.create_task(self._beat_forever(), name="heartbeat")

    async def _beat_forever(self) -> None:
        last_problem = None
        while True:
            report = await self.probe()
            if report.store_problem and report.store_problem != last_problem:
                log.error("health: the database refused a write: %s", report.store_problem)
            elif last_problem and not report.store_problem:
                log.info("health: the database takes writes again")
            last_problem = report.store_problem
            self.publish(report)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval_s):
                    await self._changed.wait()
            self._changed.clear()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(OSError):
            self.path.unlink()
