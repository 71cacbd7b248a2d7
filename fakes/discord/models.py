"""The things that live in the fake Discord, and their JSON payloads.

Every entity knows how to render itself the way Discord's API does, with the keys discord.py
reads with ``data[...]`` (those are mandatory; the rest is there for realism). Ids are real
snowflakes carrying a timestamp, because discord.py derives ``created_at`` (and from it
``Interaction.expires_at``) from the id.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

DISCORD_EPOCH_MS = 1_420_070_400_000

# Permission bits used by the defaults below (https://discord.com/developers/docs/topics/permissions).
CREATE_INSTANT_INVITE = 1 << 0
ADMINISTRATOR = 1 << 3
MANAGE_CHANNELS = 1 << 4
MANAGE_GUILD = 1 << 5
ADD_REACTIONS = 1 << 6
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
USE_EXTERNAL_EMOJIS = 1 << 18
CONNECT = 1 << 20
SPEAK = 1 << 21
CHANGE_NICKNAME = 1 << 26
SEND_TTS_MESSAGES = 1 << 12
MENTION_EVERYONE = 1 << 17
USE_APPLICATION_COMMANDS = 1 << 31
SEND_MESSAGES_IN_THREADS = 1 << 38
ALL_PERMISSIONS = (1 << 53) - 1
# The permissions that apply in channels (marked T, V or S in Discord's permission table);
# without VIEW_CHANNEL none of them is granted there.
_CHANNEL_BITS = (0, 4, 6, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 20, 21, 22, 23, 24, 25, 28)
_CHANNEL_BITS += (29, 31, 32, 33, 34, 35, 36, 37, 38, 39, 42, 44, 45, 46, 48, 49, 50, 51, 52)
CHANNEL_PERMISSIONS = sum(1 << bit for bit in _CHANNEL_BITS)
# Denying SEND_MESSAGES implicitly denies these (Discord's "Implicit Permissions").
NEEDS_SEND_MESSAGES = SEND_TTS_MESSAGES | MENTION_EVERYONE | EMBED_LINKS | ATTACH_FILES

# What @everyone may do in a freshly created server (roughly Discord's default set).
DEFAULT_EVERYONE_PERMISSIONS = (
    CREATE_INSTANT_INVITE
    | ADD_REACTIONS
    | VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | USE_EXTERNAL_EMOJIS
    | CONNECT
    | SPEAK
    | CHANGE_NICKNAME
    | USE_APPLICATION_COMMANDS
    | SEND_MESSAGES_IN_THREADS
)
# What the bot's managed role gets when a test does not say otherwise.
DEFAULT_BOT_PERMISSIONS = DEFAULT_EVERYONE_PERMISSIONS | MANAGE_MESSAGES

# Channel types (a subset).
GUILD_TEXT = 0
DM = 1
GUILD_VOICE = 2
GUILD_CATEGORY = 4

# Message flags.
EPHEMERAL = 1 << 6
LOADING = 1 << 7


def as_permission_int(value: Any) -> int:
    """Accept an int, a decimal string, or anything with ``.value`` (discord.Permissions)."""
    if hasattr(value, "value"):
        return int(value.value)
    return int(value)


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


class SnowflakeFactory:
    """Strictly increasing snowflakes whose high bits are the current time.

    ``skew_s`` shifts the time written into new ids (Discord's clock versus the host's): with
    ``skew_s=900`` every id, interaction ids included, carries a time 15 minutes ahead, which
    is what discord.py reads as ``created_at`` (and ``Interaction.expires_at``). Ids stay
    strictly increasing when the skew is lowered again.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._last = 0
        self._lock = threading.Lock()
        self.clock = clock
        self.skew_s = 0.0

    def next(self) -> str:
        with self._lock:
            now_ms = int((self.clock() + self.skew_s) * 1000)
            stamp = (now_ms - DISCORD_EPOCH_MS) << 22
            self._last = max(self._last + 1, stamp)
            return str(self._last)


def snowflake_time(snowflake: str | int) -> float:
    """The Unix time (seconds) a snowflake carries."""
    return ((int(snowflake) >> 22) + DISCORD_EPOCH_MS) / 1000


