"""The quota ledger: costs, budgets, reserve-then-settle, breakers, days, audit, restarts."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from bot.clock import FakeClock
from bot.config import LedgerSettings
from bot.errors import QuotaExceeded
from bot.imgur.errors import NoAnswer, NotFound, RateLimited, ServerError
from bot.imgur.ratelimit import RateLimits
from bot.ledger import Ledger
from bot.store import StoreClosed

START = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
MIDNIGHT = datetime(2026, 3, 11, tzinfo=UTC)

# Generous per-user and upload limits unless a test is about them.
LOOSE = {"user_burst_per_minute": 10_000, "guild_uploads_per_hour": 1_000}


@dataclass
class FakeRequest:
    cost: int
    kind: str
    method: str = "GET"


@pytest.fixture
def clock():
    return FakeClock(START)


@pytest.fixture
async def store(open_store):
    """The test's store, on SQLite and on PostgreSQL (see tests/conftest.py)."""
    return await open_store()


@pytest.fixture
def open_ledger(store, clock):
    """Open a ledger on the test's store (again, to simulate a restart). Closing the store
    at the end finishes every write the ledgers queued."""

    async def open_(**settings):
        return await Ledger.open(store, LedgerSettings(**{**LOOSE, **settings}), clock=clock)

    return open_


async def charge_ok(ledger, guild=1, user=1, cost=1, kind="gallery", settle=None):
    async with ledger.charge(guild, user, cost, kind, "cmd") as charge:
        if settle is not None:
            charge.settle(settle)
    return charge


async def rows(store):
    return await store.fetch("SELECT * FROM ledger_charges ORDER BY id")


# -- reserve, then settle ---------------------------------------------------------------------


async def test_a_charge_is_audited_with_who_what_and_when(open_ledger, store):
    ledger = await open_ledger()
    await charge_ok(ledger, guild=5, user=9, cost=1, settle=1)
    [row] = await rows(store)
    assert row["guild_id"] == 5 and row["user_id"] == 9
    assert (row["command"], row["kind"], row["cost"], row["state"]) == (
        "cmd",
        "gallery",
        1,
        "settled",
    )
    assert row["at"] == START.timestamp()


async def test_settle_replaces_the_reservation_with_what_imgur_counted(open_ledger, store):
    ledger = await open_ledger()
    await charge_ok(ledger, cost=10, kind="upload", settle=1)
    assert (await ledger.guild_status(1)).used == 1
    assert [r["cost"] for r in await rows(store)] == [1]


async def test_leaving_the_block_normally_without_settle_charges_the_reservation(open_ledger):
    ledger = await open_ledger()
    await charge_ok(ledger, cost=10, kind="upload")
    assert (await ledger.guild_status(1)).used == 10


async def test_settle_zero_is_a_refund(open_ledger, store):
    ledger = await open_ledger()
    await charge_ok(ledger, cost=1, settle=0)
    assert (await ledger.guild_status(1)).used == 0
    assert [r["state"] for r in await rows(store)] == ["refunded"]


@pytest.mark.parametrize(
    ("error", "used", "state"),
    [
        (RuntimeError("our bug, request never sent"), 0, "refunded"),
        (NoAnswer("connection refused", may_have_reached=False), 0, "refunded"),
        # Anything that may have reached Imgur counts until Imgur's figures say otherwise.
        (NoAnswer("timed out", may_have_reached=True), 1, "uncertain"),
        (ServerError("boom", status=500), 1, "uncertain"),
        (NotFound("gone", status=404), 1, "uncertain"),
        (RateLimited("Too Many Requests", scope="ip"), 1, "uncertain"),
    ],
)
async def test_an_exception_refunds_only_what_never_reached_imgur(
    open_ledger, store, error, used, state
):
    ledger = await open_ledger()
    with pytest.raises(type(error)):
        async with ledger.charge(1, 1, 1, "gallery"):
            raise error
    assert (await ledger.guild_status(1)).used == used
    await ledger.flush()
    assert [r["state"] for r in await rows(store)] == [state]


