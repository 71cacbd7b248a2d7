"""Interactions: the INTERACTION_CREATE payloads the fake sends, and what became of them.

The payload builders turn plain Python values into what a Discord client would send: option
types come from the command definitions the bot synced, users/channels/roles/attachments go
into ``data.resolved``, and Discord's client-side rules (required options, choices, ranges)
are enforced so a test cannot send something real Discord never would.

``InteractionRecord`` is the test's handle on one interaction: its callbacks, its original
response and followups (live ``Message`` objects that follow the bot's edits), and coroutines
that wait for them.
"""

# The public waiting API takes timeout= arguments on purpose (readable tests).
# ruff: noqa: ASYNC109

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .models import (
    DEFAULT_BOT_PERMISSIONS,
    EPHEMERAL,
    CdnFile,
    Channel,
    Guild,
    Message,
    Role,
    User,
    as_permission_int,
    walk_components,
)

if TYPE_CHECKING:
    from .state import World

# Interaction types.
PING, APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 1, 2, 3, 4, 5

# Interaction callback types.
PONG = 1
CHANNEL_MESSAGE = 4
DEFERRED_CHANNEL_MESSAGE = 5
DEFERRED_UPDATE_MESSAGE = 6
UPDATE_MESSAGE = 7
AUTOCOMPLETE_RESULT = 8
MODAL = 9

# Application command option types.
SUB_COMMAND, SUB_COMMAND_GROUP, STRING, INTEGER, BOOLEAN = 1, 2, 3, 4, 5
USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = 6, 7, 8, 9, 10, 11

ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024  # an unboosted server


@dataclass
class Callback:
    """One accepted interaction callback (``POST /interactions/{id}/{token}/callback``)."""

    type: int
    data: dict[str, Any] | None
    message: Message | None  # the message it created or updated, if any

    @property
    def deferred(self) -> bool:
        return self.type in (DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE_MESSAGE)

    @property
    def ephemeral(self) -> bool:
        return bool(self.message is not None and self.message.ephemeral)

    @property
    def choices(self) -> list[dict[str, Any]] | None:
        if self.type != AUTOCOMPLETE_RESULT:
            return None
        return list((self.data or {}).get("choices", []))

    @property
    def modal(self) -> dict[str, Any] | None:
        return self.data if self.type == MODAL else None


