"""What every REST handler shares: the world, the CDN, the gateway, the rate limiter, the
rules' knobs, and typed keys to reach them from an aiohttp request."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from .cdn import Cdn
from .gateway import Gateway
from .messages import Body
from .models import Message
from .ratelimit import RateLimiter
from .state import World

GUILD_MESSAGES_INTENT, DIRECT_MESSAGES_INTENT, MESSAGE_CONTENT_INTENT = 1 << 9, 1 << 12, 1 << 15
# Fields of a message that carry what a user wrote (Discord's message content intent).
CONTENT_FIELDS = {"content": "", "embeds": [], "attachments": [], "components": [], "poll": None}


@dataclass
class Backend:
    world: World
    cdn: Cdn
    gateway: Gateway
    limiter: RateLimiter
    interaction_deadline: float | None = 3.0  # seconds to the first callback; None = no limit
    token_lifetime: float = 15 * 60.0  # how long followups and edits stay possible
    clock_skew_s: float = 0.0  # how far the Date header is ahead of the host clock
    wall_clock: Callable[[], float] = time.time

    async def announce(self, event: str, data: Message | dict) -> None:
        """Tell the bot about a message (MESSAGE_CREATE/UPDATE/DELETE), as Discord does: to
        the shard that owns its guild (DMs: shard 0), when the session has the guild (or
        direct) messages intent. Ephemeral ones stay private. Without the message content
        intent, others' messages arrive with content, embeds, attachments and components
        emptied, except in DMs and when the bot is mentioned."""
        author_id = None
        mentioned = False
        if isinstance(data, Message):
            if data.ephemeral:
                return
            message = data
            guild_id, data = message.guild_id, message.payload()
            author_id = message.author.id
            mentioned = self.world.bot.mention in message.content
        else:
            guild_id = data.get("guild_id")
        intent = DIRECT_MESSAGES_INTENT if guild_id is None else GUILD_MESSAGES_INTENT
        for session in self.gateway.sessions_for(guild_id):
            if not session.intents & intent:
                continue
            sent = data
            private = (
                guild_id is not None
                and author_id is not None
                and author_id != self.world.bot.id
                and not mentioned
                and not session.intents & MESSAGE_CONTENT_INTENT
            )
            if private:
                sent = {**data, **{k: v for k, v in CONTENT_FIELDS.items() if k in data}}
            await self.gateway.send(session, event, sent)


BACKEND = web.AppKey("backend", Backend)
BODY = web.RequestKey("body", Body)


def backend_of(request: web.Request) -> Backend:
    return request.app[BACKEND]


def body_of(request: web.Request) -> Body:
    return request[BODY]
