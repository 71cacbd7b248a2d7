"""The fake Discord's world: users, guilds, channels, messages, commands, interactions.

One ``World`` is shared by the REST handlers, the gateway and the test API. It is plain data
plus a ``Notifier`` that wakes anybody waiting for "something changed" (a test waiting for a
response, for instance). Everything runs on one event loop, so no locking is needed.
"""

# The public waiting API takes timeout= arguments on purpose (readable tests).
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from .feed import EventFeed
from .models import (
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_EVERYONE_PERMISSIONS,
    DM,
    GUILD_TEXT,
    Channel,
    Guild,
    Member,
    Message,
    Role,
    SnowflakeFactory,
    User,
)

if TYPE_CHECKING:
    from .interactions import InteractionRecord

T = TypeVar("T")


class Notifier:
    """Wake waiters whenever the world changes; they re-check their own condition."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait_for(
        self, check: Callable[[], T], timeout: float, describe: Callable[[], str]
    ) -> T:
        """Return ``check()`` as soon as it is truthy; TimeoutError (with ``describe()``) if
        that takes longer than ``timeout`` seconds."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    event = self._event  # grab it before checking, so no change is missed
                    result = check()
                    if result:
                        return result
                    await event.wait()
        except TimeoutError:
            raise TimeoutError(f"timed out after {timeout}s: {describe()}") from None


@dataclass
class RecordedRequest:
    """One HTTP request the bot made, as the fake saw it."""

    method: str
    path: str  # without the /api/v10 prefix for API calls; the full path otherwise
    query: dict[str, str]
    headers: dict[str, str]
    body: Any  # parsed JSON, the payload_json of a multipart body, or None
    status: int = 0
    at: float = field(default_factory=time.monotonic)
    matched: bool = True  # False when no route matched (an endpoint the fake lacks)
    admitted_at: float | None = None  # when the rate limiter let it through (limiter clock)
    response_headers: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"<{self.method} {self.path} -> {self.status}>"


