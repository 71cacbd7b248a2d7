"""Noticing a host clock that disagrees with Discord's.

Interactions carry their creation time in their id, and discord.py judges whether one is
too old by comparing that time with the host clock. A host clock a few minutes off makes
that judgement wrong (the bot itself never relies on it: see ``replies.reply_privately``),
and it breaks Discord timestamps in messages. Every answer from Discord carries a ``Date``
header: when it disagrees with the host clock by more than a few seconds, an admin hears
about it, at most once every ten minutes.
"""

from __future__ import annotations

import logging
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp

from bot.clock import Clock

log = logging.getLogger(__name__)

THRESHOLD_S = 5.0  # a Date header has whole seconds, and an answer takes time to arrive
REPEAT_S = 600.0


class ClockSkewWatch:
    def __init__(self, clock: Clock, *, threshold_s: float = THRESHOLD_S) -> None:
        self._clock = clock
        self._threshold_s = threshold_s
        self._last_warning: float | None = None
        self.last_skew_s: float | None = None  # host minus Discord, from the latest answer

    def trace_config(self) -> aiohttp.TraceConfig:
        """For discord.py's ``http_trace`` option: sees every answer Discord sends."""
        config = aiohttp.TraceConfig()
        config.on_request_end.append(self._on_request_end)
        return config

    async def _on_request_end(self, _session: Any, _context: Any, params: Any) -> None:
        self.observe(params.response.headers.get("Date"))

    def observe(self, date_header: str | None) -> None:
        if not date_header:
            return
        try:
            theirs = parsedate_to_datetime(date_header)
        except (TypeError, ValueError):
            return
        if theirs.tzinfo is None:
            return
        skew = (self._clock.now() - theirs).total_seconds()
        self.last_skew_s = skew
        if abs(skew) <= self._threshold_s:
            return
        now = self._clock.monotonic()
        if self._last_warning is not None and now - self._last_warning < REPEAT_S:
            return
        self._last_warning = now
        log.warning(
            "this machine's clock is %.0f s %s Discord's: Discord timestamps in messages will "
            "be off, and libraries that judge interaction age by the local clock misfire; "
            "sync the clock (NTP: e.g. `timedatectl set-ntp true`)",
            abs(skew),
            "ahead of" if skew > 0 else "behind",
        )
