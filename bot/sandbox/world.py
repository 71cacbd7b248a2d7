"""The sandbox's world: the Imgur emulator, the fake Discord and the real bot, in one process.

``Sandbox`` starts the three on 127.0.0.1 (free ports), with one server holding a normal and
an age-restricted channel, three people (a member, a member with Manage Server, the bot's
owner) and the DM each has with the bot. The bot is built by ``open_bot`` from a ``Config``
pointed at the two fakes, exactly as ``imgurbot run`` builds it; only its clock is the
sandbox's (``SkippableClock``), so a visitor can skip ahead to a scheduled post.

What the page may do goes through the methods here (``slash``, ``click``, ``autocomplete``,
``post``, ``message_command``, ``skip``, the faults); each takes ids and plain values as
the page sends them and raises ``Refused`` with a sentence when they do not fit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import discord

from bot.app import ImgurBot, open_bot
from bot.config import load_config
from bot.sandbox.clock import SkippableClock
from fakes.discord import FakeDiscord
from fakes.discord.models import CdnFile, Channel, Guild, Message, User
from fakes.imgur.app import Emulator, EmulatorConfig
from fakes.imgur.faults import UnknownFault

log = logging.getLogger(__name__)

TOKEN = "sandbox-discord-token"  # the fake Discord's; nothing real
CLIENT_ID = "sandbox-imgur-client"  # the emulator's; nothing real

MANAGE_GUILD = discord.Permissions(manage_guild=True).value
# Option types of Discord's application commands.
STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = range(3, 12)

# Emulator faults the page offers: label -> (kind, params).
IMGUR_FAULTS: dict[str, tuple[str, dict[str, Any]]] = {
    "slow": ("latency", {"seconds": 4.0}),
    "5xx": ("error_500", {}),
    "429": ("rate_limited_429", {}),
    "over capacity": ("over_capacity_403", {}),
}
# Discord routes the page can rate-limit, and permissions it can take from the bot.
DISCORD_429_ROUTES = ("/interactions/", "/webhooks/", "/channels/")
PERMISSIONS = {
    "embed_links": discord.Permissions(embed_links=True).value,
    "attach_files": discord.Permissions(attach_files=True).value,
    "send_messages": discord.Permissions(send_messages=True).value,
}


class Refused(ValueError):
    """What the page asked for cannot be done; the message says why."""


@dataclass
class People:
    member: User
    moderator: User
    owner: User

    def all(self) -> list[tuple[User, str]]:
        return [
            (self.member, "member"),
            (self.moderator, "member with Manage Server"),
            (self.owner, "the bot's owner"),
        ]


class Sandbox:
    """``async with Sandbox() as sb:`` the three parts running; ``sb.started_in_s`` says how
    long until the bot had answered its first command."""

    def __init__(
        self,
        *,
        data_dir: Path | None = None,
        seed: int = 1337,
        overrides: dict[str, str] | None = None,
    ) -> None:
        self.clock = SkippableClock()
        self.seed = seed
        self._overrides = dict(overrides or {})
        self._data_dir = data_dir
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.files: dict[str, CdnFile] = {}  # attachments the page uploaded, by id
        self.started_in_s: float | None = None
        self._stack = contextlib.AsyncExitStack()
        self._bot_task: asyncio.Task[None] | None = None
        self.fd: FakeDiscord
        self.emu: Emulator
        self.bot: ImgurBot
        self.guild: Guild
        self.general: Channel
        self.after_dark: Channel
        self.people: People

    # -- lifetime ----------------------------------------------------------------------------

    async def __aenter__(self) -> Sandbox:
        began = time.perf_counter()
        try:
            await self._start()
            await self._first_answer()
        except BaseException:
            await self.close()
            raise
        self.started_in_s = time.perf_counter() - began
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _start(self) -> None:
        if self._data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="imgurbot-sandbox-")
            self._stack.callback(self._tmp.cleanup)
            self._data_dir = Path(self._tmp.name)
        self.fd = FakeDiscord(token=TOKEN, bot_name="imgurbot", owner_name="owner")
        await self._stack.enter_async_context(self.fd)
        self.emu = Emulator(EmulatorConfig(seed=self.seed))
        await self._stack.enter_async_context(self.emu)
        fd = self.fd
        self.people = People(fd.add_user("alice"), fd.add_user("mo"), fd.owner)
        self.guild = fd.add_guild("Sandbox", owner=self.people.owner)
        self.general = fd.add_channel(self.guild, "general", topic="a normal channel")
        self.after_dark = fd.add_channel(
            self.guild, "after-dark", nsfw=True, topic="age-restricted (NSFW)"
        )
        moderators = fd.add_role(self.guild, "moderators", permissions=MANAGE_GUILD)
        fd.add_member(self.guild, self.people.member)
        fd.add_member(self.guild, self.people.moderator, roles=(moderators,))
        fd.add_member(self.guild, self.people.owner)
        bot_cm = open_bot(self._config(), clock=self.clock, guild_ready_timeout=0.05)
        self.bot = await bot_cm.__aenter__()
        self._stack.push_async_exit(bot_cm)
        self._bot_task = asyncio.create_task(self.bot.start(TOKEN), name="sandbox-bot")
        self._stack.push_async_callback(self._stop_bot)
        await fd.wait_until_ready(timeout=30)
        await asyncio.wait_for(self.bot.wait_until_ready(), 30)
        await fd.wait_for(lambda: fd.commands(), 30, "the bot's command sync")

    def _config(self):
        assert self._data_dir is not None
        env = {
            "DISCORD_TOKEN": TOKEN,
            "IMGUR_CLIENT_ID": CLIENT_ID,
            "IMGURBOT_DISCORD__API_BASE_URL": self.fd.rest_url,
            "IMGURBOT_DISCORD__GATEWAY_URL": self.fd.gateway_url,
            "IMGURBOT_IMGUR__API_BASE_URL": self.emu.base_url,
            "IMGURBOT_IMGUR__USE_EMULATOR": "never",
            "IMGURBOT_STORE__PATH": f'"{self._data_dir / "sandbox.db"}"',
            # The emulator's meme templates are trusted, as the built-in emulator's are.
            "IMGURBOT_MEMES__EXTRA_TEMPLATE_ORIGINS": f'["{self.emu.base_url}"]',
            "IMGURBOT_LOGGING__LEVEL": "INFO",
        }
        env.update({f"IMGURBOT_{k.upper()}": v for k, v in self._overrides.items()})
        return load_config(None, env)

    async def _first_answer(self) -> None:
        """Ask the bot one thing (privately) so start-up counts until it really answers."""
        record = await self.fd.slash("imgur", "quota", user=self.people.owner, channel=self.general)
        await record.wait_done(timeout=30)

    async def _stop_bot(self) -> None:
        task = self._bot_task
        if task is None:
            return
        if not task.done():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.bot.drain_and_close(), 15)
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(task, 10)

    async def close(self) -> None:
        await self._stack.aclose()

    # -- what the page shows -----------------------------------------------------------------

    def user(self, user_id: str) -> User:
        user = self.fd.world.users.get(str(user_id))
        if user is None or user.id not in {u.id for u, _ in self.people.all()}:
            raise Refused(f"no member {user_id!r} in the sandbox")
        return user

    def channel(self, channel_id: str, user: User) -> Channel:
        if channel_id == "dm":
            return self.fd.dm_channel(user)
        channel = self.fd.world.channels.get(str(channel_id))
        if channel is None:
            raise Refused(f"no channel {channel_id!r} in the sandbox")
        return channel

    def message(self, message_id: str) -> Message:
        message = self.fd.world.messages.get(str(message_id))
        if message is None or message.deleted:
            raise Refused("that message is gone")
        return message

    def commands(self, user: User, channel: Channel) -> list[dict[str, Any]]:
        """The commands ``user`` would see in ``channel``: synced ones their permissions
        allow (Discord hides ``default_member_permissions`` they lack; DMs show those that
        may run there)."""
        guild = self.fd.world.guild_of(channel)
        perms = guild.permissions_in(channel, user.id) if guild else 0
        administrator = discord.Permissions(administrator=True).value
        seen = []
        for command in self.fd.commands(guild) + (self.fd.commands() if guild else []):
            needed = command.get("default_member_permissions")
            if guild is None:
                contexts = command.get("contexts")
                if command.get("dm_permission") is False or (contexts and 1 not in contexts):
                    continue
            elif needed is not None and not perms & administrator:
                if int(needed) & perms != int(needed):
                    continue
            seen.append(command)
        return seen

    def member_permissions(self, user: User, channel: Channel) -> int:
        guild = self.fd.world.guild_of(channel)
        return guild.permissions_in(channel, user.id) if guild else 0

    async def credits(self) -> dict[str, Any]:
        status = await self.bot.ledger.guild_status(int(self.guild.id))
        health = self.bot.ledger.health()
        return {
            "guild_left": status.left,
            "guild_used": status.used,
            "allowance": status.allowance,
            "resets_at": status.resets_at.isoformat(),
            "client_left": health.client_credits_left,
        }

    def now(self) -> dict[str, Any]:
        return {"now": self.clock.now().isoformat(), "skipped_s": self.clock.offset_s}

    # -- what the page does ------------------------------------------------------------------

    def _typed_options(
        self, name: str, path: list[str], values: dict[str, Any], guild: Guild | None
    ) -> dict[str, Any]:
        """The page's option values (text from a form) as the types the command declares."""
        command = self.fd.world.find_command(name, guild.id if guild else None)
        if command is None:
            raise Refused(f"/{name} is not a command the bot synced")
        definitions = command.get("options") or []
        for step in path:
            found = next((o for o in definitions if o["name"] == step), None)
            if found is None:
                raise Refused(f"/{name} has no subcommand {step!r}")
            definitions = found.get("options") or []
        by_name = {o["name"]: o for o in definitions}
        typed: dict[str, Any] = {}
        for key, raw in values.items():
            definition = by_name.get(key)
            if definition is None:
                raise Refused(f"/{' '.join([name, *path])} has no option {key!r}")
            if raw is None or raw == "":
                continue
            typed[key] = self._typed(definition, raw)
        missing = [o["name"] for o in definitions if o.get("required") and o["name"] not in typed]
        if missing:
            raise Refused(f"fill in {', '.join(missing)} first")
        return typed

    def _typed(self, definition: dict[str, Any], raw: Any) -> Any:
        kind, name = definition["type"], definition["name"]
        try:
            if kind == INTEGER:
                return int(raw)
            if kind == NUMBER:
                return float(raw)
            if kind == BOOLEAN:
                if isinstance(raw, bool):
                    return raw
                if str(raw).lower() in ("true", "yes", "1"):
                    return True
                if str(raw).lower() in ("false", "no", "0"):
                    return False
                raise ValueError
        except ValueError:
            raise Refused(f"{name}: {raw!r} is not a {_TYPE_WORDS[kind]}") from None
        if kind == ATTACHMENT:
            file = self.files.get(str(raw))
            if file is None:
                raise Refused(f"{name}: attach a file first")
            return file
        if kind == CHANNEL:
            channel = next(
                (c for c in self.guild.channels if str(raw).lstrip("#") in (c.id, c.name)), None
            )
            if channel is None:
                raise Refused(f"{name}: no channel {raw!r} here")
            return channel
        if kind in (USER, MENTIONABLE):
            user = next(
                (u for u, _ in self.people.all() if str(raw).lstrip("@") in (u.id, u.username)),
                None,
            )
            if user is None:
                raise Refused(f"{name}: no member {raw!r} here")
            return user
        return str(raw)

    async def slash(
        self, user_id: str, channel_id: str, name: str, path: list[str], options: dict[str, Any]
    ) -> str:
        user = self.user(user_id)
        channel = self.channel(channel_id, user)
        typed = self._typed_options(name, path, options, self.fd.world.guild_of(channel))
        try:
            record = await self.fd.slash(name, *path, options=typed, user=user, channel=channel)
        except (TypeError, ValueError, LookupError) as exc:
            raise Refused(str(exc)) from None
        return record.id

    async def autocomplete(
        self,
        user_id: str,
        channel_id: str,
        name: str,
        path: list[str],
        focused: str,
        value: str,
        options: dict[str, Any],
    ) -> list[dict[str, Any]]:
        user = self.user(user_id)
        channel = self.channel(channel_id, user)
        guild = self.fd.world.guild_of(channel)
        others = {k: v for k, v in options.items() if k != focused}
        try:
            typed = self._typed_options(name, path, others, guild)
        except Refused:
            typed = {}
        try:
            return await self.fd.autocomplete(
                name, *path, focused=focused, value=value, options=typed, user=user,
                channel=channel, timeout=5,
            )  # fmt: skip
        except (TypeError, ValueError, LookupError, TimeoutError) as exc:
            raise Refused(str(exc) or "the bot did not answer in time") from None

    async def click(self, user_id: str, message_id: str, custom_id: str, values=None) -> str:
        user = self.user(user_id)
        message = self.message(message_id)
        try:
            if values is not None:
                record = await self.fd.select(
                    message, custom_id=custom_id, values=list(values), user=user
                )
            else:
                record = await self.fd.click(message, custom_id=custom_id, user=user)
        except (TypeError, ValueError, LookupError) as exc:
            raise Refused(str(exc)) from None
        return record.id

    async def message_command(self, user_id: str, message_id: str, name: str) -> str:
        user = self.user(user_id)
        message = self.message(message_id)
        try:
            record = await self.fd.message_command(name, message, user=user)
        except (TypeError, ValueError, LookupError) as exc:
            raise Refused(str(exc)) from None
        return record.id

    def attach(self, filename: str, data: bytes, content_type: str) -> CdnFile:
        file = self.fd.add_attachment(filename, data, content_type or "application/octet-stream")
        self.files[file.id] = file
        return file

    async def post(
        self, user_id: str, channel_id: str, content: str, attachment_ids: list[str]
    ) -> Message:
        user = self.user(user_id)
        channel = self.channel(channel_id, user)
        files = []
        for file_id in attachment_ids:
            file = self.files.get(str(file_id))
            if file is None:
                raise Refused("an attachment is gone; attach it again")
            files.append(file)
        if not content.strip() and not files:
            raise Refused("write something or attach a file")
        return await self.fd.post_message(channel, user, content, attachments=files)

    async def skip(self, seconds: float | None) -> dict[str, Any]:
        """Move the clock ``seconds`` ahead, or (None) to the next highlights run; then do
        what the bot's scheduler does when a run is due."""
        if seconds is None:
            feeds = await self.bot.highlights.feeds.in_guild(int(self.guild.id))
            runs = [f.next_run_at for f in feeds if not f.paused and f.next_run_at]
            if not runs:
                raise Refused("no highlights feed is scheduled: add one with /highlights add")
            seconds = max(0.0, (min(runs) - self.clock.now()).total_seconds()) + 1.0
        if not 0 <= seconds <= 366 * 86400:
            raise Refused("skip between 0 seconds and a year ahead")
        self.clock.skip(seconds)
        report = await self.bot.highlights.run_due()
        await self.bot.highlights.sync_timers()
        return {"skipped_s": seconds, "ran": _run_words(report)}

    # -- faults ------------------------------------------------------------------------------

    def imgur_fault(self, label: str, times: int | None) -> dict[str, Any]:
        if label not in IMGUR_FAULTS:
            raise Refused(f"no Imgur fault {label!r}; choose one of {sorted(IMGUR_FAULTS)}")
        kind, params = IMGUR_FAULTS[label]
        try:
            fault = self.emu.faults.add(kind, path_prefix="/3/", times=times, **params)
        except (UnknownFault, ValueError) as exc:
            raise Refused(str(exc)) from None
        return fault.as_dict()

    def clear_imgur_faults(self) -> None:
        self.emu.faults.clear()

    def discord_429(self, route: str, count: int, retry_after: float) -> None:
        if route not in DISCORD_429_ROUTES:
            raise Refused(f"choose a route among {list(DISCORD_429_ROUTES)}")
        self.fd.inject_rate_limit(route, retry_after=retry_after, count=count)

    def take_permission(self, channel_id: str, permission: str, taken: bool) -> None:
        if permission not in PERMISSIONS:
            raise Refused(f"choose a permission among {sorted(PERMISSIONS)}")
        channel = self.channel(channel_id, self.people.member)
        if self.fd.world.guild_of(channel) is None:
            raise Refused("a DM has no permissions to take")
        current = next((o for o in channel.overwrites if o.id == self.fd.bot_user.id), None)
        deny = current.deny if current else 0
        deny = deny | PERMISSIONS[permission] if taken else deny & ~PERMISSIONS[permission]
        self.fd.set_permissions(channel, self.fd.bot_user, deny=deny)

    def faults(self) -> dict[str, Any]:
        denied = {}
        for channel in (self.general, self.after_dark):
            overwrite = next((o for o in channel.overwrites if o.id == self.fd.bot_user.id), None)
            deny = overwrite.deny if overwrite else 0
            denied[channel.id] = [p for p, bit in PERMISSIONS.items() if deny & bit]
        return {
            "imgur": [f.as_dict() for f in self.emu.faults.active()],
            "discord_429": [
                {"route": i.prefix, "left": i.remaining}
                for i in self.fd.limiter.injections
                if i.remaining > 0
            ],
            "denied": denied,
        }


_TYPE_WORDS = {INTEGER: "whole number", NUMBER: "number", BOOLEAN: "yes or no"}


def _run_words(report) -> str:
    """A highlights ``RunReport`` as the page says it."""
    if not report.eventful:
        return "no highlights feed was due"
    parts = [f"{report.posted} feed(s) posted"]
    if report.empty:
        parts.append(f"{report.empty} had nothing new")
    if report.missed:
        parts.append(f"{report.missed} skipped runs older than the grace window")
    if report.retrying:
        parts.append(f"{report.retrying} will retry")
    if report.paused:
        parts.append(f"paused: feed {', '.join(f'#{f}' for f in report.paused)}")
    return "; ".join(parts)
