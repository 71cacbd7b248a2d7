"""The Imgur client's policy, with no HTTP library in it (gidgethub's ``abc.py`` shape).

The endpoints are declared once, as request builders in ``sansio.py``; this class has generic
verbs only (``fetch``, ``get``, ``peek``), and sends bytes through a ``Transport`` (the aiohttp
adapter in ``aiohttp_transport.py``, or a scripted one in the unit tests). What it decides:

1. a GET with a fresh cache entry is answered from the cache: no gate, no network;
2. a GET identical to one already in flight waits for that one (coalescing; no gate);
3. otherwise the request is sent, each attempt through the caller's *gate* (the quota
   ledger's charge: a retry can be refused like a first try), idempotent GETs retried on
   5xx, over-capacity, timeouts and connection errors, writes never; the gate's meter is
   told what Imgur may have counted for the attempt (certain for a success, uncertain for
   an error answer or a timeout, nothing for a request that never left) before the gate's
   block is left; exceptions travel through the gate, so the ledger sees a ``RateLimited``;
4. if the gate refuses (``QuotaExceeded``) or the call finally fails with a rate limit, a
   server error, over-capacity or a timeout, a stale cache entry is returned instead,
   marked ``stale=True``;
5. a Bearer call whose token expired refreshes it once (OAuth) and tries again.

Every response, good or bad, is reported to the listeners with its rate-limit headers.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, Protocol, TypeVar

from pydantic import SecretStr
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_random_exponential,
)

from bot.clock import Clock, SystemClock
from bot.config import CacheSettings, ImgurSettings, Secrets
from bot.errors import QuotaExceeded
from bot.imgur import sansio
from bot.imgur.cache import CacheEntry, ResponseCache
from bot.imgur.errors import (
    AuthError,
    BadResponse,
    ImgurError,
    NoAnswer,
    OverCapacity,
    RateLimited,
    ServerError,
)
from bot.imgur.ratelimit import RateLimits
from bot.imgur.sansio import Request

log = logging.getLogger(__name__)

T = TypeVar("T")

# What an upload's bytes may be: whole, or streamed from an async iterator (never held whole).
Body = bytes | AsyncIterable[bytes]
# Failures after which a stale cache entry beats an error (timeouts arrive as ServerError).
_STALE_WORTHY = (RateLimited, ServerError, OverCapacity)
_SYSTEM_CLOCK = SystemClock()


# -- the transport seam ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """Everything a transport needs to send one request; no policy left in it."""

    method: str
    url: str
    headers: Mapping[str, str]
    params: tuple[tuple[str, str], ...] = ()
    form: list[tuple[str, str]] = field(default_factory=list, repr=False)
    file: sansio.FilePart | None = None  # sent as multipart with ``body`` when set
    body: Body | None = field(default=None, repr=False)
    max_body: int = 8 * 1024 * 1024  # the answer is refused past this many bytes


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """An answer. ``too_large``: the body passed the request's ``max_body`` and was not read
    (``body`` is then empty); the status and headers still count."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    too_large: bool = False


class Transport(Protocol):
    """Sends bytes. Raises ``NoAnswer`` when no answer came (timeout, refused or dropped
    connection), saying whether the request may have reached Imgur."""

    async def send(self, request: HttpRequest) -> HttpResponse: ...

    async def close(self) -> None: ...


# -- the gate seam -----------------------------------------------------------------------------


class Meter(Protocol):
    """What a gate yields: told once what Imgur may have counted for the attempt.

    ``certain``: Imgur answered with success, so it counted ``actual_cost`` (or nothing was
    sent, and ``actual_cost`` is 0). Otherwise the credits count until Imgur's own figures
    (``limits``, the rate-limit headers of this and later answers) say whether they were.
    """

    def settle(
        self, actual_cost: int, *, certain: bool = True, limits: RateLimits | None = None
    ) -> Any: ...


Gate = Callable[[Request[Any]], AbstractAsyncContextManager[Meter]]
Listener = Callable[[RateLimits, Request[Any], int], Any]


class _FreeMeter:
    def settle(
        self, actual_cost: int, *, certain: bool = True, limits: RateLimits | None = None
    ) -> None:
        return None


