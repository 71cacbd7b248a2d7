"""Several processes sharing one Imgur budget through PostgreSQL.

Each process leases credits from the day's budget in one atomic statement and grants only
from its lease, so however they interleave (and whichever of them is killed), the credits
all of them count never pass the budget. Breakers opened in one hold in all; a restarted
process recovers its own charges left in flight and nobody else's; charge ids never clash.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.clock import FakeClock
from bot.config import LedgerSettings
from bot.errors import QuotaExceeded
from bot.imgur.ratelimit import RateLimits
from bot.ledger import Ledger

REPO = Path(__file__).resolve().parents[2]
START = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
BUDGET = 300
TIGHT = LedgerSettings(
    daily_client_budget=BUDGET,
    safety_reserve=0,
    scheduler_reserve=0,
    guild_floor=0,
    user_burst_per_minute=10**9,
    guild_uploads_per_hour=10**6,
)


@pytest.fixture
def engine() -> str:
    return "postgresql"  # this whole module is about sharing a server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


async def open_cluster(open_store, clock, owners, settings=TIGHT):
    store = await open_store()
    return store, [await Ledger.open(store, settings, clock=clock, owner=o) for o in owners]


async def counted(store) -> int:
    row = await store.fetchone("SELECT COALESCE(SUM(cost), 0) AS total FROM ledger_charges")
    return int(row["total"])


async def test_processes_together_never_grant_past_the_budget(open_store, clock) -> None:
    store, ledgers = await open_cluster(open_store, clock, ["a", "b", "c"])

    async def one(ledger, user):
        async with ledger.charge(user % 7, user, 1, "gallery") as charge:
            await asyncio.sleep(0)
            charge.settle(1)

    results = await asyncio.gather(
        *(one(ledgers[n % 3], n) for n in range(600)), return_exceptions=True
    )
    granted = results.count(None)
    refused = [r for r in results if isinstance(r, QuotaExceeded)]
    assert granted + len(refused) == 600
    assert granted <= BUDGET and granted >= BUDGET - 3  # nothing stranded but a lease's crumbs
    for ledger in ledgers:
        await ledger.flush()
    assert await counted(store) == granted
    leased = await store.fetchone("SELECT leased FROM ledger_leases")
    assert leased["leased"] <= BUDGET
    ids = [r["id"] for r in await store.fetch("SELECT id FROM ledger_charges")]
    assert len(ids) == len(set(ids))


async def test_what_a_process_did_not_use_goes_back_for_the_others(open_store, clock) -> None:
    store, (a, b) = await open_cluster(open_store, clock, ["a", "b"])
    for _ in range(5):
        async with a.charge(1, 1, 1, "gallery") as charge:
            charge.settle(1)
    await a.close()  # a stops: its unused lease returns to the day's budget
    for _ in range(BUDGET - 5):
        async with b.charge(2, 2, 1, "gallery") as charge:
            charge.settle(1)
    with pytest.raises(QuotaExceeded):
        async with b.charge(2, 2, 1, "gallery"):
            pass
    await b.flush()
    assert await counted(store) == BUDGET


async def test_a_breaker_one_process_opens_holds_in_every_process(open_store, clock) -> None:
    store, (a, b) = await open_cluster(open_store, clock, ["a", "b"])
    limits = RateLimits.from_headers(
        {"X-RateLimit-UserRemaining": "0", "X-RateLimit-UserReset": "600"}, now=clock.now()
    )
    a.observe(limits, None, 429)
    for _ in range(100):  # the NOTIFY arrives on b's listening connection
        if "ip" in b.book.open_breakers(clock.now().timestamp()):
            break
        await asyncio.sleep(0.02)
    with pytest.raises(QuotaExceeded) as refused:
        async with b.charge(1, 1, 1, "gallery"):
            pass
    assert refused.value.scope == "ip"
    # A process that starts later reads it from the table.
    late = await Ledger.open(store, TIGHT, clock=clock, owner="late")
    assert "ip" in late.book.open_breakers(clock.now().timestamp())


async def test_a_restart_recovers_its_own_charges_in_flight_and_no_one_elses(
    open_store, clock
) -> None:
    store, (a, _b) = await open_cluster(open_store, clock, ["a", "b"])
    async with a.charge(1, 1, 1, "gallery"):
        await a.flush()
        # b restarts while a is mid-call: a's reservation is a's business.
        b_again = await Ledger.open(store, TIGHT, clock=clock, owner="b")
        assert b_again.orphans_recovered == 0
        # a crashes here (never leaves the block); a new a recovers it.
        a_again = await Ledger.open(store, TIGHT, clock=clock, owner="a")
        assert a_again.orphans_recovered == 1


# -- real processes, killed ------------------------------------------------------------------

HAMMER = """
import asyncio, random, sys
from bot.clock import SystemClock
from bot.config import LedgerSettings
from bot.ledger import Ledger
from bot.store.postgres import PostgresStore

