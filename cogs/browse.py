"""``/imgur …``: browsing Imgur from Discord (front page, search, tags, subreddits, links,
users, random).

Discord surface only: options, NSFW context, deferring, and turning answers into pages.
Every Imgur call goes through ``bot.imgur.for_caller(...)``, which charges the ledger.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.embeds import (
    Page,
    account_page,
    allows_nsfw,
    item_page,
    item_pages,
    safe_items,
    stale_note,
)
from bot.errors import QuotaExceeded
from bot.imgur import models
from bot.imgur.errors import ImgurError
from bot.imgur_service import Answer, Caller
from bot.links import ImgurRef, parse_imgur_link
from bot.replies import NO_MENTIONS, clip, relative_time, reply_privately
from bot.views import Paginator

if TYPE_CHECKING:
    from bot.app import ImgurBot

Section = Literal["hot", "top", "user"]
GallerySort = Literal["viral", "top", "time"]
SearchSort = Literal["time", "viral", "top"]
Window = Literal["day", "week", "month", "year", "all"]
SearchType = Literal["jpg", "png", "gif", "anigif", "album"]
SearchSize = Literal["small", "med", "big", "lrg", "huge"]

AUTOCOMPLETE_LIMIT = 25


def per_user_cooldown(interaction: discord.Interaction) -> app_commands.Cooldown | None:
    seconds = interaction.client.config.discord.cooldown_per_user_s  # type: ignore[attr-defined]
    return app_commands.Cooldown(1, seconds) if seconds > 0 else None


user_cooldown = app_commands.checks.dynamic_cooldown(per_user_cooldown, key=lambda i: i.user.id)


def quoted(text: str) -> str:
    return f"“{clip(text, 80)}”"


class Browse(commands.GroupCog, group_name="imgur", group_description="Browse Imgur"):
    def __init__(self, bot: ImgurBot) -> None:
        self.bot = bot
        super().__init__()

    # -- the shared flow ---------------------------------------------------------------------

    @asynccontextmanager
    async def _command(self, interaction: discord.Interaction, command: str):
        """Defer (Imgur may be slow), then bound the time spent asking Imgur."""
        if not interaction.response.is_done():
            await interaction.response.defer(thinking=True)
        caller = self.bot.imgur.for_caller(interaction.guild_id, interaction.user.id, command)
        async with asyncio.timeout(self.bot.config.discord.command_timeout_s):
            yield caller

    def _nsfw_ok(self, interaction: discord.Interaction) -> bool:
        return allows_nsfw(interaction.channel, interaction.guild is not None)

    async def _show(self, interaction: discord.Interaction, pages: Sequence[Page]) -> None:
        view = Paginator(
            pages, interaction.user.id, timeout=self.bot.config.discord.paginator_timeout_s
        )
        self.bot.track_view(view)
        await view.send(interaction)

    async def _show_listing(
        self,
        interaction: discord.Interaction,
        command: str,
        fetch: Callable[[Caller], Awaitable[Answer[list[models.GalleryItem]]]],
        what: str,
    ) -> None:
        async with self._command(interaction, command) as caller:
            answer = await fetch(caller)
        items = safe_items(answer.value, self._nsfw_ok(interaction))
        if not items:
            hidden = len(answer.value)
            if hidden:
                await reply_privately(
                    interaction,
                    f"Everything I found for {what} is marked NSFW, and this channel is not "
                    "age-restricted. Try it in an NSFW channel.",
                )
            else:
                await reply_privately(interaction, f"Nothing on Imgur for {what}. Try other words.")
            return
        note = stale_note(answer.age_s) if answer.stale else None
        await self._show(interaction, item_pages(items, note=note))

    # -- commands ----------------------------------------------------------------------------

    @app_commands.command(name="frontpage", description="Imgur's front page")
    @app_commands.describe(
        section="hot (default), top, or user-submitted",
        sort="how to order the posts",
        window="time window for the top section",
    )
    @user_cooldown
    async def frontpage(
        self,
        interaction: discord.Interaction,
        section: Section = "hot",
        sort: GallerySort = "viral",
        window: Window = "day",
    ) -> None:
        await self._show_listing(
            interaction,
            "frontpage",
            lambda c: c.frontpage(section, sort, window, mature=self._nsfw_ok(interaction)),
            "the front page",
        )

    @app_commands.command(name="search", description="Search Imgur's gallery")
    @app_commands.describe(
        query="words to look for; supports AND, OR, NOT, tag:, title:, ext:",
        sort="how to order the results",
        window="only posts from this time window",
        type="only this kind of media",
        size="only images of about this size",
    )
    @user_cooldown
    async def search(
        self,
        interaction: discord.Interaction,
        query: app_commands.Range[str, 1, 200],
        sort: SearchSort = "time",
        window: Window = "all",
        type: SearchType | None = None,
        size: SearchSize | None = None,
    ) -> None:
        await self._show_listing(
            interaction,
            "search",
            lambda c: c.search(
                query,
                sort=sort,
                window=window,
                q_type=type,
                q_size_px=size,
                mature=self._nsfw_ok(interaction),
            ),
            quoted(query),
        )

    @app_commands.command(name="tag", description="Posts with an Imgur tag")
    @app_commands.describe(
        name="the tag (start typing for suggestions)", sort="order", window="time window"
    )
    @user_cooldown
    async def tag(
        self,
        interaction: discord.Interaction,
        name: app_commands.Range[str, 1, 100],
        sort: GallerySort = "viral",
        window: Window = "week",
    ) -> None:
        await self._show_listing(
            interaction,
            "tag",
            lambda c: c.tag(name, sort, window, mature=self._nsfw_ok(interaction)),
            f"the tag {quoted(name)}",
        )

    @tag.autocomplete("name")
    async def tag_names(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self._suggest_tags(interaction, current)

    async def _suggest_tags(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Tags from the cached ``/3/tags`` list (one charged call a day, then free)."""
        caller = self.bot.imgur.for_caller(interaction.guild_id, interaction.user.id, "tags")
        try:
            answer = await caller.tags()
        except (ImgurError, QuotaExceeded, TimeoutError):
            return []
        needle = current.strip().lower()
        starts = [t for t in answer.value if t.name.lower().startswith(needle)]
        contains = [t for t in answer.value if needle in t.name.lower() and t not in starts]
        return [
            app_commands.Choice(name=clip(t.label, 100), value=t.name[:100])
            for t in (starts + contains)[:AUTOCOMPLETE_LIMIT]
        ]

    @app_commands.command(name="subreddit", description="A subreddit's posts mirrored on Imgur")
    @app_commands.describe(name="the subreddit, without r/", sort="order", window="time window")
    @user_cooldown
    async def subreddit(
        self,
        interaction: discord.Interaction,
        name: app_commands.Range[str, 1, 50],
        sort: Literal["time", "top"] = "time",
        window: Window = "week",
    ) -> None:
        subreddit = name.strip().removeprefix("/").removeprefix("r/")
        await self._show_listing(
            interaction,
            "subreddit",
            lambda c: c.subreddit(subreddit, sort, window, mature=self._nsfw_ok(interaction)),
            f"r/{clip(subreddit, 50)}",
        )

    @app_commands.command(name="item", description="Show an Imgur link: image, post or album")
    @app_commands.describe(link="an Imgur link or id, like https://imgur.com/a/AbC12")
    @user_cooldown
    async def item(self, interaction: discord.Interaction, link: str) -> None:
        ref = parse_imgur_link(link)
        async with self._command(interaction, "item") as caller:
            answer = await caller.item(ref)
            media = answer.value
            if isinstance(media, models.Album) and media.images is None:
                # Gallery albums often come without their images: ask for the album itself.
                full = await caller.item(ImgurRef("album", media.id))
                media = full.value if isinstance(full.value, models.Album) else media
        nsfw_ok = self._nsfw_ok(interaction)
        if media.nsfw and not nsfw_ok:
            await reply_privately(
                interaction,
                "That post is marked NSFW, and this channel is not age-restricted.",
            )
            return
        note = stale_note(answer.age_s) if answer.stale else None
        if isinstance(media, models.Album) and media.images:
            images = safe_items(media.images, nsfw_ok)
            pages = item_pages(images, cover=item_page(media, note=note))
        else:
            pages = [item_page(media, note=note)]
        await self._show(interaction, pages)

    @app_commands.command(name="user", description="An Imgur user's profile and recent posts")
    @app_commands.describe(username="the Imgur username")
    @user_cooldown
    async def user(
        self, interaction: discord.Interaction, username: app_commands.Range[str, 1, 63]
    ) -> None:
        async with self._command(interaction, "user") as caller:
            answer = await caller.user(username.strip(), mature=self._nsfw_ok(interaction))
        account, submissions = answer.value
        items = safe_items(submissions, self._nsfw_ok(interaction))
        note = stale_note(answer.age_s) if answer.stale else None
        pages = item_pages(items, cover=account_page(account, len(items), note=note))
        await self._show(interaction, pages)

    @app_commands.command(name="random", description="A random post from Imgur")
    @app_commands.describe(tag="only from this tag (optional)")
    @user_cooldown
    async def random(
        self, interaction: discord.Interaction, tag: app_commands.Range[str, 1, 100] | None = None
    ) -> None:
        channel_id = interaction.channel_id or interaction.user.id
        async with self._command(interaction, "random") as caller:
            answer = await caller.random(channel_id, tag=tag, allow_nsfw=self._nsfw_ok(interaction))
        if answer.value is None:
            where = f"the tag {quoted(tag)}" if tag else "the front page"
            await reply_privately(interaction, f"I found nothing to pick from {where} right now.")
            return
        note = stale_note(answer.age_s) if answer.stale else None
        await self._show(interaction, [item_page(answer.value, note=note)])

    @random.autocomplete("tag")
    async def random_tag_names(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self._suggest_tags(interaction, current)

    @app_commands.command(name="quota", description="This server's Imgur credits for today")
    async def quota(self, interaction: discord.Interaction) -> None:
        health = self.bot.ledger.health()
        lines = []
        if interaction.guild_id is not None:
            status = await self.bot.ledger.guild_status(interaction.guild_id)
            lines.append(
                f"This server has **{status.left:,}** of {status.allowance:,} Imgur credits left "
                f"today (used {status.used:,}); they reset {relative_time(status.resets_at)}."
            )
        if health.ok:
            lines.append("The bot is healthy: Imgur is answering and no limit is near.")
        else:
            scopes = ", ".join(health.breakers_open) or "client credits"
            lines.append(f"The bot is holding back ({scopes}): cached answers are still served.")
        lines.append("Answers that come from the cache cost nothing.")
        await interaction.response.send_message(
            "\n".join(lines), ephemeral=True, allowed_mentions=NO_MENTIONS
        )


async def setup(bot: ImgurBot) -> None:
    await bot.add_cog(Browse(bot))