async def test_a_charge_settles_once_and_only_inside_its_block(open_ledger):
    ledger = await open_ledger()
    async with ledger.charge(1, 1, 1, "gallery") as charge:
        charge.settle(1)
        with pytest.raises(RuntimeError):
            charge.settle(0)
    with pytest.raises(RuntimeError):
        charge.settle(0)


async def test_the_gate_charges_a_request_by_its_cost_and_kind(open_ledger, store):
    ledger = await open_ledger()
    gate = ledger.gate(3, 4, "upload")
    async with gate(FakeRequest(cost=10, kind="upload", method="POST")) as charge:
        charge.settle(10)
    async with gate(FakeRequest(cost=0, kind="oauth", method="POST")) as charge:
        charge.settle(0)
    assert [(r["kind"], r["cost"], r["command"]) for r in await rows(store)] == [
        ("upload", 10, "upload"),
        ("oauth", 0, "upload"),
    ]
    assert (await ledger.guild_status(3)).used == 10


async def test_a_cancelled_reservation_is_given_back(open_ledger, store):
    ledger = await open_ledger(daily_client_budget=100, safety_reserve=0, scheduler_reserve=0)
    entered = asyncio.Event()

    async def slow_call():
        async with ledger.charge(1, 1, 1, "gallery"):
            entered.set()
            await asyncio.sleep(3600)

    task = asyncio.ensure_future(slow_call())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await ledger.flush()
    assert (await ledger.guild_status(1)).used == 0
    assert [r["state"] for r in await rows(store)] == ["refunded"]


# -- budgets ----------------------------------------------------------------------------------


async def test_the_guild_pool_is_the_budget_minus_both_reserves(open_ledger):
    ledger = await open_ledger()
    usage = await ledger.usage()
    assert (usage.client_limit, usage.safety_reserve, usage.scheduler_pool) == (12500, 1250, 625)
    assert usage.guild_pool == 12500 - 1250 - 625


async def test_active_guilds_share_the_pool_fairly(open_ledger):
    ledger = await open_ledger(daily_client_budget=1000, guild_floor=10)
    for guild in (1, 2, 3, 4):
        await charge_ok(ledger, guild=guild)
    pool = 1000 - 100 - 50
    assert (await ledger.guild_status(1)).allowance == pool // 4


async def test_a_guild_gets_at_least_the_floor_when_the_share_is_smaller(open_ledger):
    ledger = await open_ledger(daily_client_budget=1000, guild_floor=10, active_days=7)
    for guild in range(100):
        await charge_ok(ledger, guild=guild)
    pool = 1000 - 100 - 50
    status = await ledger.guild_status(0)
    assert pool // 100 < 10
    # 100 floors of 10 do not fit into 850: the floor shrinks to what fits for everyone.
    assert status.allowance == status.floor == pool // 100


async def test_a_guild_that_used_its_allowance_is_refused_until_the_day_ends(open_ledger):
    ledger = await open_ledger(daily_client_budget=1000, guild_floor=10)
    allowance = (await ledger.guild_status(1)).allowance
    for _ in range(allowance):
        await charge_ok(ledger, guild=1, settle=1)
    with pytest.raises(QuotaExceeded) as refused:
        await charge_ok(ledger, guild=1)
    assert refused.value.scope == "guild"
    assert refused.value.resets_at == MIDNIGHT
    assert (await ledger.guild_status(1)).left == 0