@asynccontextmanager
async def free_gate(_request: Request[Any]) -> AsyncIterator[Meter]:
    """The gate used when the caller brings none: charges nothing, refuses nothing."""
    yield _FreeMeter()


@dataclass(frozen=True, slots=True)
class Fetched:
    """A deciphered answer and where it came from.

    ``stale`` means it is older than its kind's TTL and was served because Imgur or the
    ledger said no. ``parse(fn)`` turns ``data`` into models once per cache entry.
    """

    data: Any
    fetched_at: datetime
    from_cache: bool = False
    stale: bool = False
    _memo: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    def age_s(self, now: datetime) -> float:
        return max(0.0, (now - self.fetched_at).total_seconds())

    def parse(self, parser: Callable[[Any], T]) -> T:
        try:
            parsed = self._memo[parser]
        except KeyError:
            parsed = self._memo[parser] = parser(self.data)
        # Callers may sort or trim a page; the cached list must stay whole.
        return list(parsed) if isinstance(parsed, list) else parsed  # type: ignore[return-value]


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, ServerError | OverCapacity) and not isinstance(exc, RateLimited)


async def _settle(meter: Meter, credits: int, **outcome: Any) -> None:
    result = meter.settle(credits, **outcome)
    if inspect.isawaitable(result):
        await result


# -- the client --------------------------------------------------------------------------------


