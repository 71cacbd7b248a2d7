"""The browse commands, as members use them, through the genuine discord.py.

Each test drives the real bot through the fake Discord (slash commands, button clicks,
autocomplete) and the Imgur emulator, and reads back what a member would see.
"""

from __future__ import annotations

import asyncio
import itertools
import re

import pytest

from .helpers import all_pages, item_id_of, private_text

EPHEMERAL = 64


async def test_frontpage_answers_with_a_page_and_the_paginator(world):
    record = await world.run("imgur", "frontpage")
    assert record.deferred  # deferred before calling Imgur
    answer = record.original
    assert not answer.ephemeral and not answer.loading
    assert answer.embed["title"]
    assert re.search(r"\d+/\d+$", answer.embed["footer"]["text"])
    labels = [b.get("label") for b in answer.buttons]
    assert labels == ["⏮", "◀", "▶", "⏭", "🔀", "Open on Imgur"]
    assert answer.allowed_mentions == {"parse": []}


async def test_the_invoker_turns_pages_and_others_are_told_privately(world):
    record = await world.run("imgur", "frontpage")
    message = record.original
    first = item_id_of(message)

    bob_click = await world.fd.click(message, label="▶", user=world.bob)
    await bob_click.wait_done()
    assert bob_click.ephemeral
    assert "belong to whoever ran the command" in bob_click.original.content
    assert item_id_of(message) == first  # nothing moved

    alice_click = await world.fd.click(message, label="▶", user=world.alice)
    await alice_click.wait_done()
    second = item_id_of(message)
    assert second != first
    assert message.embed["footer"]["text"].endswith("2/60")

    last = await world.fd.click(message, label="⏭", user=world.alice)
    await last.wait_done()
    assert message.embed["footer"]["text"].endswith("60/60")
    assert next(b for b in message.buttons if b.get("label") == "▶")["disabled"]


async def test_search_with_type_finds_only_that_type(world):
    record = await world.run("imgur", "search", query="cat", type="anigif")
    answer = record.original
    assert not answer.ephemeral
    # Animated results are shown as playable links in the message text.
    assert answer.content and answer.content.startswith("http")


async def test_search_without_results_says_so_privately(world):
    record = await world.run("imgur", "search", query="zzqxjv nothingmatches")
    assert "Nothing on Imgur" in await private_text(record)


async def _nsfw_tag(world) -> str:
    counts: dict[str, list[int]] = {}
    for post in world.emu.data.posts:
        for tag in post.tags:
            nsfw, total = counts.setdefault(tag, [0, 0])
            counts[tag] = [nsfw + bool(post.nsfw), total + 1]
    # a tag with both kinds, small enough to page through
    candidates = [t for t, (n, total) in counts.items() if 0 < n < total <= 60]
    assert candidates, "the emulator's catalogue should have tags mixing NSFW and SFW posts"
    return max(candidates, key=lambda t: counts[t][0])


async def test_nsfw_never_reaches_a_sfw_channel_even_when_paging(world):
    tag = await _nsfw_tag(world)
    nsfw_ids = {p.id for p in world.emu.data.posts if p.nsfw}
    record = await world.run("imgur", "tag", name=tag, window="all")
    shown = await all_pages(world, record)
    assert shown and not (set(shown) & nsfw_ids)


async def test_nsfw_posts_do_show_in_an_age_restricted_channel(world):
    tag = await _nsfw_tag(world)
    nsfw_ids = {p.id for p in world.emu.data.posts if p.nsfw}
    record = await world.run("imgur", "tag", name=tag, window="all", channel=world.nsfw)
    shown = await all_pages(world, record)
    assert set(shown) & nsfw_ids


async def test_direct_messages_count_as_not_age_restricted(world):
    await world.bot.tree.sync()  # what `imgurbot sync` does: global commands work in DMs
    post = next(p for p in world.emu.data.posts if p.nsfw)
    record = await world.run(
        "imgur", "item", link=f"https://imgur.com/gallery/{post.id}", channel=None
    )
    assert "marked NSFW" in await private_text(record)


async def test_tag_autocomplete_offers_imgur_tags(world):
    choices = await world.fd.autocomplete(
        "imgur", "tag", focused="name", value="", user=world.alice, channel=world.sfw
    )
    assert 0 < len(choices) <= 25
    names = {t.lower() for t in world.emu.data.tags}
    assert all(c["value"].lower() in names for c in choices)
    prefix = choices[0]["value"][:2]
    narrowed = await world.fd.autocomplete(
        "imgur", "tag", focused="name", value=prefix, user=world.alice, channel=world.sfw
    )
    assert narrowed and all(prefix.lower() in c["value"].lower() for c in narrowed)


async def test_subreddit_listing(world):
    name = next(iter(world.emu.data.by_subreddit))
    record = await world.run("imgur", "subreddit", name=f"r/{name}")
    assert not record.original.ephemeral and record.original.embed["title"]


async def test_item_link_to_an_album_pages_through_its_images(world):
    album = next(
        a
        for a in world.emu.data.albums.values()
        if a.in_gallery and not a.nsfw and 2 < len(a.image_ids) < 8
    )
    record = await world.run("imgur", "item", link=f"https://imgur.com/a/{album.id}")
    shown = await all_pages(world, record)
    assert shown[0] == album.id
    assert shown[1:] == [i for i in album.image_ids if not world.emu.data.images[i].nsfw]


