"""How far an upload has got, told to the member only when it is slow, and not too often.

``ProgressMeter`` is fed byte counts synchronously, from the callbacks of the download
(``receiving``) and of the Imgur request body (``sending``: the bytes Imgur's request has
pulled from the file). It calls its async ``report`` with a ``Progress`` when the upload has
run for ``after_s`` and the last report is at least ``every_s`` old: a quick upload shows no
progress at all, a slow one an edit a second at most (Discord rate-limits message edits).

There is no timer: whether a report is due is decided when bytes move, on the injected
clock, so tests drive it without sleeping. At most one report runs at a time (a report
still being sent when the next is due makes that one wait for the next bytes), and
``close()`` waits for it, so a late progress edit can never overwrite the final answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from bot.clock import Clock

log = logging.getLogger(__name__)

Phase = Literal["receiving", "sending"]


@dataclass(frozen=True, slots=True)
class Progress:
    """``done`` of ``total`` bytes in ``phase``; ``files`` how many files there are."""

    phase: Phase
    done: int
    total: int
    files: int

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total > 0 else 0.0


Report = Callable[[Progress], Awaitable[object]]


class ProgressMeter:
    def __init__(
        self,
        report: Report | None,
        *,
        clock: Clock,
        after_s: float = 2.0,
        every_s: float = 1.0,
    ) -> None:
        self._report = report
        self._clock = clock
        self._after_s = after_s
        self._every_s = every_s
        self._started = clock.monotonic()
        self._last_report: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._phase: Phase = "receiving"
        self._files = 0
        self._totals: dict[Phase, int] = {"receiving": 0, "sending": 0}
        self._done: dict[tuple[Phase, int], int] = {}
        self.reports = 0

    def expect(self, phase: Phase, total: int, files: int) -> None:
        """Start ``phase``: ``total`` bytes over ``files`` files."""
        self._phase = phase
        self._totals[phase] = total
        self._files = files

    def tracker(self, phase: Phase, index: int) -> Callable[[int, int], None]:
        """A callback for one file's transfer: ``(bytes so far, file total)``. A transfer
        that starts again (a retried request) counts from zero again, not twice."""

        def moved(done: int, _total: int) -> None:
            self._done[(phase, index)] = done
            self._maybe_report()

        return moved

    def snapshot(self) -> Progress:
        phase = self._phase
        done = sum(n for (p, _), n in self._done.items() if p == phase)
        return Progress(phase, done, self._totals[phase], self._files)

    def _maybe_report(self) -> None:
        if self._report is None or self._closed:
            return
        if self._task is not None and not self._task.done():
            return
        now = self._clock.monotonic()
        if now - self._started < self._after_s:
            return
        if self._last_report is not None and now - self._last_report < self._every_s:
            return
        self._last_report = now
        self.reports += 1
        self._task = asyncio.get_running_loop().create_task(self._send(self.snapshot()))

    async def _send(self, progress: Progress) -> None:
        assert self._report is not None
        try:
            await self._report(progress)
        except Exception as exc:  # a lost progress edit must not stop the upload
            log.debug("a progress report failed: %r", exc)

    async def close(self) -> None:
        """No more reports; wait for the one being sent, if any."""
        self._closed = True
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
