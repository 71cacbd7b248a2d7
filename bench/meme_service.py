"""Memes through the service, as the cog makes them: what the background cache saves, how
renders scale with the render executor's threads, and that the event loop stays free.

Workload (made here, deterministic): an 800×800 photo-like JPEG stored as a server's
template, the classic two captions, full renders (JPEG q90 out) and previews.

- ``cached``: ``MemeService.render`` of the stored template; its decoded background comes
  from the service's cache (the state after the first use);
- ``decoded each time``: the same picture and layout given as bytes
  (``render_custom``), so every render decodes it again: what the cache saves;
- ``preview``: the 640 px still posted to Discord;
- throughput: 48 renders started at once, with 1, 2 and 4 render threads, memes a
  second, and the event loop's lag meanwhile (how late a 5 ms ticker wakes, p99). The loop
  only awaits futures; the lag left is the GIL that render threads hold while Python code
  of the renderer runs, which grows with the number of threads.

Latencies are medians of interleaved rounds (shared, noisy machines); the last line is one
JSON object with every figure.

    python -m bench.meme_service            # 60 rounds
    python -m bench.meme_service --quick    # 15 rounds
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp

from bench.meme_render import CAPTIONS, photo
from bot.config import MemesSettings, StoreSettings
from bot.memes import classic_boxes
from bot.memes.service import MemeService
from bot.store import Store

GUILD = 1
BURST = 48


def template_bytes() -> bytes:
    buffer = io.BytesIO()
    photo((800, 800)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


async def timed(coro) -> float:
    started = time.perf_counter()
    await coro
    return (time.perf_counter() - started) * 1000


async def loop_lag(stop: asyncio.Event, lags: list[float]) -> None:
    """How late a 5 ms sleep wakes up, again and again, until ``stop``."""
    while not stop.is_set():
        started = time.perf_counter()
        await asyncio.sleep(0.005)
        lags.append((time.perf_counter() - started) * 1000 - 5.0)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def burst(service: MemeService, entry, threads: int) -> tuple[float, float]:
    """Memes a second for ``BURST`` concurrent renders, and the loop's p99 lag (ms)."""
    service.executor = ThreadPoolExecutor(max_workers=threads)
    stop, lags = asyncio.Event(), []
    ticker = asyncio.create_task(loop_lag(stop, lags))
    started = time.perf_counter()
    await asyncio.gather(
        *(service.render(entry, [f"take {n}", CAPTIONS[1]], guild_id=GUILD) for n in range(BURST))
    )
    elapsed = time.perf_counter() - started
    stop.set()
    await ticker
    service.executor.shutdown()
    return BURST / elapsed, percentile(lags, 0.99)


async def main(rounds: int) -> dict[str, Any]:
    data = template_bytes()
    with tempfile.TemporaryDirectory() as folder:
        store = await Store.open(StoreSettings(path=Path(folder) / "bench.db"))
        pool = ThreadPoolExecutor(max_workers=1)
        async with aiohttp.ClientSession() as session:
            service = MemeService(MemesSettings(), store=store, executor=pool, session=session)
            async with service:
                entry = await service.add_template(
                    None,
                    GUILD,
                    1,
                    "Bench",
                    data,
                    source="bench",  # type: ignore[arg-type]
                )
                await service.render(entry, CAPTIONS, guild_id=GUILD)  # warm: fonts, cache
                times: dict[str, list[float]] = {"cached": [], "decoded each time": [],
                                                 "preview": []}  # fmt: skip
                for _ in range(rounds):
                    times["cached"].append(
                        await timed(service.render(entry, CAPTIONS, guild_id=GUILD))
                    )
                    times["decoded each time"].append(
                        await timed(service.render_custom(data, CAPTIONS, classic_boxes()))
                    )
                    times["preview"].append(
                        await timed(service.render(entry, CAPTIONS, guild_id=GUILD, preview=True))
                    )
                throughput = {
                    threads: await burst(service, entry, threads) for threads in (1, 2, 4)
                }
            pool.shutdown()
        await store.close()

    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"800x800 JPEG template, two captions, {rounds} interleaved rounds")
    print(f"{'variant':<20}{'median ms':>10}{'p90 ms':>9}")
    for name, values in times.items():
        print(f"{name:<20}{medians[name]:>10.2f}{percentile(values, 0.9):>9.2f}")
    saved = medians["decoded each time"] / medians["cached"]
    print(f"the cache makes a render {saved:.2f}x faster")
    print(f"\n{BURST} renders at once   {'memes/s':>8}{'loop lag p99 ms':>17}")
    for threads, (rate, lag) in throughput.items():
        print(f"{threads} render thread(s)  {rate:>8.1f}{lag:>17.2f}")
    return {
        "bench": "meme_service",
        "rounds": rounds,
        "cached_median_ms": medians["cached"],
        "decoded_each_time_median_ms": medians["decoded each time"],
        "preview_median_ms": medians["preview"],
        "cache_speedup": saved,
        **{f"memes_per_s_{t}_threads": rate for t, (rate, _) in throughput.items()},
        **{f"loop_lag_p99_ms_{t}_threads": lag for t, (_, lag) in throughput.items()},
    }


def cli(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.meme_service", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="15 rounds")
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(main(15 if args.quick else 60))))


if __name__ == "__main__":
    cli()
