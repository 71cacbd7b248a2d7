"""Every way going live can fail, provoked for real: the words, the exit status, no traceback.

Each test starts ``imgurbot`` as a process, the way an admin would after reading the README,
with one thing wrong. Discord is the fake Discord on 127.0.0.1, or a port nothing listens on
when "the network is down".
"""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import subprocess
import sys

import pytest
from processes import assert_failure, clean_env, imgurbot, imgurbot_async, start, stop

from bot.failures import ExitStatus
from fakes.discord import FakeDiscord

TOKEN = "first-run-token"


def offline_env(tmp_path, port: int, **extra: str) -> dict[str, str]:
    """A complete configuration whose Discord is a port nothing listens on."""
    return {
        "DISCORD_TOKEN": TOKEN,
        "IMGUR_CLIENT_ID": "first-run-client",
        "IMGURBOT_DISCORD__API_BASE_URL": f"http://127.0.0.1:{port}/api/v10",
        "IMGURBOT_DISCORD__GATEWAY_URL": f"ws://127.0.0.1:{port}/gateway",
        "IMGURBOT_IMGUR__API_BASE_URL": f"http://127.0.0.1:{port}",
        "IMGURBOT_STORE__PATH": f'"{tmp_path / "bot.db"}"',
        **extra,
    }


def fake_env(tmp_path, fd: FakeDiscord, **extra: str) -> dict[str, str]:
    return {
        "DISCORD_TOKEN": TOKEN,
        "IMGUR_CLIENT_ID": "first-run-client",
        "IMGURBOT_DISCORD__API_BASE_URL": fd.rest_url,
        "IMGURBOT_DISCORD__GATEWAY_URL": fd.gateway_url,
        "IMGURBOT_STORE__PATH": f'"{tmp_path / "bot.db"}"',
        **extra,
    }


# -- the network is down --------------------------------------------------------------------


@pytest.mark.parametrize("command", [["run"], ["sync"], ["invite"]])
def test_discord_unreachable_exits_3(tmp_path, closed_port, command):
    result = imgurbot(*command, env=offline_env(tmp_path, closed_port), cwd=tmp_path)
    assert_failure(
        result, ExitStatus.UNREACHABLE, "cannot reach Discord at", "connection refused",
        "Check this machine's network",
    )  # fmt: skip


# -- Discord says no ------------------------------------------------------------------------


async def test_a_refused_token_exits_2_at_run_sync_and_invite(tmp_path):
    async with FakeDiscord(token="the-real-token") as fd:
        env = fake_env(tmp_path, fd)  # TOKEN is not the fake's token
        for command in (["run"], ["sync"], ["invite"]):
            result = await imgurbot_async(*command, env=env, cwd=tmp_path)
            assert_failure(
                result, ExitStatus.CONFIG, "Discord refused DISCORD_TOKEN", "Reset Token"
            )


async def test_dev_guild_the_bot_is_not_in_exits_2_with_the_invite_link(tmp_path):
    async with FakeDiscord(token=TOKEN) as fd:
        fd.add_guild("joined")
        elsewhere = 123456789012345678
        env = fake_env(tmp_path, fd, IMGURBOT_DISCORD__DEV_GUILD_ID=str(elsewhere))
        for command in (["run"], ["sync", "--guild", str(elsewhere)]):
            result = await imgurbot_async(*command, env=env, cwd=tmp_path)
            assert_failure(
                result, ExitStatus.CONFIG, "50001 Missing Access", "applications.commands",
                f"client_id={fd.application_id}", f"guild_id={elsewhere}",
                "scope=bot+applications.commands",
            )  # fmt: skip


async def test_a_bot_outgrowing_one_shard_exits_2_and_says_how_to_shard(tmp_path):
    """Discord closes with 4011 when one shard would hold too many servers (here, more
    than one); the sharded bot (one shard per server) starts on the same servers."""
    async with FakeDiscord(token=TOKEN) as fd:
        fd.add_guild_per_shard(2)
        fd.max_guilds_per_shard = 1
        result = await imgurbot_async("run", env=fake_env(tmp_path, fd), cwd=tmp_path)
        assert_failure(
            result, ExitStatus.CONFIG, "Discord requires sharding",
            '[discord] shard_count = "auto"',
        )  # fmt: skip
        fd.recommended_shards = 2
        fd.session_start_limit.max_concurrency = 2
        env = fake_env(tmp_path, fd, IMGURBOT_DISCORD__SHARD_COUNT="auto")
        proc = await start("run", env=env, cwd=tmp_path)
        try:
            await fd.wait_until_ready(timeout=60, shards=2)
        finally:
            status, log = await stop(proc)
        assert status == 0 and "Traceback" not in log, log


# -- Imgur is not configured the way the settings ask -----------------------------------------


