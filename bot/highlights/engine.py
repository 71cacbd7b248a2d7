"""The highlights engine: from the feeds table to posts in channels, each slot once.

Time and the decisions are separate. ``run_due(now)`` decides and does everything that is
due at ``now`` (a plain method, so tests and the sandbox drive it on a ``FakeClock``);
APScheduler only wakes the engine: one timer per distinct (schedule, time zone) among the
running feeds, rebuilt from the table at start and after every change, plus a sweep every
minute for retries, taken-over claims and feeds another process added. A wake runs
``run_due(clock.now())`` shortly after (wakes in the same instant share one run).

A run, in order:

1. due feeds (``next_run_at <= now``) whose guild the bot has left are dropped; for the
   others the slot is the latest run time within the grace window (several runs missed
   while the bot was down become one post; older ones are skipped and logged);
2. the slots are claimed in one transaction (``Feeds.claim``): only the process whose
   insert went in posts, so a double fire, a restart or a second process never posts twice.
   Slots due for a retry, and claims whose owner's lease ran out, are taken over too;
3. one Imgur fetch per distinct source for all the claimed feeds that read it, charged to
   the ledger's scheduler reserve (``acting_for(None, None, ...)``);
4. per feed: can the bot post in the channel (checked again now, NSFW included), pick the
   best items not posted there in 30 days, wait for the pacer (under Discord's global
   limit), send one message, record it. A missing channel or permission is retried with
   backoff; the third failure in a row pauses the feed and tells the server how to fix it.

A slot taken over from a process that stopped mid-send may already be in Discord; its
channel's recent messages are read first (the post's header names the feed and the run).
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import weakref
from collections.abc import Awaitable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import lru_cache

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.access import ChargedImgur, ImgurAccess
from bot.clock import Clock, SystemClock
from bot.config import HighlightsSettings
from bot.discord.embeds import Media
from bot.errors import BadInput, QuotaExceeded
from bot.highlights.feeds import EMPTY, FAILED, Feed, Feeds, FeedSettings, Plan, Slot
from bot.highlights.message import Post, build_post, header_for
from bot.highlights.outlet import ChannelProblem, Outlet, SendFailed
from bot.highlights.pacing import Pacer, PacerClosed
from bot.highlights.schedule import (
    Schedule,
    check_spacing,
    due_run,
    parse_schedule,
    stored_schedule,
)
from bot.highlights.sources import Source, listed_items, pick
from bot.imgur.errors import ImgurError
from bot.store import Store, StoreUnavailable

log = logging.getLogger(__name__)

# A claim stays its owner's this long after its last renewal; renewed while the run lasts.
LEASE = timedelta(minutes=2)
RENEW_EVERY_S = 30.0
SWEEP_EVERY_S = 60.0
WAKE_DEBOUNCE_S = 0.5
FETCH_CONCURRENCY = 8
FAILURES_BEFORE_PAUSE = 3
BACKOFF_FACTOR = 5
PRUNE_EVERY = timedelta(hours=6)
JOB_PREFIX = "highlights:"
SWEEP_JOB = JOB_PREFIX + "sweep"


@dataclass
class RunReport:
    """What one run did (the log line, the tests and the benchmark read it)."""

    at: datetime
    claimed: int = 0
    posted: int = 0
    empty: int = 0
    recovered: int = 0  # taken-over slots found already posted
    missed: int = 0  # feeds with runs skipped for being past the grace window
    retrying: int = 0
    sources: int = 0
    fetch_failures: int = 0
    paused: list[int] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)  # guilds the bot had left

    @property
    def eventful(self) -> bool:
        return bool(self.claimed or self.missed or self.dropped)


class HighlightsEngine:
    """Owns the feeds, their timers and every scheduled post. Made by ``open_bot``; the
    Discord side (``outlet``) is attached once the bot exists."""

    def __init__(
        self,
        store: Store,
        imgur: ImgurAccess,
        settings: HighlightsSettings,
        *,
        clock: Clock | None = None,
        scheduler: BaseScheduler | None = None,
        outlet: Outlet | None = None,
    ) -> None:
        self.feeds = Feeds(store)
        self.settings = settings
        self.outlet = outlet
        self.pacer = Pacer(settings.discord_posts_per_second)
        # Names this process's claims; a restart is a new owner.
        self.owner = secrets.token_hex(8)
        self._imgur = imgur
        self._clock = clock or SystemClock()
        self._scheduler = scheduler
        self._run_lock = asyncio.Lock()
        self._fetching = asyncio.Semaphore(FETCH_CONCURRENCY)
        # Posts made ready (items picked, embeds built) but not yet let through by the
        # pacer: about a second's worth. Preparing all 5,000 of a big slot at once would
        # hold the event loop for seconds, and every send waiting behind it would then
        # leave in a bunch (into Discord's global limit).
        self._preparing = asyncio.Semaphore(math.ceil(settings.discord_posts_per_second))
        self._channel_locks: weakref.WeakValueDictionary[int, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self._woken = False
        self._waker: asyncio.Task[None] | None = None
        self._stopping = False
        self._last_prune: datetime | None = None

    # -- lifetime --------------------------------------------------------------------------

    async def start(self) -> None:
        """Create the tables, lay the timers from the feeds table, and catch up at once."""
        await self.feeds.create_tables()
        if self._scheduler is not None:
            self._scheduler.add_job(
                self._fired,
                IntervalTrigger(seconds=SWEEP_EVERY_S),
                id=SWEEP_JOB,
                replace_existing=True,
                coalesce=True,
                max_instances=1,
            )
        await self.sync_timers()
        self.wake()

    async def stop(self, grace_s: float = 10.0) -> None:
        """Stop posting: sends already under way finish (bounded), slots not yet sent are
        handed back for the next start or another process."""
        self._stopping = True
        self.pacer.close()
        self._remove_timers()
        try:
            async with asyncio.timeout(grace_s):
                async with self._run_lock:
                    pass
        except TimeoutError:
            log.warning("a highlights run was still going after %.0f s; stopping it", grace_s)
        if self._waker is not None and not self._waker.done():
            self._waker.cancel()
            with suppress(asyncio.CancelledError):
                await self._waker

    # -- timers ------------------------------------------------------------------------------

    async def sync_timers(self) -> None:
        """One APScheduler job per (schedule, time zone) that some running feed uses."""
        if self._scheduler is None:
            return
        wanted = {
            f"{JOB_PREFIX}{zone}|{text}": (text, zone)
            for text, zone in await self.feeds.schedules_in_use()
        }
        for job in self._scheduler.get_jobs():
            if job.id.startswith(JOB_PREFIX) and job.id != SWEEP_JOB and job.id not in wanted:
                job.remove()
        for job_id, (text, zone) in wanted.items():
            if self._scheduler.get_job(job_id) is None:
                self._scheduler.add_job(
                    self._fired,
                    stored_schedule(text, zone).trigger,
                    id=job_id,
                    coalesce=True,
                    max_instances=1,
                    misfire_grace_time=None,  # the engine decides what is too late
                )

    def _remove_timers(self) -> None:
        if self._scheduler is None:
            return
        for job in self._scheduler.get_jobs():
            if job.id.startswith(JOB_PREFIX):
                job.remove()

    async def _fired(self) -> None:
        self.wake()

    def wake(self) -> None:
        """Run what is due soon. Wakes while a run is going start another one after it."""
        if self._stopping:
            return
        self._woken = True
        if self._waker is None or self._waker.done():
            self._waker = asyncio.get_running_loop().create_task(
                self._runs_while_woken(), name="highlights-run"
            )

    async def _runs_while_woken(self) -> None:
        while self._woken and not self._stopping:
            await asyncio.sleep(WAKE_DEBOUNCE_S)  # the timers of one instant share a run
            self._woken = False
            try:
                await self.run_due()
            except Exception:
                log.exception("a highlights run failed; the next wake tries again")

    # -- feeds, for the /highlights commands -------------------------------------------------

    def validate(self, settings: FeedSettings, *, channel_nsfw: bool) -> FeedSettings:
        """The settings as stored (canonical schedule and zone names), or ``BadInput``
        saying what is wrong: the schedule, the source, or NSFW outside an age-restricted
        channel."""
        schedule = parse_schedule(settings.schedule, settings.time_zone)
        gap = timedelta(minutes=self.settings.min_interval_minutes)
        check_spacing(schedule, gap, after=self._clock.now())
        settings.source.request()  # Imgur must accept the combination
        if settings.nsfw and not channel_nsfw:
            raise BadInput(
                f"<#{settings.channel_id}> isn't age-restricted, so its feed can't include "
                "NSFW posts. Mark the channel age-restricted first, or leave nsfw off."
            )
        return replace(settings, schedule=schedule.text, time_zone=schedule.zone.key)

    async def add_feed(
        self, guild_id: int, creator_id: int, settings: FeedSettings, *, channel_nsfw: bool
    ) -> Feed:
        if await self.feeds.count_in_guild(guild_id) >= self.settings.max_feeds_per_guild:
            raise BadInput(
                f"This server already has {self.settings.max_feeds_per_guild} highlights feeds, "
                "the most it may have. Remove one first (`/highlights remove`)."
            )
        settings = self.validate(settings, channel_nsfw=channel_nsfw)
        now = self._clock.now()
        schedule = _schedule_of(settings)
        feed = await self.feeds.add(
            guild_id, creator_id, settings, now=now, next_run=schedule.next_after(now)
        )
        await self.sync_timers()
        log.info("highlights feed %d added in guild %d (%s)", feed.id, guild_id, settings.schedule)
        return feed

    async def edit_feed(self, feed: Feed, settings: FeedSettings, *, channel_nsfw: bool) -> Feed:
        """New settings take effect at once (the schedule counts from now)."""
        settings = self.validate(settings, channel_nsfw=channel_nsfw)
        now = self._clock.now()
        changed = await self.feeds.change(
            feed.id, settings, now=now, next_run=_schedule_of(settings).next_after(now)
        )
        if changed is None:
            raise gone_feed(feed.id)
        await self.sync_timers()
        return changed

    async def remove_feed(self, feed: Feed) -> None:
        await self.feeds.remove(feed.id)
        await self.sync_timers()

    async def pause_feed(self, feed: Feed) -> Feed:
        paused = await self.feeds.pause(feed.id, None)
        if paused is None:
            raise gone_feed(feed.id)
        await self.sync_timers()
        return paused

    async def resume_feed(self, feed: Feed) -> Feed:
        """Running again from now: runs missed while paused are not posted."""
        now = self._clock.now()
        resumed = await self.feeds.resume(feed.id, now=now, next_run=feed.schedule.next_after(now))
        if resumed is None:
            raise gone_feed(feed.id)
        await self.sync_timers()
        return resumed

    async def feed_in_guild(self, guild_id: int, feed_id: int) -> Feed:
        feed = await self.feeds.get(feed_id)
        if feed is None or feed.guild_id != guild_id:
            raise gone_feed(feed_id)
        return feed

    def next_runs(
        self, feed: Feed, count: int = 3, after: datetime | None = None
    ) -> list[datetime]:
        """The feed's next ``count`` run times (UTC); none while it is paused."""
        if feed.paused:
            return []
        return feed.schedule.runs_after(after or self._clock.now(), count)

    async def drop_guild(self, guild_id: int) -> int:
        """The bot left a server: its feeds go (nothing can be posted there any more)."""
        removed = await self.feeds.remove_guild(guild_id)
        if removed:
            log.info("left guild %d: dropped its %d highlights feed(s)", guild_id, removed)
            await self.sync_timers()
        return removed

    async def preview(
        self, feed: Feed, imgur: ChargedImgur, *, viewer_nsfw_ok: bool
    ) -> Post | None:
        """What the feed would post now (nothing is sent or recorded). The fetch is the
        member's and costs nothing when the answer is cached."""
        now = self._clock.now()
        nsfw_ok = feed.settings.nsfw and viewer_nsfw_ok and self._channel_is_nsfw(feed)
        answer = await imgur.get(feed.source.request(mature=nsfw_ok))
        chosen = pick(
            listed_items(answer.value),
            count=feed.settings.count,
            min_points=feed.settings.min_points,
            nsfw_ok=nsfw_ok,
            seen=await self.feeds.seen_in(feed.channel_id, now),
        )
        return build_post(header_for(feed.id, feed.source.label, now), chosen) if chosen else None

    async def post_now(self, feed: Feed, imgur: ChargedImgur) -> int:
        """Post the feed now, outside its schedule; the message id. ``BadInput`` (or a
        ``ChannelProblem``) says why not."""
        outlet = self._outlet()
        now = self._clock.now()
        nsfw_ok = feed.settings.nsfw and outlet.channel(feed.guild_id, feed.channel_id).nsfw
        answer = await imgur.get(feed.source.request(mature=nsfw_ok))
        async with self._channel_lock(feed.channel_id):
            info = outlet.channel(feed.guild_id, feed.channel_id)  # again: time has passed
            chosen = pick(
                listed_items(answer.value),
                count=feed.settings.count,
                min_points=feed.settings.min_points,
                nsfw_ok=feed.settings.nsfw and info.nsfw,
                seen=await self.feeds.seen_in(feed.channel_id, now),
            )
            if not chosen:
                raise BadInput(
                    "Nothing new to post: everything Imgur lists there now was posted in that "
                    "channel in the last 30 days, or is below the feed's minimum points."
                )
            post = build_post(header_for(feed.id, feed.source.label, now), chosen)
            try:
                await self.pacer.wait()
                message_id = await outlet.send(feed.channel_id, post)
            except PacerClosed:
                raise BadInput("The bot is restarting; try again in a minute.") from None
            except SendFailed:
                raise BadInput("Discord didn't take the post just now; try again soon.") from None
            await self.feeds.remember_items(feed.channel_id, post.item_ids, now)
        return message_id

    # -- running -----------------------------------------------------------------------------

    async def run_due(self, now: datetime | None = None) -> RunReport:
        """Post every slot due at ``now`` (default: the clock's now) and not yet posted."""
        # Wait for the guild cache outside the lock: a bot that never connects (``imgurbot
        # sync``) must not hold up ``stop``.
        await self._outlet().wait_ready()
        async with self._run_lock:
            now = now or self._clock.now()
            report = RunReport(now)
            if self._stopping:
                return report
            slots = await self._claim_due(now, report)
            slots += await self._take_over(now, report)
            report.claimed = len(slots)
            if slots:
                renewing = asyncio.create_task(self._keep_leases())
                try:
                    await self._deliver(slots, now, report)
                finally:
                    renewing.cancel()
            await self._maybe_prune(now)
            if report.paused or report.dropped:
                await self.sync_timers()
            if report.eventful:
                log.info(
                    "highlights run at %s: %d claimed, %d posted, %d empty, %d retrying, "
                    "%d paused, %d source(s) fetched, %d missed past the grace window",
                    now.isoformat(timespec="seconds"),
                    report.claimed,
                    report.posted,
                    report.empty,
                    report.retrying,
                    len(report.paused),
                    report.sources,
                    report.missed,
                )
            return report

    def _outlet(self) -> Outlet:
        if self.outlet is None:
            raise RuntimeError("the highlights engine has no outlet to Discord attached")
        return self.outlet

    async def _claim_due(self, now: datetime, report: RunReport) -> list[Slot]:
        grace = timedelta(seconds=self.settings.grace_s)
        plans: list[Plan] = []
        for feed in await self.feeds.due(now):
            if await self._guild_left(feed.guild_id, report):
                continue
            due = _due_run(feed.schedule, feed.watermark, now, grace)
            if due is None:  # nothing fell due after all (a doubled hour's second pass)
                plans.append(Plan(feed, None, feed.schedule.next_after(now)))
                continue
            if due.missed_from is not None:
                report.missed += 1
                log.info(
                    "highlights feed %d: the run at %s came more than %d s late (was the bot "
                    "down?) and is skipped%s",
                    feed.id,
                    due.missed_from.isoformat(),
                    self.settings.grace_s,
                    "" if due.slot is None else f"; the run at {due.slot.isoformat()} is posted",
                )
            plans.append(Plan(feed, due.slot, due.next_run))
        if not plans:
            return []
        return await self.feeds.claim(plans, owner=self.owner, now=now, lease_until=now + LEASE)

    async def _take_over(self, now: datetime, report: RunReport) -> list[Slot]:
        grace = timedelta(seconds=self.settings.grace_s)
        taken = await self.feeds.reclaim(
            owner=self.owner, now=now, lease_until=now + LEASE, oldest=now - grace
        )
        feeds = await self.feeds.many(feed_id for feed_id, _ in taken)
        slots = []
        for feed_id, at in taken:
            feed = feeds.get(feed_id)
            if feed is not None and not await self._guild_left(feed.guild_id, report):
                slots.append(Slot(feed, at, recovering=True))
        return slots

    async def _guild_left(self, guild_id: int, report: RunReport) -> bool:
        if guild_id in report.dropped:
            return True
        if self._outlet().has_guild(guild_id) is not False:
            return False
        report.dropped.append(guild_id)
        await self.drop_guild(guild_id)
        return True

    async def _keep_leases(self) -> None:
        while True:
            await asyncio.sleep(RENEW_EVERY_S)
            try:
                await self.feeds.renew(owner=self.owner, lease_until=self._clock.now() + LEASE)
            except (StoreUnavailable, OSError) as exc:
                log.warning("could not renew the highlights claims: %s", exc)

    async def _deliver(self, slots: Sequence[Slot], now: datetime, report: RunReport) -> None:
        by_source: dict[str, list[Slot]] = {}
        for slot in slots:
            by_source.setdefault(slot.feed.source.key, []).append(slot)
        report.sources = len(by_source)
        await _all_of(self._deliver_source(group, now, report) for group in by_source.values())

    async def _deliver_source(self, slots: list[Slot], now: datetime, report: RunReport) -> None:
        # One request serves every feed: it asks for NSFW posts when any of them may show
        # them, and each feed filters for its own channel.
        mature = any(s.feed.settings.nsfw and self._channel_is_nsfw(s.feed) for s in slots)
        async with self._fetching:
            items = await self._fetch(slots[0].feed.source, mature)
        if items is None:
            report.fetch_failures += 1
            when = now + timedelta(seconds=self.settings.retry_after_s)
            for slot in slots:
                await self.feeds.retry_at(
                    slot, owner=self.owner, when=when, detail="Imgur could not be asked"
                )
                report.retrying += 1
            return
        await _all_of(self._post(slot, items, now, report) for slot in slots)

    async def _fetch(self, source: Source, mature: bool) -> list[Media] | None:
        imgur = self._imgur.acting_for(None, None, "highlights")
        try:
            answer = await imgur.get(source.request(mature=mature))
        except (QuotaExceeded, ImgurError, BadInput, TimeoutError, StoreUnavailable) as exc:
            log.warning("highlights: Imgur could not be asked for %s (%s)", source.key, exc)
            return None
        return listed_items(answer.value)

    async def _post(self, slot: Slot, items: list[Media], now: datetime, report: RunReport) -> None:
        feed, outlet = slot.feed, self._outlet()
        header = header_for(feed.id, feed.source.label, slot.at)
        try:
            async with self._channel_lock(feed.channel_id):
                async with self._preparing:
                    info = outlet.channel(feed.guild_id, feed.channel_id)
                    if slot.recovering and info.can_read_history:
                        found = await outlet.find_post(feed.channel_id, header)
                        if found is not None:
                            await self._record(slot, found.message_id, found.item_ids, now)
                            report.recovered += 1
                            return
                    chosen = pick(
                        items,
                        count=feed.settings.count,
                        min_points=feed.settings.min_points,
                        nsfw_ok=feed.settings.nsfw and info.nsfw,
                        seen=await self.feeds.seen_in(feed.channel_id, now),
                    )
                    if not chosen:
                        detail = "nothing new to post (all seen in 30 days, or filtered)"
                        await self.feeds.settle(
                            slot, owner=self.owner, state=EMPTY, detail=detail, now=now
                        )
                        report.empty += 1
                        return
                    post = build_post(header, chosen)
                    await self.pacer.wait()
                # Once the request is on its way it is not cancelled: a half-sent post is
                # the one case that could be posted twice.
                message_id = await asyncio.shield(outlet.send(feed.channel_id, post))
                await self._record(slot, message_id, post.item_ids, now)
                report.posted += 1
        except ChannelProblem as problem:
            await self._channel_failed(slot, problem, now, report)
        except PacerClosed:
            # Stopping before this one was sent: hand it back for whoever runs next.
            await self.feeds.retry_at(slot, owner=self.owner, when=now, detail="bot stopped")
        except SendFailed as exc:
            when = now + timedelta(seconds=self.settings.retry_after_s)
            await self.feeds.retry_at(slot, owner=self.owner, when=when, detail=str(exc))
            report.retrying += 1

    async def _record(
        self, slot: Slot, message_id: int, item_ids: Sequence[str], now: datetime
    ) -> None:
        await self.feeds.posted(
            slot, owner=self.owner, message_id=message_id, item_ids=item_ids, now=now
        )

    async def _channel_failed(
        self, slot: Slot, problem: ChannelProblem, now: datetime, report: RunReport
    ) -> None:
        failures = await self.feeds.count_failure(slot.feed.id)
        if failures < FAILURES_BEFORE_PAUSE:
            delay = self.settings.retry_after_s * BACKOFF_FACTOR ** (failures - 1)
            await self.feeds.retry_at(
                slot, owner=self.owner, when=now + timedelta(seconds=delay), detail=str(problem)
            )
            report.retrying += 1
            log.info("highlights feed %d: %s (retrying in %d s)", slot.feed.id, problem, delay)
            return
        await self.feeds.settle(slot, owner=self.owner, state=FAILED, detail=str(problem), now=now)
        await self.feeds.pause(slot.feed.id, str(problem))
        report.paused.append(slot.feed.id)
        await self._tell_server(slot.feed, problem, failures)

    async def _tell_server(self, feed: Feed, problem: ChannelProblem, failures: int) -> None:
        text = paused_notice(feed, problem, failures)
        try:
            await self.pacer.wait()
        except PacerClosed:
            return
        where = await self._outlet().notify(
            feed.guild_id, feed.creator_id, text, avoid=feed.channel_id
        )
        log.warning(
            "highlights feed %d paused after %d failures (%s); told the server: %s",
            feed.id,
            failures,
            problem,
            where or "no system channel or DM could be reached",
        )

    def _channel_is_nsfw(self, feed: Feed) -> bool:
        try:
            return self._outlet().channel(feed.guild_id, feed.channel_id).nsfw
        except ChannelProblem:
            return False

    def _channel_lock(self, channel_id: int) -> asyncio.Lock:
        # One post at a time per channel, so two feeds into one channel cannot both pick
        # the same item before either is recorded.
        lock = self._channel_locks.get(channel_id)
        if lock is None:
            lock = self._channel_locks[channel_id] = asyncio.Lock()
        return lock

    async def _maybe_prune(self, now: datetime) -> None:
        if self._last_prune is None or now - self._last_prune >= PRUNE_EVERY:
            self._last_prune = now
            await self.feeds.prune(now)


