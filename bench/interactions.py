"""Time to the first response under a burst of slash commands, with a slow Imgur.

    python -m bench.interactions [--quick] [--commands N] [--latency S] [--emulator-in-process]

The real bot (``open_bot``, the same as ``imgurbot run``) runs against the fake Discord and
the Imgur emulator, with Imgur answering every call 300 ms late. N slash commands (500 by
default; a mix of ``/imgur frontpage``, ``search``, ``tag`` and ``random``, each from a
different member, spread over 50 guilds, per-user cooldown off) are dispatched as
INTERACTION_CREATE events all at once. Measured per command, from the fake Discord's own
records:

- time to the first response: from dispatching INTERACTION_CREATE to the fake receiving the
  first interaction callback (the bot's defer), p50 and p99;
- time to the final answer (the deferral resolved), p50 and p99, for information;

and, while the burst runs, the event loop's lag: how late a ticker's ``asyncio.sleep(0.01)``
wakes (p50, p99, max). The bot and the fake Discord share this process and its loop (the
fake's test API is in-process); the emulator runs in its own process by default, because on
the shared loop its search and listing work (about 15 ms a search) is charged to the bot.
``--emulator-in-process`` puts it back on the loop.

Prints a table and ends with one line of JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import os
import random
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import discord

from bot.app import ImgurBot, open_bot
from bot.config import Config, load_config
from fakes.discord import FakeDiscord, InteractionRecord
from fakes.discord.models import Channel, User
from fakes.imgur.app import READY_LINE, Emulator, EmulatorConfig

TOKEN = "bench-discord-token"
CLIENT_ID = "bench-imgur-client"
GUILDS = 50
IMGUR_LATENCY_S = 0.3
SEED = 5
ROOT = Path(__file__).resolve().parents[1]
WORDS = (
    "cat", "dog", "robot", "castle", "sandwich", "mountain", "bicycle", "dragon", "sunset",
    "coffee", "train", "forest", "pizza", "space", "ocean", "winter", "guitar", "city",
)  # fmt: skip


# -- Imgur: the emulator, in this process or its own -----------------------------------------


@asynccontextmanager
async def emulator_in_process(seed: int) -> AsyncIterator[tuple[str, list[str]]]:
    async with Emulator(EmulatorConfig(seed=seed, latency=IMGUR_LATENCY_S)) as emu:
        yield emu.base_url, sorted(emu.data.tags)


@asynccontextmanager
async def emulator_process(seed: int) -> AsyncIterator[tuple[str, list[str]]]:
    cmd = [
        sys.executable, "-m", "fakes.imgur", "--host", "127.0.0.1", "--port", "0",
        "--seed", str(seed), "--latency", str(IMGUR_LATENCY_S),
    ]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        *cmd, cwd=ROOT, stdout=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    try:
        assert proc.stdout is not None
        pattern = re.escape(READY_LINE).replace(re.escape("{url}"), r"(\S+)")
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        match = re.search(pattern, line)
        if match is None:
            raise RuntimeError(f"the emulator did not start: {line!r}")
        from fakes.imgur.data import generate_catalogue

        tags = sorted(generate_catalogue(seed).tags)  # same seed, same catalogue
        yield match.group(1), tags
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


# -- the bot ---------------------------------------------------------------------------------


def shim_paginator_refresh() -> bool:
    """Work around a bug in ``bot/views.py`` (reported, not ours to fix) so the burst can run.

    ``Paginator._refresh(self)`` shadows discord.py's ``View._refresh(self, components)``,
    which discord.py calls on every MESSAGE_UPDATE for a message carrying a live view; the
    TypeError escapes the gateway's event handler and stops the bot. Returns whether the shim
    was needed (the bug is still there).
    """
    from bot.views import Paginator

    if len(inspect.signature(Paginator._refresh).parameters) != 1:
        return False
    own = Paginator._refresh

    def _refresh(self: Paginator, components: Any = None) -> None:
        if components is None:
            own(self)
        else:
            discord.ui.View._refresh(self, components)

    Paginator._refresh = _refresh  # type: ignore[method-assign]
    return True


def make_config(fd: FakeDiscord, imgur_url: str, dev_guild_id: str, db: Path) -> Config:
    env = {
        "DISCORD_TOKEN": TOKEN,
        "IMGUR_CLIENT_ID": CLIENT_ID,
        "IMGURBOT_DISCORD__API_BASE_URL": fd.rest_url,
        "IMGURBOT_DISCORD__GATEWAY_URL": fd.gateway_url,
        "IMGURBOT_DISCORD__DEV_GUILD_ID": dev_guild_id,
        "IMGURBOT_DISCORD__COOLDOWN_PER_USER_S": "0",
        "IMGURBOT_IMGUR__API_BASE_URL": imgur_url,
        "IMGURBOT_IMGUR__USE_EMULATOR": "never",
        "IMGURBOT_STORE__PATH": f'"{db}"',
        "IMGURBOT_LOGGING__LEVEL": "WARNING",
    }
    return load_config(None, env)


@asynccontextmanager
async def running_bot(config: Config, fd: FakeDiscord) -> AsyncIterator[ImgurBot]:
    async with open_bot(config, guild_ready_timeout=0.05) as bot:
        task = asyncio.create_task(bot.start(TOKEN))
        try:
            await fd.wait_until_ready(timeout=30)
            await asyncio.wait_for(bot.wait_until_ready(), 30)
            # The dev guild got the commands at start-up; members elsewhere need them global.
            await bot.tree.sync()
            yield bot
        finally:
            await bot.close()
            await asyncio.wait_for(task, 15)


# -- the burst -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    path: tuple[str, ...]
    options: dict[str, Any]
    user: User
    channel: Channel

    @property
    def name(self) -> str:
        return self.path[-1]


def plan_commands(n: int, users: list[User], channels: list[Channel], tags: list[str]):
    rng = random.Random(SEED)
    planned = []
    for i in range(n):
        roll = rng.random()
        if roll < 0.3:
            options = {}
            if rng.random() < 0.5:
                options = {
                    "section": rng.choice(("hot", "top", "user")),
                    "sort": rng.choice(("viral", "top", "time")),
                }
            path = ("frontpage",)
        elif roll < 0.6:
            path = ("search",)
            options = {"query": f"{rng.choice(WORDS)} {rng.choice(WORDS)}"}
        elif roll < 0.8:
            path = ("tag",)
            options = {"name": rng.choice(tags)}
        else:
            path = ("random",)
            options = {"tag": rng.choice(tags)} if rng.random() < 0.5 else {}
        planned.append(Planned(path, options, users[i], channels[i % len(channels)]))
    return planned


@dataclass
class LagTicker:
    """How late ``asyncio.sleep(0.01)`` wakes, sampled back to back."""

    interval: float = 0.01
    samples: list[float] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(self.interval)
            self.samples.append(max(0.0, time.perf_counter() - start - self.interval))

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100), in the values' unit."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-p * len(ordered) // 100))))
    return ordered[rank - 1]


@dataclass
class Outcome:
    first_ms: list[float]
    final_ms: list[float]
    lag_ms: list[float]
    deferred: int
    unanswered: int
    private: Counter  # answered with a private note (nothing found, an error) instead of pages
    rejected: int
    burst_wall_s: float
    cpu_s: float
    imgur_calls: int


def _request_times(fd: FakeDiscord, records: list[InteractionRecord]):
    """When the fake received each interaction's first callback (accepted or refused as too
    late) and its first accepted followup or edit."""
    by_token = {r.token: r for r in records}
    first: dict[str, float] = {}
    final: dict[str, float] = {}
    for req in fd.world.requests:
        if req.method == "GET":
            continue
        parts = req.path.split("/")
        # /interactions/{id}/{token}/callback or /webhooks/{app}/{token}/...
        # A callback refused for coming after Discord's 3 s still counts, late, as the first
        # response, so a slow burst cannot drop its worst cases from the percentiles.
        if len(parts) > 3 and parts[1] == "interactions" and parts[-1] == "callback":
            token = parts[3]
            if token in by_token and token not in first:
                first[token] = req.at
        elif (
            req.status < 300 and len(parts) > 3 and parts[1] == "webhooks" and parts[3] in by_token
        ):
            final.setdefault(parts[3], req.at)
    return first, final


async def run_burst(n: int, emulator_process: bool) -> Outcome:
    async with AsyncExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-inter-")))
        imgur_url, tags = await stack.enter_async_context(
            emulator_process_cm(emulator_process)(SEED)
        )
        fd = await stack.enter_async_context(FakeDiscord(token=TOKEN))
        guilds = [fd.add_guild(f"guild-{g}") for g in range(GUILDS)]
        channels = [fd.add_channel(g, "general") for g in guilds]
        users = [fd.add_user(f"member-{i}") for i in range(n)]
        config = make_config(fd, imgur_url, guilds[0].id, tmp / "imgurbot.db")
        bot = await stack.enter_async_context(running_bot(config, fd))
        planned = plan_commands(n, users, channels, tags)

        # Warm the path once (first-use imports, connection set-up), outside the measurement.
        warm = await fd.slash("imgur", "quota", user=users[0], channel=channels[0])
        await warm.wait_done(timeout=30)
        await asyncio.sleep(0.2)
        calls_before = _imgur_calls(bot)

        ticker = LagTicker()
        ticker.start()
        await asyncio.sleep(0.1)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        records = await asyncio.gather(
            *(fd.slash("imgur", *p.path, options=p.options, user=p.user, channel=p.channel)
              for p in planned)
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while not all(r.is_done() or r.rejected for r in records):
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.02)
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
        await ticker.stop()

        first, final = _request_times(fd, records)
        first_ms = [(first[r.token] - r.dispatched_at) * 1000 for r in records if r.token in first]
        final_ms = [(final[r.token] - r.dispatched_at) * 1000 for r in records if r.token in final]
        private = Counter(
            (r.last_message.content or "").split("“")[0][:40]
            for r in records
            if r.last_message is not None and r.last_message.ephemeral and not r.last_message.embeds
        )
        calls_after = _imgur_calls(bot)
        return Outcome(
            first_ms=first_ms,
            final_ms=final_ms,
            lag_ms=[s * 1000 for s in ticker.samples],
            deferred=sum(1 for r in records if r.deferred),
            unanswered=sum(1 for r in records if not r.acknowledged),
            private=private,
            rejected=sum(1 for r in records if r.rejected),
            burst_wall_s=wall,
            cpu_s=cpu,
            imgur_calls=calls_after - calls_before,
        )


def emulator_process_cm(separate: bool):
    return emulator_process if separate else emulator_in_process


def _imgur_calls(bot: ImgurBot) -> int:
    """Imgur credits the bot's ledger has counted today (the emulator may be elsewhere)."""
    return int(bot.ledger.health().used_today)


