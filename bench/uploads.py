"""Memory and throughput of concurrent uploads: streamed (the bot's way) against naive.

    python -m bench.uploads [--quick] [--uploads N] [--runs R] [--mb SIZE]

N members (20 by default) each upload the same 9 MB picture at once, from the fake
Discord's CDN to the Imgur emulator, two ways, each in a fresh child process of its own
so that only the uploading side is measured (the fake Discord and the emulator run in this
process, as Discord and Imgur run elsewhere in production):

- streamed: the bot's own ``UploadService`` (real store, ledger and Imgur client): each
  file streamed from the CDN into a temporary file, judged on the two inspection threads,
  then streamed from that file into the multipart body of its upload;
- naive: what many bots do: read the whole file into memory, base64 it, post it as a form
  field, urlencoded (imgurpython's way). Most of its time is the bot's own CPU percent-
  encoding 12 MB of base64 text per file; its memory, the copies of each file held at once.

Measured per way: the peak resident memory the uploads added to the child (the kernel's
high-water mark, reset just before they start, and a 2 ms sampler as a check), the wall
time from the first request to the last answer, and throughput (megabytes uploaded a
second). Warm-up before the measurement: one small upload each way, so imports, thread
pools and connections are paid for. Each way runs ``--runs`` times (3; 1 with
``--quick``), alternating; the JSON holds the medians.

Sizes are binary megabytes (MiB), as Discord and the bot's messages count them. Prints a
table and ends with one line of JSON: ``peak_rss_added_mb`` (target < 60),
``naive_peak_rss_added_mb`` and the throughputs.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import io
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aiohttp
from PIL import Image
from pydantic import SecretStr

ROOT = Path(__file__).resolve().parents[1]
CLIENT_ID = "bench-uploads"
MIB = 1024 * 1024
TARGET_MB = 60


# -- files -----------------------------------------------------------------------------------


def noise_png(target_bytes: int, seed: int = 11) -> bytes:
    """A real PNG of seeded noise of about ``target_bytes`` (noise does not compress)."""
    side = int((target_bytes / 3) ** 0.5) - 8
    pixels = random.Random(seed).randbytes(side * side * 3)
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), pixels).save(out, "PNG", compress_level=1)
    return out.getvalue()


# -- measuring memory in the child -----------------------------------------------------------


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def rss_mb() -> float:
    return _status_kb("VmRSS") * 1024 / MIB


class PeakMemory:
    """The peak RSS from ``start()`` to ``stop()``: the kernel's high-water mark (reset
    through ``clear_refs``) and a sampling thread, whichever saw more."""

    def __init__(self, every_s: float = 0.002) -> None:
        self._every_s = every_s
        self._stop = threading.Event()
        self._sampled = 0.0
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._hwm_reset = False

    def _sample(self) -> None:
        while not self._stop.wait(self._every_s):
            self._sampled = max(self._sampled, rss_mb())

    def start(self) -> None:
        try:
            Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
            self._hwm_reset = True
        except OSError:
            self._hwm_reset = False
        self._sampled = rss_mb()
        self._thread.start()

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        peak = max(self._sampled, rss_mb())
        if self._hwm_reset:
            peak = max(peak, _status_kb("VmHWM") * 1024 / MIB)
        return peak


async def measured(run: Callable[[], object]) -> dict[str, float]:
    gc.collect()
    baseline = rss_mb()
    peak = PeakMemory()
    peak.start()
    started = time.perf_counter()
    await run()  # type: ignore[misc]
    seconds = time.perf_counter() - started
    return {"peak_added_mb": peak.stop() - baseline, "seconds": seconds, "baseline_mb": baseline}


# -- the two ways, in the child --------------------------------------------------------------


async def streamed_child(urls: list[str], warm_url: str, imgur_url: str, size: int) -> dict:
    from bot.access import ImgurAccess
    from bot.config import (
        CacheSettings,
        ImgurSettings,
        LedgerSettings,
        Secrets,
        StoreSettings,
        UploadSettings,
    )
    from bot.imgur.aiohttp_transport import aiohttp_client
    from bot.ledger import Ledger
    from bot.store import Store
    from bot.uploads.service import Incoming, UploadService

    loose = LedgerSettings(
        user_burst_per_minute=10**6, guild_uploads_per_hour=10**6, imgur_uploads_per_hour=10**6
    )
    with tempfile.TemporaryDirectory(prefix="bench-uploads-") as tmp:
        store = await Store.open(StoreSettings(path=Path(tmp) / "bot.db", synchronous="NORMAL"))
        ledger = await Ledger.open(store, loose)
        # The bot's settings: one session for Imgur and Discord's CDN alike.
        imgur_settings = ImgurSettings(api_base_url=imgur_url, total_timeout_s=120)
        timeout = aiohttp.ClientTimeout(total=120)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            client = aiohttp_client(
                session, imgur_settings, CacheSettings(),
                Secrets(imgur_client_id=SecretStr(CLIENT_ID)),
            )  # fmt: skip
            client.add_listener(ledger.observe)
            access = ImgurAccess(client, ledger)
            with ThreadPoolExecutor(2, thread_name_prefix="imgurbot-inspect") as inspections:
                service = await UploadService.open(
                    store, imgur=access, ledger=ledger, session=session, executor=inspections,
                    settings=UploadSettings(temp_dir=Path(tmp) / "files"),
                )  # fmt: skip

                async def one(i: int, url: str) -> None:
                    await service.upload_attachments(
                        [Incoming(url, "big.png", size)], guild_id=1000 + i, user_id=i,
                        channel_id=None, size_limit=10 * MIB,
                    )  # fmt: skip

                await service.upload_attachments(
                    [Incoming(warm_url, "warm.png", None)], guild_id=1, user_id=1,
                    channel_id=None, size_limit=10 * MIB,
                )  # fmt: skip
                result = await measured(
                    lambda: asyncio.gather(*(one(i, u) for i, u in enumerate(urls)))
                )
        await ledger.close()
        await store.close()
    return result


async def naive_child(urls: list[str], warm_url: str, imgur_url: str, _size: int) -> dict:
    """Read whole, base64, post: what a bot without streaming does."""
    headers = {"Authorization": f"Client-ID {CLIENT_ID}"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:

        async def one(url: str) -> None:
            async with session.get(url) as response:
                data = await response.read()
            form = {"image": base64.b64encode(data).decode("ascii"), "type": "base64"}
            async with session.post(f"{imgur_url}/3/image", data=form, headers=headers) as answer:
                body = await answer.json()
                if not body.get("success"):
                    raise RuntimeError(f"Imgur refused a naive upload: {body}")

        await one(warm_url)
        return await measured(lambda: asyncio.gather(*(one(u) for u in urls)))


WAYS = {"streamed": streamed_child, "naive": naive_child}


def child_main(args: argparse.Namespace) -> None:
    plan = json.loads(Path(args.plan).read_text())
    result = asyncio.run(
        WAYS[args.child](plan["urls"], plan["warm_url"], plan["imgur_url"], plan["size"])
    )
    print(json.dumps(result), flush=True)


# -- the parent: the fakes, the children, the table ------------------------------------------


async def run_child(way: str, plan_file: Path) -> dict:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.uploads", "--child", way, "--plan", str(plan_file),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"the {way} child failed:\n{err.decode()[-3000:]}")
    return json.loads(out.decode().strip().splitlines()[-1])


async def main(args: argparse.Namespace) -> None:
    from fakes.discord import FakeDiscord
    from fakes.imgur import Emulator, EmulatorConfig

    data = noise_png(int(args.mb * MIB))
    warm = noise_png(20_000, seed=2)
    config = EmulatorConfig(
        seed=3, item_count=60, upload_hourly_limit=10**6, post_hourly_limit=10**6,
        client_daily_limit=10**7, user_hourly_limit=10**6,
    )  # fmt: skip
    results: dict[str, list[dict]] = {way: [] for way in WAYS}
    async with FakeDiscord(token="bench") as fd, Emulator(config) as emu:
        with tempfile.TemporaryDirectory(prefix="bench-uploads-plan-") as tmp:
            for run in range(args.runs):
                for way in WAYS if run % 2 == 0 else reversed(list(WAYS)):
                    # Fresh files each run: nothing is served from a cache of the last.
                    urls = [
                        fd.add_attachment(f"big{i}.png", data, "image/png").url
                        for i in range(args.uploads)
                    ]
                    plan = {
                        "urls": urls,
                        "warm_url": fd.add_attachment("warm.png", warm, "image/png").url,
                        "imgur_url": emu.base_url,
                        "size": len(data),
                    }
                    plan_file = Path(tmp) / f"{way}-{run}.json"
                    plan_file.write_text(json.dumps(plan))
                    uploads_before = emu.stats.uploads
                    result = await run_child(way, plan_file)
                    if emu.stats.uploads - uploads_before != args.uploads + 1:
                        raise RuntimeError(f"{way}: not every upload reached the emulator")
                    results[way].append(result)
    report(results, args, len(data))


def report(results: dict[str, list[dict]], args: argparse.Namespace, size: int) -> None:
    total_mb = args.uploads * size / MIB
    medians: dict[str, dict[str, float]] = {}
    print(
        f"uploads: {args.uploads} concurrent uploads of {size / MIB:.1f} MB each "
        f"(fake Discord CDN -> Imgur emulator), {args.runs} run(s) per way, median shown"
    )
    print(f"{'way':<10} {'peak RSS added (MB)':>20} {'wall time (s)':>14} {'MB/s':>8}   each run")
    for way, runs in results.items():
        peak = statistics.median(r["peak_added_mb"] for r in runs)
        seconds = statistics.median(r["seconds"] for r in runs)
        medians[way] = {"peak": peak, "seconds": seconds, "throughput": total_mb / seconds}
        each = ", ".join(f"{r['peak_added_mb']:.0f} MB/{r['seconds']:.2f} s" for r in runs)
        print(f"{way:<10} {peak:>20.1f} {seconds:>14.2f} {total_mb / seconds:>8.1f}   {each}")
    streamed, naive = medians["streamed"], medians["naive"]
    verdict = "met" if streamed["peak"] < TARGET_MB else "MISSED"
    print(
        f"streamed adds {streamed['peak']:.1f} MB at its peak (target < {TARGET_MB}: "
        f"{verdict}); naive adds {naive['peak']:.1f} MB; throughput "
        f"{streamed['throughput'] / naive['throughput']:.2f}x naive's"
    )
    print(
        json.dumps(
            {
                "benchmark": "uploads",
                "uploads": args.uploads,
                "file_mb": round(size / MIB, 2),
                "runs": args.runs,
                "peak_rss_added_mb": round(streamed["peak"], 1),
                "naive_peak_rss_added_mb": round(naive["peak"], 1),
                "throughput_mb_s": round(streamed["throughput"], 1),
                "naive_throughput_mb_s": round(naive["throughput"], 1),
                "throughput_ratio": round(streamed["throughput"] / naive["throughput"], 2),
                "target_peak_rss_added_mb": TARGET_MB,
            }
        )
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one run per way")
    parser.add_argument("--uploads", type=int, default=20, help="concurrent uploads (20)")
    parser.add_argument("--runs", type=int, default=None, help="runs per way (3; quick: 1)")
    parser.add_argument("--mb", type=float, default=9.0, help="size of each file in MB (9)")
    parser.add_argument("--child", choices=sorted(WAYS), help=argparse.SUPPRESS)
    parser.add_argument("--plan", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.runs is None:
        args.runs = 1 if args.quick else 3
    return args


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.child:
        child_main(arguments)
    else:
        asyncio.run(main(arguments))
