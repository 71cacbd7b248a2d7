"""The ledger's arithmetic: budgets, allowances, sliding windows and breakers. No I/O.

``QuotaBook`` decides, synchronously, whether a charge may go to Imgur and keeps the running
totals. Because it never awaits, a decision and the reservation it makes happen in one step on
the event loop, so concurrent charges cannot both see the same last credit. ``bot.ledger``
wraps it with persistence; the property tests drive it directly.

Times are unix seconds (floats) throughout; the ledger converts from the injected clock.

The budget, for a daily client limit ``L`` (learned from ``X-RateLimit-ClientLimit``):

- ``safety = ceil(L * safety_reserve)`` is never spent: it absorbs what our count and Imgur's
  disagree on, so the app does not hit the daily limit (five hits a month block it);
- ``scheduler = floor(L * scheduler_reserve)`` is for the bot itself (``guild_id=None``);
- the rest, the guild pool, is shared by the guilds active in the last ``active_days``: each
  may use ``max(floor, fair share)``, or what the owner set for it. Whatever a guild takes
  beyond its floor must leave every other guild's unused floor free, so a guild that spams
  can never starve the others of their minimum.

The floor is guaranteed to every guild active at the start of the day (it shrinks when that
many floors would not fit in the pool); a guild that turns up during the day is guaranteed its
floor only if that much is still unclaimed. An owner's override or a lower limit learned from
Imgur reshapes the day as it stands and may break that day's guarantees.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.config import LedgerSettings
from bot.errors import QuotaExceeded, QuotaScope
from bot.imgur.ratelimit import RateLimits
from bot.imgur.vocab import UPLOAD_COST

MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0

UPLOAD_KIND = "upload"
# The kind of the rows that add what Imgur counted beyond the ledger's own charges.
ADJUST = "imgur-count"

# Imgur's undocumented upload throttle: about 50 uploads an hour (imgur-api.md §3.1). The
# ledger keeps ``upload_reserve`` of them unused.

# When a charge is refused only because too much is in flight for what Imgur last reported,
# asking again shortly is likely to work: the answers in flight bring fresh figures.
IN_FLIGHT_RETRY_S = 5.0

# Scopes whose breaker stops every charge that would reach Imgur, and the extra ones that
# apply only to POSTs and to uploads.
_ALWAYS = ("client", "ip", "slowdown")
# While the slowdown breaker backs off, one request at a time probes whether Imgur is back;
# others are asked to wait this long.
PROBE_WAIT_S = 5.0
# States whose credits may not have been counted by Imgur: released by ``reconcile``.
DOUBTFUL = frozenset({"uncertain", "orphaned", "adjustment"})


def to_datetime(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def next_utc_midnight(ts: float) -> float:
    return (math.floor(ts / DAY) + 1) * DAY


@dataclass(slots=True, eq=False)
class Grant:
    """One reservation. ``cost`` is what counts now: the reserved cost until settled."""

    id: int
    at: float
    guild_id: int | None
    user_id: int | None
    kind: str
    command: str | None
    reserved: int
    cost: int
    upload: bool
    post: bool
    day: float  # start of the ledger day it counts in
    settled: bool = False
    in_flight: bool = False  # granted, not yet settled: Imgur may not have counted it yet
    # reserved | settled (Imgur counted it) | refunded (it never reached Imgur) | uncertain
    # (it may have: counted until Imgur's figures say) | orphaned (in flight at a crash) |
    # adjustment (Imgur counted more than the ledger knew) | reconciled (released)
    state: str = "reserved"
    decided_at: float | None = None  # when its outcome was settled
    # Credits Imgur certainly counted today before this was reserved (see ``reconcile``).
    certain_before: int = 0


@dataclass(frozen=True, slots=True)
class Refusal:
    scope: QuotaScope
    resets_at: float | None
    detail: str

    def error(self) -> QuotaExceeded:
        return QuotaExceeded(self.scope, to_datetime(self.resets_at), self.detail)


@dataclass(frozen=True, slots=True)
class Shape:
    """The day's budget split, recomputed when the limit, active guilds or overrides change."""

    limit: int
    safety: int
    scheduler: int
    pool: int  # credits for guilds
    active: frozenset[int]
    floor: int  # the floor every active guild is guaranteed (lowered if too many guilds)
    fair_share: int


