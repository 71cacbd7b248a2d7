"""The admin HTTP API under ``/_emulator`` (never faulted, never charged).

=========================================  ====================================================
``GET    /_emulator/stats``                calls by route/path, credits (``by_client``: per
                                           Client-ID; ``credits_by_day``: per Client-ID and
                                           daily window), 429s, faults applied
``GET    /_emulator/faults``               active faults
``POST   /_emulator/faults``               add one: ``{"kind", "path_prefix"?, "times"?,
                                           "method"?, "params"?}`` -> the fault (with ``id``)
``DELETE /_emulator/faults[/{id}]``        clear all faults, or one
``POST   /_emulator/reset``                fresh catalogue, counters, faults and tokens
``POST   /_emulator/expire_tokens``        every issued access token now gets a 403
``POST   /_emulator/tokens``               issue a token: ``{"username"?, "client_id"?}``
``GET    /_emulator/settings``             the switchable settings
``POST   /_emulator/settings``             change them (429 shape, UserReset mode, limits...)
``POST   /_emulator/clock``                ``{"advance": seconds}`` on a clock that can advance
``GET    /_emulator/catalogue``            counts and sample ids/tags for tests and demos
=========================================  ====================================================

Who may use it. Any web page a developer opens could otherwise drive it from their browser
(a form POST needs no CORS preflight, and DNS rebinding points a foreign name at
127.0.0.1), so every admin request must pass ``admin_refusal``:

- with no admin token configured, the ``Host`` header must name loopback (``127.0.0.1``,
  ``localhost`` or ``[::1]``, any port): a page on another origin cannot send that;
- with ``EmulatorConfig.admin_token`` set, every admin request must present the token
  (``Authorization: Bearer <token>`` or ``X-Emulator-Admin-Token: <token>``), and then
  any ``Host`` is fine: that is how a sandbox on another machine or container drives it;
- every write (POST, PUT, PATCH, DELETE) must be ``Content-Type: application/json``,
  which a browser will not send cross-origin without a preflight the emulator refuses.
"""

from __future__ import annotations

import hmac
from typing import Any

from aiohttp import web
from yarl import URL

from fakes.imgur.faults import ADMIN_PREFIX, UnknownFault
from fakes.imgur.pipeline import STATE_KEY
from fakes.imgur.state import State

# Settings that may change while the emulator runs, with their types.
SETTINGS: dict[str, type] = {
    "rate_limit_429_shape": str,
    "user_reset_mode": str,
    "rate_header_style": str,
    "client_daily_limit": int,
    "user_hourly_limit": int,
    "post_hourly_limit": int,
    "upload_hourly_limit": int,
    "latency": float,
    "oversize_mode": str,
    "user_show_mature": bool,
}
CHOICES = {
    "rate_limit_429_shape": ("classic", "errors"),
    "user_reset_mode": ("relative", "epoch"),
    "rate_header_style": ("modern", "2017"),
    "oversize_mode": ("classic", "413"),
}


LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TOKEN_HEADER = "X-Emulator-Admin-Token"


def is_loopback_host(host_header: str | None) -> bool:
    """``127.0.0.1``, ``localhost`` or ``[::1]``, with or without a port."""
    if not host_header:
        return False
    try:
        host = URL(f"http://{host_header.strip()}").host
    except ValueError:
        return False
    return host is not None and host.lower().rstrip(".") in LOOPBACK_NAMES


def _presented_token(request: web.Request) -> str | None:
    direct = request.headers.get(TOKEN_HEADER)
    if direct:
        return direct.strip()
    scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
    return credential.strip() if scheme.lower() == "bearer" and credential.strip() else None


def admin_refusal(request: web.Request, admin_token: str | None) -> web.Response | None:
    """The answer refusing this admin request, or None when it may go ahead."""
    if admin_token:
        presented = _presented_token(request) or ""
        if not hmac.compare_digest(presented.encode(), admin_token.encode()):
            return web.Response(
                status=401,
                text=(
                    "the emulator's admin API needs its admin token: send "
                    f"'Authorization: Bearer <token>' or '{TOKEN_HEADER}: <token>'"
                ),
                headers={"WWW-Authenticate": 'Bearer realm="imgur-emulator-admin"'},
            )
    elif not is_loopback_host(request.headers.get("Host")):
        return web.Response(
            status=403,
            text=(
                "the emulator's admin API answers only requests addressed to 127.0.0.1, "
                "localhost or [::1]; to reach it from elsewhere start the emulator with an "
                "admin token (--admin-token or IMGUR_EMULATOR_ADMIN_TOKEN) and send it"
            ),
        )
    if request.method not in SAFE_METHODS and request.content_type != "application/json":
        return web.Response(
            status=415,
            text="admin writes must be sent as JSON: set 'Content-Type: application/json'",
        )
    return None


