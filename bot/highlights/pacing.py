"""Keeping the bot's own posts under Discord's global limit.

Discord allows a bot 50 requests a second across all routes (interaction answers aside) and
answers a burst beyond it with 429s. discord.py honours a 429 once it comes, but does not
space requests out beforehand, so a slot that posts into 5,000 channels would run straight
into the limit. ``Pacer`` lets sends through at ``rate`` a second of real time, whoever
asks (it is shared by everything that posts on the bot's own initiative).
"""

from __future__ import annotations

import asyncio


class PacerClosed(Exception):
    """The pacer was closed (the bot is stopping): do not send."""


class Pacer:
    """``rate`` releases a second on average, never in a burst.

    Releases follow a schedule one ``1 / rate`` apart, so the small lateness of each sleep
    does not add up and slow the rate down. A schedule that has fallen behind (nobody was
    waiting, or the event loop stalled) restarts from now rather than letting a backlog
    out at once, and a late release still keeps half an interval to the next one. Waiters
    are served in arrival order.
    """

    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError("a pacer needs a positive rate")
        self.interval = 1.0 / rate
        self._lock = asyncio.Lock()
        self._next = float("-inf")
        self._closed = False

    async def wait(self) -> None:
        """Return when this caller may send; ``PacerClosed`` if the pacer closed first."""
        async with self._lock:
            if self._closed:
                raise PacerClosed
            loop = asyncio.get_running_loop()
            now = loop.time()
            due = max(self._next, now)
            if due > now:
                await asyncio.sleep(due - now)
            if self._closed:
                raise PacerClosed
            released = loop.time()
            self._next = max(due + self.interval, released + self.interval / 2)

    def close(self) -> None:
        """Refuse every waiter from now on (each learns it at its turn, without sleeping)."""
        self._closed = True

    @property
    def closed(self) -> bool:
        return self._closed