async def test_a_big_spender_cannot_eat_other_guilds_floors(open_ledger):
    ledger = await open_ledger(
        daily_client_budget=100, safety_reserve=0, scheduler_reserve=0, guild_floor=20
    )
    for guild in (2, 3):  # two other guilds are active, each owed a floor of 20
        await charge_ok(ledger, guild=guild, settle=0)
    await ledger.set_allowance(1, 1000)
    granted = 0
    with pytest.raises(QuotaExceeded) as refused:
        while True:
            await charge_ok(ledger, guild=1, settle=1)
            granted += 1
    assert granted == 100 - 2 * 20
    assert refused.value.scope == "guild"
    for guild in (2, 3):
        for _ in range(20):
            await charge_ok(ledger, guild=guild, settle=1)


async def test_the_owner_override_is_kept_across_a_restart(open_ledger):
    ledger = await open_ledger()
    await ledger.set_allowance(7, 42)
    assert (await ledger.guild_status(7)).allowance == 42
    again = await open_ledger()
    status = await again.guild_status(7)
    assert (status.allowance, status.override) == (42, 42)
    await again.set_allowance(7, None)
    assert (await again.guild_status(7)).override is None


async def test_the_scheduler_draws_from_its_own_reserve(open_ledger):
    ledger = await open_ledger(daily_client_budget=1000, scheduler_reserve=0.01)
    for _ in range(10):
        await charge_ok(ledger, guild=None, user=None, settle=1)
    with pytest.raises(QuotaExceeded) as refused:
        await charge_ok(ledger, guild=None, user=None)
    assert refused.value.scope == "scheduler"
    usage = await ledger.usage()
    assert (usage.scheduler_used, usage.used_total) == (10, 10)


async def test_a_cache_hit_costs_nothing_and_is_never_refused(open_ledger):
    ledger = await open_ledger(daily_client_budget=100, safety_reserve=0, scheduler_reserve=0)
    await ledger.set_allowance(1, 0)
    await charge_ok(ledger, guild=1, cost=0)
    assert (await ledger.guild_status(1)).used == 0


async def test_a_user_burst_is_refused_until_calls_leave_the_minute(open_ledger, clock):
    ledger = await open_ledger(user_burst_per_minute=10)
    first = clock.now()
    for _ in range(10):
        await charge_ok(ledger, user=5, settle=1)
        clock.advance(1)
    with pytest.raises(QuotaExceeded) as refused:
        await charge_ok(ledger, user=5)
    assert refused.value.scope == "member"
    assert refused.value.resets_at == first + timedelta(seconds=60)
    await charge_ok(ledger, user=6)  # another user is not affected
    clock.set(refused.value.resets_at)
    await charge_ok(ledger, user=5)


async def test_refunded_credits_do_not_count_towards_the_burst(open_ledger):
    ledger = await open_ledger(user_burst_per_minute=3)
    for _ in range(10):
        await charge_ok(ledger, user=5, settle=0)
    await charge_ok(ledger, user=5, settle=1)


async def test_the_burst_counts_calls_so_uploads_are_not_ten_times_a_search(open_ledger):
    ledger = await open_ledger(user_burst_per_minute=3)
    for _ in range(3):  # three uploads of 10 credits each: three calls
        await charge_ok(ledger, user=5, cost=10, kind="upload", settle=10)
    with pytest.raises(QuotaExceeded) as refused:
        await charge_ok(ledger, user=5)
    assert refused.value.scope == "member"


async def test_a_guild_hourly_upload_limit(open_ledger, clock):
    ledger = await open_ledger(guild_uploads_per_hour=2)
    first = clock.now()
    for user in (1, 2):
        await charge_ok(ledger, guild=1, user=user, cost=10, kind="upload", settle=10)
        clock.advance(60)
    with pytest.raises(QuotaExceeded) as refused:
        await charge_ok(ledger, guild=1, user=3, cost=10, kind="upload")
    assert (refused.value.scope, refused.value.resets_at) == (
        "guild_upload",
        first + timedelta(hours=1),
    )
    await charge_ok(ledger, guild=2, user=3, cost=10, kind="upload")


