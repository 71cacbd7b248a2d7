"""What the bot does with Imgur, as a stream of events anyone inside the process may watch.

Every call a cog makes through ``ChargedImgur`` becomes one ``ImgurCall``: who asked, what,
and the verdict (answered from the cache, joined an identical call in flight, sent to Imgur
with its credits, served stale, refused by the ledger, failed). Metrics count them, the
offline sandbox shows them beside the chat, and tests read them. Watchers are called in
order and must be quick; one that raises is logged and skipped, never the caller's problem.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

log = logging.getLogger(__name__)

Verdict = Literal["cache", "coalesced", "imgur", "stale", "refused", "failed"]


@dataclass(frozen=True, slots=True)
class ImgurCall:
    at: datetime
    guild_id: int | None
    user_id: int | None
    command: str
    method: str
    path: str
    kind: str
    verdict: Verdict
    credits: int = 0  # what the ledger counts for it now (uncertain attempts included)
    attempts: int = 0  # tries that went through the ledger's gate
    duration_ms: float = 0.0
    detail: str = ""  # the refusal's scope, or the error's class
    stale_age_s: float | None = None


@dataclass
class Activity:
    """A bounded record of recent events and the watchers that hear each one."""

    keep: int = 500
    recent: deque[ImgurCall] = field(init=False)
    _watchers: list[Callable[[ImgurCall], None]] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.recent = deque(maxlen=self.keep)

    def watch(self, watcher: Callable[[ImgurCall], None]) -> Callable[[], None]:
        """Call ``watcher`` with every event from now on; returns how to stop."""
        self._watchers.append(watcher)
        return lambda: self._watchers.remove(watcher) if watcher in self._watchers else None

    def emit(self, event: ImgurCall) -> None:
        self.recent.append(event)
        for watcher in list(self._watchers):
            try:
                watcher(event)
            except Exception:
                log.exception("activity watcher %r failed", watcher)
