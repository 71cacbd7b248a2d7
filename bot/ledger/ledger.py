"""The per-guild quota ledger: every Imgur call is charged here first.

One Imgur Client-ID serves every guild, so the ledger splits the app's daily credits between
guilds (``bot.ledger.book`` holds the arithmetic), follows Imgur's rate-limit headers, opens a
breaker before any of Imgur's limits is reached, and keeps an audit row for every charge.

Reserve, then settle::

    async with ledger.charge(guild_id, user_id, cost=1, kind="gallery", command="frontpage") as c:
        response = await send()          # may raise
        c.settle(credits_imgur_counted)  # 0 for a refund

Leaving the block without ``settle`` charges the reserved cost when it ends normally (or with
an ``ImgurError`` that Imgur counted) and refunds it otherwise. The Imgur client gets the same
behaviour through ``ledger.gate(guild_id, user_id, command)``, which it calls only for
requests that really go to Imgur.

Crash safety. The committed audit rows in ``ledger_charges`` are the single source of truth:
the in-memory totals are a cache rebuilt from them at start. A grant is durable before the
caller gets it (its row, state ``reserved``, is committed first), and a settlement updates that
same row in place, so nothing is counted twice. A row still ``reserved`` at start belongs to a
charge in flight when the process died; Imgur may have counted it, so it is kept at its full
reserved cost and marked ``orphaned``.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Any

from bot.clock import Clock, SystemClock
from bot.config import LedgerSettings
from bot.errors import QuotaExceeded
from bot.imgur.errors import ImgurError, NoAnswer, RateLimited
from bot.imgur.ratelimit import RateLimits
from bot.ledger import records
from bot.ledger.book import DAY, HOUR, Grant, QuotaBook, is_upload, to_datetime
from bot.store import Store

if TYPE_CHECKING:
    from bot.imgur.sansio import Request

log = logging.getLogger(__name__)


# Breaker scopes saved under older names, read under today's (Imgur's own scope names).
_RENAMED_SCOPES = {"imgur_user": "ip"}
MIGRATIONS = records.SCHEMA
# Sharing the budget: ids come in blocks this big, and a lease is a fiftieth of the budget
# (about 220 credits of Imgur's 12,500): small enough that little is stranded in one
# process, big enough that a process asks the database once per couple of hundred calls.
ID_BLOCK = 1_000_000
LEASES_A_DAY = 50


def _todays(saved: Any, day_start: float) -> int:
    """A figure saved with the day it belongs to, if that day is today."""
    if isinstance(saved, dict) and saved.get("day_start") == day_start:
        return int(saved.get("count") or 0)
    return 0


def _grant_from_row(row: dict[str, Any], day_start: float) -> Grant:
    at = row["at"]
    return Grant(
        id=row["id"],
        at=at,
        guild_id=row["guild_id"],
        user_id=row["user_id"],
        kind=row["kind"],
        command=row["command"],
        reserved=row["reserved"],
        cost=row["cost"],
        upload=is_upload(row["kind"], row["reserved"]),
        post=is_upload(row["kind"], row["reserved"]),
        day=day_start if at >= day_start else at,
        settled=True,
        state=row["state"],
        decided_at=row["settled_at"],
    )


# -- what the ledger reports ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GuildStatus:
    guild_id: int
    used: int  # credits used today, reservations in flight included
    left: int  # the most it could still be granted today
    allowance: int
    floor: int
    override: int | None  # the owner's setting, if any
    resets_at: datetime


@dataclass(frozen=True, slots=True)
class GuildUsage:
    guild_id: int
    used: int
    allowance: int


@dataclass(frozen=True, slots=True)
class Usage:
    day_start: datetime
    resets_at: datetime
    client_limit: int
    guild_pool: int
    scheduler_pool: int
    safety_reserve: int
    used_total: int
    scheduler_used: int
    active_guilds: int
    top_guilds: list[GuildUsage]
    breakers: dict[str, datetime]
    limit_hits_this_month: int
    client_credits_left: int | None  # as Imgur last reported it


@dataclass(frozen=True, slots=True)
class Health:
    ok: bool
    breakers_open: tuple[str, ...]
    client_credits_left: int | None
    client_reserve: int
    used_today: int
    limit_hits_this_month: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "breakers_open": list(self.breakers_open),
            "client_credits_left": self.client_credits_left,
            "client_reserve": self.client_reserve,
            "used_today": self.used_today,
            "limit_hits_this_month": self.limit_hits_this_month,
        }


# -- charges --------------------------------------------------------------------------------


class Charge:
    """A granted reservation. ``settle(n)`` records what Imgur really counted."""

    __slots__ = ("_closed", "_grant", "_record", "_written")

    def __init__(self, grant: Grant, record: Callable[[Grant, int], asyncio.Future[None]]) -> None:
        self._grant = grant
        self._record = record  # the ledger's bookkeeping for a settlement
        self._written: asyncio.Future[None] | None = None
        self._closed = False

    id = property(lambda self: self._grant.id)
    guild_id = property(lambda self: self._grant.guild_id)
    user_id = property(lambda self: self._grant.user_id)
    kind = property(lambda self: self._grant.kind)
    command = property(lambda self: self._grant.command)
    reserved = property(lambda self: self._grant.reserved)
    cost = property(lambda self: self._grant.cost, doc="What counts now.")
    settled = property(lambda self: self._grant.settled)

    def settle(
        self, actual_cost: int, *, certain: bool = True, limits: RateLimits | None = None
    ) -> None:
        """Replace the reservation with ``actual_cost`` (0 refunds it). Once per charge.

        ``certain=False``: Imgur may or may not have counted it (an error answer, no answer):
        it counts until Imgur's own figures settle it. ``limits``: the rate-limit headers of
        the answer, with which the ledger reconciles its count with Imgur's.
        """
        if self._closed:
            raise RuntimeError("settle() after the charge block has ended")
        self._written = self._record(self._grant, actual_cost, certain=certain, limits=limits)

    def close(self) -> asyncio.Future[None]:
        """End the charge (no settling after this); the settlement's pending write."""
        self._closed = True
        assert self._written is not None, "a charge is settled before it closes"
        return self._written

    def __repr__(self) -> str:
        g = self._grant
        return f"<Charge {g.id} guild={g.guild_id} {g.kind} cost={g.cost} settled={g.settled}>"


