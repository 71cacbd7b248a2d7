"""One highlights post: one message, a header line and up to ten embeds.

Each item is the shared item page (``bot.discord.embeds.item_page``: title linking to the
post, author, points and views, the picture). Discord cannot play a video inside an embed,
so animated items and videos add their mp4 link to the message text, which Discord turns
into a player. The header names the feed and the slot; it is also how a post that reached
Discord just before a crash is recognised afterwards (``DiscordOutlet.find_post``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import discord

from bot.discord.embeds import Media, item_page
from bot.discord.replies import CONTENT_LIMIT, clip

MAX_EMBEDS = 10
# Discord refuses a message whose embeds hold more than 6,000 characters in all.
EMBED_TEXT_LIMIT = 6000


@dataclass(frozen=True, slots=True)
class Post:
    header: str
    content: str
    embeds: tuple[discord.Embed, ...]
    item_ids: tuple[str, ...]


def header_for(feed_id: int, label: str, slot: datetime) -> str:
    """The post's first line; the same feed and slot always give the same one."""
    return f"**Imgur highlights #{feed_id}** · {label} · <t:{int(slot.timestamp())}:f>"


def build_post(header: str, items: Sequence[Media]) -> Post:
    """The message for ``items`` (at most ten), cut to fit Discord's embed limits: long
    descriptions go first, then authors, then items from the end."""
    pages = [item_page(item) for item in items[:MAX_EMBEDS]]
    embeds = [page.embed for page in pages]
    for trim in (_drop_description, _drop_author):
        if _text_size(embeds) <= EMBED_TEXT_LIMIT:
            break
        for embed in embeds:
            trim(embed)
    while len(pages) > 1 and _text_size(embeds) > EMBED_TEXT_LIMIT:
        pages.pop()
        embeds.pop()
    videos = [page.content for page in pages if page.content]
    return Post(
        header=header,
        content=clip("\n".join([header, *videos]), CONTENT_LIMIT),
        embeds=tuple(embeds),
        item_ids=tuple(item.id for item in items[: len(pages)]),
    )


def _text_size(embeds: Sequence[discord.Embed]) -> int:
    return sum(len(embed) for embed in embeds)


def _drop_description(embed: discord.Embed) -> None:
    embed.description = None


def _drop_author(embed: discord.Embed) -> None:
    embed.remove_author()
