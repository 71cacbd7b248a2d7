"""The aiohttp adapter for ``ImgurClient``: sessions, timeouts, bodies and streaming, nothing
else (gidgethub's ``aiohttp.py`` shape). Every decision about what to send, when to retry
and what an answer means lives in ``client.py`` and ``sansio.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import Any

import aiohttp
from yarl import URL

from bot.config import CacheSettings, ImgurSettings, Secrets
from bot.imgur.client import HttpRequest, HttpResponse, ImgurClient
from bot.imgur.errors import NoAnswer

_CHUNK = 64 * 1024


class AiohttpTransport:
    """Sends through a shared ``aiohttp.ClientSession`` (its own one if none is given)."""

    def __init__(self, session: aiohttp.ClientSession | None, settings: ImgurSettings) -> None:
        self._session = session
        self._owns_session = session is None
        self._settings = settings
        self._timeout = aiohttp.ClientTimeout(
            total=settings.total_timeout_s, connect=settings.connect_timeout_s
        )
        # An upload may take minutes to send (200 MB of video): no limit on the whole, but
        # the answer must start within total_timeout_s of the last byte. The uploads
        # service bounds the whole upload with its own deadline ([uploads] timeout_s).
        self._upload_timeout = aiohttp.ClientTimeout(
            total=None, connect=settings.connect_timeout_s, sock_read=settings.total_timeout_s
        )

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._settings.max_connections)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        """Close the session if this transport created it; a given one stays open."""
        if self._owns_session and self._session is not None:
            await self._session.close()
        self._session = None

    async def send(self, request: HttpRequest) -> HttpResponse:
        session = self._get_session()
        try:
            async with session.request(
                request.method,
                request.url,
                params=request.params or None,
                data=_body(request),
                headers=request.headers,
                timeout=self._timeout if request.file is None else self._upload_timeout,
            ) as resp:
                body = await _read_capped(resp, request.max_body)
                return HttpResponse(resp.status, resp.headers, body or b"", body is None)
        except aiohttp.ConnectionTimeoutError as exc:
            raise NoAnswer(
                f"could not connect to Imgur within {self._settings.connect_timeout_s:g} s",
                may_have_reached=False,
                request=_path(request),
            ) from exc
        except TimeoutError as exc:
            raise NoAnswer(
                f"Imgur did not answer within {self._settings.total_timeout_s:g} s",
                may_have_reached=True,
                request=_path(request),
            ) from exc
        except aiohttp.ClientConnectorError as exc:
            # Refused, unreachable, DNS: the connection was never made, so nothing was sent.
            raise NoAnswer(
                f"could not connect to Imgur ({type(exc).__name__})",
                may_have_reached=False,
                request=_path(request),
            ) from exc
        except aiohttp.ClientError as exc:
            # Dropped or reset after connecting: the request may have arrived.
            raise NoAnswer(
                f"connection to Imgur failed ({type(exc).__name__})",
                may_have_reached=True,
                request=_path(request),
            ) from exc


def _path(request: HttpRequest) -> str:
    return URL(request.url).path


async def _read_capped(resp: aiohttp.ClientResponse, limit: int) -> bytes | None:
    """The whole body, streamed in chunks; None as soon as it passes ``limit`` bytes (a 50 MB
    answer must not be read, parsed and cached whole: the rest is never read)."""
    if resp.content_length is not None and resp.content_length > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(_CHUNK):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _body(request: HttpRequest) -> aiohttp.FormData | aiohttp.MultipartWriter | None:
    if request.file is not None and request.body is not None:
        return _multipart(request, request.body)
    if not request.form:
        return None
    return aiohttp.FormData(request.form)


def _multipart(
    request: HttpRequest, stream: bytes | AsyncIterable[bytes]
) -> aiohttp.MultipartWriter:
    """The form fields, then the file part, streamed from ``stream`` as the socket takes it."""
    assert request.file is not None
    writer = aiohttp.MultipartWriter("form-data")
    for name, value in request.form:
        part = writer.append(value)
        part.set_content_disposition("form-data", name=name)
    payload: aiohttp.payload.Payload
    if isinstance(stream, bytes):
        payload = aiohttp.payload.BytesPayload(stream, content_type=request.file.content_type)
    else:
        payload = aiohttp.payload.AsyncIterablePayload(
            stream, content_type=request.file.content_type
        )
    payload.set_content_disposition(
        "form-data", name=request.file.field, filename=request.file.filename
    )
    writer.append_payload(payload)
    return writer


def aiohttp_client(
    session: aiohttp.ClientSession | None,
    settings: ImgurSettings,
    cache: CacheSettings,
    secrets: Secrets,
    **options: Any,
) -> ImgurClient:
    """The production pairing: ``ImgurClient``'s policy over this transport, one settings
    for both (``options``: ``base_url``, ``clock``, ``sleep``)."""
    return ImgurClient(AiohttpTransport(session, settings), settings, cache, secrets, **options)
