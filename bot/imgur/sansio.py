"""Imgur API v3 without I/O: build requests, read responses.

Two halves, both pure:

- one builder per endpoint returns a frozen ``Request`` that says everything the transport
  and the quota ledger need: method, path, query, form fields, the credits Imgur will count
  (``cost``), the cache class (``kind``) and the cache key;
- ``decipher_response(status, headers, body)`` returns the envelope's ``data`` or raises the
  matching ``ImgurError`` subclass for every error shape catalogued in ``imgur-api.md``
  §3.4, §4 and §8 (classic envelope, object errors, ``errors[]``, gateway messages, HTML).

Nothing here touches the network or the clock (``now`` is passed in), so every rule is
tested with recorded bodies and property tests.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import quote, urlencode

from pydantic import SecretStr
from pydantic_core import from_json

from bot.imgur import models
from bot.imgur.errors import (
    ApiError,
    AuthError,
    BadResponse,
    EdgeBlocked,
    ImgurError,
    NotFound,
    OverCapacity,
    RateLimited,
    RateScope,
    ServerError,
    UploadRejected,
)
from bot.imgur.lenient import to_int
from bot.imgur.ratelimit import RateLimits
from bot.imgur.vocab import (
    CALL_COST,
    GALLERY_SORTS,
    MAX_BODY,
    MEME_SORTS,
    SEARCH_SIZES,
    SEARCH_SORTS,
    SEARCH_TYPES,
    SECTIONS,
    SUBREDDIT_SORTS,
    TAG_SORTS,
    UPLOAD_COST,
    WINDOWS,
    GallerySort,
    Kind,
    MemeSort,
    SearchSize,
    SearchSort,
    SearchType,
    Section,
    SubredditSort,
    TagSort,
    Window,
)

Method = Literal["GET", "POST", "PUT", "DELETE"]
Auth = Literal["client", "bearer"]
FormValue = str | SecretStr
T = TypeVar("T")

_ID = re.compile(r"[A-Za-z0-9]{1,64}")
_TAG = re.compile(r"[\w\- ]{1,100}")
_SUBREDDIT = re.compile(r"[A-Za-z0-9_]{1,50}")
_USERNAME = re.compile(r"[A-Za-z0-9_\-]{1,63}")


def _as_is(data: Any) -> Any:
    return data


@dataclass(frozen=True, slots=True)
class FilePart:
    """The file part of a multipart upload; the bytes themselves travel beside the request."""

    field: Literal["image", "video"]
    filename: str
    content_type: str


@dataclass(frozen=True, slots=True)
class Request(Generic[T]):
    """One call to Imgur, fully described, hashable, free of I/O: the one declaration of an
    endpoint. ``parse`` turns the deciphered ``data`` into the endpoint's model.

    ``form`` holds form fields (secrets as ``SecretStr`` so a repr never shows them);
    ``file`` describes the upload part; ``cache_key`` is None for anything but a GET.
    """

    method: Method
    path: str
    kind: Kind
    params: tuple[tuple[str, str], ...] = ()
    form: tuple[tuple[str, FormValue], ...] = field(default=(), repr=False)
    file: FilePart | None = None
    cost: int = CALL_COST
    auth: Auth = "client"
    parse: Callable[[Any], T] = field(default=_as_is, repr=False, compare=False)
    cache_key: str | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        if self.method == "GET":
            # Auth is part of the key: a Bearer answer may differ (mature setting, "me").
            query = urlencode(sorted(self.params))
            key = f"{self.auth}:{self.path}?{query}" if query else f"{self.auth}:{self.path}"
            object.__setattr__(self, "cache_key", key)

    @property
    def idempotent(self) -> bool:
        return self.method == "GET"

    @property
    def max_body(self) -> int:
        """The largest answer this kind of request may bring (read while streaming)."""
        return MAX_BODY[self.kind]

    def form_fields(self) -> list[tuple[str, str]]:
        """The form fields with secrets revealed, for the transport only."""
        return [
            (name, value.get_secret_value() if isinstance(value, SecretStr) else value)
            for name, value in self.form
        ]


# --------------------------------------------------------------------------------------
# Argument checks


class BadArgument(ValueError):
    """A value Imgur would reject in a request. ``expected`` says in plain words what is
    allowed ("a tag name: letters, digits, spaces, - and _"), so a member can be told."""

    def __init__(self, name: str, value: object, expected: str) -> None:
        super().__init__(f"{name} must be {expected}; got {value!r}")
        self.name = name
        self.value = value
        self.expected = expected


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise BadArgument(name, value, f"one of {', '.join(allowed)}")
    return value


def _page(page: int) -> int:
    if isinstance(page, bool) or not isinstance(page, int) or page < 0:
        raise BadArgument("page", page, "a page number (0 or more)")
    return page


def _segment(name: str, value: str, pattern: re.Pattern[str], what: str) -> str:
    """A value that goes into the URL path: checked, then percent-quoted."""
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise BadArgument(name, value, what)
    return quote(value, safe="")


def _id(name: str, value: str) -> str:
    return _segment(name, value, _ID, "an Imgur id (letters and digits)")


def _tag(value: str) -> str:
    tag = value.strip() if isinstance(value, str) else value
    return _segment("tag", tag, _TAG, "a tag name (letters, digits, spaces, - and _)")


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _text_fields(**fields: str | None) -> tuple[tuple[str, str], ...]:
    return tuple((k, v) for k, v in fields.items() if v is not None)


def _mature(mature: bool) -> tuple[tuple[str, str], ...]:
    """Un-authenticated listings hide NSFW posts unless asked (§8.6): ask only for
    age-restricted channels."""
    return (("mature", "true"),) if mature else ()


def _get(
    path: str,
    kind: Kind,
    parse: Callable[[Any], T],
    params: Iterable[tuple[str, str]] = (),
    auth: Auth = "client",
) -> Request[T]:
    return Request("GET", path, kind, params=tuple(params), auth=auth, parse=parse)


def _write(
    method: Method, path: str, form: tuple[tuple[str, FormValue], ...] = ()
) -> Request[bool]:
    return Request(method, path, "write", form=form, parse=models.parse_ok)


# --------------------------------------------------------------------------------------
# Gallery


def gallery(
    section: Section = "hot",
    sort: GallerySort = "viral",
    window: Window = "day",
    page: int = 0,
    *,
    show_viral: bool = True,
    mature: bool = False,
    album_previews: bool = False,
) -> Request[list[models.GalleryItem]]:
    _choice("section", section, SECTIONS)
    _choice("sort", sort, GALLERY_SORTS)
    if sort == "rising" and section != "user":
        raise ValueError("sort 'rising' is only valid with section 'user'")
    _choice("window", window, WINDOWS)
    params = [("showViral", _flag(show_viral)), *_mature(mature)]
    if album_previews:
        params.append(("album_previews", "true"))
    # Always the long form. Imgur ignores the window unless sort is top, so it is pinned to
    # "day" otherwise: hot/viral/day and hot/viral/week are one cache entry and one credit.
    if sort != "top":
        window = "day"
    path = f"/3/gallery/{section}/{sort}/{window}/{_page(page)}"
    return _get(path, "frontpage", models.parse_gallery, params)


def gallery_search(
    q: str | None = None,
    *,
    q_all: str | None = None,
    q_any: str | None = None,
    q_exactly: str | None = None,
    q_not: str | None = None,
    q_type: SearchType | None = None,
    q_size_px: SearchSize | None = None,
    sort: SearchSort = "time",
    window: Window = "all",
    page: int = 0,
    mature: bool = False,
) -> Request[list[models.GalleryItem]]:
    _choice("sort", sort, SEARCH_SORTS)
    _choice("window", window, WINDOWS)
    if q_type is not None:
        _choice("q_type", q_type, SEARCH_TYPES)
    if q_size_px is not None:
        _choice("q_size_px", q_size_px, SEARCH_SIZES)
    advanced = {
        "q_all": q_all,
        "q_any": q_any,
        "q_exactly": q_exactly,
        "q_not": q_not,
        "q_type": q_type,
        "q_size_px": q_size_px,
    }
    # Whitespace-normalised so "cats  dogs" and "cats dogs" share one cache entry.
    advanced = {k: " ".join(v.split()) for k, v in advanced.items() if v is not None}
    advanced = {k: v for k, v in advanced.items() if v}
    query = " ".join(q.split()) if isinstance(q, str) else None
    if query and advanced:
        raise ValueError("give q or the advanced q_* fields, not both (Imgur ignores q then)")
    if not query and not advanced:
        raise BadArgument("q", q, "some words to search for")
    params = sorted(advanced.items()) if advanced else [("q", query or "")]
    path = f"/3/gallery/search/{sort}/{window}/{_page(page)}"
    return _get(path, "search", models.parse_gallery, [*params, *_mature(mature)])


def gallery_item(item_id: str) -> Request[models.GalleryItem]:
    return _get(f"/3/gallery/{_id('id', item_id)}", "item", models.parse_item)


def gallery_image(image_id: str) -> Request[models.GalleryImage]:
    return _get(f"/3/gallery/image/{_id('id', image_id)}", "item", models.parse_gallery_image)


def gallery_album(album_id: str) -> Request[models.GalleryAlbum]:
    return _get(f"/3/gallery/album/{_id('id', album_id)}", "item", models.parse_gallery_album)


def gallery_tag(
    tag: str, sort: TagSort = "viral", window: Window = "week", page: int = 0, *, mature=False
) -> Request[models.TagGallery]:
    _choice("sort", sort, TAG_SORTS)
    _choice("window", window, WINDOWS)
    path = f"/3/gallery/t/{_tag(tag)}/{sort}/{window}/{_page(page)}"
    return _get(path, "tag", models.parse_tag_gallery, _mature(mature))


def tag_info(tag: str) -> Request[models.Tag]:
    return _get(f"/3/gallery/tag_info/{_tag(tag)}", "tag", models.parse_tag_info)


def tags() -> Request[models.TagCatalog]:
    return _get("/3/tags", "tags", models.parse_tags)


def subreddit_gallery(
    subreddit: str,
    sort: SubredditSort = "time",
    window: Window = "week",
    page: int = 0,
    *,
    mature: bool = False,
) -> Request[list[models.GalleryItem]]:
    name = _segment("subreddit", subreddit, _SUBREDDIT, "a subreddit name (letters, digits, _)")
    _choice("sort", sort, SUBREDDIT_SORTS)
    _choice("window", window, WINDOWS)
    path = f"/3/gallery/r/{name}/{sort}/{window}/{_page(page)}"
    return _get(path, "subreddit", models.parse_gallery, _mature(mature))


def memes_subgallery(
    sort: MemeSort = "viral", window: Window = "week", page: int = 0
) -> Request[list[models.GalleryItem]]:
    _choice("sort", sort, MEME_SORTS)
    _choice("window", window, WINDOWS)
    return _get(f"/3/g/memes/{sort}/{window}/{_page(page)}", "frontpage", models.parse_gallery)


def memegen_defaults() -> Request[list[models.MemeTemplate]]:
    return _get("/3/memegen/defaults", "memegen", models.parse_memegen)


# --------------------------------------------------------------------------------------
# Images and albums


def image(image_id: str) -> Request[models.Image]:
    return _get(f"/3/image/{_id('id', image_id)}", "item", models.parse_image)


def album(album_id: str) -> Request[models.Album]:
    return _get(f"/3/album/{_id('id', album_id)}", "item", models.parse_album)


def upload(
    *,
    url: str | None = None,
    video: bool = False,
    filename: str | None = None,
    content_type: str | None = None,
    title: str | None = None,
    description: str | None = None,
    name: str | None = None,
    album: str | None = None,
    disable_audio: bool = False,
) -> Request[models.UploadResult]:
    """An upload to ``/3/image`` (not ``/3/upload``, which flattens APNG; §5.2, §8.18).

    With ``url`` Imgur fetches the file itself; otherwise the transport sends the bytes as
    the multipart part described by ``file``. ``album`` is an album id, or the deletehash
    of an anonymous album.
    """
    if album is not None:
        _id("album", album)
    fields: list[tuple[str, FormValue]] = []
    part: FilePart | None = None
    if url is not None:
        if not isinstance(url, str) or not re.match(r"https?://[^\s]+$", url):
            raise ValueError(f"url must be an http(s) URL; got {url!r}")
        if video:
            raise ValueError("Imgur fetches only images from a URL; upload a video as bytes")
        fields += [("image", url), ("type", "url")]
    else:
        media: Literal["image", "video"] = "video" if video else "image"
        default_type = "video/mp4" if video else "application/octet-stream"
        part = FilePart(media, filename or name or media, content_type or default_type)
        fields.append(("type", "file"))
    fields += _text_fields(title=title, description=description, name=name, album=album)
    if disable_audio:
        fields.append(("disable_audio", "1"))
    return Request(
        "POST",
        "/3/image",
        "upload",
        form=tuple(fields),
        file=part,
        cost=UPLOAD_COST,
        parse=models.parse_upload,
    )


def update_image(
    id_or_deletehash: str, title: str | None = None, description: str | None = None
) -> Request[bool]:
    if title is None and description is None:
        raise ValueError("update_image needs a title or a description")
    target = _id("id_or_deletehash", id_or_deletehash)
    return _write("POST", f"/3/image/{target}", _text_fields(title=title, description=description))


def delete_image(deletehash: str) -> Request[bool]:
    return _write("DELETE", f"/3/image/{_id('deletehash', deletehash)}")


def _deletehash_fields(deletehashes: Iterable[str]) -> tuple[tuple[str, str], ...]:
    if isinstance(deletehashes, str):
        raise ValueError("deletehashes must be a list of deletehashes, not one string")
    return tuple(("deletehashes[]", _id("deletehash", d)) for d in deletehashes)


def create_album(
    deletehashes: Iterable[str] = (),
    title: str | None = None,
    description: str | None = None,
) -> Request[models.AlbumCreated]:
    """An anonymous album, filled with anonymous images named by their deletehashes."""
    fields = _deletehash_fields(deletehashes) + _text_fields(title=title, description=description)
    return Request("POST", "/3/album", "write", form=fields, parse=models.parse_album_created)


def album_add(deletehash: str, deletehashes: Iterable[str]) -> Request[bool]:
    fields = _deletehash_fields(deletehashes)
    if not fields:
        raise ValueError("album_add needs at least one image deletehash")
    return _write("POST", f"/3/album/{_id('deletehash', deletehash)}/add", fields)


def delete_album(deletehash: str) -> Request[bool]:
    return _write("DELETE", f"/3/album/{_id('deletehash', deletehash)}")


# --------------------------------------------------------------------------------------
# Account, credits, OAuth


def _username(username: str) -> str:
    return _segment("username", username, _USERNAME, "an Imgur username (letters, digits, - and _)")


def _account_auth(username: str) -> Auth:
    return "bearer" if username == "me" else "client"


def account(username: str) -> Request[models.Account]:
    path = f"/3/account/{_username(username)}"
    return _get(path, "account", models.parse_account, auth=_account_auth(username))


def account_submissions(
    username: str, page: int = 0, *, mature: bool = False
) -> Request[list[models.GalleryItem]]:
    path = f"/3/account/{_username(username)}/submissions/{_page(page)}"
    return _get(
        path, "account", models.parse_gallery, _mature(mature), auth=_account_auth(username)
    )


def credits() -> Request[models.Credits]:
    return _get("/3/credits", "credits", models.parse_credits)


def refresh_token(
    refresh_token: str | SecretStr, client_id: str | SecretStr, client_secret: str | SecretStr
) -> Request[models.Token]:
    """``POST /oauth2/token`` with ``grant_type=refresh_token``; free of credits (§2.2)."""

    def secret(value: str | SecretStr) -> SecretStr:
        return value if isinstance(value, SecretStr) else SecretStr(value)

    fields: tuple[tuple[str, FormValue], ...] = (
        ("refresh_token", secret(refresh_token)),
        ("client_id", secret(client_id)),
        ("client_secret", secret(client_secret)),
        ("grant_type", "refresh_token"),
    )
    return Request("POST", "/oauth2/token", "oauth", form=fields, cost=0, parse=models.parse_token)


# --------------------------------------------------------------------------------------
# Reading responses


@dataclass(frozen=True, slots=True)
class _Problem:
    """What an error body said, before it is classified."""

    http_status: int
    message: str
    body_status: int | None = None
    code: int | None = None
    type: str | None = None
    request: str | None = None

    @property
    def codes(self) -> set[int]:
        return {c for c in (self.http_status, self.body_status, self.code) if c is not None}


_MAX_MESSAGE = 300
_NOT_JSON = object()

_RATE_MARKERS = (
    "too many requests",
    "rate limit",
    "too fast",
    "requests exceeded",
    "quota",
    "run out of api credits",
)
_AUTH_MARKERS = (
    "authentication required",
    "unauthorized",
    "access token",
    "refresh token",
    "invalid client",
    "application key",
    "api key",
    "not subscribed",
    "client_id",
)
_NOT_FOUND_MARKERS = ("not found", "unable to find", "does not exist", "doesn't exist")
_UPLOAD_MARKERS = (
    "size limit",
    "file type invalid",
    "not uploaded correctly",
    "unable to process upload",
    "corrupt",
    "invalid image",
)


def _ok(status: int) -> bool:
    return 200 <= status < 300


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


def _load_json(body: bytes) -> Any:
    if not body or not body.strip():
        return _NOT_JSON
    try:
        return from_json(body)  # pydantic-core's parser: about twice as fast as json
    except ValueError:
        pass
    try:
        return json.loads(body)  # its verdict decides the odd cases (deep nesting, encodings)
    except (ValueError, RecursionError):
        return _NOT_JSON


def _message_of(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    try:
        return json.dumps(value, ensure_ascii=False, default=str)[:_MAX_MESSAGE]
    except (ValueError, TypeError, RecursionError):
        return type(value).__name__


def _problem_from_error_value(
    http_status: int, body_status: int | None, err: Any, request: Any
) -> _Problem:
    """``data.error`` is a string, or an object ``{code, message, type, exception}`` (§4.2)."""
    req = request if isinstance(request, str) else None
    if isinstance(err, dict):
        code = to_int(err.get("code"))
        message = _message_of(err.get("message")) or (f"error code {code}" if code else "")
        kind = err.get("type") if isinstance(err.get("type"), str) else None
        return _Problem(http_status, message or "error", body_status, code, kind, req)
    return _Problem(http_status, _message_of(err) or "error", body_status, request=req)


def _problem_in(doc: dict[str, Any], http_status: int) -> _Problem | None:
    """The error a JSON object reports, or None when it reports success."""
    errors = doc.get("errors")
    if isinstance(errors, list) and errors:
        # The 2024+ layer: {"errors": [{"id", "code": "429", "status", "detail"}]}.
        details, code = [], None
        for item in errors:
            if isinstance(item, dict):
                code = code if code is not None else to_int(item.get("code"))
                details.append(_message_of(item.get("detail") or item.get("status") or ""))
            else:
                details.append(_message_of(item))
        message = "; ".join(d for d in details if d) or f"HTTP {http_status}"
        return _Problem(http_status, message, code=code)

    if "data" in doc:
        data = doc["data"]
        success = doc.get("success")
        body_status = to_int(doc.get("status"))
        failed = (
            success is False
            or not _ok(http_status)
            or (body_status is not None and not _ok(body_status))
        )
        if isinstance(data, dict) and "error" in data:
            # Imgur sometimes says success:true beside data.error (§4.2, §8.8): still an error.
            return _problem_from_error_value(
                http_status, body_status, data["error"], data.get("request")
            )
        if isinstance(data, str) and (failed or " " in data.strip()):
            # A sentence where data belongs is an error message ("An error occurred while
            # fetching the comment"); single words such as "favorited" are real data.
            return _Problem(http_status, data or "error", body_status)
        if failed:
            return _Problem(http_status, f"HTTP {http_status}", body_status)
        return None

    if "detail" in doc or ("code" in doc and "id" in doc):
        # The flat 413 body of the newer layer: {"id", "code": 413, "detail", "status"}.
        code = to_int(doc.get("code"))
        message = _message_of(doc.get("detail") or doc.get("status") or "") or "error"
        return _Problem(http_status, message, code=code)
    if isinstance(doc.get("message"), str) and len(doc) <= 2:
        # Mashape / RapidAPI gateway: {"message": "Missing Mashape application key..."}.
        return _Problem(http_status, doc["message"] or "gateway error", type="gateway")
    if "error" in doc and "access_token" not in doc:
        return _problem_from_error_value(http_status, None, doc["error"], doc.get("request"))
    if not _ok(http_status):
        return _Problem(http_status, f"HTTP {http_status}")
    return None


_WAIT = re.compile(r"wait\s+(\d{1,6})\s+more\s+(second|minute|hour)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class _Context:
    """What classification needs beside the body: read once per response."""

    headers: Mapping[str, str]
    limits: RateLimits
    request: Request[Any] | None
    now: datetime


def _rate_limited(message: str, status: int, path: str | None, ctx: _Context) -> RateLimited:
    """Work out which limit was hit, and when it lifts (§3.2, §3.4)."""
    limits = ctx.limits
    text = message.lower()
    scope: RateScope
    resets_at: datetime | None
    wait = _WAIT.search(message)
    if "too fast" in text:
        scope = "upload"
        if wait:
            unit = wait.group(2).lower()
            amount = int(wait.group(1))
            resets_at = ctx.now + timedelta(**{f"{unit}s": amount})
        else:
            resets_at = limits.post_reset
    elif (limits.client_remaining is not None and limits.client_remaining <= 0) or any(
        m in text for m in ("client requests", "daily", "quota", "api credits")
    ):
        scope, resets_at = "client", limits.client_reset
    elif limits.user_remaining is not None and limits.user_remaining <= 0:
        scope, resets_at = "ip", limits.user_reset
    elif limits.post_remaining is not None and limits.post_remaining <= 0:
        scope, resets_at = "post", limits.post_reset
    else:
        # Imgur's most common 429 is the per-IP ("user") limit; an hour is its window.
        scope, resets_at = "ip", limits.user_reset
    return RateLimited(
        _clip(message),
        scope=scope,
        resets_at=resets_at,
        status=status,
        request=path,
        ratelimits=limits,
    )


def _is_upload_problem(problem: _Problem, text: str, request: Request[Any] | None) -> bool:
    if problem.type == "Exception_UploadError" or problem.code in (1001, 1003):
        return True
    if problem.codes & {413, 415} or any(m in text for m in _UPLOAD_MARKERS):
        return True
    # A bare 400 to an upload is about the file, unless the body says who was refused.
    return (
        request is not None
        and request.kind == "upload"
        and 400 in problem.codes
        and 403 not in problem.codes
    )


def _edge_block(headers: Mapping[str, str]) -> bool:
    """Imgur's CDN refusing the caller's IP or region before the API saw the request
    (``CDN-Error: yes``; the UK block of 2025 looks like this, §0.1)."""
    return any(k.lower() == "cdn-error" and v.strip().lower() == "yes" for k, v in headers.items())


def _classify(problem: _Problem, ctx: _Context) -> ImgurError:
    text = problem.message.lower()
    codes = problem.codes
    request = ctx.request
    path = problem.request or (request.path if request else None)
    if _ok(problem.http_status) and problem.body_status is not None:
        status = problem.body_status if not _ok(problem.body_status) else problem.http_status
    else:
        status = problem.http_status
    message = _clip(problem.message)
    known = {"status": status, "request": path, "ratelimits": ctx.limits}

    if "over capacity" in text or 1203 in codes:
        return OverCapacity(message, **known)
    if 429 in codes or any(m in text for m in _RATE_MARKERS):
        return _rate_limited(problem.message, status, path, ctx)
    if _edge_block(ctx.headers):
        return EdgeBlocked(message, **known)
    if 401 in codes or problem.type == "gateway" or any(m in text for m in _AUTH_MARKERS):
        return AuthError(message, **known)
    if request is not None and request.kind == "oauth" and 400 in codes:
        # An OAuth grant Imgur refuses ("Invalid Pin", an unknown refresh token) is a
        # credentials problem, not a malformed call (§2.2).
        return AuthError(message, **known)
    if _is_upload_problem(problem, text, request):
        return UploadRejected(message, **known)
    if 403 in codes:
        return AuthError(message, **known)
    if 404 in codes or any(m in text for m in _NOT_FOUND_MARKERS):
        return NotFound(message, **known)
    if any(500 <= c < 600 for c in codes):
        return ServerError(message, **known)
    return ApiError(message, **known)


def _not_json(status: int, body: bytes, ctx: _Context) -> ImgurError:
    """A body that is not JSON: empty, truncated, HTML, gateway text."""
    path = ctx.request.path if ctx.request else None
    known = {"status": status, "request": path, "ratelimits": ctx.limits}
    text = body[:4096].decode("utf-8", "replace").lower()
    if "over capacity" in text:
        return OverCapacity("Imgur is over capacity", **known)
    if status == 429:
        return _rate_limited("Too Many Requests", status, path, ctx)
    if status == 404:
        # Since 2017 a missing image/album can come back as Imgur's HTML 404 page.
        return NotFound("not found (Imgur answered with a web page)", **known)
    if status in (401, 403):
        return AuthError(f"HTTP {status} without a JSON body", **known)
    if 500 <= status < 600:
        return ServerError(f"HTTP {status} without a JSON body", **known)
    what = "an empty body" if not body.strip() else "a body that is not valid JSON"
    return BadResponse(f"HTTP {status} with {what}", **known)


def _decipher(status: int, body: bytes, ctx: _Context) -> Any:
    doc = _load_json(body)
    if doc is _NOT_JSON:
        raise _not_json(status, body, ctx)
    request = ctx.request
    if isinstance(doc, dict):
        if (
            _ok(status)
            and request is not None
            and request.kind == "oauth"
            and "access_token" in doc
        ):
            return doc  # token responses are never wrapped (§2.2)
        problem = _problem_in(doc, status)
        if problem is None:
            # An envelope gives its data; a bare object (some recorded bodies) is the data.
            return doc["data"] if "data" in doc else doc
        raise _classify(problem, ctx)
    if _ok(status):
        raise BadResponse(
            f"expected a JSON object, got {type(doc).__name__}",
            status=status,
            request=request.path if request else None,
            ratelimits=ctx.limits,
        )
    raise _classify(_Problem(status, f"HTTP {status}"), ctx)


def decipher_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    request: Request[Any] | None = None,
    *,
    now: datetime | None = None,
) -> tuple[Any, RateLimits]:
    """``(data, ratelimits)`` of a successful response, or raise the matching ``ImgurError``
    (which carries the ``ratelimits`` too): the headers are read here, once.

    For OAuth token calls the unwrapped token object is the data. ``now`` turns relative
    reset headers into absolute times.
    """
    moment = now or datetime.now(UTC)
    limits = RateLimits.from_headers(headers, moment)
    try:
        return _decipher(status, body, _Context(headers, limits, request, moment)), limits
    except ImgurError:
        raise
    except Exception as exc:  # the contract: nothing but an ImgurError leaves this function
        raise BadResponse(
            f"could not read the response ({type(exc).__name__})",
            status=status if isinstance(status, int) else 0,
            request=request.path if request else None,
            ratelimits=limits,
        ) from exc