@dataclass(eq=False)
class User:
    id: str
    username: str
    bot: bool = False
    global_name: str | None = None
    avatar: str | None = None

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"

    locale: str = "en-US"
    verified: bool = True
    mfa_enabled: bool = False
    email: str | None = None

    def payload(self) -> dict[str, Any]:
        """The user object as anyone sees it."""
        return {
            "id": self.id,
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": self.avatar,
            "bot": self.bot,
            "banner": None,
            "accent_color": None,
            "avatar_decoration_data": None,
            "public_flags": 0,
            "flags": 0,
        }

    def self_payload(self) -> dict[str, Any]:
        """The user object as the user itself sees it (``GET /users/@me`` and READY's
        ``user``): the public one plus the fields only the account owner gets."""
        return self.payload() | {
            "mfa_enabled": self.mfa_enabled,
            "locale": self.locale,
            "verified": self.verified,
            "email": self.email,
            "premium_type": 0,
        }


@dataclass(eq=False)
class Role:
    id: str
    guild_id: str
    name: str
    permissions: int
    position: int = 0
    managed: bool = False
    color: int = 0

    @property
    def mention(self) -> str:
        return f"<@&{self.id}>"

    def payload(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "color": self.color,
            "colors": {
                "primary_color": self.color,
                "secondary_color": None,
                "tertiary_color": None,
            },
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": self.position,
            "permissions": str(self.permissions),
            "managed": self.managed,
            "mentionable": False,
            "flags": 0,
        }


ROLE_OVERWRITE, MEMBER_OVERWRITE = 0, 1


@dataclass
class Overwrite:
    """A channel permission overwrite for a role (type 0; the guild id is @everyone) or a
    member (type 1)."""

    id: str
    type: int
    allow: int = 0
    deny: int = 0

    def payload(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "allow": str(self.allow), "deny": str(self.deny)}


@dataclass(eq=False)
class Channel:
    id: str
    name: str | None
    type: int = GUILD_TEXT
    guild_id: str | None = None
    nsfw: bool = False
    position: int = 0
    topic: str | None = None
    parent_id: str | None = None
    recipients: list[User] = field(default_factory=list)
    last_message_id: str | None = None
    overwrites: list[Overwrite] = field(default_factory=list)
    deleted: bool = False

    def overwrite_for(self, target_id: str) -> Overwrite | None:
        return next((o for o in self.overwrites if o.id == target_id), None)

    @property
    def mention(self) -> str:
        return f"<#{self.id}>"

    @property
    def is_dm(self) -> bool:
        return self.type == DM

    def payload(self) -> dict[str, Any]:
        if self.type == DM:
            return {
                "id": self.id,
                "type": DM,
                "last_message_id": self.last_message_id,
                "recipients": [u.payload() for u in self.recipients],
                "flags": 0,
            }
        data: dict[str, Any] = {
            "id": self.id,
            "type": self.type,
            "guild_id": self.guild_id,
            "name": self.name,
            "position": self.position,
            "permission_overwrites": [o.payload() for o in self.overwrites],
            "nsfw": self.nsfw,
            "parent_id": self.parent_id,
            "flags": 0,
        }
        if self.type == GUILD_TEXT:
            data.update(
                topic=self.topic,
                last_message_id=self.last_message_id,
                rate_limit_per_user=0,
                default_auto_archive_duration=1440,
            )
        elif self.type == GUILD_VOICE:
            data.update(bitrate=64000, user_limit=0, rtc_region=None)
        return data


@dataclass(eq=False)
class Member:
    user: User
    guild_id: str
    role_ids: list[str] = field(default_factory=list)
    nick: str | None = None
    joined_at: float = field(default_factory=time.time)

    def payload(self, permissions: int | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "user": self.user.payload(),
            "nick": self.nick,
            "avatar": None,
            "banner": None,
            "roles": list(self.role_ids),
            "joined_at": iso(self.joined_at),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }
        if permissions is not None:
            data["permissions"] = str(permissions)
        return data


# Keys of the guild object that only GUILD_CREATE carries (Discord: "Guild Create Extra
# Fields"); GET /guilds/{id} and GUILD_UPDATE leave them out.
GUILD_CREATE_ONLY = (
    "joined_at",
    "large",
    "unavailable",
    "member_count",
    "voice_states",
    "members",
    "channels",
    "threads",
    "presences",
    "stage_instances",
    "guild_scheduled_events",
    "soundboard_sounds",
)


