"""Imgur's rate-limit headers (``imgur-api.md`` §3.2) as one immutable value.

Every header is optional: Imgur omits some on some responses. ``UserReset`` has been seen
both as a unix epoch (docs, 2017) and as seconds until reset (2023-2025); ``reset_time``
holds that rule for every caller. ``ClientReset`` and ``X-Post-Rate-Limit-Reset`` are
relative seconds. All resets become absolute UTC datetimes using ``now``.

``RateLimits.from_headers`` reads a response's headers once; ``decipher_response`` returns
the result beside the data (and errors carry it), so nobody reads them twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.imgur.lenient import to_int

# Values at or above this are unix epochs; below it, seconds from now.
EPOCH_THRESHOLD = 10**9
_PREFIXES = ("x-ratelimit-", "x-post-rate-limit-")


def reset_time(value: int | None, now: datetime, *, epoch_allowed: bool = True) -> datetime | None:
    """When a limit resets, from a header or body value that is an epoch or seconds from now."""
    if value is None:
        return None
    try:
        if epoch_allowed and value >= EPOCH_THRESHOLD:
            return datetime.fromtimestamp(value, UTC)
        return now + timedelta(seconds=max(value, 0))
    except (OverflowError, ValueError, OSError):
        return None  # absurd values (a reset of 10**30 seconds) mean "unknown"


@dataclass(frozen=True, slots=True)
class RateLimits:
    user_limit: int | None = None
    user_remaining: int | None = None
    user_reset: datetime | None = None
    client_limit: int | None = None
    client_remaining: int | None = None
    client_reset: datetime | None = None
    post_limit: int | None = None
    post_remaining: int | None = None
    post_reset: datetime | None = None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str], now: datetime | None = None) -> RateLimits:
        """Read the rate-limit headers in one pass over ``headers`` (any spelling or case);
        the first of each name counts."""
        now = now or datetime.now(UTC)
        picked: dict[str, int | None] = {}
        for name, value in headers.items():
            lowered = name.lower()
            if lowered.startswith(_PREFIXES) and lowered not in picked:
                picked[lowered] = to_int(value)
        if not picked:
            return _EMPTY
        get = picked.get
        return cls(
            user_limit=get("x-ratelimit-userlimit"),
            user_remaining=get("x-ratelimit-userremaining"),
            user_reset=reset_time(get("x-ratelimit-userreset"), now),
            client_limit=get("x-ratelimit-clientlimit"),
            client_remaining=get("x-ratelimit-clientremaining"),
            client_reset=reset_time(get("x-ratelimit-clientreset"), now, epoch_allowed=False),
            post_limit=get("x-post-rate-limit-limit"),
            post_remaining=get("x-post-rate-limit-remaining"),
            post_reset=reset_time(get("x-post-rate-limit-reset"), now, epoch_allowed=False),
        )

    @property
    def empty(self) -> bool:
        return all(getattr(self, f) is None for f in self.__slots__)


_EMPTY = RateLimits()
