"""Ledger throughput: charge-and-settle with 100 concurrent tasks on a real SQLite file.

Each operation is what a command costs the ledger: ``async with ledger.charge(...)`` (the
reservation's row is committed before the block is entered) and ``charge.settle(1)`` (the
settlement is committed before the block is left). Two variants run on fresh databases:

- group commit, the ``Store`` as shipped: the writer thread commits every queued row in one
  transaction, one fsync for the lot;
- commit per write, the baseline: every row in its own transaction.

    python -m bench.ledger            # 10 s per variant
    python -m bench.ledger --quick    # 2 s per variant

The last line of output is one JSON object; ``ops_per_s`` and ``p99_ms`` are the shipped
variant's figures (target: at least 2,000 ops/s).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from bot.config import LedgerSettings, StoreSettings
from bot.ledger import Ledger
from bot.store import Store

TARGET_OPS_PER_S = 2_000
TASKS = 100
GUILDS = 200
USERS = 100_000  # many users, so the per-user burst limit never interferes

# A budget no benchmark run can spend: we measure the bookkeeping, not refusals.
SETTINGS = LedgerSettings(daily_client_budget=10**12)


class CommitEachWrite(Store):
    """The baseline: every write runs alone and commits by itself."""

    def write_soon(self, fn: Callable[[Database], Any]) -> asyncio.Future[Any]:
        return self._enqueue(fn, grouped=False)

    async def write(self, fn: Callable[[Database], Any]) -> Any:
        return await self._enqueue(fn, grouped=False)


async def measure(store_class: type[Store], path: Path, seconds: float) -> dict[str, Any]:
    store = await store_class.open(StoreSettings(path=path))
    try:
        ledger = await Ledger.open(store, SETTINGS)
        users = itertools.count()
        latencies: list[float] = []
        deadline = time.perf_counter() + seconds

        async def worker(n: int) -> None:
            while time.perf_counter() < deadline:
                user = next(users) % USERS
                started = time.perf_counter()
                async with ledger.charge(n % GUILDS, user, 1, "gallery", "bench") as charge:
                    charge.settle(1)
                latencies.append(time.perf_counter() - started)

        began = time.perf_counter()
        await asyncio.gather(*(worker(n) for n in range(TASKS)))
        elapsed = time.perf_counter() - began
        await ledger.close()
        rows = await store.run(lambda db: db["ledger_charges"].count)
        commits, grouped = store.group_commits, store.grouped_writes
    finally:
        await store.close()
    assert rows == len(latencies), "every operation must have left exactly one audit row"
    latencies.sort()
    return {
        "ops": len(latencies),
        "seconds": elapsed,
        "ops_per_s": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "max_ms": latencies[-1] * 1000,
        "writes_per_commit": grouped / commits if commits else 1.0,
    }


def print_table(results: dict[str, dict[str, Any]], seconds: float) -> None:
    print(
        f"ledger charge-and-settle: {TASKS} concurrent tasks, {seconds:g} s per variant, "
        f"SQLite file in WAL mode, synchronous={StoreSettings().synchronous}"
    )
    header = f"{'variant':<22}{'ops':>9}{'ops/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
    print(header + f"{'writes/commit':>15}")
    print("-" * (len(header) + 15))
    for name, r in results.items():
        print(
            f"{name:<22}{r['ops']:>9}{r['ops_per_s']:>10.0f}{r['p50_ms']:>9.2f}"
            f"{r['p99_ms']:>9.2f}{r['max_ms']:>9.2f}{r['writes_per_commit']:>15.1f}"
        )
    shipped = results["group commit"]["ops_per_s"]
    verdict = "meets" if shipped >= TARGET_OPS_PER_S else "MISSES"
    print(f"target >= {TARGET_OPS_PER_S} ops/s: {verdict} ({shipped:.0f} ops/s)")


async def main(seconds: float) -> dict[str, Any]:
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-ledger-") as tmp:
        results["group commit"] = await measure(Store, Path(tmp) / "group.db", seconds)
        results["commit per write"] = await measure(CommitEachWrite, Path(tmp) / "each.db", seconds)
    print_table(results, seconds)
    shipped, baseline = results["group commit"], results["commit per write"]
    return {
        "bench": "ledger",
        "tasks": TASKS,
        "seconds": round(shipped["seconds"], 2),
        "ops": shipped["ops"],
        "ops_per_s": round(shipped["ops_per_s"], 1),
        "p50_ms": round(shipped["p50_ms"], 3),
        "p99_ms": round(shipped["p99_ms"], 3),
        "max_ms": round(shipped["max_ms"], 3),
        "writes_per_commit": round(shipped["writes_per_commit"], 1),
        "baseline_ops_per_s": round(baseline["ops_per_s"], 1),
        "baseline_p99_ms": round(baseline["p99_ms"], 3),
        "synchronous": StoreSettings().synchronous,
        "target_ops_per_s": TARGET_OPS_PER_S,
        "meets_target": shipped["ops_per_s"] >= TARGET_OPS_PER_S,
    }


def cli(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ledger", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2 s per variant instead of 10")
    parser.add_argument("--seconds", type=float, help="seconds per variant")
    args = parser.parse_args(argv)
    seconds = args.seconds or (2.0 if args.quick else 10.0)
    print(json.dumps(asyncio.run(main(seconds))))


if __name__ == "__main__":
    cli()
