"""``imgurbot migrate``: copy the SQLite database into PostgreSQL, once, checked.

Moving from one process to several starts here: everything the bot kept in its SQLite file
(the ledger and its audit, uploads and their deletehashes, meme templates, highlight feeds
and their claims, command-sync hashes) is copied to the server named by ``[store] url``.

- Both databases are brought to the current tables first (every feature's ``Schema``, as a
  start of the bot would), so the copy is column for column.
- The SQLite file is locked as a running bot locks it: a bot still running on it is
  refused, so nothing is written there while it is copied.
- All of it is one PostgreSQL transaction: it lands whole or not at all.
- Running it again is safe: a table PostgreSQL already holds exactly as many rows of is
  left alone; one that holds some other number is refused (the bot has run on PostgreSQL
  since, and copying would mix two histories), naming the table.
- Afterwards the totals are compared (rows per table, and the ledger's charges and
  credits by state);
  auto-numbered ids continue after the copied ones.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr

from bot.config import StoreSettings
from bot.failures import ExitStatus, Failure
from bot.instance_lock import instance_lock
from bot.preflight import storage_failure
from bot.store import Schema, Store, StoreUnavailable
from bot.store.postgres import PostgresStore

log = logging.getLogger(__name__)

BATCH = 1000


def every_schema() -> list[Schema]:
    """Every feature's tables, in the order the bot creates them."""
    from bot import command_sync, health
    from bot.highlights import feeds
    from bot.ledger import records
    from bot.memes import templates
    from bot.uploads.records import UPLOADS

    return [
        records.SCHEMA,
        UPLOADS,
        templates.SCHEMA,
        feeds.SCHEMA,
        command_sync.MIGRATIONS,
        health.MIGRATIONS,
    ]


@dataclass
class Copied:
    """What ``migrate`` did, table by table: rows copied, or found already there."""

    copied: dict[str, int] = field(default_factory=dict)
    already: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [f"{name}: {n} row(s) copied" for name, n in self.copied.items()]
        out += [f"{name}: {n} row(s) already there" for name, n in self.already.items()]
        return out


async def migrate(
    source: StoreSettings,
    url: str,
    *,
    schemas: Iterable[Schema] | None = None,
    progress: Callable[[str], None] = lambda _line: None,
    password: SecretStr | None = None,
) -> Copied:
    """Copy the SQLite database ``source`` into the PostgreSQL database at ``url``."""
    schemas = list(every_schema() if schemas is None else schemas)
    if str(source.path) != ":memory:" and not source.path.exists():
        raise Failure(
            ExitStatus.STORAGE,
            f"[store] path = {str(source.path)!r}: there is no SQLite database there to copy.",
            "Point [store] path (or --from) at the file the bot used.",
        )
    with instance_lock(source.path):
        sqlite = await Store.open(source, migrations=schemas)
        try:
            try:
                pg = await PostgresStore.open(
                    url, migrations=schemas, max_size=2, password=password
                )
            except StoreUnavailable as exc:
                raise await storage_failure(StoreSettings(url=url), exc, password) from None
            try:
                return await _copy(sqlite, pg, progress)
            finally:
                await pg.close()
        finally:
            await sqlite.close()


async def _copy(sqlite: Store, pg: PostgresStore, progress: Callable[[str], None]) -> Copied:
    tables = [
        r["name"]
        for r in await sqlite.fetch(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '\\_%' ESCAPE '\\' ORDER BY name"
        )
    ]
    result = Copied()
    async with pg.connection() as conn, conn.transaction():
        for table in tables:
            columns = await _pg_columns(conn, table)
            if not columns:
                raise Failure(
                    ExitStatus.STORAGE,
                    f"the SQLite table {table!r} has no counterpart on PostgreSQL.",
                    "It is not one of the bot's tables: remove it from the file, or copy it "
                    "yourself.",
                )
            have = await conn.fetchval(f'SELECT count(*) FROM "{table}"')
            want = (await sqlite.fetchone(f'SELECT count(*) AS n FROM "{table}"'))["n"]
            if have:
                if have != want:
                    raise Failure(
                        ExitStatus.STORAGE,
                        f"PostgreSQL already holds {have} row(s) in {table!r}, the SQLite file "
                        f"{want}: a bot has used PostgreSQL since, and copying would mix them.",
                        "Migrate into an empty database (or drop the bot's tables there).",
                    )
                result.already[table] = have
                continue
            await _copy_table(sqlite, conn, table, columns)
            result.copied[table] = want
            progress(f"{table}: {want} row(s) copied")
        await _check_totals(sqlite, conn, tables)
        await _continue_numbering(conn, tables)
    return result


