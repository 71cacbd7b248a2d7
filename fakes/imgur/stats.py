"""What the emulator has seen: calls by route and path, credits charged, 429s sent."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Stats:
    requests: int = 0  # every API request (/3/, /oauth2), faulted ones included
    # Authenticated API calls received, refused (429) ones included; by_route/by_path
    # break these down ("unknown" = no such endpoint).
    api_calls: int = 0
    credits_charged: int = 0
    uploads: int = 0
    rate_limited: int = 0  # 429s sent, whatever the cause
    media_requests: int = 0
    by_route: Counter = field(default_factory=Counter)
    by_path: Counter = field(default_factory=Counter)
    by_status: Counter = field(default_factory=Counter)
    by_client: Counter = field(default_factory=Counter)  # credits per Client-ID
    rate_limited_by_scope: Counter = field(default_factory=Counter)
    faults_applied: Counter = field(default_factory=Counter)

    def reset(self) -> None:
        self.__init__()

    def calls(self, route: str) -> int:
        return self.by_route[route]

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "api_calls": self.api_calls,
            "credits_charged": self.credits_charged,
            "uploads": self.uploads,
            "rate_limited": self.rate_limited,
            "media_requests": self.media_requests,
            "by_route": dict(self.by_route),
            "by_path": dict(self.by_path),
            "by_status": {str(k): v for k, v in self.by_status.items()},
            "by_client": dict(self.by_client),
            "rate_limited_by_scope": dict(self.rate_limited_by_scope),
            "faults_applied": dict(self.faults_applied),
        }
