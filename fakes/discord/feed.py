"""The event feed: what happened inside the fake Discord, for any consumer to watch.

The offline sandbox page (and a test, or a log) subscribes to see every REST request the bot
made, every message created, edited or deleted (with its current state), every interaction
dispatched and each callback for it, and every gateway connect and disconnect.

Publishing never blocks and never waits for a consumer: each subscriber has its own bounded
queue, and when a slow consumer lets it fill up the oldest entries are dropped and counted
(the next event it reads carries ``dropped``, how many it missed). Nothing secret goes in:
requests are summarised without headers, and interaction and webhook tokens in paths are
replaced by ``{token}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

DEFAULT_BACKLOG = 1000

_TOKEN_IN_PATH = re.compile(r"^(/interactions/\d+/|/webhooks/\d+/)([^/]+)")


def redact_path(path: str) -> str:
    """The path with any interaction or webhook token replaced by ``{token}``."""
    return _TOKEN_IN_PATH.sub(r"\1{token}", path)


@dataclass(frozen=True)
class Event:
    """One thing that happened. ``kind`` is one of ``request``, ``message``, ``interaction``,
    ``gateway``; ``data`` holds its details (see ``FakeDiscord.events``)."""

    kind: str
    data: dict[str, Any]
    seq: int
    at: float = field(default_factory=time.time)
    dropped: int = 0  # events this subscriber missed just before this one (it fell behind)


class Subscription:
    """A bounded queue of events for one consumer; iterate it with ``async for``."""

    def __init__(self, feed: EventFeed, backlog: int) -> None:
        self._feed = feed
        self._queue: deque[Event] = deque()
        self._backlog = backlog
        self._waiter: asyncio.Event = asyncio.Event()
        self.dropped = 0  # in total
        self._missed = 0  # since the last event handed out
        self.closed = False

    def _put(self, event: Event) -> None:
        if len(self._queue) >= self._backlog:
            self._queue.popleft()
            self.dropped += 1
            self._missed += 1
        self._queue.append(event)
        self._waiter.set()

    def get_nowait(self) -> Event | None:
        """The next queued event, or None when there is none."""
        if not self._queue:
            return None
        event = self._queue.popleft()
        if self._missed:
            event = Event(event.kind, event.data, event.seq, event.at, dropped=self._missed)
            self._missed = 0
        return event

    async def get(self) -> Event:
        while True:
            event = self.get_nowait()
            if event is not None:
                return event
            if self.closed:
                raise StopAsyncIteration
            self._waiter.clear()
            await self._waiter.wait()

    def close(self) -> None:
        self.closed = True
        self._waiter.set()
        self._feed._subscriptions.discard(self)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        return await self.get()


class EventFeed:
    """Fan-out of events to subscribers; ``publish`` is synchronous and O(subscribers)."""

    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._seq = itertools.count(1)

    def publish(self, kind: str, **data: Any) -> None:
        if not self._subscriptions:
            return
        event = Event(kind, data, next(self._seq))
        for subscription in list(self._subscriptions):
            subscription._put(event)

    def subscription(self, backlog: int = DEFAULT_BACKLOG) -> Subscription:
        subscription = Subscription(self, backlog)
        self._subscriptions.add(subscription)
        return subscription

    def subscribe(
        self,
        callback: Callable[[Event], Awaitable[None] | None],
        backlog: int = DEFAULT_BACKLOG,
    ) -> Callable[[], None]:
        """Call ``callback(event)`` (a function or a coroutine function) for every event, from
        a task of its own so a slow callback delays nobody but itself. Returns a function that
        stops it. A callback that raises is stopped too (the error is not the fake's)."""
        subscription = self.subscription(backlog)

        async def pump() -> None:
            async for event in subscription:
                result = callback(event)
                if inspect.isawaitable(result):
                    await result

        task = asyncio.get_running_loop().create_task(pump(), name="fake-discord-subscriber")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

        def stop() -> None:
            subscription.close()
            task.cancel()

        return stop

    async def close(self) -> None:
        for subscription in list(self._subscriptions):
            subscription.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