@dataclass(eq=False)
class Guild:
    id: str
    name: str
    owner_id: str
    roles: list[Role] = field(default_factory=list)
    channels: list[Channel] = field(default_factory=list)
    members: dict[str, Member] = field(default_factory=dict)
    bot_role_id: str | None = None
    locale: str = "en-US"
    joined_at: float = field(default_factory=time.time)
    system_channel_id: str | None = None
    bot_present: bool = True  # False once the bot was removed from the server

    @property
    def everyone(self) -> Role:
        return next(r for r in self.roles if r.id == self.id)

    def role(self, role_id: str) -> Role | None:
        return next((r for r in self.roles if r.id == role_id), None)

    def channel(self, name: str) -> Channel:
        """The channel called ``name`` (a convenience for tests)."""
        for ch in self.channels:
            if ch.name == name:
                return ch
        raise KeyError(f"guild {self.name!r} has no channel named {name!r}")

    def permissions_of(self, user_id: str) -> int:
        """Guild-level permissions: the owner and administrators get everything."""
        if user_id == self.owner_id:
            return ALL_PERMISSIONS
        perms = self.everyone.permissions
        member = self.members.get(user_id)
        for role_id in member.role_ids if member else []:
            role = self.role(role_id)
            if role is not None:
                perms |= role.permissions
        return ALL_PERMISSIONS if perms & ADMINISTRATOR else perms

    def permissions_in(self, channel: Channel, user_id: str) -> int:
        """Permissions in ``channel``: Discord's documented order (@everyone overwrite, then
        the member's roles' overwrites together, then the member's own), then its implicit
        rules (no VIEW_CHANNEL: nothing in the channel; no SEND_MESSAGES: no embeds, files,
        TTS or @everyone either)."""
        base = self.permissions_of(user_id)
        if base & ADMINISTRATOR:
            return ALL_PERMISSIONS
        perms = base
        everyone = channel.overwrite_for(self.id)
        if everyone is not None:
            perms = (perms & ~everyone.deny) | everyone.allow
        member = self.members.get(user_id)
        role_ids = set(member.role_ids) if member else set()
        allow = deny = 0
        for overwrite in channel.overwrites:
            if overwrite.type == ROLE_OVERWRITE and overwrite.id in role_ids:
                allow |= overwrite.allow
                deny |= overwrite.deny
        perms = (perms & ~deny) | allow
        own = channel.overwrite_for(user_id)
        if own is not None and own.type == MEMBER_OVERWRITE:
            perms = (perms & ~own.deny) | own.allow
        if not perms & SEND_MESSAGES:
            perms &= ~NEEDS_SEND_MESSAGES
        if not perms & VIEW_CHANNEL:
            perms &= ~CHANNEL_PERMISSIONS
        return perms

    def payload(self, bot_user_id: str) -> dict[str, Any]:
        """The full guild object as sent in GUILD_CREATE (only the bot's member is included,
        as Discord does without the privileged members intent)."""
        bot_member = self.members.get(bot_user_id)
        return {
            "id": self.id,
            "name": self.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": self.owner_id,
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": self.locale,
            "system_channel_id": self.system_channel_id,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "vanity_url_code": None,
            "application_id": None,
            "max_members": 500000,
            "features": [],
            "emojis": [],
            "stickers": [],
            "roles": [r.payload() for r in self.roles],
            "joined_at": iso(self.joined_at),
            "large": False,
            "unavailable": False,
            "member_count": len(self.members),
            "voice_states": [],
            "members": [bot_member.payload()] if bot_member else [],
            "channels": [c.payload() for c in self.channels if not c.deleted],
            "threads": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }


@dataclass(eq=False)
class CdnFile:
    """Bytes the CDN serves, plus the attachment object that points at them."""

    id: str
    filename: str
    data: bytes
    content_type: str
    url: str
    width: int | None = None
    height: int | None = None
    description: str | None = None
    bandwidth: int | None = None  # bytes/s this file is served at (None: the CDN's setting)

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "filename": self.filename,
            "size": len(self.data),
            "url": self.url,
            "proxy_url": self.url,
            "content_type": self.content_type,
            "flags": 0,
        }
        if self.width is not None:
            data.update(width=self.width, height=self.height)
        if self.description is not None:
            data["description"] = self.description
        return data


