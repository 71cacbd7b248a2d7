"""What every REST handler shares: the world, the CDN, the gateway, the rate limiter, the
rules' knobs, and typed keys to reach them from an aiohttp request."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from .cdn import Cdn
from .gateway import Gateway
from .messages import Body
from .models import Message
from .ratelimit import RateLimiter
from .state import World

GUILD_MESSAGES_INTENT, DIRECT_MESSAGES_INTENT = 1 << 9, 1 << 12


@dataclass
class Backend:
    world: World
    cdn: Cdn
    gateway: Gateway
    limiter: RateLimiter
    interaction_deadline: float | None = 3.0  # seconds to the first callback; None = no limit
    token_lifetime: float = 15 * 60.0  # how long followups and edits stay possible

    async def announce(self, event: str, data: Message | dict) -> None:
        """Tell the bot about its own message (MESSAGE_CREATE/UPDATE/DELETE), as Discord does
        when the bot has the guild (or direct) messages intent. Ephemeral ones stay private."""
        if isinstance(data, Message):
            if data.ephemeral:
                return
            guild_id, data = data.guild_id, data.payload()
        else:
            guild_id = data.get("guild_id")
        intent = DIRECT_MESSAGES_INTENT if guild_id is None else GUILD_MESSAGES_INTENT
        for session in self.gateway.ready_sessions():
            if session.intents & intent:
                await self.gateway.send(session, event, data)


BACKEND = web.AppKey("backend", Backend)
BODY = web.RequestKey("body", Body)


def backend_of(request: web.Request) -> Backend:
    return request.app[BACKEND]


def body_of(request: web.Request) -> Body:
    return request[BODY]
