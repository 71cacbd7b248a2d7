"""``bench.quota_day``'s day served by several bot processes sharing one budget and one cache.

    python -m bench.cluster [--quick] [--seed N] [--processes 4] [--progress]

The same trace as ``bench.quota_day`` (same seed: the same queries, members and times), with
each command sent to the process that would own its guild (``guild % processes``, as shards
split guilds). Every process is a real OS process with its own Imgur client, its own quota
ledger on the shared PostgreSQL database (one budget: ``bot.ledger``'s leases) and its own
connection to the shared Redis cache (``bot.imgur.shared_cache``); one Imgur emulator
answers them all. The fake clock moves in lockstep: the coordinator hands every process the
commands of the next simulated minute and waits for all of them before the next.

Runs, side by side in one go:

1. the normal day, one process (the baseline: the single-process figure);
2. the normal day, N processes sharing the cache: ``ratio_to_floor`` (Imgur calls over
   the floor of one call per request key per TTL window; target <= 1.1);
3. the normal day, N processes each with its own cache only (no Redis): what sharing saves;
4. the overloaded day (3x the commands, a third of the budget), N processes:
   ``credits_spent <= budget`` and ``imgur_429s`` = 0.

Needs PostgreSQL and Redis (``IMGURBOT_TEST_POSTGRES_URL``, ``IMGURBOT_TEST_REDIS_URL``;
defaults: the local servers); it creates a schema and a key prefix of its own and removes
them afterwards. Prints a table and ends with one line of JSON.

Then ``bench.interactions``' burst: 500 commands on one bot process (as that benchmark
runs it), and 2,000 over N bot processes, one shard each (``[discord] shard_ids``), sharing
PostgreSQL and Redis: ``p99_first_response_ms`` beside the one-process figure. One fake
Discord serves all of them, in this process, so its own request handling is part of the
figure (as in ``bench.interactions``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from pydantic import SecretStr

from bench.quota_day import (
    CLIENT_ID,
    DAILY_BUDGET,
    DISTINCT_QUERIES,
    NORMAL_COMMANDS,
    Query,
    Watch,
    build_queries,
    build_trace,
    run_query,
)
from bot.access import ImgurAccess
from bot.browse import RandomPicker
from bot.clock import FakeClock
from bot.config import CacheSettings, ImgurSettings, LedgerSettings, Secrets
from bot.errors import BadInput, QuotaExceeded
from bot.imgur.aiohttp_transport import aiohttp_client
from bot.imgur.errors import ImgurError
from fakes.imgur.app import Emulator, EmulatorConfig

POSTGRES_URL = os.environ.get(
    "IMGURBOT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("IMGURBOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SLICE_S = 60.0  # the simulated time the processes run between two lockstep points
REPO = Path(__file__).resolve().parents[1]


# -- one process of the cluster ---------------------------------------------------------------


async def worker(spec: dict[str, Any]) -> None:
    """A bot process's Imgur side: reads the commands of each slice on stdin, answers
    ``done`` on stdout, and its figures when told to finish."""
    from bot.imgur.shared_cache import SharedCache, namespace_for
    from bot.ledger import Ledger
    from bot.store.postgres import PostgresStore

    clock = FakeClock()
    store = await PostgresStore.open(spec["postgres"], schema=spec["schema"], max_size=4)
    ledger = await Ledger.open(
        store,
        LedgerSettings(daily_client_budget=spec["budget"]),
        clock=clock,
        owner=f"p{spec['index']}",
    )
    cache_settings = CacheSettings()
    shared = None
    if spec["redis"]:
        namespace = namespace_for(CLIENT_ID, spec["emulator"])
        shared = SharedCache.from_url(
            spec["redis"], cache_settings, clock, namespace=namespace, prefix=spec["prefix"]
        )
    imgur_settings = ImgurSettings(
        max_retries=1, backoff_base_s=0.01, backoff_max_s=0.02, max_connections=16
    )
    secrets_ = Secrets(imgur_client_id=SecretStr(CLIENT_ID))
    figures: Counter[str] = Counter()
    answered: set[tuple[int, bool]] = set()
    async with aiohttp.ClientSession() as session:
        client = aiohttp_client(
            session, imgur_settings, cache_settings, secrets_, base_url=spec["emulator"],
            clock=clock, shared=shared,
        )  # fmt: skip
        client.add_listener(ledger.observe)
        watch = Watch(clock, client._cache.ttl_for)
        watch.wrap(client)
        access = ImgurAccess(client, ledger, clock=clock)
        picker = RandomPicker(random.Random(spec["seed"] + 2 + spec["index"]))
        elapsed = 0.0
        _say({"ready": True})
        while True:
            message = json.loads(await asyncio.to_thread(sys.stdin.readline))
            if message["op"] == "finish":
                break
            for at, (command, args, kwargs), guild, user, channel, nsfw, index in message["run"]:
                clock.advance(at - elapsed)
                elapsed = at
                query = Query(command, tuple(args), tuple((k, v) for k, v in kwargs))
                imgur = access.acting_for(guild, user, command)
                watch.kinds_this_command.clear()
                try:
                    answer = await run_query(query, imgur, picker, channel, nsfw)
                except QuotaExceeded:
                    figures["refused"] += 1
                    figures["refused_seen_before"] += (index, nsfw) in answered
                    continue
                except (ImgurError, BadInput) as exc:
                    figures[f"error:{type(exc).__name__}"] += 1
                    continue
                answered.add((index, nsfw))
                figures["served"] += 1
                if answer.stale:
                    figures["served_stale"] += 1
                elif watch.kinds_this_command:
                    ttl = min(watch.ttl_for(k) for k in watch.kinds_this_command)
                    figures["too_old"] += answer.age_s > ttl
            _say({"done": True})
        await client.close()
    await ledger.flush()
    await ledger.close()
    await store.close()
    if shared is not None:
        await shared.close()
    figures.update(fetches=watch.fetches, hits=watch.hits, too_old=watch.too_old)
    _say({"figures": dict(figures), "asked": watch.asked})


def _say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


# -- the coordinator --------------------------------------------------------------------------


@dataclass
class ClusterDay:
    name: str
    processes: int
    shared_cache: bool
    commands: int
    budget: int
    wall_s: float = 0.0
    api_calls: int = 0
    credits: int = 0
    imgur_429s: int = 0
    floor_calls: int = 0
    ledger_counted: int = 0
    ledger_by_state: dict[str, int] = field(default_factory=dict)
    figures: Counter = field(default_factory=Counter)

    @property
    def ratio_to_floor(self) -> float:
        return self.credits / max(1, self.floor_calls)

    @property
    def hit_ratio(self) -> float:
        return self.figures["hits"] / max(1, self.figures["fetches"])


class Process:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    async def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(message) + "\n").encode())
        await self.proc.stdin.drain()

    async def receive(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = await self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"a cluster process exited with status {await self.proc.wait()}")
        return json.loads(line)


async def cluster_day(
    name: str,
    *,
    count: int,
    budget: int,
    seed: int,
    processes: int,
    shared_cache: bool,
    progress: bool,
) -> ClusterDay:
    import asyncpg
    import redis.asyncio as aioredis

    result = ClusterDay(name, processes, shared_cache, count, budget)
    clock = FakeClock()
    schema = f"bench_cluster_{secrets.token_hex(4)}"
    prefix = f"imgurbot-bench:{secrets.token_hex(4)}"
    conn = await asyncpg.connect(POSTGRES_URL)
    await conn.execute(f"CREATE SCHEMA {schema}")
    running: list[Process] = []
    try:
        config = EmulatorConfig(seed=seed, client_daily_limit=budget, clock=clock)
        async with Emulator(config) as emu:
            queries = build_queries(emu, DISTINCT_QUERIES, random.Random(seed + 1))
            trace = build_trace(count, len(queries), random.Random(seed))
            for index in range(processes):
                spec = {
                    "index": index, "seed": seed, "budget": budget, "emulator": emu.base_url,
                    "postgres": POSTGRES_URL, "schema": schema,
                    "redis": REDIS_URL if shared_cache else None, "prefix": prefix,
                }  # fmt: skip
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "bench.cluster", "--worker", json.dumps(spec),
                    stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=REPO,
                    limit=1 << 28,  # the last message holds every request key asked
                )  # fmt: skip
                running.append(Process(proc))
                # One at a time: processes migrating a fresh schema at once collide in
                # PostgreSQL (CREATE TABLE IF NOT EXISTS is not safe against itself).
                await running[-1].receive()  # ready
            started = time.perf_counter()
            slices: dict[int, list[list[list[Any]]]] = {}
            for cmd in trace:
                query = queries[cmd.query]
                row = [cmd.at, [query.command, list(query.args), [list(kv) for kv in query.kwargs]],
                       cmd.guild_id, cmd.user_id, cmd.channel_id, cmd.nsfw, cmd.query]  # fmt: skip
                per_process = slices.setdefault(
                    int(cmd.at // SLICE_S), [[] for _ in range(processes)]
                )
                per_process[cmd.guild_id % processes].append(row)
            for n, (number, per_process) in enumerate(sorted(slices.items())):
                clock.advance(number * SLICE_S - (clock.monotonic() - 1_000.0))
                for process, rows in zip(running, per_process, strict=True):
                    await process.send({"op": "run", "run": rows})
                for process in running:
                    await process.receive()
                if progress and n % 120 == 0:
                    print(f"  {name}: hour {number * SLICE_S / 3600:.0f}", file=sys.stderr)
            result.wall_s = time.perf_counter() - started
            asked: list[tuple[str, str, float]] = []
            for process in running:
                await process.send({"op": "finish"})
                answer = await process.receive()
                result.figures.update(answer["figures"])
                asked.extend(tuple(a) for a in answer["asked"])
                await process.proc.wait()
            result.api_calls = emu.stats.api_calls
            result.credits = emu.stats.credits_charged
            result.imgur_429s = emu.stats.rate_limited
            watch = Watch(clock, CacheSettings().ttl_for)
            watch.asked = sorted(asked, key=lambda a: a[2])
            result.floor_calls = watch.floor_calls()
            rows = await conn.fetch(
                f"SELECT state, COALESCE(SUM(cost), 0) AS total FROM {schema}.ledger_charges"
                " GROUP BY state"
            )
            result.ledger_by_state = {r["state"]: int(r["total"]) for r in rows}
            result.ledger_counted = sum(result.ledger_by_state.values())
    finally:
        for process in running:
            if process.proc.returncode is None:
                process.proc.kill()
                await process.proc.wait()
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        await conn.close()
        redis = aioredis.Redis.from_url(REDIS_URL)
        keys = [k async for k in redis.scan_iter(match=f"{prefix}:*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
    return result


# -- the interactions burst over several processes ---------------------------------------------


async def cluster_burst(n: int, processes: int) -> dict[str, Any]:
    """``bench.interactions``' burst (its commands, its slow Imgur in a process of its own)
    over ``processes`` bot processes, one shard each, sharing PostgreSQL and Redis: the
    first-response percentiles as the fake Discord records them."""
    from contextlib import AsyncExitStack

    import asyncpg
    import redis.asyncio as aioredis

    from bench import interactions as burst
    from bot.imgur.shared_cache import namespace_for
    from fakes.discord import FakeDiscord

    schema = f"bench_cluster_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(POSTGRES_URL)
    await conn.execute(f"CREATE SCHEMA {schema}")
    imgur_url = ""
    try:
        async with AsyncExitStack() as stack:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-cluster-")))
            imgur_url, tags = await stack.enter_async_context(burst.emulator_process(burst.SEED))
            fd = await stack.enter_async_context(FakeDiscord(token=burst.TOKEN))
            fd.session_start_limit.max_concurrency = processes
            guilds = []
            while len(guilds) < burst.GUILDS:  # spread evenly over the shards
                guilds.extend(fd.add_guild_per_shard(processes).values())
            channels = [g.channel("general") for g in guilds]
            users = [fd.add_user(f"member-{i}") for i in range(n)]
            for shard in range(processes):
                env = burst.bot_env(fd, imgur_url, guilds[0].id, tmp / "imgurbot.db")
                env |= {
                    "IMGURBOT_DISCORD__SHARD_COUNT": str(processes),
                    "IMGURBOT_DISCORD__SHARD_IDS": str(shard),
                    "IMGURBOT_STORE__URL": f"{POSTGRES_URL}?search_path={schema}",
                    "IMGURBOT_CACHE__REDIS_URL": REDIS_URL,
                }
                await stack.enter_async_context(burst.running_bot(env, tmp / f"lag-{shard}.json"))
            planned = burst.plan_commands(n, users, channels, tags)
            for channel in channels[:processes]:  # warm every process once, unmeasured
                warm = await fd.slash("imgur", "quota", user=users[0], channel=channel)
                await warm.wait_done(timeout=30)
            await asyncio.sleep(0.2)
            started = time.perf_counter()
            records = await asyncio.gather(
                *(fd.slash("imgur", *p.path, options=p.options, user=p.user, channel=p.channel)
                  for p in planned)
            )  # fmt: skip
            deadline = time.monotonic() + 120
            while not all(r.is_done() or r.rejected for r in records):
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.02)
            wall = time.perf_counter() - started
            first, final = burst._request_times(fd, records)
            first_ms = [
                (first[r.token] - r.dispatched_at) * 1000 for r in records if r.token in first
            ]
            final_ms = [
                (final[r.token] - r.dispatched_at) * 1000 for r in records if r.token in final
            ]
            return {
                "commands": n,
                "processes": processes,
                "p50_first_response_ms": round(burst.pct(first_ms, 50), 1),
                "p99_first_response_ms": round(burst.pct(first_ms, 99), 1),
                "p99_final_ms": round(burst.pct(final_ms, 99), 1),
                "unanswered": sum(1 for r in records if not r.acknowledged),
                "rejected_callbacks": sum(1 for r in records if r.rejected),
                "burst_wall_s": round(wall, 2),
            }
    finally:
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        await conn.close()
        if imgur_url:
            redis = aioredis.Redis.from_url(REDIS_URL)
            pattern = f"imgurbot:cache:{namespace_for(burst.CLIENT_ID, imgur_url)}:*"
            keys = [k async for k in redis.scan_iter(match=pattern)]
            if keys:
                await redis.delete(*keys)
            await redis.aclose()


# -- report ------------------------------------------------------------------------------------


def describe(day: ClusterDay) -> list[tuple[str, str]]:
    f = day.figures
    return [
        ("processes / shared cache", f"{day.processes} / {'Redis' if day.shared_cache else 'no'}"),
        ("commands / budget", f"{day.commands:,} / {day.budget:,}"),
        ("Imgur calls / credits (emulator)", f"{day.api_calls:,} / {day.credits:,}"),
        ("floor calls (key x TTL window)", f"{day.floor_calls:,}"),
        ("ratio to floor", f"{day.ratio_to_floor:.3f}"),
        ("credits per command", f"{day.credits / day.commands:.3f}"),
        ("cache hit ratio", f"{day.hit_ratio:.3f}"),
        ("served / stale / refused", f"{f['served']:,} / {f['served_stale']:,} / {f['refused']:,}"),
        ("refused, query answered before", f"{f['refused_seen_before']:,}"),
        ("other errors", _errors(f)),
        ("fresh answers older than TTL", f"{f['too_old']}"),
        ("credits the ledgers counted", f"{day.ledger_counted:,} ({_states(day)})"),
        ("429s from the emulator", f"{day.imgur_429s}"),
        ("wall time (s)", f"{day.wall_s:.1f}"),
    ]


def _states(day: ClusterDay) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in sorted(day.ledger_by_state.items()))


def _errors(figures: Counter) -> str:
    found = [f"{k[6:]} {v}" for k, v in figures.items() if k.startswith("error:")]
    return ", ".join(found) or "none"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="an eighth of the commands")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--progress", action="store_true", help="print progress to stderr")
    parser.add_argument(
        "--part", choices=("all", "quota", "interactions"), default="all", help="what to run"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        asyncio.run(worker(json.loads(args.worker)))
        return
    scale = 0.125 if args.quick else 1.0
    count = int(NORMAL_COMMANDS * scale)
    overload_budget = int(DAILY_BUDGET * scale) // 3
    n = args.processes

    async def days() -> list[ClusterDay]:
        common = {"seed": args.seed, "progress": args.progress}
        return [
            await cluster_day("one process", count=count, budget=DAILY_BUDGET, processes=1,
                              shared_cache=True, **common),
            await cluster_day(f"{n} processes", count=count, budget=DAILY_BUDGET, processes=n,
                              shared_cache=True, **common),
            await cluster_day(f"{n} processes, own caches", count=count, budget=DAILY_BUDGET,
                              processes=n, shared_cache=False, **common),
            await cluster_day(f"{n} processes, overloaded", count=count * 3,
                              budget=overload_budget, processes=n, shared_cache=True, **common),
        ]  # fmt: skip

    figures: dict[str, Any] = {"processes": n}
    if args.part in ("all", "quota"):
        one, shared, unshared, overload = asyncio.run(days())
        print(
            f"cluster{' (quick)' if args.quick else ''}: bench.quota_day's trace, seed {args.seed}"
        )
        for day in (one, shared, unshared, overload):
            print()
            print(f"{day.name}:")
            print("\n".join(f"  {k.ljust(34)}  {v}" for k, v in describe(day)))
        figures |= {
            "commands": shared.commands,
            "ratio_to_floor": round(shared.ratio_to_floor, 4),
            "ratio_to_floor_one_process": round(one.ratio_to_floor, 4),
            "ratio_to_floor_own_caches": round(unshared.ratio_to_floor, 4),
            "credits_per_command": round(shared.credits / shared.commands, 4),
            "credits_per_command_one_process": round(one.credits / one.commands, 4),
            "fresh_older_than_ttl": shared.figures["too_old"],
            "overload_commands": overload.commands,
            "overload_budget": overload.budget,
            "credits_spent": overload.credits,
            "credits_spent_within_budget": overload.credits <= overload.budget,
            "overload_refused": overload.figures["refused"],
            "overload_served_stale": overload.figures["served_stale"],
            "ledger_counted": shared.ledger_counted,
            "ledger_counted_one_process": one.ledger_counted,
            "imgur_429s": shared.imgur_429s + overload.imgur_429s,
            "wall_s": round(shared.wall_s, 1),
            "wall_s_one_process": round(one.wall_s, 1),
        }
    if args.part in ("all", "interactions"):
        from bench import interactions as burst

        alone_n = 100 if args.quick else 500
        cluster_n = alone_n * n
        print()
        print(f"interactions: {alone_n} commands on one process, then {cluster_n} over {n}")
        alone = burst.describe_run(1, alone_n, asyncio.run(burst.run_burst(alone_n, True)))
        together = asyncio.run(cluster_burst(cluster_n, n))
        print(f"{n} processes: {json.dumps(together)}")
        figures |= {
            "burst_commands": cluster_n,
            "p99_first_response_ms": together["p99_first_response_ms"],
            "p50_first_response_ms": together["p50_first_response_ms"],
            "burst_unanswered": together["unanswered"],
            "one_process_commands": alone_n,
            "p99_first_response_ms_one_process": round(alone["p99_first_response_ms"], 1),
            "p50_first_response_ms_one_process": round(alone["p50_first_response_ms"], 1),
        }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
