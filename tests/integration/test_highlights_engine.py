"""The highlights engine on a fake clock: each slot posted exactly once, whatever happens.

The engine is the real one (its store, the ledger and the Imgur client against the
emulator); Discord is the in-memory outlet of ``highlights_support``, so channels can lose
permissions or their age restriction between runs. End-to-end tests through discord.py are
in ``tests/e2e/test_highlights.py``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from highlights_support import GUILD, Channels, mixed_tag, open_engine

from bot.clock import FakeClock
from bot.errors import BadInput
from bot.highlights import FeedSettings, Source
from bot.highlights.engine import LEASE
from bot.highlights.feeds import REPEAT_WINDOW
from fakes.imgur.app import Emulator, EmulatorConfig

NINE = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ADMIN = 7


@pytest.fixture
async def emu():
    async with Emulator(EmulatorConfig(seed=7, item_count=600)) as emulator:
        yield emulator


@pytest.fixture
def clock():
    return FakeClock(NINE - timedelta(hours=1))


@pytest.fixture
def channels():
    return Channels()


@pytest.fixture
def db(store_env):
    """The database every engine of a test shares, on each engine in turn."""
    return store_env


def daily(channel_id: int, **changes) -> FeedSettings:
    return replace(FeedSettings(channel_id, "daily 09:00", "UTC"), **changes)


async def add(engine, channels, channel_id: int, *, nsfw_channel=False, **changes):
    channels.add(channel_id, nsfw=nsfw_channel)
    return await engine.add_feed(
        GUILD, ADMIN, daily(channel_id, **changes), channel_nsfw=nsfw_channel
    )


def gallery_calls(emu) -> dict[str, int]:
    return {p: n for p, n in emu.stats.by_path.items() if p.startswith("/3/gallery")}


async def test_a_due_feed_posts_once_however_often_the_engine_is_woken(emu, db, clock, channels):
    async with open_engine(emu, db, clock, channels) as engine:
        await add(engine, channels, 1)
        assert (await engine.run_due()).claimed == 0  # 08:00: nothing due yet
        clock.set(NINE + timedelta(seconds=2))
        first, second = await asyncio.gather(engine.run_due(), engine.run_due())
        third = await engine.run_due()
    assert first.posted + second.posted == 1 and third.claimed == 0
    (post,) = channels.posts_in(1)
    assert post.header.startswith("**Imgur highlights #1**")
    assert len(post.embeds) == 5


async def test_one_imgur_fetch_per_source_is_shared_by_every_feed(emu, db, clock, channels):
    async with open_engine(emu, db, clock, channels) as engine:
        for channel_id in (1, 2, 3):
            await add(engine, channels, channel_id)  # hot · viral
        # Imgur ignores the window unless sorting by top: these read the same listing.
        await add(engine, channels, 4, source=Source("hot", "viral", "week"))
        for channel_id in (5, 6):
            await add(engine, channels, channel_id, source=Source("top", "top", "week"))
        clock.set(NINE)
        report = await engine.run_due()
        usage = await engine._imgur._ledger.usage()
    assert report.posted == 6 and report.sources == 2
    assert sorted(gallery_calls(emu).values()) == [1, 1]
    assert usage.scheduler_used == 2  # charged to the scheduler's reserve, not to the server
    assert all(channels.posts_in(c) for c in range(1, 7))


# Only PostgreSQL is shared by processes: on SQLite the second bot is refused at start.
@pytest.mark.parametrize("engine", ["postgresql"])
async def test_two_processes_on_one_database_post_each_slot_once(emu, db, clock, channels):
    async with (
        open_engine(emu, db, clock, channels, process="one") as one,
        open_engine(emu, db, clock, channels, process="two") as two,
    ):
        for channel_id in range(1, 21):
            await add(one, channels, channel_id)
        clock.set(NINE)
        reports = await asyncio.gather(one.run_due(), two.run_due(), one.run_due(), two.run_due())
    assert sum(r.posted for r in reports) == 20
    assert sorted(s.channel_id for s in channels.sent) == list(range(1, 21))


async def test_a_process_that_dies_mid_run_is_finished_by_the_next_exactly_once(
    emu, db, clock, channels
):
    stalled = asyncio.Event()

    async def die_after_three(landed: int) -> None:
        if landed == 3:
            stalled.set()
            await asyncio.Event().wait()  # the third post is in Discord, never recorded

    async with open_engine(emu, db, clock, channels) as first:
        for channel_id in range(1, 9):
            await add(first, channels, channel_id)
        clock.set(NINE)
        channels.after_send = die_after_three
        run = asyncio.create_task(first.run_due())
        await asyncio.wait_for(stalled.wait(), 10)
        run.cancel()  # the process is gone: nothing more of it runs
        with pytest.raises(asyncio.CancelledError):
            await run
    channels.after_send = None
    assert len(channels.sent) == 3

    async with open_engine(emu, db, clock, channels) as second:
        early = await second.run_due()  # the dead process's lease still holds
        clock.advance(LEASE.total_seconds() + 1)
        report = await second.run_due()
    assert early.claimed == 0
    assert report.recovered == 1  # found in the channel, not posted again
    assert sorted(s.channel_id for s in channels.sent) == list(range(1, 9))


async def test_a_graceful_stop_mid_run_leaves_the_rest_to_the_next_start(emu, db, clock, channels):
    async with open_engine(emu, db, clock, channels, DISCORD_POSTS_PER_SECOND="4") as first:
        for channel_id in range(1, 7):
            await add(first, channels, channel_id)
        clock.set(NINE)
        run = asyncio.create_task(first.run_due())
        two_landed = asyncio.Event()

        async def note(landed: int) -> None:
            if landed == 2:
                two_landed.set()

        channels.after_send = note
        await asyncio.wait_for(two_landed.wait(), 10)
        await first.stop()
        stopped = await run
    assert 2 <= stopped.posted < 6

    async with open_engine(emu, db, clock, channels) as second:
        report = await second.run_due()  # at once: nothing was half-sent
    assert report.recovered == 0
    assert sorted(s.channel_id for s in channels.sent) == list(range(1, 7))


async def test_a_run_missed_while_down_is_posted_once_within_the_grace_window(
    emu, db, clock, channels
):
    async with open_engine(emu, db, clock, channels) as before:
        await add(before, channels, 1)
    clock.set(NINE + timedelta(minutes=40))  # the bot was down over 09:00
    async with open_engine(emu, db, clock, channels) as after:
        report = await after.run_due()
        again = await after.run_due()
    assert report.posted == 1 and again.claimed == 0
    assert f"<t:{int(NINE.timestamp())}:f>" in channels.posts_in(1)[0].header


async def test_a_run_missed_beyond_the_grace_window_is_skipped_and_logged(
    emu, db, clock, channels, caplog
):
    async with open_engine(emu, db, clock, channels) as before:
        await add(before, channels, 1)
    clock.set(NINE + timedelta(hours=1, minutes=30))
    caplog.set_level(logging.INFO, logger="bot.highlights.engine")
    async with open_engine(emu, db, clock, channels, GRACE_S="3600") as after:
        late = await after.run_due()
        clock.set(NINE + timedelta(days=1))
        next_day = await after.run_due()
    assert late.posted == 0 and late.missed == 1
    assert "came more than 3600 s late" in caplog.text
    assert next_day.posted == 1


async def test_an_item_posted_in_a_channel_is_not_posted_there_again_for_30_days(
    emu, db, clock, channels
):
    async with open_engine(emu, db, clock, channels) as engine:
        await add(engine, channels, 1)
        await add(engine, channels, 2)
        days = []
        for day in (0, 1, 31):
            clock.set(NINE + timedelta(days=day))
            await engine.run_due()
            days.append(set(channels.posts_in(1)[-1].item_ids))
    first, second, later = days
    assert len(first) == len(second) == 5
    assert not first & second  # the next best took their place
    assert later == first  # a month on, the listing's best may come back
    # Another channel has its own memory: day 2 there repeats nothing of channel 1's.
    assert set(channels.posts_in(2)[1].item_ids) == second
    assert REPEAT_WINDOW == timedelta(days=30)


async def test_nsfw_goes_only_where_the_channel_is_age_restricted_at_post_time(
    emu, db, clock, channels
):
    nsfw_ids = {p.id for p in emu.data.posts if p.nsfw}
    source = Source(tag=mixed_tag(emu), sort="top", window="all")
    async with open_engine(emu, db, clock, channels) as engine:
        with pytest.raises(BadInput, match="isn't age-restricted"):
            await add(engine, channels, 1, nsfw=True, source=source)
        await add(engine, channels, 2, nsfw_channel=True, nsfw=True, count=10, source=source)
        await add(engine, channels, 3, nsfw_channel=True, nsfw=True, count=10, source=source)
        channels.places[3].nsfw = False  # an admin turned the age restriction off
        clock.set(NINE)
        await engine.run_due()
    (allowed,) = channels.posts_in(2)
    (not_any_more,) = channels.posts_in(3)
    assert set(allowed.item_ids) & nsfw_ids  # the test can see NSFW when it is allowed
    assert not set(not_any_more.item_ids) & nsfw_ids


async def test_three_failures_in_a_row_pause_the_feed_and_tell_the_server_how_to_fix_it(
    emu, db, clock, channels
):
    async with open_engine(emu, db, clock, channels) as engine:
        feed = await add(engine, channels, 1)
        channels.places[1].missing = ("Embed Links",)
        clock.set(NINE)
        tries = [await engine.run_due()]
        clock.advance(60)  # retried after a minute...
        tries.append(await engine.run_due())
        clock.advance(299)
        tries.append(await engine.run_due())  # ...not before five more
        clock.advance(1)
        tries.append(await engine.run_due())
        paused = await engine.feeds.get(feed.id)
        clock.set(NINE + timedelta(days=1))
        while_paused = await engine.run_due()
        sent_while_paused = len(channels.sent)
        channels.places[1].missing = ()
        resumed = await engine.resume_feed(paused)
        clock.set(NINE + timedelta(days=2))
        after_fix = await engine.run_due()
        states = [row["state"] for row in await engine.feeds.slot_states(feed.id)]
    assert [t.retrying for t in tries] == [1, 1, 0, 0]
    assert tries[2].claimed == 0 and tries[3].paused == [feed.id]
    assert paused.paused and "missing Embed Links" in paused.paused_reason
    ((guild, creator, text),) = channels.notices
    assert (guild, creator) == (GUILD, ADMIN)
    assert f"feed #{feed.id}" in text and "paused after 3 failed tries" in text
    assert "give my role View Channel, Send Messages and Embed Links" in text
    assert f"/highlights resume feed:{feed.id}" in text
    assert while_paused.claimed == 0 and sent_while_paused == 0
    assert not resumed.paused and after_fix.posted == 1
    assert states == ["failed", "posted"]


async def test_a_success_resets_the_failure_count(emu, db, clock, channels):
    async with open_engine(emu, db, clock, channels) as engine:
        feed = await add(engine, channels, 1)
        channels.places[1].missing = ("Send Messages",)
        clock.set(NINE)
        await engine.run_due()
        channels.places[1].missing = ()
        clock.advance(60)
        assert (await engine.run_due()).posted == 1
        assert (await engine.feeds.get(feed.id)).failures == 0


async def test_a_feed_whose_guild_the_bot_has_left_is_dropped(emu, db, clock, channels):
    async with open_engine(emu, db, clock, channels) as engine:
        feed = await add(engine, channels, 1)
        channels.guilds.clear()
        clock.set(NINE)
        report = await engine.run_due()
        assert await engine.feeds.get(feed.id) is None
    assert report.dropped == [GUILD] and not channels.sent


async def test_an_imgur_failure_is_retried_without_counting_against_the_channel(
    emu, db, clock, channels
):
    async with open_engine(emu, db, clock, channels) as engine:
        feed = await add(engine, channels, 1)
        emu.faults.add("error_500", path_prefix="/3/gallery", times=1)
        clock.set(NINE)
        failed = await engine.run_due()
        clock.advance(60)
        retried = await engine.run_due()
        assert (await engine.feeds.get(feed.id)).failures == 0
    assert failed.fetch_failures == 1 and failed.retrying == 1
    assert retried.posted == 1


async def test_edits_take_effect_at_once_and_timers_follow_the_table(emu, db, clock, channels):
    async with open_engine(emu, db, clock, channels) as engine:
        feed = await add(engine, channels, 1)
        jobs = lambda: sorted(j.id for j in engine._scheduler.get_jobs())  # noqa: E731
        assert jobs() == ["highlights:UTC|daily 09:00"]
        edited = await engine.edit_feed(
            feed, daily(1, schedule="every 2h", time_zone="Europe/Paris"), channel_nsfw=False
        )
        assert jobs() == ["highlights:Europe/Paris|every 2h"]
        assert edited.next_run_at == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # 10:00 in Paris
        await engine.pause_feed(edited)
        assert jobs() == []
    async with open_engine(emu, db, clock, channels) as restarted:
        await restarted.resume_feed(edited)
        await restarted.sync_timers()  # what start() does, from the table alone
        assert [j.id for j in restarted._scheduler.get_jobs()] == [
            "highlights:Europe/Paris|every 2h"
        ]


async def test_an_unexpected_failure_in_one_post_spares_the_others(emu, db, clock, channels):
    async def break_once(landed: int) -> None:
        if landed == 2:
            raise RuntimeError("a bug after the second post landed")

    async with open_engine(emu, db, clock, channels) as engine:
        for channel_id in (1, 2, 3):
            await add(engine, channels, channel_id)
        clock.set(NINE)
        channels.after_send = break_once
        first = await engine.run_due()
        channels.after_send = None
        clock.advance(LEASE.total_seconds() + 1)
        later = await engine.run_due()
    assert first.posted == 2
    assert later.recovered == 1  # it had landed: found, recorded, not posted again
    assert sorted(s.channel_id for s in channels.sent) == [1, 2, 3]


async def test_a_timer_firing_wakes_the_engine_which_posts_what_is_due(emu, db, clock, channels):
    async with open_engine(emu, db, clock, channels) as engine:
        await add(engine, channels, 1)
        (timer,) = engine._scheduler.get_jobs()
        clock.set(NINE)
        await timer.func()  # what APScheduler calls at 09:00
        await timer.func()  # a second timer in the same instant joins the same run
        await asyncio.wait_for(engine._waker, 10)
    assert len(channels.posts_in(1)) == 1
