"""Settings of one emulator instance.

The dataclass is deliberately mutable: the rate-limit modes and limits are read on every
request, so a test (or ``POST /_emulator/settings``) can switch, say, the 429 body shape
while the emulator runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from fakes.imgur.clock import Clock, SystemClock

RateLimitShape = Literal["classic", "errors"]
UserResetMode = Literal["relative", "epoch"]
OversizeMode = Literal["classic", "413"]
# How rate-limit headers are spelled and where they appear (accounting.Accounting.headers):
# "modern" as recorded in 2024 (lower-case names), "2017" as in Imgur's Postman samples.
RateHeaderStyle = Literal["modern", "2017"]

MIB = 1024 * 1024


@dataclass
class EmulatorConfig:
    # Synthetic catalogue: the same seed always gives the same ids, titles and bytes.
    seed: int = 1337
    item_count: int = 3000

    # Imgur's published (or observed) limits, imgur-api.md §3.1. UserLimit is 500 by
    # default; 2000 has also been observed in the wild.
    client_daily_limit: int = 12_500
    user_hourly_limit: int = 500
    post_hourly_limit: int = 1_250
    upload_hourly_limit: int = 50
    upload_cost: int = 10
    call_cost: int = 1
    # "Hit the daily client limit 5 times in a month and the app is blocked for the rest
    # of the month" (§3.1). None turns the block off.
    monthly_block_after: int | None = 5

    # Which body a 429 carries: the classic envelope or the 2024+ ``errors[]`` layer.
    rate_limit_429_shape: RateLimitShape = "classic"
    # ``X-RateLimit-UserReset`` as seconds until reset (2023+) or a unix epoch (docs).
    user_reset_mode: UserResetMode = "relative"
    # Spelling and placement of the rate-limit headers (see RateHeaderStyle).
    rate_header_style: RateHeaderStyle = "modern"

    # Base of every ``link`` the emulator returns; None = the URL it listens on.
    public_url: str | None = None

    # None accepts any non-empty Client-ID; otherwise only these.
    accepted_client_ids: frozenset[str] | None = None
    # Commercial (RapidAPI / Mashape) mode: the key accepted in X-RapidAPI-Key or
    # X-Mashape-Key. None = commercial headers are refused with the gateway's body.
    rapidapi_key: str | None = None

    # OAuth. None accepts any non-empty refresh token (for ``oauth_username``);
    # a mapping restricts refresh tokens and names the account each one belongs to.
    refresh_tokens: Mapping[str, str] | None = None
    oauth_username: str = "imgurbot_user"
    # Pre-issued access tokens (token -> username), e.g. from a bot's config file.
    access_tokens: Mapping[str, str] = field(default_factory=dict)
    access_token_ttl: int = 2_419_200  # 28 days, as recorded (imgur-api.md §2.2)
    # Authenticated users see NSFW items in galleries only if their account says so.
    user_show_mature: bool = False

    # Upload rules, imgur-api.md §7.
    max_image_bytes: int = 10 * MIB
    max_video_bytes: int = 200 * MIB
    oversize_mode: OversizeMode = "classic"
    # Hosts the emulator will fetch ``type=url`` uploads from (its own host always works).
    url_fetch_hosts: frozenset[str] = frozenset({"127.0.0.1", "localhost"})

    # Added to every API call (seconds), e.g. 0.3 to mimic a slow Imgur in a benchmark.
    latency: float = 0.0
    # Seconds an idle keep-alive connection stays open before the server closes it (a
    # common server default; aiohttp's own would be an hour).
    keepalive_timeout: float = 75.0
    # Take the client IP (the "user" of the hourly limit) from X-Forwarded-For.
    trust_forwarded_for: bool = False
    # Bytes of generated media kept in memory.
    media_cache_bytes: int = 64 * MIB

    # Any object with now() -> aware datetime and monotonic() -> float (clock.Clock);
    # bot.clock.FakeClock and clock.ManualClock both fit.
    clock: Clock = field(default_factory=SystemClock)

    # Secret that unlocks the admin API (/_emulator) from any Host; None = loopback only.
    # Kept out of repr so it never lands in a log line or a traceback.
    admin_token: str | None = field(default=None, repr=False)
