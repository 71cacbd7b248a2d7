"""The sandbox's clock: real time, plus however far the visitor has skipped ahead."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


class SkippableClock:
    """Wall-clock time that moves on by itself and jumps forward on ``skip(seconds)``.

    The bot's ledger, cache and highlight schedules read it, so skipping a day starts a
    new Imgur day and skipping to a feed's next run makes that run due now.
    """

    def __init__(self) -> None:
        self.offset_s = 0.0

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.offset_s)

    def monotonic(self) -> float:
        return time.monotonic() + self.offset_s

    def skip(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        self.offset_s += seconds
