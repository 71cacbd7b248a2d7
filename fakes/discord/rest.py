"""The fake REST API under ``/api/v10``: login, command sync, channels, guilds, users.

Interaction callbacks and webhooks live in ``callbacks.py``; this module also wires the
aiohttp application together with one middleware that, for every request, records it, checks
the bot token, applies rate limits and turns errors into Discord's JSON error bodies.

Routes served (everything else gets a JSON 404 and is flagged ``matched=False`` in
``world.requests`` so a test can spot an endpoint the fake lacks):

    GET  /users/@me                      GET  /users/{user_id}        POST /users/@me/channels
    GET  /oauth2/applications/@me        GET  /applications/@me
    GET  /gateway                        GET  /gateway/bot
    GET|PUT|POST /applications/{app}/commands             GET|PATCH|DELETE …/{command_id}
    GET|PUT|POST /applications/{app}/guilds/{g}/commands  GET|PATCH|DELETE …/{command_id}
    GET  /channels/{c}                   GET|POST /channels/{c}/messages
    GET|PATCH|DELETE /channels/{c}/messages/{m}           POST /channels/{c}/typing
    PUT|DELETE /channels/{c}/messages/{m}/reactions/{emoji}/@me
    GET  /guilds/{g}   GET /guilds/{g}/channels   GET /guilds/{g}/roles
    GET  /guilds/{g}/members/{u}
    POST /interactions/{id}/{token}/callback
    POST /webhooks/{app}/{token}
    GET|PATCH|DELETE /webhooks/{app}/{token}/messages/{m|@original}
"""

from __future__ import annotations

import logging
import re
from email.utils import formatdate
from typing import Any

from aiohttp import web

from . import callbacks
from .backend import BACKEND, BODY, Backend, backend_of, body_of
from .feed import redact_path
from .messages import Body, apply_body, read_body
from .models import (
    ATTACH_FILES,
    DM,
    EMBED_LINKS,
    GUILD_CREATE_ONLY,
    GUILD_TEXT,
    SEND_MESSAGES,
    VIEW_CHANNEL,
    Channel,
    Guild,
    Message,
)
from .responses import (
    INVALID_FORM_BODY,
    UNKNOWN_APPLICATION,
    UNKNOWN_APPLICATION_COMMAND,
    UNKNOWN_CHANNEL,
    UNKNOWN_GUILD,
    UNKNOWN_MESSAGE,
    UNKNOWN_USER,
    DiscordError,
    error,
    json_response,
    no_content,
    unauthorized,
    unknown,
)
from .state import RecordedRequest, World

API = "/api/v10"
log = logging.getLogger(__name__)
MISSING_ACCESS, MISSING_PERMISSIONS, NOT_AUTHOR = 50001, 50013, 50005


# -- the middleware ------------------------------------------------------------------------


def _major(match_info: dict[str, str]) -> str:
    for key in ("channel_id", "guild_id"):
        if key in match_info:
            return match_info[key]
    if "token" in match_info:
        return match_info.get("app_id", match_info.get("interaction_id", "")) + match_info["token"]
    return ""


def _is_public(path: str) -> bool:
    """Webhook and interaction endpoints authenticate by their token, not the bot's."""
    return path.startswith(("/interactions/", "/webhooks/"))


@web.middleware
async def discord_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    backend = backend_of(request)
    world = backend.world
    if not request.path.startswith(API + "/"):
        return await handler(request)  # gateway and CDN

    path = request.path[len(API) :]
    body = await read_body(request)
    request[BODY] = body
    record = RecordedRequest(
        request.method, path, dict(request.query), _redacted(request.headers), body.json
    )
    world.requests.append(record)
    route = request.match_info.route
    if request.match_info.http_exception is not None:
        record.matched = False
        status = request.match_info.http_exception.status
        response: web.StreamResponse = error(
            status, f"{status}: {request.match_info.http_exception.reason}"
        )
    elif not _is_public(path) and not _authorized(world, request):
        response = unauthorized()
    else:
        template = route.resource.canonical if route.resource else path
        decision = backend.limiter.admit(request.method, path, template, _major(request.match_info))
        record.admitted_at = decision.at
        if decision.reject is not None:
            response = decision.reject
        else:
            try:
                response = await handler(request)
            except DiscordError as exc:
                response = exc.response()
            except Exception as exc:
                # A bug in the fake: keep it visible to the test, answer as Discord would.
                log.exception("fake Discord failed on %s %s", request.method, path)
                world.server_errors.append(exc)
                response = error(500, "500: Internal Server Error")
            response.headers.update(decision.headers)
    record.status = response.status
    record.response_headers = dict(response.headers)
    world.feed.publish(
        "request",
        method=request.method,
        path=redact_path(path),
        status=response.status,
        summary=summarize_body(body.json, len(body.files)),
    )
    world.changed()
    return response


