"""The store on PostgreSQL, shared by every process of a cluster (``[store] url``).

The same portable verbs as the SQLite store (``bot.store.schema``): ``execute``, ``fetch``,
``fetchone``, ``batch``, ``queue_write`` and ``apply(Schema)``, over an asyncpg pool. SQL is
written once with ``?`` placeholders; they become PostgreSQL's ``$1…$n`` here (translated
once per statement and remembered). Migrations are recorded in ``_imgurbot_migrations``
and applied under an advisory lock, so processes starting together apply each step once.

Queued writes behave as on SQLite: one writer takes them in the order they were queued and
commits whatever is waiting in one transaction (each in a savepoint, so one failure does not
undo its neighbours): group commit. A read waits for the writes queued before it, so a
process always reads what it wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

import asyncpg

from bot.store.errors import Conflict, StoreClosed, StoreUnavailable
from bot.store.schema import Schema, Statement

log = logging.getLogger(__name__)

_MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS _imgurbot_migrations (
    migration_set TEXT NOT NULL,
    name TEXT NOT NULL,
    applied_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (migration_set, name)
)
"""
# A queued write: its statements, and the future its caller awaits.
_Queued = tuple[list[Statement], "asyncio.Future[None]"]
# pg_advisory_xact_lock key for applying migrations: "imgurbot" in ASCII, as an integer.
_MIGRATION_LOCK = 0x696D677572626F74


@functools.lru_cache(maxsize=1024)
def to_postgres(sql: str) -> str:
    """``?`` placeholders as ``$1, $2, …``, leaving quoted text alone."""
    out: list[str] = []
    n = 0
    quote: str | None = None
    for ch in sql:
        if quote:
            if ch == quote:
                quote = None
        elif ch in ("'", '"'):
            quote = ch
        elif ch == "?":
            n += 1
            out.append(f"${n}")
            continue
        out.append(ch)
    return "".join(out)


def password_option(password: Any) -> dict[str, str]:
    """asyncpg's ``password=`` from the PGPASSWORD secret, if one was given; else asyncpg
    reads PGPASSWORD and ~/.pgpass itself. Never part of the url, which shows in messages."""
    return {"password": password.get_secret_value()} if password is not None else {}


