"""Cluster mode: the real bot running its shards with ``AutoShardedBot``, in one process and
in two, against the fake Discord (which routes each guild to the shard that owns it).

The two processes share one PostgreSQL database (a schema of the test's own), as a cluster
does; each is named after its shards there.
"""

from __future__ import annotations

import asyncio

import pytest
from processes import read_until, start, stop

from bot.app import ShardedImgurBot, open_bot
from bot.health import Heartbeat
from fakes.discord import FakeDiscord, Guild
from fakes.imgur.app import Emulator, EmulatorConfig

from .conftest import CLIENT_ID, TOKEN, make_config


def interactions_by_shard(fd: FakeDiscord) -> dict[tuple[int, int], list[str]]:
    """Per shard ([id, count]): the guild ids of the interactions the fake sent it."""
    sent: dict[tuple[int, int], list[str]] = {}
    for session in fd.gateway.sessions.values():
        sent.setdefault(tuple(session.shard), []).extend(
            p["d"].get("guild_id") for p in session.sent if p["t"] == "INTERACTION_CREATE"
        )
    return sent


async def frontpage(fd: FakeDiscord, guild: Guild):
    record = await fd.slash("imgur", "frontpage", channel=guild.channel("general"))
    return await record.wait_done(timeout=15)


async def test_one_process_runs_the_recommended_shards_and_answers_every_guild(tmp_path):
    async with FakeDiscord(token=TOKEN) as fd, Emulator(EmulatorConfig(seed=7)) as emu:
        owners = fd.add_guild_per_shard(2)
        fd.recommended_shards = 2
        # Shards 0 and 1 may identify together (different rate-limit keys); the fake keeps
        # its 5-second rule per key, so a bot that ignored max_concurrency would be refused.
        fd.session_start_limit.max_concurrency = 2
        # A configured gateway (a proxy; the fake serves its gateway on a second path too) is
        # where the shards connect, not the URL in GET /gateway/bot's answer.
        proxy = fd.gateway_url + "/resume"
        config = make_config(
            fd, emu, owners[0], tmp_path, DISCORD__DEV_GUILD_ID="", DISCORD__SHARD_COUNT="auto",
            DISCORD__GATEWAY_URL=proxy,
        )  # fmt: skip
        async with open_bot(config, guild_ready_timeout=0.05) as bot:
            task = asyncio.create_task(bot.start(TOKEN))
            try:
                await fd.wait_until_ready(timeout=15, shards=2)
                await asyncio.wait_for(bot.wait_until_ready(), 15)
                assert isinstance(bot, ShardedImgurBot)
                assert bot.shard_count == 2 and sorted(bot.shards) == [0, 1]
                assert {c.path for c in fd.gateway.connections} == {"/gateway/resume"}
                assert bot.gateway_open()
                assert set(bot.gateway_latencies()) == {0, 1}
                assert {g.id for g in bot.guilds} == {int(g) for g in fd.world.guilds}
                assert fd.synced_commands(None)  # published globally, once for all shards

                for guild in owners.values():
                    answer = await frontpage(fd, guild)
                    assert answer.embed["title"] and not answer.ephemeral
                sent = interactions_by_shard(fd)
                assert sent[(0, 2)] == [owners[0].id] and sent[(1, 2)] == [owners[1].id]
                assert not any(r.status >= 400 for r in fd.requests("POST", "/interactions/"))
            finally:
                await bot.drain_and_close()
                await asyncio.wait_for(task, 10)


async def test_shards_of_one_rate_limit_key_identify_one_interval_apart(tmp_path):
    """With max_concurrency 1 both shards share a key: the second IDENTIFY waits for the
    interval (shortened on both sides here), so the fake never answers INVALID_SESSION."""
    async with FakeDiscord(token=TOKEN) as fd, Emulator(EmulatorConfig(seed=7)) as emu:
        owners = fd.add_guild_per_shard(2)
        fd.identify_interval = 0.5
        fd.session_start_limit.max_concurrency = 1
        starts = fd.session_start_limit.remaining
        config = make_config(
            fd, emu, owners[0], tmp_path, DISCORD__DEV_GUILD_ID="", DISCORD__SHARD_COUNT="2"
        )
        async with open_bot(config, guild_ready_timeout=0.05) as bot:
            assert isinstance(bot, ShardedImgurBot)
            bot.identify_interval_s = 0.5
            task = asyncio.create_task(bot.start(TOKEN))
            try:
                await fd.wait_until_ready(timeout=15, shards=2)
                await asyncio.wait_for(bot.wait_until_ready(), 15)
                # One connection and one session start per shard: nothing refused, retried.
                assert [c.kind for c in fd.gateway.connections] == ["identify", "identify"]
                assert fd.session_start_limit.remaining == starts - 2
                assert (await frontpage(fd, owners[1])).embed["title"]
            finally:
                await bot.drain_and_close()
                await asyncio.wait_for(task, 10)


