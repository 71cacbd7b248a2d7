"""Errors raised by the bot's own services (Imgur errors live in ``bot.imgur.errors``)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

# What a refusal is about: the guild's allowance, the member's burst window, the hourly upload
# limits, the scheduler's reserve, or one of Imgur's limits (``bot.imgur.errors.RateScope``:
# client, ip, post, upload) that the ledger keeps clear of, or the pause after a 429 whose
# headers did not say which limit was spent ("slowdown").
QuotaScope = Literal[
    "guild", "member", "guild_upload", "upload", "client", "ip", "post", "scheduler", "slowdown"
]


class QuotaExceeded(Exception):
    """The ledger refused a charge. ``resets_at`` says when asking again can succeed."""

    def __init__(self, scope: QuotaScope, resets_at: datetime | None, detail: str = "") -> None:
        super().__init__(detail or f"quota exceeded for {scope}")
        self.scope: QuotaScope = scope
        self.resets_at = resets_at
        self.detail = detail


class BadInput(Exception):
    """What a member typed cannot be asked of Imgur (a malformed link, an invalid tag)."""
