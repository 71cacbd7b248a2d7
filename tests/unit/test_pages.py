"""Pages and the paginator, without Discord: rendering, limits, laziness."""

from __future__ import annotations

import discord

from bot.discord.embeds import ItemPages, item_page, safe_items
from bot.discord.paginator import Paginator
from bot.imgur import models


def image(i: int, **fields) -> models.GalleryImage:
    data = {
        "id": f"img{i:04d}",
        "title": f"Title {i}",
        "type": "image/jpeg",
        "link": f"https://i.imgur.com/img{i:04d}.jpg",
        "points": 10 * i,
        "views": 1000 + i,
        "is_album": False,
    }
    data.update(fields)
    return models.GalleryImage.model_validate(data)


def test_pages_render_lazily_and_number_themselves():
    pages = ItemPages([image(i) for i in range(60)])
    assert len(pages) == 60
    assert pages._rendered == {}
    page = pages[1]
    assert list(pages._rendered) == [1]
    assert page.embed.footer.text.endswith("2/60")
    assert pages[-1].embed.footer.text.endswith("60/60")


def test_a_cover_page_comes_first():
    cover = item_page(image(99))
    pages = ItemPages([image(1), image(2)], cover=cover)
    assert len(pages) == 3 and pages[0] is cover
    assert pages[2].embed.footer.text.endswith("2/2")


def test_text_from_imgur_is_cut_to_discords_limits():
    long = image(1, title="x" * 5000, description="y" * 9000, account_url="z" * 400)
    page = item_page(long)
    assert len(page.embed.title) == 256 and page.embed.title.endswith("…")
    assert len(page.embed.author.name) <= 256
    assert len(page.embed) <= 6000


def test_animated_items_are_links_discord_plays():
    gif = image(2, type="image/gif", animated=True, mp4="https://i.imgur.com/img0002.mp4")
    page = item_page(gif)
    assert page.content == "https://i.imgur.com/img0002.mp4"
    assert page.embed.image.url is None


def test_nsfw_items_are_dropped_unless_allowed():
    items = [image(1), image(2, nsfw=True), image(3, nsfw=None)]
    assert [i.id for i in safe_items(items, nsfw_ok=False)] == ["img0001", "img0003"]
    assert len(safe_items(items, nsfw_ok=True)) == 3


async def test_paginator_does_not_shadow_discordpy_view_internals():
    # discord.py calls View._refresh(components) on message updates; shadowing it once
    # crashed the gateway loop.
    view = Paginator(ItemPages([image(i) for i in range(3)]), owner_id=1)
    assert type(view)._refresh is discord.ui.View._refresh
    labels = [getattr(c, "label", None) for c in view.children]
    assert labels == ["⏮", "◀", "▶", "⏭", "🔀", "Open on Imgur"]
    assert view.first.disabled and view.previous.disabled and not view.next.disabled


async def test_single_page_shows_only_the_link():
    view = Paginator(ItemPages([image(1)]), owner_id=1)
    assert [c.label for c in view.children] == ["Open on Imgur"]
