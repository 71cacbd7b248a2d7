"""``imgurbot run`` as a real process: it connects, answers, stops cleanly on SIGTERM, holds
its database alone, and reports its health to ``imgurbot check --health``."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from processes import assert_failure, imgurbot_async, read_until, start, stop

from bot.failures import ExitStatus
from fakes.discord import FakeDiscord
from fakes.imgur.app import Emulator, EmulatorConfig

from .conftest import CLIENT_ID, TOKEN

REPO = Path(__file__).resolve().parents[2]


async def test_sigterm_finishes_the_running_command_then_exits_cleanly(tmp_path):
    async with FakeDiscord(token=TOKEN) as fd, Emulator(EmulatorConfig(seed=5)) as emu:
        guild = fd.add_guild("proc")
        channel = fd.add_channel(guild, "general")
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("IMGURBOT_")},
            "PYTHONPATH": str(REPO),
            "DISCORD_TOKEN": TOKEN,
            "IMGUR_CLIENT_ID": CLIENT_ID,
            "IMGURBOT_DISCORD__API_BASE_URL": fd.rest_url,
            "IMGURBOT_DISCORD__GATEWAY_URL": fd.gateway_url,
            "IMGURBOT_DISCORD__DEV_GUILD_ID": guild.id,
            "IMGURBOT_IMGUR__API_BASE_URL": emu.base_url,
            "IMGURBOT_IMGUR__USE_EMULATOR": "never",
            "IMGURBOT_STORE__PATH": f'"{tmp_path / "bot.db"}"',
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=tmp_path,
        )  # fmt: skip
        try:
            await fd.wait_until_ready(timeout=30)
            # Slash commands only exist once the bot has synced them to the dev guild.
            for _ in range(100):
                if fd.synced_commands(guild):
                    break
                await asyncio.sleep(0.1)
            emu.faults.add("latency", path_prefix="/3/gallery", seconds=1.0)
            record = await fd.slash("imgur", "frontpage", channel=channel)
            await record.wait_response(timeout=10)
            proc.send_signal(signal.SIGTERM)
            await record.wait_done(timeout=15)
            assert not record.original.ephemeral and record.original.embed["title"]
            code = await asyncio.wait_for(proc.wait(), 30)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        stderr = (await proc.stderr.read()).decode()
        assert code == 0, stderr
        assert "finishing in-flight commands" in stderr
        assert "Traceback" not in stderr, stderr
        assert TOKEN not in stderr


async def test_imgurbot_sync_publishes_the_commands_globally_or_to_one_guild(tmp_path):
    async with FakeDiscord(token=TOKEN) as fd, Emulator(EmulatorConfig(seed=5)) as emu:
        guild = fd.add_guild("sync")
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("IMGURBOT_")},
            "PYTHONPATH": str(REPO),
            "DISCORD_TOKEN": TOKEN,
            "IMGUR_CLIENT_ID": CLIENT_ID,
            "IMGURBOT_DISCORD__API_BASE_URL": fd.rest_url,
            "IMGURBOT_IMGUR__API_BASE_URL": emu.base_url,
            "IMGURBOT_IMGUR__USE_EMULATOR": "never",
            "IMGURBOT_STORE__PATH": f'"{tmp_path / "bot.db"}"',
        }

        async def sync(*args: str) -> str:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "sync", *args,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                env=env, cwd=tmp_path,
            )  # fmt: skip
            out, err = await asyncio.wait_for(proc.communicate(), 60)
            assert proc.returncode == 0, err.decode()
            return out.decode()

        names = {"imgur", "imgur-admin", "Upload to Imgur", "highlights", "meme"}
        assert f"synced {len(names)} commands globally (may take a minute to show)" in await sync()
        assert {c["name"] for c in fd.synced_commands(None)} == names
        assert not fd.synced_commands(guild)
        assert f"synced {len(names)} commands to guild {guild.id}" in await sync(
            "--guild", guild.id
        )
        assert {c["name"] for c in fd.synced_commands(guild)} == names


def run_env(fd: FakeDiscord, emu: Emulator, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "DISCORD_TOKEN": TOKEN,
        "IMGUR_CLIENT_ID": CLIENT_ID,
        "IMGURBOT_DISCORD__API_BASE_URL": fd.rest_url,
        "IMGURBOT_DISCORD__GATEWAY_URL": fd.gateway_url,
        "IMGURBOT_IMGUR__API_BASE_URL": emu.base_url,
        "IMGURBOT_IMGUR__USE_EMULATOR": "never",
        "IMGURBOT_STORE__PATH": f'"{tmp_path / "bot.db"}"',
        **extra,
    }


async def test_a_second_bot_on_the_same_database_is_refused_naming_the_first(tmp_path):
    async with FakeDiscord(token=TOKEN) as fd, Emulator(EmulatorConfig(seed=5)) as emu:
        fd.add_guild("one")
        env = run_env(fd, emu, tmp_path)
        first = await start("run", env=env, cwd=tmp_path)
        try:
            await read_until(first, "commands")
            second = await imgurbot_async("run", env=env, cwd=tmp_path)
            assert_failure(
                second, ExitStatus.IN_USE, "another imgurbot is already running on",
                f"pid {first.pid} on ", "Stop it first",
            )  # fmt: skip
            assert "logging in" not in second.stderr  # refused before touching Discord
            # By hand, sync would also open the database under the running bot.
            synced = await imgurbot_async("sync", env=env, cwd=tmp_path)
            assert_failure(synced, ExitStatus.IN_USE, f"pid {first.pid} on ")

            # A crash releases the lock: nothing to clean up before starting again.
            first.kill()
            await first.wait()
            third = await start("run", env=env, cwd=tmp_path)
            try:
                said = await read_until(third, "commands unchanged since the last sync")
            finally:
                code, rest = await stop(third)
            assert code == 0, said + rest
            assert "Traceback" not in said + rest
        finally:
            if first.returncode is None:
                first.kill()
                await first.wait()


async def test_check_health_is_healthy_only_while_the_gateway_is_connected(tmp_path):
    fd = await FakeDiscord(token=TOKEN).start()
    try:
        async with Emulator(EmulatorConfig(seed=5)) as emu:
            fd.add_guild("health")
            env = run_env(fd, emu, tmp_path, IMGURBOT_RUN__HEARTBEAT_S="0.2")
            before = await imgurbot_async("check", "--health", env=env, cwd=tmp_path)
            assert_failure(before, 1, "unhealthy: no health record")

            bot = await start("run", env=env, cwd=tmp_path)
            try:
                await read_until(bot, "commands")
                health = await poll_health(env, tmp_path, until=0)
                assert health.stdout.startswith("healthy: connected to Discord's gateway")

                await fd.close()  # Discord goes away and stays away
                health = await poll_health(env, tmp_path, until=1)
                assert_failure(health, 1, "unhealthy: not connected to Discord's gateway")

                bot.kill()  # and then the bot dies without a word
                await bot.wait()
                health = await poll_health(env, tmp_path, until=1)
                assert_failure(health, 1, f"the bot (pid {bot.pid}) is not running any more")
            finally:
                if bot.returncode is None:
                    bot.kill()
                    await bot.wait()
    finally:
        await fd.close()


async def poll_health(env, cwd, *, until: int, within_s: float = 20):
    """``check --health`` until it answers ``until`` (the heartbeat runs every 0.2 s)."""
    async with asyncio.timeout(within_s):
        while True:
            health = await imgurbot_async("check", "--health", env=env, cwd=cwd)
            if health.returncode == until:
                return health
            await asyncio.sleep(0.2)


async def test_imgurbot_invite_prints_the_link_with_both_scopes_and_the_permissions(tmp_path):
    async with FakeDiscord(token=TOKEN) as fd, Emulator(EmulatorConfig(seed=5)) as emu:
        env = run_env(fd, emu, tmp_path)
        plain = await imgurbot_async("invite", env=env, cwd=tmp_path)
        chosen = await imgurbot_async("invite", "--guild", "987654321", env=env, cwd=tmp_path)
    assert plain.returncode == 0 and chosen.returncode == 0, plain.stderr + chosen.stderr
    assert plain.stdout.strip() == (
        f"https://discord.com/oauth2/authorize?client_id={fd.application_id}"
        "&scope=bot+applications.commands&permissions=84992"
    )  # View Channels 1024, Send Messages 2048, Embed Links 16384, Read Message History 65536
    assert chosen.stdout.strip().endswith("&guild_id=987654321&disable_guild_select=true")
    assert "View Channels, Send Messages, Embed Links, Read Message History" in plain.stderr
    assert "Traceback" not in plain.output + chosen.output
