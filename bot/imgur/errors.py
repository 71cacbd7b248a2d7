"""One hierarchy for everything that can go wrong talking to Imgur.

The sans-I/O core (``sansio.py``) maps every error body shape Imgur is known to send
(``imgur-api.md`` §3.4 and §4) onto these classes; the transport adds timeouts and
connection failures. Cogs never see HTTP: they see one of these, and the command tree's
``on_error`` turns it into words.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from bot.imgur.ratelimit import RateLimits

# Imgur's limits: the app's daily credits, the per-IP hourly credits (Imgur's headers call it
# "User"), the per-IP POST credits and the undocumented upload throttle (§3.1).
RateScope = Literal["client", "ip", "post", "upload"]


class ImgurError(Exception):
    """Base class. ``status`` is the HTTP status (0 when no response arrived);
    ``ratelimits`` the rate-limit headers that came with the error, if any."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        request: str | None = None,
        ratelimits: RateLimits | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.request = request
        self.ratelimits = ratelimits or RateLimits()


class NotFound(ImgurError):
    """The image, album, tag or account does not exist (JSON or HTML 404)."""


class AuthError(ImgurError):
    """Missing, invalid or expired credentials (401, most 403s, Mashape key errors)."""


class RateLimited(ImgurError):
    """Imgur refused because a limit was hit. ``resets_at`` is when it lifts, if known."""

    def __init__(
        self,
        message: str,
        *,
        scope: RateScope,
        resets_at: datetime | None = None,
        status: int = 429,
        request: str | None = None,
        ratelimits: RateLimits | None = None,
    ) -> None:
        super().__init__(message, status=status, request=request, ratelimits=ratelimits)
        self.scope: RateScope = scope
        self.resets_at = resets_at


class OverCapacity(ImgurError):
    """ "Imgur is temporarily over capacity" (403/500 with that text, or status 1203)."""


class UploadRejected(ImgurError):
    """The upload itself was refused: too large, wrong type, corrupt. Not worth retrying."""

    def __init__(
        self,
        reason: str,
        *,
        status: int = 400,
        request: str | None = None,
        ratelimits: RateLimits | None = None,
    ) -> None:
        super().__init__(reason, status=status, request=request, ratelimits=ratelimits)
        self.reason = reason


class ServerError(ImgurError):
    """5xx or an Imgur-side failure that may pass (also: timeouts, connection resets)."""


class NoAnswer(ServerError):
    """No answer came: a timeout, a refused or dropped connection.

    ``may_have_reached`` says whether Imgur may have received (and counted) the request:
    False only when the connection was never made, so nothing was sent.
    """

    def __init__(self, message: str, *, may_have_reached: bool, request: str | None = None):
        super().__init__(message, status=0, request=request)
        self.may_have_reached = may_have_reached


class BadResponse(ImgurError):
    """A body we cannot read: HTML where JSON was due, truncated or invalid JSON, empty."""


class ApiError(ImgurError):
    """Imgur answered with an error that fits no narrower class (a 400 for a bad parameter,
    a 409, or an error message inside a body marked successful)."""


class EdgeBlocked(ApiError):
    """Imgur's CDN refused the bot's IP or region before the API saw the call (a 400 "These
    actions are forbidden." with ``CDN-Error: yes``; the UK block since 2025). Neither the
    credentials nor the file are at fault, and retrying from the same host will not help."""