def _redacted(headers: Any) -> dict[str, str]:
    """Request headers as recorded: the token never kept (tests and the sandbox read these)."""
    kept = dict(headers)
    for key in list(kept):
        if key.lower() == "authorization":
            scheme = kept[key].split(" ", 1)[0] if " " in kept[key] else ""
            kept[key] = f"{scheme} [redacted]".strip()
    return kept


def _authorized(world: World, request: web.Request) -> bool:
    header = request.headers.get("Authorization", "")
    return header.startswith("Bot ") and world.token_valid(header.removeprefix("Bot "))


def summarize_body(data: Any, files: int = 0) -> str:
    """A short, secret-free description of a request body for the event feed."""
    parts: list[str] = []
    if isinstance(data, list):
        parts.append(f"{len(data)} items")
    elif isinstance(data, dict):
        if "type" in data and not isinstance(data.get("type"), dict):
            parts.append(f"type={data['type']}")
        inner = data.get("data") if isinstance(data.get("data"), dict) else data
        content = inner.get("content")
        if isinstance(content, str) and content:
            preview = content if len(content) <= 80 else content[:79] + "…"
            parts.append(f"content={preview!r}")
        for key in ("embeds", "components", "choices"):
            if inner.get(key):
                parts.append(f"{key}={len(inner[key])}")
        if not parts:
            parts.append("keys=" + ",".join(sorted(map(str, data))[:8]))
    if files:
        parts.append(f"files={files}")
    return " ".join(parts)


# -- login, users, gateway -----------------------------------------------------------------


async def get_me(request: web.Request) -> web.Response:
    return json_response(backend_of(request).world.bot_self_payload())


async def get_user(request: web.Request) -> web.Response:
    user = backend_of(request).world.users.get(request.match_info["user_id"])
    if user is None:
        raise unknown("User", UNKNOWN_USER)
    return json_response(user.payload())


async def create_dm(request: web.Request) -> web.Response:
    world = backend_of(request).world
    recipient = world.users.get(str((body_of(request).json or {}).get("recipient_id")))
    if recipient is None:
        raise unknown("User", UNKNOWN_USER)
    return json_response(world.dm_channel(recipient).payload())


async def application_info(request: web.Request) -> web.Response:
    world = backend_of(request).world
    return json_response(
        {
            "id": world.application_id,
            "name": world.bot.username,
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "flags": 0,
            "owner": world.owner.payload(),
            "team": None,
            "bot": world.bot.payload(),
            "approximate_guild_count": len(world.guilds),
            "redirect_uris": [],
            "interactions_endpoint_url": None,  # set, discord.py warns it gets no interactions
            "integration_types_config": {"0": {}, "1": {}},
            "tags": [],
        }
    )


async def get_gateway(request: web.Request) -> web.Response:
    return json_response({"url": backend_of(request).gateway.url})


async def get_gateway_bot(request: web.Request) -> web.Response:
    gateway = backend_of(request).gateway
    return json_response(
        {
            "url": gateway.url,
            "shards": gateway.recommended_shards,
            "session_start_limit": gateway.session_start_limit.payload(gateway.clock()),
        }
    )


# -- application commands ------------------------------------------------------------------

_NAME = re.compile(r"^[-_\w]{1,32}$")