class ChargeBlock(AbstractAsyncContextManager[Charge]):
    """``async with`` this to reserve before a call and settle after it."""

    __slots__ = ("_charge", "_finish", "_reserve")

    def __init__(
        self,
        reserve: Callable[[], Awaitable[Charge]],
        finish: Callable[[Charge, BaseException | None], Awaitable[None]],
    ) -> None:
        self._reserve = reserve
        self._finish = finish
        self._charge: Charge | None = None

    async def __aenter__(self) -> Charge:
        self._charge = await self._reserve()
        return self._charge

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._charge is not None
        await self._finish(self._charge, exc)


# -- the ledger -----------------------------------------------------------------------------


class Ledger:
    """Per-guild quotas over one shared Imgur budget. Create it with ``Ledger.open``.

    Alone (the default), the ledger is the only spender of the budget. With an ``owner``
    name it is one of several processes sharing the store's tables (a cluster on
    PostgreSQL): each leases credits from the day's budget in one atomic statement, grants
    only from its lease (so all processes together never pass the budget), gives back what
    it did not use when it stops, recovers only its own charges after a crash, takes its
    charge ids in blocks, and shares the breakers Imgur's headers open with every process.
    """

    def __init__(
        self,
        store: Store,
        settings: LedgerSettings,
        clock: Clock,
        book: QuotaBook,
        owner: str | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.book = book
        self.owner = owner
        self._leases_cover = 0  # the highest Imgur count the day's leases were raised to
        self.orphans_recovered = 0
        self._client_hits: list[tuple[float, float]] = []  # (at, day_start), last two months
        self._pending: set[asyncio.Future[Any]] = set()
        self._capacity_lock = asyncio.Lock()
        self._stop_listening: Callable[[], Awaitable[None]] | None = None
        # Told of every refusal (``bot.metrics`` counts them by scope); must be quick.
        self.refusal_watchers: list[Callable[[QuotaExceeded], None]] = []

    @classmethod
    async def open(
        cls,
        store: Store,
        settings: LedgerSettings | None = None,
        *,
        clock: Clock | None = None,
        owner: str | None = None,
    ) -> Ledger:
        """Migrate, recover from a crash, and rebuild the totals from the audit rows.

        ``owner``: this process's name among the processes sharing the store (see the class
        docstring); the same name after a restart recovers that process's charges."""
        settings = settings or LedgerSettings()
        clock = clock or SystemClock()
        await store.apply(MIGRATIONS)
        now = clock.now().timestamp()
        recovered = await records.recover(store, now, owner)
        state = recovered["state"]
        book = QuotaBook(
            settings,
            now=now,
            client_limit=state.get("client_limit"),
            day_start=state.get("day_start"),
            day_end=state.get("day_end"),
        )
        book.roll_day(now)
        book.breakers = {
            _RENAMED_SCOPES.get(k, k): v for k, v in state.get("breakers", {}).items() if v > now
        }
        totals = await records.load_totals(
            store,
            day_start=book.day_start,
            since_active=book.day_start - settings.active_days * DAY,
            now=now,
        )
        book.restore(
            used=totals["used"],
            scheduler_used=totals["scheduler_used"],
            last_active=totals["last_active"],
            overrides=recovered["overrides"],
            recent=[_grant_from_row(r, book.day_start) for r in totals["recent"]],
            next_id=totals["next_id"],
            adjusted=totals["adjusted"],
            certain=totals["certain"],
            doubtful=[_grant_from_row(r, book.day_start) for r in totals["doubtful"]],
            imgur_count=_todays(state.get("imgur_count"), book.day_start),
        )
        book.slowdown_level = int(state.get("slowdown_level", 0))
        ledger = cls(store, settings, clock, book, owner)
        if owner is not None:
            await ledger._join_cluster(now)
        ledger.orphans_recovered = recovered["orphans"]
        ledger._client_hits = [(h["at"], h["day_start"]) for h in totals["hits"]]
        if recovered["orphans"]:
            log.warning(
                "ledger: %d charge(s) were in flight at the last stop; counted in full",
                recovered["orphans"],
            )
        await store.queue_write(records.save_state(ledger._day_state()))
        await store.queue_write(records.prune(now - settings.audit_retention_days * DAY))
        return ledger

    async def flush(self) -> None:
        """Wait until every write the ledger has queued is committed."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def close(self) -> None:
        """Flush (and, sharing the budget, give back the lease not used). The store belongs
        to whoever opened it and stays open."""
        if self.owner is not None:
            if self._stop_listening is not None:
                await self._stop_listening()
                self._stop_listening = None
            unused = self.book.lease_left or 0
            if unused > 0:
                self.book.lease_left = 0
                self._track(
                    self.store.queue_write([records.give_back(self.book.day_start, unused)])
                )
        await self.flush()

    # -- sharing the budget with other processes --------------------------------------------

    async def _join_cluster(self, now: float) -> None:
        self.book.lease_left = 0
        self.book.add_ids(*await records.take_ids(self.store, ID_BLOCK))
        for scope, until in (await records.shared_breakers(self.store, now)).items():
            self.book.open_breaker(scope, until, now)
        listen = getattr(self.store, "listen", None)
        if listen is not None:
            self._stop_listening = await listen(records.NOTIFY_CHANNEL, self._heard)

    def _heard(self, payload: str) -> None:
        """Another process opened a breaker: it holds here too."""
        try:
            message = json.loads(payload)
            if message.get("from") == self.owner:
                return
            self.book.open_breaker(str(message["scope"]), float(message["until"]), self._now())
        except (ValueError, KeyError, TypeError):
            log.warning("ledger: an unreadable message from another process was ignored")

    def _share_breaker(self, scope: str) -> None:
        until = self.book.breakers.get(scope)
        if self.owner is None or until is None:
            return
        self._track(self.store.queue_write([records.share_breaker(scope, until)]))
        notify = getattr(self.store, "notify", None)
        if notify is not None:
            message = json.dumps({"scope": scope, "until": until, "from": self.owner})
            self._track(asyncio.ensure_future(notify(records.NOTIFY_CHANNEL, message)))

    async def _ensure_capacity(self, cost: int) -> None:
        """Before a grant: enough of the shared budget leased, and ids left to number it."""
        book = self.book
        if book.lease_left is None:
            return
        async with self._capacity_lock:
            ids_left = book.ids_left
            if ids_left is not None and ids_left < ID_BLOCK // 10:
                book.add_ids(*await records.take_ids(self.store, ID_BLOCK))
            if book.lease_left >= cost:
                return
            chunk = max(cost - book.lease_left, book.lease_budget // LEASES_A_DAY, 1)
            granted, leased = await records.lease(
                self.store, book.day_start, chunk, book.lease_budget
            )
            book.add_lease(granted)
            # The day's leases cover this much: Imgur's count below it needs no raising.
            self._leases_cover = max(self._leases_cover, leased)

    # -- charging ---------------------------------------------------------------------------

    def charge(
        self,
        guild_id: int | None,
        user_id: int | None,
        cost: int,
        kind: str,
        command: str | None = None,
        *,
        method: str | None = None,
    ) -> ChargeBlock:
        """Reserve ``cost`` credits for one Imgur call; see the module docstring.

        ``guild_id=None`` charges the bot itself (the scheduler's reserve). ``method`` tells
        POSTs apart (Imgur's per-IP POST limit); uploads count as POSTs whatever it says.
        Raises ``QuotaExceeded`` on entry when the charge is refused.
        """
        post = (method or "GET").upper() == "POST"
        reserve = partial(self._reserve, guild_id, user_id, cost, kind, command, post)
        return ChargeBlock(reserve, self._finish)

    def gate(
        self, guild_id: int | None, user_id: int | None, command: str | None = None
    ) -> Callable[[Request[Any]], ChargeBlock]:
        """The Imgur client's hook: a callable turning a request into its charge block."""

        def charge_request(request: Request[Any]) -> ChargeBlock:
            return self.charge(
                guild_id, user_id, request.cost, request.kind, command, method=request.method
            )

        return charge_request

    async def _reserve(
        self,
        guild_id: int | None,
        user_id: int | None,
        cost: int,
        kind: str,
        command: str | None,
        post: bool,
    ) -> Charge:
        self._roll_if_due(self._now())
        await self._ensure_capacity(cost)
        now = self._now()
        # The decision and the reservation are one synchronous step: no other task runs
        # between them, so concurrent charges cannot over-grant.
        try:
            grant = self.book.admit(
                guild_id, user_id, cost, kind, now=now, command=command, post=post
            )
        except QuotaExceeded as refusal:
            for watcher in self.refusal_watchers:
                watcher(refusal)
            raise
        try:
            written = self.store.queue_write([records.insert_charge(grant, owner=self.owner)])
        except BaseException:
            self.book.settle(grant, 0)  # the store is closed: nothing was reserved
            raise
        try:
            # Shielded: if we are cancelled, the row may still be committed and must be
            # refunded once it is, which the callback below takes care of.
            await asyncio.shield(written)
        except asyncio.CancelledError:
            written.add_done_callback(partial(self._abandon, grant))
            raise
        except BaseException:
            self.book.settle(grant, 0)  # no row was written: release the reservation
            raise
        return Charge(grant, self._settle)

    def _abandon(self, grant: Grant, written: asyncio.Future[None]) -> None:
        """A caller was cancelled while its reservation was being written: give it back."""
        if written.cancelled() or written.exception() is not None:
            self.book.settle(grant, 0)
        elif not grant.settled:
            self._track(self._settle(grant, 0))

    def _settle(
        self,
        grant: Grant,
        actual: int,
        *,
        certain: bool = True,
        limits: RateLimits | None = None,
    ) -> asyncio.Future[None]:
        now = self._now()
        book = self.book
        book.settle(grant, actual, certain=certain, now=now)
        written = self.store.queue_write(
            [records.settle_charge(grant.id, actual, grant.state, now)]
        )
        if grant.state == "settled":
            book.imgur_answered()
            count = self._imgur_count(limits)
            if count is not None:
                self._release(book.reconcile(grant, count, grace_s=self.settings.reconcile_after_s))
        elif grant.state == "refunded":
            self._keep_above_imgur(now)  # a refund may take us below what Imgur showed
        return written

    def _imgur_count(self, limits: RateLimits | None) -> int | None:
        """What Imgur says it counted today, if these headers say it and speak of our day."""
        if limits is None or limits.client_limit is None or limits.client_remaining is None:
            return None
        if limits.client_reset is not None:
            if abs(limits.client_reset.timestamp() - self.book.day_end) > HOUR:
                return None  # a figure from another Imgur day
        return max(limits.client_limit - limits.client_remaining, 0)

    def _release(self, released: list[Grant]) -> None:
        if not released:
            return
        credits = sum(g.reserved for g in released)
        note = f"released {_stamp(self._now())}: Imgur's count showed it did not count this call"
        self._track(self.store.queue_write(records.release_charges([g.id for g in released], note)))
        self._save_state()
        log.info(
            "ledger: %d call(s), %d credit(s), released: Imgur's count shows it never counted them",
            len(released),
            credits,
        )

    def _keep_above_imgur(self, now: float) -> None:
        """Add what Imgur counted beyond the ledger's total as an adjustment row.

        Sharing the budget, this process's total is only its own part of what Imgur counts
        for the Client-ID: the others' calls would look like a deficit in each of them (and
        be counted again in every process). There the truth to keep above Imgur's count is
        the day's leases, which bound every process's grants: they are raised to it."""
        if self.owner is not None:
            count = self.book.imgur_count
            if count > self._leases_cover:
                self._leases_cover = count
                day = self.book.day_start
                self._track(asyncio.ensure_future(records.leased_at_least(self.store, day, count)))
            return
        deficit = self.book.deficit()
        if deficit <= 0:
            return
        grant = self.book.add_adjustment(deficit, now)
        note = (
            f"Imgur had counted {self.book.imgur_count} credits today, {deficit} more than"
            " this ledger knew (another process or app using the same Client-ID, or calls in"
            " flight): counted until Imgur's figures settle it"
        )
        self._track(self.store.queue_write([records.insert_charge(grant, note)]))
        self._save_state()
        log.info("ledger: +%d credit(s) to match Imgur's count of %d", deficit, grant.cost)

    async def _finish(self, charge: Charge, exc: BaseException | None) -> None:
        if not charge.settled:
            if exc is None:
                charge.settle(charge.reserved)
            elif isinstance(exc, NoAnswer) and not exc.may_have_reached:
                charge.settle(0)  # never sent
            elif isinstance(exc, ImgurError):
                charge.settle(charge.reserved, certain=False, limits=exc.ratelimits)
            else:
                charge.settle(0)  # our own failure, before anything was sent
        written = charge.close()
        if isinstance(exc, RateLimited):
            self._trip(exc)
        try:
            await asyncio.shield(written)
        except asyncio.CancelledError:
            self._track(written)
            raise
        except Exception:
            # The row stays 'reserved' and the next start counts it in full: safe, so the
            # command's own outcome is not replaced by a bookkeeping error.
            log.exception("ledger: could not record the settlement of charge %s", charge.id)

    # -- following Imgur --------------------------------------------------------------------

    def observe(
        self, ratelimits: RateLimits, request: Any = None, status: int | None = None
    ) -> None:
        """Listener for every Imgur response: fold its rate-limit headers into the picture."""
        if ratelimits is None or ratelimits.empty:
            return
        now = self._now()
        self._roll_if_due(now)
        changed = self.book.observe(ratelimits, now)
        if ratelimits.client_remaining == 0:
            self._note_limit_hit("client", self.book.day_end, "ClientRemaining is 0", now)
        for scope in changed - {"limit", "day"}:
            log.warning("ledger: %s breaker open until %s", scope, self.book.breakers[scope])
            self._share_breaker(scope)
        count = self._imgur_count(ratelimits)
        if count is not None and self.book.note_imgur_count(count) > 0:
            self._keep_above_imgur(now)
        if changed:
            self._save_state()

    def _trip(self, exc: RateLimited) -> None:
        """Imgur answered 429. Only what its headers (or the upload throttle's own words) say
        is spent stops that scope until it lifts; a bare 429 backs off briefly and probes
        again, doubling each time, and is not a daily-limit hit."""
        now = self._now()
        spent = _spent_scope(exc)
        if spent is None:
            scope, until = "slowdown", self.book.slow_down(now)
        else:
            scope, until = spent
            if until is None:
                until = self.book.day_end if scope == "client" else now + HOUR
            self.book.open_breaker(scope, until, now)
            self._note_limit_hit(scope, until, str(exc), now)
        self._share_breaker(scope)
        if exc.resets_at is None:
            exc.resets_at = _dt(until)  # so the member's answer can say when to try again
        log.warning(
            "ledger: Imgur answered 429 (%s); %s calls stop until %s",
            "no header says a limit is spent" if spent is None else f"{scope} limit spent",
            scope,
            _stamp(until),
        )
        self._save_state()

    def _note_limit_hit(self, scope: str, until: float, detail: str, now: float) -> None:
        day = self.book.day_start
        if scope == "client":
            if any(d == day for _, d in self._client_hits):
                return  # Imgur counts days: one hit a day is enough to remember
            self._client_hits.append((now, day))
        self._track(self.store.queue_write([records.record_hit(now, day, scope, until, detail)]))

    # -- the day ----------------------------------------------------------------------------

    def _roll_if_due(self, now: float) -> None:
        if self.book.roll_day(now):
            self._leases_cover = 0
            self._save_state()
            before = now - self.settings.audit_retention_days * DAY
            self._track(self.store.queue_write(records.prune(before)))

    def _day_state(self) -> dict[str, Any]:
        return {
            "client_limit": self.book.client_limit,
            "day_start": self.book.day_start,
            "day_end": self.book.day_end,
            "breakers": dict(self.book.breakers),
            "slowdown_level": self.book.slowdown_level,
            "imgur_count": {"day_start": self.book.day_start, "count": self.book.imgur_count},
        }

    # -- queries and the owner's controls ---------------------------------------------------

    async def guild_status(self, guild_id: int) -> GuildStatus:
        """Credits used and left today, the allowance and when it resets."""
        self._roll_if_due(self._now())
        book = self.book
        return GuildStatus(
            guild_id=guild_id,
            used=book.used.get(guild_id, 0),
            left=book.left(guild_id),
            allowance=book.allowance(guild_id),
            floor=book.floor(guild_id),
            override=book.overrides.get(guild_id),
            resets_at=_dt(book.day_end),
        )

    async def usage(self, top: int = 10) -> Usage:
        """The owner's overview: the busiest guilds today, breakers, limit hits, credits."""
        now = self._now()
        self._roll_if_due(now)
        book = self.book
        shape = book.shape
        busiest = heapq.nlargest(top, book.used.items(), key=lambda item: item[1])
        return Usage(
            day_start=_dt(book.day_start),
            resets_at=_dt(book.day_end),
            client_limit=shape.limit,
            guild_pool=shape.pool,
            scheduler_pool=shape.scheduler,
            safety_reserve=shape.safety,
            used_total=book.total,
            scheduler_used=book.scheduler_used,
            active_guilds=len(shape.active),
            top_guilds=[GuildUsage(g, used, book.allowance(g)) for g, used in busiest],
            breakers={scope: _dt(until) for scope, until in book.open_breakers(now).items()},
            limit_hits_this_month=self.limit_hits_this_month(now),
            client_credits_left=book.client_remaining,
        )

    async def set_allowance(self, guild_id: int, credits: int | None) -> None:
        """The owner's override of a guild's daily allowance (None returns to the fair share)."""
        if credits is not None and credits < 0:
            raise ValueError("an allowance cannot be negative")
        await self.store.queue_write(records.set_allowance(guild_id, credits, self._now()))
        self.book.set_override(guild_id, credits)

    def limit_hits_this_month(self, now: float | None = None) -> int:
        """Days this calendar month (UTC) on which Imgur's daily client limit was hit."""
        when = _dt(self._now() if now is None else now)
        month_start = datetime(when.year, when.month, 1, tzinfo=UTC).timestamp()
        return len({day for at, day in self._client_hits if at >= month_start})

    def health(self) -> Health:
        """A small summary for a health check: breakers open, client credits vs the reserve."""
        now = self._now()
        self._roll_if_due(now)
        book = self.book
        open_scopes = tuple(sorted(book.open_breakers(now)))
        left = book.client_remaining
        reserve = book.shape.safety
        return Health(
            ok=not open_scopes and (left is None or left > reserve),
            breakers_open=open_scopes,
            client_credits_left=left,
            client_reserve=reserve,
            used_today=book.total,
            limit_hits_this_month=self.limit_hits_this_month(now),
        )

    # -- plumbing ---------------------------------------------------------------------------

    def _now(self) -> float:
        return self.clock.now().timestamp()

    def _save_state(self) -> None:
        self._track(self.store.queue_write(records.save_state(self._day_state())))

    def _track(self, future: asyncio.Future[Any]) -> None:
        """Keep a fire-and-forget write until it lands, and log it if it fails."""
        self._pending.add(future)
        future.add_done_callback(self._forget)

    def _forget(self, future: asyncio.Future[Any]) -> None:
        self._pending.discard(future)
        if not future.cancelled() and future.exception() is not None:
            log.error("ledger: a background write failed", exc_info=future.exception())


def _spent_scope(exc: RateLimited) -> tuple[str, float | None] | None:
    """Which of Imgur's limits a 429 shows spent, and when it lifts; None for a bare 429."""
    limits = exc.ratelimits
    if limits.client_remaining is not None and limits.client_remaining <= 0:
        return "client", _ts(limits.client_reset)
    if limits.user_remaining is not None and limits.user_remaining <= 0:
        return "ip", _ts(limits.user_reset)
    if exc.scope == "upload" and exc.resets_at is not None:
        # "You are uploading too fast. Please wait N more minutes.": the throttle says so.
        return "upload", exc.resets_at.timestamp()
    if limits.post_remaining is not None and limits.post_remaining <= 0:
        return "post", _ts(limits.post_reset)
    return None


def _ts(when: datetime | None) -> float | None:
    return None if when is None else when.timestamp()


def _stamp(ts: float) -> str:
    return _dt(ts).strftime("%Y-%m-%d %H:%M:%S UTC")


def _dt(ts: float) -> datetime:
    result = to_datetime(ts)
    assert result is not None
    return result
