"""How long ``imgurbot sandbox`` takes to be useful: from the command to the first answer.

    python -m bench.sandbox_startup [--quick] [--runs N]

Starts ``imgurbot sandbox --port 0`` as a person does (a fresh Python process), ``--runs``
times (default 5; ``--quick``: 2), one after another. Each run reports two figures: what
the sandbox logs (from its process's start to the bot's first answered command: the
emulator, the fake Discord and the bot started, the commands synced, one command answered)
and, measured here, the time from spawning the process to the line that prints the page's
address (the same, plus the interpreter's own start). Each run is then stopped with SIGINT,
as Ctrl-C does. The target is under 10 s.

Prints a table and ends with one line of JSON (medians, and every run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
import statistics
import sys
import time

LOGGED = re.compile(r"first command answered (\d+\.\d+) s after start")


async def one_run() -> dict[str, float]:
    began = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "sandbox", "--port", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 120)
        spawned_to_url = time.perf_counter() - began
        if b"open http" not in line:
            raise SystemExit(f"the sandbox did not start: {line.decode()!r}")
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = await proc.communicate()
    found = LOGGED.search(err.decode())
    if proc.returncode != 0 or found is None:
        raise SystemExit(f"the sandbox ended with {proc.returncode}:\n{err.decode()}")
    return {"logged_s": float(found[1]), "spawn_to_url_s": round(spawned_to_url, 3)}


async def run(runs: int) -> dict[str, object]:
    results = [await one_run() for _ in range(runs)]
    return {
        "runs": runs,
        "logged_median_s": statistics.median(r["logged_s"] for r in results),
        "spawn_to_url_median_s": round(statistics.median(r["spawn_to_url_s"] for r in results), 3),
        "each": results,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sandbox_startup", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2 runs instead of 5")
    parser.add_argument("--runs", type=int, help="how many starts (default 5)")
    args = parser.parse_args(argv)
    figures = asyncio.run(run(args.runs or (2 if args.quick else 5)))
    print(f"sandbox start to first answered command, median of {figures['runs']} runs")
    print(f"  as logged by the sandbox   {figures['logged_median_s']:.2f} s")
    print(f"  spawn to the printed URL   {figures['spawn_to_url_median_s']:.2f} s")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
