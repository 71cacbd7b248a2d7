"""A bounded TTL cache for deciphered GET answers, able to serve stale entries on demand.

Built on ``cachetools.TLRUCache`` (LRU eviction at ``max_entries``, a per-item expiry): an
entry is *fresh* for its kind's TTL (``CacheSettings.ttl_*_s``) and then kept
``keep_stale_s`` longer, so the client can hand it out, marked stale, when Imgur or the
quota ledger says no. Time comes from the injected clock, so simulations with a
``FakeClock`` age entries without sleeping.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cachetools import TLRUCache

from bot.clock import Clock
from bot.config import CacheSettings
from bot.imgur.vocab import CACHED_KINDS


@dataclass(frozen=True, slots=True)
class CacheEntry:
    data: Any
    fetched_at: datetime
    stored_at: float  # the clock's monotonic seconds
    ttl_s: float
    # Parsed models built from ``data``, keyed by parser, so a hit does not re-parse.
    memo: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)
    # Which stored answer this is, when it is shared (``bot.imgur.shared_cache``).
    tag: bytes = field(default=b"", repr=False)


class ResponseCache:
    def __init__(self, settings: CacheSettings, clock: Clock) -> None:
        self._clock = clock
        self._keep_stale_s = settings.keep_stale_s
        self._ttls: dict[str, float] = {kind: settings.ttl_for(kind) for kind in CACHED_KINDS}
        self._ttls["credits"] = 0  # the ledger wants today's numbers, not old ones
        self._default_ttl = settings.ttl_default_s
        self._max_entry_bytes = settings.max_entry_kb * 1024
        self._entries: TLRUCache[str, CacheEntry] | None = None
        if settings.enabled and settings.max_entries > 0:
            self._entries = TLRUCache(
                maxsize=settings.max_entries, ttu=self._expires_at, timer=clock.monotonic
            )

    @property
    def enabled(self) -> bool:
        return self._entries is not None

    def ttl_for(self, kind: str) -> float:
        return self._ttls.get(kind, self._default_ttl)

    def _expires_at(self, _key: str, entry: CacheEntry, _now: float) -> float:
        return entry.stored_at + entry.ttl_s + self._keep_stale_s

    def _lookup(self, key: str) -> CacheEntry | None:
        if self._entries is None:
            return None
        return self._entries.get(key)

    def is_fresh(self, entry: CacheEntry) -> bool:
        return self._clock.monotonic() - entry.stored_at < entry.ttl_s

    def fresh(self, key: str) -> CacheEntry | None:
        entry = self._lookup(key)
        return entry if entry is not None and self.is_fresh(entry) else None

    def any(self, key: str) -> CacheEntry | None:
        """A fresh or a stale-but-kept entry."""
        return self._lookup(key)

    def put(
        self,
        key: str,
        kind: str,
        data: Any,
        fetched_at: datetime,
        *,
        size: int = 0,
        tag: bytes = b"",
    ) -> CacheEntry:
        """Keep an answer (``size``: its body's bytes; answers past ``max_entry_kb`` are
        served but not kept, so a few huge answers cannot crowd the memory)."""
        entry = CacheEntry(data, fetched_at, self._clock.monotonic(), self.ttl_for(kind), tag=tag)
        if size <= self._max_entry_bytes:
            self._store(key, entry)
        return entry

    def keep(
        self, key: str, data: Any, fetched_at: datetime, ttl_s: float, *, tag: bytes = b""
    ) -> CacheEntry:
        """Keep a copy of an answer fetched elsewhere at ``fetched_at`` (a shared cache's):
        it ages from then, not from now."""
        age_s = max(0.0, (self._clock.now() - fetched_at).total_seconds())
        entry = CacheEntry(data, fetched_at, self._clock.monotonic() - age_s, ttl_s, tag=tag)
        self._store(key, entry)
        return entry

    def _store(self, key: str, entry: CacheEntry) -> None:
        if self._entries is not None and entry.ttl_s + self._keep_stale_s > 0:
            self._entries[key] = entry

    def forget(self, key: str) -> bool:
        """Drop the entry for ``key`` (fresh or stale); whether there was one."""
        if self._entries is None:
            return False
        return self._entries.pop(key, None) is not None

    def __len__(self) -> int:
        return 0 if self._entries is None else len(self._entries)