async def test_imgurs_upload_throttle_is_kept_under_for_the_whole_bot(open_ledger):
    ledger = await open_ledger(upload_reserve=50 - 4)  # leaves room for 4 uploads an hour
    for guild in range(4):
        await charge_ok(ledger, guild=guild, user=guild, cost=10, kind="upload")
    with pytest.raises(QuotaExceeded) as refused:
        await charge_ok(ledger, guild=9, user=9, cost=10, kind="upload")
    assert refused.value.scope == "upload"


# -- concurrency --------------------------------------------------------------------------------


async def test_500_concurrent_charges_against_a_budget_of_100_grant_exactly_100(open_ledger, store):
    ledger = await open_ledger(daily_client_budget=100, safety_reserve=0, scheduler_reserve=0)

    async def one(user):
        async with ledger.charge(1, user, 1, "gallery") as charge:
            await asyncio.sleep(0)  # hold the reservation while others ask
            charge.settle(1)

    results = await asyncio.gather(*(one(u) for u in range(500)), return_exceptions=True)
    refused = [r for r in results if isinstance(r, QuotaExceeded)]
    assert results.count(None) == 100
    assert len(refused) == 400
    assert sum(r["cost"] for r in await rows(store)) == 100


# -- following Imgur ----------------------------------------------------------------------------


def headers(clock, **values):
    names = {
        "client_limit": "X-RateLimit-ClientLimit",
        "client_remaining": "X-RateLimit-ClientRemaining",
        "client_reset": "X-RateLimit-ClientReset",
        "user_remaining": "X-RateLimit-UserRemaining",
        "user_reset": "X-RateLimit-UserReset",
        "post_remaining": "X-Post-Rate-Limit-Remaining",
        "post_reset": "X-Post-Rate-Limit-Reset",
    }
    return RateLimits.from_headers({names[k]: str(v) for k, v in values.items()}, now=clock.now())


async def test_the_budget_follows_imgurs_client_limit(open_ledger, clock):
    ledger = await open_ledger()
    ledger.observe(headers(clock, client_limit=2000, client_remaining=1990), None, 200)
    usage = await ledger.usage()
    assert (usage.client_limit, usage.safety_reserve, usage.client_credits_left) == (
        2000,
        200,
        1990,
    )
    again = await open_ledger()
    assert (await again.usage()).client_limit == 2000


async def test_client_credits_at_the_reserve_open_the_client_breaker(open_ledger, clock):
    ledger = await open_ledger()
    ledger.observe(
        headers(clock, client_remaining=1250, client_reset=3600), FakeRequest(1, "gallery"), 200
    )
    with pytest.raises(QuotaExceeded) as refused:
        await charge_ok(ledger)
    assert (refused.value.scope, refused.value.resets_at) == ("client", START + timedelta(hours=1))
    health = ledger.health()
    assert (health.ok, health.breakers_open, health.client_credits_left) == (
        False,
        ("client",),
        1250,
    )
    clock.advance(3600)
    await charge_ok(ledger)  # a new Imgur day
    assert ledger.health().breakers_open == ()


async def test_user_credits_at_the_reserve_open_the_imgur_user_breaker(open_ledger, clock):
    ledger = await open_ledger(user_reserve=25)
    ledger.observe(headers(clock, user_remaining=25, user_reset=600), None, 200)
    with pytest.raises(QuotaExceeded) as refused:
        await charge_ok(ledger)
    assert (refused.value.scope, refused.value.resets_at) == (
        "ip",
        START + timedelta(seconds=600),
    )


async def test_post_credits_at_the_reserve_stop_posts_but_not_gets(open_ledger, clock):
    ledger = await open_ledger(post_reserve=50)
    ledger.observe(headers(clock, post_remaining=40, post_reset=900), None, 200)
    with pytest.raises(QuotaExceeded) as refused:
        async with ledger.charge(1, 1, 10, "upload", method="POST"):
            pass
    assert (refused.value.scope, refused.value.resets_at) == (
        "post",
        START + timedelta(seconds=900),
    )
    await charge_ok(ledger)