# -- report ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    global IMGUR_LATENCY_S
    parser = argparse.ArgumentParser(prog="python -m bench.interactions", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100 commands instead of 500")
    parser.add_argument("--commands", type=int, default=None, help="how many (default 500)")
    parser.add_argument(
        "--emulator-in-process",
        action="store_true",
        help="run the emulator on the bot's loop (its search costs ~15 ms a call there)",
    )
    parser.add_argument(
        "--latency", type=float, default=IMGUR_LATENCY_S, help="seconds Imgur adds per call"
    )
    args = parser.parse_args(argv)
    IMGUR_LATENCY_S = args.latency
    n = args.commands or (100 if args.quick else 500)
    shimmed = shim_paginator_refresh()

    out = asyncio.run(run_burst(n, not args.emulator_in_process))

    where = "this process" if args.emulator_in_process else "its own process"
    speed = "orjson" if discord.utils.HAS_ORJSON else "json"
    print(
        f"interactions: {n} concurrent slash commands over {GUILDS} guilds, Imgur +"
        f"{IMGUR_LATENCY_S * 1000:.0f} ms per call, emulator in {where}, discord.py uses {speed}"
    )
    rows = [
        ("first response (defer), ms", out.first_ms),
        ("final answer, ms", out.final_ms),
        ("event-loop lag, ms", out.lag_ms),
    ]
    print(f"  {'':30} {'n':>6} {'p50':>9} {'p90':>9} {'p99':>9} {'max':>9}")
    for label, values in rows:
        if not values:
            print(f"  {label:30} {0:>6}")
            continue
        print(
            f"  {label:30} {len(values):>6} {pct(values, 50):>9.1f} {pct(values, 90):>9.1f}"
            f" {pct(values, 99):>9.1f} {max(values):>9.1f}"
        )
    print(f"  deferred {out.deferred}/{n}, unanswered {out.unanswered}, rejected callbacks "
          f"{out.rejected}, answered with a private note {sum(out.private.values())}")  # fmt: skip
    for text, count in out.private.most_common(5):
        print(f"    {count:>4} x {text!r}")
    print(
        f"  burst wall {out.burst_wall_s:.2f} s, CPU of this process {out.cpu_s:.2f} s, "
        f"Imgur credits granted by the ledger {out.imgur_calls}"
    )
    figures = {
        "commands": n,
        "p50_first_response_ms": round(pct(out.first_ms, 50), 1),
        "p99_first_response_ms": round(pct(out.first_ms, 99), 1),
        "max_first_response_ms": round(max(out.first_ms, default=float("nan")), 1),
        "p50_final_ms": round(pct(out.final_ms, 50), 1),
        "p99_final_ms": round(pct(out.final_ms, 99), 1),
        "loop_lag_p50_ms": round(pct(out.lag_ms, 50), 1),
        "loop_lag_p99_ms": round(pct(out.lag_ms, 99), 1),
        "loop_lag_max_ms": round(max(out.lag_ms, default=float("nan")), 1),
        "unanswered": out.unanswered,
        "rejected_callbacks": out.rejected,
        "answered_privately": sum(out.private.values()),
        "emulator_in_process": args.emulator_in_process,
        "orjson": bool(discord.utils.HAS_ORJSON),
        "cpu_s": round(out.cpu_s, 2),
    }
    if shimmed:
        print(
            "  NOTE: bot/views.py Paginator._refresh() shadows discord.py's View._refresh("
            "components) and crashes the gateway on MESSAGE_UPDATE; shimmed for this run"
        )
    figures["paginator_refresh_bug_shimmed"] = shimmed
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
