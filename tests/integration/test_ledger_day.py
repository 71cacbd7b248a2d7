"""A simulated day: 200 guilds ask for three times the budget, through the real Imgur client,
against the Imgur emulator, with one fake clock for the ledger, the client and the emulator.

The budget is scaled down (2,000 credits a day) so the day runs in seconds. The emulator's
per-IP hourly limit is set below the hourly demand, so the ledger's ``ip`` breaker
has to step in too. What must hold: Imgur never answers 429, the client credits Imgur reports
never fall below the safety reserve, every guild gets at least its floor, the ledger and
Imgur agree on the credits spent, and a guild that spams is refused until the day's end.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from bot.clock import FakeClock
from bot.config import CacheSettings, ImgurSettings, LedgerSettings, Secrets, StoreSettings
from bot.errors import QuotaExceeded
from bot.imgur import sansio
from bot.imgur.aiohttp_transport import aiohttp_client
from bot.ledger import Ledger
from bot.store import Store
from fakes.imgur.app import Emulator, EmulatorConfig

pytestmark = pytest.mark.slow

DAY_START = datetime(2026, 3, 10, tzinfo=UTC)
CLIENT_LIMIT = 2_000
GUILDS = 200
SPAMMER = 0
SLOT_S = 300  # requests are sent in five-minute slots, concurrently within a slot
GENEROUS = {1: 60, 2: 60, 3: 60}  # guilds the owner gave a bigger allowance
SETTINGS = LedgerSettings(daily_client_budget=CLIENT_LIMIT, guild_floor=5, user_reserve=25)


def _demand(rng: random.Random) -> list[tuple[int, int, int]]:
    """(second of the day, guild, user) for every command that needs Imgur.

    Every guild asks at least three times its fair share, spread over the day; a few
    popular guilds ask far more; the spammer fires a thousand requests in one hour.
    """
    demand = []
    weights = [1 / (rank + 1) for rank in range(GUILDS)]  # Zipf: a few guilds are busy
    extra = 3 * CLIENT_LIMIT - GUILDS * 24
    for guild in range(GUILDS):
        asks = 24 + round(extra * weights[guild] / sum(weights))
        for _ in range(asks):
            demand.append((rng.randrange(86_400), guild, guild * 1000 + rng.randrange(50)))
    for n in range(1000):
        demand.append((10 * 3600 + rng.randrange(3600), SPAMMER, SPAMMER * 1000 + n % 200))
    return sorted(demand)


async def _yesterday_every_guild_was_active(ledger: Ledger, clock: FakeClock) -> None:
    # Answered from the cache yesterday: active, but nothing reached Imgur.
    clock.set(DAY_START - timedelta(hours=1))
    for guild in range(GUILDS):
        async with ledger.charge(guild, guild * 1000, 1, "gallery", "frontpage") as charge:
            charge.settle(0)
    clock.set(DAY_START)


async def test_a_day_at_three_times_the_budget(tmp_path):
    clock = FakeClock(DAY_START - timedelta(hours=2))
    rng = random.Random(7)
    emulator_config = EmulatorConfig(
        seed=1,
        item_count=200,
        client_daily_limit=CLIENT_LIMIT,
        user_hourly_limit=200,  # below the busiest hours' demand: the breaker must act
        clock=clock,
    )
    store = await Store.open(StoreSettings(path=tmp_path / "day.db"))
    try:
        ledger = await Ledger.open(store, SETTINGS, clock=clock)
        await _yesterday_every_guild_was_active(ledger, clock)
        for guild, credits in GENEROUS.items():
            await ledger.set_allowance(guild, credits)
        async with Emulator(emulator_config) as emu:
            client = aiohttp_client(
                None,
                ImgurSettings(max_retries=0),
                CacheSettings(enabled=False),
                Secrets(imgur_client_id=SecretStr("sim-client")),
                base_url=emu.base_url,
                clock=clock,
            )
            reported: list[int] = []
            client.add_listener(ledger.observe)
            client.add_listener(
                lambda limits, _req, _status: reported.append(limits.client_remaining)
            )
            try:
                served, refusals, spam = await _run_the_day(client, ledger, clock, _demand(rng))
            finally:
                await client.close()
            stats = emu.stats
            remaining = emu.remaining("sim-client")
        await ledger.flush()
        usage = await ledger.usage(top=GUILDS)
        day_rows = await store.run(
            lambda db: {
                row["guild_id"]: row["credits"]
                for row in db.query(
                    "SELECT guild_id, SUM(cost) AS credits FROM ledger_charges "
                    "WHERE at >= ? GROUP BY guild_id",
                    [DAY_START.timestamp()],
                )
            }
        )
    finally:
        await store.close()

    safety = usage.safety_reserve
    assert (usage.client_limit, safety) == (CLIENT_LIMIT, 200)
    # Imgur never had to say no.
    assert stats.rate_limited == 0
    # What Imgur reported, and what it has left at the end, stayed above the reserve.
    assert min(r for r in reported if r is not None) >= safety
    assert remaining["ClientRemaining"] >= safety
    # The ledger and Imgur agree on every credit spent today.
    assert stats.credits_charged == usage.used_total == sum(day_rows.values())
    # Demand really exceeded the budget, and the budget was used, not wasted.
    assert sum(refusals.values()) > 2 * CLIENT_LIMIT
    assert usage.used_total >= usage.guild_pool - GUILDS
    # The breaker for Imgur's per-IP limit stepped in before Imgur did.
    assert refusals["ip"] > 0
    # The scheduler used its own reserve, and no more.
    assert usage.scheduler_used == served[None] == usage.scheduler_pool == 100
    assert refusals["scheduler"] > 0
    # The owner's overrides were honoured.
    assert {g: served[g] for g in GENEROUS} == GENEROUS
    # Every guild got at least its floor.
    floor = (await ledger.guild_status(100)).floor
    assert floor == SETTINGS.guild_floor
    assert min(served[g] for g in range(GUILDS)) >= floor
    # The spammer was stopped at its allowance, told to come back when Imgur's day ends.
    assert served[SPAMMER] <= (await ledger.guild_status(SPAMMER)).allowance
    assert spam, "the spammer was never refused"
    assert {e.scope for e in spam} >= {"guild"}
    day_end = DAY_START + timedelta(days=1)
    for refusal in (e for e in spam if e.scope == "guild"):
        assert abs((refusal.resets_at - day_end).total_seconds()) <= 1


async def _run_the_day(client, ledger, clock, demand):
    """Play the demand slot by slot.

    Returns the successes per guild, the refusals per scope, and the spammer's refusals.
    """
    served: Counter[int | None] = Counter()
    refusals: Counter[str] = Counter()
    spam: list[QuotaExceeded] = []
    by_slot: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
    for second, guild, user in demand:
        by_slot[second // SLOT_S].append((second, guild, user))
    asked = 0

    async def ask(guild: int | None, user: int | None, n: int) -> None:
        # A distinct request each time, so every command really needs Imgur.
        if guild is None:  # the scheduler's front-page highlight
            request = sansio.gallery("hot", "viral", "day", page=n)
        else:
            request = sansio.gallery_search(f"cats {guild} {n}")
        try:
            await client.fetch(request, gate=ledger.gate(guild, user, "search"))
        except QuotaExceeded as refused:
            refusals[refused.scope] += 1
            if guild == SPAMMER:
                spam.append(refused)
        else:
            served[guild] += 1

    for slot in sorted(by_slot):
        clock.set(DAY_START + timedelta(seconds=slot * SLOT_S))
        batch = [(g, u) for _, g, u in by_slot[slot]] + [(None, None)]
        await asyncio.gather(*(ask(g, u, asked + i) for i, (g, u) in enumerate(batch)))
        asked += len(batch)
    clock.set(DAY_START + timedelta(days=1) - timedelta(seconds=1))
    return served, refusals, spam