def is_upload(kind: str, cost: int) -> bool:
    return kind == UPLOAD_KIND or cost >= UPLOAD_COST


class QuotaBook:
    """Totals for the current ledger day, the sliding windows and the breakers."""

    def __init__(
        self,
        settings: LedgerSettings,
        *,
        now: float,
        client_limit: int | None = None,
        day_start: float | None = None,
        day_end: float | None = None,
    ) -> None:
        self.settings = settings
        self.client_limit = client_limit or settings.daily_client_budget
        self.day_end = day_end if day_end is not None else next_utc_midnight(now)
        self.day_start = day_start if day_start is not None else self.day_end - DAY
        self.used: dict[int, int] = {}
        self.guild_total = 0
        self.scheduler_used = 0
        self.last_active: dict[int, float] = {}
        self.overrides: dict[int, int] = {}
        self.breakers: dict[str, float] = {}  # scope -> open until
        self.client_remaining: int | None = None
        # What Imgur last reported left, per scope: (remaining, valid until its reset).
        self.reported: dict[str, tuple[int, float]] = {}
        # Credits and POSTs granted but not settled: sent or about to be, and perhaps not
        # yet in the figures Imgur last reported.
        self.inflight_credits = 0
        self.inflight_posts = 0
        self._user_window: dict[int, deque[Grant]] = {}
        self._guild_uploads: dict[int, deque[Grant]] = {}
        self._uploads: deque[Grant] = deque()
        self._shape: Shape | None = None
        # The guilds whose floor is guaranteed today (None: work it out afresh), and the sum
        # of their unused floors, which nobody else may take.
        self._guaranteed: set[int] | None = None
        self._debt_total = 0
        self._next_id = 1
        # Reconciling with Imgur's own count (see ``reconcile``): credits it certainly
        # counted today, credits added because it counted more than we knew, the rows that
        # may not have been counted (oldest decided first), and the highest count it showed.
        self.certain_total = 0
        self.adjusted = 0
        self.doubtful: deque[Grant] = deque()
        self.imgur_count = 0
        # The slowdown breaker: how many bare 429s in a row, and the probe in flight.
        self.slowdown_level = 0
        self._probe: Grant | None = None
        # Several processes sharing one budget (``bot.ledger.ledger``'s cluster mode): the
        # credits this process has leased from today's shared budget and not yet granted.
        # None: this process alone spends the budget.
        self.lease_left: int | None = None
        self._id_limit: int | None = None  # ids come in blocks when processes share a table

    # -- the budget's shape -----------------------------------------------------------------

    @property
    def shape(self) -> Shape:
        if self._shape is None:
            self._shape = shape = self._compute_shape()
            if self._guaranteed is None:
                self._guaranteed, self._debt_total = set(), 0
                for g in sorted(shape.active, key=lambda g: (self.last_active[g], g)):
                    self._offer_guarantee(g)
            else:
                self._guaranteed &= shape.active
                self._debt_total = sum(self._debt(g) for g in self._guaranteed)
        return self._shape

    @property
    def guaranteed(self) -> frozenset[int]:
        """Active guilds that can always get their floor today."""
        self.shape  # noqa: B018 - settles the set
        return frozenset(self._guaranteed or ())

    def _offer_guarantee(self, guild_id: int) -> None:
        """Guarantee a guild its floor if the pool still has room for it.

        At the start of a day every active guild fits (the floor is sized for that); a guild
        that becomes active during the day is guaranteed only what is still unclaimed, so
        it can never take a floor already promised to another.
        """
        assert self._guaranteed is not None and self._shape is not None
        if guild_id in self._guaranteed:
            return
        debt = self._debt(guild_id)
        if self.guild_total + self._debt_total + debt <= self._shape.pool:
            self._guaranteed.add(guild_id)
            self._debt_total += debt

    def _invalidate(self) -> None:
        self._shape = None

    def _compute_shape(self) -> Shape:
        s = self.settings
        limit = self.client_limit
        safety = math.ceil(limit * s.safety_reserve)
        scheduler = math.floor(limit * s.scheduler_reserve)
        pool = max(limit - safety - scheduler, 0)
        since = self.day_start - s.active_days * DAY
        active = frozenset(g for g, at in self.last_active.items() if at >= since)
        floor = min(s.guild_floor, pool // len(active)) if active else s.guild_floor
        overridden = [g for g in active if g in self.overrides]
        shared_pool = max(pool - sum(self.overrides[g] for g in overridden), 0)
        sharing = len(active) - len(overridden)
        fair = shared_pool // sharing if sharing else shared_pool
        return Shape(limit, safety, scheduler, pool, active, floor, fair)

    def allowance(self, guild_id: int) -> int:
        """Credits the guild may use today."""
        if guild_id in self.overrides:
            return self.overrides[guild_id]
        shape = self.shape
        return max(shape.floor, shape.fair_share)

    def floor(self, guild_id: int) -> int:
        """Credits the guild is guaranteed today (never more than its allowance)."""
        return min(self.shape.floor, self.allowance(guild_id))

    def _debt(self, guild_id: int) -> int:
        return max(self.floor(guild_id) - self.used.get(guild_id, 0), 0)

    def _is_guaranteed(self, guild_id: int) -> bool:
        self.shape  # noqa: B018 - settles the set
        return guild_id in self._guaranteed  # type: ignore[operator]

    def _add_use(self, guild_id: int, delta: int) -> None:
        guaranteed = self._is_guaranteed(guild_id)
        if guaranteed:
            self._debt_total -= self._debt(guild_id)
        self.used[guild_id] = self.used.get(guild_id, 0) + delta
        self.guild_total += delta
        if guaranteed:
            self._debt_total += self._debt(guild_id)

    def _mark_active(self, guild_id: int, now: float) -> None:
        known = guild_id in self.shape.active
        self.last_active[guild_id] = now
        if not known:
            self._invalidate()
            self.shape  # noqa: B018 - a newcomer changes everyone's share
            self._offer_guarantee(guild_id)

    # -- the day ----------------------------------------------------------------------------

    def roll_day(self, now: float) -> bool:
        """Start a new day if the current one is over. True when it did."""
        if now < self.day_end:
            return False
        start = self.day_end
        while start + DAY <= now:  # the bot was down for more than a day
            start += DAY
        self.day_start, self.day_end = start, start + DAY
        self.used.clear()
        self.guild_total = 0
        self.scheduler_used = 0
        self.certain_total = 0
        self.adjusted = 0
        self.doubtful.clear()
        self.imgur_count = 0
        if self.lease_left is not None:
            self.lease_left = 0  # a new day: its budget is leased afresh
        since = self.day_start - self.settings.active_days * DAY
        self.last_active = {g: at for g, at in self.last_active.items() if at >= since}
        self._forget_idle_windows(now)
        self._guaranteed = None
        self._invalidate()
        return True

    def _forget_idle_windows(self, now: float) -> None:
        """Drop the windows of users and guilds idle for an hour, so memory stays bounded."""
        for windows in (self._user_window, self._guild_uploads):
            for key in [k for k, w in windows.items() if not w or w[-1].at <= now - HOUR]:
                del windows[key]

    def move_day_end(self, reset_at: float) -> bool:
        """Follow Imgur's own reset time. True when the end moved noticeably.

        A reset later than we thought stretches today (our count keeps running, so this can
        only make us more careful); an earlier one ends today sooner.
        """
        if abs(reset_at - self.day_end) < 1.0 or reset_at <= self.day_start:
            return False
        moved = abs(reset_at - self.day_end) >= MINUTE
        self.day_end = reset_at
        return moved

    # -- deciding ---------------------------------------------------------------------------

    def refusal(
        self,
        guild_id: int | None,
        user_id: int | None,
        cost: int,
        *,
        now: float,
        upload: bool = False,
        post: bool = False,
    ) -> Refusal | None:
        """Why this charge cannot be granted now (the refusal that lifts last), or None."""
        if cost <= 0:
            return None
        found = list(self._breaker_refusals(now, upload=upload, post=post))
        found.extend(self._headroom_refusals(cost, now, post=post or upload))
        if self.lease_left is not None and cost > self.lease_left:
            # No process may grant beyond what it leased from the shared budget.
            found.append(Refusal("client", self.day_end, "the bot's daily Imgur budget is used up"))
        if guild_id is None:
            found.extend(self._scheduler_refusals(cost))
        else:
            found.extend(self._guild_refusals(guild_id, cost))
        if user_id is not None:
            found.extend(self._burst_refusals(user_id, cost, now))
        if upload:
            found.extend(self._upload_refusals(guild_id, now))
        if not found:
            return None
        return max(found, key=lambda r: math.inf if r.resets_at is None else r.resets_at)

    def _breaker_refusals(self, now: float, *, upload: bool, post: bool) -> Iterator[Refusal]:
        scopes = _ALWAYS + (("post",) if post or upload else ()) + (("upload",) if upload else ())
        for scope in scopes:
            until = self.breakers.get(scope)
            if until is not None and until > now:
                yield Refusal(scope, until, f"Imgur's {scope} limit is nearly used up")  # type: ignore[arg-type]
        if self.slowdown_level and self._probe is not None:
            # Backing off after bare 429s: one request is already finding out whether Imgur
            # is back; the rest wait for its answer.
            yield Refusal("slowdown", now + PROBE_WAIT_S, "Imgur asked the bot to slow down")

    def _headroom_refusals(self, cost: int, now: float, *, post: bool) -> Iterator[Refusal]:
        """Keep what Imgur reported left, minus what is in flight, above each reserve.

        Headers arrive only with answers, so a burst of concurrent requests would all pass a
        breaker that is still closed; counting the credits in flight against the last figure
        closes that gap (counting some twice, which errs on the safe side).
        """
        s = self.settings
        checks = [
            ("client", self.shape.safety, cost, self.inflight_credits),
            ("ip", s.user_reserve, cost, self.inflight_credits),
        ]
        if post:
            checks.append(("post", s.post_reserve, 1, self.inflight_posts))
        for scope, reserve, need, in_flight in checks:
            seen = self.reported.get(scope)
            if seen is None or seen[1] <= now:
                continue
            remaining, until = seen
            if remaining - need < reserve:
                yield Refusal(scope, until, f"Imgur's {scope} limit is nearly used up")  # type: ignore[arg-type]
            elif remaining - in_flight - need < reserve:
                yield Refusal(
                    scope,  # type: ignore[arg-type]
                    now + IN_FLIGHT_RETRY_S,
                    f"Imgur's {scope} limit is close: too many requests in flight",
                )

    def _scheduler_refusals(self, cost: int) -> Iterator[Refusal]:
        if self.scheduler_used + cost > self.shape.scheduler:
            yield Refusal("scheduler", self.day_end, "the scheduler's share is used up")

    def _guild_refusals(self, guild_id: int, cost: int) -> Iterator[Refusal]:
        shape = self.shape
        used = self.used.get(guild_id, 0)
        if used + cost > self.allowance(guild_id):
            yield Refusal("guild", self.day_end, "this server's daily allowance is used up")
            return
        if self.guild_total + cost > shape.pool:
            yield Refusal("client", self.day_end, "the bot's daily Imgur budget is used up")
            return
        guaranteed = self._is_guaranteed(guild_id)
        floor = self.floor(guild_id) if guaranteed else 0
        beyond_floor = used + cost > floor
        if beyond_floor:
            own_debt = self._debt(guild_id) if guaranteed else 0
            others_floors = self._debt_total - own_debt
            if self.guild_total + cost + others_floors > shape.pool:
                yield Refusal(
                    "guild", self.day_end, "the rest is kept for other servers' daily minimum"
                )

    def _burst_refusals(self, user_id: int, cost: int, now: float) -> Iterator[Refusal]:
        limit = self.settings.user_burst_per_minute
        window = _trim(self._user_window.get(user_id), now - MINUTE)
        if window is None:
            return
        # Calls, not credits: an upload (10 credits) is one thing the member did, as a
        # search is. Calls Imgur failed to answer are not the member going fast either: an
        # outage's retries count against the server's allowance, not the member's minute.
        spent = sum(_burst_cost(g) for g in window)
        if spent + 1 <= limit:
            return
        # Room comes back as the oldest calls leave the window.
        excess = spent + 1 - limit
        resets_at = now + MINUTE
        for g in window:
            excess -= _burst_cost(g)
            if excess <= 0:
                resets_at = g.at + MINUTE
                break
        yield Refusal("member", resets_at, "slow down: too many requests in a minute")

    def _upload_refusals(self, guild_id: int | None, now: float) -> Iterator[Refusal]:
        s = self.settings
        if guild_id is not None:
            mine = _counted(_trim(self._guild_uploads.get(guild_id), now - HOUR))
            if len(mine) >= s.guild_uploads_per_hour:
                at = _slot_frees_at(mine, s.guild_uploads_per_hour)
                yield Refusal("guild_upload", at, "this server's hourly upload limit is reached")
        allowed = max(s.imgur_uploads_per_hour - s.upload_reserve, 0)
        everyone = _counted(_trim(self._uploads, now - HOUR))
        if len(everyone) >= allowed:
            at = _slot_frees_at(everyone, allowed)
            yield Refusal("upload", at, "Imgur's hourly upload throttle is nearly reached")

    # -- granting and settling --------------------------------------------------------------

    def admit(
        self,
        guild_id: int | None,
        user_id: int | None,
        cost: int,
        kind: str,
        *,
        now: float,
        command: str | None = None,
        post: bool = False,
    ) -> Grant:
        """Reserve ``cost`` credits or raise ``QuotaExceeded``. One synchronous step."""
        if cost < 0:
            raise ValueError("a charge cannot be negative")
        self.roll_day(now)
        upload = is_upload(kind, cost)
        if guild_id is not None:
            # Asking makes a guild active: it joins the share-out from now on.
            self._mark_active(guild_id, now)
        refusal = self.refusal(guild_id, user_id, cost, now=now, upload=upload, post=post)
        if refusal is not None:
            raise refusal.error()
        grant = Grant(
            id=self._next_id,
            at=now,
            guild_id=guild_id,
            user_id=user_id,
            kind=kind,
            command=command,
            reserved=cost,
            cost=cost,
            upload=upload,
            post=post or upload,
            day=self.day_start,
            in_flight=cost > 0,
            certain_before=self.certain_total,
        )
        self._next_id += 1
        if self.lease_left is not None:
            self.lease_left -= cost
        if self.slowdown_level and grant.in_flight:
            self._probe = grant
        if grant.in_flight:
            self.inflight_credits += cost
            self.inflight_posts += grant.post
        self._count(grant)
        return grant

    def _count(self, grant: Grant) -> None:
        if grant.day == self.day_start:
            if grant.guild_id is None:
                self.scheduler_used += grant.cost
            else:
                self._add_use(grant.guild_id, grant.cost)
        self._remember(grant)

    def _remember(self, grant: Grant) -> None:
        if grant.user_id is not None:
            self._user_window.setdefault(grant.user_id, deque()).append(grant)
        if grant.upload:
            self._uploads.append(grant)
            if grant.guild_id is not None:
                self._guild_uploads.setdefault(grant.guild_id, deque()).append(grant)

    def settle(
        self, grant: Grant, actual: int, *, certain: bool = True, now: float | None = None
    ) -> int:
        """Replace the reserved cost with what Imgur counted; returns the change in credits.

        ``certain``: Imgur surely counted ``actual`` (a success), or nothing reached it
        (``actual`` 0). Otherwise ``actual`` counts as *uncertain* until ``reconcile``
        finds that Imgur did not count it.
        """
        if grant.settled:
            raise RuntimeError("this charge is already settled")
        if actual < 0:
            raise ValueError("a settled cost cannot be negative")
        delta = actual - grant.cost
        grant.cost = actual
        grant.settled = True
        grant.decided_at = now if now is not None else grant.at
        if actual == 0:
            grant.state = "refunded"
        else:
            grant.state = "settled" if certain else "uncertain"
        if grant.in_flight:
            grant.in_flight = False
            self.inflight_credits -= grant.reserved
            self.inflight_posts -= grant.post
        if grant is self._probe:
            self._probe = None
        if grant.day == self.day_start:
            # A charge reserved yesterday and settled today changes nothing today.
            if delta:
                self._add_to_total(grant, delta)
                if self.lease_left is not None:
                    self.lease_left -= delta  # a refund goes back into this process's lease
            if grant.state == "settled":
                self.certain_total += actual
            elif grant.state == "uncertain":
                self.doubtful.append(grant)
        return delta

    def _add_to_total(self, grant: Grant, delta: int) -> None:
        if grant.kind == ADJUST:
            self.adjusted += delta
        elif grant.guild_id is None:
            self.scheduler_used += delta
        else:
            self._add_use(grant.guild_id, delta)

    # -- reconciling with Imgur's count -------------------------------------------------------

    @property
    def total(self) -> int:
        """Every credit the ledger counts today: guilds, the scheduler, adjustments; the
        reservations in flight included."""
        return self.guild_total + self.scheduler_used + self.adjusted

    def note_imgur_count(self, count: int) -> int:
        """Imgur said it has counted ``count`` credits today. Returns the credits to add as an
        adjustment so that the ledger's total is never below Imgur's (0 when it is not).

        What it counted beyond our total can only be calls we never saw (another app or
        process with the same Client-ID): every call of ours that may have reached Imgur
        is counted, in flight or settled, until ``reconcile`` proves otherwise.
        """
        self.imgur_count = max(self.imgur_count, count)
        return self.deficit()

    def deficit(self) -> int:
        return max(self.imgur_count - self.total, 0)

    def add_adjustment(self, credits: int, now: float) -> Grant:
        """Count ``credits`` Imgur counted that no charge of ours explains."""
        grant = Grant(
            id=self._next_id,
            at=now,
            guild_id=None,
            user_id=None,
            kind=ADJUST,
            command=None,
            reserved=credits,
            cost=credits,
            upload=False,
            post=False,
            day=self.day_start,
            settled=True,
            state="adjustment",
            decided_at=now,
        )
        self._next_id += 1
        self.adjusted += credits
        self.doubtful.append(grant)
        return grant

    def reconcile(self, answered: Grant, count: int, *, grace_s: float) -> list[Grant]:
        """Release doubtful credits that Imgur's own count shows it never counted.

        ``answered`` is a call Imgur answered with success (so it counted it), reserved at
        ``answered.at``; ``count`` is what Imgur said it had counted today in that answer.
        Everything it certainly counted before ``answered`` was reserved is
        ``answered.certain_before``, and the doubtful rows decided more than ``grace_s``
        before it (time enough for Imgur to have finished any call we gave up on) are in
        Imgur's figure if it counted them at all. So Imgur counted at most
        ``count - certain_before - answered.cost`` of those rows, and the rest are released,
        oldest first, whole rows only, never taking the total below the highest count
        Imgur ever showed today. Returns the released grants (cost now 0).
        """
        if answered.day != self.day_start or answered.state != "settled":
            return []
        self.note_imgur_count(count)
        ceiling = count - answered.certain_before - answered.cost
        if ceiling < 0:
            return []  # figures from another Imgur day, or a count we cannot explain
        cutoff = answered.at - grace_s
        eligible = [g for g in self.doubtful if (g.decided_at or g.at) < cutoff]
        doubtful_credits = sum(g.cost for g in eligible)
        releasable = min(doubtful_credits - ceiling, self.total - self.imgur_count)
        released: list[Grant] = []
        freed = 0
        for grant in eligible:
            if releasable <= 0 or freed + grant.cost > releasable:
                break
            freed += grant.cost
            self._add_to_total(grant, -grant.cost)
            if self.lease_left is not None and grant.kind != ADJUST:
                self.lease_left += grant.cost
            grant.cost = 0
            grant.state = "reconciled"
            released.append(grant)
        if released:
            gone = {id(g) for g in released}
            self.doubtful = deque(g for g in self.doubtful if id(g) not in gone)
        return released

    # -- sharing the budget with other processes ----------------------------------------------

    @property
    def lease_budget(self) -> int:
        """What all processes together may lease today: the limit minus the safety reserve."""
        shape = self.shape
        return shape.limit - shape.safety

    def add_lease(self, credits: int) -> None:
        self.lease_left = (self.lease_left or 0) + credits

    def add_ids(self, start: int, end: int) -> None:
        """Charge ids [start, end) are this process's to use."""
        self._next_id, self._id_limit = start, end

    @property
    def ids_left(self) -> int | None:
        return None if self._id_limit is None else self._id_limit - self._next_id

    # -- bare 429s ----------------------------------------------------------------------------

    def slow_down(self, now: float) -> float:
        """Imgur answered 429 without saying a limit is spent: back off (doubling from
        ``slowdown_base_s`` up to ``slowdown_max_s``), then let one request probe. Returns
        when the breaker closes."""
        s = self.settings
        wait = min(s.slowdown_base_s * 2**self.slowdown_level, s.slowdown_max_s)
        self.slowdown_level += 1
        until = now + wait
        self.open_breaker("slowdown", until, now)
        return until

    def imgur_answered(self) -> None:
        """A success: Imgur is taking calls again, so the back-off starts over."""
        if self.slowdown_level:
            self.slowdown_level = 0
            self.breakers.pop("slowdown", None)

    # -- Imgur's view -----------------------------------------------------------------------

    def observe(self, limits: RateLimits, now: float) -> set[str]:
        """Take in one response's headers. Returns what changed: "limit", "day", breakers."""
        changed: set[str] = set()
        s = self.settings
        if limits.client_limit and limits.client_limit != self.client_limit:
            self.client_limit = limits.client_limit
            self._invalidate()
            changed.add("limit")
        if limits.client_reset is not None and self.move_day_end(limits.client_reset.timestamp()):
            changed.add("day")
        if limits.client_remaining is not None:
            self.client_remaining = limits.client_remaining
            self._report("client", limits.client_remaining, self.day_end)
            if limits.client_remaining <= self.shape.safety:
                if self.open_breaker("client", self.day_end, now):
                    changed.add("client")
        if limits.user_remaining is not None:
            until = _ts(limits.user_reset) or now + HOUR
            self._report("ip", limits.user_remaining, until)
            if limits.user_remaining <= s.user_reserve and self.open_breaker("ip", until, now):
                changed.add("ip")
        if limits.post_remaining is not None:
            until = _ts(limits.post_reset) or now + HOUR
            self._report("post", limits.post_remaining, until)
            if limits.post_remaining <= s.post_reserve and self.open_breaker("post", until, now):
                changed.add("post")
        return changed

    def _report(self, scope: str, remaining: int, until: float) -> None:
        """Remember Imgur's figure. Answers arrive out of order: within one window the
        lowest figure is the latest truth, since what Imgur counted never goes back."""
        seen = self.reported.get(scope)
        if seen is not None and abs(seen[1] - until) < MINUTE and seen[0] < remaining:
            remaining = seen[0]
        self.reported[scope] = (remaining, until)

    def open_breaker(self, scope: str, until: float, now: float) -> bool:
        """Refuse charges in ``scope`` until ``until``. True if that is news."""
        current = self.breakers.get(scope)
        if until <= now or (current is not None and current >= until):
            return False
        self.breakers[scope] = until
        return True

    def open_breakers(self, now: float) -> dict[str, float]:
        return {scope: until for scope, until in self.breakers.items() if until > now}

    # -- restoring after a restart ----------------------------------------------------------

    def restore(
        self,
        *,
        used: dict[int, int],
        scheduler_used: int,
        last_active: dict[int, float],
        overrides: dict[int, int],
        recent: Iterable[Grant],
        next_id: int,
        adjusted: int = 0,
        certain: int = 0,
        doubtful: Iterable[Grant] = (),
        imgur_count: int = 0,
    ) -> None:
        """Load totals and windows rebuilt from the committed audit rows."""
        self.adjusted = adjusted
        self.certain_total = certain
        self.doubtful = deque(doubtful)
        self.imgur_count = imgur_count
        self.last_active = dict(last_active)
        self.overrides = dict(overrides)
        self._guaranteed = None
        self._invalidate()
        self.used = {}
        self.guild_total = 0
        for guild_id, credits in used.items():
            self.used[guild_id] = credits
            self.guild_total += credits
        self.scheduler_used = scheduler_used
        self.shape  # noqa: B018 - recompute the shape and the floor debt from the totals
        for grant in recent:
            self._remember(grant)
        self._next_id = max(self._next_id, next_id)

    def left(self, guild_id: int) -> int:
        """The most a guild could still be granted today, all checks but the windows."""
        shape = self.shape
        used = self.used.get(guild_id, 0)
        guaranteed = self._is_guaranteed(guild_id)
        floor = self.floor(guild_id) if guaranteed else 0
        own_debt = self._debt(guild_id) if guaranteed else 0
        pool_left = shape.pool - self.guild_total
        beyond_floor = pool_left - (self._debt_total - own_debt)
        left = min(self.allowance(guild_id) - used, pool_left, max(floor - used, beyond_floor))
        return max(left, 0)

    def set_override(self, guild_id: int, credits: int | None) -> None:
        if credits is None:
            self.overrides.pop(guild_id, None)
        else:
            self.overrides[guild_id] = credits
        self._invalidate()


def _ts(when: datetime | None) -> float | None:
    return None if when is None else when.timestamp()


def _trim(window: deque[Grant] | None, since: float) -> deque[Grant] | None:
    """Drop grants older than ``since`` from the left of a time-ordered window."""
    if window is None:
        return None
    while window and window[0].at <= since:
        window.popleft()
    return window


def _slot_frees_at(window: list[Grant], limit: int) -> float | None:
    """When enough of a full hourly window has aged out to let one more in (None: never)."""
    if limit <= 0:
        return None
    return window[len(window) - limit].at + HOUR


def _burst_cost(grant: Grant) -> int:
    """One for a call the member's minute counts; refunded and uncertain ones are free."""
    return 0 if grant.state == "uncertain" or grant.cost <= 0 else 1


def _counted(window: deque[Grant] | None) -> list[Grant]:
    """The grants in a window that still cost something (refunds free their slot)."""
    return [g for g in window if g.cost > 0] if window else []
