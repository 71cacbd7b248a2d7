"""How Imgur things look in Discord: one ``Page`` (message text + embed) per item.

Discord cannot play a video inside an embed's image, so animated and video items put their
mp4 link in the message text (Discord shows a player for it) and keep the embed for the
title and the numbers. Everything from Imgur is cut to Discord's limits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import overload

import discord

from bot.discord.replies import clip
from bot.imgur import models

TITLE_LIMIT = 256
FOOTER_LIMIT = 2048
AUTHOR_LIMIT = 256
EMBED_COLOUR = discord.Colour(0x1BB76E)  # Imgur green

Media = models.GalleryImage | models.GalleryAlbum | models.Image | models.Album


@dataclass(frozen=True, slots=True)
class Page:
    content: str | None
    embed: discord.Embed
    url: str


def humanize_age(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 1:
        return "just now"
    if minutes < 60:
        return f"{minutes} minute{'s' * (minutes != 1)} ago"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} hour{'s' * (hours != 1)} ago"
    return f"{hours // 24} days ago"


def stale_note(age_s: float) -> str:
    return f"⏳ From {humanize_age(age_s)}: Imgur can't be asked right now, so this is older."


def _count(n: int | None) -> str:
    return f"{n:,}" if n is not None else "?"


def item_page(item: Media, *, position: str = "", note: str | None = None) -> Page:
    """One item as a page: title, author, points and views, and the picture itself."""
    title = clip(item.title or "Untitled", TITLE_LIMIT)
    embed = discord.Embed(title=title, url=item.page_url, colour=EMBED_COLOUR)
    if item.account_url:
        embed.set_author(name=clip(f"by {item.account_url}", AUTHOR_LIMIT))
    if item.datetime:
        embed.timestamp = datetime.fromtimestamp(item.datetime, UTC)
    facts = []
    points = getattr(item, "points", None)
    if points is not None:
        facts.append(f"{_count(points)} points")
    if item.views is not None:
        facts.append(f"{_count(item.views)} views")
    content_parts: list[str] = []
    if isinstance(item, models.Album):
        facts.insert(0, f"album · {item.image_count} image{'s' * (item.image_count != 1)}")
        if item.display_url:
            embed.set_image(url=item.display_url)
    elif item.is_animated and item.display_url:
        # A link in the message text is what Discord turns into a player.
        content_parts.append(item.display_url)
    elif item.display_url:
        embed.set_image(url=item.display_url)
    if item.description:
        embed.description = clip(item.description, 300)
    if position:
        facts.append(position)
    if facts:
        embed.set_footer(text=clip(" · ".join(facts), FOOTER_LIMIT))
    if note:
        content_parts.insert(0, note)
    content = clip("\n".join(content_parts), 2000) if content_parts else None
    return Page(content=content, embed=embed, url=item.page_url)


class ItemPages(Sequence[Page]):
    """Pages for a list of items, each rendered the first time it is shown.

    A listing has 60 items and most members look at a few: rendering all of them up front
    was most of the CPU a command spent after Imgur answered.
    """

    def __init__(
        self, items: Sequence[Media], *, note: str | None = None, cover: Page | None = None
    ) -> None:
        self._items = list(items)
        self._note = note
        # An optional first page before the items (an album's cover, a profile).
        self._rendered: dict[int, Page] = {0: cover} if cover else {}
        self._offset = 1 if cover else 0

    def __len__(self) -> int:
        return len(self._items) + self._offset

    @overload
    def __getitem__(self, index: int) -> Page: ...
    @overload
    def __getitem__(self, index: slice) -> list[Page]: ...
    def __getitem__(self, index: int | slice) -> Page | list[Page]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        page = self._rendered.get(index)
        if page is None:
            n, total = index - self._offset, len(self._items)
            position = f"{n + 1}/{total}" if total > 1 else ""
            page = item_page(self._items[n], position=position, note=self._note)
            self._rendered[index] = page
        return page


def item_pages(
    items: Sequence[Media], *, note: str | None = None, cover: Page | None = None
) -> ItemPages:
    return ItemPages(items, note=note, cover=cover)


def account_page(account: models.Account, submissions: int | None, note: str | None = None) -> Page:
    """A profile; ``submissions`` is how many recent posts follow, None when they could not
    be fetched."""
    url = f"https://imgur.com/user/{account.url}"
    embed = discord.Embed(title=clip(account.url, TITLE_LIMIT), url=url, colour=EMBED_COLOUR)
    if account.bio:
        embed.description = clip(account.bio, 1000)
    if account.avatar:
        embed.set_thumbnail(url=account.avatar)
    embed.add_field(
        name="Reputation",
        value=clip(f"{_count(account.reputation)} ({account.reputation_name or 'no rank'})", 1024),
    )
    if account.created:
        embed.add_field(name="Member since", value=f"<t:{account.created}:D>")
    if submissions is None:
        embed.set_footer(text="Their recent posts couldn't be loaded right now.")
    else:
        embed.set_footer(text=f"{submissions} recent submission{'s' * (submissions != 1)} follow")
    return Page(content=note, embed=embed, url=url)


def allows_nsfw(channel: object, in_guild: bool) -> bool:
    """Age-restricted guild channels only; DMs count as not."""
    if not in_guild:
        return False
    is_nsfw = getattr(channel, "is_nsfw", None)
    return bool(is_nsfw()) if callable(is_nsfw) else False


def is_nsfw(item: Media) -> bool:
    return bool(item.nsfw)


def safe_items(items: Iterable[Media], nsfw_ok: bool) -> list[Media]:
    return [item for item in items if nsfw_ok or not is_nsfw(item)]
