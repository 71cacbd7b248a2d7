"""The sandbox's web server: the page, its JSON API, a WebSocket of live events, and proxies.

Everything the page shows comes from the running parts: the fake Discord's event feed (each
message as it is created, edited or deleted, each request the bot sent it), the bot's
``Activity`` (each Imgur call with its credits and the cache/ledger verdict) and the ledger
(credits left). Links in the bot's messages point at the emulator and at the fake Discord's
CDN on ports of their own; the page gets them through ``/emu/`` and ``/cdn/`` here, so one
port is all a browser (or ``docker run -p``) needs.

Who may drive it. The server listens on 127.0.0.1 unless told otherwise; then, as for the
emulator's admin API, a request must name a loopback ``Host`` (a foreign page reaching it
through DNS rebinding cannot), and every write must be JSON or carry ``X-Sandbox: 1``, which
a cross-origin form cannot send without a preflight this server never answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from dataclasses import asdict
from importlib import resources
from typing import Any

import aiohttp
from aiohttp import web

from bot.activity import ImgurCall
from bot.sandbox.world import DISCORD_429_ROUTES, IMGUR_FAULTS, PERMISSIONS, Refused, Sandbox
from fakes.discord.feed import Event
from fakes.imgur.admin import is_loopback_host

log = logging.getLogger(__name__)

SANDBOX_KEY = web.AppKey("sandbox", Sandbox)
HUB_KEY: web.AppKey[Hub] = web.AppKey("hub")
SESSION_KEY = web.AppKey("session", aiohttp.ClientSession)
STATIC = resources.files("bot.sandbox") / "static"
CONTENT_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
SIDE_BACKLOG = 300  # side-panel events a page opened later still sees
MAX_UPLOAD = 30 * 1024 * 1024  # bytes; Discord's own limit for a bot is 25 MiB (+ headroom)


class Hub:
    """Fans events out to every open page; remembers the recent side-panel ones."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.queues: set[asyncio.Queue[str]] = set()
        self.side: deque[dict[str, Any]] = deque(maxlen=SIDE_BACKLOG)
        self._tasks: set[asyncio.Task[None]] = set()
        self._stops: list[Any] = []

    def start(self) -> None:
        sb = self.sandbox
        self._stops.append(sb.fd.subscribe(self._discord_event, backlog=5000))
        self._stops.append(sb.bot.imgur.activity.watch(self._imgur_call))

    async def close(self) -> None:
        for stop in self._stops:
            stop()
        for task in list(self._tasks):
            task.cancel()
        for queue in list(self.queues):
            queue.put_nowait("")  # tells the writer to end

    def publish(self, event: dict[str, Any], *, side: bool = False) -> None:
        if side:
            self.side.append(event)
        text = json.dumps(event)
        for queue in list(self.queues):
            queue.put_nowait(text)

    def later(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- sources -----------------------------------------------------------------------------

    def _imgur_call(self, call: ImgurCall) -> None:
        data = asdict(call)
        data["at"] = call.at.isoformat()
        data["what"] = data.pop("kind")  # the call's kind; "kind" is the event's
        who = self.sandbox.fd.world.users.get(str(call.user_id)) if call.user_id else None
        data["user"] = who.username if who else None
        self.publish({"kind": "imgur", **data}, side=True)
        self.later(self.publish_credits())
        self.publish_faults()  # a fault for the next N calls may have been spent

    async def _discord_event(self, event: Event) -> None:
        data = event.data
        if event.kind == "message":
            message = self.sandbox.fd.world.messages.get(data["id"])
            if message is not None:
                self.publish({"kind": "message", "message": self.sandbox_message(message)})
        elif event.kind == "request":
            self.publish({"kind": "discord", "at": event.at, **data}, side=True)
            if data.get("status") == 429:
                self.publish_faults()
        elif event.kind == "interaction":
            self.publish({"kind": "interaction", "at": event.at, **data}, side=True)
        elif event.kind == "gateway":
            self.publish({"kind": "gateway", "at": event.at, **data}, side=True)

    async def publish_credits(self) -> None:
        self.publish({"kind": "credits", **await self.sandbox.credits()})

    def publish_faults(self) -> None:
        self.publish({"kind": "faults", **self.sandbox.faults()})

    # -- what a message looks like to the page ----------------------------------------------

    def sandbox_message(self, message) -> dict[str, Any]:
        world = self.sandbox.fd.world
        data = message.payload()
        record = world.interactions.get(message.interaction_id or "")
        data["visible_to"] = record.user.id if message.ephemeral and record else None
        data["command"] = record.label if record and record.label.startswith("/") else None
        data["deleted"] = message.deleted
        data["edits"] = len(message.history)
        return json.loads(self.local_links(json.dumps(data)))

    def local_links(self, text: str) -> str:
        """The emulator's and the CDN's addresses as this server's proxies."""
        sb = self.sandbox
        text = text.replace(sb.fd.cdn_url, "/cdn")
        for base in {sb.emu.base_url, sb.emu.public_url}:
            text = text.replace(base, "/emu")
        return text

    async def hello(self) -> dict[str, Any]:
        sb = self.sandbox
        people = [
            {
                "id": user.id,
                "name": user.username,
                "role": role,
                "dm": sb.fd.dm_channel(user).id,
            }
            for user, role in sb.people.all()
        ]
        channels = [
            {"id": c.id, "name": c.name, "nsfw": c.nsfw, "topic": c.topic}
            for c in (sb.general, sb.after_dark)
        ]
        messages = [
            self.sandbox_message(m) for m in list(sb.fd.world.messages.values()) if not m.deleted
        ]
        return {
            "kind": "hello",
            "bot": {"id": sb.fd.bot_user.id, "name": sb.fd.bot_user.username},
            "guild": {"id": sb.guild.id, "name": sb.guild.name},
            "people": people,
            "channels": channels,
            "messages": messages,
            "side": list(self.side),
            "credits": await sb.credits(),
            "clock": sb.now(),
            "faults": sb.faults(),
            "fault_choices": {
                "imgur": list(IMGUR_FAULTS),
                "discord_429": list(DISCORD_429_ROUTES),
                "permissions": list(PERMISSIONS),
            },
            "started_in_s": sb.started_in_s,
        }


# -- guards --------------------------------------------------------------------------------


def make_guard(loopback_only: bool):
    @web.middleware
    async def guard(request: web.Request, handler):
        if loopback_only and not is_loopback_host(request.headers.get("Host")):
            return web.Response(
                status=403, text="the sandbox answers only at 127.0.0.1 or localhost"
            )
        if request.method not in ("GET", "HEAD") and not (
            request.content_type == "application/json" or request.headers.get("X-Sandbox") == "1"
        ):
            return web.Response(status=415, text="send JSON (Content-Type: application/json)")
        try:
            return await handler(request)
        except Refused as exc:
            return web.json_response({"error": str(exc)}, status=400)

    return guard


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise Refused("the body must be JSON") from None
    if not isinstance(body, dict):
        raise Refused("the body must be a JSON object")
    return body


def _sb(request: web.Request) -> Sandbox:
    return request.app[SANDBOX_KEY]


def _hub(request: web.Request) -> Hub:
    return request.app[HUB_KEY]


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise Refused(f"{key!r} is missing")
    return value


# -- the page --------------------------------------------------------------------------------


async def index(request: web.Request) -> web.Response:
    return web.Response(text=(STATIC / "index.html").read_text("utf-8"), content_type="text/html")


async def static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
    if "/" in name or name.startswith(".") or suffix not in CONTENT_TYPES:
        raise web.HTTPNotFound()
    resource = STATIC / name
    if not resource.is_file():
        raise web.HTTPNotFound()
    return web.Response(
        body=resource.read_bytes(),
        content_type=CONTENT_TYPES[suffix],
        headers={"Cache-Control": "no-cache"},
    )


async def events(request: web.Request) -> web.WebSocketResponse:
    hub = _hub(request)
    ws = web.WebSocketResponse(heartbeat=20)
    await ws.prepare(request)
    queue: asyncio.Queue[str] = asyncio.Queue()
    await ws.send_str(json.dumps(await hub.hello()))
    hub.queues.add(queue)

    async def writer() -> None:
        while True:
            text = await queue.get()
            if not text:
                await ws.close()
                return
            await ws.send_str(text)

    task = asyncio.create_task(writer())
    try:
        async for _ in ws:  # the page sends nothing; reading notices it going away
            pass
    finally:
        hub.queues.discard(queue)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await task
    return ws


async def commands(request: web.Request) -> web.Response:
    sb = _sb(request)
    user = sb.user(request.query.get("user", ""))
    channel = sb.channel(request.query.get("channel", ""), user)
    return web.json_response(
        {
            "commands": sb.commands(user, channel),
            "permissions": str(sb.member_permissions(user, channel)),
        }
    )


def _command(body: dict[str, Any]) -> tuple[str, str, str, list[str]]:
    """Who runs which command where: ``user``, ``channel``, ``name`` and ``path``."""
    path = body.get("path") or []
    if not isinstance(path, list):
        raise Refused("'path' must be a list of subcommand names")
    return _text(body, "user"), _text(body, "channel"), _text(body, "name"), [str(p) for p in path]


def _options(body: dict[str, Any]) -> dict[str, Any]:
    options = body.get("options") or {}
    if not isinstance(options, dict):
        raise Refused("'options' must be an object of option names and values")
    return options


async def slash(request: web.Request) -> web.Response:
    body = await _body(request)
    record = await _sb(request).slash(*_command(body), _options(body))
    return web.json_response({"interaction": record})


async def autocomplete(request: web.Request) -> web.Response:
    body = await _body(request)
    focused, value = _text(body, "focused"), str(body.get("value") or "")
    choices = await _sb(request).autocomplete(*_command(body), focused, value, _options(body))
    return web.json_response({"choices": choices})


async def click(request: web.Request) -> web.Response:
    body = await _body(request)
    values = body.get("values")
    record = await _sb(request).click(
        _text(body, "user"), _text(body, "message"), _text(body, "custom_id"), values
    )
    return web.json_response({"interaction": record})


async def menu(request: web.Request) -> web.Response:
    body = await _body(request)
    record = await _sb(request).message_command(
        _text(body, "user"), _text(body, "message"), _text(body, "name")
    )
    return web.json_response({"interaction": record})


async def attach(request: web.Request) -> web.Response:
    reader = await request.multipart()
    part = await reader.next()
    if part is None or not isinstance(part, aiohttp.BodyPartReader) or not part.filename:
        raise Refused("send one file as multipart form data")
    data = bytearray()
    while chunk := await part.read_chunk(1 << 16):
        data.extend(chunk)
        if len(data) > MAX_UPLOAD:
            raise Refused(f"files up to {MAX_UPLOAD // (1024 * 1024)} MB, please")
    content_type = part.headers.get("Content-Type", "application/octet-stream")
    file = _sb(request).attach(part.filename, bytes(data), content_type)
    return web.json_response(
        {"id": file.id, "filename": file.filename, "size": len(data), "type": content_type}
    )


async def post(request: web.Request) -> web.Response:
    body = await _body(request)
    message = await _sb(request).post(
        _text(body, "user"),
        _text(body, "channel"),
        str(body.get("content") or ""),
        [str(a) for a in body.get("attachments") or []],
    )
    return web.json_response({"message": message.id})


async def skip(request: web.Request) -> web.Response:
    body = await _body(request)
    seconds = body.get("seconds")
    if seconds is not None and not isinstance(seconds, int | float):
        raise Refused("seconds must be a number (or null: to the next highlights run)")
    hub = _hub(request)
    outcome = await _sb(request).skip(None if seconds is None else float(seconds))
    hub.publish({"kind": "clock", **_sb(request).now()})
    hub.later(hub.publish_credits())
    return web.json_response(outcome)


async def imgur_fault(request: web.Request) -> web.Response:
    body = await _body(request)
    times = body.get("times")
    if times is not None and (not isinstance(times, int) or times < 1):
        raise Refused("times must be a whole number from 1, or null (until cleared)")
    fault = _sb(request).imgur_fault(_text(body, "label"), times)
    _hub(request).publish_faults()
    return web.json_response(fault)


async def clear_imgur_faults(request: web.Request) -> web.Response:
    _sb(request).clear_imgur_faults()
    _hub(request).publish_faults()
    return web.json_response({})


async def discord_429(request: web.Request) -> web.Response:
    body = await _body(request)
    count, retry_after = body.get("count", 1), body.get("retry_after", 2.0)
    if not isinstance(count, int) or not 1 <= count <= 100:
        raise Refused("count must be a whole number from 1 to 100")
    if not isinstance(retry_after, int | float) or not 0 < retry_after <= 60:
        raise Refused("retry_after must be between 0 and 60 seconds")
    _sb(request).discord_429(_text(body, "route"), count, float(retry_after))
    _hub(request).publish_faults()
    return web.json_response({})


async def permission(request: web.Request) -> web.Response:
    body = await _body(request)
    _sb(request).take_permission(
        _text(body, "channel"), _text(body, "permission"), bool(body.get("taken"))
    )
    _hub(request).publish_faults()
    return web.json_response({})


# -- the proxies ---------------------------------------------------------------------------

PASSED_HEADERS = (
    "Content-Type",
    "Content-Length",
    "Content-Encoding",
    "Content-Range",
    "Accept-Ranges",
)


def _proxy(target: str):
    async def handler(request: web.Request) -> web.StreamResponse:
        sb = _sb(request)
        base = sb.emu.base_url if target == "emu" else sb.fd.cdn_url
        tail = request.match_info["tail"]
        if tail.startswith("_") or ".." in tail:  # media only: not the emulator's admin API
            raise web.HTTPNotFound()
        url = f"{base}/{tail}"
        if request.query_string:
            url += "?" + request.query_string
        headers = {k: v for k, v in request.headers.items() if k in ("Range",)}
        session: aiohttp.ClientSession = request.app[SESSION_KEY]
        async with session.get(url, headers=headers, allow_redirects=False) as upstream:
            response = web.StreamResponse(status=upstream.status)
            for key in PASSED_HEADERS:
                if key in upstream.headers:
                    response.headers[key] = upstream.headers[key]
            if "Location" in upstream.headers:
                response.headers["Location"] = _hub(request).local_links(
                    upstream.headers["Location"]
                )
            await response.prepare(request)
            async for chunk in upstream.content.iter_chunked(1 << 16):
                await response.write(chunk)
            await response.write_eof()
            return response

    return handler


def build_app(sandbox: Sandbox, *, loopback_only: bool = True) -> web.Application:
    app = web.Application(middlewares=[make_guard(loopback_only)], client_max_size=MAX_UPLOAD)
    hub = Hub(sandbox)
    app[SANDBOX_KEY] = sandbox
    app[HUB_KEY] = hub

    async def lifetime(app: web.Application):
        app[SESSION_KEY] = aiohttp.ClientSession(auto_decompress=False)
        hub.start()
        yield
        await app[SESSION_KEY].close()

    async def close_pages(app: web.Application) -> None:
        await hub.close()  # ends every open page's WebSocket, so stopping waits for none

    app.cleanup_ctx.append(lifetime)
    app.on_shutdown.append(close_pages)
    app.router.add_get("/", index)
    app.router.add_get("/static/{name}", static)
    app.router.add_get("/ws", events)
    app.router.add_get("/api/commands", commands)
    app.router.add_post("/api/slash", slash)
    app.router.add_post("/api/autocomplete", autocomplete)
    app.router.add_post("/api/click", click)
    app.router.add_post("/api/menu", menu)
    app.router.add_post("/api/attach", attach)
    app.router.add_post("/api/post", post)
    app.router.add_post("/api/skip", skip)
    app.router.add_post("/api/faults/imgur", imgur_fault)
    app.router.add_delete("/api/faults/imgur", clear_imgur_faults)
    app.router.add_post("/api/faults/discord429", discord_429)
    app.router.add_post("/api/faults/permission", permission)
    app.router.add_get("/emu/{tail:.*}", _proxy("emu"))
    app.router.add_get("/cdn/{tail:.*}", _proxy("cdn"))
    return app
