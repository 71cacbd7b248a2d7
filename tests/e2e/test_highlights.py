"""``/highlights`` as server admins use it, and scheduled posts as channels receive them.

The genuine discord.py bot against the fake Discord and the Imgur emulator, on a fake
clock: tests move the clock and call ``bot.highlights.run_due()`` (what the scheduler's
wake does), then read what landed in the channels.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from integration.highlights_support import mixed_tag

from bot.clock import FakeClock
from fakes.discord.models import EMBED_LINKS, MANAGE_GUILD, SEND_MESSAGES

from .helpers import private_text

EIGHT = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # a Monday
NINE = EIGHT + timedelta(hours=1)
STAMP = re.compile(r"<t:(\d+):F>")


async def eventually(check: Callable[[], object], seconds: float = 5.0) -> None:
    """Wait until the bot has taken in a change the fake Discord sent it (``check`` may be
    a coroutine function)."""
    for _ in range(int(seconds / 0.02)):
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the bot never saw the change")


async def highlights(world, *path: str, user=None, **options):
    """Run ``/highlights <path>`` as the server's owner (in #general) and wait for it."""
    record = await world.fd.slash(
        "highlights", *path, options=options, user=user or world.fd.owner, channel=world.sfw
    )
    await record.wait_done(timeout=15)
    return record


async def add(world, channel, schedule="daily 09:00", **options) -> int:
    record = await highlights(world, "add", channel=channel, schedule=schedule, **options)
    text = record.original.content
    assert text.startswith("Added a highlights feed"), text
    return int(re.search(r"#(\d+) ·", text).group(1))


def item_ids(message) -> list[str]:
    return [e["url"].rstrip("/").rsplit("/", 1)[-1] for e in message.embeds]


@pytest.fixture
async def clocked(start_world):
    clock = FakeClock(EIGHT)
    world = await start_world(clock=clock)
    world.clock = clock
    return world


# -- the commands ------------------------------------------------------------------------------


async def test_adding_a_feed_shows_its_next_three_runs(clocked):
    record = await highlights(
        clocked,
        "add",
        channel=clocked.sfw,
        schedule="weekdays 18:30",
        timezone="Europe/Paris",
        count=3,
    )
    message = record.original
    assert message.ephemeral
    stamps = [int(s) for s in STAMP.findall(message.content)]
    # 18:30 in Paris is 17:30 UTC in winter; the Monday, Tuesday and Wednesday.
    assert stamps == [
        int((EIGHT + timedelta(days=d, hours=9, minutes=30)).timestamp()) for d in range(3)
    ]
    assert "`weekdays 18:30` (Europe/Paris)" in message.content


async def test_only_members_who_may_manage_the_server_can_use_highlights(clocked):
    refused = await highlights(clocked, "list", user=clocked.alice)
    assert "You need the Manage Server permission" in await private_text(refused)
    mods = clocked.fd.add_role(clocked.guild, "mods", permissions=MANAGE_GUILD)
    clocked.fd.add_member(clocked.guild, clocked.bob, roles=(mods,))
    allowed = await highlights(clocked, "list", user=clocked.bob)
    assert "No highlights feeds here yet" in allowed.original.content


async def test_the_commands_are_hidden_from_members_by_default(clocked):
    commands = {c["name"]: c for c in clocked.fd.synced_commands(clocked.guild)}
    assert str(commands["highlights"]["default_member_permissions"]) == str(MANAGE_GUILD)


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"schedule": "sometimes"}, "Try `daily 09:00`, `every 6h`, `weekdays 18:30`"),
        ({"schedule": "*/5 * * * *"}, "runs 5 minutes apart"),
        ({"schedule": "daily 09:00", "timezone": "Mars/Olympus"}, "isn't a time zone I know"),
        ({"schedule": "daily 09:00", "sort": "rising"}, "rising"),
    ],
)
async def test_a_bad_feed_is_refused_with_words_and_nothing_is_saved(clocked, options, words):
    record = await highlights(clocked, "add", channel=clocked.sfw, **options)
    assert words in await private_text(record)
    assert not await clocked.bot.highlights.feeds.in_guild(int(clocked.guild.id))


async def test_add_names_the_permission_the_bot_is_missing_in_the_channel(clocked):
    clocked.fd.set_permissions(clocked.sfw, clocked.fd.bot_user, deny=EMBED_LINKS)
    channel = clocked.bot.get_channel(int(clocked.sfw.id))
    await eventually(lambda: not channel.permissions_for(channel.guild.me).embed_links)
    record = await highlights(clocked, "add", channel=clocked.sfw, schedule="daily 09:00")
    text = await private_text(record)
    assert "I'm missing Embed Links there" in text
    assert "give my role View Channel, Send Messages and Embed Links" in text
    assert not await clocked.bot.highlights.feeds.in_guild(int(clocked.guild.id))


