"""The SQLite store: one thread, WAL, migrations, group commit."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import pytest
from sqlite_utils import Database, Migrations

from bot.config import StoreSettings
from bot.store import Conflict, Schema, Store, StoreClosed, StoreUnavailable


@pytest.fixture
async def store(tmp_path):
    store = await Store.open(StoreSettings(path=tmp_path / "data" / "bot.db"))
    yield store
    await store.close()


def _notes_migrations() -> Migrations:
    m = Migrations("notes")

    @m()
    def m001_notes(db: Database) -> None:
        db["notes"].create({"id": int, "text": str}, pk="id")

    return m


async def _hold_the_thread(store, first=lambda db: None):
    """Keep the store's thread busy until the returned event is set, so writes pile up."""
    entered, gate = threading.Event(), threading.Event()

    def hold(db):
        first(db)
        entered.set()
        gate.wait(timeout=10)

    held = asyncio.ensure_future(store.run(hold))
    await asyncio.to_thread(entered.wait, 10)
    return gate, held


async def test_open_creates_the_folder_and_tunes_the_database(tmp_path):
    path = tmp_path / "nested" / "dir" / "bot.db"
    store = await Store.open(StoreSettings(path=path, busy_timeout_ms=1234))
    try:
        assert path.exists()
        pragmas = await store.run(
            lambda db: (
                db.journal_mode,
                db.execute("PRAGMA busy_timeout").fetchone()[0],
                db.execute("PRAGMA synchronous").fetchone()[0],
            )
        )
        assert pragmas == ("wal", 1234, 2)  # 2 is FULL
    finally:
        await store.close()


async def test_in_memory_database_works_for_quick_uses():
    store = await Store.open(StoreSettings(path=":memory:"))
    try:
        assert await store.run(lambda db: db.execute("SELECT 40 + 2").fetchone()[0]) == 42
    finally:
        await store.close()


async def test_every_call_runs_on_the_same_dedicated_thread(store):
    names = {await store.run(lambda db: threading.current_thread().name) for _ in range(5)}
    names.add(await store.write(lambda db: threading.current_thread().name))
    assert names == {"sqlite-store"}
    assert threading.current_thread().name != "sqlite-store"


async def test_the_event_loop_keeps_running_while_the_store_works(store):
    released = threading.Event()

    def wait_for_the_loop(db):
        # Returns True only if the event loop ran the coroutine below meanwhile.
        return released.wait(timeout=10)

    async def release_soon():
        await asyncio.sleep(0)
        released.set()

    result, _ = await asyncio.gather(store.run(wait_for_the_loop), release_soon())
    assert result is True


async def test_run_returns_results_and_raises_errors(store):
    await store.apply(_notes_migrations())
    await store.run(lambda db: db["notes"].insert({"id": 1, "text": "hi"}))
    assert await store.run(lambda db: db["notes"].get(1)) == {"id": 1, "text": "hi"}
    with pytest.raises(sqlite3.IntegrityError):
        await store.run(lambda db: db["notes"].insert({"id": 1, "text": "again"}))


async def test_a_failed_run_does_not_leave_its_transaction_open(store):
    await store.apply(_notes_migrations())

    def half_done(db):
        db.begin()
        db.execute("INSERT INTO notes (id, text) VALUES (1, 'lost')")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await store.run(half_done)
    assert await store.run(lambda db: db.conn.in_transaction) is False
    await store.run(lambda db: db["notes"].insert({"id": 2, "text": "kept"}))
    assert await store.run(lambda db: [r["id"] for r in db["notes"].rows]) == [2]


async def test_migrations_apply_once_and_are_recorded(tmp_path):
    settings = StoreSettings(path=tmp_path / "bot.db")
    calls = []
    m = Migrations("feature")

    @m()
    def m001_create(db):
        calls.append("m001")
        db["things"].create({"id": int}, pk="id")

    for _ in range(2):
        store = await Store.open(settings, migrations=[m])
        await store.close()
    assert calls == ["m001"]

    @m()
    def m002_add_column(db):
        calls.append("m002")
        db["things"].add_column("name", str)

    store = await Store.open(settings, migrations=[m])
    try:
        columns = await store.run(lambda db: list(db["things"].columns_dict))
        applied = await store.run(lambda db: [a.name for a in m.applied(db)])
    finally:
        await store.close()
    assert calls == ["m001", "m002"]
    assert columns == ["id", "name"]
    assert applied == ["m001_create", "m002_add_column"]