class ImgurClient:
    """One per process; share it. Every verb takes an optional ``gate``."""

    def __init__(
        self,
        transport: Transport,
        settings: ImgurSettings,
        cache: CacheSettings,
        secrets: Secrets,
        *,
        base_url: str | None = None,
        clock: Clock = _SYSTEM_CLOCK,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._transport = transport
        self._settings = settings
        self._secrets = secrets
        self._clock = clock
        self._sleep = sleep
        default_base = settings.rapidapi_base_url if settings.commercial else settings.api_base_url
        self.base_url = (base_url or default_base).rstrip("/")
        self._cache = ResponseCache(cache, clock)
        self._inflight: dict[str, asyncio.Task[Fetched]] = {}
        self._listeners: list[Listener] = []
        self._access_token: SecretStr | None = None
        self._refresh_token: SecretStr | None = secrets.imgur_refresh_token
        self._token_lock = asyncio.Lock()
        self._closed = False
        self._client_headers: dict[str, str] | None = None  # built once (see ``_headers``)

    def __repr__(self) -> str:
        return (
            f"<ImgurClient {self.base_url} cache={len(self._cache)} inflight={len(self._inflight)}>"
        )

    # ------------------------------------------------------------------------------
    # Lifetime

    async def close(self) -> None:
        """Cancel what is in flight and close the transport."""
        self._closed = True
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._transport.close()

    async def __aenter__(self) -> ImgurClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------------------
    # Listeners

    def add_listener(self, fn: Listener) -> None:
        """``fn(ratelimits, request, status)`` after every response, success or error."""
        self._listeners.append(fn)

    async def _notify(self, limits: RateLimits, req: Request[Any], status: int) -> None:
        for listener in list(self._listeners):
            try:
                result = listener(limits, req, status)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                # A broken listener must not turn a good answer into an error.
                log.exception("Imgur response listener %r failed", listener)

    # ------------------------------------------------------------------------------
    # The verbs

    async def get(
        self, req: Request[T], *, gate: Gate | None = None, body: Body | None = None
    ) -> T:
        """Fetch ``req`` and return its model (parsed once per cache entry)."""
        return (await self.fetch(req, gate=gate, body=body)).parse(req.parse)

    def peek(self, req: Request[Any]) -> Fetched | None:
        """What the cache holds for ``req`` (fresh or stale), without any network."""
        if req.cache_key is None:
            return None
        entry = self._cache.any(req.cache_key)
        return None if entry is None else self._from_entry(entry)

    def forget(self, req: Request[Any]) -> bool:
        """Drop what the cache holds for ``req``, fresh or stale (a deleted image must not be
        served from the cache, even stale). Whether there was anything."""
        return req.cache_key is not None and self._cache.forget(req.cache_key)

    def _from_entry(self, entry: CacheEntry) -> Fetched:
        stale = not self._cache.is_fresh(entry)
        return Fetched(entry.data, entry.fetched_at, True, stale, entry.memo)

    async def fetch(
        self,
        req: Request[Any],
        *,
        gate: Gate | None = None,
        use_cache: bool = True,
        body: Body | None = None,
    ) -> Fetched:
        """Send ``req`` (with ``body`` as the upload's file part, if it has one), through
        the cache, coalescing, the gate and retries; see the module docstring."""
        if (req.file is None) != (body is None):
            raise ValueError("an upload request needs its body, and only an upload takes one")
        key = req.cache_key
        if key is None:
            return await self._exchange(req, gate, None, body)
        if use_cache:
            entry = self._cache.fresh(key)
            if entry is not None:  # the hot path: fresh by definition, checked once
                return Fetched(entry.data, entry.fetched_at, True, False, entry.memo)
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.create_task(self._exchange(req, gate, key, None))
            self._inflight[key] = task
            task.add_done_callback(partial(self._forget, key))
        # Shielded: one impatient caller must not cancel the answer the others await.
        return await asyncio.shield(task)

    def _forget(self, key: str, task: asyncio.Task[Fetched]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled():
            task.exception()  # retrieved here, so an unawaited failure is not logged twice

    async def _exchange(
        self, req: Request[Any], gate: Gate | None, key: str | None, body: Body | None
    ) -> Fetched:
        try:
            data, size = await self._send(req, gate or free_gate, body)
        except QuotaExceeded:
            stale = self._stale_for(key)
            if stale is None:
                raise
            return stale
        except _STALE_WORTHY as exc:
            stale = self._stale_for(key)
            if stale is None:
                raise
            log.info("serving stale %s after %s", req.path, type(exc).__name__)
            return stale
        now = self._clock.now()
        if key is None:
            return Fetched(data, now)
        entry = self._cache.put(key, req.kind, data, now, size=size)
        return Fetched(data, now, _memo=entry.memo)

    def _stale_for(self, key: str | None) -> Fetched | None:
        entry = self._cache.any(key) if key is not None else None
        if entry is None:
            return None
        return Fetched(entry.data, entry.fetched_at, True, True, entry.memo)

    # ------------------------------------------------------------------------------
    # Sending: OAuth, retries, one attempt

    async def _send(self, req: Request[Any], gate: Gate, body: Body | None) -> Any:
        bearer = await self._bearer_for(req)
        try:
            return await self._send_with_retries(req, bearer, gate, body)
        except AuthError as exc:
            if bearer is None or exc.status not in (401, 403):
                raise
            # The access token expired or was revoked: refresh once, try once more.
            bearer = await self._refresh_access_token(expired=bearer)
            return await self._send_with_retries(req, bearer, gate, body)

    async def _send_with_retries(
        self,
        req: Request[Any],
        bearer: SecretStr | None,
        gate: Gate,
        body: Body | None,
    ) -> Any:
        if not req.idempotent:
            # Uploads and other writes are never retried blindly: Imgur may have done it.
            return await self._attempt(req, bearer, gate, body)
        started = time.monotonic()
        try:
            # Nearly every call succeeds at once: that first attempt skips tenacity's
            # bookkeeping (tens of microseconds a call); only a failure pays for it.
            return await self._attempt(req, bearer, gate, body)
        except (ServerError, OverCapacity) as exc:
            if not _is_transient(exc):
                raise
            first_failure: BaseException | None = exc
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._settings.max_retries + 1)
            # The budget counts from the first attempt, as if tenacity had made it.
            | stop_before_delay(self._settings.retry_budget_s - (time.monotonic() - started)),
            wait=wait_random_exponential(
                multiplier=self._settings.backoff_base_s, max=self._settings.backoff_max_s
            ),
            retry=retry_if_exception(_is_transient),
            sleep=self._sleep,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                if first_failure is not None:
                    # Attempt 1, already made above: tenacity decides whether to retry.
                    failure, first_failure = first_failure, None
                    raise failure
                return await self._attempt(req, bearer, gate, body)
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    def _headers(self, req: Request[Any], bearer: SecretStr | None) -> dict[str, str]:
        if bearer is None and req.kind != "oauth":
            # The Client-ID headers never change: built once (transports copy what they get).
            if self._client_headers is None:
                self._client_headers = self._build_headers(req, None)
            return self._client_headers
        return self._build_headers(req, bearer)

    def _build_headers(self, req: Request[Any], bearer: SecretStr | None) -> dict[str, str]:
        headers = {"User-Agent": self._settings.user_agent, "Accept": "application/json"}
        if req.kind != "oauth":
            if bearer is not None:
                headers["Authorization"] = f"Bearer {bearer.get_secret_value()}"
            else:
                client_id = self._secrets.imgur_client_id
                if client_id is None:
                    raise AuthError("no Imgur client id is configured", request=req.path)
                headers["Authorization"] = f"Client-ID {client_id.get_secret_value()}"
        if self._settings.commercial:
            key = self._secrets.rapidapi_key
            if key is None:
                raise AuthError("commercial mode needs a RapidAPI key", request=req.path)
            headers["X-RapidAPI-Key"] = key.get_secret_value()
            headers["X-RapidAPI-Host"] = self._settings.rapidapi_host
        return headers

    async def _attempt(
        self, req: Request[Any], bearer: SecretStr | None, gate: Gate, body: Body | None
    ) -> tuple[Any, int]:
        """One request, through the gate: every attempt is charged on its own, so a retry can
        be refused, and each is settled with what Imgur may have counted for it. Returns the
        deciphered data and the size of the answer's body."""
        if self._closed:
            raise RuntimeError("ImgurClient is closed")
        http = HttpRequest(
            method=req.method,
            url=self.base_url + req.path,
            headers=self._headers(req, bearer),
            params=req.params,
            form=req.form_fields(),
            file=req.file,
            body=body,
            max_body=req.max_body,
        )
        async with gate(req) as meter:
            try:
                response = await self._transport.send(http)
            except NoAnswer as exc:
                # Sent and unanswered: Imgur may have counted it, so it counts until Imgur's
                # own figures say otherwise. Never sent: nothing to count.
                reached = exc.may_have_reached
                await _settle(meter, req.cost if reached else 0, certain=not reached)
                raise
            except asyncio.CancelledError:
                # The command was abandoned mid-send (a deadline, a shutdown): the request
                # may be at Imgur already, so it counts, as uncertain, like a timeout.
                await _settle(meter, req.cost, certain=False)
                raise
            now = self._clock.now()
            try:
                if response.too_large:
                    raise BadResponse(
                        f"Imgur's answer is larger than {req.max_body // 1024:,} KB: not read",
                        status=response.status,
                        request=req.path,
                        ratelimits=RateLimits.from_headers(response.headers, now),
                    )
                result, limits = sansio.decipher_response(
                    response.status, response.headers, response.body, req, now=now
                )
            except ImgurError as exc:
                await self._notify(exc.ratelimits, req, response.status)
                # Imgur answered with something other than success: whether it counted the
                # call (a 404 yes, a 429 or a 500 perhaps not) is Imgur's to say, so the
                # call counts, as uncertain, until its figures settle it.
                await _settle(meter, req.cost, certain=False, limits=exc.ratelimits)
                raise
            await self._notify(limits, req, response.status)
            await _settle(meter, req.cost, certain=True, limits=limits)
            return result, len(response.body)

    # ------------------------------------------------------------------------------
    # OAuth

    async def _bearer_for(self, req: Request[Any]) -> SecretStr | None:
        if req.auth != "bearer" or self._refresh_token is None:
            return None
        if self._access_token is not None:
            return self._access_token
        return await self._refresh_access_token(expired=None)

    async def _refresh_access_token(self, expired: SecretStr | None) -> SecretStr:
        async with self._token_lock:
            if self._access_token is not None and self._access_token is not expired:
                return self._access_token  # another call refreshed while we waited
            client_id = self._secrets.imgur_client_id
            client_secret = self._secrets.imgur_client_secret
            if self._refresh_token is None or client_id is None or client_secret is None:
                raise AuthError("OAuth needs a client id, a client secret and a refresh token")
            req = sansio.refresh_token(self._refresh_token, client_id, client_secret)
            data, _size = await self._attempt(req, None, free_gate, None)
            token = req.parse(data)
            self._access_token = token.access_token
            if token.refresh_token is not None:
                self._refresh_token = token.refresh_token  # Imgur may rotate it
            return token.access_token
