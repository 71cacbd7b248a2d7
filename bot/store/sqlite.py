"""The bot's SQLite database, owned by one dedicated thread.

sqlite-utils is synchronous and a file connection may only be used by the thread that opened
it, so a ``Store`` starts one thread, opens the ``Database`` there and hands it every piece
of work in order (``discord-notes.md`` §5). The event loop never touches SQLite; it awaits
futures that the thread resolves.

Two ways in:

- ``await store.run(fn)`` runs ``fn(db)`` on the thread and returns its result. ``fn`` owns its
  transactions (sqlite-utils commits each write by itself; use ``with db.atomic():`` to group).
- ``await store.write(fn)`` is for small, hot writes such as ledger rows. The thread gathers
  every write queued at that moment into ONE transaction (each in its own savepoint, so one
  failure does not undo its neighbours), commits once, and only then releases the waiters:
  group commit. A waiter that is released knows its row is on disk.

Each feature keeps its tables here and brings its own ``sqlite_utils.Migrations`` set, applied
with ``await store.apply(migrations)`` when the feature starts (or passed to ``Store.open``).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlite_utils import Database, Migrations

from bot.config import StoreSettings
from bot.store.errors import Conflict, StoreClosed, StoreUnavailable
from bot.store.schema import Schema, Statement

log = logging.getLogger(__name__)

T = TypeVar("T")

# A write batch larger than this is split: a bound on how long one transaction holds the
# write lock and on how long the first waiter of a huge batch waits.
MAX_BATCH = 1024


# SQLite's error names (sqlite3.Error.sqlite_errorname) for a database the bot cannot use
# until its operator does something, and what to tell them.
_UNAVAILABLE = {
    "SQLITE_FULL": "the disk is full",
    "SQLITE_READONLY": "the database file or its folder is read-only",
    "SQLITE_IOERR": "the disk reported an I/O error",
    "SQLITE_CANTOPEN": "the database file cannot be opened",
    "SQLITE_CORRUPT": "the database file is damaged",
    "SQLITE_NOTADB": "the file is not a database",
}


def unavailable(exc: BaseException) -> BaseException:
    """``StoreUnavailable`` for the SQLite errors that mean "cannot write now"; others as
    they are (a bug in a query must still look like one)."""
    if isinstance(exc, sqlite3.Error):
        name = getattr(exc, "sqlite_errorname", "") or ""
        for prefix, reason in _UNAVAILABLE.items():
            if name.startswith(prefix):
                return StoreUnavailable(reason, exc)
    return exc


@dataclass(slots=True)
class _Job:
    fn: Callable[[Database], Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    grouped: bool  # True: a write that joins the current group-commit transaction
    outcome: tuple[bool, Any] = field(default=(False, None))


_STOP = object()


def _portable(fn: Callable[[Database], T]) -> Callable[[Database], T]:
    """The portable verbs raise the same ``Conflict`` on both engines."""

    def run(db: Database) -> T:
        try:
            return fn(db)
        except sqlite3.IntegrityError as exc:
            raise Conflict(str(exc)) from exc

    return run


def _as_sqlite_migrations(schema: Schema) -> Migrations:
    """A ``Schema`` as sqlite-utils migrations (recorded in ``_sqlite_migrations``)."""
    migrations = Migrations(schema.name)
    for step in range(1, len(schema.migrations) + 1):

        def apply(db: Database, step: int = step) -> None:
            for statement in schema.statements(step, "sqlite"):
                db.execute(statement)

        apply.__name__ = schema.step_name(step)
        migrations()(apply)
    return migrations


def open_database(settings: StoreSettings) -> Database:
    """Open (creating the folder and file if needed) and tune the database.

    WAL lets readers (an admin running ``sqlite3`` on the file, a backup) work while the bot
    writes; the busy timeout makes a briefly locked file a wait instead of an error.
    """
    if str(settings.path) == ":memory:":
        db = Database(memory=True)
    else:
        path = Path(settings.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        db = Database(path)
        db.enable_wal()
    db.execute(f"PRAGMA busy_timeout = {int(settings.busy_timeout_ms)}")
    # FULL: commits survive power loss, not only a crash of the process; with group commit
    # one fsync serves a whole batch, so the safe default costs little (see bench/ledger.py).
    db.execute(f"PRAGMA synchronous = {settings.synchronous}")
    db.execute("PRAGMA foreign_keys = ON")
    return db


class Store:
    """The SQLite database behind one dedicated thread. Create it with ``Store.open``."""

    def __init__(self, settings: StoreSettings) -> None:
        self.settings = settings
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._db: Database | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name="sqlite-store", daemon=True)
        self._stopped: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Group-commit figures, for benchmarks and health pages: transactions committed and
        # the grouped writes they carried.
        self.group_commits = 0
        self.grouped_writes = 0

    # -- lifetime ---------------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        settings: StoreSettings | None = None,
        *,
        migrations: Iterable[Migrations | Schema] = (),
    ) -> Store:
        """Start the thread, open the database on it and apply ``migrations`` in order."""
        store = cls(settings or StoreSettings())
        store._loop = asyncio.get_running_loop()
        store._stopped = store._loop.create_future()
        store._thread.start()
        try:
            await store.run(store._attach)
            for m in migrations:
                await store.apply(m)
        except BaseException:
            await store.close()
            raise
        return store

    def _attach(self, _: None) -> None:
        self._db = open_database(self.settings)

    async def apply(self, migrations: Migrations | Schema) -> None:
        """Apply a feature's pending migrations (each in its own transaction)."""
        if isinstance(migrations, Schema):
            migrations = _as_sqlite_migrations(migrations)
        await self.run(migrations.apply)

    # -- the portable verbs (see ``bot.store.schema``) ---------------------------------------

    async def execute(self, sql: str, *params: Any) -> int:
        """Run one statement (committed at once); the number of rows it changed."""
        return await self.run(_portable(lambda db: db.execute(sql, params).rowcount))

    async def fetch(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        """The rows a query (or a statement with ``RETURNING``) gives, as dicts."""

        def rows(db: Database) -> list[dict[str, Any]]:
            was_in_transaction = db.conn.in_transaction
            cursor = db.execute(sql, params)
            if cursor.description is None:
                return []
            names = [d[0] for d in cursor.description]
            found = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
            if not was_in_transaction and db.conn.in_transaction:
                # A write with RETURNING: sqlite-utils leaves its transaction open for the
                # rows to be read; they are read, so commit it like any other write.
                db.conn.execute("COMMIT")
            return found

        return await self.run(_portable(rows))

    async def fetchone(self, sql: str, *params: Any) -> dict[str, Any] | None:
        found = await self.fetch(sql, *params)
        return found[0] if found else None

    def queue_write(self, statements: Sequence[Statement]) -> asyncio.Future[None]:
        """Queue statements for the next group-commit transaction (all or none of them);
        await the future to know they are on disk. For hot, small writes (ledger rows)."""
        work = [(sql, tuple(params)) for sql, params in statements]

        def run_all(db: Database) -> None:
            for sql, params in work:
                db.execute(sql, params)

        return self.write_soon(_portable(run_all))

    dialect = "sqlite"

    async def batch(self, statements: Iterable[tuple[str, Sequence[Any]]]) -> list[int]:
        """Several statements in one transaction: all of them, or none. Their row counts."""
        work = list(statements)

        def run_all(db: Database) -> list[int]:
            with db.atomic():
                return [db.execute(sql, tuple(params)).rowcount for sql, params in work]

        return await self.run(_portable(run_all))

    async def close(self) -> None:
        """Finish the work already queued, close the connection and stop the thread."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        assert self._stopped is not None
        await asyncio.shield(self._stopped)

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def closed(self) -> bool:
        return self._closed

    # -- work -------------------------------------------------------------------------------

    async def run(self, fn: Callable[[Database], T]) -> T:
        """Run ``fn(db)`` on the store's thread, alone, and return its result."""
        return await self._enqueue(fn, grouped=False)

    async def write(self, fn: Callable[[Database], T]) -> T:
        """Run ``fn(db)`` inside the next group-commit transaction; return once committed."""
        return await self._enqueue(fn, grouped=True)

    def write_soon(self, fn: Callable[[Database], T]) -> asyncio.Future[T]:
        """Queue a grouped write now and return its future (await it to know it is durable).

        For callers that must not await at the point where the write becomes due, such as a
        synchronous ``settle()``; the queue keeps the order in which writes were asked for.
        """
        return self._enqueue(fn, grouped=True)

    def _enqueue(self, fn: Callable[[Database], Any], *, grouped: bool) -> asyncio.Future[Any]:
        if self._closed:
            raise StoreClosed("the store is closed")
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put(_Job(fn, future, loop, grouped))
        return future

    # -- the thread -------------------------------------------------------------------------

    def _serve(self) -> None:
        """The thread's loop: take everything queued, run it in order, report back."""
        stopping = False
        while not stopping:
            jobs = [self._queue.get()]
            while len(jobs) < MAX_BATCH:
                try:
                    jobs.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if _STOP in jobs:
                stopping = True
                # Work queued before close() still runs; anything after it is refused.
                jobs = jobs[: jobs.index(_STOP)]
            self._run_jobs(jobs)
        if self._db is not None:
            try:
                self._db.close()
            except sqlite3.Error:  # pragma: no cover - nothing useful left to do
                log.exception("closing the database failed")
        self._report_stopped()
        self._drain_refused()

    def _run_jobs(self, jobs: list[_Job]) -> None:
        i = 0
        while i < len(jobs):
            if jobs[i].grouped:
                j = i
                while j < len(jobs) and jobs[j].grouped:
                    j += 1
                self._run_group(jobs[i:j])
                i = j
            else:
                self._run_alone(jobs[i])
                i += 1
        self._report(jobs)

    def _run_alone(self, job: _Job) -> None:
        try:
            job.outcome = (True, job.fn(self._db))  # type: ignore[arg-type]
        except BaseException as exc:
            job.outcome = (False, unavailable(exc))
            if self._db is not None and self._db.conn.in_transaction:
                # A function that failed half-way must not leave its transaction open, or it
                # would silently swallow every later write.
                self._db.conn.execute("ROLLBACK")

    def _run_group(self, jobs: list[_Job]) -> None:
        """Run grouped writes in one transaction, each in a savepoint, then commit once."""
        conn = self._db.conn  # type: ignore[union-attr]
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            for job in jobs:
                job.outcome = (False, unavailable(exc))
            return
        done: list[_Job] = []  # jobs whose work sits in the open transaction
        for job in jobs:
            conn.execute("SAVEPOINT store_write")
            try:
                result = job.fn(self._db)  # type: ignore[arg-type]
            except BaseException as exc:
                job.outcome = (False, unavailable(exc))
                if conn.in_transaction:
                    conn.execute("ROLLBACK TO store_write")
                    conn.execute("RELEASE store_write")
                else:
                    # The error destroyed the whole transaction (a RAISE(ROLLBACK) trigger, an
                    # I/O error): the earlier jobs' work is gone too, so they fail with it.
                    for earlier in done:
                        earlier.outcome = (False, unavailable(exc))
                    done = []
                    conn.execute("BEGIN IMMEDIATE")
            else:
                job.outcome = (True, result)
                done.append(job)
                conn.execute("RELEASE store_write")
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for job in jobs:
                job.outcome = (False, unavailable(exc))
        else:
            self.group_commits += 1
            self.grouped_writes += len(jobs)

    def _report(self, jobs: list[_Job]) -> None:
        """Hand the outcomes back with one wake-up per event loop, not one per job."""
        by_loop: dict[asyncio.AbstractEventLoop, list[_Job]] = {}
        for job in jobs:
            by_loop.setdefault(job.loop, []).append(job)
        for loop, group in by_loop.items():
            try:
                loop.call_soon_threadsafe(_resolve, group)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                pass

    def _report_stopped(self) -> None:
        if self._loop is not None and self._stopped is not None:
            try:
                self._loop.call_soon_threadsafe(_set_done, self._stopped)
            except RuntimeError:
                pass

    def _drain_refused(self) -> None:
        refused: list[_Job] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _Job):
                item.outcome = (False, StoreClosed("the store closed before this ran"))
                refused.append(item)
        self._report(refused)


def _resolve(jobs: list[_Job]) -> None:
    for job in jobs:
        if job.future.done():  # cancelled by its waiter; the work itself still happened
            continue
        ok, value = job.outcome
        if ok:
            job.future.set_result(value)
        else:
            job.future.set_exception(value)


def _set_done(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
