"""Where the bot keeps what must outlive a restart (the ledger, and every feature's tables).

SQLite is the embedded default (``sqlite.py``: one writer thread, group commit, sqlite-utils
migrations); nothing needs a server. Features describe their tables once (``schema.py``) and
use the store's portable async verbs, so they do not change when the store does.
"""

from bot.store.errors import Conflict, StoreClosed, StoreUnavailable
from bot.store.schema import Schema, Statement
from bot.store.sqlite import MAX_BATCH, Store, open_database

__all__ = [
    "MAX_BATCH",
    "Conflict",
    "Schema",
    "Statement",
    "Store",
    "StoreClosed",
    "StoreUnavailable",
    "open_database",
]