async def test_health_is_connected_only_while_every_shard_is(tmp_path):
    """Shard 1 loses its session and must IDENTIFY again (discord.py then says
    "shard_ready", never "ready"): the health report follows it down and back up."""
    async with FakeDiscord(token=TOKEN) as fd, Emulator(EmulatorConfig(seed=7)) as emu:
        owners = fd.add_guild_per_shard(2)
        fd.session_start_limit.max_concurrency = 2
        fd.identify_interval = 0.2
        config = make_config(
            fd, emu, owners[0], tmp_path, DISCORD__DEV_GUILD_ID="", DISCORD__SHARD_COUNT="2"
        )
        async with open_bot(config, guild_ready_timeout=0.05) as bot:
            bot.identify_interval_s = 0.2
            heartbeat = Heartbeat(bot, tmp_path / "health.json", 60, bot.clock)
            task = asyncio.create_task(bot.start(TOKEN))
            try:
                await fd.wait_until_ready(timeout=15, shards=2)
                await asyncio.wait_for(bot.wait_until_ready(), 15)
                await until(lambda: heartbeat.connected)
                first_since = heartbeat.since

                lost = next(s for s in fd.gateway.sessions.values() if s.shard == [1, 2])
                fd.gateway.sessions.pop(lost.id)  # its RESUME will be refused
                await lost.connection.ws.close(code=4000)

                def identified_anew() -> bool:
                    again = [s for s in fd.gateway.sessions.values() if s.shard == [1, 2]]
                    return len(again) == 1 and again[0].ready and again[0].id != lost.id

                await until(identified_anew)
                await until(lambda: heartbeat.connected)
                assert heartbeat.since > first_since  # it was down in between
                assert (await heartbeat.probe()).gateway_connected
                assert (await frontpage(fd, owners[1])).embed["title"]
            finally:
                await bot.drain_and_close()
                await asyncio.wait_for(task, 10)


async def until(check, timeout: float = 15.0) -> None:  # noqa: ASYNC109
    """Poll state that has no event to wait on until ``check()`` holds."""
    async with asyncio.timeout(timeout):
        while not check():  # noqa: ASYNC110
            await asyncio.sleep(0.005)


def process_env(fd: FakeDiscord, emu: Emulator, store: dict[str, str]) -> dict[str, str]:
    return {
        **store,
        "DISCORD_TOKEN": TOKEN,
        "IMGUR_CLIENT_ID": CLIENT_ID,
        "IMGURBOT_DISCORD__API_BASE_URL": fd.rest_url,
        "IMGURBOT_DISCORD__GATEWAY_URL": fd.gateway_url,
        "IMGURBOT_DISCORD__COOLDOWN_PER_USER_S": "0",
        "IMGURBOT_IMGUR__API_BASE_URL": emu.base_url,
        "IMGURBOT_IMGUR__USE_EMULATOR": "never",
    }


# Only PostgreSQL is shared by processes: on SQLite the second bot is refused at start.
@pytest.mark.parametrize("engine", ["postgresql"])
async def test_two_processes_each_answer_only_the_guilds_of_their_shard(tmp_path, store_env):
    async with FakeDiscord(token=TOKEN) as fd, Emulator(EmulatorConfig(seed=7)) as emu:
        owners = fd.add_guild_per_shard(2)
        fd.session_start_limit.max_concurrency = 2
        procs = []
        try:
            for shard in (0, 1):
                env = process_env(fd, emu, store_env)
                env["IMGURBOT_STORE__PATH"] = f'"{tmp_path / "imgurbot.db"}"'  # health files
                proc = await start(
                    "run", "--shards", str(shard), "--shard-count", "2", env=env, cwd=tmp_path
                )
                procs.append(proc)
            await fd.wait_until_ready(timeout=60, shards=2)
            for proc in procs:
                # Synced, or found unchanged (the database is shared): the log says either.
                await read_until(proc, "globally (may take a minute to show)", within_s=60)
            shards = sorted(tuple(s.shard) for s in fd.gateway.connected_sessions())
            assert shards == [(0, 2), (1, 2)]  # one session each: each process its shard

            for guild in owners.values():
                answer = await frontpage(fd, guild)
                assert answer.embed["title"]
            sent = interactions_by_shard(fd)
            assert sent[(0, 2)] == [owners[0].id] and sent[(1, 2)] == [owners[1].id]
            # One database, a health file and a ledger name per process, from its shards.
            health = {p.name for p in tmp_path.glob("*.health.json")}
            assert health == {"shards-0.health.json", "shards-1.health.json"}

            # Shard 1's process stops: its guild goes unanswered, shard 0's still works.
            status, log = await stop(procs[1])
            assert status == 0 and "Traceback" not in log, log
            with pytest.raises(RuntimeError, match="no connected session owns the shard"):
                await fd.slash("imgur", "frontpage", channel=owners[1].channel("general"))
            assert (await frontpage(fd, owners[0])).embed["title"]
        finally:
            for proc in procs:
                if proc.returncode is None:
                    status, log = await stop(proc)
                    assert status == 0 and "Traceback" not in log, log


async def test_a_shard_id_beyond_the_count_is_refused_in_words(tmp_path):
    from processes import imgurbot_async

    result = await imgurbot_async(
        "run",
        "--shards",
        "2-3",
        "--shard-count",
        "3",
        env={"DISCORD_TOKEN": TOKEN, "IMGURBOT_STORE__PATH": f'"{tmp_path / "x.db"}"'},
    )
    assert result.returncode == 2 and "Traceback" not in result.output
    assert "--shards 2-3: shard 3 does not exist with shard_count = 3" in result.stderr