def test_use_emulator_never_without_a_client_id_exits_2(tmp_path, closed_port):
    env = offline_env(tmp_path, closed_port, IMGURBOT_IMGUR__USE_EMULATOR="never")
    del env["IMGUR_CLIENT_ID"]
    for command in (["run"], ["gallery"], ["check"]):
        result = imgurbot(*command, env=env, cwd=tmp_path)
        assert_failure(result, ExitStatus.CONFIG, 'and [imgur] use_emulator = "never"')


def test_commercial_without_a_rapidapi_key_exits_2(tmp_path, closed_port):
    env = offline_env(tmp_path, closed_port, IMGURBOT_IMGUR__COMMERCIAL="true")
    result = imgurbot("run", env=env, cwd=tmp_path)
    assert_failure(result, ExitStatus.CONFIG, "commercial = true, but RAPIDAPI_KEY not set")


def test_a_token_without_a_client_id_refuses_to_serve_the_demo_to_a_real_server(
    tmp_path, closed_port
):
    env = offline_env(tmp_path, closed_port)
    del env["IMGUR_CLIENT_ID"]
    result = imgurbot("run", env=env, cwd=tmp_path)
    assert_failure(
        result, ExitStatus.CONFIG, "DISCORD_TOKEN is set but IMGUR_CLIENT_ID is not",
        "Imgur takes no new registrations since 2025", 'use_emulator = "always"',
    )  # fmt: skip
    assert "logging in" not in result.stderr  # refused before touching Discord


@pytest.mark.parametrize("command", ["sync", "invite"])
def test_sync_and_invite_without_a_token_exit_2(tmp_path, command):
    result = imgurbot(command, cwd=tmp_path)
    assert_failure(result, ExitStatus.CONFIG, "DISCORD_TOKEN is not set", "Create the bot")


# -- the emulator's port --------------------------------------------------------------------


def test_emulator_on_a_busy_port_exits_5(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = imgurbot("emulator", "--port", str(port), cwd=tmp_path)
    assert_failure(
        result, ExitStatus.IN_USE, f"port {port} on 127.0.0.1 is already in use", "--port"
    )


@pytest.mark.parametrize("port", ["70000", "-1", "http"])
def test_emulator_port_out_of_range_exits_2(tmp_path, port):
    result = imgurbot("emulator", "--port", port, cwd=tmp_path)
    assert result.returncode == ExitStatus.CONFIG
    assert "argument --port" in result.stderr and "Traceback" not in result.output


def test_emulator_port_out_of_range_in_the_config_exits_2(tmp_path):
    result = imgurbot("emulator", env={"IMGURBOT_EMULATOR__PORT": "70000"}, cwd=tmp_path)
    assert_failure(result, ExitStatus.CONFIG, "IMGURBOT_EMULATOR__PORT = '70000'")


# -- Ctrl-C ---------------------------------------------------------------------------------


def test_ctrl_c_during_imports_ends_in_a_sentence(tmp_path, closed_port):
    # -X importtime reports each import as it finishes: once a discord.py module has been
    # imported, the process is deep in its start-up imports, and Ctrl-C lands there.
    proc = subprocess.Popen(
        [sys.executable, "-X", "importtime", "-m", "bot", "run"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=clean_env(offline_env(tmp_path, closed_port)), cwd=tmp_path,
    )  # fmt: skip
    try:
        for line in proc.stderr:
            if re.search(r"\|\s+discord\.", line):
                proc.send_signal(signal.SIGINT)
                break
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    words = [line for line in err.splitlines() if not line.startswith("import time:")]
    assert proc.returncode == ExitStatus.INTERRUPTED, "\n".join(words)
    assert words == ["imgurbot: interrupted"], words
    assert "Traceback" not in out + err


# -- under a supervisor ---------------------------------------------------------------------


async def test_supervised_without_a_token_stays_up_unhealthy_and_says_why(tmp_path):
    env = {
        "IMGURBOT_RUN__SUPERVISED": "true",
        "IMGURBOT_STORE__PATH": f'"{tmp_path / "bot.db"}"',
    }
    proc = await start("run", env=env, cwd=tmp_path)
    try:
        said = []
        async with asyncio.timeout(30):
            while not any("not retrying" in line for line in said):
                said.append((await proc.stderr.readline()).decode())
        assert any("DISCORD_TOKEN is not set" in line for line in said), said
        assert proc.returncode is None  # still up: no restart loop under Docker

        health = await imgurbot_async("check", "--health", env=env, cwd=tmp_path)
        assert_failure(health, 1, "DISCORD_TOKEN is not set", lines=4)
        assert "unhealthy" in health.stderr

        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(15):
            code = await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    rest = (await proc.stderr.read()).decode()
    assert code == ExitStatus.CONFIG
    assert "Traceback" not in "".join(said) + rest
