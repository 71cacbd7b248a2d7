"""Discord-style rate limiting: per-route buckets, a global limit, and injected 429s.

What discord.py relies on (``discord/http.py``, ``discord/webhook/async_.py``):

- successful responses carry ``X-RateLimit-Limit/Remaining/Reset/Reset-After/Bucket``; when
  Remaining reaches 0 discord.py waits Reset-After before using the bucket again;
- a 429 is honoured (sleep ``retry_after`` from the JSON body, then retry) only if the response
  has a ``Via`` header and a JSON body; otherwise discord.py assumes a Cloudflare ban and raises.

What Discord documents (Topics → Rate Limits; its OpenAPI spec lists the headers per route):

- every route's 2xx answers carry the five bucket headers, interaction callbacks (200 and 204)
  and interaction webhooks included; the bucket is per route and per top-level resource
  (channel, guild, or webhook id + token; for a callback, interaction id + token);
- a per-route 429 carries the bucket headers (remaining 0), ``Retry-After``,
  ``X-RateLimit-Scope: user`` (or ``shared``) and ``{"message", "retry_after", "global":
  false}``; after it the bucket stays spent until the retry time;
- the global limit (50 requests/s) spares interaction endpoints; its 429 has
  ``X-RateLimit-Global: true``, ``X-RateLimit-Scope: global``, ``Retry-After`` and
  ``"global": true``, and no bucket headers.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from .responses import json_response


@dataclass(frozen=True)
class RouteLimit:
    """``limit`` requests per ``per`` seconds for each bucket (route + major parameter).

    The default is generous so tests never trip it by accident; ``RouteLimit(5, 5.0)`` is
    what Discord applies to posting messages in one channel."""

    limit: int = 50
    per: float = 1.0


DEFAULT_ROUTE_LIMIT = RouteLimit()


@dataclass
class Injection:
    prefix: str
    retry_after: float
    remaining: int
    method: str | None = None
    is_global: bool = False
    scope: str = "user"
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.remaining <= 0 or not path.startswith(self.prefix):
            return False
        return self.method is None or self.method.upper() == method


@dataclass
class _Window:
    start: float
    used: int = 0
    blocked_until: float = 0.0  # an injected 429 spends the bucket until then


@dataclass
class Decision:
    """Either a 429 to send instead of the handler's answer, or headers to add to it."""

    reject: web.Response | None = None
    headers: dict[str, str] = field(default_factory=dict)
    at: float | None = None  # the limiter's clock when it admitted the request


def bucket_hash(template: str) -> str:
    return hashlib.sha1(template.encode()).hexdigest()[:32]


def is_interaction_route(path: str) -> bool:
    return path.startswith(("/interactions/", "/webhooks/"))


