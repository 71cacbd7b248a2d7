"""One request's path through the emulator.

faults (latency, replaced answers) -> auth -> accounting (429 or charge) -> route ->
envelope -> rate-limit headers -> header/body faults -> stats.

The API lives under ``/3/`` and ``/oauth2/``; every other path is the image host and the
web pages behind ``link`` values (``/{id}.{ext}``, ``/a/{id}``, ``/gallery/{id}``).
"""

from __future__ import annotations

import asyncio
import hashlib

from aiohttp import web

from fakes.imgur.accounting import Caller, Verdict
from fakes.imgur.faults import BODY, REPLACING, Fault
from fakes.imgur.media import CONTENT_TYPES, split_name
from fakes.imgur.oauth import AccessToken
from fakes.imgur.render import Page, dumps
from fakes.imgur.responses import (
    BASE_HEADERS,
    ApiError,
    RawResponse,
    api_error_response,
    envelope,
    error_body,
    html_404,
    html_503,
    html_page,
    json_response,
    layer_error,
    mashape_error,
    object_error,
)
from fakes.imgur.routes_content import resolve
from fakes.imgur.state import Call, State

STATE_KEY = web.AppKey("imgur_emulator_state", State)
RAPIDAPI_HEADERS = ("X-RapidAPI-Key", "X-Mashape-Key")
OVER_CAPACITY = "Imgur is temporarily over capacity. Please try again later."
INVALID_TOKEN = "The access token provided is invalid."


async def handle(request: web.Request) -> web.StreamResponse:
    """The catch-all handler: everything but ``/_emulator`` comes through here."""
    state = request.app[STATE_KEY]
    path = request.path
    is_api = path.startswith(("/3/", "/oauth2/")) or path == "/3"
    faults = state.faults.take(request.method, path)
    for fault in faults:
        state.stats.faults_applied[fault.kind] += 1
    delay = sum(float(f.params.get("seconds", 0.5)) for f in faults if f.kind == "latency")
    if is_api:
        delay += state.config.latency
    if delay <= 0:
        return await _answer(request, state, faults, is_api)
    # Imgur finishes (and charges) a slow request even when its client has given up, but
    # a server may cancel the handler of a closed connection (aiohttp's
    # handler_cancellation): the delayed work therefore runs in a task of its own, which
    # outlives a cancelled handler. The sleep is the only wait before the charge.
    work = asyncio.ensure_future(_answer_later(delay, request, state, faults, is_api))
    state.in_flight.add(work)  # a strong reference while it runs unawaited
    work.add_done_callback(state.in_flight.discard)
    work.add_done_callback(_quietly)
    return await asyncio.shield(work)


async def _answer_later(
    delay: float, request: web.Request, state: State, faults: list[Fault], is_api: bool
) -> web.StreamResponse:
    await asyncio.sleep(delay)
    return await _answer(request, state, faults, is_api)


def _quietly(work: asyncio.Future) -> None:
    """Mark a failure as seen: when the client has gone, nobody else will look at it."""
    if not work.cancelled():
        work.exception()


async def _answer(
    request: web.Request, state: State, faults: list[Fault], is_api: bool
) -> web.StreamResponse:
    path = request.path
    replacing = next((f for f in faults if f.kind in REPLACING), None)
    if replacing is not None and replacing.kind == "connection_reset":
        return _reset_connection(request, state)
    if replacing is not None:
        response = _replaced_answer(request, state, replacing)
    elif is_api and request.method == "OPTIONS":
        # CORS preflight: answered without credentials and without a charge.
        response = web.Response(status=200, headers=BASE_HEADERS)
    elif path.startswith("/oauth2/"):
        response = await _oauth(request, state)
    elif is_api:
        response = await _api(request, state, faults)
    else:
        state.stats.media_requests += 1
        response = await _web(request, state)

    if is_api:
        state.stats.requests += 1
        state.stats.by_status[response.status] += 1
        if response.status == 429:
            state.stats.rate_limited += 1
    body_fault = next((f for f in faults if f.kind in BODY), None)
    if body_fault is not None and isinstance(response, web.Response):
        _spoil_body(response, body_fault.kind)
    return response


