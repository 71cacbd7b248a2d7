"""The only way cogs reach Imgur: every call is made on behalf of someone and charged.

``ImgurAccess.acting_for(guild_id, user_id, command)`` returns a ``ChargedImgur``: the Imgur
client as one guild member (or the scheduler, ``guild_id=None``) sees it. Its verbs take a
request built by ``bot.imgur.sansio`` (the one declaration of every endpoint) and hand the
client a gate bound to that member: the ledger reserves before anything is sent and settles
with what Imgur counted. A cache hit or a request joining an identical one in flight costs
nothing and never touches the ledger. When the ledger refuses (or Imgur fails) and an older
answer is cached, the client serves it: ``Answer.stale`` and ``Answer.age_s`` say so, and the
cog shows its age instead of refusing.

The browsing logic that needs more than one call (resolving a pasted link, a profile with its
submissions, the random pool) is in ``bot.browse``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from bot.activity import Activity, ImgurCall, Verdict
from bot.clock import Clock, SystemClock
from bot.discord.replies import echo
from bot.errors import BadInput, QuotaExceeded
from bot.imgur.client import Body, Gate, ImgurClient, Meter
from bot.imgur.errors import ImgurError
from bot.imgur.ratelimit import RateLimits
from bot.imgur.sansio import BadArgument, Request
from bot.ledger import Ledger

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Answer(Generic[T]):
    """A parsed answer; ``age_s`` is how old it is, ``stale`` that it is past its TTL."""

    value: T
    stale: bool = False
    age_s: float = 0.0


def build(builder: Callable[..., Request[T]], *args: Any, **kwargs: Any) -> Request[T]:
    """Builders refuse values Imgur would reject: that is the member's input, so it is said
    back in plain words (never a Python repr)."""
    try:
        return builder(*args, **kwargs)
    except BadArgument as exc:
        shown = echo(exc.value) if isinstance(exc.value, str) and exc.value.strip() else ""
        what = f"“{shown}” isn't" if shown else "That isn't"
        raise BadInput(f"{what} {exc.expected}.") from None
    except ValueError as exc:
        raise BadInput(f"Imgur can't be asked that: {exc}.") from None


class ImgurAccess:
    """Hands out charged views of the one Imgur client."""

    def __init__(
        self,
        client: ImgurClient,
        ledger: Ledger,
        *,
        clock: Clock | None = None,
        activity: Activity | None = None,
    ) -> None:
        self._client = client
        self._ledger = ledger
        self._clock = clock or SystemClock()
        self.activity = activity or Activity()

    def acting_for(self, guild_id: int | None, user_id: int | None, command: str) -> ChargedImgur:
        return ChargedImgur(
            self._client,
            self._ledger.gate(guild_id, user_id, command),
            self._clock,
            self.activity,
            (guild_id, user_id, command),
        )

    def acting_through(
        self, gate: Gate, who: tuple[int | None, int | None, str] = (None, None, "")
    ) -> ChargedImgur:
        """Imgur through a gate the caller built on this ledger's own charges
        (``Ledger.charge``), e.g. an album's uploads reserved together before the first is
        sent (``bot.uploads.service``). ``who``: (guild, member, command), for the record."""
        return ChargedImgur(self._client, gate, self._clock, self.activity, who)

    async def forget(self, *requests: Request[Any]) -> None:
        """Drop the cached answers to ``requests`` (free: nothing is sent to Imgur), in the
        shared cache too. Deleting an upload does this, so the bot never shows it again, not
        even as a stale answer."""
        for request in requests:
            await self._client.forget(request)


class _Tally:
    """What the ledger was told about each attempt of one call."""

    def __init__(self) -> None:
        self.attempts = 0
        self.credits = 0

    def gate(self, inner: Gate) -> Gate:
        @asynccontextmanager
        async def counted(request: Request[Any]) -> AsyncIterator[Meter]:
            async with inner(request) as meter:
                self.attempts += 1
                yield _CountingMeter(meter, self)

        return counted


class _CountingMeter:
    def __init__(self, meter: Meter, tally: _Tally) -> None:
        self._meter = meter
        self._tally = tally

    def settle(
        self, actual_cost: int, *, certain: bool = True, limits: RateLimits | None = None
    ) -> Any:
        self._tally.credits += actual_cost
        return self._meter.settle(actual_cost, certain=certain, limits=limits)


class ChargedImgur:
    """Imgur on behalf of one member in one guild, for one command: every call charged, and
    reported to ``activity`` with its verdict."""

    def __init__(
        self,
        client: ImgurClient,
        gate: Gate,
        clock: Clock,
        activity: Activity,
        who: tuple[int | None, int | None, str],
    ) -> None:
        self._client = client
        self._gate = gate
        self._clock = clock
        self._activity = activity
        self._who = who

    async def get(self, request: Request[T], *, body: Body | None = None) -> Answer[T]:
        """The request's model, from the cache or from Imgur (charged). ``body``: an
        upload's bytes (whole, or an async iterator of chunks)."""
        tally = _Tally()
        started = self._clock.monotonic()
        try:
            fetched = await self._client.fetch(request, gate=tally.gate(self._gate), body=body)
        except QuotaExceeded as exc:
            self._report(request, "refused", tally, started, detail=exc.scope)
            raise
        except ImgurError as exc:
            self._report(request, "failed", tally, started, detail=type(exc).__name__)
            raise
        age = fetched.age_s(self._clock.now())
        verdict: Verdict
        if fetched.stale:
            verdict = "stale"
        elif fetched.from_cache:
            verdict = "cache"
        else:
            verdict = "imgur" if tally.attempts else "coalesced"
        self._report(request, verdict, tally, started, stale_age_s=age if fetched.stale else None)
        return Answer(fetched.parse(request.parse), stale=fetched.stale, age_s=age)

    def _report(
        self,
        request: Request[Any],
        verdict: Verdict,
        tally: _Tally,
        started: float,
        *,
        detail: str = "",
        stale_age_s: float | None = None,
    ) -> None:
        guild_id, user_id, command = self._who
        self._activity.emit(
            ImgurCall(
                at=self._clock.now(),
                guild_id=guild_id,
                user_id=user_id,
                command=command,
                method=request.method,
                path=request.path,
                kind=request.kind,
                verdict=verdict,
                credits=tally.credits,
                attempts=tally.attempts,
                duration_ms=(self._clock.monotonic() - started) * 1000,
                detail=detail,
                stale_age_s=stale_age_s,
            )
        )