async def test_the_upload_throttle_429_stops_uploads_until_it_lifts(open_ledger, clock, store):
    ledger = await open_ledger()
    until = START + timedelta(minutes=30)
    with pytest.raises(RateLimited):
        async with ledger.charge(1, 1, 10, "upload", method="POST"):
            raise RateLimited("too fast", scope="upload", resets_at=until)
    # It reached Imgur: counted, as uncertain, until Imgur's own count settles it.
    assert (await ledger.guild_status(1)).used == 10
    with pytest.raises(QuotaExceeded) as refused:
        await charge_ok(ledger, cost=10, kind="upload")
    assert (refused.value.scope, refused.value.resets_at) == ("upload", until)
    await charge_ok(ledger)  # reads still go through
    await ledger.flush()
    hits = [r["scope"] for r in await store.fetch("SELECT scope FROM ledger_limit_hits")]
    assert hits == ["upload"] and ledger.limit_hits_this_month() == 0


async def raise_429(ledger, clock, **header_values):
    error = RateLimited(
        "Too Many Requests",
        scope="client",
        ratelimits=headers(clock, **header_values) if header_values else None,
    )
    with pytest.raises(RateLimited):
        async with ledger.charge(1, 1, 1, "gallery"):
            raise error
    return error


async def test_only_a_429_whose_headers_show_the_client_limit_spent_is_a_daily_hit(
    open_ledger, clock
):
    ledger = await open_ledger()
    error = await raise_429(ledger, clock, client_remaining=0, client_reset=3600)
    with pytest.raises(QuotaExceeded) as refused:
        await charge_ok(ledger)  # the app stops asking until Imgur's day ends
    reset = START + timedelta(hours=1)
    assert (refused.value.scope, refused.value.resets_at) == ("client", reset)
    assert error.resets_at == reset
    assert ledger.limit_hits_this_month() == 1
    ledger.observe(headers(clock, client_remaining=0), None, 429)  # the same day again
    assert ledger.limit_hits_this_month() == 1
    clock.set(MIDNIGHT)
    ledger.observe(headers(clock, client_remaining=0), None, 429)
    assert (await ledger.usage()).limit_hits_this_month == 2
    await ledger.flush()
    again = await open_ledger()
    assert again.limit_hits_this_month() == 2
    clock.set(datetime(2026, 4, 1, tzinfo=UTC))
    assert again.limit_hits_this_month() == 0


async def test_a_bare_429_backs_off_briefly_probes_and_is_no_daily_hit(open_ledger, clock):
    ledger = await open_ledger(slowdown_base_s=30, slowdown_max_s=100)
    # "Daily client requests exceeded" in the body, but no header says a limit is spent.
    error = await raise_429(ledger, clock)
    assert error.resets_at == START + timedelta(seconds=30)  # said to the member
    with pytest.raises(QuotaExceeded) as refused:
        await charge_ok(ledger)
    assert (refused.value.scope, refused.value.resets_at) == ("slowdown", error.resets_at)
    assert ledger.limit_hits_this_month() == 0

    clock.advance(31)
    # One probe goes through; others wait for its answer instead of all rushing in.
    async with ledger.charge(1, 2, 1, "gallery") as probe:
        with pytest.raises(QuotaExceeded) as waiting:
            await charge_ok(ledger, user=3)
        assert waiting.value.scope == "slowdown"
        probe.settle(1, certain=False)
    await raise_429(ledger, clock)  # the probe's answer: another bare 429, so twice as long
    assert ledger.health().breakers_open == ("slowdown",)
    clock.advance(59)
    with pytest.raises(QuotaExceeded):
        await charge_ok(ledger)
    clock.advance(2)
    await charge_ok(ledger)  # a success: Imgur is back, and the back-off starts over
    await raise_429(ledger, clock)
    assert (await ledger.usage()).breakers["slowdown"] == clock.now() + timedelta(seconds=30)
    for _ in range(5):  # bounded
        clock.advance(200)
        await raise_429(ledger, clock)
    assert (await ledger.usage()).breakers["slowdown"] == clock.now() + timedelta(seconds=100)


