"""What is checked before the bot starts, in the same words for ``run`` and ``check``.

Two kinds of check, each one function that both commands call, so that ``imgurbot check``
predicts exactly what ``imgurbot run`` would say:

- ``run_failures(config)``: the secrets and settings the bot needs to answer a real server
  (a Discord token, and a way to reach Imgur that is not silently the demo catalogue);
- ``diagnose_store(settings)``: whether the SQLite database can be used, and if not, why, in
  one sentence (a folder where a file should be, a read-only mount, a file that is not a
  database...). ``run`` also calls it when opening the store fails, so it says the same.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import sqlite3
from pathlib import Path

from pydantic import SecretStr

from bot.config import Config, StoreSettings
from bot.failures import ExitStatus, Failure

NO_TOKEN = (
    "DISCORD_TOKEN is not set (nor a non-empty file named by DISCORD_TOKEN_FILE), so the bot "
    "cannot log in to Discord."
)
HOW_TO_GET_A_TOKEN = (
    "Create the bot in the Discord developer portal (README, 'Create the bot') and set "
    "DISCORD_TOKEN to its token."
)


def missing_token() -> Failure:
    return Failure(ExitStatus.CONFIG, NO_TOKEN, HOW_TO_GET_A_TOKEN)


def imgur_failure(config: Config) -> Failure | None:
    """Why the bot cannot reach Imgur the way the settings ask, or None."""
    settings, secrets = config.imgur, config.secrets
    if settings.use_emulator == "always":
        return None
    if settings.commercial and (secrets.rapidapi_key is None or secrets.imgur_client_id is None):
        missing = [
            name
            for name, value in (
                ("RAPIDAPI_KEY", secrets.rapidapi_key),
                ("IMGUR_CLIENT_ID", secrets.imgur_client_id),
            )
            if value is None
        ]
        return Failure(
            ExitStatus.CONFIG,
            f"[imgur] commercial = true, but {' and '.join(missing)} not set.",
            "Commercial calls go through RapidAPI with your RapidAPI key beside the Client-ID; "
            "set both, or set commercial = false.",
        )
    if secrets.imgur_client_id is None and settings.use_emulator == "never":
        return Failure(
            ExitStatus.CONFIG,
            'IMGUR_CLIENT_ID is not set and [imgur] use_emulator = "never".',
            "Set IMGUR_CLIENT_ID to an existing Imgur Client-ID (README, 'The Imgur Client-ID'),"
            ' or allow the demo catalogue with use_emulator = "always".',
        )
    return None


def demo_refused() -> Failure:
    return Failure(
        ExitStatus.CONFIG,
        "DISCORD_TOKEN is set but IMGUR_CLIENT_ID is not: the bot would answer your server "
        "with made-up posts from the built-in demo catalogue, not Imgur.",
        "Set IMGUR_CLIENT_ID to an existing Client-ID (Imgur takes no new registrations since "
        "2025; README, 'The Imgur Client-ID'), or choose the demo on purpose with [imgur] "
        'use_emulator = "always".',
    )


def run_failures(config: Config) -> list[Failure]:
    """What stops ``imgurbot run`` from serving a real server, given a Discord token."""
    failures = []
    imgur = imgur_failure(config)
    if imgur is not None:
        failures.append(imgur)
    elif (
        config.secrets.discord_token is not None
        and config.secrets.imgur_client_id is None
        and config.imgur.use_emulator == "auto"
    ):
        failures.append(demo_refused())
    return failures


# -- the database ---------------------------------------------------------------------------


def _who() -> str:
    uid = os.geteuid()
    try:
        return f"user {getpass.getuser()} (uid {uid})"
    except (KeyError, OSError):  # a uid with no passwd entry, as in some containers
        return f"uid {uid}"


def _read_only_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _blocking_file(path: Path) -> Path | None:
    """The nearest ancestor of ``path`` that exists and is not a folder, if any."""
    for parent in path.parents:
        if parent.exists():
            return None if parent.is_dir() else parent
    return None


def diagnose_store(settings: StoreSettings, password: SecretStr | None = None) -> Failure | None:
    """Why the database cannot be used, in one sentence (status 4), or None if it can.

    Creates the folder (and an empty database) when they are missing, as the bot would.
    With ``[store] url``, connects to the PostgreSQL server and writes to it instead. Never
    call it on a running event loop (it runs one for PostgreSQL): use a thread there.
    """
    if settings.url:
        return asyncio.run(_probe_postgres(settings.url, password))
    path = Path(settings.path)
    if str(path) == ":memory:":
        return None
    key = f"[store] path = {str(path)!r}"

    def failure(what: str, todo: str) -> Failure:
        return Failure(ExitStatus.STORAGE, f"{key} {what}; {todo}.")

    other_path = "or set [store] path to another file"
    if path.is_dir():
        return failure(
            "is a folder", f"name a file inside it, such as {str(path / 'imgurbot.db')!r}"
        )
    blocker = _blocking_file(path)
    if blocker is not None:
        return failure(
            f"is inside {str(blocker)!r}, which is a file, not a folder",
            "rename that file, " + other_path,
        )
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if _read_only_fs(_existing_ancestor(folder)):
            return failure("is on a read-only file system", _read_only_todo())
        return failure(
            f"needs the folder {str(folder)!r}, which cannot be created ({exc.strerror})",
            f"create it, writable by {_who()}, {other_path}",
        )
    if _read_only_fs(folder):
        return failure("is on a read-only file system", _read_only_todo())
    if path.exists() and not os.access(path, os.W_OK):
        return failure("is read-only", f"make it writable by {_who()}, {other_path}")
    if not os.access(folder, os.W_OK | os.X_OK):
        return failure(
            f"is in the folder {str(folder)!r}, which {_who()} cannot write (SQLite keeps its "
            "journal files beside the database)",
            f"make the folder writable, {other_path}",
        )
    return _probe_sqlite(path, settings, failure, other_path)


def _existing_ancestor(path: Path) -> Path:
    return next((p for p in (path, *path.parents) if p.exists()), Path("/"))


def _read_only_todo() -> str:
    return "mount it read-write (with Docker, drop ':ro' from the volume), or choose another path"


def _probe_sqlite(path: Path, settings: StoreSettings, failure, other_path: str) -> Failure | None:
    """Open the file with SQLite and write to it, as the bot will."""
    try:
        conn = sqlite3.connect(path, timeout=settings.busy_timeout_ms / 1000)
        try:
            conn.execute("PRAGMA schema_version").fetchone()  # reads the header
            with conn:
                conn.execute("CREATE TABLE IF NOT EXISTS _imgurbot_check (x)")
                conn.execute("DROP TABLE _imgurbot_check")
        finally:
            conn.close()
    except sqlite3.Error as exc:
        name = getattr(exc, "sqlite_errorname", "")
        if name == "SQLITE_NOTADB":
            return failure(
                "is not an SQLite database (it holds something else)",
                "move it aside and the bot creates a new database there, " + other_path,
            )
        if name == "SQLITE_CORRUPT":
            return failure(
                "is a damaged database (malformed)",
                "restore it from a backup, or move it aside to start a new one",
            )
        if name == "SQLITE_READONLY":
            return failure("is read-only", f"make it writable by {_who()}, {other_path}")
        if name in ("SQLITE_BUSY", "SQLITE_LOCKED"):
            return failure(
                f"stayed locked by another program for {settings.busy_timeout_ms} ms",
                "close what holds it (an sqlite3 shell, a backup) and start again",
            )
        return failure(f"cannot be used ({exc})", other_path)
    return None


async def _probe_postgres(url: str, password: SecretStr | None) -> Failure | None:
    """Connect to the server and write to a temporary table, as the bot will."""
    import asyncpg

    from bot.store.postgres import password_option

    key = f"[store] url = {url!r}"  # the url holds no password: the settings refuse one
    secret = password_option(password)
    try:
        conn = await asyncio.wait_for(asyncpg.connect(dsn=url, **secret), timeout=10)
    except (OSError, TimeoutError, asyncpg.CannotConnectNowError) as exc:
        why = "did not answer in 10 s" if isinstance(exc, TimeoutError) else "refused to connect"
        return Failure(
            ExitStatus.UNREACHABLE,
            f"{key}: the PostgreSQL server {why}.",
            "Start it, or fix the host and port; starting again later may work.",
        )
    except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        return Failure(
            ExitStatus.STORAGE,
            f"{key}: PostgreSQL refused the connection: {exc}.",
            "Check the user, the database name and PGPASSWORD (or ~/.pgpass).",
        )
    try:
        async with conn.transaction():
            await conn.execute("CREATE TEMPORARY TABLE _imgurbot_check (x INTEGER)")
            await conn.execute("DROP TABLE _imgurbot_check")
    except asyncpg.PostgresError as exc:
        return Failure(
            ExitStatus.STORAGE,
            f"{key}: the database cannot be written: {exc}.",
            "Give the user the right to create tables there, or free the server's disk.",
        )
    finally:
        await conn.close()
    return None


async def storage_failure(
    settings: StoreSettings, exc: BaseException, password: SecretStr | None = None
) -> Failure:
    """The sentence for a failure to open the store; re-raises ``exc`` if the store is fine.

    A database that ``diagnose_store`` finds usable failed for another reason (a migration
    bug, say): that is not the admin's to fix, so it keeps its traceback.
    """
    failure = await asyncio.to_thread(diagnose_store, settings, password)
    if failure is None:
        raise exc
    return failure