@dataclass(eq=False)
class InteractionRecord:
    """An interaction the fake dispatched, and everything the bot did in answer to it."""

    world: World = field(repr=False)
    id: str
    token: str
    type: int
    payload: dict[str, Any] = field(repr=False)
    user: User
    channel: Channel
    guild: Guild | None
    label: str  # e.g. "/demo hello" or "button 'Next'"; used in messages
    source_message: Message | None = field(default=None, repr=False)  # for components/modals
    dispatched_at: float = field(default_factory=time.monotonic)
    callbacks: list[Callback] = field(default_factory=list)
    rejected: list[tuple[int, int, int]] = field(default_factory=list)  # (type, status, code)
    original: Message | None = None
    followups: list[Message] = field(default_factory=list)
    updates: int = 0  # edits, followups and deletions after the first callback
    last_message: Message | None = None

    # -- state -------------------------------------------------------------------------------

    @property
    def response(self) -> Callback | None:
        """The first (and only accepted) callback, or None while unanswered."""
        return self.callbacks[0] if self.callbacks else None

    @property
    def acknowledged(self) -> bool:
        return bool(self.callbacks)

    @property
    def deferred(self) -> bool:
        return bool(self.callbacks) and self.callbacks[0].deferred

    @property
    def ephemeral(self) -> bool:
        """Whether the original response is ephemeral (False when there is none)."""
        return bool(self.original is not None and self.original.flags & EPHEMERAL)

    @property
    def choices(self) -> list[dict[str, Any]] | None:
        return self.response.choices if self.response else None

    @property
    def modal(self) -> dict[str, Any] | None:
        return self.response.modal if self.response else None

    @property
    def messages(self) -> list[Message]:
        """The original response (if any) followed by every followup."""
        return ([self.original] if self.original else []) + list(self.followups)

    def is_done(self) -> bool:
        """Answered for good: a final callback, or a deferral that has since been resolved."""
        if not self.callbacks:
            return False
        return not self.callbacks[0].deferred or self.updates > 0

    # -- waiting -----------------------------------------------------------------------------

    async def wait_response(self, timeout: float = 5.0) -> Callback:
        """The first callback (a message, a deferral, choices, a modal…)."""
        return await self.world.notifier.wait_for(lambda: self.response, timeout, self.describe)

    async def wait_done(self, timeout: float = 5.0) -> Message | None:
        """Wait until :meth:`is_done`, then return the message the user sees as the answer
        (the last one created or edited), or None for autocomplete/modal responses."""
        await self.world.notifier.wait_for(self.is_done, timeout, self.describe)
        return self.last_message

    async def wait_followup(self, count: int = 1, timeout: float = 5.0) -> Message:
        """Wait until there are ``count`` followups and return the ``count``-th."""
        await self.world.notifier.wait_for(
            lambda: len(self.followups) >= count, timeout, self.describe
        )
        return self.followups[count - 1]

    async def wait_until(self, check: Any, timeout: float = 5.0) -> Any:
        """Wait until ``check(self)`` is truthy and return its value."""
        return await self.world.notifier.wait_for(lambda: check(self), timeout, self.describe)

    def describe(self) -> str:
        recent = [r for r in self.world.requests if self.token in r.path or self.id in r.path]
        return (
            f"interaction {self.label} (id {self.id}): callbacks="
            f"{[c.type for c in self.callbacks]}, rejected={self.rejected}, "
            f"followups={len(self.followups)}, updates={self.updates}, "
            f"requests for it={recent}, last requests={self.world.requests[-5:]}"
        )


# -- building payloads ---------------------------------------------------------------------


def _base_payload(
    world: World,
    itype: int,
    *,
    user: User,
    channel: Channel,
    permissions: Any = None,
    app_permissions: Any = None,
    locale: str = "en-US",
) -> tuple[dict[str, Any], Guild | None]:
    """Everything every interaction carries: ids, token, who, where and with which rights."""
    guild = world.guild_of(channel)
    if guild is not None and not guild.bot_present:
        raise LookupError(f"the bot is not in {guild.name!r}: nobody there can reach it")
    interaction_id = world.ids.next()
    payload: dict[str, Any] = {
        "id": interaction_id,
        "application_id": world.application_id,
        "type": itype,
        "token": interaction_token(interaction_id),
        "version": 1,
        "channel_id": channel.id,
        "locale": locale,
        "entitlements": [],
        "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
    }
    if guild is None:
        payload["user"] = user.payload()
        payload["context"] = 1  # BOT_DM
        payload["authorizing_integration_owners"] = {"0": "0"}
        payload["app_permissions"] = str(
            as_permission_int(app_permissions)
            if app_permissions is not None
            else DEFAULT_BOT_PERMISSIONS
        )
        payload["channel"] = channel.payload()
        return payload, None

    member = world.ensure_member(guild, user)
    # Both are the permissions in the channel, overwrites included (Discord's interaction
    # object: ``member.permissions`` and ``app_permissions``).
    perms = (
        as_permission_int(permissions)
        if permissions is not None
        else guild.permissions_in(channel, user.id)
    )
    bot_perms = (
        as_permission_int(app_permissions)
        if app_permissions is not None
        else guild.permissions_in(channel, world.bot.id)
    )
    payload.update(
        guild_id=guild.id,
        guild={"id": guild.id, "locale": guild.locale, "features": []},
        guild_locale=guild.locale,
        context=0,  # GUILD
        authorizing_integration_owners={"0": guild.id},
        member=member.payload(permissions=perms),
        app_permissions=str(bot_perms),
        channel=dict(channel.payload(), permissions=str(perms)),
    )
    return payload, guild


