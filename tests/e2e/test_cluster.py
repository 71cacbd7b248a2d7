"""Three bot processes (shards 0, 1 and 2 of 3) as a cluster runs them: one fake Discord,
one Imgur emulator, one PostgreSQL database (a schema of the test's own) and one Redis.

Each guild's commands are answered once, by the process that owns its shard; an answer one
process fetched serves the others from Redis; a paginator clicked after its process
restarted gets an answer; and however the three spend at once, Imgur is never asked for
more than the one budget they share.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from processes import read_until, start, stop

from fakes.discord import FakeDiscord
from fakes.imgur.app import Emulator, EmulatorConfig

from .conftest import TOKEN
from .test_sharding import interactions_by_shard, process_env
from .test_uploads import click_and_confirm, delete_button_message, picture

pytestmark = pytest.mark.parametrize("engine", ["postgresql"])

SHARDS = 3
BUDGET = 90  # the whole bot's credits for the day, shared by the three processes


async def slash(fd: FakeDiscord, guild, *path: str, **options):
    record = await fd.slash(*path, channel=guild.channel("general"), options=options)
    await record.wait_done(timeout=20)
    return record


async def start_shard(shard: int, env: dict[str, str], cwd):
    return await start(
        "run", "--shards", str(shard), "--shard-count", str(SHARDS), env=env, cwd=cwd
    )


async def test_three_processes_share_one_database_one_cache_and_one_budget(
    tmp_path, store_env, redis_prefix
):
    redis_url, _ = redis_prefix
    config = EmulatorConfig(seed=5, client_daily_limit=BUDGET)  # Imgur's limit for the day
    async with FakeDiscord(token=TOKEN) as fd, Emulator(config) as emu:
        guilds = fd.add_guild_per_shard(SHARDS)
        fd.session_start_limit.max_concurrency = SHARDS
        env = process_env(fd, emu, store_env) | {
            "IMGURBOT_STORE__PATH": f'"{tmp_path / "imgurbot.db"}"',  # health files only
            "IMGURBOT_CACHE__REDIS_URL": redis_url,
            "IMGURBOT_LEDGER__DAILY_CLIENT_BUDGET": str(BUDGET),
            "IMGURBOT_LEDGER__SAFETY_RESERVE": "0",
            "IMGURBOT_LEDGER__SCHEDULER_RESERVE": "0",
            "IMGURBOT_LEDGER__GUILD_FLOOR": "0",
            "IMGURBOT_LEDGER__USER_BURST_PER_MINUTE": "1000",
        }
        procs: dict[int, asyncio.subprocess.Process] = {}
        try:
            for shard in range(SHARDS):  # one at a time: their migrations are serialised
                procs[shard] = await start_shard(shard, env, tmp_path)
                await read_until(procs[shard], "globally", within_s=60)
            await fd.wait_until_ready(timeout=60, shards=SHARDS)

            # Every guild answered once, by its own shard's process.
            pages = {}
            for shard, guild in guilds.items():
                pages[shard] = await slash(fd, guild, "imgur", "frontpage")
                assert pages[shard].original.embed["title"]
            by_shard = interactions_by_shard(fd)
            assert {s: by_shard[(s, SHARDS)] for s in guilds} == {
                s: [g.id] for s, g in guilds.items()
            }
            # One Imgur call for the front page: the first process's fetch served the rest.
            assert emu.stats.calls("gallery") == 1
            before_upload = set(emu.data.images)

            # Buttons from before a restart of their process: the paginator's were greyed
            # out as it stopped; an upload's "Delete from Imgur" still works after it.
            upload = await slash(
                fd, guilds[1], "imgur", "upload", file=fd.add_attachment("cat.png", picture())
            )
            holder = await delete_button_message(upload)
            (uploaded,) = emu.data.images.keys() - before_upload
            status, log = await stop(procs[1])
            assert status == 0 and "Traceback" not in log, log
            assert all(b.get("disabled") for b in pages[1].original.buttons if "custom_id" in b)
            procs[1] = await start_shard(1, env, tmp_path)
            await read_until(procs[1], "not synced again", within_s=60)
            await fd.wait_until_ready(timeout=60, shards=SHARDS)
            await click_and_confirm(SimpleNamespace(fd=fd), holder, None)
            assert uploaded not in emu.data.images

            # The three spend at once, past what the budget allows: never past it at Imgur.
            asks = [
                slash(fd, guild, "imgur", "search", query=f"cat {shard} {n}")
                for shard, guild in guilds.items()
                for n in range(40)
            ]
            answers = await asyncio.gather(*asks)
            said = [a.last_message.content or "" for a in answers]
            refused = [s for s in said if s.startswith("The bot has used today's Imgur budget")]
            assert refused  # the budget ran out before the commands did
            assert emu.stats.credits_charged <= BUDGET and emu.stats.rate_limited == 0
        finally:
            for proc in procs.values():
                if proc.returncode is None:
                    status, log = await stop(proc)
                    assert status == 0 and "Traceback" not in log, log