async def test_a_feed_into_a_channel_that_is_not_age_restricted_cannot_include_nsfw(clocked):
    refused = await highlights(
        clocked, "add", channel=clocked.sfw, schedule="daily 09:00", nsfw=True
    )
    assert "isn't age-restricted" in await private_text(refused)
    await add(clocked, clocked.nsfw, nsfw=True)  # an age-restricted channel may


async def test_list_edit_pause_resume_and_remove(clocked):
    feed = await add(clocked, clocked.sfw)
    edited = await highlights(clocked, "edit", feed=feed, schedule="every 6h", count=2)
    assert "Feed changed" in edited.original.content
    assert len(STAMP.findall(edited.original.content)) == 3
    await highlights(clocked, "pause", feed=feed)
    listed = await highlights(clocked, "list")
    (field,) = listed.original.embed["fields"]
    assert "`every 6h`" in field["value"] and "paused" in field["value"]
    resumed = await highlights(clocked, "resume", feed=feed)
    assert "running again" in resumed.original.content
    await highlights(clocked, "remove", feed=feed)
    assert not await clocked.bot.highlights.feeds.in_guild(int(clocked.guild.id))
    gone = await highlights(clocked, "pause", feed=feed)
    assert f"no highlights feed #{feed}" in await private_text(gone)


async def test_feeds_and_time_zones_autocomplete(clocked):
    feed = await add(clocked, clocked.sfw)
    zones = await clocked.fd.autocomplete(
        "highlights", "add", focused="timezone", value="new_y", user=clocked.fd.owner,
        channel=clocked.sfw, options={"channel": clocked.sfw, "schedule": "daily 09:00"},
    )  # fmt: skip
    assert zones[0]["value"] == "America/New_York"
    feeds = await clocked.fd.autocomplete(
        "highlights", "remove", focused="feed", value="", user=clocked.fd.owner, channel=clocked.sfw
    )
    assert feeds == [
        {"name": f"#{feed} · #general · `daily 09:00` (UTC) · hot · viral · 5 posts", "value": feed}
    ]


# -- scheduled posts ---------------------------------------------------------------------------


async def test_a_due_feed_posts_one_message_of_embeds_without_mentions(clocked):
    await add(clocked, clocked.sfw, count=4)
    clocked.clock.set(NINE)
    report = await clocked.bot.highlights.run_due()
    assert report.posted == 1
    (message,) = clocked.fd.channel_messages(clocked.sfw)
    assert message.content.startswith("**Imgur highlights #")
    assert f"<t:{int(NINE.timestamp())}:f>" in message.content
    assert len(message.embeds) == 4
    assert all(e["title"] and e["url"] and "points" in e["footer"]["text"] for e in message.embeds)
    assert message.allowed_mentions == {"parse": []}
    assert message.author.id == clocked.fd.bot_user.id
    assert (await clocked.bot.highlights.run_due()).claimed == 0  # once


async def test_nsfw_is_checked_again_when_posting(clocked):
    nsfw_ids = {p.id for p in clocked.emu.data.posts if p.nsfw}
    still = clocked.fd.add_channel(clocked.guild, "still-nsfw", nsfw=True)
    await eventually(lambda: clocked.bot.get_channel(int(still.id)))
    source = {"tag": mixed_tag(clocked.emu), "sort": "top", "window": "all", "count": 10}
    await add(clocked, clocked.nsfw, nsfw=True, **source)
    await add(clocked, still, nsfw=True, **source)  # the same listing, NSFW included
    clocked.fd.update_channel(clocked.nsfw, nsfw=False)  # an admin lifts the restriction
    channel = clocked.bot.get_channel(int(clocked.nsfw.id))
    await eventually(lambda: not channel.is_nsfw())
    clocked.clock.set(NINE)
    await clocked.bot.highlights.run_due()
    (allowed,) = clocked.fd.channel_messages(still)
    (lifted,) = clocked.fd.channel_messages(clocked.nsfw)
    assert set(item_ids(allowed)) & nsfw_ids  # the listing did hold NSFW posts
    assert len(lifted.embeds) == 10 and not set(item_ids(lifted)) & nsfw_ids


async def test_a_feed_that_cannot_post_pauses_after_three_tries_and_the_server_is_told(clocked):
    clocked.fd.set_system_channel(clocked.guild, clocked.nsfw)
    feed = await add(clocked, clocked.sfw)
    clocked.fd.set_permissions(clocked.sfw, clocked.fd.bot_user, deny=SEND_MESSAGES)
    channel = clocked.bot.get_channel(int(clocked.sfw.id))
    await eventually(lambda: not channel.permissions_for(channel.guild.me).send_messages)
    engine = clocked.bot.highlights
    for at in (NINE, NINE + timedelta(seconds=60), NINE + timedelta(seconds=360)):
        clocked.clock.set(at)
        await engine.run_due()
    (notice,) = clocked.fd.channel_messages(clocked.nsfw)
    assert f"feed #{feed}" in notice.content and "paused after 3 failed tries" in notice.content
    assert "I'm missing Send Messages" in notice.content
    assert f"/highlights resume feed:{feed}" in notice.content
    assert notice.allowed_mentions == {"parse": []}
    assert (await engine.feeds.get(feed)).paused
    too_soon = await highlights(clocked, "resume", feed=feed)  # not fixed yet: says so
    assert "I'm missing Send Messages" in await private_text(too_soon)
    clocked.fd.set_permissions(clocked.sfw, clocked.fd.bot_user)  # the admin fixes it
    await eventually(lambda: channel.permissions_for(channel.guild.me).send_messages)
    resumed = await highlights(clocked, "resume", feed=feed)
    assert "running again" in resumed.original.content


