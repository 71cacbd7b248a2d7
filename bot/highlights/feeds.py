"""The highlights tables and every query on them.

Three tables, described once in the store's portable DDL (``bot.store.Schema``) and used
only through the store's portable verbs, so they move to PostgreSQL without changing here:

- ``highlight_feeds``: the truth about every feed (where, when, what), plus its
  ``watermark`` (every run at or before it has been dealt with) and ``next_run_at`` (the
  first run after the watermark: the due query reads only this);
- ``highlight_slots``: one row per (feed, run time) that some process claimed. The claim is
  an ``INSERT … ON CONFLICT DO NOTHING``: the process whose insert changed a row posts, every
  other one (a double fire, a second process, a restart) sees zero rows and does not. A claim
  carries its owner and a lease; a process that dies mid-run leaves claims whose lease runs
  out, and those are taken over (``reclaim``), so the slot is still posted once;
- ``highlight_posted``: what was posted in each channel and when, for "no repeats within
  30 days".

Times are stored as whole epoch seconds (UTC).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.highlights.schedule import Schedule, stored_schedule
from bot.highlights.sources import Source
from bot.store import Schema, Store

REPEAT_WINDOW = timedelta(days=30)
# Claimed slots kept for reading back what happened (``detail``), then pruned.
SLOT_HISTORY = timedelta(days=14)

SCHEMA = Schema(
    "highlights",
    [
        [
            """CREATE TABLE highlight_feeds (
                id {serial},
                guild_id BIGINT NOT NULL,
                channel_id BIGINT NOT NULL,
                creator_id BIGINT NOT NULL,
                schedule TEXT NOT NULL,
                time_zone TEXT NOT NULL,
                item_count INTEGER NOT NULL,
                section TEXT NOT NULL,
                sort TEXT NOT NULL,
                time_window TEXT NOT NULL,
                tag TEXT,
                min_points INTEGER,
                nsfw BOOLEAN NOT NULL DEFAULT FALSE,
                paused BOOLEAN NOT NULL DEFAULT FALSE,
                paused_reason TEXT,
                failures INTEGER NOT NULL DEFAULT 0,
                watermark BIGINT NOT NULL,
                next_run_at BIGINT,
                created_at BIGINT NOT NULL,
                last_posted_at BIGINT
            )""",
            "CREATE INDEX highlight_feeds_due ON highlight_feeds (paused, next_run_at)",
            "CREATE INDEX highlight_feeds_guild ON highlight_feeds (guild_id)",
            """CREATE TABLE highlight_slots (
                feed_id BIGINT NOT NULL
                    REFERENCES highlight_feeds (id) ON DELETE CASCADE,
                slot_at BIGINT NOT NULL,
                state TEXT NOT NULL,
                owner TEXT,
                lease_until BIGINT,
                retry_at BIGINT,
                attempts INTEGER NOT NULL DEFAULT 0,
                claimed_at BIGINT NOT NULL,
                done_at BIGINT,
                message_id BIGINT,
                detail TEXT,
                PRIMARY KEY (feed_id, slot_at)
            )""",
            "CREATE INDEX highlight_slots_state ON highlight_slots (state)",
            """CREATE TABLE highlight_posted (
                channel_id BIGINT NOT NULL,
                item_id TEXT NOT NULL,
                posted_at BIGINT NOT NULL,
                PRIMARY KEY (channel_id, item_id)
            )""",
            "CREATE INDEX highlight_posted_at ON highlight_posted (posted_at)",
        ]
    ],
)

# Slot states. ``claimed``: a process is posting it (until ``lease_until``); ``retry``: to
# be tried again at ``retry_at``; the rest are final.
CLAIMED, RETRY, POSTED, EMPTY, SKIPPED, FAILED = (
    "claimed",
    "retry",
    "posted",
    "empty",
    "skipped",
    "failed",
)


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def moment(seconds: int | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


@dataclass(frozen=True, slots=True)
class FeedSettings:
    """What an admin chooses for a feed (``/highlights add`` and ``edit``)."""

    channel_id: int
    schedule: str
    time_zone: str
    count: int = 5
    source: Source = field(default_factory=Source)
    min_points: int | None = None
    nsfw: bool = False


@dataclass(frozen=True, slots=True)
class Feed:
    id: int
    guild_id: int
    creator_id: int
    settings: FeedSettings
    paused: bool
    paused_reason: str | None
    failures: int
    watermark: datetime
    next_run_at: datetime | None
    created_at: datetime
    last_posted_at: datetime | None

    @property
    def channel_id(self) -> int:
        return self.settings.channel_id

    @property
    def source(self) -> Source:
        return self.settings.source

    @property
    def schedule(self) -> Schedule:
        return stored_schedule(self.settings.schedule, self.settings.time_zone)


@dataclass(frozen=True, slots=True)
class Slot:
    """One claimed run of one feed. ``recovering``: taken over from a retry or from a
    process whose lease ran out, so it may already have reached Discord."""

    feed: Feed
    at: datetime
    recovering: bool = False


@dataclass(frozen=True, slots=True)
class Plan:
    """What a run decided for one due feed: the run to claim (None: nothing to post, all
    too late) and where the feed's schedule goes next."""

    feed: Feed
    slot: datetime | None
    next_run: datetime | None


