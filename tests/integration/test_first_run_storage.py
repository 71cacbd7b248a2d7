"""A database the bot cannot use: ``check`` and ``run`` say the same sentence, with status 4.

Each case is set up for real: a file that is not a database, a read-only file, a read-only
mount, a folder that cannot be created, a path that is a folder, a path under a file. Root
ignores file modes, so when the tests run as root a read-only file or folder is made
immutable (``chattr +i``), which binds root too; the read-only mount is a bind mount in a
private mount namespace (``unshare``).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from processes import assert_failure, imgurbot

from bot.failures import ExitStatus


def lock_against_writes(path: Path, mode: int) -> None:
    """Make ``path`` unwritable for this user, root included."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(path)], check=True)
    else:
        path.chmod(mode)


@pytest.fixture
def place(tmp_path):
    yield tmp_path
    if os.geteuid() == 0:  # immutable files would outlive pytest's clean-up
        subprocess.run(["chattr", "-R", "-i", str(tmp_path)], capture_output=True)
    for path in tmp_path.rglob("*"):
        if path.is_dir():
            path.chmod(0o755)


def read_only_mount(folder: Path) -> tuple[str, ...]:
    """A command prefix that runs the rest with ``folder`` mounted read-only."""
    script = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"'
    return ("unshare", "--mount", "--map-root-user", "sh", "-c", script, str(folder))


def make_database(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE kept (x)")
    conn.close()


def not_a_database(place: Path) -> Path:
    path = place / "imgurbot.db"
    path.write_text("these are my notes, not a database\n")
    return path


def a_folder(place: Path) -> Path:
    path = place / "imgurbot.db"
    path.mkdir()
    return path


def under_a_file(place: Path) -> Path:
    (place / "data").write_text("a file where a folder should be")
    return place / "data" / "imgurbot.db"


def read_only_file(place: Path) -> Path:
    path = place / "imgurbot.db"
    make_database(path)
    lock_against_writes(path, 0o444)
    return path


def uncreatable_folder(place: Path) -> Path:
    locked = place / "locked"
    locked.mkdir()
    lock_against_writes(locked, 0o555)
    return locked / "data" / "imgurbot.db"


def on_a_read_only_mount(place: Path) -> Path:
    path = place / "imgurbot.db"
    make_database(path)
    return path


CASES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "not a database": (not_a_database, "is not an SQLite database"),
    "a folder": (a_folder, "is a folder; name a file inside it"),
    "under a file": (under_a_file, "which is a file, not a folder"),
    "read-only file": (read_only_file, "is read-only; make it writable by"),
    "uncreatable folder": (uncreatable_folder, "which cannot be created ("),
    "read-only mount": (on_a_read_only_mount, "is on a read-only file system"),
}


def _store_sentence(stderr: str) -> str:
    (line,) = [line for line in stderr.splitlines() if "[store] path =" in line]
    return line[line.index("[store] path =") :]


@pytest.mark.parametrize("case", list(CASES))
def test_check_and_run_explain_an_unusable_database_in_the_same_words(place, closed_port, case):
    setup, words = CASES[case]
    database = setup(place)
    env = {
        "DISCORD_TOKEN": "storage-token",
        "IMGUR_CLIENT_ID": "storage-client",
        "IMGURBOT_DISCORD__API_BASE_URL": f"http://127.0.0.1:{closed_port}/api/v10",
        "IMGURBOT_STORE__PATH": f'"{database}"',
    }
    prefix = read_only_mount(place) if case == "read-only mount" else ()
    before = database.read_bytes() if database.is_file() else None

    checked = imgurbot("check", env=env, cwd=place, prefix=prefix)
    ran = imgurbot("run", env=env, cwd=place, prefix=prefix)

    assert_failure(checked, ExitStatus.STORAGE, words, lines=1)
    assert_failure(ran, ExitStatus.STORAGE, words, lines=1)
    assert _store_sentence(checked.stderr) == _store_sentence(ran.stderr)
    assert "logging in" not in ran.stderr  # stopped before Discord
    if before is not None:
        assert database.read_bytes() == before  # nothing lost


def test_a_missing_folder_is_created_and_the_bot_goes_on(place, closed_port):
    database = place / "new" / "deeper" / "imgurbot.db"
    env = {
        "DISCORD_TOKEN": "storage-token",
        "IMGUR_CLIENT_ID": "storage-client",
        "IMGURBOT_DISCORD__API_BASE_URL": f"http://127.0.0.1:{closed_port}/api/v10",
        "IMGURBOT_STORE__PATH": f'"{database}"',
    }
    checked = imgurbot("check", env=env, cwd=place)
    assert checked.returncode == 0, checked.stderr
    assert f"database {database} writable" in checked.stdout
    shutil.rmtree(place / "new")
    ran = imgurbot("run", env=env, cwd=place)
    # The database was fine: the bot went on to Discord, which is down here.
    assert_failure(ran, ExitStatus.UNREACHABLE, "cannot reach Discord")
    assert database.exists()


# -- PostgreSQL ([store] url) ---------------------------------------------------------------


def _postgres_env(closed_port: int, url: str) -> dict[str, str]:
    return {
        "DISCORD_TOKEN": "storage-token",
        "IMGUR_CLIENT_ID": "storage-client",
        "IMGURBOT_DISCORD__API_BASE_URL": f"http://127.0.0.1:{closed_port}/api/v10",
        "IMGURBOT_STORE__URL": f'"{url}"',
    }


def test_a_postgresql_server_that_does_not_answer_is_said_with_status_3(place, closed_port):
    env = _postgres_env(closed_port, f"postgresql://imgurbot@127.0.0.1:{closed_port}/imgurbot")
    checked = imgurbot("check", env=env, cwd=place)
    ran = imgurbot("run", env=env, cwd=place)
    words = "the PostgreSQL server refused to connect"
    assert_failure(checked, ExitStatus.UNREACHABLE, words)
    assert_failure(ran, ExitStatus.UNREACHABLE, words)
    assert "logging in" not in ran.stderr  # stopped before Discord
    assert not list(place.iterdir())  # and no SQLite file was made beside it


async def test_a_postgresql_database_that_does_not_exist_is_said_with_status_4(
    place, closed_port, postgres_url
):
    missing = postgres_url.rsplit("/", 1)[0] + "/imgurbot_no_such_database"
    env = _postgres_env(closed_port, missing)
    checked = imgurbot("check", env=env, cwd=place)
    ran = imgurbot("run", env=env, cwd=place)
    words = 'PostgreSQL refused the connection: database "imgurbot_no_such_database"'
    assert_failure(checked, ExitStatus.STORAGE, words)
    assert_failure(ran, ExitStatus.STORAGE, words)


def test_migrate_says_what_it_needs_and_where_it_could_not_go(place, closed_port):
    database = place / "imgurbot.db"
    make_database(database)
    env = {"IMGURBOT_STORE__PATH": f'"{database}"'}
    nowhere = imgurbot("migrate", env=env, cwd=place)
    assert_failure(nowhere, ExitStatus.CONFIG, "migrate needs the PostgreSQL database")
    with_password = imgurbot("migrate", "--to", "postgresql://u:hunter2@h/db", env=env, cwd=place)
    assert_failure(with_password, ExitStatus.CONFIG, "must not hold a password")
    assert "hunter2" not in with_password.output
    down = f"postgresql://imgurbot@127.0.0.1:{closed_port}/imgurbot"
    unreachable = imgurbot("migrate", "--to", down, env=env, cwd=place)
    assert_failure(unreachable, ExitStatus.UNREACHABLE, "the PostgreSQL server refused to connect")
