"""Imgur's credit accounting (imgur-api.md §3): windows, charges, 429s and headers.

Buckets, each a fixed window that starts with its first charge and rolls over when its
period has passed (time comes from the injected clock, so a FakeClock can run a day):

- client: per Client-ID, ``client_daily_limit`` credits a day;
- user:   per (Client-ID, client IP), ``user_hourly_limit`` credits an hour;
- post:   per client IP, ``post_hourly_limit`` POST requests an hour (RapidAPI exempt);
- upload: per client IP, ``upload_hourly_limit`` uploads an hour — Imgur's undocumented
  "You are uploading too fast" throttle.

A call costs ``call_cost`` (1), an upload ``upload_cost`` (10); /oauth2 calls cost 0.
Refused calls (429) are not charged. A client that runs dry on ``monthly_block_after``
different days of one calendar month is refused until the month ends, as Imgur does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from fakes.imgur.config import EmulatorConfig

HOUR = 3600
DAY = 86_400

Scope = Literal["client", "user", "post", "upload"]


@dataclass(slots=True)
class Window:
    period: int
    started: float | None = None
    used: int = 0

    def roll(self, now: float) -> None:
        if self.started is None or now >= self.started + self.period:
            self.started = None
            self.used = 0

    def charge(self, amount: int, now: float) -> None:
        if self.started is None:
            self.started = now
        self.used += amount

    def reset_in(self, now: float) -> int:
        if self.started is None:
            return self.period
        return max(0, math.ceil(self.started + self.period - now))


@dataclass(slots=True)
class Caller:
    client_id: str
    ip: str
    commercial: bool = False


@dataclass(slots=True)
class Verdict:
    """Outcome of ``Accounting.admit``: refused (with scope) or charged ``cost``."""

    refused: Scope | None
    cost: int
    wait_seconds: int = 0


class Accounting:
    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.clients: dict[str, Window] = {}
        self.users: dict[tuple[str, str], Window] = {}
        self.posts: dict[str, Window] = {}
        self.uploads: dict[str, Window] = {}
        # Client -> (year, month) -> starts of the daily windows in which it ran out.
        self.exhausted_days: dict[str, dict[tuple[int, int], set[float]]] = {}
        # Client -> start of a daily window -> credits charged in it (the ledger's check).
        self.charged: dict[str, dict[float, int]] = {}

    def reset(self) -> None:
        self.__init__(self.config)

    def _now(self) -> float:
        return self.config.clock.now().timestamp()

    @staticmethod
    def _window(table: dict, key, period: int, now: float) -> Window:
        window = table.get(key)
        if window is None:
            window = table[key] = Window(period)
        window.roll(now)
        return window

    def windows(self, caller: Caller, now: float | None = None) -> tuple[Window, ...]:
        now = self._now() if now is None else now
        return (
            self._window(self.clients, caller.client_id, DAY, now),
            self._window(self.users, (caller.client_id, caller.ip), HOUR, now),
            self._window(self.posts, caller.ip, HOUR, now),
            self._window(self.uploads, caller.ip, HOUR, now),
        )

    def admit(self, caller: Caller, *, is_post: bool, is_upload: bool) -> Verdict:
        """Check every limit that applies, then charge; refuse without charging."""
        cfg = self.config
        now = self._now()
        client, user, post, upload = self.windows(caller, now)
        cost = cfg.upload_cost if is_upload else cfg.call_cost
        if self.blocked_for_month(caller.client_id):
            return Verdict("client", 0, self._seconds_to_month_end())
        if client.used + cost > cfg.client_daily_limit:
            self._note_exhaustion(caller.client_id, client)
            return Verdict("client", 0, client.reset_in(now))
        if user.used + cost > cfg.user_hourly_limit:
            return Verdict("user", 0, user.reset_in(now))
        if is_post and not caller.commercial and post.used + 1 > cfg.post_hourly_limit:
            return Verdict("post", 0, post.reset_in(now))
        if is_upload and upload.used + 1 > cfg.upload_hourly_limit:
            return Verdict("upload", 0, upload.reset_in(now))
        client.charge(cost, now)
        days = self.charged.setdefault(caller.client_id, {})
        start = client.started if client.started is not None else now  # set by charge()
        days[start] = days.get(start, 0) + cost
        user.charge(cost, now)
        if is_post and not caller.commercial:
            post.charge(1, now)
        if is_upload:
            upload.charge(1, now)
        return Verdict(None, cost)

    def _month(self) -> tuple[int, int]:
        now = self.config.clock.now()
        return now.year, now.month

    def _seconds_to_month_end(self) -> int:
        now = self.config.clock.now()
        first_next = (now.replace(day=28) + timedelta(days=4)).replace(
            day=1, hour=0, minute=0, second=0, microsecond=0
        )
        return math.ceil((first_next - now).total_seconds())

    def _note_exhaustion(self, client_id: str, window: Window) -> None:
        months = self.exhausted_days.setdefault(client_id, {})
        months.setdefault(self._month(), set()).add(window.started or 0.0)

    def blocked_for_month(self, client_id: str) -> bool:
        threshold = self.config.monthly_block_after
        if threshold is None:
            return False
        days = self.exhausted_days.get(client_id, {}).get(self._month(), ())
        return len(days) >= threshold

    def refund_upload(self, caller: Caller) -> None:
        """An upload the server rejected (bad file) does not count toward the throttle."""
        window = self.uploads.get(caller.ip)
        if window is not None and window.used > 0:
            window.used -= 1

    def headers(
        self,
        caller: Caller,
        *,
        is_post: bool,
        user_reset_mode: str,
        style: str = "modern",
        spent: Scope | None = None,
    ) -> dict[str, str]:
        """The §3.2 headers as Imgur of ``style``'s era sends them (see ``RateHeaderStyle``).

        ``modern`` (recorded 2024): all lower-case, the six ``x-ratelimit-*`` on every
        answer and the ``x-post-rate-limit-*`` trio added on POSTs. ``2017`` (Imgur's
        Postman samples): ``X-RateLimit-*`` spelling without ``ClientReset``, and a POST
        carries the ``X-Post-Rate-Limit-*`` trio *instead of* the others.
        ``spent`` ("client" or "user") shows that limit at 0, as a real limit hit does.
        """
        cfg = self.config
        now = self._now()
        client, user, post, _upload = self.windows(caller, now)
        user_reset = user.reset_in(now)
        if user_reset_mode == "epoch":
            user_reset = int(now) + user_reset
        headers = {
            "X-RateLimit-UserLimit": str(cfg.user_hourly_limit),
            "X-RateLimit-UserRemaining": str(max(0, cfg.user_hourly_limit - user.used)),
            "X-RateLimit-UserReset": str(user_reset),
            "X-RateLimit-ClientLimit": str(cfg.client_daily_limit),
            "X-RateLimit-ClientRemaining": str(max(0, cfg.client_daily_limit - client.used)),
            "X-RateLimit-ClientReset": str(client.reset_in(now)),
        }
        if spent in ("client", "user"):
            headers[f"X-RateLimit-{spent.capitalize()}Remaining"] = "0"
        posts = {}
        if is_post:
            posts = {
                "X-Post-Rate-Limit-Limit": str(cfg.post_hourly_limit),
                "X-Post-Rate-Limit-Remaining": str(max(0, cfg.post_hourly_limit - post.used)),
                "X-Post-Rate-Limit-Reset": str(post.reset_in(now)),
            }
        if style == "2017":
            del headers["X-RateLimit-ClientReset"]
            return headers | posts if spent else posts or headers
        return {name.lower(): value for name, value in (headers | posts).items()}

    def charged_by_day(self) -> dict[str, list[dict[str, str | int]]]:
        """Credits charged per Client-ID and daily window, oldest window first.

        A window is the client's daily one: it opens with the first charged call and
        lasts a day (so it need not start at midnight). Refused calls are not in it.
        """
        return {
            client_id: [
                {
                    "window_start": _iso(start),
                    "window_end": _iso(start + DAY),
                    "credits": credits,
                }
                for start, credits in sorted(days.items())
            ]
            for client_id, days in self.charged.items()
        }

    def credits(self, caller: Caller) -> dict[str, int]:
        """The body of ``GET /3/credits`` (UserReset always an epoch, as documented)."""
        cfg = self.config
        now = self._now()
        client, user, _post, _upload = self.windows(caller, now)
        return {
            "UserLimit": cfg.user_hourly_limit,
            "UserRemaining": max(0, cfg.user_hourly_limit - user.used),
            "UserReset": int(now) + user.reset_in(now),
            "ClientLimit": cfg.client_daily_limit,
            "ClientRemaining": max(0, cfg.client_daily_limit - client.used),
        }


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()
