"""A process charging the ledger is killed with SIGKILL; reopened, nothing is lost or doubled.

The child prints ``granted <id>`` once a reservation is durable (``async with`` has entered)
and ``settled <id> <cost>`` once its settlement is (the block has left). Everything the parent
read before the kill was therefore promised to be on disk.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path

from bot.clock import FakeClock
from bot.config import LedgerSettings, StoreSettings
from bot.ledger import Ledger
from bot.store import Store

REPO = Path(__file__).resolve().parents[2]
START = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
SETTINGS = LedgerSettings(
    daily_client_budget=10**9, user_burst_per_minute=10**9, guild_uploads_per_hour=10**6
)
GUILDS = 20

HAMMER = f"""
import asyncio, random, sys
from datetime import datetime, UTC
from bot.clock import FakeClock
from bot.config import LedgerSettings, StoreSettings
from bot.ledger import Ledger
from bot.store import Store

async def main(path):
    store = await Store.open(StoreSettings(path=path))
    ledger = await Ledger.open(
        store,
        LedgerSettings(daily_client_budget=10**9, user_burst_per_minute=10**9,
                       guild_uploads_per_hour=10**6),
        clock=FakeClock(datetime({START.year}, {START.month}, {START.day}, {START.hour},
                                 tzinfo=UTC)),
    )
    out = sys.stdout

    async def worker(n):
        rng = random.Random(n)
        while True:
            choice = rng.random()
            try:
                async with ledger.charge(n % {GUILDS}, n, 1, "gallery", "hammer") as charge:
                    out.write(f"granted {{charge.id}}\\n"); out.flush()
                    await asyncio.sleep(0)
                    if choice < 0.4:
                        actual = 1
                        charge.settle(1)
                    elif choice < 0.6:
                        actual = 0
                        charge.settle(0)
                    elif choice < 0.8:
                        actual = 1  # leaves without settling: charged in full
                    else:
                        actual = 0
                        raise KeyError("refunded by the exception")
            except KeyError:
                pass
            out.write(f"settled {{charge.id}} {{actual}}\\n"); out.flush()

    await asyncio.gather(*(worker(n) for n in range(100)))

asyncio.run(main(sys.argv[1]))
"""


async def _hammer_then_kill(path: Path, settled_before_kill: int) -> list[str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        HAMMER,
        str(path),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    lines: list[str] = []
    settled = 0
    try:
        assert proc.stdout is not None
        while settled < settled_before_kill:
            line = await asyncio.wait_for(proc.stdout.readline(), timeout=60)
            assert line, (await proc.stderr.read()).decode()  # type: ignore[union-attr]
            lines.append(line.decode().strip())
            settled += lines[-1].startswith("settled")
        proc.kill()  # SIGKILL: no cleanup, no flush, no close
        # Lines already in the pipe were written, hence promised, before the kill.
        lines.extend(line.decode().strip() for line in (await proc.stdout.read()).splitlines())
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
    stderr = (await proc.stderr.read()).decode()  # type: ignore[union-attr]
    # The hammer loops forever: only the kill ends it, and it must not have crashed first.
    # (asyncio's child watcher sometimes reports a SIGKILLed child as 255, "unknown pid",
    # when the exit status was collected elsewhere; -9 is the usual report.)
    assert proc.returncode in (-9, 255), (proc.returncode, stderr)
    assert "Traceback" not in stderr, stderr
    return lines


def _committed_rows(path: Path) -> dict[int, dict]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return {row["id"]: dict(row) for row in conn.execute("SELECT * FROM ledger_charges")}
    finally:
        conn.close()


async def _reopen(path: Path) -> tuple[Ledger, Store]:
    store = await Store.open(StoreSettings(path=path))
    return await Ledger.open(store, SETTINGS, clock=FakeClock(START)), store


async def test_after_a_sigkill_the_totals_equal_the_committed_audit_rows(tmp_path):
    path = tmp_path / "ledger.db"
    lines = await _hammer_then_kill(path, settled_before_kill=1500)
    granted = {int(line.split()[1]) for line in lines if line.startswith("granted")}
    settled = {
        int(parts[1]): int(parts[2])
        for parts in (line.split() for line in lines)
        if parts[0] == "settled"
    }
    rows = _committed_rows(path)

    # Nothing promised was lost.
    assert granted <= rows.keys()
    for charge_id, cost in settled.items():
        assert (rows[charge_id]["cost"], rows[charge_id]["state"]) == (
            cost,
            "settled" if cost else "refunded",
        )
    in_flight = {i for i, row in rows.items() if row["state"] == "reserved"}

    ledger, store = await _reopen(path)
    try:
        # A charge caught in flight is kept at its full reserved cost.
        assert ledger.orphans_recovered == len(in_flight)
        after = _committed_rows(path)
        assert {i for i, r in after.items() if r["state"] == "orphaned"} == in_flight
        assert all(after[i]["cost"] == 1 for i in in_flight)
        # The totals are exactly the committed rows: nothing lost, nothing counted twice.
        expected = {g: 0 for g in range(GUILDS)}
        for row in after.values():
            expected[row["guild_id"]] += row["cost"]
        assert {g: (await ledger.guild_status(g)).used for g in range(GUILDS)} == expected
        assert (await ledger.usage()).used_total == sum(expected.values())
    finally:
        await store.close()

    again, store = await _reopen(path)
    try:
        assert again.orphans_recovered == 0
        assert {g: (await again.guild_status(g)).used for g in range(GUILDS)} == expected
        # New charges continue after the highest id ever committed.
        async with again.charge(0, 1, 1, "gallery") as charge:
            charge.settle(1)
        assert charge.id > max(after)
    finally:
        await store.close()
