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

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from bot.clock import Clock, SystemClock
from bot.discord.replies import echo
from bot.errors import BadInput
from bot.imgur.client import Body, Gate, ImgurClient
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

    def __init__(self, client: ImgurClient, ledger: Ledger, *, clock: Clock | None = None) -> None:
        self._client = client
        self._ledger = ledger
        self._clock = clock or SystemClock()

    def acting_for(self, guild_id: int | None, user_id: int | None, command: str) -> ChargedImgur:
        return ChargedImgur(
            self._client, self._ledger.gate(guild_id, user_id, command), self._clock
        )

    def acting_through(self, gate: Gate) -> ChargedImgur:
        """Imgur through a gate the caller built on this ledger's own charges
        (``Ledger.charge``), e.g. an album's uploads reserved together before the first is
        sent (``bot.uploads.service``)."""
        return ChargedImgur(self._client, gate, self._clock)

    def forget(self, *requests: Request[Any]) -> None:
        """Drop the cached answers to ``requests`` (free: nothing is sent). Deleting an
        upload does this, so the bot never shows it again, not even as a stale answer."""
        for request in requests:
            self._client.forget(request)


class ChargedImgur:
    """Imgur on behalf of one member in one guild, for one command: every call charged."""

    def __init__(self, client: ImgurClient, gate: Gate, clock: Clock) -> None:
        self._client = client
        self._gate = gate
        self._clock = clock

    async def get(self, request: Request[T], *, body: Body | None = None) -> Answer[T]:
        """The request's model, from the cache or from Imgur (charged). ``body``: an
        upload's bytes, whole or as an async iterable of chunks (streamed, never held)."""
        fetched = await self._client.fetch(request, gate=self._gate, body=body)
        age = fetched.age_s(self._clock.now())
        return Answer(fetched.parse(request.parse), stale=fetched.stale, age_s=age)
