"""Shared fixtures. Every test leaves the process as it found it.

This file also puts ``tests/`` on ``sys.path`` (pytest's default import mode), so helper
modules here, such as ``processes``, import from every test directory.
"""

from __future__ import annotations

import logging
import os
import secrets as _secrets
import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(autouse=True)
def _restore_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


# -- the shared store's engines ---------------------------------------------------------------
# Suites that must hold on SQLite and on PostgreSQL take the ``engine`` fixture (or
# ``open_store``), which runs them once per engine. PostgreSQL is at TEST_POSTGRES_URL
# (default: the local server CI starts); each test gets a schema of its own, dropped after.
# Under CI=true a missing server fails the run; elsewhere those runs are skipped with a
# reason that says how to run them.

TEST_POSTGRES_URL = os.environ.get(
    "IMGURBOT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
_postgres_reachable: bool | None = None


async def _postgres_is_reachable() -> bool:
    global _postgres_reachable
    if _postgres_reachable is None:
        import asyncpg

        try:
            conn = await asyncpg.connect(TEST_POSTGRES_URL, timeout=3)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            _postgres_reachable = False
        else:
            await conn.close()
            _postgres_reachable = True
    return _postgres_reachable


def service_missing(message: str) -> None:
    """A service a test needs is down: under CI=true the run fails, elsewhere the test is
    skipped with ``message`` (which says how to run it)."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


async def require_postgres() -> None:
    if not await _postgres_is_reachable():
        service_missing(
            f"PostgreSQL is not reachable at {TEST_POSTGRES_URL}: start it (CI starts one on "
            "127.0.0.1:5432, trust auth, database test) or point IMGURBOT_TEST_POSTGRES_URL "
            "at one"
        )


@pytest.fixture
async def postgres_url() -> str:
    """The test server's URL (the test fails under CI, or is skipped, when it is down)."""
    await require_postgres()
    return TEST_POSTGRES_URL


# -- the shared cache's Redis ------------------------------------------------------------------
# Tests of the cluster's shared cache use the Redis at TEST_REDIS_URL (default: the local
# server CI starts), each under a key prefix of its own, deleted after. As with PostgreSQL,
# under CI=true a missing server fails the run; elsewhere those tests are skipped, saying how.

TEST_REDIS_URL = os.environ.get("IMGURBOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
_redis_reachable: bool | None = None


async def _redis_is_reachable() -> bool:
    global _redis_reachable
    if _redis_reachable is None:
        import redis.asyncio as aioredis
        from redis.exceptions import RedisError

        client = aioredis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=3)
        try:
            _redis_reachable = bool(await client.ping())
        except (OSError, RedisError):
            _redis_reachable = False
        finally:
            await client.aclose()
    return _redis_reachable


async def require_redis() -> None:
    if not await _redis_is_reachable():
        service_missing(
            f"Redis is not reachable at {TEST_REDIS_URL}: start it (CI starts one on "
            "127.0.0.1:6379) or point IMGURBOT_TEST_REDIS_URL at one"
        )


@pytest.fixture
async def redis_prefix():
    """``(url, prefix)``: the test Redis and a key prefix of the test's own; every key under
    it is deleted after the test."""
    import redis.asyncio as aioredis

    await require_redis()
    prefix = f"imgurbot-test:{_secrets.token_hex(6)}"
    try:
        yield TEST_REDIS_URL, prefix
    finally:
        client = aioredis.Redis.from_url(TEST_REDIS_URL)
        try:
            keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
            if keys:
                await client.delete(*keys)
        finally:
            await client.aclose()


@asynccontextmanager
async def postgres_schema() -> AsyncIterator[str]:
    """A PostgreSQL schema of the test's own on the test server, dropped with all it holds
    afterwards (the test fails under CI, or is skipped, when the server is down)."""
    import asyncpg

    await require_postgres()
    schema = f"test_{_secrets.token_hex(6)}"
    conn = await asyncpg.connect(TEST_POSTGRES_URL)
    try:
        await conn.execute(f"CREATE SCHEMA {schema}")
    finally:
        await conn.close()
    try:
        yield schema
    finally:
        conn = await asyncpg.connect(TEST_POSTGRES_URL)
        try:
            await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        finally:
            await conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request) -> str:
    return request.param


@pytest.fixture
async def open_store(engine, tmp_path):
    """``await open_store(migrations=[...])`` on the test's engine; closed (and, on
    PostgreSQL, its schema dropped) after the test. Calling it again opens the same data
    again, as a restart or a second process would."""
    from bot.config import StoreSettings
    from bot.store import Store
    from bot.store.postgres import PostgresStore

    opened = []

    async def open_(migrations=()):
        if engine == "sqlite":
            store = await Store.open(
                StoreSettings(path=tmp_path / "store.db"), migrations=migrations
            )
        else:
            store = await PostgresStore.open(
                TEST_POSTGRES_URL, migrations=migrations, schema=schema, max_size=4
            )
        opened.append(store)
        return store

    async with AsyncExitStack() as stack:
        if engine == "postgresql":
            schema = await stack.enter_async_context(postgres_schema())
        try:
            yield open_
        finally:
            for store in opened:
                await store.close()


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on: connecting to it is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
async def store_env(engine, tmp_path):
    """``[store]`` settings, as ``IMGURBOT_STORE__*`` environment variables, naming a new
    database on the test's engine: an SQLite file, or a PostgreSQL schema of its own (dropped
    after the test). Every bot opened with them shares that one database."""
    if engine == "sqlite":
        yield {"IMGURBOT_STORE__PATH": f'"{tmp_path / "imgurbot.db"}"'}
        return
    async with postgres_schema() as schema:
        yield {"IMGURBOT_STORE__URL": f"{TEST_POSTGRES_URL}?search_path={schema}"}