async def main(url, schema, owner, budget):
    store = await PostgresStore.open(url, schema=schema, max_size=4)
    ledger = await Ledger.open(store, LedgerSettings(daily_client_budget=int(budget),
        safety_reserve=0, scheduler_reserve=0, guild_floor=0, user_burst_per_minute=10**9,
        guild_uploads_per_hour=10**6), owner=owner)
    out = sys.stdout

    async def worker(n):
        rng = random.Random(n)
        while True:
            try:
                async with ledger.charge(n % 9, n, 1, "gallery", "hammer") as charge:
                    out.write(f"granted {charge.id}\\n"); out.flush()
                    await asyncio.sleep(rng.random() / 100)
                    charge.settle(1 if rng.random() < 0.7 else 0)
            except Exception as exc:  # refused: the budget is spent
                out.write(f"refused {type(exc).__name__}\\n"); out.flush()
                await asyncio.sleep(0.05)

    await asyncio.gather(*(worker(n) for n in range(20)))

asyncio.run(main(*sys.argv[1:5]))
"""


async def test_processes_killed_mid_burst_never_passed_the_budget(open_store, postgres_url) -> None:
    store = await open_store()  # makes the schema, and its tables on first ledger open
    await Ledger.open(store, TIGHT, owner="setup")
    schema = (await store.fetchone("SELECT current_schema() AS s"))["s"]
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            HAMMER,
            postgres_url,
            schema,
            f"p{i}",
            str(BUDGET),
            cwd=REPO,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for i in range(3)
    ]
    lines: list[str] = []
    try:
        refused = 0
        while refused < 30:  # until the budget is spent and the processes are being refused
            for proc in procs:
                assert proc.stdout is not None
                line = await asyncio.wait_for(proc.stdout.readline(), timeout=60)
                assert line, (await proc.stderr.read()).decode()  # type: ignore[union-attr]
                lines.append(line.decode().strip())
                refused += lines[-1].startswith("refused")
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()  # SIGKILL, mid-burst: no give-back, no flush
            await proc.wait()
    granted = [int(line.split()[1]) for line in lines if line.startswith("granted")]
    assert len(granted) == len(set(granted))  # no id handed out twice
    assert await counted(store) <= BUDGET
    leased = await store.fetchone("SELECT leased FROM ledger_leases")
    assert leased["leased"] <= BUDGET
    # Each process, restarted, recovers what it had in flight (counted in full).
    for i in range(3):
        again = await Ledger.open(store, TIGHT, owner=f"p{i}")
        await again.close()
    left = await store.fetch("SELECT id FROM ledger_charges WHERE state = 'reserved'")
    assert left == []
    assert await counted(store) <= BUDGET


async def test_imgurs_count_of_every_process_together_is_not_counted_again_in_each(
    open_store, clock
) -> None:
    """Imgur's figures are the Client-ID's, all processes together: each process must not
    take the others' calls for a deficit of its own (that counted them once per process)."""
    store, ledgers = await open_cluster(open_store, clock, ["a", "b", "c", "d"])
    spent = 0
    for n in range(40):
        ledger = ledgers[n % 4]
        async with ledger.charge(n % 5, n, 1, "gallery") as charge:
            charge.settle(1)
        spent += 1
        # Every answer carries Imgur's count for the Client-ID: what all four spent.
        remaining = BUDGET - spent
        ledger.observe(RateLimits(client_limit=BUDGET, client_remaining=remaining))
    for ledger in ledgers:
        await ledger.flush()
    assert await counted(store) == spent  # no adjustment rows: nothing counted twice
    leased = (await store.fetchone("SELECT leased FROM ledger_leases"))["leased"]
    assert spent <= leased <= BUDGET


async def test_what_another_app_spent_on_the_client_id_is_kept_from_every_process(
    open_store, clock
) -> None:
    store, (a, b) = await open_cluster(open_store, clock, ["a", "b"])
    async with a.charge(1, 1, 1, "gallery") as charge:
        charge.settle(1)
    # Imgur has counted 200 credits: one is ours, 199 another app's with the same Client-ID.
    a.observe(RateLimits(client_limit=BUDGET, client_remaining=BUDGET - 200))
    await a.flush()  # the raise is a background write: flush waits for it
    leased = (await store.fetchone("SELECT leased FROM ledger_leases"))["leased"]
    assert leased >= 200
    granted = 0
    with pytest.raises(QuotaExceeded):
        for n in range(BUDGET):
            async with b.charge(2, n, 1, "gallery") as charge:
                charge.settle(1)
            granted += 1
    assert granted <= BUDGET - 200