async def test_a_failing_migration_leaves_no_trace(store):
    m = Migrations("broken")

    @m()
    def m001_half(db):
        db["half"].create({"id": int}, pk="id")
        raise ValueError("bad migration")

    with pytest.raises(ValueError):
        await store.apply(m)
    assert await store.run(lambda db: db["half"].exists()) is False
    assert await store.run(lambda db: m.pending(db)) != []


async def test_a_write_is_on_disk_when_it_returns(store, tmp_path):
    await store.apply(_notes_migrations())
    await store.write(lambda db: db.execute("INSERT INTO notes (id, text) VALUES (7, 'x')"))
    # A second connection sees it: it was committed, not just executed.
    other = sqlite3.connect(tmp_path / "data" / "bot.db")
    try:
        assert other.execute("SELECT text FROM notes WHERE id = 7").fetchone() == ("x",)
    finally:
        other.close()


async def test_queued_writes_share_one_transaction(store):
    await store.apply(_notes_migrations())
    statements: list[str] = []

    def trace(db):
        db.conn.set_trace_callback(statements.append)

    gate, held = await _hold_the_thread(store, trace)
    writes = [
        store.write_soon(
            lambda db, i=i: db.execute("INSERT INTO notes (id, text) VALUES (?, 'n')", (i,))
        )
        for i in range(50)
    ]
    gate.set()
    await held
    await asyncio.gather(*writes)
    await store.run(lambda db: db.conn.set_trace_callback(None))
    assert statements.count("BEGIN IMMEDIATE") == 1
    assert statements.count("COMMIT") == 1
    assert store.grouped_writes == 50 and store.group_commits == 1
    assert await store.run(lambda db: db["notes"].count) == 50


async def test_one_failing_write_does_not_undo_its_neighbours(store):
    await store.apply(_notes_migrations())
    gate, held = await _hold_the_thread(store)

    def insert(i):
        return lambda db: db.execute("INSERT INTO notes (id, text) VALUES (?, 'n')", (i,))

    first = store.write_soon(insert(1))
    duplicate = store.write_soon(insert(1))
    third = store.write_soon(insert(3))
    gate.set()
    await held
    await first
    with pytest.raises(sqlite3.IntegrityError):
        await duplicate
    await third
    assert await store.run(lambda db: [r["id"] for r in db["notes"].rows]) == [1, 3]


async def test_close_finishes_queued_work_then_refuses_more(tmp_path):
    store = await Store.open(
        StoreSettings(path=tmp_path / "bot.db"), migrations=[_notes_migrations()]
    )
    pending = store.write_soon(lambda db: db.execute("INSERT INTO notes (id) VALUES (1)"))
    await store.close()
    await pending
    assert store.closed
    with pytest.raises(StoreClosed):
        await store.run(lambda db: None)
    await store.close()  # closing twice is harmless
    reopened = await Store.open(StoreSettings(path=tmp_path / "bot.db"))
    try:
        assert await reopened.run(lambda db: db["notes"].count) == 1
    finally:
        await reopened.close()


async def test_store_works_as_an_async_context_manager(tmp_path):
    async with await Store.open(StoreSettings(path=tmp_path / "bot.db")) as store:
        assert await store.run(lambda db: 1) == 1
    assert store.closed


async def test_a_full_disk_is_a_store_unavailable_error_saying_so(tmp_path):
    store = await Store.open(StoreSettings(path=tmp_path / "full.db"))

    def limit(db):
        db.execute("CREATE TABLE t (x BLOB)")
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count = {pages + 4}")

    def fill(db):
        while True:
            db.execute("INSERT INTO t VALUES (zeroblob(1000))")

    try:
        await store.run(limit)
        with pytest.raises(StoreUnavailable) as caught:
            await store.run(fill)
        assert caught.value.reason == "the disk is full"
        with pytest.raises(StoreUnavailable):
            await store.run(lambda db: db.execute("INSERT INTO t VALUES (zeroblob(1000))"))
        # A mistake in a query is still an error of its own, not "unavailable".
        with pytest.raises(sqlite3.OperationalError):
            await store.run(lambda db: db.execute("SELECT * FROM no_such_table"))
    finally:
        await store.close()


