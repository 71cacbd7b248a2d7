"""The ``imgurbot`` command as a person runs it: help, bad config, secrets, check."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SUBCOMMANDS = ["run", "check", "sync", "emulator", "gallery"]
MARKER = "MARKER-d1sc0rd-t0ken-5ecret"


def imgurbot(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("IMGURBOT_")
        and k not in ("DISCORD_TOKEN", "IMGUR_CLIENT_ID", "IMGUR_CLIENT_SECRET")
    }
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        env={**base, **(env or {}), "PYTHONPATH": str(REPO)},
        cwd=cwd or REPO,
        timeout=60,
    )


def test_top_level_help_lists_every_subcommand():
    result = imgurbot("--help")
    assert result.returncode == 0
    for name in SUBCOMMANDS:
        assert name in result.stdout


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_every_subcommand_has_help(name):
    result = imgurbot(name, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: imgurbot {name}")


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("[ledger]\nguild_flor = 1\n", "ledger.guild_flor: unknown setting"),
        ('[imgur]\nmax_retries = "lots"\n', "imgur.max_retries = 'lots'"),
        ("[cache]\nttl_search_s = -5\n", "cache.ttl_search_s = -5"),
    ],
)
def test_bad_config_exits_2_naming_the_key(tmp_path, toml, expected):
    config = tmp_path / "config.toml"
    config.write_text(toml)
    result = imgurbot("--config", str(config), "check")
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_missing_config_file_exits_2(tmp_path):
    result = imgurbot("--config", str(tmp_path / "absent.toml"), "check")
    assert result.returncode == 2
    assert "does not exist" in result.stderr


def test_bad_env_override_exits_2(tmp_path):
    result = imgurbot("check", env={"IMGURBOT_LOGGING__LEVEL": "chatty"}, cwd=tmp_path)
    assert result.returncode == 2
    assert "logging.level = 'CHATTY'" in result.stderr


def test_check_reports_unwritable_database(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = imgurbot(
        "check", env={"IMGURBOT_STORE__PATH": f'"{blocker}/sub/db.sqlite"'}, cwd=tmp_path
    )
    assert result.returncode == 1
    assert "store.path" in result.stderr and "not writable" in result.stderr


def test_check_never_shows_the_token_even_at_debug(tmp_path):
    log_file = tmp_path / "imgurbot.log"
    result = imgurbot(
        "check",
        env={
            "DISCORD_TOKEN": MARKER,
            "IMGURBOT_LOGGING__LEVEL": "DEBUG",
            "IMGURBOT_LOGGING__FILE": f'"{log_file}"',
            "IMGURBOT_STORE__PATH": f'"{tmp_path / "db.sqlite"}"',
        },
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "config ok" in result.stdout
    assert log_file.exists()
    assert MARKER not in result.stdout + result.stderr + log_file.read_text()
