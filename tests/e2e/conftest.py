"""End-to-end harness: the genuine discord.py bot ⇄ fake Discord, and the bot ⇄ Imgur emulator.

``world`` starts both fakes on 127.0.0.1, builds the real bot from a real ``Config`` (the
same ``open_bot`` that ``imgurbot run`` uses, pointed at the fakes through its own
``[discord]`` and ``[imgur]`` settings), connects it, and tears everything down after.
Nothing between the fake Discord and the cogs is mocked.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import discord
import pytest

from bot.app import EXTENSIONS, ImgurBot, open_bot
from bot.config import Config, load_config
from fakes.discord import FakeDiscord
from fakes.discord.models import Channel, Guild, User
from fakes.imgur.app import Emulator, EmulatorConfig

TOKEN = "e2e-discord-token"
CLIENT_ID = "e2e-imgur-client"


@dataclass
class World:
    fd: FakeDiscord
    emu: Emulator
    bot: ImgurBot
    guild: Guild
    sfw: Channel
    nsfw: Channel
    alice: User
    bob: User
    # Ends this bot as its process ending would (set by ``start_world``).
    closer: Callable[[], object] | None = field(default=None, repr=False, compare=False)

    async def stop(self) -> None:
        """Stop the bot and release all it held (its database included), as an exit does:
        what a later ``start_world()`` opens is a new process's bot."""
        await self.closer()

    @property
    def guild_object(self) -> discord.Object:
        """The test guild as discord.py addresses it (``guild=`` arguments)."""
        return discord.Object(id=int(self.guild.id))

    async def run(self, *path: str, user: User | None = None, channel=..., **options):
        """Run ``/imgur <path>`` and wait until its answer is final."""
        record = await self.fd.slash(
            *path,
            options=options,
            user=user or self.alice,
            channel=self.sfw if channel is ... else channel,
        )
        await record.wait_done(timeout=15)
        return record


def make_config(
    fd: FakeDiscord, emu: Emulator, guild: Guild, tmp_path: Path, **overrides: str
) -> Config:
    env = {
        "DISCORD_TOKEN": TOKEN,
        "IMGUR_CLIENT_ID": CLIENT_ID,
        "IMGURBOT_DISCORD__API_BASE_URL": fd.rest_url,
        "IMGURBOT_DISCORD__GATEWAY_URL": fd.gateway_url,
        "IMGURBOT_DISCORD__DEV_GUILD_ID": str(guild.id),
        "IMGURBOT_DISCORD__COOLDOWN_PER_USER_S": "0",
        "IMGURBOT_IMGUR__API_BASE_URL": emu.base_url,
        "IMGURBOT_IMGUR__USE_EMULATOR": "never",
        "IMGURBOT_IMGUR__MAX_RETRIES": "1",
        "IMGURBOT_IMGUR__BACKOFF_BASE_S": "0.01",
        "IMGURBOT_IMGUR__BACKOFF_MAX_S": "0.02",
        "IMGURBOT_STORE__PATH": f'"{tmp_path / "imgurbot.db"}"',
        # The emulator runs beside the bot here, so its template images are trusted as the
        # built-in emulator's are (tests override this to see the default refuse them).
        "IMGURBOT_MEMES__EXTRA_TEMPLATE_ORIGINS": f'["{emu.base_url}"]',
    }
    env.update({f"IMGURBOT_{k.upper()}": v for k, v in overrides.items()})
    return load_config(None, env)


@pytest.fixture
async def start_world(tmp_path) -> AsyncIterator[Callable[..., object]]:
    """``world = await start_world(clock=FakeClock(), DISCORD__COOLDOWN_PER_USER_S="5")``"""
    started: list[tuple[ImgurBot, asyncio.Task, object]] = []
    async with FakeDiscord(token=TOKEN) as fd, Emulator(EmulatorConfig(seed=7)) as emu:
        guild = fd.add_guild("e2e")
        sfw = fd.add_channel(guild, "general")
        nsfw = fd.add_channel(guild, "after-dark", nsfw=True)
        alice, bob = fd.add_user("alice"), fd.add_user("bob")

        async def start(*, clock=None, extensions=EXTENSIONS, **overrides: str) -> World:
            config = make_config(fd, emu, guild, tmp_path, **overrides)
            cm = open_bot(config, clock=clock, extensions=extensions, guild_ready_timeout=0.05)
            bot = await cm.__aenter__()
            task = asyncio.create_task(bot.start(TOKEN))
            entry = (bot, task, cm)
            started.append(entry)

            async def stop() -> None:
                if entry in started:
                    started.remove(entry)
                    await close(*entry)

            await fd.wait_until_ready(timeout=15)
            await asyncio.wait_for(bot.wait_until_ready(), 15)
            return World(fd, emu, bot, guild, sfw, nsfw, alice, bob, closer=stop)

        async def close(bot, task, cm) -> None:
            await bot.drain_and_close()
            await asyncio.wait_for(task, 10)
            await cm.__aexit__(None, None, None)

        try:
            yield start
        finally:
            for entry in reversed(started):
                await close(*entry)


@pytest.fixture
async def world(start_world) -> World:
    return await start_world()