async def test_item_link_to_an_image(world):
    image = next(i for i in world.emu.data.images.values() if not i.nsfw and not i.animated)
    record = await world.run("imgur", "item", link=f"https://i.imgur.com/{image.id}.{image.ext}")
    assert record.original.embed["image"]["url"].endswith(f"/{image.id}.{image.ext}")


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("https://imgur.com/gallery/Zz9Yy8XqQ", "Imgur has nothing there"),
        ("not a link at all", "doesn't look like an Imgur link"),
    ],
)
async def test_item_bad_links_get_a_clear_private_answer(world, link, expected):
    record = await world.run("imgur", "item", link=link)
    assert expected in await private_text(record)


async def test_user_profile_and_submissions(world):
    name = max(world.emu.data.by_account, key=lambda a: len(world.emu.data.by_account[a]))
    record = await world.run("imgur", "user", username=name)
    assert record.original.embed["title"] == name
    assert "Reputation" in [f["name"] for f in record.original.embed["fields"]]


async def test_random_never_repeats_itself_in_a_channel(world):
    picks = []
    for _ in range(6):
        record = await world.run("imgur", "random")
        picks.append(item_id_of(record.original))
    assert all(a != b for a, b in itertools.pairwise(picks))
    nsfw_ids = {p.id for p in world.emu.data.posts if p.nsfw}
    assert not set(picks) & nsfw_ids


async def test_without_an_imgur_client_id_the_bot_answers_from_the_built_in_emulator(start_world):
    world = await start_world(IMGUR__USE_EMULATOR="always")
    record = await world.run("imgur", "frontpage")
    assert world.bot.imgur_backend.emulated
    assert world.bot.imgur_backend.base_url != world.emu.base_url
    assert record.original.embed["url"].startswith(world.bot.imgur_backend.base_url)
    assert world.emu.stats.api_calls == 0  # the test's own emulator was never asked


async def test_every_message_the_bot_sends_mentions_nobody(world):
    world.emu.faults.add("html_404", path_prefix="/3/gallery/search", times=1)
    await world.run("imgur", "frontpage")
    await world.run("imgur", "search", query="no results whatsoever zzqx")
    await world.run("imgur", "search", query="cats")
    await world.run("imgur", "quota")
    sent = [
        m
        for m in world.fd.world.messages.values()
        if m.author.id == world.fd.bot_user.id and not m.loading  # a deferral carries no text
    ]
    assert len(sent) >= 4
    for message in sent:
        assert message.allowed_mentions == {"parse": []}, message


# -- when half of an answer fails --------------------------------------------------------------


async def test_random_picks_from_the_first_page_when_the_second_fails(world):
    world.emu.faults.add("error_500", path_prefix="/3/gallery/hot/viral/day/1")
    record = await world.run("imgur", "random")
    assert not record.original.ephemeral and item_id_of(record.original)
    first_page = {p.id for p in world.emu.data.posts}
    assert item_id_of(record.original) in first_page


async def test_a_profile_shows_even_when_its_submissions_fail(world):
    name = max(world.emu.data.by_account, key=lambda a: len(world.emu.data.by_account[a]))
    world.emu.faults.add("error_500", path_prefix=f"/3/account/{name}/submissions")
    record = await world.run("imgur", "user", username=name)
    assert record.original.embed["title"] == name and not record.original.ephemeral
    assert "couldn't be loaded" in record.original.embed["footer"]["text"]


async def test_an_album_post_shows_when_its_images_cannot_be_fetched(world):
    album = next(
        item
        for item in world.emu.data.posts
        if item.is_album and not item.nsfw and item.images_count > 1
    )
    world.emu.faults.add("over_capacity_403", path_prefix="/3/album/")
    record = await world.run("imgur", "item", link=f"https://imgur.com/gallery/{album.id}")
    assert not record.original.ephemeral
    assert item_id_of(record.original) == album.id


async def test_me_is_not_a_username_members_may_look_up(world):
    for spelling in ("me", "ME", " me "):
        record = await world.run("imgur", "user", username=spelling)
        text = await private_text(record)
        assert "“me” is not an Imgur username" in text and "credentials" not in text
    assert world.emu.stats.api_calls == 0


# -- buttons after a restart -------------------------------------------------------------------


async def test_shutting_down_greys_out_the_paginators_it_will_no_longer_answer(world):
    record = await world.run("imgur", "frontpage")
    assert any(not b.get("disabled") for b in record.original.buttons if b.get("style") != 5)
    await world.bot.drain_and_close()
    pressable = [b for b in record.original.buttons if b.get("style") != 5]
    assert pressable and all(b.get("disabled") for b in pressable)
    link = next(b for b in record.original.buttons if b.get("style") == 5)
    assert not link.get("disabled")  # "Open on Imgur" still works


async def test_a_click_on_buttons_no_process_answers_gets_a_note(world):
    record = await world.run("imgur", "frontpage")
    # As after a crash: the paginator is gone from the process, its buttons still look alive.
    for view in list(world.bot._views):
        view.stop()
    click = await world.fd.click(record.original, label="▶", user=world.alice)
    text = await private_text(click)
    assert "stopped working" in text and "Run the command again" in text
    assert item_id_of(record.original)  # the message itself is left as it was


async def test_a_live_paginator_is_not_answered_twice(world):
    record = await world.run("imgur", "frontpage")
    first = item_id_of(record.original)
    click = await world.fd.click(record.original, label="▶", user=world.alice)
    await click.wait_done(timeout=10)
    await asyncio.sleep(0.2)
    assert item_id_of(record.original) != first
    assert len(click.callbacks) == 1 and not click.rejected
