"""Keeping the bot's own posts under Discord's global limit.

Discord allows a bot 50 requests a second across all routes (interaction answers aside) and
answers a burst beyond it with 429s. discord.py honours a 429 once it comes, but does not
space requests out beforehand, so a slot that posts into 5,000 channels would run straight
into the limit. ``Pacer`` lets one send through every ``1 / rate`` seconds of real time,
whoever asks (it is shared by everything that posts on the bot's own initiative).
"""

from __future__ import annotations

import asyncio


class PacerClosed(Exception):
    """The pacer was closed (the bot is stopping): do not send."""


class Pacer:
    """At most ``rate`` releases a second, never in a burst.

    Each release waits until ``1 / rate`` seconds after the previous one *actually*
    happened, so a stalled event loop does not let a backlog out all at once: after a
    stall the sends resume at the same spacing. Waiters are served in arrival order.
    """

    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError("a pacer needs a positive rate")
        self.interval = 1.0 / rate
        self._lock = asyncio.Lock()
        self._last = float("-inf")
        self._closed = False

    async def wait(self) -> None:
        """Return when this caller may send; ``PacerClosed`` if the pacer closed first."""
        async with self._lock:
            if self._closed:
                raise PacerClosed
            loop = asyncio.get_running_loop()
            delay = self._last + self.interval - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if self._closed:
                raise PacerClosed
            self._last = loop.time()

    def close(self) -> None:
        """Refuse every waiter from now on (each learns it at its turn, without sleeping)."""
        self._closed = True

    @property
    def closed(self) -> bool:
        return self._closed
