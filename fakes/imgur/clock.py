"""Time for the emulator, without depending on the bot.

The emulator reads time through any object with ``now()`` (an aware UTC datetime) and
``monotonic()`` (seconds, never going back): the bot's ``bot.clock.FakeClock`` fits, and
so do the two clocks here. ``ManualClock`` is what ``--fake-clock`` runs on: it stands
still until ``POST /_emulator/clock`` (or ``advance``) moves it, so a simulated day takes
no real time.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

# Where a ManualClock starts: the catalogue's own "now" (data.ANCHOR_EPOCH), 2026-01-01.
MANUAL_START = datetime(2026, 1, 1, tzinfo=UTC)


@runtime_checkable
class Clock(Protocol):
    def now(self) -> datetime:
        """Aware UTC wall-clock time."""

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin, never going back."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class ManualClock:
    """Stands at ``start`` until ``advance(seconds)`` moves it forward."""

    def __init__(self, start: datetime = MANUAL_START) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime (e.g. tzinfo=UTC)")
        self._start = start
        self._elapsed = 0.0

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._elapsed)

    def monotonic(self) -> float:
        return self._elapsed

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock cannot go back in time")
        self._elapsed += seconds
