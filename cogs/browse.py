"""``/imgur …``: browsing Imgur from Discord (front page, search, tags, subreddits, links,
users, random).

Discord surface only: options, NSFW context, deferring, and turning answers into pages.
Every Imgur call goes through ``bot.imgur.acting_for(...)``, which charges the ledger; the
requests themselves are built by ``bot.imgur.sansio``, and the choices offered come from
``bot.imgur.vocab``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.access import Answer, ChargedImgur, build
from bot.browse import RandomPicker, profile, resolve_item, with_album_images
from bot.discord.embeds import (
    Page,
    account_page,
    allows_nsfw,
    item_page,
    item_pages,
    safe_items,
    stale_note,
)
from bot.discord.paginator import Paginator
from bot.discord.replies import NO_MENTIONS, clip, echo, relative_time, reply_privately
from bot.errors import QuotaExceeded
from bot.imgur import models, sansio
from bot.imgur.errors import ImgurError
from bot.imgur.links import parse_imgur_link
from bot.imgur.vocab import (
    BasicSort,
    SearchSize,
    SearchSort,
    SearchType,
    Section,
    SubredditSort,
    Window,
)

if TYPE_CHECKING:
    from bot.app import ImgurBot

    Interaction = discord.Interaction[ImgurBot]
else:
    Interaction = discord.Interaction

AUTOCOMPLETE_LIMIT = 25
Listing = Answer[list[models.GalleryItem]]


def per_user_cooldown(interaction: Interaction) -> app_commands.Cooldown | None:
    seconds = interaction.client.config.discord.cooldown_per_user_s
    return app_commands.Cooldown(1, seconds) if seconds > 0 else None


user_cooldown = app_commands.checks.dynamic_cooldown(per_user_cooldown, key=lambda i: i.user.id)


def quoted(text: str) -> str:
    return f"“{echo(text)}”"


class Browse(commands.GroupCog, group_name="imgur", group_description="Browse Imgur"):
    def __init__(self, bot: ImgurBot) -> None:
        self.bot = bot
        self.random_picker = RandomPicker()
        super().__init__()

    # -- the shared flow ---------------------------------------------------------------------

    @asynccontextmanager
    async def _command(self, interaction: Interaction, command: str):
        """Defer (Imgur may be slow), then bound the time spent asking Imgur."""
        if not interaction.response.is_done():
            await interaction.response.defer(thinking=True)
        imgur = self.bot.imgur.acting_for(interaction.guild_id, interaction.user.id, command)
        async with asyncio.timeout(self.bot.config.discord.command_timeout_s):
            yield imgur

    def _nsfw_ok(self, interaction: Interaction) -> bool:
        return allows_nsfw(interaction.channel, interaction.guild is not None)

    async def _show(self, interaction: Interaction, pages: Sequence[Page]) -> None:
        view = Paginator(
            pages, interaction.user.id, timeout=self.bot.config.discord.paginator_timeout_s
        )
        self.bot.track_view(view)
        await view.send(interaction)

    async def _show_listing(
        self,
        interaction: Interaction,
        command: str,
        fetch: Callable[[ChargedImgur], Awaitable[Listing]],
        what: str,
    ) -> None:
        async with self._command(interaction, command) as imgur:
            answer = await fetch(imgur)
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
        interaction: Interaction,
        section: Section = "hot",
        sort: BasicSort = "viral",
        window: Window = "day",
    ) -> None:
        mature = self._nsfw_ok(interaction)
        await self._show_listing(
            interaction,
            "frontpage",
            lambda imgur: imgur.get(build(sansio.gallery, section, sort, window, mature=mature)),
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
        interaction: Interaction,
        query: app_commands.Range[str, 1, 200],
        sort: SearchSort = "time",
        window: Window = "all",
        type: SearchType | None = None,
        size: SearchSize | None = None,
    ) -> None:
        mature = self._nsfw_ok(interaction)
        # A type or size filter needs Imgur's advanced search, where the words go in q_all.
        words = {"q_all": query} if type or size else {"q": query}
        await self._show_listing(
            interaction,
            "search",
            lambda imgur: imgur.get(
                build(
                    sansio.gallery_search,
                    **words,
                    q_type=type,
                    q_size_px=size,
                    sort=sort,
                    window=window,
                    mature=mature,
                )
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
        interaction: Interaction,
        name: app_commands.Range[str, 1, 100],
        sort: BasicSort = "viral",
        window: Window = "week",
    ) -> None:
        mature = self._nsfw_ok(interaction)

        async def fetch(imgur: ChargedImgur) -> Listing:
            answer = await imgur.get(build(sansio.gallery_tag, name, sort, window, mature=mature))
            return Answer(answer.value.items, answer.stale, answer.age_s)

        await self._show_listing(interaction, "tag", fetch, f"the tag {quoted(name)}")

    @tag.autocomplete("name")
    async def tag_names(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self._suggest_tags(interaction, current)

    async def _suggest_tags(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Tags from the cached ``/3/tags`` list (one charged call a day, then free)."""
        imgur = self.bot.imgur.acting_for(interaction.guild_id, interaction.user.id, "tags")
        try:
            answer = await imgur.get(sansio.tags())
        except (ImgurError, QuotaExceeded, TimeoutError):
            return []
        needle = current.strip().lower()
        known = answer.value.tags
        starts = [t for t in known if t.name.lower().startswith(needle)]
        contains = [t for t in known if needle in t.name.lower() and t not in starts]
        return [
            app_commands.Choice(name=clip(t.label, 100), value=t.name[:100])
            for t in (starts + contains)[:AUTOCOMPLETE_LIMIT]
        ]

    @app_commands.command(name="subreddit", description="A subreddit's posts mirrored on Imgur")
    @app_commands.describe(name="the subreddit, without r/", sort="order", window="time window")
    @user_cooldown
    async def subreddit(
        self,
        interaction: Interaction,
        name: app_commands.Range[str, 1, 50],
        sort: SubredditSort = "time",
        window: Window = "week",
    ) -> None:
        subreddit = name.strip().removeprefix("/").removeprefix("r/")
        mature = self._nsfw_ok(interaction)
        await self._show_listing(
            interaction,
            "subreddit",
            lambda imgur: imgur.get(
                build(sansio.subreddit_gallery, subreddit, sort, window, mature=mature)
            ),
            f"r/{clip(subreddit, 50)}",
        )

    @app_commands.command(name="item", description="Show an Imgur link: image, post or album")
    @app_commands.describe(link="an Imgur link or id, like https://imgur.com/a/AbC12")
    @user_cooldown
    async def item(self, interaction: Interaction, link: str) -> None:
        ref = parse_imgur_link(link)
        async with self._command(interaction, "item") as imgur:
            answer = await with_album_images(imgur, await resolve_item(imgur, ref))
        media = answer.value
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
        self, interaction: Interaction, username: app_commands.Range[str, 1, 63]
    ) -> None:
        async with self._command(interaction, "user") as imgur:
            answer = await profile(imgur, username.strip(), mature=self._nsfw_ok(interaction))
        found = answer.value
        items = safe_items(found.submissions or [], self._nsfw_ok(interaction))
        note = stale_note(answer.age_s) if answer.stale else None
        shown = None if found.submissions is None else len(items)
        pages = item_pages(items, cover=account_page(found.account, shown, note=note))
        await self._show(interaction, pages)

    @app_commands.command(name="random", description="A random post from Imgur")
    @app_commands.describe(tag="only from this tag (optional)")
    @user_cooldown
    async def random(
        self, interaction: Interaction, tag: app_commands.Range[str, 1, 100] | None = None
    ) -> None:
        channel_id = interaction.channel_id or interaction.user.id
        async with self._command(interaction, "random") as imgur:
            answer = await self.random_picker.pick(
                imgur, channel_id, tag=tag, allow_nsfw=self._nsfw_ok(interaction)
            )
        if answer.value is None:
            where = f"the tag {quoted(tag)}" if tag else "the front page"
            await reply_privately(interaction, f"I found nothing to pick from {where} right now.")
            return
        note = stale_note(answer.age_s) if answer.stale else None
        await self._show(interaction, [item_page(answer.value, note=note)])

    @random.autocomplete("tag")
    async def random_tag_names(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self._suggest_tags(interaction, current)

    @app_commands.command(name="quota", description="This server's Imgur credits for today")
    async def quota(self, interaction: Interaction) -> None:
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
