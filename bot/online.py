"""``imgurbot check --online``: one call to Discord and one to Imgur, nothing more."""

from __future__ import annotations

import sys

import aiohttp

from bot.config import Config
from bot.imgur import sansio
from bot.imgur.backend import open_imgur
from bot.imgur.errors import ImgurError


async def check_discord(config: Config, session: aiohttp.ClientSession) -> str | None:
    assert config.secrets.discord_token is not None
    base = (config.discord.api_base_url or "https://discord.com/api/v10").rstrip("/")
    headers = {"Authorization": f"Bot {config.secrets.discord_token.get_secret_value()}"}
    try:
        async with session.get(f"{base}/users/@me", headers=headers) as resp:
            if resp.status == 401:
                return "Discord rejected DISCORD_TOKEN (401): copy the bot token again"
            if resp.status != 200:
                return f"Discord answered HTTP {resp.status} to /users/@me"
            me = await resp.json(content_type=None)
            print(f"discord ok: logged in as {me.get('username')} ({me.get('id')})")
            return None
    except (aiohttp.ClientError, TimeoutError) as exc:
        return f"cannot reach Discord at {base}: {type(exc).__name__}"


async def check_online(config: Config) -> int:
    timeout = aiohttp.ClientTimeout(total=config.imgur.total_timeout_s)
    failed = False
    async with aiohttp.ClientSession(timeout=timeout) as session:
        problem = await check_discord(config, session)
        if problem:
            print(f"imgurbot: {problem}", file=sys.stderr)
            failed = True
        try:
            async with open_imgur(config, session=session) as backend:
                credits = await backend.client.get(sansio.credits())
                print(
                    f"imgur ok: {credits.client_remaining} of {credits.client_limit} "
                    f"client credits left today" + (" (emulator)" if backend.emulated else "")
                )
        except ImgurError as exc:
            print(f"imgurbot: Imgur check failed: {exc.message}", file=sys.stderr)
            failed = True
    return 1 if failed else 0
