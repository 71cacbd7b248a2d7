"""Imgur's rate-limit headers (``imgur-api.md`` §3.2) as one immutable value.

Every header is optional: Imgur omits some on some responses. ``UserReset`` has been seen
both as a unix epoch (docs, 2017) and as seconds until reset (2023-2025); values below
10**9 are taken as relative seconds. ``ClientReset`` and ``X-Post-Rate-Limit-Reset`` are
relative seconds. All resets are turned into absolute UTC datetimes using ``now``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_EPOCH_THRESHOLD = 10**9


def _int(headers: Mapping[str, str], name: str) -> int | None:
    for key, value in headers.items():
        if key.lower() == name:
            try:
                return int(str(value).strip())
            except ValueError:
                return None
    return None


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
        now = now or datetime.now(UTC)

        def relative(seconds: int | None) -> datetime | None:
            return None if seconds is None else now + timedelta(seconds=max(seconds, 0))

        user_reset_raw = _int(headers, "x-ratelimit-userreset")
        if user_reset_raw is None:
            user_reset = None
        elif user_reset_raw >= _EPOCH_THRESHOLD:
            user_reset = datetime.fromtimestamp(user_reset_raw, UTC)
        else:
            user_reset = relative(user_reset_raw)
        return cls(
            user_limit=_int(headers, "x-ratelimit-userlimit"),
            user_remaining=_int(headers, "x-ratelimit-userremaining"),
            user_reset=user_reset,
            client_limit=_int(headers, "x-ratelimit-clientlimit"),
            client_remaining=_int(headers, "x-ratelimit-clientremaining"),
            client_reset=relative(_int(headers, "x-ratelimit-clientreset")),
            post_limit=_int(headers, "x-post-rate-limit-limit"),
            post_remaining=_int(headers, "x-post-rate-limit-remaining"),
            post_reset=relative(_int(headers, "x-post-rate-limit-reset")),
        )

    @property
    def empty(self) -> bool:
        return all(getattr(self, f) is None for f in self.__slots__)
