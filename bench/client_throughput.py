"""Client throughput: this async client against the seed's imgurpython, same workload.

    python -m bench.client_throughput [--quick]

Starts the Imgur emulator in its own process on a free port. Two workloads of N (2,000)
gallery and search requests, each sent from 100 concurrent callers:

* **headline** -- N requests drawn from 50 distinct queries (what a busy bot sees: many
  members asking for the same front page). Sent through ``ImgurClient`` with the cache
  OFF, so identical requests still go to the network, but concurrent identical GETs are
  coalesced into one call (a client feature imgurpython lacks); then through imgurpython's
  ``ImgurClient`` from a 100-thread pool. Their ratio is ``ratio_vs_imgurpython``;
  ``emulator_calls_cache_off`` shows how many calls coalescing left. Then the same
  requests with the cache ON: ``emulator_calls_50_distinct``.
* **all distinct** -- N different requests, so neither cache nor coalescing can help:
  pure per-request cost (``ratio_vs_imgurpython_all_distinct``). Here the two processes
  share two cores, so the ratio is bounded by client CPU per request (imgurpython's over
  ours) and by the emulator's CPU per call; the table prints both.

Before each timed workload the emulator is warmed with those requests once, so whichever
client runs first does not pay for the emulator's lazily built listings and JSON. Both
clients parse every answer into objects (imgurpython its attribute bags, ours pydantic
models). Prints a table and ends with one line of JSON.
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
from bot.imgur import sansio
from bot.imgur.aiohttp_transport import aiohttp_client
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
    emulator_calls: int = 0
    emulator_cpu_s: float | None = None  # the emulator process's CPU time during the run

    @property
    def emulator_cpu_ms_per_call(self) -> float | None:
        if self.emulator_cpu_s is None or not self.emulator_calls:
            return None
        return self.emulator_cpu_s / self.emulator_calls * 1000

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


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of another process (Linux ``/proc``), None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Emulator:
    """The emulator process seen from outside: its API call count and its CPU time."""

    def __init__(self, proc: subprocess.Popen[str], base_url: str) -> None:
        self.proc = proc
        self.base_url = base_url

    async def mark(self) -> tuple[int, float | None]:
        calls = (await emulator_stats(self.base_url))["api_calls"]
        return calls, process_cpu_s(self.proc.pid)

    async def measure(self, run: Awaitable[Run]) -> Run:
        calls, cpu = await self.mark()
        result = await run
        calls_after, cpu_after = await self.mark()
        result.emulator_calls = calls_after - calls
        if cpu is not None and cpu_after is not None:
            result.emulator_cpu_s = cpu_after - cpu
        return result


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
            return await client.get(sansio.gallery(q.section, q.sort, q.window, q.page))
        return await client.get(
            sansio.gallery_search(q.q, sort=q.sort, window=q.window, page=q.page)
        )

    return send


def make_client(base_url: str, cache_on: bool) -> ImgurClient:
    settings = ImgurSettings(max_connections=CONCURRENCY, total_timeout_s=60)
    cache = CacheSettings(enabled=cache_on)
    secrets = Secrets(imgur_client_id=SecretStr(CLIENT_ID))
    return aiohttp_client(None, settings, cache, secrets, base_url=base_url)


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


async def compare(emulator: Emulator, queries: list[Query], label: str) -> tuple[Run, Run]:
    """Warm the emulator with ``queries``, then time our client (cache off) and imgurpython."""
    base_url = emulator.base_url
    async with make_client(base_url, cache_on=False) as client:
        await run_async("warm-up", sorted(set(queries), key=queries.index), our_sender(client))
        ours = await emulator.measure(
            run_async(f"imgurbot, cache off, {label}", queries, our_sender(client))
        )
    seed = await emulator.measure(asyncio.to_thread(run_imgurpython, base_url, queries))
    seed.name = f"imgurpython, {label}"
    return ours, seed


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def print_table(n: int, base_url: str, runs: list[Run]) -> None:
    print(f"\n{n} requests per run, {CONCURRENCY} concurrent callers, emulator at {base_url}\n")
    print(
        f"{'run':<38} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'client CPU':>10} "
        f"{'emu calls':>9} {'emu CPU':>8} {'errors':>6}"
    )
    print(f"{'':<38} {'':>7} {'':>7} {'':>7} {'ms/req':>10} {'':>9} {'ms/call':>8}")
    for run in runs:
        print(
            f"{run.name:<38} {run.rps:>7.0f} {run.p50_ms:>7.1f} {run.pct(0.99):>7.1f} "
            f"{run.cpu_ms_per_request:>10.2f} {run.emulator_calls:>9} "
            f"{_ms(run.emulator_cpu_ms_per_call):>8} {run.errors:>6}"
        )


async def main(quick: bool) -> dict[str, Any]:
    n = 500 if quick else 2000
    distinct = distinct_queries(n)
    popular = distinct_queries(DISTINCT)
    repeated = [random.Random(i).choice(popular) for i in range(n)]
    proc, base_url = start_emulator()
    emulator = Emulator(proc, base_url)
    try:
        ours, seed = await compare(emulator, repeated, f"{DISTINCT} distinct")
        async with make_client(base_url, cache_on=True) as client:
            cached = await emulator.measure(
                run_async(f"imgurbot, cache on, {DISTINCT} distinct", repeated, our_sender(client))
            )
        ours_all, seed_all = await compare(emulator, distinct, "all distinct")
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    print_table(n, base_url, [ours, seed, cached, ours_all, seed_all])
    ratio = ours.rps / seed.rps
    ratio_all = ours_all.rps / seed_all.rps
    cpu_ratio_all = seed_all.cpu_ms_per_request / ours_all.cpu_ms_per_request
    print(
        f"\nheadline ({n} requests over {DISTINCT} queries, cache off): "
        f"{ratio:.1f}x imgurpython (target >= 5); coalescing of concurrent identical GETs "
        f"sent {ours.emulator_calls} calls to the emulator where imgurpython sent "
        f"{seed.emulator_calls}"
    )
    print(
        f"all distinct (no cache, nothing to coalesce): {ratio_all:.1f}x imgurpython; client "
        f"CPU per request {ours_all.cpu_ms_per_request:.2f} ms vs "
        f"{seed_all.cpu_ms_per_request:.2f} ms ({cpu_ratio_all:.1f}x), emulator "
        f"{_ms(ours_all.emulator_cpu_ms_per_call)} ms CPU per call. Each client runs on one "
        f"core (one event loop; imgurpython's threads share one GIL), so its ceiling is about "
        f"{1000 / ours_all.cpu_ms_per_request:.0f} req/s for ours and "
        f"{1000 / seed_all.cpu_ms_per_request:.0f} req/s for imgurpython: this ratio cannot "
        f"pass the CPU ratio"
    )
    print(f"cache on, {n} requests over {DISTINCT} queries: {cached.emulator_calls} emulator calls")

    def figures(run: Run, prefix: str, suffix: str = "") -> dict[str, Any]:
        return {
            f"{prefix}_rps{suffix}": round(run.rps, 1),
            f"{prefix}_p50_ms{suffix}": round(run.p50_ms, 2),
            f"{prefix}_p99_ms{suffix}": round(run.pct(0.99), 2),
            f"{prefix}_errors{suffix}": run.errors,
            f"{prefix}_cpu_ms_per_req{suffix}": round(run.cpu_ms_per_request, 3),
        }

    def emulator_cpu(run: Run) -> float | None:
        per_call = run.emulator_cpu_ms_per_call
        return None if per_call is None else round(per_call, 3)

    return {
        "requests": n,
        "concurrency": CONCURRENCY,
        "distinct_queries": DISTINCT,
        **figures(ours, "client"),
        "emulator_calls_cache_off": ours.emulator_calls,
        **figures(seed, "imgurpython"),
        "imgurpython_emulator_calls": seed.emulator_calls,
        "ratio_vs_imgurpython": round(ratio, 2),
        **figures(ours_all, "client", "_all_distinct"),
        **figures(seed_all, "imgurpython", "_all_distinct"),
        "emulator_cpu_ms_per_call_all_distinct": emulator_cpu(ours_all),
        "ratio_vs_imgurpython_all_distinct": round(ratio_all, 2),
        "cpu_ratio_vs_imgurpython_all_distinct": round(cpu_ratio_all, 2),
        "cached_rps": round(cached.rps, 1),
        "cached_p50_ms": round(cached.p50_ms, 3),
        "emulator_calls_50_distinct": cached.emulator_calls,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="500 requests instead of 2,000")
    figures = asyncio.run(main(parser.parse_args().quick))
    print(json.dumps(figures))
