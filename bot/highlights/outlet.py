"""Where highlights meet Discord: can the bot post in a channel, post, tell a server.

The engine talks to an ``Outlet``; ``DiscordOutlet`` is the real one, over discord.py's
cache (channels, their NSFW flag and permission overwrites arrive through the gateway, and
``channel.permissions_for(guild.me)`` computes the bot's rights from them) and its REST
client, whose rate limiter honours Discord's 429s. Tests of the engine's logic use a small
in-memory outlet instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import aiohttp
import discord

from bot.discord.replies import NO_MENTIONS
from bot.errors import BadInput
from bot.highlights.message import Post

log = logging.getLogger(__name__)

# What a highlights post needs in its channel, in the words of Discord's settings screens.
NEEDED = {
    "view_channel": "View Channel",
    "send_messages": "Send Messages",
    "embed_links": "Embed Links",
}


class ChannelProblem(BadInput):
    """The bot cannot post in a channel: it is gone, or permissions are missing. The
    message says which, for an admin; ``fix`` says what to do about it."""

    def __init__(self, channel_id: int, *, gone: bool = False, missing: tuple[str, ...] = ()):
        self.channel_id = channel_id
        self.gone = gone
        self.missing = missing
        where = f"<#{channel_id}>"
        if gone:
            text = f"I can't find {where}: it was deleted, or I can't see it any more."
            self.fix = "point the feed at another channel with `/highlights edit`, or remove it"
        else:
            names = " and ".join(missing) if missing else "the permissions it needs"
            text = f"I can't post in {where}: I'm missing {names} there."
            self.fix = (
                f"give my role View Channel, Send Messages and Embed Links in {where} "
                "(the channel's settings → Permissions)"
            )
        super().__init__(text)


class SendFailed(Exception):
    """Discord did not take a message for a reason that may pass (a 5xx, a timeout)."""


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    nsfw: bool
    can_read_history: bool


@dataclass(frozen=True, slots=True)
class FoundPost:
    message_id: int
    item_ids: tuple[str, ...]


class Outlet(Protocol):
    async def wait_ready(self) -> None:
        """Return once the guild and channel cache can be trusted."""

    def has_guild(self, guild_id: int) -> bool | None:
        """Whether the bot is in the guild; None while that is not known yet."""

    def channel(self, guild_id: int, channel_id: int) -> ChannelInfo:
        """What the bot may do in the channel now; ``ChannelProblem`` if it cannot post."""

    async def send(self, channel_id: int, post: Post) -> int:
        """Post; the message id. ``ChannelProblem`` or ``SendFailed`` if it did not."""

    async def find_post(self, channel_id: int, header: str) -> FoundPost | None:
        """A recent post of the bot's that starts with ``header``."""

    async def notify(self, guild_id: int, user_id: int, text: str, *, avoid: int) -> str | None:
        """Tell a server something; where it went ("#channel", "a DM"), None if nowhere."""


class DiscordOutlet:
    """The outlet over a connected discord.py client."""

    HISTORY_LOOKBACK = 50  # messages read back when checking whether a post went out

    def __init__(self, client: discord.Client) -> None:
        self.client = client

    async def wait_ready(self) -> None:
        await self.client.wait_until_ready()

    def has_guild(self, guild_id: int) -> bool | None:
        if not self.client.is_ready():
            return None
        # A guild in an outage stays in the cache (marked unavailable); one the bot left
        # (GUILD_DELETE without ``unavailable``, or absent from READY) does not.
        return self.client.get_guild(guild_id) is not None

    def _text_channel(self, guild_id: int, channel_id: int) -> discord.abc.GuildChannel:
        guild = self.client.get_guild(guild_id)
        channel = guild.get_channel(channel_id) if guild else None
        if guild is None or channel is None or not isinstance(channel, discord.abc.Messageable):
            raise ChannelProblem(channel_id, gone=True)
        return channel

    def channel(self, guild_id: int, channel_id: int) -> ChannelInfo:
        channel = self._text_channel(guild_id, channel_id)
        perms = channel.permissions_for(channel.guild.me)
        missing = tuple(words for name, words in NEEDED.items() if not getattr(perms, name))
        if missing:
            raise ChannelProblem(channel_id, missing=missing)
        return ChannelInfo(
            nsfw=bool(getattr(channel, "is_nsfw", lambda: False)()),
            can_read_history=perms.read_message_history,
        )

    async def send(self, channel_id: int, post: Post) -> int:
        channel = self.client.get_channel(channel_id)
        if not isinstance(channel, discord.abc.Messageable):
            raise ChannelProblem(channel_id, gone=True)
        try:
            message = await channel.send(
                post.content, embeds=list(post.embeds), allowed_mentions=NO_MENTIONS
            )
        except discord.NotFound:
            raise ChannelProblem(channel_id, gone=True) from None
        except discord.Forbidden as exc:
            # The cache said yes and Discord said no: an overwrite not seen yet, or a
            # missing permission the cache cannot show (a timeout, a thread's parent).
            raise ChannelProblem(channel_id, missing=(exc.text or "a permission",)) from None
        except (discord.HTTPException, aiohttp.ClientError, TimeoutError) as exc:
            raise SendFailed(f"Discord did not take the post: {exc}") from None
        return message.id

    async def find_post(self, channel_id: int, header: str) -> FoundPost | None:
        # The header names the feed and the run, so it is enough: no clock is compared
        # (Discord's and the bot's may disagree, and tests run the bot on a fake one).
        channel = self.client.get_channel(channel_id)
        me = self.client.user
        if not isinstance(channel, discord.abc.Messageable) or me is None:
            return None
        try:
            async for message in channel.history(limit=self.HISTORY_LOOKBACK):
                if message.author.id == me.id and message.content.startswith(header):
                    urls = [embed.url for embed in message.embeds if embed.url]
                    ids = tuple(url.rstrip("/").rsplit("/", 1)[-1] for url in urls)
                    return FoundPost(message.id, ids)
        except (discord.HTTPException, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("could not read back #%s to check for a post: %s", channel_id, exc)
        return None

    async def notify(self, guild_id: int, user_id: int, text: str, *, avoid: int) -> str | None:
        """The server's system channel when the bot may post there (and it is not the
        channel that failed), else a DM to ``user_id``."""
        guild = self.client.get_guild(guild_id)
        system = guild.system_channel if guild else None
        if guild is not None and system is not None and system.id != avoid:
            perms = system.permissions_for(guild.me)
            if perms.view_channel and perms.send_messages:
                try:
                    await system.send(text, allowed_mentions=NO_MENTIONS)
                    return f"#{system.name}"
                except discord.HTTPException as exc:
                    log.info("could not post in the system channel of %s: %s", guild_id, exc)
        try:
            user = self.client.get_user(user_id) or await self.client.fetch_user(user_id)
            await user.send(text, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as exc:
            log.info("could not DM user %s about a paused feed: %s", user_id, exc)
            return None
        return "a direct message"