def command_problems(command: Any, where: str = "") -> list[str]:
    """What Discord would refuse in a command definition (the common mistakes only)."""
    if not isinstance(command, dict):
        return [f"{where}: not an object"]
    problems = []
    name, ctype = command.get("name", ""), command.get("type", 1)
    here = f"{where}{name}"
    if ctype in (1, None) or "options" in command:
        if not _NAME.match(name) or name != name.lower():
            problems.append(f"{here}: invalid name (lowercase, 1-32 chars)")
        if not 1 <= len(command.get("description") or "") <= 100:
            problems.append(f"{here}: description must be 1-100 characters")
    options = command.get("options") or []
    if len(options) > 25:
        problems.append(f"{here}: more than 25 options")
    seen_optional = False
    for option in options:
        if option.get("type") not in (1, 2):
            if option.get("required"):
                if seen_optional:
                    problems.append(
                        f"{here}: required option {option.get('name')!r} after optional ones"
                    )
            else:
                seen_optional = True
            if len(option.get("choices") or []) > 25:
                problems.append(f"{here}: option {option.get('name')!r} has more than 25 choices")
        problems.extend(command_problems(option, here + " "))
    return problems


def _check_app(request: web.Request) -> World:
    world = backend_of(request).world
    if request.match_info["app_id"] != world.application_id:
        raise unknown("Application", UNKNOWN_APPLICATION)
    return world


def _command_scope(request: web.Request) -> str | None:
    world = _check_app(request)
    guild_id = request.match_info.get("guild_id")
    if guild_id is not None:
        guild = world.guilds.get(guild_id)
        if guild is None or not guild.bot_present:
            # Discord answers this for any guild the bot is not in (never 404).
            raise DiscordError(403, "Missing Access", MISSING_ACCESS)
    return guild_id


async def list_commands(request: web.Request) -> web.Response:
    world = backend_of(request).world
    return json_response(world.commands_for(_command_scope(request)))


async def put_commands(request: web.Request) -> web.Response:
    guild_id = _command_scope(request)
    body = body_of(request).json
    if not isinstance(body, list):
        raise DiscordError(400, "Invalid Form Body (expected a list)", INVALID_FORM_BODY)
    if len(body) > 100:
        raise DiscordError(400, "Invalid Form Body (more than 100 commands)", INVALID_FORM_BODY)
    problems = [p for cmd in body for p in command_problems(cmd)]
    if problems:
        raise DiscordError(400, "Invalid Form Body: " + "; ".join(problems), INVALID_FORM_BODY)
    return json_response(backend_of(request).world.store_commands(guild_id, body))


def _find_command(request: web.Request) -> tuple[str | None, dict[str, Any]]:
    guild_id = _command_scope(request)
    for cmd in backend_of(request).world.commands_for(guild_id):
        if cmd["id"] == request.match_info["command_id"]:
            return guild_id, cmd
    raise unknown("application command", UNKNOWN_APPLICATION_COMMAND)


async def get_command(request: web.Request) -> web.Response:
    return json_response(_find_command(request)[1])


async def upsert_command(request: web.Request) -> web.Response:
    """POST one command (replaces the one with the same name) or PATCH one by id."""
    world = backend_of(request).world
    if request.method == "PATCH":
        guild_id, existing = _find_command(request)
        new = {
            k: v
            for k, v in existing.items()
            if k not in ("id", "application_id", "version", "guild_id")
        }
        new.update(body_of(request).json or {})
    else:
        guild_id, new = _command_scope(request), dict(body_of(request).json or {})
    problems = command_problems(new)
    if problems:
        raise DiscordError(400, "Invalid Form Body: " + "; ".join(problems), INVALID_FORM_BODY)
    others = [
        {k: v for k, v in c.items() if k not in ("id", "application_id", "version", "guild_id")}
        for c in world.commands_for(guild_id)
        if c["name"] != new["name"] and c.get("id") != request.match_info.get("command_id")
    ]
    stored = world.store_commands(guild_id, [*others, new])
    return json_response(next(c for c in stored if c["name"] == new["name"]))


async def delete_command(request: web.Request) -> web.Response:
    guild_id, target = _find_command(request)
    world = backend_of(request).world
    rest = [
        {k: v for k, v in c.items() if k not in ("id", "application_id", "version", "guild_id")}
        for c in world.commands_for(guild_id)
        if c is not target
    ]
    world.store_commands(guild_id, rest)
    return no_content()


# -- channels and messages -----------------------------------------------------------------


