"""Answers shared by every process of a cluster, in Redis (``[cache] redis_url``).

One process's fetch serves all of them: an answer is kept under
``imgurbot:cache:<namespace>:a:<cache key>`` as JSON with the time it was fetched and its
kind's TTL, and Redis expires it after TTL + ``keep_stale_s`` (so it can still be served
stale when Imgur or the ledger says no). Freshness is computed from the fetch time on the
wall clock, as every process agrees on it. The namespace is a hash of the Client-ID and the
API's address, never the Client-ID itself.

Identical requests in flight in two processes cost one call: the first takes a lease
(``SET … NX PX``, ``[cache] lease_s``, renewed while it works), the others poll for its
answer. When the lease goes away without an answer (the holder was refused, failed, or
died and its lease expired), the next waiter takes it; nobody waits longer than
``lease_wait_s``.

Redis is a help, never a dependency: every answer is also kept in this process's own
``ResponseCache``, and while Redis cannot be reached (down, restarting, refusing) the
process serves and fills that one, exactly as without Redis, logging once when Redis goes
away and once when it is back. It is tried again after a pause that grows to a minute.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from bot.clock import Clock
from bot.config import CacheSettings
from bot.imgur.cache import CacheEntry, ResponseCache

log = logging.getLogger(__name__)

_FORMAT = 1
_TAG_BYTES = 16  # every stored answer starts with a random tag: same tag, same answer
_RETRY_FIRST_S = 1.0
_RETRY_MAX_S = 60.0

# Give the lease back, or prolong it, only while it is still ours.
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""


def namespace_for(client_id: str | None, base_url: str) -> str:
    """The key space of one Client-ID on one API: a hash, so keys never reveal the id."""
    digest = hashlib.sha256(f"{client_id or ''}\0{base_url}".encode()).hexdigest()
    return digest[:16]


def describe_url(url: str) -> str:
    """``url`` without its password, for logs."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix://{parts.path}"
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


async def ping(url: str, timeout_s: float = 3.0) -> str | None:
    """Why Redis at ``url`` does not answer (``imgurbot check --online``), or None."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(
        url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s
    )
    try:
        await client.ping()
    except Exception as exc:  # whatever it is, it is the answer
        return type(exc).__name__ + (f": {exc}" if "://" not in str(exc) else "")
    finally:
        with suppress(Exception):
            await client.aclose()
    return None


@dataclass
class Lease:
    """What ``SharedCache.lease`` found: another process's answer, or the right to fetch."""

    answer: CacheEntry | None = None


class _Unavailable(Exception):
    """Redis could not be used for this operation (already logged, if it is news)."""


