"""Stateful properties of the ledger's arithmetic (``bot.ledger.book.QuotaBook``).

Any interleaving of charges, settles, refunds, newcomers, passing time and day resets must
keep the book within its budget, never negative, in agreement with a plain model of the open
charges, and every guaranteed guild must always be able to get its floor.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    precondition,
    rule,
)

from bot.config import LedgerSettings
from bot.errors import QuotaExceeded
from bot.ledger.book import DAY, QuotaBook

START = 1_773_144_000.0  # 2026-03-10 12:00 UTC
REGULARS = [1, 2, 3]  # guilds active before the test day starts
NEWCOMERS = [100, 101]  # guilds that turn up during the run


class LedgerMachine(RuleBasedStateMachine):
    charges = Bundle("charges")

    @initialize(
        # Small budgets, so that a run of a few dozen steps reaches every limit.
        limit=st.integers(20, 400),
        floor=st.integers(0, 40),
        burst=st.integers(5, 200),
        regulars=st.integers(1, len(REGULARS)),
    )
    def open_book(self, limit, floor, burst, regulars):
        self.settings = LedgerSettings(
            daily_client_budget=limit,
            guild_floor=floor,
            user_burst_per_minute=burst,
            guild_uploads_per_hour=3,
        )
        self.now = START
        self.book = QuotaBook(self.settings, now=self.now)
        yesterday = self.book.day_start - 3600
        self.book.restore(
            used={},
            scheduler_used=0,
            last_active={g: yesterday for g in REGULARS[:regulars]},
            overrides={},
            recent=[],
            next_id=1,
        )
        # The model: what each grant should count for, kept apart from the book's own fields.
        self.costs: dict[int, int] = {}
        self.grants: list = []

    # -- what happens ------------------------------------------------------------------------

    @rule(
        target=charges,
        guild=st.sampled_from([None, *REGULARS, *NEWCOMERS]),
        user=st.integers(1, 5),
        cost=st.sampled_from([1, 1, 1, 10]),
    )
    def charge(self, guild, user, cost):
        kind = "upload" if cost == 10 else "gallery"
        try:
            grant = self.book.admit(guild, user, cost, kind, now=self.now)
        except QuotaExceeded as refused:
            assert refused.resets_at is not None
            assert refused.resets_at.timestamp() > self.now
            return None
        self.costs[grant.id] = cost
        self.grants.append(grant)
        if guild is not None:
            assert self.book.used[guild] <= self.book.allowance(guild)
        return grant

    @rule(grant=consumes(charges), share=st.floats(0, 1))
    def settle(self, grant, share):
        if grant is None:
            return
        actual = int(grant.reserved * share)
        self.book.settle(grant, actual)
        self.costs[grant.id] = actual

    @rule(grant=consumes(charges))
    def refund(self, grant):
        if grant is None:
            return
        self.book.settle(grant, 0)
        self.costs[grant.id] = 0

    @rule(grant=consumes(charges))
    def leave_block_without_settling(self, grant):
        if grant is None:
            return
        self.book.settle(grant, grant.reserved)

    @rule(guild=st.sampled_from([*REGULARS, *NEWCOMERS]), credits=st.integers(0, 500))
    def owner_sets_an_allowance(self, guild, credits):
        # An owner's change may break the day's guarantees when it raises a guild's own floor
        # (see bot.ledger.book); every other change must keep them.
        if min(self.book.shape.floor, credits) > self.book.floor(guild):
            return
        self.book.set_override(guild, credits)

    @rule(seconds=st.sampled_from([1, 10, 61, 600, 3601]))
    def time_passes(self, seconds):
        self.now += seconds
        self.book.roll_day(self.now)

    @precondition(lambda self: hasattr(self, "book"))
    @rule()
    def day_ends(self):
        self.now = self.book.day_end
        assert self.book.roll_day(self.now)
        assert self.book.guild_total == 0 and self.book.scheduler_used == 0
        # Every guild active at the start of a day is guaranteed its floor.
        assert self.book.guaranteed == self.book.shape.active

    # -- what must always hold ---------------------------------------------------------------

    @invariant()
    def within_the_budget(self):
        book = self.book
        shape = book.shape
        assert 0 <= book.guild_total <= shape.pool
        assert 0 <= book.scheduler_used <= shape.scheduler
        assert book.guild_total + book.scheduler_used <= shape.limit - shape.safety
        assert all(used >= 0 for used in book.used.values())

    @invariant()
    def totals_match_the_model(self):
        book = self.book
        expected: dict = {}
        for grant in self.grants:
            if grant.day == book.day_start:
                expected[grant.guild_id] = expected.get(grant.guild_id, 0) + self.costs[grant.id]
        assert book.scheduler_used == expected.pop(None, 0)
        assert {g: c for g, c in book.used.items() if c} == {g: c for g, c in expected.items() if c}
        assert book.guild_total == sum(expected.values())

    @invariant()
    def every_guaranteed_guild_can_get_its_floor(self):
        book = self.book
        for guild in book.guaranteed:
            if book.used.get(guild, 0) < book.floor(guild):
                refusal = book.refusal(guild, None, 1, now=self.now)
                assert refusal is None, (guild, refusal)

    @invariant()
    def unused_floors_add_up(self):
        book = self.book
        owed = sum(max(book.floor(g) - book.used.get(g, 0), 0) for g in book.guaranteed)
        assert book._debt_total == owed
        assert book.guild_total + owed <= book.shape.pool

    @invariant()
    def the_day_is_a_day(self):
        assert self.book.day_start <= self.now < self.book.day_end
        assert self.book.day_end - self.book.day_start == DAY


LedgerMachine.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestLedgerProperties = LedgerMachine.TestCase
