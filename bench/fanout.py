"""Scheduled highlights fanning out: 5,000 feeds due in the same minute.

    python -m bench.fanout [--quick] [--feeds N] [--sources S] [--imgur-latency SECONDS]

5,000 feeds (``--quick``: 500) in as many channels (25 a server) are due at 09:00, reading
100 distinct Imgur sources (front-page sections, sorts and windows, and tags). The fake
Discord enforces Discord's global limit of 50 requests a second and answers a burst beyond
it with real 429s; the Imgur emulator (in its own process, answering in 0.3 s as Imgur does
by default) counts the calls it gets. Imgur's latency only delays the first post.

Three processes, as in production where Discord and Imgur are not on the bot's CPU: this
one runs the fake Discord and seeds the feeds table, the emulator runs in its own, and the
bot (``open_bot``, the same as ``imgurbot run``) in its own (``--bot-child``), on a fake
clock set to 09:00 when told to go; it then calls ``bot.highlights.run_due()`` (what the
scheduler's wake does).

Measured: Imgur calls made (the target is one per distinct source), the time from the run's
start to its last post (the global limit allows 100 s for 5,000 at best; the bot paces
itself at ``discord_posts_per_second``), 429s the fake Discord sent, and the bot's
event-loop lag during the run (how late a 10 ms ticker wakes, p50/p99/max). The fake
Discord counts its global limit in one-second windows by when it admits a request, so a
pause of its own (this process descheduled on a busy machine) lets a backlog in at once;
its own lag is reported too, to tell such 429s from the bot's.

Prints a table and ends with one line of JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from bench.interactions import (
    IMGUR_LATENCY_S,
    ROOT,
    TOKEN,
    LagTicker,
    bot_env,
    emulator_process,
    pct,
)
from bot.app import open_bot
from bot.clock import FakeClock
from bot.config import StoreSettings, load_config
from bot.highlights import FeedSettings, Source
from bot.highlights.feeds import Feeds
from bot.store import Store
from fakes.discord import FakeDiscord

NINE = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CHANNELS_PER_GUILD = 25  # the default [highlights] max_feeds_per_guild
GLOBAL_LIMIT = 50
SEED = 3
BOT_READY = "fanout bot ready"
GO = "go"


def distinct_sources(count: int, tags: list[str]) -> list[Source]:
    """``count`` sources Imgur answers differently (distinct request paths)."""
    sources = [Source("user", "rising")]
    for section in ("hot", "top", "user"):
        sources += [Source(section, "viral"), Source(section, "time")]
        sources += [Source(section, "top", w) for w in ("day", "week", "month", "year", "all")]
    for sort, window in (("viral", "all"), ("top", "all"), ("time", "all")):
        sources += [Source(tag=tag, sort=sort, window=window) for tag in tags]
    chosen = sources[:count]
    if len({s.key for s in chosen}) != count:
        raise SystemExit(f"only {len({s.key for s in chosen})} distinct sources could be made")
    return chosen


# -- the bot, in its own process ---------------------------------------------------------------


async def bot_child() -> None:
    """Start the bot before 09:00, say so, and on "go" run what is due at 09:00."""
    config = load_config(None)
    clock = FakeClock(NINE - timedelta(minutes=1))
    async with open_bot(config, clock=clock, guild_ready_timeout=0.05) as bot:
        task = asyncio.create_task(bot.start(TOKEN))
        await asyncio.wait_for(bot.wait_until_ready(), 120)
        # The benchmark drives the engine itself; real-time timers must not join in.
        bot.scheduler.pause()
        print(BOT_READY, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        ticker = LagTicker()
        ticker.start()
        clock.set(NINE)
        started, cpu_before = time.perf_counter(), time.process_time()
        report = await bot.highlights.run_due()
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu_before
        await ticker.stop()
        lags = [late for _, late in ticker.samples]
        result = {
            "seconds": seconds,
            "cpu_s": cpu,
            "posted": report.posted,
            "empty": report.empty,
            "sources_fetched": report.sources,
            "lag_p50_ms": pct(lags, 50) * 1000,
            "lag_p99_ms": pct(lags, 99) * 1000,
            "lag_max_ms": max(lags, default=0.0) * 1000,
        }
        print(json.dumps(result), flush=True)
        await bot.close()
        await asyncio.wait_for(task, 15)


# -- this process: Discord, Imgur and the feeds ------------------------------------------------


async def seed_feeds(db: Path, guilds: list, channels: list, sources: list[Source]) -> None:
    """The feeds table as admins would have left it: every feed due at 09:00."""
    store = await Store.open(StoreSettings(path=db, synchronous="NORMAL"))
    try:
        feeds = Feeds(store)
        await feeds.create_tables()
        created = NINE - timedelta(hours=1)
        for n, channel in enumerate(channels):
            settings = FeedSettings(
                channel_id=int(channel.id),
                schedule="daily 09:00",
                time_zone="UTC",
                count=5,
                source=sources[n % len(sources)],
            )
            guild_id = int(guilds[n // CHANNELS_PER_GUILD].id)
            await feeds.add(guild_id, 1, settings, now=created, next_run=NINE)
    finally:
        await store.close()


async def imgur_calls(session: aiohttp.ClientSession, imgur_url: str) -> int:
    """API calls the emulator has received (its admin API, never counted itself)."""
    async with session.get(f"{imgur_url}/_emulator/stats") as response:
        return (await response.json())["api_calls"]


async def run(feeds: int, source_count: int, imgur_latency: float) -> dict[str, Any]:
    async with (
        FakeDiscord(token=TOKEN, global_rate_limit=GLOBAL_LIMIT) as fd,
        emulator_process(SEED, imgur_latency) as (imgur_url, tags),
        aiohttp.ClientSession() as session,
    ):
        # The channels are not age-restricted: a tag of NSFW posts only would post nothing.
        sources = distinct_sources(source_count, [t for t in tags if t != "nsfw"])
        guilds = [fd.add_guild(f"g{g}") for g in range(-(-feeds // CHANNELS_PER_GUILD))]
        channels = [
            fd.add_channel(guilds[n // CHANNELS_PER_GUILD], f"highlights-{n}") for n in range(feeds)
        ]
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "fanout.db"
            print(f"seeding {feeds} feeds over {len(sources)} sources...", file=sys.stderr)
            await seed_feeds(db, guilds, channels, sources)
            env = bot_env(fd, imgur_url, guilds[0].id, db)
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.fanout", "--bot-child",
                cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                env={**os.environ, **env},
            )  # fmt: skip
            assert proc.stdin is not None and proc.stdout is not None
            try:
                line = (await asyncio.wait_for(proc.stdout.readline(), 180)).decode()
                if BOT_READY not in line:
                    raise RuntimeError(f"the bot did not start: {line!r}")
                # The fake Discord stands in for Discord's servers, which do not pause to
                # collect garbage: the world built so far is frozen out of the collector,
                # and the fake's own lag is measured and reported beside the bot's.
                gc.freeze()
                fake_lag = LagTicker()
                fake_lag.start()
                calls_before = await imgur_calls(session, imgur_url)
                rejected_before = len(fd.limiter.rejected)
                posts_before = len(fd.requests("POST", "/channels/"))
                went = time.monotonic()  # the fake's limiter clock
                proc.stdin.write(f"{GO}\n".encode())
                await proc.stdin.drain()
                line = (await asyncio.wait_for(proc.stdout.readline(), 900)).decode()
                child = json.loads(line)
                await fake_lag.stop()
                await asyncio.wait_for(proc.wait(), 30)
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
        posts = fd.requests("POST", "/channels/")[posts_before:]
        admitted = [p.admitted_at for p in posts if p.admitted_at is not None]
        fake_lags = [late for _, late in fake_lag.samples]
        landed = sum(1 for c in channels if fd.channel_messages(c))
        return {
            "feeds": feeds,
            "channels": len(channels),
            "distinct_sources": len({s.key for s in sources}),
            "imgur_calls": await imgur_calls(session, imgur_url) - calls_before,
            "imgur_latency_s": imgur_latency,
            "posted": child["posted"],
            "channels_with_a_post": landed,
            "post_requests": len(posts),
            "seconds": round(child["seconds"], 2),
            "first_post_s": round(admitted[0] - went, 2) if admitted else None,
            "first_to_last_post_s": round(admitted[-1] - admitted[0], 2) if admitted else None,
            "floor_seconds": round(feeds / GLOBAL_LIMIT, 2),
            "discord_429s": len(fd.limiter.rejected) - rejected_before,
            "bot_cpu_s": round(child["cpu_s"], 2),
            "loop_lag_p50_ms": round(child["lag_p50_ms"], 2),
            "loop_lag_p99_ms": round(child["lag_p99_ms"], 2),
            "loop_lag_max_ms": round(child["lag_max_ms"], 2),
            "fake_discord_lag_max_ms": round(max(fake_lags, default=0.0) * 1000, 2),
        }


def table(f: dict[str, Any]) -> str:
    lag = f"{f['loop_lag_p50_ms']:.1f} / {f['loop_lag_p99_ms']:.1f} / {f['loop_lag_max_ms']:.1f} ms"
    rows = [
        ("feeds due at 09:00 (one channel each)", f"{f['feeds']:,}"),
        ("distinct Imgur sources", f"{f['distinct_sources']}"),
        ("Imgur calls made", f"{f['imgur_calls']} (Imgur answering in {f['imgur_latency_s']} s)"),
        ("posts made / channels with a post", f"{f['posted']:,} / {f['channels_with_a_post']:,}"),
        ("time to post everything", f"{f['seconds']:.1f} s (floor {f['floor_seconds']:.0f} s)"),
        (
            "  first post after / first to last post",
            (f"{f['first_post_s']} s / {f['first_to_last_post_s']} s"),
        ),
        ("429s from Discord", f"{f['discord_429s']}"),
        ("bot CPU time during the run", f"{f['bot_cpu_s']:.1f} s"),
        ("bot event-loop lag p50 / p99 / max", lag),
        ("fake Discord's own event-loop lag, max", f"{f['fake_discord_lag_max_ms']:.1f} ms"),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fanout", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="500 feeds instead of 5,000")
    parser.add_argument("--feeds", type=int, help="feeds due at once (default 5,000)")
    parser.add_argument("--sources", type=int, default=100, help="distinct Imgur sources")
    parser.add_argument(
        "--imgur-latency",
        type=float,
        default=IMGUR_LATENCY_S,
        help="seconds the emulator takes to answer (default %(default)s, as Imgur does)",
    )
    parser.add_argument("--bot-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.bot_child:
        asyncio.run(bot_child())
        return
    feeds = args.feeds or (500 if args.quick else 5000)
    figures = asyncio.run(run(feeds, args.sources, args.imgur_latency))
    print(table(figures))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