class RateLimiter:
    def __init__(
        self,
        *,
        global_per_second: int | None = 50,
        route_limit: RouteLimit | None = DEFAULT_ROUTE_LIMIT,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.global_per_second = global_per_second
        self.route_limit = route_limit
        self.clock = clock
        self.wall_clock = wall_clock  # for X-RateLimit-Reset (an epoch time)
        self._global_blocked_until = 0.0
        self.injections: list[Injection] = []
        self.rejected: list[tuple[str, str, str]] = []  # (method, path, scope) of every 429
        # The global limit counts in fixed one-second windows: every request refused in a
        # window is told to retry when the next one opens (a sliding window would tell some
        # to retry in a millisecond, and a client's five tries would be gone in a blink).
        self._global_window = _Window(float("-inf"))
        self._windows: dict[tuple[str, str], _Window] = {}

    def inject(
        self,
        prefix: str,
        *,
        retry_after: float = 0.5,
        count: int = 1,
        method: str | None = None,
        is_global: bool = False,
        scope: str = "user",
    ) -> Injection:
        injection = Injection(prefix, retry_after, count, method, is_global, scope)
        self.injections.append(injection)
        return injection

    def admit(self, method: str, path: str, template: str, major: str) -> Decision:
        """Decide on one API request. ``path`` is relative to ``/api/v10``."""
        now = self.clock()
        bucket = bucket_hash(template)
        key = (template, major)
        exempt = is_interaction_route(path)
        for injection in self.injections:
            if injection.matches(method, path):
                injection.remaining -= 1
                injection.hits += 1
                if injection.is_global:
                    self._global_blocked_until = now + injection.retry_after
                    return self._reject_global(method, path, injection.retry_after)
                # The bucket is spent until the retry time, as after a real 429: the headers
                # of this answer and of any request before then say so.
                blocked = _Window(now, self._limit, blocked_until=now + injection.retry_after)
                self._windows[key] = blocked
                return self._reject(method, path, bucket, injection.retry_after, injection.scope)

        if self.global_per_second is not None and not exempt:
            if now < self._global_blocked_until:
                return self._reject_global(method, path, self._global_blocked_until - now)
            window = self._global_window
            if now - window.start >= 1.0:
                window = self._global_window = _Window(now)
            if window.used >= self.global_per_second:
                return self._reject_global(method, path, window.start + 1.0 - now)

        headers: dict[str, str] = {}
        window = self._windows.get(key)
        if window is not None and window.blocked_until:
            if now < window.blocked_until:
                return self._reject(method, path, bucket, window.blocked_until - now, "user")
            window = None  # the injected limit is over: a fresh window starts
        if self.route_limit is not None:
            if window is None or now - window.start >= self.route_limit.per:
                window = self._windows[key] = _Window(now)
            reset_after = self.route_limit.per - (now - window.start)
            if window.used >= self.route_limit.limit:
                return self._reject(method, path, bucket, reset_after, "user")
            window.used += 1
            headers = self._bucket_headers(
                self.route_limit.limit - window.used, reset_after, bucket
            )
        if self.global_per_second is not None and not exempt:
            self._global_window.used += 1
        return Decision(headers=headers, at=now)

    @property
    def _limit(self) -> int:
        return self.route_limit.limit if self.route_limit else 1

    def _bucket_headers(self, remaining: int, reset_after: float, bucket: str) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self._limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": f"{self.wall_clock() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": bucket,
        }

    def _reject(
        self, method: str, path: str, bucket: str, retry_after: float, scope: str
    ) -> Decision:
        """A per-route (``user``) or per-resource (``shared``) 429, with the bucket headers
        Discord sends alongside (remaining 0, resetting when the retry is due)."""
        retry_after = max(round(retry_after, 3), 0.001)
        headers = self._bucket_headers(0, retry_after, bucket)
        headers.update(self._limited_headers(retry_after, scope))
        message = "The resource is being rate limited." if scope == "shared" else None
        return self._limited(method, path, retry_after, scope, headers, message)

    def _reject_global(self, method: str, path: str, retry_after: float) -> Decision:
        """The global 429: ``global: true`` and no bucket headers (Discord's example)."""
        retry_after = max(round(retry_after, 3), 0.001)
        headers = self._limited_headers(retry_after, "global")
        headers["X-RateLimit-Global"] = "true"
        return self._limited(method, path, retry_after, "global", headers, None)

    @staticmethod
    def _limited_headers(retry_after: float, scope: str) -> dict[str, str]:
        return {
            "Via": "1.1 google",  # without it discord.py takes a 429 for a Cloudflare ban
            "Retry-After": str(math.ceil(retry_after)),
            "X-RateLimit-Scope": scope,
        }

    def _limited(
        self,
        method: str,
        path: str,
        retry_after: float,
        scope: str,
        headers: dict[str, str],
        message: str | None,
    ) -> Decision:
        body = {
            "message": message or "You are being rate limited.",
            "retry_after": retry_after,
            "global": scope == "global",
        }
        self.rejected.append((method, path, scope))
        return Decision(reject=json_response(body, status=429, headers=headers))