class SharedCache:
    """The cache of a cluster: Redis first, this process's ``ResponseCache`` beneath."""

    def __init__(
        self,
        redis: Any,  # a redis.asyncio.Redis
        settings: CacheSettings,
        clock: Clock,
        *,
        namespace: str,
        prefix: str = "imgurbot:cache",
        where: str = "Redis",
        sleep: Any = asyncio.sleep,
    ) -> None:
        self._redis = redis
        self._clock = clock
        self._sleep = sleep
        self._where = where
        self.local = ResponseCache(settings, clock)
        self._keep_stale_s = settings.keep_stale_s
        self._max_entry_bytes = settings.max_entry_kb * 1024
        self._lease_ms = max(1, int(settings.lease_s * 1000))
        self._lease_wait_s = settings.lease_wait_s
        self._keys = f"{prefix}:{namespace}"
        self._release = redis.register_script(_RELEASE)
        self._renew = redis.register_script(_RENEW)
        # Redis's state as last seen: None while it answers, else when to try it again.
        self._retry_at: float | None = None
        self._retry_s = _RETRY_FIRST_S
        self.errors = 0  # operations that fell back to the local cache

    @classmethod
    def from_url(
        cls,
        url: str,
        settings: CacheSettings,
        clock: Clock,
        *,
        namespace: str,
        max_connections: int = 32,
        **options: Any,
    ) -> SharedCache:
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        # A burst of commands waits its turn for one of ``max_connections`` (a plain pool
        # refuses the 101st at once, which would look like Redis going away).
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=5.0,
            socket_connect_timeout=1.0,
            socket_timeout=2.0,
            # No hidden retries: a failure falls back to the local cache at once, and
            # Redis is tried again after a pause (``_unavailable``).
            retry=Retry(NoBackoff(), 0),
            health_check_interval=30,
        )
        client = aioredis.Redis(connection_pool=pool)
        return cls(client, settings, clock, namespace=namespace, where=describe_url(url), **options)

    async def close(self) -> None:
        with suppress(Exception):
            await self._redis.aclose()
            await self._redis.connection_pool.disconnect()

    def __len__(self) -> int:
        return len(self.local)

    @property
    def enabled(self) -> bool:
        return self.local.enabled

    @property
    def available(self) -> bool:
        """Whether Redis answered the last time it was asked (or is due to be asked)."""
        return self._retry_at is None

    # -- keys and values -------------------------------------------------------------------

    def answer_key(self, key: str) -> str:
        return f"{self._keys}:a:{key}"

    def lease_key(self, key: str) -> str:
        return f"{self._keys}:l:{key}"

    def _encode(self, entry: CacheEntry, tag: bytes) -> bytes:
        record = {
            "v": _FORMAT,
            "at": entry.fetched_at.timestamp(),
            "ttl": entry.ttl_s,
            "data": entry.data,
        }
        return tag + json.dumps(record, separators=(",", ":")).encode()

    def _decode(self, key: str, raw: bytes) -> CacheEntry | None:
        tag = raw[:_TAG_BYTES]
        mine = self.local.any(key)
        if mine is not None and mine.tag == tag:
            return mine  # the same answer this process holds: no decoding, models kept
        try:
            record = json.loads(raw[_TAG_BYTES:])
            if record.get("v") != _FORMAT:
                return None
            fetched_at = datetime.fromtimestamp(float(record["at"]), UTC)
            ttl_s = float(record["ttl"])
            data = record["data"]
        except (ValueError, KeyError, TypeError, AttributeError):
            return None  # not ours, or from another version: a miss, never a wrong answer
        return self.local.keep(key, data, fetched_at, ttl_s, tag=tag)

    # -- Redis, or the reason not to use it ---------------------------------------------------

    async def _call(self, operation: Any, *args: Any, **kwargs: Any) -> Any:
        now = time.monotonic()
        if self._retry_at is not None and now < self._retry_at:
            raise _Unavailable
        try:
            result = await operation(*args, **kwargs)
        except Exception as exc:  # any failure of Redis: the local cache answers instead
            self._unavailable(exc)
            raise _Unavailable from None
        if self._retry_at is not None:
            log.info("the shared cache at %s answers again: sharing answers again", self._where)
            self._retry_at, self._retry_s = None, _RETRY_FIRST_S
        return result

    def _unavailable(self, exc: BaseException) -> None:
        self.errors += 1
        if self._retry_at is None:
            log.warning(
                "the shared cache at %s cannot be reached (%s): this process uses its own "
                "cache until it answers again",
                self._where,
                type(exc).__name__,
            )
        else:
            self._retry_s = min(self._retry_s * 2, _RETRY_MAX_S)
        self._retry_at = time.monotonic() + self._retry_s

    # -- the cache's verbs ---------------------------------------------------------------------

    def is_fresh(self, entry: CacheEntry) -> bool:
        return (self._clock.now() - entry.fetched_at).total_seconds() < entry.ttl_s

    async def any(self, key: str) -> CacheEntry | None:
        """A fresh or stale-but-kept answer, from Redis (or the local cache without it)."""
        if not self.local.enabled:
            return None
        try:
            raw = await self._call(self._redis.get, self.answer_key(key))
        except _Unavailable:
            return self.local.any(key)
        if raw is None:
            # Redis is the truth while it answers: what it forgot (a deleted upload, a
            # restart) is not served from an older local copy.
            self.local.forget(key)
            return None
        return self._decode(key, raw)

    async def fresh(self, key: str) -> CacheEntry | None:
        entry = await self.any(key)
        return entry if entry is not None and self.is_fresh(entry) else None

    async def put(
        self, key: str, kind: str, data: Any, fetched_at: datetime, *, size: int = 0
    ) -> CacheEntry:
        tag = secrets.token_bytes(_TAG_BYTES)
        entry = self.local.put(key, kind, data, fetched_at, size=size, tag=tag)
        keep_ms = int((entry.ttl_s + self._keep_stale_s) * 1000)
        # Kinds never fresh (credits: the ledger wants today's figures) are not shared.
        if self.local.enabled and entry.ttl_s > 0 and keep_ms > 0 and size <= self._max_entry_bytes:
            with suppress(_Unavailable):
                await self._call(self._redis.set, self.answer_key(key), self._encode(entry, tag),
                                 px=keep_ms)  # fmt: skip
        return entry

    async def forget(self, key: str) -> bool:
        dropped = self.local.forget(key)
        try:
            removed = await self._call(self._redis.delete, self.answer_key(key))
        except _Unavailable:
            return dropped
        return dropped or bool(removed)

    # -- leases ----------------------------------------------------------------------------

    @asynccontextmanager
    async def lease(self, key: str) -> AsyncIterator[Lease]:
        """Wait for another process's fetch of ``key``, or hold the lease to fetch it.

        Yields ``Lease(answer)`` when another process's fresh answer arrived, else
        ``Lease()``: the caller fetches (holding the lease while Redis answers).
        """
        token = secrets.token_hex(8)
        lease_key = self.lease_key(key)
        deadline = time.monotonic() + self._lease_wait_s
        pause = 0.005
        held = False
        try:
            while True:
                held = bool(
                    await self._call(self._redis.set, lease_key, token, nx=True, px=self._lease_ms)
                )
                # Taken or not, an answer may have arrived since the caller looked.
                answer = await self.fresh(key)
                if answer is not None:
                    break
                if held or time.monotonic() >= deadline:
                    if not held:
                        log.info("waited %.0f s for another process's fetch of %s: asking "
                                 "Imgur here", self._lease_wait_s, key)  # fmt: skip
                    answer = None
                    break
                await self._sleep(pause)
                pause = min(pause * 2, 0.1)
        except _Unavailable:
            answer, held = None, False
        if answer is not None:
            if held:
                with suppress(_Unavailable):
                    await self._call(self._release, keys=[lease_key], args=[token])
            yield Lease(answer)
            return
        if not held:
            yield Lease()
            return
        renewer = asyncio.create_task(self._keep_renewing(lease_key, token))
        try:
            yield Lease()
        finally:
            renewer.cancel()
            with suppress(asyncio.CancelledError):
                await renewer
            # Given back after the answer is stored, so waiters find it.
            with suppress(_Unavailable):
                await self._call(self._release, keys=[lease_key], args=[token])

    async def _keep_renewing(self, lease_key: str, token: str) -> None:
        while True:
            await self._sleep(self._lease_ms / 3000)
            args = [token, self._lease_ms]
            with suppress(_Unavailable):
                if not await self._call(self._renew, keys=[lease_key], args=args):
                    return  # lost (expired while the loop was stuck, or Redis restarted)