@web.middleware
async def admin_guard(request: web.Request, handler):
    """Apply ``admin_refusal`` to everything under ``/_emulator``; the API is untouched."""
    if request.path.startswith(ADMIN_PREFIX):
        refusal = admin_refusal(request, request.app[STATE_KEY].config.admin_token)
        if refusal is not None:
            return refusal
    return await handler(request)


def _state(request: web.Request) -> State:
    return request.app[STATE_KEY]


async def _json_body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except ValueError as exc:
        raise web.HTTPBadRequest(text="body must be JSON") from exc
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="body must be a JSON object")
    return body


async def stats(request: web.Request) -> web.Response:
    state = _state(request)
    return web.json_response(
        {**state.stats.snapshot(), "credits_by_day": state.accounting.charged_by_day()}
    )


async def list_faults(request: web.Request) -> web.Response:
    return web.json_response([f.as_dict() for f in _state(request).faults.active()])


async def add_fault(request: web.Request) -> web.Response:
    body = await _json_body(request)
    params = dict(body.get("params") or {})
    try:
        fault = _state(request).faults.add(
            str(body.get("kind", "")),
            path_prefix=str(body.get("path_prefix", "/")),
            times=body.get("times"),
            method=body.get("method"),
            **params,
        )
    except (UnknownFault, ValueError, TypeError) as exc:
        raise web.HTTPBadRequest(text=str(exc)) from exc
    return web.json_response(fault.as_dict(), status=201)


async def clear_faults(request: web.Request) -> web.Response:
    fault_id = request.match_info.get("fault_id")
    removed = _state(request).faults.clear(int(fault_id) if fault_id else None)
    return web.json_response({"removed": removed})


async def reset(request: web.Request) -> web.Response:
    _state(request).reset()
    return web.json_response({"reset": True})


async def expire_tokens(request: web.Request) -> web.Response:
    return web.json_response({"expired": _state(request).tokens.expire_all()})


async def issue_token(request: web.Request) -> web.Response:
    state = _state(request)
    body = await _json_body(request)
    grant = state.tokens.issue(
        str(body.get("username") or state.config.oauth_username), body.get("client_id")
    )
    return web.json_response(grant.as_json())


def settings_snapshot(state: State) -> dict[str, Any]:
    return {name: getattr(state.config, name) for name in SETTINGS}


async def get_settings(request: web.Request) -> web.Response:
    return web.json_response(settings_snapshot(_state(request)))


async def update_settings(request: web.Request) -> web.Response:
    state = _state(request)
    body = await _json_body(request)
    for name, value in body.items():
        kind = SETTINGS.get(name)
        if kind is None:
            raise web.HTTPBadRequest(text=f"unknown setting {name!r}")
        if name in CHOICES and value not in CHOICES[name]:
            raise web.HTTPBadRequest(text=f"{name} must be one of {CHOICES[name]}")
        setattr(state.config, name, kind(value))
    return web.json_response(settings_snapshot(state))


async def advance_clock(request: web.Request) -> web.Response:
    clock = _state(request).config.clock
    body = await _json_body(request)
    if not hasattr(clock, "advance"):
        raise web.HTTPConflict(text="the emulator runs on the system clock")
    try:
        clock.advance(float(body.get("advance", 0)))
    except (TypeError, ValueError) as exc:
        raise web.HTTPBadRequest(text=f"advance must be a number of seconds >= 0 ({exc})") from exc
    return web.json_response({"now": clock.now().isoformat()})


async def catalogue_summary(request: web.Request) -> web.Response:
    cat = _state(request).catalogue
    images = cat.gallery_images()
    return web.json_response(
        {
            "seed": cat.seed,
            "posts": len(cat.posts),
            "images": len(cat.images),
            "albums": len(cat.albums),
            "nsfw": [p.id for p in cat.nsfw_posts()[:20]],
            "sample_images": [i.id for i in images[:20]],
            "sample_albums": [a.id for a in cat.gallery_albums()[:20]],
            "animated": [i.id for i in images if i.animated][:20],
            "tags": sorted(cat.tags),
            "subreddits": sorted(cat.by_subreddit),
            "accounts": [a.url for a in list(cat.accounts.values())[:20]],
            "meme_templates": [m.id for m in cat.meme_templates],
        }
    )


def add_admin_routes(app: web.Application) -> None:
    app.middlewares.append(admin_guard)
    app.router.add_get("/_emulator/stats", stats)
    app.router.add_get("/_emulator/faults", list_faults)
    app.router.add_post("/_emulator/faults", add_fault)
    app.router.add_delete("/_emulator/faults", clear_faults)
    app.router.add_delete("/_emulator/faults/{fault_id:\\d+}", clear_faults)
    app.router.add_post("/_emulator/reset", reset)
    app.router.add_post("/_emulator/expire_tokens", expire_tokens)
    app.router.add_post("/_emulator/tokens", issue_token)
    app.router.add_get("/_emulator/settings", get_settings)
    app.router.add_post("/_emulator/settings", update_settings)
    app.router.add_post("/_emulator/clock", advance_clock)
    app.router.add_get("/_emulator/catalogue", catalogue_summary)