def _component_children(component: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Components nested in one: rows' and containers' ``components``, a section's
    ``accessory``, a label's ``component``."""
    yield from component.get("components") or []
    for key in ("accessory", "component"):
        if isinstance(component.get(key), dict):
            yield component[key]


def walk_components(components: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every component, depth first, in the order they appear."""
    for component in components:
        yield component
        yield from walk_components(list(_component_children(component)))


def number_components(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A copy of a message's components with Discord's numeric ``id`` on each: ids the
    sender set are kept, the rest (absent or 0) are numbered 1, 2, 3… in order, skipping the
    ids already taken in the message (Discord's components reference, "Anatomy of a
    Component")."""

    def copy(component: dict[str, Any]) -> dict[str, Any]:
        out = dict(component)
        if "components" in out and isinstance(out["components"], list):
            out["components"] = [copy(c) for c in out["components"]]
        for key in ("accessory", "component"):
            if isinstance(out.get(key), dict):
                out[key] = copy(out[key])
        return out

    copied = [copy(c) for c in components if isinstance(c, dict)]
    taken = {c["id"] for c in walk_components(copied) if c.get("id")}
    next_id = 1
    for component in walk_components(copied):
        if not component.get("id"):
            while next_id in taken:
                next_id += 1
            component["id"] = next_id
            taken.add(next_id)
    return copied


@dataclass(eq=False)
class Message:
    """A message the bot sent (or a test planted), kept current as the bot edits it.

    ``history`` holds the payload of every earlier version, oldest first, so a test can see
    e.g. the "thinking" state a deferred response went through.
    """

    id: str
    channel_id: str
    guild_id: str | None
    author: User
    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[dict[str, Any]] = field(default_factory=list)
    flags: int = 0
    tts: bool = False
    allowed_mentions: dict[str, Any] | None = None
    type: int = 0
    interaction_id: str | None = None
    webhook_id: str | None = None
    application_id: str | None = None
    timestamp: float = field(default_factory=time.time)
    edited_timestamp: float | None = None
    deleted: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    # discord.py reads ``interaction_metadata`` to link a response to its command.
    interaction_metadata: dict[str, Any] | None = None

    # -- reading it in tests -------------------------------------------------------------

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def loading(self) -> bool:
        """True while this is a deferred "Bot is thinking…" placeholder."""
        return bool(self.flags & LOADING)

    @property
    def embed(self) -> dict[str, Any] | None:
        """The first embed, or None."""
        return self.embeds[0] if self.embeds else None

    def iter_components(self) -> list[dict[str, Any]]:
        """Every component, flattened out of action rows, sections and containers."""
        return list(walk_components(self.components))

    @property
    def buttons(self) -> list[dict[str, Any]]:
        return [c for c in self.iter_components() if c.get("type") == 2]

    def find_component(
        self, *, custom_id: str | None = None, label: str | None = None
    ) -> dict[str, Any]:
        """The component with this custom_id (or, for buttons, this label)."""
        for comp in self.iter_components():
            if custom_id is not None and comp.get("custom_id") == custom_id:
                return comp
            if label is not None and comp.get("label") == label:
                return comp
        have = [(c.get("custom_id"), c.get("label")) for c in self.iter_components()]
        raise LookupError(
            f"message {self.id} has no component custom_id={custom_id!r} label={label!r}; "
            f"it has (custom_id, label): {have}"
        )

    # -- changing it from the REST handlers ------------------------------------------------

    def apply(self, data: dict[str, Any], *, edit: bool) -> None:
        """Apply a create or edit body (Discord's message create/edit params)."""
        if edit:
            self.history.append(self.payload())
            self.edited_timestamp = time.time()
        if "content" in data:
            self.content = data["content"] or ""
        if "embeds" in data:
            self.embeds = list(data["embeds"] or [])
        elif "embed" in data:  # legacy single-embed form
            self.embeds = [data["embed"]] if data["embed"] else []
        if "components" in data:
            self.components = number_components(data["components"] or [])
        if "allowed_mentions" in data:
            self.allowed_mentions = data["allowed_mentions"]
        if "tts" in data:
            self.tts = bool(data["tts"])
        if "flags" in data and data["flags"] is not None:
            flags = int(data["flags"])
            if edit:
                # Ephemeral and loading are fixed when the message is made; an edit keeps them.
                fixed = EPHEMERAL | LOADING
                flags = (flags & ~fixed) | (self.flags & fixed)
            self.flags = flags

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "type": self.type,
            "channel_id": self.channel_id,
            "author": self.author.payload(),
            "content": self.content,
            "timestamp": iso(self.timestamp),
            "edited_timestamp": iso(self.edited_timestamp) if self.edited_timestamp else None,
            "tts": self.tts,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": list(self.attachments),
            "embeds": list(self.embeds),
            "components": list(self.components),
            "pinned": False,
            "flags": self.flags,
        }
        if self.guild_id is not None:
            data["guild_id"] = self.guild_id
        if self.webhook_id is not None:
            data["webhook_id"] = self.webhook_id
        if self.application_id is not None:
            data["application_id"] = self.application_id
        if self.interaction_metadata is not None:
            data["interaction_metadata"] = self.interaction_metadata
        return data

    def __repr__(self) -> str:
        flags = " ephemeral" if self.ephemeral else ""
        flags += " loading" if self.loading else ""
        return (
            f"<Message id={self.id} channel={self.channel_id}{flags} content={self.content!r} "
            f"embeds={len(self.embeds)} components={len(self.components)}>"
        )
