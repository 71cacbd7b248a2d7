"""``/highlights …``: scheduled Imgur highlights in this server's channels.

Discord surface only: options, the Manage Server check, the channel check at ``add``, and
turning feeds into words. The engine (``bot.highlights``) keeps the feeds and posts them.

Manage Server is checked on every call in ``interaction_check`` (``default_permissions``
only tells Discord whom to show the commands to, and server admins can change that).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.access import ChargedImgur
from bot.discord.embeds import EMBED_COLOUR, allows_nsfw
from bot.discord.replies import NO_MENTIONS, clip, relative_time, reply_privately
from bot.errors import BadInput
from bot.highlights import ChannelProblem, Feed, FeedSettings, HighlightsEngine, Source
from bot.highlights.schedule import EXAMPLES, suggest_zones
from bot.imgur.vocab import GallerySort, Section, Window

if TYPE_CHECKING:
    from bot.app import ImgurBot

    Interaction = discord.Interaction[ImgurBot]
else:
    Interaction = discord.Interaction

AUTOCOMPLETE_LIMIT = 25
# What ``edit tag:`` takes to mean "no tag any more".
NO_TAG = ("-", "none")
FEED_HELP = "the feed (start typing for this server's feeds)"
OPTION_HELP = {
    "channel": "where to post",
    "schedule": "daily 09:00, every 6h, weekdays 18:30, or a cron line like 30 8 * * 1-5",
    "timezone": "IANA time zone, like Europe/Paris",
    "count": "posts in each message (1-10)",
    "section": "hot, top, or user-submitted",
    "sort": "how Imgur orders them",
    "window": "time window for the top sort",
    "tag": "read this tag's gallery instead of the front page",
    "min_points": "skip posts with fewer points",
    "nsfw": "include NSFW posts (only in an age-restricted channel)",
}


class NeedsManageServer(app_commands.CheckFailure):
    def __init__(self) -> None:
        super().__init__("You need the Manage Server permission to manage highlights.")


@contextmanager
def explained() -> Iterator[None]:
    """A channel the bot cannot post in, told to an admin with what to do about it."""
    try:
        yield
    except ChannelProblem as problem:
        raise BadInput(f"{problem} To fix it, {problem.fix}; then try again.") from None


def when(moment: datetime) -> str:
    """A run time as Discord shows it: the reader's own date and time, and how far off."""
    stamp = int(moment.timestamp())
    return f"<t:{stamp}:F> (<t:{stamp}:R>)"