class World:
    def __init__(self, *, token: str, bot_name: str, owner_name: str) -> None:
        self.ids = SnowflakeFactory()
        self.token = token
        self.token_revoked = False  # Discord reset the token (session starts ran out)
        self.notifier = Notifier()
        self.feed = EventFeed()
        self.bot = User(self.ids.next(), bot_name, bot=True)
        self.application_id = self.bot.id  # as for every bot created since 2020
        self.owner = User(self.ids.next(), owner_name)
        self.users: dict[str, User] = {self.bot.id: self.bot, self.owner.id: self.owner}
        self.guilds: dict[str, Guild] = {}
        self.channels: dict[str, Channel] = {}
        self.messages: dict[str, Message] = {}
        self.channel_log: dict[str, list[Message]] = {}
        self.global_commands: list[dict[str, Any]] = []
        self.guild_commands: dict[str, list[dict[str, Any]]] = {}
        self.sync_log: list[tuple[str | None, list[dict[str, Any]]]] = []
        self.interactions: dict[str, InteractionRecord] = {}
        self.interactions_by_token: dict[str, InteractionRecord] = {}
        self.requests: list[RecordedRequest] = []
        self.server_errors: list[Exception] = []  # exceptions raised by the fake's handlers
        self.cdn_base = ""  # set by the server once it knows its port

    def changed(self) -> None:
        self.notifier.notify()

    def token_valid(self, token: str) -> bool:
        return not self.token_revoked and token == self.token

    def revoke_token(self) -> None:
        self.token_revoked = True

    def bot_self_payload(self) -> dict[str, Any]:
        """The bot's user object as it sees itself: READY's ``user`` and ``GET /users/@me``
        (one place, so the two can never disagree)."""
        return self.bot.self_payload()

    # -- users, guilds, channels ---------------------------------------------------------

    def add_user(self, username: str, *, bot: bool = False) -> User:
        user = User(self.ids.next(), username, bot=bot)
        self.users[user.id] = user
        return user

    def add_guild(
        self,
        name: str,
        *,
        owner: User | None = None,
        everyone_permissions: int = DEFAULT_EVERYONE_PERMISSIONS,
        bot_permissions: int = DEFAULT_BOT_PERMISSIONS,
    ) -> Guild:
        owner = owner or self.owner
        gid = self.ids.next()
        guild = Guild(gid, name, owner.id)
        guild.roles.append(Role(gid, gid, "@everyone", everyone_permissions))
        bot_role = Role(self.ids.next(), gid, self.bot.username, bot_permissions, 1, managed=True)
        guild.roles.append(bot_role)
        guild.bot_role_id = bot_role.id
        guild.members[self.bot.id] = Member(self.bot, gid, [bot_role.id])
        guild.members[owner.id] = Member(owner, gid)
        self.guilds[gid] = guild
        return guild

    def add_channel(
        self, guild: Guild, name: str, *, nsfw: bool = False, type: int = GUILD_TEXT, **extra: Any
    ) -> Channel:
        channel = Channel(
            self.ids.next(),
            name,
            type=type,
            guild_id=guild.id,
            nsfw=nsfw,
            position=len(guild.channels),
            **extra,
        )
        guild.channels.append(channel)
        self.channels[channel.id] = channel
        self.channel_log[channel.id] = []
        return channel

    def add_role(self, guild: Guild, name: str, permissions: int) -> Role:
        role = Role(self.ids.next(), guild.id, name, permissions, position=len(guild.roles))
        guild.roles.append(role)
        return role

    def ensure_member(self, guild: Guild, user: User) -> Member:
        member = guild.members.get(user.id)
        if member is None:
            member = guild.members[user.id] = Member(user, guild.id)
        return member

    def dm_channel(self, user: User) -> Channel:
        """The DM channel between the bot and ``user`` (made on first use, like Discord)."""
        for channel in self.channels.values():
            if channel.type == DM and channel.recipients == [user]:
                return channel
        channel = Channel(self.ids.next(), None, type=DM, recipients=[user])
        self.channels[channel.id] = channel
        self.channel_log[channel.id] = []
        return channel

    def guild_of(self, channel: Channel) -> Guild | None:
        return self.guilds.get(channel.guild_id) if channel.guild_id else None

    # -- messages ----------------------------------------------------------------------------

    def new_message(self, channel_id: str, guild_id: str | None, **fields: Any) -> Message:
        message = Message(self.ids.next(), channel_id, guild_id, fields.pop("author", self.bot))
        for key, value in fields.items():
            setattr(message, key, value)
        self.messages[message.id] = message
        return message

    def post_to_channel(self, message: Message) -> None:
        """Make a message visible in its channel (ephemeral ones never are)."""
        if message.ephemeral:
            return
        self.channel_log.setdefault(message.channel_id, []).append(message)
        channel = self.channels.get(message.channel_id)
        if channel is not None:
            channel.last_message_id = message.id

    def feed_message(self, action: str, message: Message) -> None:
        """Put a message's creation, edit or deletion on the event feed, as it now is."""
        self.feed.publish(
            "message",
            action=action,
            id=message.id,
            channel_id=message.channel_id,
            guild_id=message.guild_id,
            ephemeral=message.ephemeral,
            message=message.payload(),
        )

    def visible_messages(self, channel_id: str) -> list[Message]:
        return [m for m in self.channel_log.get(channel_id, []) if not m.deleted]

    # -- commands ----------------------------------------------------------------------------

    def commands_for(self, guild_id: str | None) -> list[dict[str, Any]]:
        if guild_id is None:
            return self.global_commands
        return self.guild_commands.get(guild_id, [])

    def store_commands(self, guild_id: str | None, body: list[dict[str, Any]]) -> list[dict]:
        """Bulk overwrite, as PUT does: keep ids of commands that already existed by name."""
        old = {c["name"]: c for c in self.commands_for(guild_id)}
        stored = []
        for cmd in body:
            previous = old.get(cmd["name"])
            entry = dict(cmd)
            entry.setdefault("type", 1)
            entry.setdefault("description", "")
            entry["id"] = previous["id"] if previous else self.ids.next()
            entry["application_id"] = self.application_id
            entry["version"] = self.ids.next()
            entry.setdefault("default_member_permissions", None)
            entry.setdefault("nsfw", False)
            if guild_id is not None:
                entry["guild_id"] = guild_id
            stored.append(entry)
        if guild_id is None:
            self.global_commands = stored
        else:
            self.guild_commands[guild_id] = stored
        self.sync_log.append((guild_id, [dict(c) for c in body]))
        self.changed()
        return stored

    def find_command(
        self, name: str, guild_id: str | None, ctype: int = 1
    ) -> dict[str, Any] | None:
        """The command of type ``ctype`` (1 slash, 2 user menu, 3 message menu) a user would
        see in a guild (guild commands first) or in DMs."""
        scopes = [self.guild_commands.get(guild_id, [])] if guild_id is not None else []
        for commands in [*scopes, self.global_commands]:
            for cmd in commands:
                if cmd["name"] == name and cmd.get("type", 1) == ctype:
                    return cmd
        return None

    # -- interactions ------------------------------------------------------------------------

    def add_interaction(self, record: InteractionRecord) -> None:
        self.interactions[record.id] = record
        self.interactions_by_token[record.token] = record

    def interaction_by_token(self, token: str) -> InteractionRecord | None:
        return self.interactions_by_token.get(token)