def interaction_token(interaction_id: str) -> str:
    """A token shaped like Discord's: URL-safe base64 of ``interaction:<id>:<secret>``
    (proxies such as nirn-proxy read the interaction id out of it to pick a bucket)."""
    raw = f"interaction:{interaction_id}:{secrets.token_urlsafe(96)}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _find_option(options: list[dict[str, Any]], name: str, what: str) -> dict[str, Any]:
    for opt in options:
        if opt["name"] == name:
            return opt
    names = [o["name"] for o in options]
    raise ValueError(f"{what} has no option {name!r}; it has {names}")


class _Resolver:
    """Collects ``data.resolved`` while option values are encoded."""

    def __init__(self, world: World, guild: Guild | None, invoker: User | None = None) -> None:
        self.world, self.guild, self.invoker = world, guild, invoker
        self.resolved: dict[str, dict[str, Any]] = {}

    def _put(self, kind: str, key: str, value: dict[str, Any]) -> None:
        self.resolved.setdefault(kind, {})[key] = value

    def user(self, user: User) -> str:
        self._put("users", user.id, user.payload())
        if self.guild is not None:
            member = self.world.ensure_member(self.guild, user)
            data = member.payload(permissions=self.guild.permissions_of(user.id))
            # Resolved members are partial: no user, deaf or mute (Discord's resolved data).
            for key in ("user", "deaf", "mute"):
                del data[key]
            self._put("members", user.id, data)
        return user.id

    def channel(self, channel: Channel) -> str:
        guild, invoker = self.guild, self.invoker
        perms = guild.permissions_in(channel, invoker.id) if guild and invoker else 0
        app_perms = guild.permissions_in(channel, self.world.bot.id) if guild else 0
        data = {
            "id": channel.id,
            "name": channel.name or "",
            "type": channel.type,
            "permissions": str(perms),
            "app_permissions": str(app_perms),
            "nsfw": channel.nsfw,
            "parent_id": channel.parent_id,
            "guild_id": channel.guild_id,
        }
        self._put("channels", channel.id, data)
        return channel.id

    def role(self, role: Role) -> str:
        self._put("roles", role.id, role.payload())
        return role.id

    def attachment(self, file: CdnFile) -> str:
        self._put("attachments", file.id, file.payload())
        return file.id


def _encode_value(definition: dict[str, Any], value: Any, resolver: _Resolver, where: str) -> Any:
    """Turn a test's Python value into the option ``value`` Discord would send."""
    otype = definition["type"]
    name = definition["name"]
    try:
        if otype == STRING:
            encoded: Any = str(value)
        elif otype == INTEGER:
            if isinstance(value, bool) or int(value) != value:
                raise TypeError
            encoded = int(value)
        elif otype == BOOLEAN:
            if not isinstance(value, bool):
                raise TypeError
            encoded = value
        elif otype == NUMBER:
            encoded = float(value)
        elif otype == USER or (otype == MENTIONABLE and _names_a_user(resolver, value)):
            encoded = resolver.user(_lookup(resolver, value, User))
        elif otype == CHANNEL:
            encoded = resolver.channel(_lookup(resolver, value, Channel))
        elif otype == ROLE or otype == MENTIONABLE:
            encoded = resolver.role(_lookup(resolver, value, Role))
        elif otype == ATTACHMENT:
            encoded = resolver.attachment(_lookup(resolver, value, CdnFile))
        else:
            raise ValueError(f"{where}: option {name!r} has unsupported type {otype}")
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ValueError) and str(exc).startswith(where):
            raise
        raise TypeError(f"{where}: option {name!r} (type {otype}) cannot take {value!r}") from None
    _check_constraints(definition, encoded, where)
    return encoded