def describe(feed: Feed, channel_name: str | None = None) -> str:
    """One feed in a line: where, when, what."""
    s = feed.settings
    where = f"#{channel_name}" if channel_name else f"<#{s.channel_id}>"
    extras = [f"{s.count} post{'s' * (s.count != 1)}"]
    if s.min_points:
        extras.append(f"≥ {s.min_points:,} points")
    if s.nsfw:
        extras.append("NSFW allowed")
    return (
        f"#{feed.id} · {where} · `{s.schedule}` ({s.time_zone}) · "
        f"{s.source.label} · {', '.join(extras)}"
    )


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class Highlights(
    commands.GroupCog,
    group_name="highlights",
    group_description="Imgur's best, posted into a channel on a schedule",
):
    # Scheduled posts are channel messages, not answers to a command: the bot needs the
    # right to post them with embeds, and to read back the channel's recent messages to
    # find a post a crash left unrecorded (bot/highlights/outlet.py).
    bot_permissions = discord.Permissions(
        view_channel=True, send_messages=True, embed_links=True, read_message_history=True
    )

    def __init__(self, bot: ImgurBot) -> None:
        self.bot = bot
        super().__init__()

    async def interaction_check(self, interaction: Interaction) -> bool:
        perms = interaction.permissions
        if perms.manage_guild or perms.administrator:
            return True
        raise NeedsManageServer()

    @property
    def engine(self) -> HighlightsEngine:
        return self.bot.highlights

    @commands.Cog.listener()
    async def on_guild_remove(self, guild: discord.Guild) -> None:
        await self.engine.drop_guild(guild.id)

    # -- helpers -----------------------------------------------------------------------------

    def _check_channel(self, guild_id: int, channel_id: int) -> bool:
        """Whether the bot can see, send and embed in the channel (``BadInput`` naming what
        is missing and how to fix it, if not); returns whether it is age-restricted."""
        with explained():
            return self.engine.outlet.channel(guild_id, channel_id).nsfw

    @asynccontextmanager
    async def _asking_imgur(self, interaction: Interaction) -> AsyncIterator[ChargedImgur]:
        """Answer privately later (Imgur may be slow); Imgur charged to this member, for
        at most the command timeout."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        imgur = self.bot.imgur.acting_for(interaction.guild_id, interaction.user.id, "highlights")
        async with asyncio.timeout(self.bot.config.discord.command_timeout_s):
            yield imgur

    async def _feed(self, interaction: Interaction, feed_id: int) -> Feed:
        assert interaction.guild_id is not None
        return await self.engine.feed_in_guild(interaction.guild_id, feed_id)

    async def _say(self, interaction: Interaction, text: str) -> None:
        await interaction.response.send_message(
            clip(text, 2000), ephemeral=True, allowed_mentions=NO_MENTIONS
        )

    def _with_next_runs(self, headline: str, feed: Feed) -> str:
        runs = self.engine.next_runs(feed, 3)
        lines = [headline, describe(feed)]
        if runs:
            lines.append("Next runs: " + " · ".join(when(r) for r in runs))
        return "\n".join(lines)

    # -- commands ----------------------------------------------------------------------------

    @app_commands.command(name="add", description="Post Imgur's best into a channel on a schedule")
    @app_commands.describe(
        **{
            **OPTION_HELP,
            "timezone": "IANA time zone, like Europe/Paris (default: the bot's setting, else UTC)",
            "count": "posts in each message (1-10, default 5)",
            "section": "hot (default), top, or user-submitted",
        }
    )
    async def add(
        self,
        interaction: Interaction,
        channel: discord.TextChannel,
        schedule: app_commands.Range[str, 1, 100],
        timezone: app_commands.Range[str, 1, 64] | None = None,
        count: app_commands.Range[int, 1, 10] = 5,
        section: Section = "hot",
        sort: GallerySort = "viral",
        window: Window = "day",
        tag: app_commands.Range[str, 1, 100] | None = None,
        min_points: app_commands.Range[int, 0, 10_000_000] | None = None,
        nsfw: bool = False,
    ) -> None:
        assert interaction.guild_id is not None
        channel_nsfw = self._check_channel(interaction.guild_id, channel.id)
        settings = FeedSettings(
            channel_id=channel.id,
            schedule=schedule,
            time_zone=timezone or self.bot.config.highlights.default_timezone,
            count=count,
            source=Source(section, sort, window, tag.strip() if tag else None),
            min_points=min_points or None,
            nsfw=nsfw,
        )
        feed = await self.engine.add_feed(
            interaction.guild_id, interaction.user.id, settings, channel_nsfw=channel_nsfw
        )
        await self._say(interaction, self._with_next_runs("Added a highlights feed:", feed))

    @app_commands.command(name="list", description="This server's highlights feeds")
    async def list_feeds(self, interaction: Interaction) -> None:
        assert interaction.guild_id is not None
        feeds = await self.engine.feeds.in_guild(interaction.guild_id)
        if not feeds:
            await self._say(
                interaction,
                f"No highlights feeds here yet. Add one with `/highlights add`: {EXAMPLES}.",
            )
            return
        embed = discord.Embed(title="Highlights feeds", colour=EMBED_COLOUR)
        for feed in feeds[:25]:  # an embed holds 25 fields
            if feed.paused:
                state = "⏸️ paused" + (f": {feed.paused_reason}" if feed.paused_reason else "")
            else:
                runs = self.engine.next_runs(feed, 1)
                state = f"next {relative_time(runs[0])}" if runs else "no more runs"
            embed.add_field(
                name=clip(f"#{feed.id} · {feed.settings.schedule}", 256),
                value=clip(f"{describe(feed)}\n{state}", 1024),
                inline=False,
            )
        await interaction.response.send_message(
            embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS
        )

    @app_commands.command(name="edit", description="Change a feed; what you leave out stays")
    @app_commands.describe(
        **{
            **OPTION_HELP,
            "feed": FEED_HELP,
            "tag": "read this tag's gallery; none to go back to the front page",
            "min_points": "skip posts with fewer points (0: no minimum)",
        }
    )
    async def edit(
        self,
        interaction: Interaction,
        feed: int,
        channel: discord.TextChannel | None = None,
        schedule: app_commands.Range[str, 1, 100] | None = None,
        timezone: app_commands.Range[str, 1, 64] | None = None,
        count: app_commands.Range[int, 1, 10] | None = None,
        section: Section | None = None,
        sort: GallerySort | None = None,
        window: Window | None = None,
        tag: app_commands.Range[str, 1, 100] | None = None,
        min_points: app_commands.Range[int, 0, 10_000_000] | None = None,
        nsfw: bool | None = None,
    ) -> None:
        assert interaction.guild_id is not None
        found = await self._feed(interaction, feed)
        old = found.settings
        target = channel.id if channel else old.channel_id
        channel_nsfw = self._check_channel(interaction.guild_id, target)
        new_tag = (
            old.source.tag if tag is None else (None if tag.strip().lower() in NO_TAG else tag)
        )
        source = Source(
            section or old.source.section,
            sort or old.source.sort,
            window or old.source.window,
            new_tag.strip() if new_tag else None,
        )
        settings = replace(
            old,
            channel_id=target,
            schedule=schedule or old.schedule,
            time_zone=timezone or old.time_zone,
            count=count or old.count,
            source=source,
            min_points=old.min_points if min_points is None else (min_points or None),
            nsfw=old.nsfw if nsfw is None else nsfw,
        )
        edited = await self.engine.edit_feed(found, settings, channel_nsfw=channel_nsfw)
        headline = "Feed changed:" + (
            " (it is paused; `/highlights resume` starts it)" * edited.paused
        )
        await self._say(interaction, self._with_next_runs(headline, edited))

    @app_commands.command(name="remove", description="Delete a highlights feed")
    @app_commands.describe(feed=FEED_HELP)
    async def remove(self, interaction: Interaction, feed: int) -> None:
        found = await self._feed(interaction, feed)
        await self.engine.remove_feed(found)
        await self._say(interaction, f"Removed feed {describe(found)}.")

    @app_commands.command(name="pause", description="Stop a feed posting until you resume it")
    @app_commands.describe(feed=FEED_HELP)
    async def pause(self, interaction: Interaction, feed: int) -> None:
        found = await self._feed(interaction, feed)
        await self.engine.pause_feed(found)
        await self._say(
            interaction, f"Paused feed #{found.id}. `/highlights resume feed:{found.id}` starts it."
        )

    @app_commands.command(name="resume", description="Start a paused feed again")
    @app_commands.describe(feed=FEED_HELP)
    async def resume(self, interaction: Interaction, feed: int) -> None:
        assert interaction.guild_id is not None
        found = await self._feed(interaction, feed)
        self._check_channel(interaction.guild_id, found.channel_id)  # fixed? say so now
        resumed = await self.engine.resume_feed(found)
        await self._say(interaction, self._with_next_runs("Feed running again:", resumed))

    @app_commands.command(name="preview", description="What a feed would post right now")
    @app_commands.describe(feed=FEED_HELP)
    async def preview(self, interaction: Interaction, feed: int) -> None:
        found = await self._feed(interaction, feed)
        async with self._asking_imgur(interaction) as imgur:
            post = await self.engine.preview(
                found, imgur, viewer_nsfw_ok=allows_nsfw(interaction.channel, True)
            )
        if post is None:
            await reply_privately(
                interaction,
                "Nothing to post right now: everything Imgur lists there was already posted in "
                "that channel in the last 30 days, or is filtered out (NSFW, minimum points).",
            )
            return
        await interaction.followup.send(
            post.content, embeds=list(post.embeds), ephemeral=True, allowed_mentions=NO_MENTIONS
        )

    @app_commands.command(name="post-now", description="Post a feed now, outside its schedule")
    @app_commands.describe(feed=FEED_HELP)
    async def post_now(self, interaction: Interaction, feed: int) -> None:
        found = await self._feed(interaction, feed)
        async with self._asking_imgur(interaction) as imgur:
            with explained():
                message_id = await self.engine.post_now(found, imgur)
        link = f"https://discord.com/channels/{found.guild_id}/{found.channel_id}/{message_id}"
        await reply_privately(
            interaction, f"Posted feed #{found.id} in <#{found.channel_id}>: {link}"
        )

    # -- autocomplete ------------------------------------------------------------------------

    @edit.autocomplete("feed")
    @remove.autocomplete("feed")
    @pause.autocomplete("feed")
    @resume.autocomplete("feed")
    @preview.autocomplete("feed")
    @post_now.autocomplete("feed")
    async def feed_choices(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[int]]:
        if interaction.guild_id is None:
            return []
        guild = interaction.guild
        needle = current.strip().lstrip("#").casefold()
        choices = []
        for feed in await self.engine.feeds.in_guild(interaction.guild_id):
            channel = guild.get_channel(feed.channel_id) if guild else None
            label = describe(feed, channel.name if channel else None)
            if needle and needle not in label.casefold():
                continue
            choices.append(app_commands.Choice(name=clip(label, 100), value=feed.id))
        return choices[:AUTOCOMPLETE_LIMIT]

    @add.autocomplete("timezone")
    @edit.autocomplete("timezone")
    async def timezone_choices(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=z, value=z) for z in suggest_zones(current)]


async def setup(bot: ImgurBot) -> None:
    await bot.add_cog(Highlights(bot))