# -- faults ---------------------------------------------------------------------------------


def _replaced_answer(request: web.Request, state: State, fault: Fault) -> web.Response:
    path, method = request.path, request.method
    kind = fault.kind
    if kind == "html_404":
        return html_404()
    if kind == "html_503":
        return html_503()
    if kind == "error_500":
        error = object_error(500, "Could not complete request")
        return json_response(error_body(error, path, method, 500), 500)
    if kind == "over_capacity_403":
        return json_response(error_body(OVER_CAPACITY, path, method, 403), 403)
    if kind == "over_capacity_1203":
        body = error_body("Imgur is over capacity. Please try again.", path, method, 1203)
        return json_response(body, 500)
    if kind == "token_invalid_403":
        return json_response(error_body(INVALID_TOKEN, path, method, 403), 403)
    # rate_limited_429 and rate_limited_429_spent
    scope = fault.params.get("scope", "client")
    response = _too_many(state, request, Verdict(scope, 0, 3600))
    who = _authenticate(request, state)
    if kind == "rate_limited_429_spent" and isinstance(who, tuple):
        response.headers.update(_rate_headers(state, who[0], request.method, [], spent=scope))
    return response


def _reset_connection(request: web.Request, state: State) -> web.Response:
    """Drop the TCP connection: the client sees a reset / disconnect, no answer."""
    if request.path.startswith(("/3/", "/oauth2/")):
        state.stats.requests += 1
    if request.transport is not None:
        request.transport.abort()
    # aiohttp finds the transport closed and quietly skips sending this.
    return web.Response(status=500)


