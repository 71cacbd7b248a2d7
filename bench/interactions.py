"""Time to the first response under a burst of slash commands, with a slow Imgur.

    python -m bench.interactions [--quick] [--commands N] [--runs R] [--latency S]
                                 [--emulator-in-process] [--profile-bot FILE]

The real bot (``open_bot``, the same as ``imgurbot run``) runs against the fake Discord and
the Imgur emulator, with Imgur answering every call 300 ms late. N slash commands (500 by
default; a mix of ``/imgur frontpage``, ``search``, ``tag`` and ``random``, each from a
different member, spread over 50 guilds, per-user cooldown off) are dispatched as
INTERACTION_CREATE events all at once. Measured per command, from the fake Discord's own
records:

- time to the first response: from dispatching INTERACTION_CREATE to the fake receiving the
  first interaction callback (the bot's defer), p50 and p99;
- time to the final answer (the deferral resolved), p50 and p99, for information;

and, while the burst runs, the bot's event-loop lag: how late a ticker's
``asyncio.sleep(0.01)`` wakes (p50, p99).

Three processes, as in production where Discord and Imgur are not on the bot's CPU: the
fake Discord in this one (its test API is in-process), the bot in its own (``--bot-child``,
configured through the environment like ``imgurbot run``), and the emulator in its own
(``--emulator-in-process`` puts it on this process's loop instead). The machine is shared
and noisy, so the burst is run three times on a fresh bot each time and the JSON line holds
the medians across runs (and each run's p99). The time is measured where the fake Discord
records the callback, so the fake's own request handling (one Python process serving 500
callbacks at once) is part of it.

Prints a table and ends with one line of JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import re
import signal
import statistics
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

from bot.app import open_bot
from bot.config import load_config
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
async def emulator_process(
    seed: int, latency: float = IMGUR_LATENCY_S
) -> AsyncIterator[tuple[str, list[str]]]:
    cmd = [
        sys.executable, "-m", "fakes.imgur", "--host", "127.0.0.1", "--port", "0",
        "--seed", str(seed), "--latency", str(latency),
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


def bot_env(fd: FakeDiscord, imgur_url: str, dev_guild_id: str, db: Path) -> dict[str, str]:
    return {
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


BOT_READY = "bench bot ready"


async def bot_child(lag_file: Path) -> None:
    """The bot in its own process (as in production: Discord is not on our CPU).

    Configured from the environment like ``imgurbot run``; samples its own event-loop lag
    (wall-clock stamped, so the parent can keep the burst's window) until SIGTERM.
    """
    config = load_config(None)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with open_bot(config, guild_ready_timeout=0.05) as bot:
        task = asyncio.create_task(bot.start(TOKEN))
        await asyncio.wait_for(bot.wait_until_ready(), 60)
        # The dev guild got the commands at start-up; members elsewhere need them global.
        await bot.tree.sync()
        ticker = LagTicker()
        ticker.start()
        print(BOT_READY, flush=True)
        await stop.wait()
        await ticker.stop()
        await asyncio.to_thread(lag_file.write_text, json.dumps(ticker.samples))
        await bot.close()
        await asyncio.wait_for(task, 15)


@asynccontextmanager
async def running_bot(
    env: dict[str, str], lag_file: Path, profile_to: Path | None = None
) -> AsyncIterator[asyncio.subprocess.Process]:
    profile = ["-m", "cProfile", "-o", str(profile_to)] if profile_to else []
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *profile, "-m", "bench.interactions", "--bot-child", str(lag_file),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, env={**os.environ, **env},
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        if BOT_READY not in line:
            raise RuntimeError(f"the bot did not start: {line!r}")
        yield proc
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except TimeoutError:
                proc.kill()
                await proc.wait()


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
    samples: list[tuple[float, float]] = field(default_factory=list)  # (when, how late)
    _task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(self.interval)
            late = max(0.0, time.perf_counter() - start - self.interval)
            self.samples.append((time.time(), late))

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
    dispatch_span_ms: float


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


async def run_burst(n: int, emulator_process: bool, profile_to: Path | None = None) -> Outcome:
    async with AsyncExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-inter-")))
        imgur_url, tags = await stack.enter_async_context(
            emulator_process_cm(emulator_process)(SEED)
        )
        fd = await stack.enter_async_context(FakeDiscord(token=TOKEN))
        guilds = [fd.add_guild(f"guild-{g}") for g in range(GUILDS)]
        channels = [fd.add_channel(g, "general") for g in guilds]
        users = [fd.add_user(f"member-{i}") for i in range(n)]
        env = bot_env(fd, imgur_url, guilds[0].id, tmp / "imgurbot.db")
        lag_file = tmp / "lag.json"
        bot = await stack.enter_async_context(running_bot(env, lag_file, profile_to))
        planned = plan_commands(n, users, channels, tags)

        # Warm the path once (first-use imports, connection set-up), outside the measurement.
        warm = await fd.slash("imgur", "quota", user=users[0], channel=channels[0])
        await warm.wait_done(timeout=30)
        await asyncio.sleep(0.2)
        cpu0, wall0, epoch0 = time.process_time(), time.perf_counter(), time.time()
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
        epoch1 = time.time()
        bot.send_signal(signal.SIGTERM)
        await asyncio.wait_for(bot.wait(), 30)
        lag = [late for at, late in json.loads(lag_file.read_text()) if epoch0 <= at <= epoch1]

        first, final = _request_times(fd, records)
        sent = sorted(r.dispatched_at for r in records)
        first_ms = [(first[r.token] - r.dispatched_at) * 1000 for r in records if r.token in first]
        final_ms = [(final[r.token] - r.dispatched_at) * 1000 for r in records if r.token in final]
        private = Counter(
            (r.last_message.content or "").split("“")[0][:40]
            for r in records
            if r.last_message is not None and r.last_message.ephemeral and not r.last_message.embeds
        )
        return Outcome(
            first_ms=first_ms,
            final_ms=final_ms,
            lag_ms=[s * 1000 for s in lag],
            deferred=sum(1 for r in records if r.deferred),
            unanswered=sum(1 for r in records if not r.acknowledged),
            private=private,
            rejected=sum(1 for r in records if r.rejected),
            burst_wall_s=wall,
            cpu_s=cpu,
            dispatch_span_ms=(sent[-1] - sent[0]) * 1000,
        )


def emulator_process_cm(separate: bool):
    return emulator_process if separate else emulator_in_process


# -- report ----------------------------------------------------------------------------------


def describe_run(i: int, n: int, out: Outcome) -> dict[str, float]:
    print(
        f"run {i}: deferred {out.deferred}/{n}, unanswered {out.unanswered}, rejected callbacks "
        f"{out.rejected}, answered with a private note {sum(out.private.values())}, "
        f"INTERACTION_CREATEs sent over {out.dispatch_span_ms:.0f} ms, burst wall "
        f"{out.burst_wall_s:.2f} s, fake Discord CPU {out.cpu_s:.2f} s"
    )
    print(f"  {'':30} {'n':>6} {'p50':>9} {'p90':>9} {'p99':>9} {'max':>9}")
    for label, values in (
        ("first response (defer), ms", out.first_ms),
        ("final answer, ms", out.final_ms),
        ("bot event-loop lag, ms", out.lag_ms),
    ):
        if not values:
            print(f"  {label:30} {0:>6}")
            continue
        print(
            f"  {label:30} {len(values):>6} {pct(values, 50):>9.1f} {pct(values, 90):>9.1f}"
            f" {pct(values, 99):>9.1f} {max(values):>9.1f}"
        )
    for text, count in out.private.most_common(3):
        print(f"    {count:>4} x {text!r}")
    return {
        "p50_first_response_ms": pct(out.first_ms, 50),
        "p99_first_response_ms": pct(out.first_ms, 99),
        "max_first_response_ms": max(out.first_ms, default=float("nan")),
        "p50_final_ms": pct(out.final_ms, 50),
        "p99_final_ms": pct(out.final_ms, 99),
        "loop_lag_p50_ms": pct(out.lag_ms, 50),
        "loop_lag_p99_ms": pct(out.lag_ms, 99),
        "unanswered": out.unanswered,
        "rejected_callbacks": out.rejected,
    }


def main(argv: list[str] | None = None) -> None:
    global IMGUR_LATENCY_S
    parser = argparse.ArgumentParser(prog="python -m bench.interactions", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100 commands, one run")
    parser.add_argument("--commands", type=int, default=None, help="how many (default 500)")
    parser.add_argument("--runs", type=int, default=None, help="bursts, each on a fresh bot (3)")
    parser.add_argument(
        "--emulator-in-process",
        action="store_true",
        help="run the emulator on the bot's loop (its search costs ~15 ms a call there)",
    )
    parser.add_argument(
        "--latency", type=float, default=IMGUR_LATENCY_S, help="seconds Imgur adds per call"
    )
    parser.add_argument(
        "--profile-bot", type=Path, default=None, help="write a cProfile of the bot's process"
    )
    parser.add_argument("--bot-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.bot_child:
        asyncio.run(bot_child(args.bot_child))
        return
    IMGUR_LATENCY_S = args.latency
    n = args.commands or (100 if args.quick else 500)
    runs = args.runs or (1 if args.quick else 3)

    where = "this process" if args.emulator_in_process else "its own process"
    speed = "orjson" if discord.utils.HAS_ORJSON else "json"
    print(
        f"interactions: {n} concurrent slash commands over {GUILDS} guilds, Imgur +"
        f"{IMGUR_LATENCY_S * 1000:.0f} ms per call; bot in its own process, emulator in "
        f"{where}, discord.py uses {speed}; {runs} run(s), medians across runs at the end"
    )
    results = []
    for i in range(1, runs + 1):
        out = asyncio.run(run_burst(n, not args.emulator_in_process, args.profile_bot))
        results.append(describe_run(i, n, out))
        del out
        gc.collect()  # each run starts clean: the last one's fake Discord is garbage now
    figures: dict[str, object] = {"commands": n, "runs": runs}
    for key in results[0]:
        values = [r[key] for r in results]
        figures[key] = round(statistics.median(values), 1)
        if key == "p99_first_response_ms":
            figures["p99_first_response_ms_each_run"] = [round(v, 1) for v in values]
    figures["emulator_in_process"] = args.emulator_in_process
    figures["orjson"] = bool(discord.utils.HAS_ORJSON)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
