"""Sharding against the fake Discord with discord.py's own ``AutoShardedClient``.

One process running three shards, and two processes' worth of clients (two
``AutoShardedBot``s in one test) owning different ``shard_ids`` of one count. The fake must
deliver each guild's READY entry, GUILD_CREATE, events and interactions only to the shard
``(guild_id >> 22) % shard_count``, and DMs to shard 0.
"""

from __future__ import annotations

import asyncio

import discord
import pytest
from discord import app_commands
from discord.ext import commands

from fakes.discord import FakeDiscord
from fakes.discord.gateway import shard_of

TOKEN = "test-token"


@app_commands.command(description="Which shard answers")
@app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
async def whoami(interaction: discord.Interaction) -> None:
    client = interaction.client
    shard = interaction.guild.shard_id if interaction.guild else 0
    await interaction.response.send_message(f"{client.user.name} shard {shard}")


class ShardedBot(commands.AutoShardedBot):
    def __init__(self, *, sync: bool, **options) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents.default(),
            guild_ready_timeout=0.05,
            **options,
        )
        self.sync = sync

    async def setup_hook(self) -> None:
        self.tree.add_command(whoami)
        if self.sync:
            await self.tree.sync()

    async def before_identify_hook(self, shard_id, *, initial: bool = False) -> None:
        """discord.py waits 5 s between IDENTIFYs; the fake's max_concurrency allows them
        together here, so don't."""


async def until(check, timeout: float = 5.0) -> None:  # noqa: ASYNC109
    """Poll bot-side state (discord.py offers no event for it) until ``check()`` holds."""
    async with asyncio.timeout(timeout):
        while not check():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def start(bot: ShardedBot) -> asyncio.Task:
    await bot.login(TOKEN)
    return asyncio.create_task(bot.connect())


async def stop(bot: ShardedBot, task: asyncio.Task) -> None:
    await bot.close()
    await asyncio.wait_for(task, 10)


def events_sent(fd: FakeDiscord, event: str) -> dict[int, list[dict]]:
    """Per shard id: the payloads of ``event`` the fake sent to that shard's sessions."""
    sent: dict[int, list[dict]] = {}
    for session in fd.gateway.sessions.values():
        sent.setdefault(session.shard[0], []).extend(
            p["d"] for p in session.sent if p["t"] == event
        )
    return sent


async def test_one_process_with_three_shards(fd: FakeDiscord) -> None:
    owners = fd.add_guild_per_shard(3)
    fd.recommended_shards = 3
    fd.session_start_limit.max_concurrency = 3
    starts = fd.session_start_limit.remaining
    bot = ShardedBot(sync=True)
    task = await start(bot)
    try:
        await fd.wait_until_ready(shards=3)
        await asyncio.wait_for(bot.wait_until_ready(), 10)
        assert bot.shard_count == 3 and sorted(bot.shards) == [0, 1, 2]
        assert fd.session_start_limit.remaining == starts - 3
        assert {g.id for g in bot.guilds} == {int(g) for g in fd.world.guilds}

        created = events_sent(fd, "GUILD_CREATE")
        for shard, payloads in created.items():
            assert {shard_of(p["id"], 3) for p in payloads} == {shard}
        for session in fd.gateway.sessions.values():
            ready = next(p["d"] for p in session.sent if p["t"] == "READY")
            assert ready["shard"] == session.shard
            assert all(shard_of(g["id"], 3) == session.shard[0] for g in ready["guilds"])

        for shard, guild in owners.items():
            record = await fd.slash("whoami", channel=guild.channel("general"))
            assert (await record.wait_done()).content == f"{fd.bot_user.username} shard {shard}"
        dm = await fd.slash("whoami")  # a DM: shard 0
        assert (await dm.wait_done()).content.endswith("shard 0")

        interactions = events_sent(fd, "INTERACTION_CREATE")
        for shard, payloads in interactions.items():
            assert {shard_of(p.get("guild_id"), 3) for p in payloads} == {shard}
        assert len(interactions[0]) == 2  # its guild's and the DM
    finally:
        await stop(bot, task)


async def test_two_clients_own_different_shards_of_one_count(fd: FakeDiscord) -> None:
    owners = fd.add_guild_per_shard(2)
    fd.session_start_limit.max_concurrency = 2
    first = ShardedBot(sync=True, shard_ids=[0], shard_count=2)
    second = ShardedBot(sync=False, shard_ids=[1], shard_count=2)
    first_task = await start(first)
    second_task = await start(second)
    try:
        await fd.wait_until_ready(shards=2)
        await asyncio.wait_for(first.wait_until_ready(), 10)
        await asyncio.wait_for(second.wait_until_ready(), 10)
        mine = {g.id for g in first.guilds}
        theirs = {g.id for g in second.guilds}
        assert mine == {int(g.id) for g in fd.world.guilds.values() if shard_of(g.id, 2) == 0}
        assert theirs == {int(g.id) for g in fd.world.guilds.values() if shard_of(g.id, 2) == 1}

        # A channel created later reaches only the client that owns the guild.
        news = fd.add_channel(owners[1], "news")
        await fd.flush()
        await until(lambda: second.get_channel(int(news.id)))
        assert first.get_channel(int(news.id)) is None

        record = await fd.slash("whoami", channel=owners[1].channel("general"))
        assert (await record.wait_done()).content.endswith("shard 1")
        assert len(events_sent(fd, "INTERACTION_CREATE").get(0, [])) == 0
    finally:
        await stop(second, second_task)
        await stop(first, first_task)


async def test_an_interaction_for_a_shard_nobody_runs_is_refused_clearly(
    fd: FakeDiscord,
) -> None:
    owners = fd.add_guild_per_shard(2)
    bot = ShardedBot(sync=True, shard_ids=[0], shard_count=2)
    task = await start(bot)
    try:
        await fd.wait_until_ready()
        with pytest.raises(RuntimeError, match="no connected session owns the shard"):
            await fd.slash("whoami", channel=owners[1].channel("general"))
    finally:
        await stop(bot, task)