def _feed(row: dict[str, Any]) -> Feed:
    settings = FeedSettings(
        channel_id=row["channel_id"],
        schedule=row["schedule"],
        time_zone=row["time_zone"],
        count=row["item_count"],
        source=Source(row["section"], row["sort"], row["time_window"], row["tag"]),
        min_points=row["min_points"],
        nsfw=bool(row["nsfw"]),
    )
    return Feed(
        id=row["id"],
        guild_id=row["guild_id"],
        creator_id=row["creator_id"],
        settings=settings,
        paused=bool(row["paused"]),
        paused_reason=row["paused_reason"],
        failures=row["failures"],
        watermark=moment(row["watermark"]),  # type: ignore[arg-type]
        next_run_at=moment(row["next_run_at"]),
        created_at=moment(row["created_at"]),  # type: ignore[arg-type]
        last_posted_at=moment(row["last_posted_at"]),
    )


def _settings_values(s: FeedSettings) -> tuple[Any, ...]:
    src = s.source
    return (
        s.channel_id,
        s.schedule,
        s.time_zone,
        s.count,
        src.section,
        src.sort,
        src.window,
        src.tag,
        s.min_points,
        s.nsfw,
    )


_SETTINGS_COLUMNS = (
    "channel_id, schedule, time_zone, item_count, section, sort, time_window, tag, min_points, nsfw"
)
_RECLAIMABLE = (
    f"((state = '{CLAIMED}' AND lease_until < ?) OR (state = '{RETRY}' AND retry_at <= ?))"
)