async def test_breakers_survive_a_restart(open_ledger, clock):
    ledger = await open_ledger()
    ledger.observe(headers(clock, user_remaining=0, user_reset=600), None, 429)
    await ledger.flush()
    again = await open_ledger()
    assert again.health().breakers_open == ("ip",)


# -- days -----------------------------------------------------------------------------------------


async def test_the_day_ends_at_utc_midnight_without_imgur_telling(open_ledger, clock):
    ledger = await open_ledger(daily_client_budget=1000, guild_floor=10)
    await charge_ok(ledger, settle=1)
    assert (await ledger.guild_status(1)).resets_at == MIDNIGHT
    clock.set(MIDNIGHT)
    status = await ledger.guild_status(1)
    assert status.used == 0
    assert status.resets_at == MIDNIGHT + timedelta(days=1)


async def test_the_day_ends_at_imgurs_reset_when_it_is_known(open_ledger, clock):
    ledger = await open_ledger()
    await charge_ok(ledger, settle=1)
    ledger.observe(headers(clock, client_remaining=12000, client_reset=5 * 3600), None, 200)
    reset = START + timedelta(hours=5)
    assert (await ledger.guild_status(1)).resets_at == reset
    clock.set(reset)
    assert (await ledger.guild_status(1)).used == 0
    assert (await ledger.guild_status(1)).resets_at == reset + timedelta(days=1)


async def test_a_charge_reserved_yesterday_and_settled_today_leaves_today_alone(open_ledger, clock):
    ledger = await open_ledger()
    async with ledger.charge(1, 1, 10, "upload") as charge:
        clock.set(MIDNIGHT + timedelta(seconds=1))
        await charge_ok(ledger, user=2, settle=1)
        charge.settle(0)
    assert (await ledger.guild_status(1)).used == 1


async def test_audit_rows_are_kept_thirty_days(open_ledger, clock, store):
    ledger = await open_ledger(audit_retention_days=30)
    await charge_ok(ledger)
    clock.advance(29 * 86400)
    await charge_ok(ledger)
    await ledger.flush()
    assert len(await rows(store)) == 2
    clock.advance(2 * 86400)
    await charge_ok(ledger)
    await ledger.flush()
    assert len(await rows(store)) == 2


# -- queries and restarts -----------------------------------------------------------------------


async def test_usage_lists_the_busiest_guilds_first(open_ledger):
    ledger = await open_ledger()
    for guild, credits in ((1, 3), (2, 7), (3, 5)):
        for _ in range(credits):
            await charge_ok(ledger, guild=guild, settle=1)
    usage = await ledger.usage(top=2)
    assert [(g.guild_id, g.used) for g in usage.top_guilds] == [(2, 7), (3, 5)]
    assert (usage.used_total, usage.active_guilds) == (15, 3)
    assert ledger.health().as_dict()["used_today"] == 15


async def test_totals_survive_a_restart_and_are_not_counted_twice(open_ledger):
    ledger = await open_ledger()
    for guild in (1, 1, 2):
        await charge_ok(ledger, guild=guild, settle=1)
    await ledger.flush()
    for _ in range(2):
        again = await open_ledger()
        assert [(await again.guild_status(g)).used for g in (1, 2)] == [2, 1]
        assert (await again.usage()).active_guilds == 2


async def test_a_reservation_in_flight_at_a_crash_is_counted_in_full(open_ledger, store):
    ledger = await open_ledger()
    await charge_ok(ledger, cost=1, settle=1)
    block = ledger.charge(1, 1, 10, "upload")
    await block.__aenter__()  # the process "dies" here, before Imgur answered
    again = await open_ledger()
    assert again.orphans_recovered == 1
    assert (await again.guild_status(1)).used == 11
    assert [r["state"] for r in await rows(store)] == ["settled", "orphaned"]


