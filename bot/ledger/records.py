"""The ledger's tables and every statement it runs on them, for any engine of the store.

The committed rows of ``ledger_charges`` are the single source of truth: the in-memory
totals of ``QuotaBook`` are rebuilt from them at start. Writes are statements queued on the
store (grouped into one commit on SQLite); reads happen only at start.
"""

from __future__ import annotations

import json
from typing import Any

from bot.ledger.book import ADJUST, DAY, HOUR, Grant
from bot.store import Schema, Statement

HIT_RETENTION_DAYS = 400  # limit hits are few and a year of them tells a story

# The step names are those the SQLite ledger recorded before its tables were described
# portably, so an existing database is not migrated twice.
SCHEMA = Schema(
    "ledger",
    [
        (
            "m001_ledger_tables",
            [
                # Charges: the audit and the source of truth. ``at`` (unix seconds when
                # reserved) decides the ledger day a charge counts in; ``guild_id`` NULL is
                # the bot itself (the scheduler, adjustments); ``cost`` is what counts.
                "CREATE TABLE ledger_charges (id BIGINT PRIMARY KEY,"
                " at DOUBLE PRECISION NOT NULL, guild_id BIGINT, user_id BIGINT,"
                " command TEXT, kind TEXT NOT NULL, reserved INTEGER NOT NULL,"
                " cost INTEGER NOT NULL, state TEXT NOT NULL, settled_at DOUBLE PRECISION)",
                "CREATE INDEX idx_ledger_charges_at ON ledger_charges (at)",
                # Finding rows left in flight by a crash must not scan the whole audit.
                "CREATE INDEX ledger_charges_in_flight ON ledger_charges (id)"
                " WHERE state = 'reserved'",
                "CREATE TABLE ledger_state (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
                "CREATE TABLE ledger_allowances (guild_id BIGINT PRIMARY KEY,"
                " credits INTEGER NOT NULL, set_at DOUBLE PRECISION NOT NULL)",
                "CREATE TABLE ledger_limit_hits (id {serial}, at DOUBLE PRECISION NOT NULL,"
                " day_start DOUBLE PRECISION NOT NULL, scope TEXT NOT NULL,"
                " resets_at DOUBLE PRECISION, detail TEXT)",
                "CREATE INDEX idx_ledger_limit_hits_at ON ledger_limit_hits (at)",
            ],
        ),
        (
            "m002_reconciliation",
            [
                # States uncertain, adjustment and reconciled, and a note saying why.
                "ALTER TABLE ledger_charges ADD COLUMN note TEXT",
                "CREATE INDEX ledger_charges_doubtful ON ledger_charges (at)"
                " WHERE state IN ('uncertain', 'orphaned', 'adjustment')",
            ],
        ),
        (
            "m003_shared_budget",
            [
                # Which process reserved a charge (several may share these tables).
                "ALTER TABLE ledger_charges ADD COLUMN owner TEXT",
                # Credits each day's budget has leased out to the processes sharing it.
                "CREATE TABLE ledger_leases (day_start DOUBLE PRECISION PRIMARY KEY,"
                " leased INTEGER NOT NULL)",
                # Breakers Imgur's headers opened, for every process.
                "CREATE TABLE ledger_breakers (scope TEXT PRIMARY KEY,"
                " until DOUBLE PRECISION NOT NULL)",
                # Blocks of charge ids handed out to processes.
                "CREATE TABLE ledger_ids (name TEXT PRIMARY KEY, next BIGINT NOT NULL)",
            ],
        ),
    ],
)
NOTIFY_CHANNEL = "imgurbot_ledger"


# -- writes ---------------------------------------------------------------------------------


def insert_charge(grant: Grant, note: str | None = None, owner: str | None = None) -> Statement:
    return (
        "INSERT INTO ledger_charges (id, at, guild_id, user_id, command, kind, reserved, cost,"
        " state, settled_at, note, owner) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            grant.id,
            float(grant.at),
            grant.guild_id,
            grant.user_id,
            grant.command,
            grant.kind,
            grant.reserved,
            grant.cost,
            grant.state,
            float(grant.decided_at) if grant.settled and grant.decided_at is not None else None,
            note,
            owner,
        ),
    )