class Feeds:
    """The highlights tables, through the store's portable verbs."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def create_tables(self) -> None:
        await self.store.apply(SCHEMA)

    # -- feeds -------------------------------------------------------------------------------

    async def add(
        self,
        guild_id: int,
        creator_id: int,
        settings: FeedSettings,
        *,
        now: datetime,
        next_run: datetime | None,
    ) -> Feed:
        row = await self.store.fetchone(
            f"INSERT INTO highlight_feeds (guild_id, creator_id, {_SETTINGS_COLUMNS}, "
            "watermark, next_run_at, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
            guild_id,
            creator_id,
            *_settings_values(settings),
            epoch(now),
            _maybe_epoch(next_run),
            epoch(now),
        )
        assert row is not None
        return _feed(row)

    async def get(self, feed_id: int) -> Feed | None:
        row = await self.store.fetchone("SELECT * FROM highlight_feeds WHERE id = ?", feed_id)
        return _feed(row) if row else None

    async def many(self, feed_ids: Iterable[int]) -> dict[int, Feed]:
        ids = sorted(set(feed_ids))
        found: dict[int, Feed] = {}
        for start in range(0, len(ids), 500):  # well under every engine's parameter limit
            chunk = ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            rows = await self.store.fetch(
                f"SELECT * FROM highlight_feeds WHERE id IN ({marks})", *chunk
            )
            found.update((row["id"], _feed(row)) for row in rows)
        return found

    async def in_guild(self, guild_id: int) -> list[Feed]:
        rows = await self.store.fetch(
            "SELECT * FROM highlight_feeds WHERE guild_id = ? ORDER BY id", guild_id
        )
        return [_feed(row) for row in rows]

    async def count_in_guild(self, guild_id: int) -> int:
        row = await self.store.fetchone(
            "SELECT COUNT(*) AS n FROM highlight_feeds WHERE guild_id = ?", guild_id
        )
        return int(row["n"]) if row else 0

    async def change(
        self, feed_id: int, settings: FeedSettings, *, now: datetime, next_run: datetime | None
    ) -> Feed | None:
        """New settings take effect at once: the schedule counts from ``now``, and a new
        channel or schedule starts with a clean failure count."""
        assignments = ", ".join(f"{c.strip()} = ?" for c in _SETTINGS_COLUMNS.split(","))
        row = await self.store.fetchone(
            f"UPDATE highlight_feeds SET {assignments}, watermark = ?, next_run_at = ?, "
            "failures = 0 WHERE id = ? RETURNING *",
            *_settings_values(settings),
            epoch(now),
            _maybe_epoch(next_run),
            feed_id,
        )
        return _feed(row) if row else None

    async def remove(self, feed_id: int) -> bool:
        return await self.store.execute("DELETE FROM highlight_feeds WHERE id = ?", feed_id) > 0

    async def remove_guild(self, guild_id: int) -> int:
        return await self.store.execute("DELETE FROM highlight_feeds WHERE guild_id = ?", guild_id)

    async def pause(self, feed_id: int, reason: str | None) -> Feed | None:
        row = await self.store.fetchone(
            "UPDATE highlight_feeds SET paused = TRUE, paused_reason = ? WHERE id = ? RETURNING *",
            reason,
            feed_id,
        )
        return _feed(row) if row else None

    async def resume(
        self, feed_id: int, *, now: datetime, next_run: datetime | None
    ) -> Feed | None:
        """Runs missed while paused are not owed: the schedule counts from ``now``."""
        row = await self.store.fetchone(
            "UPDATE highlight_feeds SET paused = FALSE, paused_reason = NULL, failures = 0, "
            "watermark = ?, next_run_at = ? WHERE id = ? RETURNING *",
            epoch(now),
            _maybe_epoch(next_run),
            feed_id,
        )
        return _feed(row) if row else None

    async def due(self, now: datetime) -> list[Feed]:
        rows = await self.store.fetch(
            "SELECT * FROM highlight_feeds WHERE paused = FALSE AND next_run_at <= ? ORDER BY id",
            epoch(now),
        )
        return [_feed(row) for row in rows]

    async def schedules_in_use(self) -> list[tuple[str, str]]:
        """The distinct (schedule, time zone) pairs of running feeds: one timer each."""
        rows = await self.store.fetch(
            "SELECT DISTINCT schedule, time_zone FROM highlight_feeds WHERE paused = FALSE"
        )
        return [(row["schedule"], row["time_zone"]) for row in rows]

    async def count_failure(self, feed_id: int) -> int:
        """One more failure in a row; how many there are now."""
        row = await self.store.fetchone(
            "UPDATE highlight_feeds SET failures = failures + 1 WHERE id = ? RETURNING failures",
            feed_id,
        )
        return int(row["failures"]) if row else 0

    # -- slots -------------------------------------------------------------------------------

    async def claim(
        self, plans: Sequence[Plan], *, owner: str, now: datetime, lease_until: datetime
    ) -> list[Slot]:
        """Claim every plan's slot and move each feed's watermark to ``now``, in one
        transaction. Only the slots this call inserted are returned: another process (or an
        earlier fire) that got there first keeps its own. A feed paused or removed since it
        was read is not claimed."""
        statements: list[tuple[str, Sequence[Any]]] = []
        claimable: list[int] = []  # index in ``statements`` of each plan's claim
        for plan in plans:
            if plan.slot is not None:
                claimable.append(len(statements))
                statements.append(
                    (
                        "INSERT INTO highlight_slots "
                        "(feed_id, slot_at, state, owner, lease_until, attempts, claimed_at) "
                        f"SELECT ?, ?, '{CLAIMED}', ?, ?, 1, ? WHERE EXISTS "
                        "(SELECT 1 FROM highlight_feeds WHERE id = ? AND paused = FALSE) "
                        "ON CONFLICT (feed_id, slot_at) DO NOTHING",
                        (
                            plan.feed.id,
                            epoch(plan.slot),
                            owner,
                            epoch(lease_until),
                            epoch(now),
                            plan.feed.id,
                        ),
                    )
                )
            else:
                claimable.append(-1)
            statements.append(
                (
                    "UPDATE highlight_feeds SET watermark = ?, next_run_at = ? "
                    "WHERE id = ? AND watermark < ?",
                    (epoch(now), _maybe_epoch(plan.next_run), plan.feed.id, epoch(now)),
                )
            )
        counts = await self.store.batch(statements)
        return [
            Slot(plan.feed, plan.slot)  # type: ignore[arg-type]
            for plan, index in zip(plans, claimable, strict=True)
            if index >= 0 and counts[index] == 1
        ]

    async def reclaim(
        self, *, owner: str, now: datetime, lease_until: datetime, oldest: datetime
    ) -> list[tuple[int, datetime]]:
        """Take over slots that are due for a retry, or whose owner's lease ran out (it
        stopped or died mid-run). Those older than ``oldest`` are past the grace window
        and are skipped instead. Returns (feed id, run time) of each slot taken."""
        t = epoch(now)
        await self.store.execute(
            f"UPDATE highlight_slots SET state = '{SKIPPED}', done_at = ?, "
            "detail = 'too late to post after a retry or a restart' "
            f"WHERE {_RECLAIMABLE} AND slot_at < ?",
            t,
            t,
            t,
            epoch(oldest),
        )
        rows = await self.store.fetch(
            f"UPDATE highlight_slots SET state = '{CLAIMED}', owner = ?, lease_until = ?, "
            f"attempts = attempts + 1 WHERE {_RECLAIMABLE} AND feed_id IN "
            "(SELECT id FROM highlight_feeds WHERE paused = FALSE) RETURNING feed_id, slot_at",
            owner,
            epoch(lease_until),
            t,
            t,
        )
        return [(row["feed_id"], moment(row["slot_at"])) for row in rows]  # type: ignore[misc]

    async def renew(self, *, owner: str, lease_until: datetime) -> None:
        """Extend this owner's claims: it is alive and still posting them."""
        await self.store.execute(
            f"UPDATE highlight_slots SET lease_until = ? WHERE owner = ? AND state = '{CLAIMED}'",
            epoch(lease_until),
            owner,
        )

    async def posted(
        self,
        slot: Slot,
        *,
        owner: str,
        message_id: int,
        item_ids: Sequence[str],
        now: datetime,
    ) -> None:
        """The slot's message is in Discord: record it, its items and a clean record."""
        t = epoch(now)
        await self.store.batch(
            [
                (
                    f"UPDATE highlight_slots SET state = '{POSTED}', done_at = ?, message_id = ?, "
                    "detail = NULL WHERE feed_id = ? AND slot_at = ? AND owner = ?",
                    (t, message_id, slot.feed.id, epoch(slot.at), owner),
                ),
                *self._item_rows(slot.feed.channel_id, item_ids, t),
                (
                    "UPDATE highlight_feeds SET failures = 0, last_posted_at = ? WHERE id = ?",
                    (t, slot.feed.id),
                ),
            ]
        )

    async def remember_items(self, channel_id: int, item_ids: Sequence[str], now: datetime) -> None:
        """Items posted outside any slot (``post-now``) still count against repeats."""
        await self.store.batch(self._item_rows(channel_id, item_ids, epoch(now)))

    @staticmethod
    def _item_rows(
        channel_id: int, item_ids: Sequence[str], t: int
    ) -> list[tuple[str, Sequence[Any]]]:
        return [
            (
                "INSERT INTO highlight_posted (channel_id, item_id, posted_at) VALUES (?, ?, ?) "
                "ON CONFLICT (channel_id, item_id) DO UPDATE SET posted_at = excluded.posted_at",
                (channel_id, item_id, t),
            )
            for item_id in item_ids
        ]

    async def settle(
        self, slot: Slot, *, owner: str, state: str, detail: str | None, now: datetime
    ) -> None:
        """End a slot without a post (``empty``, ``skipped``, ``failed``)."""
        await self.store.execute(
            "UPDATE highlight_slots SET state = ?, done_at = ?, detail = ? "
            "WHERE feed_id = ? AND slot_at = ? AND owner = ?",
            state,
            epoch(now),
            detail,
            slot.feed.id,
            epoch(slot.at),
            owner,
        )

    async def retry_at(self, slot: Slot, *, owner: str, when: datetime, detail: str) -> None:
        """Try the slot again at ``when`` (any process may)."""
        await self.store.execute(
            f"UPDATE highlight_slots SET state = '{RETRY}', retry_at = ?, detail = ? "
            "WHERE feed_id = ? AND slot_at = ? AND owner = ?",
            epoch(when),
            detail,
            slot.feed.id,
            epoch(slot.at),
            owner,
        )

    async def slot_states(self, feed_id: int) -> list[dict[str, Any]]:
        """Every claimed run of a feed, oldest first (for tests and the admin's eyes)."""
        return await self.store.fetch(
            "SELECT slot_at, state, attempts, message_id, detail FROM highlight_slots "
            "WHERE feed_id = ? ORDER BY slot_at",
            feed_id,
        )

    # -- what was posted ---------------------------------------------------------------------

    async def seen_in(self, channel_id: int, now: datetime) -> set[str]:
        """Items posted in the channel within the repeat window."""
        rows = await self.store.fetch(
            "SELECT item_id FROM highlight_posted WHERE channel_id = ? AND posted_at >= ?",
            channel_id,
            epoch(now - REPEAT_WINDOW),
        )
        return {row["item_id"] for row in rows}

    async def prune(self, now: datetime) -> None:
        """Forget posts older than the repeat window and finished slots past their history."""
        await self.store.batch(
            [
                (
                    "DELETE FROM highlight_posted WHERE posted_at < ?",
                    (epoch(now - REPEAT_WINDOW),),
                ),
                (
                    "DELETE FROM highlight_slots WHERE slot_at < ? AND state NOT IN (?, ?)",
                    (epoch(now - SLOT_HISTORY), CLAIMED, RETRY),
                ),
            ]
        )


def _maybe_epoch(value: datetime | None) -> int | None:
    return None if value is None else epoch(value)
