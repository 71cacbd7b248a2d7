"""The ``imgurbot`` command as a person runs it: help, bad config, secrets, check."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import urllib.request
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


SEED_IMAGE = re.compile(r"^http://127\.0\.0\.1:\d+/[A-Za-z0-9]{5,10}\.(jpg|png|gif|mp4|webm)$")
SEED_ALBUM = re.compile(r"^http://127\.0\.0\.1:\d+/a/[A-Za-z0-9]{5,10}$")


def test_run_without_credentials_says_what_to_set_and_shows_imgur_working(tmp_path):
    result = imgurbot("run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "DISCORD_TOKEN is not set" in result.stderr
    assert "IMGUR_CLIENT_ID" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    links = result.stdout.split()
    assert len(links) >= 20
    assert all(SEED_IMAGE.match(x) or SEED_ALBUM.match(x) for x in links), links[:5]


def test_gallery_from_the_emulator_prints_seed_shaped_links(tmp_path):
    result = imgurbot("gallery", "--emulator", "--section", "top", "--window", "week", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    links = result.stdout.split()
    assert len(links) == 60
    assert any(SEED_ALBUM.match(x) for x in links) and any(SEED_IMAGE.match(x) for x in links)


def test_gallery_bad_page_is_a_clear_error(tmp_path):
    result = imgurbot("gallery", "--emulator", "--page", "-1", cwd=tmp_path)
    assert result.returncode == 2
    assert "page" in result.stderr and "Traceback" not in result.stderr


def test_emulator_subcommand_serves_the_api(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "emulator", "--port", "0", "--seed", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        line = proc.stdout.readline()
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
        assert match, line
        request = urllib.request.Request(
            f"{match.group(1)}/3/gallery/hot/viral/day/0",
            headers={"Authorization": "Client-ID cli-test"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = json.load(response)
        assert body["success"] is True and len(body["data"]) == 60
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()


async def test_check_online_verifies_both_services_and_never_leaks_the_token(tmp_path):
    from fakes.discord import FakeDiscord
    from fakes.imgur.app import Emulator, EmulatorConfig

    log_file = tmp_path / "imgurbot.log"
    async with FakeDiscord(token=MARKER) as fd, Emulator(EmulatorConfig(seed=2)) as emu:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("IMGURBOT_")},
            "PYTHONPATH": str(REPO),
            "DISCORD_TOKEN": MARKER,
            "IMGUR_CLIENT_ID": "online-check-client",
            "IMGURBOT_DISCORD__API_BASE_URL": fd.rest_url,
            "IMGURBOT_IMGUR__API_BASE_URL": emu.base_url,
            "IMGURBOT_IMGUR__USE_EMULATOR": "never",
            "IMGURBOT_LOGGING__LEVEL": "DEBUG",
            "IMGURBOT_LOGGING__FILE": f'"{log_file}"',
            "IMGURBOT_STORE__PATH": f'"{tmp_path / "db.sqlite"}"',
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "check", "--online",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=tmp_path,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        stdout, stderr = out.decode(), err.decode()
        assert proc.returncode == 0, stderr
        assert "discord ok: logged in as" in stdout
        assert re.search(r"imgur ok: [\d,]+ of 12500 client credits left today", stdout)

        env["DISCORD_TOKEN"] = "wrong-" + MARKER
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "check", "--online",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=tmp_path,
        )  # fmt: skip
        out2, err2 = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 1
        assert "Discord rejected DISCORD_TOKEN" in err2.decode()
    everything = stdout + stderr + out2.decode() + err2.decode() + log_file.read_text()
    assert MARKER not in everything