def _channel(request: web.Request, needs: int = VIEW_CHANNEL) -> Channel:
    """The channel in the path, if the bot may do what ``needs`` says there: an unknown or
    deleted channel is 404 Unknown Channel; one in a server the bot is not in, or that it
    cannot see, 403 Missing Access (50001); one where it lacks a permission, 403 Missing
    Permissions (50013)."""
    backend = backend_of(request)
    channel = backend.world.channels.get(request.match_info["channel_id"])
    if channel is None or channel.deleted:
        raise unknown("Channel", UNKNOWN_CHANNEL)
    bot_may(backend.world, channel, needs)
    return channel


def bot_may(world: World, channel: Channel, needs: int) -> None:
    if channel.guild_id is None:
        return  # a DM: the bot is one of its two members
    guild = world.guilds.get(channel.guild_id)
    if guild is None or not guild.bot_present:
        raise DiscordError(403, "Missing Access", MISSING_ACCESS)
    perms = guild.permissions_in(channel, world.bot.id)
    if not perms & VIEW_CHANNEL:
        raise DiscordError(403, "Missing Access", MISSING_ACCESS)
    if needs & ~perms:
        raise DiscordError(403, "Missing Permissions", MISSING_PERMISSIONS)


def _content_needs(data: dict[str, Any], body: Body) -> int:
    """What sending this body needs besides SEND_MESSAGES: EMBED_LINKS for embeds,
    ATTACH_FILES for uploaded files."""
    needs = 0
    if data.get("embeds") or data.get("embed"):
        needs |= EMBED_LINKS
    if body.files:
        needs |= ATTACH_FILES
    return needs


def _message(request: web.Request, channel: Channel) -> Message:
    message = backend_of(request).world.messages.get(request.match_info["message_id"])
    if message is None or message.channel_id != channel.id or message.deleted or message.ephemeral:
        raise unknown("Message", UNKNOWN_MESSAGE)
    return message


async def get_channel(request: web.Request) -> web.Response:
    return json_response(_channel(request).payload())


async def create_message(request: web.Request) -> web.Response:
    backend = backend_of(request)
    world = backend.world
    body = body_of(request)
    data = dict(body.json or {}) if isinstance(body.json, dict) else {}
    channel = _channel(request, SEND_MESSAGES | _content_needs(data, body))
    if channel.type not in (GUILD_TEXT, DM):
        raise DiscordError(400, "Cannot send messages in a non-text channel", 50008)
    data["flags"] = int(data.get("flags") or 0) & ~(1 << 6)  # no ephemeral outside interactions
    message = world.new_message(channel.id, channel.guild_id)
    try:
        apply_body(backend.cdn, message, data, body, edit=False)
    except DiscordError:
        del world.messages[message.id]
        raise
    world.post_to_channel(message)
    world.feed_message("created", message)
    await backend.announce("MESSAGE_CREATE", message)
    return json_response(message.payload())


async def list_messages(request: web.Request) -> web.Response:
    world = backend_of(request).world
    channel = _channel(request)
    limit = max(1, min(100, int(request.query.get("limit", 50))))
    newest_first = list(reversed(world.visible_messages(channel.id)))
    return json_response([m.payload() for m in newest_first[:limit]])


async def get_message(request: web.Request) -> web.Response:
    return json_response(_message(request, _channel(request)).payload())


async def edit_message(request: web.Request) -> web.Response:
    backend = backend_of(request)
    body = body_of(request)
    data = dict(body.json or {}) if isinstance(body.json, dict) else {}
    channel = _channel(request, _content_needs(data, body))
    message = _message(request, channel)
    if message.author is not backend.world.bot:
        raise DiscordError(403, "Cannot edit a message authored by another user", NOT_AUTHOR)
    apply_body(backend.cdn, message, data, body, edit=True)
    backend.world.feed_message("edited", message)
    await backend.announce("MESSAGE_UPDATE", message)
    return json_response(message.payload())


async def delete_message(request: web.Request) -> web.Response:
    backend = backend_of(request)
    message = _message(request, _channel(request))
    message.deleted = True
    backend.world.feed_message("deleted", message)
    await _announce_delete(backend, message)
    return no_content()