NOTES = Schema(
    "notes",
    [
        [
            "CREATE TABLE notes (id {serial}, guild_id BIGINT NOT NULL, body TEXT NOT NULL,"
            " pinned BOOLEAN NOT NULL DEFAULT FALSE, at DOUBLE PRECISION NOT NULL, raw {blob})",
            "CREATE UNIQUE INDEX notes_one_body ON notes (guild_id, body)",
        ],
        ["ALTER TABLE notes ADD COLUMN author BIGINT"],
    ],
)


async def test_a_schema_is_applied_once_and_the_portable_verbs_work(open_store):
    store = await open_store(migrations=[NOTES])
    again = await open_store(migrations=[NOTES])  # a restart, or a second process
    try:
        await again.apply(NOTES)  # again: nothing to do
        big = 2**62  # Discord ids need 64 bits
        row = await store.fetchone(
            "INSERT INTO notes (guild_id, body, at, raw, author) VALUES (?, ?, ?, ?, ?)"
            " RETURNING id",
            big,
            "hello",
            1.5,
            b"\x00\x01",
            7,
        )
        assert row == {"id": 1}
        # The portable upsert: a second identical note changes nothing.
        changed = await store.execute(
            "INSERT INTO notes (guild_id, body, at) VALUES (?, ?, ?)"
            " ON CONFLICT (guild_id, body) DO NOTHING",
            big,
            "hello",
            2.0,
        )
        assert changed == 0
        found = await again.fetch("SELECT * FROM notes WHERE guild_id = ?", big)
        assert [(r["guild_id"], r["body"], bool(r["pinned"]), bytes(r["raw"])) for r in found] == [
            (big, "hello", False, b"\x00\x01")
        ]
        with pytest.raises(Conflict):
            await store.batch(
                [
                    ("UPDATE notes SET pinned = ? WHERE id = ?", (True, 1)),
                    ("INSERT INTO notes (guild_id, body, at) VALUES (?, ?, ?)", (big, "hello", 3)),
                ]
            )
        # All or nothing: the update in the failed batch did not land.
        assert not (await store.fetchone("SELECT pinned FROM notes WHERE id = 1"))["pinned"]
        await store.queue_write([("UPDATE notes SET author = ? WHERE id = ?", (9, 1))])
        assert (await again.fetchone("SELECT author FROM notes"))["author"] == 9
    finally:
        pass
    assert NOTES.statements(1, "postgresql")[0].startswith(
        "CREATE TABLE notes (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
    )


@pytest.mark.parametrize("engine", ["postgresql"])
async def test_processes_starting_together_on_a_new_database_all_open_it(open_store):
    """Several processes migrating one new database at the same moment (a cluster's first
    start): each waits for the others instead of failing on the migrations table."""
    stores = await asyncio.gather(*(open_store(migrations=[NOTES]) for _ in range(6)))
    await stores[0].execute("INSERT INTO notes (guild_id, body, at) VALUES (?, ?, ?)", 1, "a", 0)
    for store in stores:
        assert await store.fetch("SELECT body FROM notes") == [{"body": "a"}]


COUNTERS = Schema(
    "counters", [["CREATE TABLE counters (k INTEGER PRIMARY KEY, v INTEGER NOT NULL)"]]
)


@pytest.mark.parametrize("engine", ["postgresql"])
async def test_queued_writes_that_deadlock_across_processes_are_tried_again_in_order(open_store):
    """Two processes' queued writes lock two rows in opposite orders: PostgreSQL kills one
    transaction as the deadlock's victim. Its group is tried again whole, so both land."""
    one, two = [await open_store(migrations=[COUNTERS]) for _ in range(2)]
    await one.execute("INSERT INTO counters (k, v) VALUES (1, 0), (2, 0)")

    def bump(first: int, second: int) -> list[tuple[str, tuple]]:
        return [
            ("UPDATE counters SET v = v + 1 WHERE k = ?", (first,)),
            ("SELECT pg_sleep(0.3)", ()),  # both now hold their first row
            ("UPDATE counters SET v = v + 1 WHERE k = ?", (second,)),
        ]

    await asyncio.gather(one.queue_write(bump(1, 2)), two.queue_write(bump(2, 1)))
    assert await one.fetch("SELECT k, v FROM counters ORDER BY k") == [
        {"k": 1, "v": 2},
        {"k": 2, "v": 2},
    ]
