"""The bot configured with ``[cache] redis_url``: what it fetches serves another process
sharing the Redis (here an ImgurClient of its own, with its own connection), and what
another process fetched serves the bot. Needs the test Redis (``require_redis``)."""

from __future__ import annotations

import redis.asyncio as aioredis
from pydantic import SecretStr

from bot.config import CacheSettings, ImgurSettings, Secrets
from bot.imgur import sansio
from bot.imgur.aiohttp_transport import aiohttp_client
from bot.imgur.shared_cache import SharedCache, namespace_for

from .conftest import CLIENT_ID
from .helpers import item_id_of


async def test_the_bot_and_another_process_share_answers_through_redis(
    start_world, redis_prefix
) -> None:
    redis_url = redis_prefix[0]  # the test Redis (the bot's keys have its own prefix)
    world = await start_world(CACHE__REDIS_URL=redis_url)
    namespace = namespace_for(CLIENT_ID, world.emu.base_url)
    prefix = f"imgurbot:cache:{namespace}"
    redis = aioredis.Redis.from_url(redis_url)
    settings = CacheSettings(redis_url=redis_url)
    shared = SharedCache.from_url(redis_url, settings, world.bot.clock, namespace=namespace)
    other = aiohttp_client(
        None, ImgurSettings(), settings, Secrets(imgur_client_id=SecretStr(CLIENT_ID)),
        base_url=world.emu.base_url, shared=shared,
    )  # fmt: skip
    try:
        record = await world.run("imgur", "frontpage")
        keys = {k.decode() async for k in redis.scan_iter(match=f"{prefix}:*")}
        front = sansio.gallery()
        assert keys == {f"{prefix}:a:{front.cache_key}"}
        assert world.emu.stats.api_calls == 1
        fetched = await other.fetch(front)  # the other process: served by the bot's fetch
        assert fetched.from_cache and world.emu.stats.api_calls == 1
        assert item_id_of(record.original) == fetched.parse(front.parse)[0].id

        # And the other way round: what the other process fetched, the bot serves.
        top = sansio.gallery("top", "viral", "week")
        await other.fetch(top)
        assert world.emu.stats.api_calls == 2
        await world.run("imgur", "frontpage", section="top", window="week")
        assert world.emu.stats.api_calls == 2
    finally:
        await other.close()
        await shared.close()
        keys = [k async for k in redis.scan_iter(match=f"{prefix}:*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
