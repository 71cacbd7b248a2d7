"""``imgurbot run`` as a real process: it connects, answers, and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

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

        names = {"imgur", "imgur-admin", "meme", "Upload to Imgur"}
        assert "synced 4 commands globally" in await sync()
        assert {c["name"] for c in fd.synced_commands(None)} == names
        assert not fd.synced_commands(guild)
        assert f"synced 4 commands to guild {guild.id}" in await sync("--guild", guild.id)
        assert {c["name"] for c in fd.synced_commands(guild)} == names