async def test_requests_in_flight_count_against_what_imgur_last_reported(open_ledger, clock):
    ledger = await open_ledger(user_reserve=25)
    ledger.observe(headers(clock, user_remaining=30, user_reset=600), None, 200)
    blocks = [ledger.charge(1, u, 1, "gallery") for u in range(5)]
    charges = [await block.__aenter__() for block in blocks]  # five sent, none answered yet
    with pytest.raises(QuotaExceeded) as refused:
        await charge_ok(ledger, user=9)
    # Refused for now only: the answers in flight will bring fresh figures.
    assert (refused.value.scope, refused.value.resets_at) == (
        "ip",
        START + timedelta(seconds=5),
    )
    for block, charge in zip(blocks, charges, strict=True):
        charge.settle(1)
        await block.__aexit__(None, None, None)
    ledger.observe(headers(clock, user_remaining=26, user_reset=600), None, 200)
    await charge_ok(ledger, user=9)


async def test_an_older_answer_arriving_late_does_not_raise_the_figures(open_ledger, clock):
    ledger = await open_ledger(user_reserve=25)
    ledger.observe(headers(clock, user_remaining=26, user_reset=600), None, 200)
    ledger.observe(headers(clock, user_remaining=300, user_reset=600), None, 200)
    await charge_ok(ledger)
    with pytest.raises(QuotaExceeded) as refused:
        await charge_ok(ledger, cost=10, kind="upload")
    assert refused.value.scope == "ip"


async def test_a_closed_store_refuses_charges_without_keeping_a_reservation(open_store, clock):
    store = await open_store()
    ledger = await Ledger.open(store, LedgerSettings(**LOOSE), clock=clock)
    await store.close()
    with pytest.raises(StoreClosed):
        await charge_ok(ledger)
    assert (await ledger.guild_status(1)).used == 0


# -- reconciling with Imgur's own count -------------------------------------------------------


def imgur_counted(clock, count, limit=12_500, **more):
    return headers(clock, client_limit=limit, client_remaining=limit - count, **more)


async def settle_uncertain(ledger, n, guild=1):
    for _ in range(n):
        async with ledger.charge(guild, 1, 1, "search") as charge:
            charge.settle(1, certain=False)


async def settle_success(ledger, clock, count, guild=1):
    async with ledger.charge(guild, 1, 1, "search") as charge:
        charge.settle(1, certain=True, limits=imgur_counted(clock, count))


async def states(store):
    return [(r["state"], r["cost"]) for r in await rows(store)]


async def test_calls_imgur_never_counted_are_released_by_its_count_after_the_grace(
    open_ledger, clock, store
):
    ledger = await open_ledger(reconcile_after_s=60)
    await settle_uncertain(ledger, 3)  # three 500s: Imgur may have counted them
    assert (await ledger.guild_status(1)).used == 3
    clock.advance(61)
    await settle_success(ledger, clock, count=1)  # Imgur has counted this call only
    assert (await ledger.guild_status(1)).used == 1
    assert (await ledger.usage()).used_total == 1
    await ledger.flush()
    assert await states(store) == [("reconciled", 0)] * 3 + [("settled", 1)]
    notes = [r["note"] for r in await rows(store)]
    assert all("Imgur's count" in n for n in notes[:3]) and notes[3] is None


async def test_calls_given_up_within_the_grace_stay_counted(open_ledger, clock, store):
    # Imgur may still be working on a call the bot stopped waiting for.
    ledger = await open_ledger(reconcile_after_s=60)
    await settle_uncertain(ledger, 3)
    clock.advance(30)
    await settle_success(ledger, clock, count=1)
    assert (await ledger.guild_status(1)).used == 4
    clock.advance(31)
    await settle_success(ledger, clock, count=2)
    assert (await ledger.guild_status(1)).used == 2