async def _all_of(work: Iterable[Awaitable[None]]) -> None:
    """Run everything to the end; a failure of one (a bug, a database that cannot be
    written) is logged and leaves its claim to be taken over, without stopping the rest."""
    for outcome in await asyncio.gather(*work, return_exceptions=True):
        if isinstance(outcome, Exception):
            log.error("a highlights post failed; its slot is taken over later", exc_info=outcome)


def paused_notice(feed: Feed, problem: ChannelProblem, failures: int) -> str:
    """What the server is told when a feed pauses itself."""
    return (
        f"⏸️ Imgur highlights feed #{feed.id} (into <#{feed.channel_id}>, "
        f"`{feed.settings.schedule}`) is paused after {failures} failed tries in a row. "
        f"{problem} To fix it, {problem.fix}, then run `/highlights resume feed:{feed.id}`."
    )


def gone_feed(feed_id: int) -> BadInput:
    return BadInput(
        f"There's no highlights feed #{feed_id} in this server. `/highlights list` shows them."
    )


# Feeds that share a schedule and last ran together share the answer: a run of 5,000 feeds
# on one schedule computes it once, not 5,000 times on the event loop.
_due_run = lru_cache(maxsize=1024)(due_run)


def _schedule_of(settings: FeedSettings) -> Schedule:
    return parse_schedule(settings.schedule, settings.time_zone)
