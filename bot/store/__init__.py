"""Where the bot keeps what must outlive a restart (the ledger, and every feature's tables).

SQLite is the embedded default (``sqlite.py``: one writer thread, group commit, sqlite-utils
migrations); nothing needs a server. PostgreSQL (``postgres.py``, chosen by ``[store] url``)
is what several bot processes share. Features describe their tables once (``schema.py``) and
use the store's portable async verbs, so they do not change when the store does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from bot.store.errors import Conflict, StoreClosed, StoreUnavailable
from bot.store.schema import Schema, Statement
from bot.store.sqlite import MAX_BATCH, Store, open_database

if TYPE_CHECKING:
    from pydantic import SecretStr

    from bot.config import StoreSettings
    from bot.store.postgres import PostgresStore


async def open_store(
    settings: StoreSettings,
    *,
    migrations: Iterable[Schema] = (),
    password: SecretStr | None = None,
) -> Store | PostgresStore:
    """The store ``settings`` name: PostgreSQL when ``url`` is set (``password`` from the
    PGPASSWORD secret, if any), else the SQLite file."""
    if settings.url:
        from bot.store.postgres import PostgresStore  # asyncpg only when it is used

        return await PostgresStore.open(
            settings.url,
            migrations=migrations,
            max_size=settings.pool_size,
            settings=settings,
            password=password,
        )
    return await Store.open(settings, migrations=migrations)


def shared(settings: StoreSettings) -> bool:
    """True when other processes may use the same database (PostgreSQL)."""
    return bool(settings.url)


__all__ = [
    "MAX_BATCH",
    "Conflict",
    "Schema",
    "Statement",
    "Store",
    "StoreClosed",
    "StoreUnavailable",
    "open_database",
    "open_store",
    "shared",
]