async def test_only_what_imgurs_count_leaves_room_for_is_released(open_ledger, clock, store):
    ledger = await open_ledger(reconcile_after_s=60)
    await settle_uncertain(ledger, 3)
    clock.advance(61)
    # Imgur counted 2 before this success and this one: one of the three was counted.
    await settle_success(ledger, clock, count=2)
    assert (await ledger.guild_status(1)).used == 2
    await ledger.flush()
    assert await states(store) == [
        ("reconciled", 0),
        ("reconciled", 0),
        ("uncertain", 1),
        ("settled", 1),
    ]


async def test_imgur_counting_more_than_the_ledger_knew_adds_an_adjustment(
    open_ledger, clock, store
):
    ledger = await open_ledger(reconcile_after_s=60)
    await charge_ok(ledger, settle=1)
    # Another process or app with the same Client-ID: Imgur counted 40.
    ledger.observe(imgur_counted(clock, 40), None, 200)
    usage = await ledger.usage()
    assert usage.used_total == 40
    assert (await ledger.guild_status(1)).used == 1  # nobody's allowance pays for it
    await ledger.flush()
    adjustment = (await rows(store))[-1]
    assert (adjustment["kind"], adjustment["state"], adjustment["cost"]) == (
        "imgur-count",
        "adjustment",
        39,
    )
    assert adjustment["guild_id"] is None and "more than this ledger knew" in adjustment["note"]
    # Real usage elsewhere is never released: Imgur's later count still includes it.
    clock.advance(61)
    await settle_success(ledger, clock, count=41)
    assert (await ledger.usage()).used_total == 41


async def test_the_total_never_drops_below_the_highest_count_imgur_showed(
    open_ledger, clock, store
):
    ledger = await open_ledger(reconcile_after_s=60)
    await settle_uncertain(ledger, 5)
    clock.advance(61)
    # A late answer says 4, but an earlier one (a later moment at Imgur) said 5.
    ledger.observe(imgur_counted(clock, 6), None, 200)
    await settle_success(ledger, clock, count=1)
    assert (await ledger.usage()).used_total >= 6


async def test_a_refund_below_imgurs_count_is_made_up(open_ledger, clock):
    ledger = await open_ledger()
    async with ledger.charge(1, 1, 1, "search") as charge:
        ledger.observe(imgur_counted(clock, 1), None, 200)  # counted: ours is in flight
        assert (await ledger.usage()).used_total == 1
        charge.settle(0)  # ours never left: that 1 was someone else's
    assert (await ledger.usage()).used_total == 1


async def test_a_count_from_another_imgur_day_is_ignored(open_ledger, clock):
    ledger = await open_ledger(reconcile_after_s=60)
    await settle_uncertain(ledger, 3)
    clock.advance(61)
    tomorrow = imgur_counted(clock, 1, client_reset=86_000)  # Imgur's day ends tomorrow
    async with ledger.charge(1, 1, 1, "search") as charge:
        charge.settle(1, certain=True, limits=tomorrow)
    assert (await ledger.guild_status(1)).used == 4


async def test_doubtful_credits_and_imgurs_count_survive_a_restart(open_ledger, clock, store):
    ledger = await open_ledger(reconcile_after_s=60)
    await settle_uncertain(ledger, 2)
    async with ledger.charge(1, 1, 1, "search"):  # in flight when the process dies
        await ledger.flush()
        ledger.observe(imgur_counted(clock, 1), None, 200)
        await ledger.flush()
        again = await open_ledger(reconcile_after_s=60)
    assert (await again.guild_status(1)).used == 3  # the orphan counts in full
    clock.advance(61)
    await settle_success(again, clock, count=1)  # none of the three reached Imgur
    assert (await again.guild_status(1)).used == 1
    await again.flush()
    assert sorted(s for s, _ in await states(store)) == [
        "reconciled",
        "reconciled",
        "reconciled",
        "settled",
    ]