async def _pg_columns(conn: Any, table: str) -> dict[str, str]:
    rows = await conn.fetch(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = $1 AND table_schema = current_schema()",
        table,
    )
    return {r["column_name"]: r["data_type"] for r in rows}


_CONVERT: dict[str, Callable[[Any], Any]] = {
    "boolean": bool,
    "double precision": float,
    "bigint": int,
    "integer": int,
}


async def _copy_table(sqlite: Store, conn: Any, table: str, columns: dict[str, str]) -> None:
    source_columns = [
        r["name"] for r in await sqlite.fetch(f"SELECT name FROM pragma_table_info('{table}')")
    ]
    missing = [c for c in source_columns if c not in columns]
    if missing:
        raise Failure(
            ExitStatus.STORAGE,
            f"the SQLite table {table!r} has column(s) {', '.join(missing)} that PostgreSQL "
            "does not.",
            "Run the same version of imgurbot on both sides (both are brought up to date).",
        )
    names = ", ".join(f'"{c}"' for c in source_columns)
    marks = ", ".join(f"${i}" for i in range(1, len(source_columns) + 1))
    insert = f'INSERT INTO "{table}" ({names}) VALUES ({marks})'
    converters = [_CONVERT.get(columns[c], _same) for c in source_columns]
    offset = 0
    while True:
        rows = await sqlite.fetch(
            f'SELECT {names} FROM "{table}" ORDER BY rowid LIMIT ? OFFSET ?', BATCH, offset
        )
        if not rows:
            return
        await conn.executemany(
            insert,
            [
                tuple(
                    None if row[c] is None else convert(row[c])
                    for c, convert in zip(source_columns, converters, strict=True)
                )
                for row in rows
            ],
        )
        offset += len(rows)


def _same(value: Any) -> Any:
    return value


async def _check_totals(sqlite: Store, conn: Any, tables: list[str]) -> None:
    """Rows per table, and the ledger's charges and credits by state, alike on both sides."""
    for table in tables:
        there = await conn.fetchval(f'SELECT count(*) FROM "{table}"')
        here = (await sqlite.fetchone(f'SELECT count(*) AS n FROM "{table}"'))["n"]
        if there != here:
            raise Failure(
                ExitStatus.BUG,
                f"after the copy {table!r} has {there} row(s) on PostgreSQL and {here} in "
                "SQLite: nothing was kept.",
                "Please report this, with the log.",
            )
    if "ledger_charges" in tables:
        query = (
            "SELECT state, count(*) AS n, coalesce(sum(cost), 0) AS credits "
            "FROM ledger_charges GROUP BY state"
        )
        here = {r["state"]: (r["n"], int(r["credits"])) for r in await sqlite.fetch(query)}
        there = {r["state"]: (r["n"], int(r["credits"])) for r in await conn.fetch(query)}
        if here != there:
            raise Failure(
                ExitStatus.BUG,
                "after the copy the ledger's charges and credits differ between the two "
                "databases: nothing was kept.",
                "Please report this, with the log.",
            )


async def _continue_numbering(conn: Any, tables: list[str]) -> None:
    """Auto-numbered ids go on after the copied ones (PostgreSQL's identity columns do not
    see ids that were written explicitly)."""
    rows = await conn.fetch(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND is_identity = 'YES'"
    )
    for row in rows:
        table, column = row["table_name"], row["column_name"]
        if table not in tables:
            continue
        await conn.execute(
            f"SELECT setval(pg_get_serial_sequence('\"{table}\"', '{column}'), "
            f'coalesce((SELECT max("{column}") FROM "{table}"), 0) + 1, false)'
        )
