"""Talking to Discord and Imgur from one-shot commands, one call each, nothing more.

``imgurbot check --online`` asks Discord who the token belongs to and Imgur how many credits
are left; ``imgurbot invite`` asks Discord for the application's id. Every failure is a
``Failure`` with its exit status: a refused token is the configuration's (2), an unreachable
service the network's (3).
"""

from __future__ import annotations

from typing import Any

import aiohttp

from bot.config import Config
from bot.failures import ExitStatus, Failure, token_refused, unreachable

DISCORD_API = "https://discord.com/api/v10"


def discord_api_url(config: Config) -> str:
    return (config.discord.api_base_url or DISCORD_API).rstrip("/")


async def discord_get(config: Config, session: aiohttp.ClientSession, path: str) -> Any:
    """GET ``path`` from Discord's REST API as the bot; JSON, or a ``Failure``."""
    assert config.secrets.discord_token is not None
    base = discord_api_url(config)
    headers = {"Authorization": f"Bot {config.secrets.discord_token.get_secret_value()}"}
    try:
        async with session.get(f"{base}{path}", headers=headers) as resp:
            if resp.status == 401:
                raise token_refused()
            if resp.status >= 500:
                raise Failure(
                    ExitStatus.UNREACHABLE,
                    f"Discord answered HTTP {resp.status} to {path}: it is having trouble; "
                    "try again later.",
                )
            if resp.status != 200:
                raise Failure(
                    ExitStatus.CONFIG,
                    f"Discord answered HTTP {resp.status} to {path} for this token.",
                )
            return await resp.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise unreachable("Discord", base, exc) from None


def _session(config: Config) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=config.imgur.total_timeout_s))


async def application_id(config: Config) -> int:
    """The Discord application's id (what an invite link names), from the token."""
    async with _session(config) as session:
        app = await discord_get(config, session, "/oauth2/applications/@me")
    return int(app["id"])


async def check_online(config: Config) -> list[Failure]:
    """One call to each service; prints what worked, returns what failed."""
    from bot.imgur import sansio
    from bot.imgur.backend import open_imgur
    from bot.imgur.errors import AuthError, ImgurError

    failures: list[Failure] = []
    async with _session(config) as session:
        try:
            me = await discord_get(config, session, "/users/@me")
            print(f"discord ok: logged in as {me.get('username')} ({me.get('id')})")
        except Failure as failure:
            failures.append(failure)
        try:
            async with open_imgur(config, session=session) as backend:
                credits = await backend.client.get(sansio.credits())
                print(
                    f"imgur ok: {credits.client_remaining} of {credits.client_limit} "
                    f"client credits left today" + (" (emulator)" if backend.emulated else "")
                )
        except ImgurError as exc:
            # A refused Client-ID is the configuration's; no answer, or an error, Imgur's.
            status = ExitStatus.CONFIG if isinstance(exc, AuthError) else ExitStatus.UNREACHABLE
            failures.append(Failure(status, f"Imgur check failed: {exc.message}"))
    if config.cache.redis_url:
        from bot.imgur.shared_cache import describe_url, ping

        where = describe_url(config.cache.redis_url)
        problem = await ping(config.cache.redis_url)
        if problem is None:
            print(f"redis ok: the shared cache at {where} answers")
        else:  # not a failure: the bot runs without it, each process with its own cache
            print(
                f"redis: the shared cache at {where} cannot be reached ({problem}); the bot "
                "still runs, each process with its own cache, and shares once it answers"
            )
    return failures