async def _announce_delete(backend: Backend, message: Message) -> None:
    data = {"id": message.id, "channel_id": message.channel_id}
    if message.guild_id:
        data["guild_id"] = message.guild_id
    await backend.announce("MESSAGE_DELETE", data)


async def typing(request: web.Request) -> web.Response:
    _channel(request, SEND_MESSAGES)
    return no_content()


async def reaction(request: web.Request) -> web.Response:
    _message(request, _channel(request))
    return no_content()


# -- guilds --------------------------------------------------------------------------------


def _guild(request: web.Request) -> Guild:
    guild = backend_of(request).world.guilds.get(request.match_info["guild_id"])
    if guild is None:
        raise unknown("Guild", UNKNOWN_GUILD)
    if not guild.bot_present:
        raise DiscordError(403, "Missing Access", MISSING_ACCESS)
    return guild


async def get_guild(request: web.Request) -> web.Response:
    world = backend_of(request).world
    data = _guild(request).payload(world.bot.id)
    for key in GUILD_CREATE_ONLY:
        data.pop(key, None)
    return json_response(data)


async def guild_channels(request: web.Request) -> web.Response:
    return json_response([c.payload() for c in _guild(request).channels if not c.deleted])


async def guild_roles(request: web.Request) -> web.Response:
    return json_response([r.payload() for r in _guild(request).roles])


async def guild_member(request: web.Request) -> web.Response:
    member = _guild(request).members.get(request.match_info["user_id"])
    if member is None:
        raise unknown("Member", 10007)
    return json_response(member.payload())


# -- wiring --------------------------------------------------------------------------------


def api_routes() -> list[web.RouteDef]:
    a = API
    apps = a + "/applications/{app_id}"
    commands = [apps + "/commands", apps + "/guilds/{guild_id}/commands"]
    routes = [
        web.get(a + "/users/@me", get_me),
        web.post(a + "/users/@me/channels", create_dm),
        web.get(a + "/users/{user_id}", get_user),
        web.get(a + "/oauth2/applications/@me", application_info),
        web.get(a + "/applications/@me", application_info),
        web.get(a + "/gateway", get_gateway),
        web.get(a + "/gateway/bot", get_gateway_bot),
        web.get(a + "/channels/{channel_id}", get_channel),
        web.get(a + "/channels/{channel_id}/messages", list_messages),
        web.post(a + "/channels/{channel_id}/messages", create_message),
        web.get(a + "/channels/{channel_id}/messages/{message_id}", get_message),
        web.patch(a + "/channels/{channel_id}/messages/{message_id}", edit_message),
        web.delete(a + "/channels/{channel_id}/messages/{message_id}", delete_message),
        web.post(a + "/channels/{channel_id}/typing", typing),
        web.put(a + "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me", reaction),
        web.delete(
            a + "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me", reaction
        ),
        web.get(a + "/guilds/{guild_id}", get_guild),
        web.get(a + "/guilds/{guild_id}/channels", guild_channels),
        web.get(a + "/guilds/{guild_id}/roles", guild_roles),
        web.get(a + "/guilds/{guild_id}/members/{user_id}", guild_member),
    ]
    for base in commands:
        routes += [
            web.get(base, list_commands),
            web.put(base, put_commands),
            web.post(base, upsert_command),
            web.get(base + "/{command_id}", get_command),
            web.patch(base + "/{command_id}", upsert_command),
            web.delete(base + "/{command_id}", delete_command),
        ]
    return routes + callbacks.routes(a)


async def _set_date(request: web.Request, response: web.StreamResponse) -> None:
    """Every answer carries a ``Date`` header, as Discord's do, read from the fake's clock
    (``FakeDiscord.clock_skew_s`` puts it ahead of or behind the host's)."""
    backend = request.app[BACKEND]
    response.headers["Date"] = formatdate(backend.wall_clock() + backend.clock_skew_s, usegmt=True)


def build_app(backend: Backend) -> web.Application:
    app = web.Application(middlewares=[discord_middleware], client_max_size=64 * 1024 * 1024)
    app[BACKEND] = backend
    app.on_response_prepare.append(_set_date)
    app.add_routes(api_routes())
    app.add_routes(backend.gateway.routes())
    app.add_routes(backend.cdn.routes())
    return app