def _names_a_user(resolver: _Resolver, value: Any) -> bool:
    return str(getattr(value, "id", value)) in resolver.world.users


def _lookup(resolver: _Resolver, value: Any, cls: type) -> Any:
    """Accept the fake's own object, or anything with the same ``id`` (a discord.py object,
    an int or a str), looked up in the fake's world."""
    if isinstance(value, cls):
        return value
    key = str(getattr(value, "id", value))
    world, guild = resolver.world, resolver.guild
    if cls is User:
        found = world.users.get(key)
    elif cls is Channel:
        found = world.channels.get(key)
    elif cls is Role:
        found = guild.role(key) if guild is not None else None
    else:
        found = None
    if found is None:
        raise TypeError
    return found


def _check_constraints(definition: dict[str, Any], value: Any, where: str) -> None:
    """Discord's client refuses values outside choices or ranges; so does the fake."""
    name = definition["name"]
    choices = definition.get("choices")
    if choices and value not in [c["value"] for c in choices]:
        allowed = [c["value"] for c in choices]
        raise ValueError(f"{where}: {value!r} is not a choice of option {name!r} ({allowed})")
    low, high = definition.get("min_value"), definition.get("max_value")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{where}: option {name!r} must be within [{low}, {high}]")
    if isinstance(value, str):
        shortest, longest = definition.get("min_length"), definition.get("max_length")
        if (shortest is not None and len(value) < shortest) or (
            longest is not None and len(value) > longest
        ):
            raise ValueError(
                f"{where}: option {name!r} length must be within [{shortest}, {longest}]"
            )


def build_command_data(
    world: World,
    guild: Guild | None,
    name: str,
    path: tuple[str, ...],
    options: dict[str, Any],
    *,
    focused: tuple[str, str] | None = None,
    invoker: User | None = None,
) -> dict[str, Any]:
    """``data`` for a slash command (or its autocomplete) typed from the synced definition."""
    command = world.find_command(name, guild.id if guild else None)
    if command is None:
        where = f"guild {guild.name!r}" if guild else "DMs (global commands)"
        synced = [c["name"] for c in world.commands_for(guild.id if guild else None)]
        raise LookupError(
            f"/{name} is not synced for {where}; synced there: {synced}, "
            f"global: {[c['name'] for c in world.global_commands]}"
        )
    where = "/" + " ".join((name, *path))
    definitions: list[dict[str, Any]] = command.get("options") or []
    leaf: list[dict[str, Any]] = []
    top: list[dict[str, Any]] = leaf
    # Walk down the group/subcommand path, nesting an option object for each step.
    for step in path:
        definition = _find_option(definitions, step, where)
        if definition["type"] not in (SUB_COMMAND, SUB_COMMAND_GROUP):
            raise ValueError(f"{where}: {step!r} is an option, not a subcommand")
        nested: list[dict[str, Any]] = []
        leaf.append({"type": definition["type"], "name": step, "options": nested})
        leaf, definitions = nested, definition.get("options") or []
    if any(d["type"] in (SUB_COMMAND, SUB_COMMAND_GROUP) for d in definitions):
        subs = [d["name"] for d in definitions]
        raise ValueError(f"{where} needs a subcommand: one of {subs}")

    resolver = _Resolver(world, guild, invoker)
    for key, value in options.items():
        definition = _find_option(definitions, key, where)
        leaf.append(
            {
                "type": definition["type"],
                "name": key,
                "value": _encode_value(definition, value, resolver, where),
            }
        )
    if focused is not None:
        fname, typed = focused
        definition = _find_option(definitions, fname, where)
        if not definition.get("autocomplete"):
            raise ValueError(f"{where}: option {fname!r} has no autocomplete")
        # The focused value is whatever the user has typed so far: always a string.
        leaf.append({"type": definition["type"], "name": fname, "value": typed, "focused": True})
    else:
        missing = [d["name"] for d in definitions if d.get("required") and d["name"] not in options]
        if missing:
            raise ValueError(f"{where}: missing required options {missing}")

    data: dict[str, Any] = {"id": command["id"], "name": name, "type": 1, "options": top}
    if command.get("guild_id"):
        data["guild_id"] = command["guild_id"]
    if resolver.resolved:
        data["resolved"] = resolver.resolved
    return data


