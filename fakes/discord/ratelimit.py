"""Discord-style rate limiting: per-route buckets, a global limit, and injected 429s.

What discord.py relies on (``discord/http.py``, ``discord/webhook/async_.py``):

- successful responses carry ``X-RateLimit-Limit/Remaining/Reset/Reset-After/Bucket``; when
  Remaining reaches 0 discord.py waits Reset-After before using the bucket again;
- a 429 is honoured (sleep ``retry_after`` from the JSON body, then retry) only if the response
  has a ``Via`` header and a JSON body; otherwise discord.py assumes a Cloudflare ban and raises.

Interaction callbacks and interaction webhooks are exempt from the global limit, as on Discord.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import deque
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


@dataclass
class Decision:
    """Either a 429 to send instead of the handler's answer, or headers to add to it."""

    reject: web.Response | None = None
    headers: dict[str, str] = field(default_factory=dict)


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
    ) -> None:
        self.global_per_second = global_per_second
        self.route_limit = route_limit
        self.clock = clock
        self.injections: list[Injection] = []
        self.rejected: list[tuple[str, str, str]] = []  # (method, path, scope) of every 429
        self._global: deque[float] = deque()
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
        for injection in self.injections:
            if injection.matches(method, path):
                injection.remaining -= 1
                injection.hits += 1
                scope = "global" if injection.is_global else injection.scope
                return self._reject(method, path, bucket, injection.retry_after, scope)

        if self.global_per_second is not None and not is_interaction_route(path):
            while self._global and now - self._global[0] >= 1.0:
                self._global.popleft()
            if len(self._global) >= self.global_per_second:
                retry_after = 1.0 - (now - self._global[0])
                return self._reject(method, path, bucket, retry_after, "global")

        headers: dict[str, str] = {}
        if self.route_limit is not None:
            key = (template, major)
            window = self._windows.get(key)
            if window is None or now - window.start >= self.route_limit.per:
                window = self._windows[key] = _Window(now)
            reset_after = self.route_limit.per - (now - window.start)
            if window.used >= self.route_limit.limit:
                return self._reject(method, path, bucket, reset_after, "user")
            window.used += 1
            headers = {
                "X-RateLimit-Limit": str(self.route_limit.limit),
                "X-RateLimit-Remaining": str(self.route_limit.limit - window.used),
                "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
                "X-RateLimit-Reset-After": f"{reset_after:.3f}",
                "X-RateLimit-Bucket": bucket,
            }
        if self.global_per_second is not None and not is_interaction_route(path):
            self._global.append(now)
        return Decision(headers=headers)

    def _reject(
        self, method: str, path: str, bucket: str, retry_after: float, scope: str
    ) -> Decision:
        retry_after = max(round(retry_after, 3), 0.001)
        is_global = scope == "global"
        headers = {
            "Via": "1.1 google",  # without it discord.py takes a 429 for a Cloudflare ban
            "Retry-After": str(math.ceil(retry_after)),
            "X-RateLimit-Scope": scope,
            "X-RateLimit-Limit": str(self.route_limit.limit if self.route_limit else 1),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
            "X-RateLimit-Reset-After": f"{retry_after:.3f}",
            "X-RateLimit-Bucket": bucket,
        }
        if is_global:
            headers["X-RateLimit-Global"] = "true"
        body = {
            "message": "You are being rate limited.",
            "retry_after": retry_after,
            "global": is_global,
        }
        self.rejected.append((method, path, scope))
        return Decision(reject=json_response(body, status=429, headers=headers))