def settle_charge(charge_id: int, cost: int, state: str, at: float) -> Statement:
    return (
        "UPDATE ledger_charges SET cost = ?, state = ?, settled_at = ? WHERE id = ?",
        (cost, state, float(at), charge_id),
    )


def release_charges(ids: list[int], note: str) -> list[Statement]:
    sql = "UPDATE ledger_charges SET cost = 0, state = 'reconciled', note = ? WHERE id = ?"
    return [(sql, (note, charge_id)) for charge_id in ids]


def save_state(values: dict[str, Any]) -> list[Statement]:
    sql = (
        "INSERT INTO ledger_state (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
    )
    return [(sql, (key, json.dumps(value))) for key, value in values.items()]


def record_hit(
    at: float, day_start: float, scope: str, resets_at: float | None, detail: str
) -> Statement:
    return (
        "INSERT INTO ledger_limit_hits (at, day_start, scope, resets_at, detail)"
        " VALUES (?, ?, ?, ?, ?)",
        (
            float(at),
            float(day_start),
            scope,
            None if resets_at is None else float(resets_at),
            detail,
        ),
    )


def _float_or_none(value: float | None) -> float | None:
    return None if value is None else float(value)


def prune(before: float) -> list[Statement]:
    return [
        ("DELETE FROM ledger_charges WHERE at < ? AND state != 'reserved'", (float(before),)),
        (
            "DELETE FROM ledger_limit_hits WHERE at < ?",
            (float(before - HIT_RETENTION_DAYS * DAY),),
        ),
    ]


def set_allowance(guild_id: int, credits: int | None, at: float) -> list[Statement]:
    if credits is None:
        return [("DELETE FROM ledger_allowances WHERE guild_id = ?", (guild_id,))]
    return [
        (
            "INSERT INTO ledger_allowances (guild_id, credits, set_at) VALUES (?, ?, ?)"
            " ON CONFLICT (guild_id) DO UPDATE SET credits = excluded.credits,"
            " set_at = excluded.set_at",
            (guild_id, credits, float(at)),
        )
    ]


# -- reads at start -----------------------------------------------------------------------------


async def recover(store: Any, now: float, owner: str | None = None) -> dict[str, Any]:
    """Close the charges a crash left in flight and read what the ledger needs to start.

    With an ``owner``, only that process's charges: others may be alive and mid-call."""
    sql = "UPDATE ledger_charges SET state = 'orphaned', settled_at = ? WHERE state = 'reserved'"
    if owner is None:
        orphans = await store.execute(sql, float(now))
    else:
        orphans = await store.execute(sql + " AND owner = ?", float(now), owner)
    state = {
        row["key"]: json.loads(row["value"])
        for row in await store.fetch("SELECT key, value FROM ledger_state")
    }
    overrides = {
        row["guild_id"]: row["credits"]
        for row in await store.fetch("SELECT guild_id, credits FROM ledger_allowances")
    }
    return {"orphans": orphans, "state": state, "overrides": overrides}


async def load_totals(store: Any, *, day_start: float, since_active: float, now: float) -> dict:
    """Rebuild today's totals, active guilds and the recent windows from the audit rows."""
    used: dict[int, int] = {}
    scheduler_used = 0
    for row in await store.fetch(
        "SELECT guild_id, SUM(cost) AS credits FROM ledger_charges WHERE at >= ? AND kind != ?"
        " GROUP BY guild_id",
        float(day_start),
        ADJUST,
    ):
        if row["guild_id"] is None:
            scheduler_used = int(row["credits"])
        else:
            used[row["guild_id"]] = int(row["credits"])
    totals = await store.fetchone(
        "SELECT COALESCE(SUM(CASE WHEN kind = ? THEN cost END), 0) AS adjusted,"
        " COALESCE(SUM(CASE WHEN state = 'settled' THEN cost END), 0) AS certain"
        " FROM ledger_charges WHERE at >= ?",
        ADJUST,
        float(day_start),
    )
    doubtful = await store.fetch(
        "SELECT * FROM ledger_charges WHERE at >= ?"
        " AND state IN ('uncertain', 'orphaned', 'adjustment') ORDER BY settled_at, id",
        float(day_start),
    )
    last_active = {
        row["guild_id"]: row["last"]
        for row in await store.fetch(
            "SELECT guild_id, MAX(at) AS last FROM ledger_charges"
            " WHERE at >= ? AND guild_id IS NOT NULL GROUP BY guild_id",
            float(since_active),
        )
    }
    recent = await store.fetch(
        "SELECT * FROM ledger_charges WHERE at > ? ORDER BY at, id", float(now - HOUR)
    )
    hits = await store.fetch(
        "SELECT at, day_start FROM ledger_limit_hits WHERE scope = 'client' AND at >= ?",
        float(now - 62 * DAY),
    )
    next_id = await store.fetchone("SELECT COALESCE(MAX(id), 0) + 1 AS n FROM ledger_charges")
    return {
        "used": used,
        "scheduler_used": scheduler_used,
        "adjusted": int(totals["adjusted"]) if totals else 0,
        "certain": int(totals["certain"]) if totals else 0,
        "doubtful": doubtful,
        "last_active": last_active,
        "recent": recent,
        "hits": hits,
        "next_id": int(next_id["n"]) if next_id else 1,
    }