USER_COMMAND, MESSAGE_COMMAND = 2, 3  # application command types of the context menus


def build_context_menu_data(
    world: World,
    guild: Guild | None,
    name: str,
    ctype: int,
    target: User | Message,
    invoker: User,
) -> dict[str, Any]:
    """``data`` for a user (type 2) or message (type 3) context menu command, as Discord
    sends it: ``target_id`` and the target in ``resolved`` (a user with its partial member in
    a server; a message)."""
    kind = "user" if ctype == USER_COMMAND else "message"
    command = world.find_command(name, guild.id if guild else None, ctype)
    if command is None:
        synced = [
            (c["name"], c.get("type", 1)) for c in world.commands_for(guild.id if guild else None)
        ]
        raise LookupError(f"no {kind} command {name!r} is synced there; synced: {synced}")
    resolver = _Resolver(world, guild, invoker)
    if isinstance(target, User):
        target_id = resolver.user(target)
    else:
        target_id = target.id
        resolver._put("messages", target.id, target.payload())
    data: dict[str, Any] = {
        "id": command["id"],
        "name": name,
        "type": ctype,
        "target_id": target_id,
        "resolved": resolver.resolved,
    }
    if command.get("guild_id"):
        data["guild_id"] = command["guild_id"]
    return data


def build_interaction(
    world: World,
    itype: int,
    data: dict[str, Any],
    *,
    user: User,
    channel: Channel,
    label: str,
    permissions: Any = None,
    app_permissions: Any = None,
    locale: str = "en-US",
    message: Message | None = None,
) -> InteractionRecord:
    """Make the full payload and the record that tracks it (not yet dispatched)."""
    payload, guild = _base_payload(
        world,
        itype,
        user=user,
        channel=channel,
        permissions=permissions,
        app_permissions=app_permissions,
        locale=locale,
    )
    payload["data"] = data
    if message is not None:
        payload["message"] = message.payload()
    record = InteractionRecord(
        world=world,
        id=payload["id"],
        token=payload["token"],
        type=itype,
        payload=payload,
        user=user,
        channel=channel,
        guild=guild,
        label=label,
        source_message=message,
    )
    world.add_interaction(record)
    return record


def component_data(component: dict[str, Any], values: list[str] | None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "custom_id": component["custom_id"],
        "component_type": component["type"],
    }
    if component["type"] != 2:  # select menus report the chosen values
        data["values"] = list(values or [])
    return data


def modal_submit_data(modal: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """Mirror the modal's layout with the user's input, as the Discord client does."""
    inputs = {c.get("custom_id") for c in walk_components(modal.get("components", []))}
    unknown = set(values) - inputs
    if unknown:
        raise ValueError(f"modal {modal.get('custom_id')!r} has no inputs {sorted(unknown)}")

    def answer(component: dict[str, Any]) -> dict[str, Any]:
        ctype = component["type"]
        if ctype == 1:
            return {"type": 1, "components": [answer(c) for c in component["components"]]}
        if ctype == 18:  # label wrapping one input
            return {"type": 18, "component": answer(component["component"])}
        custom_id = component.get("custom_id")
        if ctype == 4:
            return {"type": 4, "custom_id": custom_id, "value": str(values.get(custom_id, ""))}
        if custom_id is not None:
            chosen = values.get(custom_id, [])
            return {"type": ctype, "custom_id": custom_id, "values": list(chosen)}
        return {"type": ctype}

    return {
        "custom_id": modal["custom_id"],
        "components": [answer(c) for c in modal.get("components", [])],
    }
