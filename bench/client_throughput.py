"""Client throughput: this async client against the seed's imgurpython, same workload.

    python -m bench.client_throughput [--quick]

Starts the Imgur emulator in its own process on a free port, then:

1. sends N gallery and search requests (all distinct, so neither cache nor coalescing
   helps) from 100 concurrent callers through ``ImgurClient`` with the cache OFF;
2. sends the same requests through imgurpython's ``ImgurClient`` from a 100-thread pool;
3. with the cache ON, sends N requests drawn from 50 distinct queries and counts the calls
   that reach the emulator (its ``/_emulator/stats``).

Both clients parse the answers into objects (imgurpython builds its attribute bags, ours
pydantic models). Prints a table and ends with one line of JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from pydantic import SecretStr

from bot.config import CacheSettings, ImgurSettings, Secrets
from bot.imgur.client import ImgurClient

CONCURRENCY = 100
DISTINCT = 50
CLIENT_ID = "bench-client"
WORDS = ("cat", "dog", "robot", "castle", "sandwich", "mountain", "bicycle", "dragon")
ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Query:
    """One request, in a form both clients can send."""

    kind: str  # "gallery" | "search"
    section: str = "hot"
    sort: str = "viral"
    window: str = "day"
    page: int = 0
    q: str = ""


def distinct_queries(n: int) -> list[Query]:
    """``n`` different requests, half gallery pages and half searches."""
    gallery = [
        Query("gallery", section, sort, window, page)
        for page in range(60)
        for section in ("hot", "top", "user")
        for sort in ("viral", "top", "time")
        for window in ("day", "week", "month", "year", "all")
    ]
    search = [
        Query("search", sort=sort, window=window, page=page, q=f"{a} {b}")
        for page in range(3)
        for a in WORDS
        for b in WORDS
        for sort in ("time", "viral", "top")
        for window in ("all", "week")
    ]
    half = n // 2
    assert len(gallery) >= half and len(search) >= n - half
    picked = gallery[:half] + search[: n - half]
    random.Random(7).shuffle(picked)
    return picked


@dataclass
class Run:
    name: str
    wall_s: float
    latencies: list[float]
    errors: int
    cpu_s: float = 0.0  # this process's CPU time: the client's own cost (emulator excluded)

    @property
    def cpu_ms_per_request(self) -> float:
        return self.cpu_s / len(self.latencies) * 1000

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.wall_s

    def pct(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latencies) * 1000


# -- the emulator in its own process ---------------------------------------------------------


def start_emulator() -> tuple[subprocess.Popen[str], str]:
    limit = str(10**9)  # the throughput run must not hit Imgur's limits
    cmd = [
        sys.executable,
        "-m",
        "fakes.imgur",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--seed",
        "1",
        "--client-limit",
        limit,
        "--user-limit",
        limit,
        "--post-limit",
        limit,
    ]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True, env=os.environ | {"PYTHONUNBUFFERED": "1"}
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if "listening on" in line:
            return proc, line.rsplit(" ", 1)[-1].strip()
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError("the emulator did not start")


async def emulator_stats(base_url: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base_url}/_emulator/stats") as resp:
            return await resp.json()


# -- runs ------------------------------------------------------------------------------------


async def run_async(
    name: str, queries: list[Query], send: Callable[[Query], Awaitable[Any]]
) -> Run:
    """``CONCURRENCY`` callers pulling from one queue of requests."""
    pending = list(reversed(queries))
    latencies: list[float] = []
    errors = 0

    async def caller() -> None:
        nonlocal errors
        while pending:
            query = pending.pop()
            started = time.perf_counter()
            try:
                await send(query)
            except Exception:
                errors += 1
            latencies.append(time.perf_counter() - started)

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(caller() for _ in range(CONCURRENCY)))
    return Run(name, time.perf_counter() - started, latencies, errors, time.process_time() - cpu)


def our_sender(client: ImgurClient) -> Callable[[Query], Awaitable[Any]]:
    async def send(q: Query) -> Any:
        if q.kind == "gallery":
            return await client.gallery(q.section, q.sort, q.window, q.page)
        return await client.gallery_search(q.q, sort=q.sort, window=q.window, page=q.page)

    return send


def make_client(base_url: str, cache_on: bool) -> ImgurClient:
    settings = ImgurSettings(max_connections=CONCURRENCY, total_timeout_s=60)
    cache = CacheSettings(enabled=cache_on)
    secrets = Secrets(imgur_client_id=SecretStr(CLIENT_ID))
    return ImgurClient(None, settings, cache, secrets, base_url=base_url)


def run_imgurpython(base_url: str, queries: list[Query]) -> Run:
    import imgurpython.client
    from imgurpython import ImgurClient as SeedClient

    imgurpython.client.API_URL = base_url + "/"
    seed = SeedClient(CLIENT_ID, "bench-secret")  # its constructor already calls /3/credits

    def send(q: Query) -> float:
        started = time.perf_counter()
        if q.kind == "gallery":
            seed.gallery(q.section, q.sort, q.page, q.window)
        else:
            seed.gallery_search(q.q, sort=q.sort, window=q.window, page=q.page)
        return time.perf_counter() - started

    latencies: list[float] = []
    errors = 0
    started, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
        for future in [pool.submit(send, q) for q in queries]:
            try:
                latencies.append(future.result())
            except Exception:
                errors += 1
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return Run("imgurpython (100 threads)", wall, latencies, errors, cpu)


async def main(quick: bool) -> dict[str, Any]:
    n = 500 if quick else 2000
    queries = distinct_queries(n)
    proc, base_url = start_emulator()
    try:
        warmup = distinct_queries(DISTINCT)
        async with make_client(base_url, cache_on=False) as client:
            await run_async("warm-up", warmup, our_sender(client))
            before = (await emulator_stats(base_url))["api_calls"]
            ours = await run_async("imgurbot client, cache off", queries, our_sender(client))
            ours_calls = (await emulator_stats(base_url))["api_calls"] - before

        seed = await asyncio.to_thread(run_imgurpython, base_url, queries)

        repeated = [random.Random(i).choice(warmup) for i in range(n)]
        before = (await emulator_stats(base_url))["api_calls"]
        async with make_client(base_url, cache_on=True) as client:
            cached = await run_async("imgurbot client, cache on", repeated, our_sender(client))
        cached_calls = (await emulator_stats(base_url))["api_calls"] - before
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    rows = [(ours, ours_calls), (seed, None), (cached, cached_calls)]
    print(f"\n{n} requests, {CONCURRENCY} concurrent callers, emulator at {base_url}\n")
    print(
        f"{'run':<30} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms/req':>11} "
        f"{'errors':>7} {'emu calls':>10}"
    )
    for run, calls in rows:
        shown = "" if calls is None else str(calls)
        print(
            f"{run.name:<30} {run.rps:>8.0f} {run.p50_ms:>8.1f} {run.pct(0.99):>8.1f} "
            f"{run.cpu_ms_per_request:>11.2f} {run.errors:>7} {shown:>10}"
        )
    ratio = ours.rps / seed.rps
    cpu_ratio = seed.cpu_ms_per_request / ours.cpu_ms_per_request
    print(f"\nthroughput ratio vs imgurpython: {ratio:.1f}x (target >= 5)")
    print(f"client CPU per request, imgurpython / ours: {cpu_ratio:.1f}x")
    print(f"emulator calls for {n} requests over {DISTINCT} queries, cache on: {cached_calls}")
    return {
        "requests": n,
        "concurrency": CONCURRENCY,
        "client_rps": round(ours.rps, 1),
        "client_p50_ms": round(ours.p50_ms, 2),
        "client_p99_ms": round(ours.pct(0.99), 2),
        "client_errors": ours.errors,
        "client_emulator_calls": ours_calls,
        "imgurpython_rps": round(seed.rps, 1),
        "imgurpython_p50_ms": round(seed.p50_ms, 2),
        "imgurpython_p99_ms": round(seed.pct(0.99), 2),
        "imgurpython_errors": seed.errors,
        "ratio_vs_imgurpython": round(ratio, 2),
        "client_cpu_ms_per_req": round(ours.cpu_ms_per_request, 3),
        "imgurpython_cpu_ms_per_req": round(seed.cpu_ms_per_request, 3),
        "cpu_ratio_vs_imgurpython": round(cpu_ratio, 2),
        "cached_rps": round(cached.rps, 1),
        "cached_p50_ms": round(cached.p50_ms, 3),
        "emulator_calls_50_distinct": cached_calls,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="500 requests instead of 2,000")
    figures = asyncio.run(main(parser.parse_args().quick))
    print(json.dumps(figures))