def _spoil_body(response: web.Response, kind: str) -> None:
    body = response.body if isinstance(response.body, bytes) else b""
    if kind == "truncated_json":
        response.body = body[: max(1, len(body) // 2)]
    elif kind == "invalid_json":
        # Literally what a recorded cache error looked like (imgur-api.md §4.2).
        response.body = b"\r\n <xml"
    else:
        response.body = b""
        response.set_status(200)


# -- auth -----------------------------------------------------------------------------------


def _client_ip(request: web.Request, state: State) -> str:
    if state.config.trust_forwarded_for:
        forwarded = request.headers.get("X-Forwarded-For", "")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.remote or "unknown"


def _authenticate(
    request: web.Request, state: State
) -> tuple[Caller, AccessToken | None] | ApiError | web.Response:
    """Who is calling: a Caller (+ token for Bearer), or the error answer to send."""
    config = state.config
    commercial = False
    key = next((request.headers[h] for h in RAPIDAPI_HEADERS if h in request.headers), None)
    if key is not None:
        if not config.rapidapi_key or key != config.rapidapi_key:
            return mashape_error(
                "Invalid API key. Go to https://docs.rapidapi.com/docs/keys for more info."
            )
        commercial = True
    header = request.headers.get("Authorization", "").strip()
    scheme, _, credential = header.partition(" ")
    credential = credential.strip()
    ip = _client_ip(request, state)
    if scheme.lower() == "client-id" and credential:
        accepted = config.accepted_client_ids
        if accepted is not None and credential not in accepted:
            return ApiError(403, "Invalid client_id")
        return Caller(credential, ip, commercial), None
    if scheme.lower() == "bearer" and credential:
        token = state.tokens.check(credential)
        if token is None:
            return ApiError(403, INVALID_TOKEN)
        client_id = token.client_id or f"oauth:{token.username}"
        return Caller(client_id, ip, commercial), token
    return ApiError(401, "Authentication required")


# -- the API --------------------------------------------------------------------------------


def _segments(path: str) -> list[str]:
    tail = path[len("/3/") :] if path.startswith("/3/") else ""
    if tail.endswith(".json"):
        tail = tail[: -len(".json")]
    return [s for s in tail.split("/") if s]


def _too_many(state: State, request: web.Request, verdict: Verdict) -> web.Response:
    state.stats.rate_limited_by_scope[verdict.refused] += 1
    path, method = request.path, request.method
    if verdict.refused == "upload":
        minutes = max(1, -(-verdict.wait_seconds // 60))
        error = {
            "code": 429,
            "message": f"You are uploading too fast. Please wait {minutes} more minutes.",
            "type": "ImgurException",
            "exception": [],
        }
        return json_response(error_body(error, path, method, 429), 429)
    if state.config.rate_limit_429_shape == "errors":
        return layer_error(429, "Too Many Requests", "Too Many Requests")
    message = {
        "client": "Daily client requests exceeded",
        "user": "User request limit exceeded",
        "post": "POST request limit exceeded",
    }.get(verdict.refused or "client", "Too Many Requests")
    return json_response(error_body(message, path, method, 429), 429)


def _rate_headers(
    state: State, caller: Caller, method: str, faults: list[Fault], spent: str | None = None
) -> dict:
    kinds = {f.kind for f in faults}
    if "missing_rate_headers" in kinds:
        return {}
    mode = state.config.user_reset_mode
    if "user_reset_epoch" in kinds:
        mode = "epoch"
    elif "user_reset_relative" in kinds:
        mode = "relative"
    return state.accounting.headers(
        caller,
        is_post=method == "POST",
        user_reset_mode=mode,
        style=state.config.rate_header_style,
        spent=spent,
    )


async def _api(request: web.Request, state: State, faults: list[Fault]) -> web.Response:
    path, method = request.path, request.method
    who = _authenticate(request, state)
    if isinstance(who, web.Response):
        return who
    if isinstance(who, ApiError):
        return api_error_response(who, path, method)
    caller, token = who
    route = resolve(method, _segments(path))
    if route is not None and route.auth == "user" and token is None:
        return api_error_response(ApiError(401, "Authentication required"), path, method)

    stats = state.stats
    stats.api_calls += 1
    stats.by_route[route.name if route else "unknown"] += 1
    stats.by_path[path] += 1
    is_upload = route is not None and route.upload
    verdict = state.accounting.admit(caller, is_post=method == "POST", is_upload=is_upload)
    if verdict.refused is not None:
        response = _too_many(state, request, verdict)
        response.headers.update(_rate_headers(state, caller, method, faults))
        return response
    stats.credits_charged += verdict.cost
    stats.by_client[caller.client_id] += verdict.cost

    if route is None:
        response = api_error_response(ApiError(404, "Not found"), path, method)
    else:
        call = Call(
            request,
            state,
            method,
            path,
            _segments(path),
            state.renderer(state.public_base(request)),
            caller,
            token,
        )
        response = await _run_route(call, route.handler)
        if is_upload:
            if response.status == 200:
                stats.uploads += 1
            else:
                state.accounting.refund_upload(caller)
    response.headers.update(_rate_headers(state, caller, method, faults))
    if method == "GET" and response.status == 200:
        response = _with_etag(request, response)
    if request.query.get("_fake_status", "").lower() in ("1", "true") and response.status > 200:
        # Old global parameter: HTTP 200 always, the real status stays in the body (§1).
        response.set_status(200)
    return response


async def _run_route(call: Call, handler) -> web.Response:
    try:
        reply = await handler(call)
    except ApiError as exc:
        return api_error_response(exc, call.path, call.method)
    except RawResponse as raw:
        return raw.response
    if isinstance(reply.body, Page):
        # A cached page: encoded and hashed once, whoever asks for it again.
        response = json_response(reply.body.body, reply.status)
        if call.method == "GET":
            response.headers["ETag"] = reply.body.etag
        return response
    body = reply.body if reply.body is not None else envelope(reply.data, reply.status)
    return json_response(body, reply.status)


def _with_etag(request: web.Request, response: web.Response) -> web.Response:
    """Weak ETag on GETs; a matching If-None-Match gets 304 (still charged, §1)."""
    etag = response.headers.get("ETag")
    if etag is None:
        body = response.body if isinstance(response.body, bytes) else b""
        etag = 'W/"' + hashlib.sha1(body, usedforsecurity=False).hexdigest() + '"'
    if request.headers.get("If-None-Match") == etag:
        not_modified = web.Response(status=304, headers=response.headers)
        not_modified.headers.pop("Content-Type", None)
        not_modified.headers.pop("Content-Length", None)
        not_modified.headers["ETag"] = etag
        return not_modified
    response.headers["ETag"] = etag
    return response


# -- OAuth ----------------------------------------------------------------------------------


async def _oauth(request: web.Request, state: State) -> web.Response:
    path, method = request.path, request.method
    state.stats.api_calls += 1
    state.stats.by_route["oauth.token"] += 1
    state.stats.by_path[path] += 1
    if path.rstrip("/") != "/oauth2/token" or method != "POST":
        return api_error_response(ApiError(404, "Not found"), path, method)
    form = (
        await request.post() if request.content_type != "application/json" else await request.json()
    )
    grant = str(form.get("grant_type", ""))
    client_id = str(form.get("client_id", ""))
    accepted = state.config.accepted_client_ids
    if not client_id or (accepted is not None and client_id not in accepted):
        return api_error_response(ApiError(400, "Invalid client_id"), path, method)
    if grant == "refresh_token":
        refresh = str(form.get("refresh_token", ""))
        username = state.tokens.username_for_refresh(refresh)
        if username is None:
            return api_error_response(ApiError(400, "Invalid refresh token"), path, method)
        grant_body = state.tokens.issue(username, client_id, refresh).as_json()
    elif grant in ("pin", "authorization_code") and (form.get("pin") or form.get("code")):
        grant_body = state.tokens.issue(state.config.oauth_username, client_id).as_json()
    else:
        error = "Invalid grant_type parameter or parameter missing"
        return api_error_response(ApiError(400, error), path, method)
    return json_response(dumps(grant_body))


# -- the image host and web pages ----------------------------------------------------------------


async def _web(request: web.Request, state: State) -> web.StreamResponse:
    path = request.path.lstrip("/")
    base = state.public_base(request)
    if path == "removed.png":
        return web.Response(body=state.media.removed, content_type="image/png")
    if "." in path and "/" not in path:
        name, _, ext = path.partition(".")
        ext = ext.lower()
        found = split_name(name, state.catalogue)
        if found is None or ext not in CONTENT_TYPES:
            raise web.HTTPFound("/removed.png")
        image, suffix = found
        data = await state.media.get(image, suffix, ext, base)
        return web.Response(
            body=data,
            headers={
                "Content-Type": CONTENT_TYPES[ext],
                "Cache-Control": "public, max-age=31536000",
                "Access-Control-Allow-Origin": "*",
            },
        )
    parts = path.split("/")
    if path == "":
        return html_page(200, "Imgur emulator", "The API is under /3/.")
    target = None
    if len(parts) == 2 and parts[0] in ("a", "gallery"):
        target = parts[1]
    elif len(parts) == 1:
        target = parts[0]
    if target is None:
        return html_404()
    return _item_page(state, base, target) or html_404()


def _item_page(state: State, base: str, item_id: str) -> web.Response | None:
    """A page with Open Graph tags, so link unfurlers find a picture."""
    catalogue = state.catalogue
    record = catalogue.albums.get(item_id) or catalogue.images.get(item_id)
    if record is None:
        return None
    if record.is_album:
        cover = catalogue.images.get(record.cover or "")
        picture = f"{base}/{cover.id}.{cover.ext}" if cover else f"{base}/removed.png"
    else:
        picture = f"{base}/{record.id}.{record.ext}"
    title = (record.title or "Imgur").replace("<", "&lt;").replace("'", "&#39;")
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<meta property='og:title' content='{title}'>"
        f"<meta property='og:image' content='{picture}'><title>{title}</title></head>"
        f"<body><h1>{title}</h1><img src='{picture}' alt=''></body></html>"
    )
    return web.Response(text=page, content_type="text/html")
