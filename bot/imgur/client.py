"""The aiohttp transport around the sans-I/O core: one shared session, timeouts, retries,
coalescing of identical GETs, a TTL cache with stale serving, OAuth refresh.

How a call flows (``fetch``):

1. a GET with a fresh cache entry is answered from the cache: no gate, no network;
2. a GET identical to one already in flight waits for that one (coalescing; no gate);
3. otherwise the caller's *gate* (the quota ledger's charge) is entered, the request is
   sent (idempotent GETs retried on 5xx, over-capacity, timeouts and connection errors),
   and ``charge.settle(n)`` reports the credits Imgur actually counted before the gate's
   block is left; exceptions travel through the gate so the ledger sees a ``RateLimited``;
4. if the gate refuses (``QuotaExceeded``) or the call finally fails with a rate limit,
   a server error, over-capacity or a timeout, a stale cache entry is returned instead,
   marked ``stale=True``.

Every response, good or bad, is reported to the listeners with its rate-limit headers.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, Protocol, TypeVar

import aiohttp
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
from bot.imgur import models, sansio
from bot.imgur.cache import CacheEntry, ResponseCache
from bot.imgur.errors import (
    AuthError,
    ImgurError,
    OverCapacity,
    RateLimited,
    ServerError,
)
from bot.imgur.ratelimit import RateLimits
from bot.imgur.sansio import Request

log = logging.getLogger(__name__)

T = TypeVar("T")

UploadSource = bytes | bytearray | memoryview | AsyncIterable[bytes] | str
# Failures after which a stale cache entry beats an error (timeouts arrive as ServerError).
_STALE_WORTHY = (RateLimited, ServerError, OverCapacity)
_VIDEO_EXTENSIONS = (".mp4", ".webm", ".mov", ".mkv", ".avi", ".flv", ".wmv", ".mpeg", ".mpg")
_SYSTEM_CLOCK = SystemClock()


class Charge(Protocol):
    """What a gate yields: told once how many credits Imgur really counted."""

    def settle(self, actual_cost: int) -> Any: ...


Gate = Callable[[Request], AbstractAsyncContextManager[Charge]]
Listener = Callable[[RateLimits, Request, int], Any]


class _FreeCharge:
    def settle(self, actual_cost: int) -> None:
        return None


@asynccontextmanager
async def free_gate(_request: Request) -> AsyncIterator[Charge]:
    """The gate used when the caller brings none: charges nothing, refuses nothing."""
    yield _FreeCharge()


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


async def _settle(charge: Charge, credits: int) -> None:
    result = charge.settle(credits)
    if inspect.isawaitable(result):
        await result


class ImgurClient:
    """One per process; share it. All endpoint methods take an optional ``gate``."""

    def __init__(
        self,
        session: aiohttp.ClientSession | None,
        settings: ImgurSettings,
        cache: CacheSettings,
        secrets: Secrets,
        *,
        base_url: str | None = None,
        clock: Clock = _SYSTEM_CLOCK,
    ) -> None:
        self._settings = settings
        self._secrets = secrets
        self._clock = clock
        self._session = session
        self._owns_session = session is None
        default_base = settings.rapidapi_base_url if settings.commercial else settings.api_base_url
        self.base_url = (base_url or default_base).rstrip("/")
        self._timeout = aiohttp.ClientTimeout(
            total=settings.total_timeout_s, connect=settings.connect_timeout_s
        )
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

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("ImgurClient is closed")
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._settings.max_connections)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        """Cancel what is in flight and close the session if this client created it."""
        self._closed = True
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._owns_session and self._session is not None:
            await self._session.close()
        self._session = None

    async def __aenter__(self) -> ImgurClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------------------
    # Listeners

    def add_listener(self, fn: Listener) -> None:
        """``fn(ratelimits, request, status)`` after every response, success or error."""
        self._listeners.append(fn)

    def remove_listener(self, fn: Listener) -> None:
        self._listeners.remove(fn)

    async def _notify(self, limits: RateLimits, req: Request, status: int) -> None:
        for listener in list(self._listeners):
            try:
                result = listener(limits, req, status)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                # A broken listener must not turn a good answer into an error.
                log.exception("Imgur response listener %r failed", listener)

    # ------------------------------------------------------------------------------
    # fetch: cache, coalescing, gate, stale fallback

    def peek(self, req: Request) -> Fetched | None:
        """What the cache holds for ``req`` (fresh or stale), without any network."""
        if req.cache_key is None:
            return None
        entry = self._cache.any(req.cache_key)
        return None if entry is None else self._from_entry(entry)

    def _from_entry(self, entry: CacheEntry) -> Fetched:
        stale = not self._cache.is_fresh(entry)
        return Fetched(entry.data, entry.fetched_at, True, stale, entry.memo)

    async def fetch(
        self, req: Request, *, gate: Gate | None = None, use_cache: bool = True
    ) -> Fetched:
        key = req.cache_key
        if key is None:
            return await self._exchange(req, gate, None)
        if use_cache:
            entry = self._cache.fresh(key)
            if entry is not None:
                return self._from_entry(entry)
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.create_task(self._exchange(req, gate, key))
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
        self,
        req: Request,
        gate: Gate | None,
        key: str | None,
        body: Callable[[], Any] | None = None,
    ) -> Fetched:
        try:
            async with (gate or free_gate)(req) as charge:
                counted = 0

                def count(credits: int) -> None:
                    nonlocal counted
                    counted += credits

                try:
                    data = await self._send(req, count, body)
                finally:
                    await _settle(charge, counted)
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
        entry = self._cache.put(key, req.kind, data, now)
        return Fetched(data, now, _memo=entry.memo)

    def _stale_for(self, key: str | None) -> Fetched | None:
        entry = self._cache.any(key) if key is not None else None
        if entry is None:
            return None
        return Fetched(entry.data, entry.fetched_at, True, True, entry.memo)

    # ------------------------------------------------------------------------------
    # Sending: OAuth, retries, one attempt

    async def _send(
        self, req: Request, count: Callable[[int], None], body: Callable[[], Any] | None
    ) -> Any:
        bearer = await self._bearer_for(req)
        try:
            return await self._send_with_retries(req, bearer, count, body)
        except AuthError as exc:
            if bearer is None or exc.status not in (401, 403):
                raise
            # The access token expired or was revoked: refresh once, try once more.
            bearer = await self._refresh_access_token(expired=bearer)
            return await self._send_with_retries(req, bearer, count, body)

    async def _send_with_retries(
        self,
        req: Request,
        bearer: SecretStr | None,
        count: Callable[[int], None],
        body: Callable[[], Any] | None,
    ) -> Any:
        if not req.idempotent:
            # Uploads and other writes are never retried blindly: Imgur may have done it.
            return await self._attempt(req, bearer, count, body)
        started = time.monotonic()
        try:
            # Nearly every call succeeds at once: that first attempt skips tenacity's
            # bookkeeping (tens of microseconds a call); only a failure pays for it.
            return await self._attempt(req, bearer, count, body)
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
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                if first_failure is not None:
                    # Attempt 1, already made above: tenacity decides whether to retry.
                    failure, first_failure = first_failure, None
                    raise failure
                return await self._attempt(req, bearer, count, body)
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    def _headers(self, req: Request, bearer: SecretStr | None) -> dict[str, str]:
        if bearer is None and req.kind != "oauth":
            # The Client-ID headers never change: built once (aiohttp copies what it is given).
            if self._client_headers is None:
                self._client_headers = self._build_headers(req, None)
            return self._client_headers
        return self._build_headers(req, bearer)

    def _build_headers(self, req: Request, bearer: SecretStr | None) -> dict[str, str]:
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

    def _form(self, req: Request) -> aiohttp.FormData | None:
        if not req.form:
            return None
        return aiohttp.FormData(req.form_fields())

    async def _attempt(
        self,
        req: Request,
        bearer: SecretStr | None,
        count: Callable[[int], None],
        body: Callable[[], Any] | None,
    ) -> Any:
        session = self._get_session()
        headers = self._headers(req, bearer)
        data = body() if body is not None else self._form(req)
        try:
            async with session.request(
                req.method,
                self.base_url + req.path,
                params=req.params or None,
                data=data,
                headers=headers,
                timeout=self._timeout,
            ) as resp:
                raw = await resp.read()
                status, resp_headers = resp.status, resp.headers
        except TimeoutError as exc:
            raise ServerError(
                f"Imgur did not answer within {self._settings.total_timeout_s:g} s",
                request=req.path,
            ) from exc
        except aiohttp.ClientError as exc:
            raise ServerError(
                f"connection to Imgur failed ({type(exc).__name__})", request=req.path
            ) from exc
        now = self._clock.now()
        await self._notify(sansio.read_ratelimits(resp_headers, now), req, status)
        try:
            result = sansio.decipher_response(status, resp_headers, raw, req, now=now)
        except ImgurError as exc:
            # A 429 is not counted by Imgur; any other answer was (it reached Imgur).
            if not isinstance(exc, RateLimited):
                count(req.cost)
            raise
        count(req.cost)
        return result

    # ------------------------------------------------------------------------------
    # OAuth

    async def _bearer_for(self, req: Request) -> SecretStr | None:
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
            token = models.parse_token(await self._attempt(req, None, lambda _n: None, None))
            self._access_token = token.access_token
            if token.refresh_token is not None:
                self._refresh_token = token.refresh_token  # Imgur may rotate it
            return token.access_token

    async def refresh(self) -> models.Token:
        """Exchange the configured refresh token for a new access token now."""
        await self._refresh_access_token(expired=self._access_token)
        assert self._access_token is not None
        return models.Token(access_token=self._access_token, refresh_token=self._refresh_token)

    # ------------------------------------------------------------------------------
    # Endpoint methods: build, fetch, parse

    async def _get(self, req: Request, parser: Callable[[Any], T], gate: Gate | None) -> T:
        return (await self.fetch(req, gate=gate)).parse(parser)

    async def gallery(
        self,
        section: str = "hot",
        sort: str = "viral",
        window: str = "day",
        page: int = 0,
        *,
        show_viral: bool = True,
        mature: bool = False,
        album_previews: bool = False,
        gate: Gate | None = None,
    ) -> list[models.GalleryItem]:
        req = sansio.gallery(section, sort, window, page, show_viral, mature, album_previews)
        return await self._get(req, models.parse_gallery, gate)

    async def gallery_search(
        self,
        q: str | None = None,
        *,
        q_all: str | None = None,
        q_any: str | None = None,
        q_exactly: str | None = None,
        q_not: str | None = None,
        q_type: str | None = None,
        q_size_px: str | None = None,
        sort: str = "time",
        window: str = "all",
        page: int = 0,
        gate: Gate | None = None,
    ) -> list[models.GalleryItem]:
        req = sansio.gallery_search(
            q,
            q_all=q_all,
            q_any=q_any,
            q_exactly=q_exactly,
            q_not=q_not,
            q_type=q_type,
            q_size_px=q_size_px,
            sort=sort,
            window=window,
            page=page,
        )
        return await self._get(req, models.parse_gallery, gate)

    async def gallery_item(self, item_id: str, *, gate: Gate | None = None) -> models.GalleryItem:
        return await self._get(sansio.gallery_item(item_id), models.parse_item, gate)

    async def gallery_image(
        self, image_id: str, *, gate: Gate | None = None
    ) -> models.GalleryImage:
        return await self._get(sansio.gallery_image(image_id), models.parse_gallery_image, gate)

    async def gallery_album(
        self, album_id: str, *, gate: Gate | None = None
    ) -> models.GalleryAlbum:
        return await self._get(sansio.gallery_album(album_id), models.parse_gallery_album, gate)

    async def gallery_tag(
        self,
        tag: str,
        sort: str = "viral",
        window: str = "week",
        page: int = 0,
        *,
        gate: Gate | None = None,
    ) -> models.TagGallery:
        req = sansio.gallery_tag(tag, sort, window, page)
        return await self._get(req, models.parse_tag_gallery, gate)

    async def tag_info(self, tag: str, *, gate: Gate | None = None) -> models.Tag:
        return await self._get(sansio.tag_info(tag), models.parse_tag_info, gate)

    async def tags(self, *, gate: Gate | None = None) -> models.TagCatalog:
        return await self._get(sansio.tags(), models.parse_tags, gate)

    async def subreddit_gallery(
        self,
        subreddit: str,
        sort: str = "time",
        window: str = "week",
        page: int = 0,
        *,
        gate: Gate | None = None,
    ) -> list[models.GalleryItem]:
        req = sansio.subreddit_gallery(subreddit, sort, window, page)
        return await self._get(req, models.parse_gallery, gate)

    async def memes_subgallery(
        self, sort: str = "viral", window: str = "week", page: int = 0, *, gate: Gate | None = None
    ) -> list[models.GalleryItem]:
        req = sansio.memes_subgallery(sort, window, page)
        return await self._get(req, models.parse_gallery, gate)

    async def memegen_defaults(self, *, gate: Gate | None = None) -> list[models.MemeTemplate]:
        return await self._get(sansio.memegen_defaults(), models.parse_memegen, gate)

    async def image(self, image_id: str, *, gate: Gate | None = None) -> models.Image:
        return await self._get(sansio.image(image_id), models.parse_image, gate)

    async def album(self, album_id: str, *, gate: Gate | None = None) -> models.Album:
        return await self._get(sansio.album(album_id), models.parse_album, gate)

    async def account(self, username: str, *, gate: Gate | None = None) -> models.Account:
        return await self._get(sansio.account(username), models.parse_account, gate)

    async def account_submissions(
        self, username: str, page: int = 0, *, gate: Gate | None = None
    ) -> list[models.GalleryItem]:
        req = sansio.account_submissions(username, page)
        return await self._get(req, models.parse_gallery, gate)

    async def credits(self, *, gate: Gate | None = None) -> models.Credits:
        fetched = await self.fetch(sansio.credits(), gate=gate)
        return models.parse_credits(fetched.data, self._clock.now())

    # Writes (never cached, never retried)

    async def update_image(
        self,
        id_or_deletehash: str,
        title: str | None = None,
        description: str | None = None,
        *,
        gate: Gate | None = None,
    ) -> bool:
        req = sansio.update_image(id_or_deletehash, title, description)
        return models.parse_ok((await self.fetch(req, gate=gate)).data)

    async def delete_image(self, deletehash: str, *, gate: Gate | None = None) -> bool:
        req = sansio.delete_image(deletehash)
        return models.parse_ok((await self.fetch(req, gate=gate)).data)

    async def create_album(
        self,
        deletehashes: list[str] | tuple[str, ...] = (),
        title: str | None = None,
        description: str | None = None,
        *,
        gate: Gate | None = None,
    ) -> models.AlbumCreated:
        req = sansio.create_album(deletehashes, title, description)
        return models.parse_album_created((await self.fetch(req, gate=gate)).data)

    async def album_add(
        self,
        deletehash: str,
        deletehashes: list[str] | tuple[str, ...],
        *,
        gate: Gate | None = None,
    ) -> bool:
        req = sansio.album_add(deletehash, deletehashes)
        return models.parse_ok((await self.fetch(req, gate=gate)).data)

    async def delete_album(self, deletehash: str, *, gate: Gate | None = None) -> bool:
        req = sansio.delete_album(deletehash)
        return models.parse_ok((await self.fetch(req, gate=gate)).data)

    async def upload(
        self,
        source: UploadSource,
        *,
        title: str | None = None,
        description: str | None = None,
        name: str | None = None,
        album: str | None = None,
        content_type: str | None = None,
        video: bool | None = None,
        disable_audio: bool = False,
        gate: Gate | None = None,
    ) -> models.UploadResult:
        """Upload bytes, an async iterator of bytes (streamed, never held whole) or a URL.

        Whether it goes up as ``video`` is ``video`` if given, else guessed from
        ``content_type``, the file name, then the file's first bytes.
        """
        if isinstance(source, str):
            req = sansio.upload(
                url=source, title=title, description=description, name=name, album=album
            )
            return models.parse_upload((await self.fetch(req, gate=gate)).data)

        head, stream = await _first_bytes(source)
        mime = content_type or sansio.sniff_media(head) or "application/octet-stream"
        if video is None:
            lowered = (name or "").lower()
            video = mime.startswith("video/") or lowered.endswith(_VIDEO_EXTENSIONS)
        req = sansio.upload(
            video=video,
            filename=name,
            content_type=mime,
            title=title,
            description=description,
            name=name,
            album=album,
            disable_audio=disable_audio,
        )
        used = False

        def body() -> aiohttp.MultipartWriter:
            nonlocal used
            if used:
                raise RuntimeError("an upload stream can be sent only once")
            used = True
            return _multipart(req, stream)

        fetched = await self._exchange(req, gate, None, body)
        return models.parse_upload(fetched.data)


async def _first_bytes(
    source: bytes | bytearray | memoryview | AsyncIterable[bytes],
) -> tuple[bytes, bytes | AsyncIterable[bytes]]:
    """Peek at the first bytes (to sniff the type) without losing them from a stream."""
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        return data[:64], data
    iterator = aiter(source)
    first = b""
    async for chunk in iterator:
        if chunk:
            first = bytes(chunk)
            break

    async def chained() -> AsyncIterator[bytes]:
        if first:
            yield first
        async for chunk in iterator:
            yield chunk

    return first[:64], chained()


def _multipart(req: Request, stream: bytes | AsyncIterable[bytes]) -> aiohttp.MultipartWriter:
    writer = aiohttp.MultipartWriter("form-data")
    for name, value in req.form_fields():
        part = writer.append(value)
        part.set_content_disposition("form-data", name=name)
    assert req.file is not None
    payload: aiohttp.payload.Payload
    if isinstance(stream, bytes):
        payload = aiohttp.payload.BytesPayload(stream, content_type=req.file.content_type)
    else:
        payload = aiohttp.payload.AsyncIterablePayload(stream, content_type=req.file.content_type)
    payload.set_content_disposition("form-data", name=req.file.field, filename=req.file.filename)
    writer.append_payload(payload)
    return writer