# -- sharing one budget between processes ---------------------------------------------------


async def _lease_row(store: Any, day_start: float) -> None:
    """The day's row of leases, made at 0 by whichever process asks first."""
    await store.execute(
        "INSERT INTO ledger_leases (day_start, leased) VALUES (?, 0)"
        " ON CONFLICT (day_start) DO NOTHING",
        float(day_start),
    )


async def leased_at_least(store: Any, day_start: float, count: int) -> None:
    """Imgur has counted ``count`` credits today: the day's leases cover at least that, so
    what it counted beyond the processes' leases (another app with the Client-ID) is taken
    from what they may still lease, once, however many processes saw the figure."""
    await _lease_row(store, day_start)
    await store.execute(
        "UPDATE ledger_leases SET leased = ? WHERE day_start = ? AND leased < ?",
        count,
        float(day_start),
        count,
    )


async def lease(store: Any, day_start: float, wanted: int, budget: int) -> tuple[int, int]:
    """Take up to ``wanted`` credits of today's shared ``budget``: atomic, so the leases of
    every process never add up past it. Returns what was granted (0 when none is left) and
    the day's leases in all, as far as this call saw them."""
    await _lease_row(store, day_start)
    while wanted > 0:
        row = await store.fetchone(
            "UPDATE ledger_leases SET leased = leased + ?"
            " WHERE day_start = ? AND leased + ? <= ? RETURNING leased",
            wanted,
            float(day_start),
            wanted,
            budget,
        )
        if row is not None:
            return wanted, int(row["leased"])
        left = await store.fetchone(
            "SELECT ? - leased AS left FROM ledger_leases WHERE day_start = ?",
            budget,
            float(day_start),
        )
        wanted = min(wanted, int(left["left"]) if left else 0)
    return 0, budget


def give_back(day_start: float, credits: int) -> Statement:
    return (
        "UPDATE ledger_leases SET leased = leased - ? WHERE day_start = ?",
        (credits, float(day_start)),
    )


def share_breaker(scope: str, until: float) -> Statement:
    return (
        "INSERT INTO ledger_breakers (scope, until) VALUES (?, ?) ON CONFLICT (scope) DO UPDATE"
        " SET until = CASE WHEN excluded.until > ledger_breakers.until"
        " THEN excluded.until ELSE ledger_breakers.until END",
        (scope, float(until)),
    )


async def shared_breakers(store: Any, now: float) -> dict[str, float]:
    return {
        row["scope"]: float(row["until"])
        for row in await store.fetch(
            "SELECT scope, until FROM ledger_breakers WHERE until > ?", float(now)
        )
    }


async def take_ids(store: Any, count: int) -> tuple[int, int]:
    """A block of ``count`` charge ids no other process will use: [start, end)."""
    await store.execute(
        "INSERT INTO ledger_ids (name, next)"
        # (WHERE true: SQLite cannot otherwise tell ON CONFLICT from a join's ON.)
        " SELECT 'charges', COALESCE(MAX(id), 0) + 1 FROM ledger_charges WHERE true"
        " ON CONFLICT (name) DO NOTHING"
    )
    row = await store.fetchone(
        "UPDATE ledger_ids SET next = next + ? WHERE name = 'charges' RETURNING next", count
    )
    end = int(row["next"])
    return end - count, end