async def test_without_a_system_channel_the_feeds_creator_gets_a_dm(clocked):
    feed = await add(clocked, clocked.sfw)
    clocked.fd.delete_channel(clocked.sfw)
    await eventually(lambda: clocked.bot.get_channel(int(clocked.sfw.id)) is None)
    engine = clocked.bot.highlights
    for at in (NINE, NINE + timedelta(seconds=60), NINE + timedelta(seconds=360)):
        clocked.clock.set(at)
        await engine.run_due()
    (dm,) = clocked.fd.channel_messages(clocked.fd.dm_channel(clocked.fd.owner))
    assert f"feed #{feed}" in dm.content and "I can't find" in dm.content
    assert "/highlights edit" in dm.content


async def test_a_feed_whose_guild_the_bot_has_left_is_dropped(clocked):
    await add(clocked, clocked.sfw)
    clocked.fd.remove_bot(clocked.guild)
    feeds = clocked.bot.highlights.feeds

    async def dropped() -> bool:
        return not await feeds.in_guild(int(clocked.guild.id))

    await eventually(dropped)


async def test_preview_shows_the_post_privately_and_costs_nothing_when_cached(clocked):
    feed = await add(clocked, clocked.sfw)
    clocked.clock.set(NINE)
    await clocked.bot.highlights.run_due()  # fetched once, for the schedule
    calls = clocked.emu.stats.api_calls
    used = (await clocked.bot.ledger.guild_status(int(clocked.guild.id))).used
    record = await highlights(clocked, "preview", feed=feed)
    preview = record.last_message
    assert preview.ephemeral and len(preview.embeds) == 5
    # The next best: what the schedule just posted is not shown again.
    (posted,) = clocked.fd.channel_messages(clocked.sfw)
    assert not set(item_ids(preview)) & set(item_ids(posted))
    assert clocked.emu.stats.api_calls == calls
    assert (await clocked.bot.ledger.guild_status(int(clocked.guild.id))).used == used
    assert len(clocked.fd.channel_messages(clocked.sfw)) == 1  # nothing was posted


async def test_post_now_posts_outside_the_schedule(clocked):
    feed = await add(clocked, clocked.sfw, count=2)
    record = await highlights(clocked, "post-now", feed=feed)
    (message,) = clocked.fd.channel_messages(clocked.sfw)
    assert len(message.embeds) == 2
    assert message.id in (await private_text(record))


# -- restarts and a second process -------------------------------------------------------------


async def test_a_run_missed_while_the_bot_was_down_is_posted_once_at_start(start_world):
    clock = FakeClock(EIGHT)
    first = await start_world(clock=clock)
    first.clock = clock
    await add(first, first.sfw)
    await first.stop()  # down over 09:00
    first.fd.identify_interval = None  # no 5 s wait before the next IDENTIFY
    clock.set(NINE + timedelta(minutes=20))
    second = await start_world(clock=clock)  # same database
    message = await second.fd.wait_for_message(second.sfw, lambda m: True, timeout=10)
    assert f"<t:{int(NINE.timestamp())}:f>" in message.content
    assert (await second.bot.highlights.run_due()).claimed == 0
    assert len(second.fd.channel_messages(second.sfw)) == 1


# Only PostgreSQL is shared by processes: on SQLite the second bot is refused at start.
@pytest.mark.parametrize("engine", ["postgresql"])
async def test_two_bots_on_one_database_post_each_slot_once(start_world, store_env):
    clock = FakeClock(EIGHT)
    shared = {"STORE__URL": store_env["IMGURBOT_STORE__URL"]}
    one = await start_world(clock=clock, STORE__PROCESS_NAME="one", **shared)
    channels = [one.fd.add_channel(one.guild, f"feed-{n}") for n in range(6)]
    for channel in channels:
        await eventually(lambda c=channel: one.bot.get_channel(int(c.id)))
        await add(one, channel)
    one.fd.identify_interval = None  # no 5 s wait before the second IDENTIFY
    two = await start_world(clock=clock, STORE__PROCESS_NAME="two", **shared)  # a second process
    await eventually(lambda: all(two.bot.get_channel(int(c.id)) for c in channels))
    clock.set(NINE)
    reports = await asyncio.gather(*(bot.highlights.run_due() for bot in (one.bot, two.bot) * 2))
    assert sum(r.posted for r in reports) == 6
    assert [len(one.fd.channel_messages(c)) for c in channels] == [1] * 6