def _rowcount(status: str) -> int:
    """asyncpg answers a write with a status such as ``UPDATE 3`` or ``INSERT 0 1``."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


def _translate(exc: BaseException) -> BaseException:
    if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
        return Conflict(str(exc))
    if isinstance(exc, asyncpg.DiskFullError):
        return StoreUnavailable("the database server's disk is full", exc)
    if isinstance(exc, asyncpg.ReadOnlySQLTransactionError):
        return StoreUnavailable("the database server is read-only", exc)
    if isinstance(
        exc,
        OSError
        | asyncpg.PostgresConnectionError
        | asyncpg.CannotConnectNowError
        | asyncpg.InterfaceError,
    ):
        return StoreUnavailable("the database server cannot be reached", exc)
    return exc


# Conflicts between processes that a second try resolves: nothing was written.
_TRANSIENT = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)
_GROUP_ATTEMPTS = 5


class _TryAgain(Exception):
    """A queued group met a transient conflict and was rolled back whole."""


class PostgresStore:
    """The store on a PostgreSQL server. Create it with ``PostgresStore.open(url)``."""

    dialect = "postgresql"

    def __init__(self, pool: asyncpg.Pool, connect: Any = None, settings: Any = None) -> None:
        self.settings = settings  # the [store] settings it was opened with, if any
        self._pool = pool
        self._connect = connect  # opens the one connection every listener shares
        self._closed = False
        self._queue: asyncio.Queue[tuple[list[Statement], asyncio.Future[None]]] = asyncio.Queue()
        self._pending: set[asyncio.Future[None]] = set()
        self._writer: asyncio.Task[None] | None = None
        # Listeners share one connection of their own (outside the pool, so they can never
        # starve it): channel -> callbacks.
        self._listen_conn: asyncpg.Connection | None = None
        self._callbacks: dict[str, list[Any]] = {}
        self._listen_lock = asyncio.Lock()

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        migrations: Iterable[Schema] = (),
        min_size: int = 1,
        max_size: int = 10,
        schema: str | None = None,
        settings: Any = None,
        password: Any = None,
    ) -> PostgresStore:
        """Connect a pool to ``url`` and apply ``migrations``. ``schema`` puts every table
        in that PostgreSQL schema (tests use one each)."""
        server_settings = {"search_path": schema} if schema else None
        secret = password_option(password)
        try:
            pool = await asyncpg.create_pool(
                dsn=url,
                min_size=min_size,
                max_size=max_size,
                server_settings=server_settings,
                **secret,
            )
        except asyncpg.PostgresError as exc:  # a wrong user, password or database name
            reason = f"the database server refused the connection ({exc})"
            raise StoreUnavailable(reason, exc) from exc
        except Exception as exc:
            raise _translate(exc) from exc
        store = cls(
            pool,
            connect=lambda: asyncpg.connect(dsn=url, server_settings=server_settings, **secret),
            settings=settings,
        )
        try:
            for schema_ in migrations:
                await store.apply(schema_)
        except BaseException:
            await store.close()
            raise
        return store

    @property
    def closed(self) -> bool:
        return self._closed

    async def close(self) -> None:
        """Let the queued writes finish, then close the pool."""
        if self._closed:
            return
        self._closed = True
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
        if self._listen_conn is not None:
            await self._listen_conn.close()
            self._listen_conn = None
        try:
            await asyncio.wait_for(self._pool.close(), timeout=10)
        except TimeoutError:
            log.warning("PostgreSQL connections still busy after 10 s: closed anyway")
            self._pool.terminate()

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """One of the pool's connections, for work the portable verbs cannot express (a
        bulk copy in one transaction)."""
        self._check_open()
        async with self._pool.acquire() as conn:
            yield conn

    async def __aenter__(self) -> PostgresStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosed("the store is closed")

    # -- migrations ---------------------------------------------------------------------------

    async def apply(self, schema: Schema) -> None:
        """Apply the steps of ``schema`` not yet applied, each in its own transaction."""
        if not isinstance(schema, Schema):
            raise TypeError(
                f"{schema!r} is a SQLite-only migration set: describe its tables with "
                "bot.store.Schema so they can live on PostgreSQL too"
            )
        self._check_open()
        async with self._pool.acquire() as conn:
            # Under the lock too: CREATE TABLE IF NOT EXISTS is not safe against itself, and
            # two processes starting together on a new database would both create the table
            # (one failing on a duplicate pg_type row).
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
                await conn.execute(_MIGRATIONS_TABLE)
            for step in range(1, len(schema.migrations) + 1):
                name = schema.step_name(step)
                async with conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
                    done = await conn.fetchval(
                        "SELECT 1 FROM _imgurbot_migrations WHERE migration_set = $1 AND name = $2",
                        schema.name,
                        name,
                    )
                    if done:
                        continue
                    for statement in schema.statements(step, "postgresql"):
                        await conn.execute(statement)
                    await conn.execute(
                        "INSERT INTO _imgurbot_migrations VALUES ($1, $2, $3)",
                        schema.name,
                        name,
                        time.time(),
                    )
                    log.info("applied %s %s on PostgreSQL", schema.name, name)

    # -- the portable verbs -------------------------------------------------------------------

    async def _after_queued_writes(self) -> None:
        if self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def execute(self, sql: str, *params: Any) -> int:
        self._check_open()
        await self._after_queued_writes()
        try:
            return _rowcount(await self._pool.execute(to_postgres(sql), *params))
        except Exception as exc:
            raise _translate(exc) from exc

    async def fetch(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        self._check_open()
        await self._after_queued_writes()
        try:
            rows = await self._pool.fetch(to_postgres(sql), *params)
        except Exception as exc:
            raise _translate(exc) from exc
        return [dict(row) for row in rows]

    async def fetchone(self, sql: str, *params: Any) -> dict[str, Any] | None:
        found = await self.fetch(sql, *params)
        return found[0] if found else None

    async def batch(self, statements: Iterable[Statement]) -> list[int]:
        """Several statements in one transaction: all of them, or none."""
        self._check_open()
        work = list(statements)
        await self._after_queued_writes()
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                return [
                    _rowcount(await conn.execute(to_postgres(sql), *params)) for sql, params in work
                ]
        except Exception as exc:
            raise _translate(exc) from exc

    def queue_write(self, statements: Sequence[Statement]) -> asyncio.Future[None]:
        """Queue ``statements`` (all or none of them) for the writer; await the future to
        know they are committed."""
        self._check_open()
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)
        self._queue.put_nowait(([(sql, tuple(params)) for sql, params in statements], future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write_loop())
        return future

    async def _write_loop(self) -> None:
        """Take every queued write in order; commit what is waiting together."""
        while True:
            group = [await self._queue.get()]
            while len(group) < 1024:
                try:
                    group.append(self._queue.get_nowait())
                except asyncio.QueueEmpty:
                    break
            await self._commit_group(group)

    async def _commit_group(
        self, group: list[tuple[list[Statement], asyncio.Future[None]]]
    ) -> None:
        # Processes sharing the database write the same rows (the day's leases, the state):
        # PostgreSQL may pick this transaction as a deadlock's victim, or refuse it for a
        # serialization conflict. Nothing of it is kept then, so the whole group is tried
        # again, in its order (a write retried after the ones behind it could land after a
        # later update of the same row).
        for attempt in range(1, _GROUP_ATTEMPTS + 1):
            try:
                await self._try_group(group, last=attempt == _GROUP_ATTEMPTS)
                return
            except _TryAgain:
                await asyncio.sleep(0.01 * attempt * (1 + random.random()))

    async def _try_group(
        self, group: list[tuple[list[Statement], asyncio.Future[None]]], *, last: bool
    ) -> None:
        retryable = () if last else _TRANSIENT
        done: list[asyncio.Future[None]] = []
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                for statements, future in group:
                    try:
                        async with conn.transaction():  # a savepoint
                            for sql, params in statements:
                                await conn.execute(to_postgres(sql), *params)
                    except retryable:
                        raise _TryAgain() from None
                    except asyncpg.PostgresError as exc:
                        if not future.done():
                            future.set_exception(_translate(exc))
                    else:
                        done.append(future)
        except _TryAgain:
            raise
        except retryable as exc:
            raise _TryAgain() from exc
        except Exception as exc:  # the commit itself, or the connection, failed
            for future in done:
                if not future.done():
                    future.set_exception(_translate(exc))
            return
        for future in done:
            if not future.done():
                future.set_result(None)

    async def listen(self, channel: str, callback: Any) -> Any:
        """Call ``callback(payload)`` for every NOTIFY on ``channel``; returns an async
        function that stops it. Every listener shares one connection of the store's."""
        self._check_open()
        async with self._listen_lock:
            if self._listen_conn is None:
                self._listen_conn = await self._connect()
            if channel not in self._callbacks:
                self._callbacks[channel] = []
                await self._listen_conn.add_listener(channel, self._relay)
            self._callbacks[channel].append(callback)

        async def stop() -> None:
            callbacks = self._callbacks.get(channel, [])
            if callback in callbacks:
                callbacks.remove(callback)

        return stop

    def _relay(self, _conn: Any, _pid: int, channel: str, payload: str) -> None:
        for callback in list(self._callbacks.get(channel, ())):
            try:
                callback(payload)
            except Exception:
                log.exception("a listener of %s failed", channel)

    async def notify(self, channel: str, payload: str) -> None:
        await self.execute("SELECT pg_notify(?, ?)", channel, payload)
