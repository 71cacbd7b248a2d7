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
from typing import Any

from aiohttp import web

from . import callbacks
from .backend import BACKEND, BODY, Backend, backend_of, body_of
from .messages import apply_body, read_body
from .models import (
    DM,
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
        request.method, path, dict(request.query), dict(request.headers), body.json
    )
    world.requests.append(record)
    route = request.match_info.route
    if request.match_info.http_exception is not None:
        record.matched = False
        status = request.match_info.http_exception.status
        response: web.StreamResponse = error(
            status, f"{status}: {request.match_info.http_exception.reason}"
        )
    elif not _is_public(path) and request.headers.get("Authorization") != f"Bot {world.token}":
        response = unauthorized()
    else:
        template = route.resource.canonical if route.resource else path
        decision = backend.limiter.admit(request.method, path, template, _major(request.match_info))
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
    world.changed()
    return response


# -- login, users, gateway -----------------------------------------------------------------


async def get_me(request: web.Request) -> web.Response:
    world = backend_of(request).world
    me = world.bot.payload() | {
        "verified": True,
        "mfa_enabled": False,
        "locale": "en-US",
        "email": None,
    }
    return json_response(me)


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
    return json_response(
        {
            "url": backend_of(request).gateway.url,
            "shards": 1,
            "session_start_limit": {
                "total": 1000,
                "remaining": 999,
                "reset_after": 86_400_000,
                "max_concurrency": 1,
            },
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
    if guild_id is not None and guild_id not in world.guilds:
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


def _channel(request: web.Request) -> Channel:
    channel = backend_of(request).world.channels.get(request.match_info["channel_id"])
    if channel is None:
        raise unknown("Channel", UNKNOWN_CHANNEL)
    return channel


def _bot_may(backend: Backend, channel: Channel, permission: int) -> None:
    guild = backend.world.guild_of(channel)
    if guild is None:
        return
    perms = guild.permissions_of(backend.world.bot.id)
    if not perms & VIEW_CHANNEL:
        raise DiscordError(403, "Missing Access", MISSING_ACCESS)
    if not perms & permission:
        raise DiscordError(403, "Missing Permissions", MISSING_PERMISSIONS)


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
    channel = _channel(request)
    if channel.type not in (GUILD_TEXT, DM):
        raise DiscordError(400, "Cannot send messages in a non-text channel", 50008)
    _bot_may(backend, channel, SEND_MESSAGES)
    body = body_of(request)
    data = dict(body.json or {})
    data["flags"] = int(data.get("flags") or 0) & ~(1 << 6)  # no ephemeral outside interactions
    message = world.new_message(channel.id, channel.guild_id)
    try:
        apply_body(backend.cdn, message, data, body, edit=False)
    except DiscordError:
        del world.messages[message.id]
        raise
    world.post_to_channel(message)
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
    channel = _channel(request)
    message = _message(request, channel)
    if message.author is not backend.world.bot:
        raise DiscordError(403, "Cannot edit a message authored by another user", NOT_AUTHOR)
    body = body_of(request)
    apply_body(backend.cdn, message, dict(body.json or {}), body, edit=True)
    await backend.announce("MESSAGE_UPDATE", message)
    return json_response(message.payload())


async def delete_message(request: web.Request) -> web.Response:
    backend = backend_of(request)
    message = _message(request, _channel(request))
    message.deleted = True
    await _announce_delete(backend, message)
    return no_content()


async def _announce_delete(backend: Backend, message: Message) -> None:
    data = {"id": message.id, "channel_id": message.channel_id}
    if message.guild_id:
        data["guild_id"] = message.guild_id
    await backend.announce("MESSAGE_DELETE", data)


async def typing(request: web.Request) -> web.Response:
    _channel(request)
    return no_content()


async def reaction(request: web.Request) -> web.Response:
    _message(request, _channel(request))
    return no_content()


# -- guilds --------------------------------------------------------------------------------


def _guild(request: web.Request) -> Guild:
    guild = backend_of(request).world.guilds.get(request.match_info["guild_id"])
    if guild is None:
        raise unknown("Guild", UNKNOWN_GUILD)
    return guild


async def get_guild(request: web.Request) -> web.Response:
    world = backend_of(request).world
    data = _guild(request).payload(world.bot.id)
    for key in ("channels", "members", "threads", "presences", "voice_states", "joined_at"):
        data.pop(key, None)
    return json_response(data)


async def guild_channels(request: web.Request) -> web.Response:
    return json_response([c.payload() for c in _guild(request).channels])


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


def build_app(backend: Backend) -> web.Application:
    app = web.Application(middlewares=[discord_middleware], client_max_size=64 * 1024 * 1024)
    app[BACKEND] = backend
    app.add_routes(api_routes())
    app.add_routes(backend.gateway.routes())
    app.add_routes(backend.cdn.routes())
    return app
