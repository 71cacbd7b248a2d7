"""Choose what "Imgur" is for this process: the real API, or the built-in emulator.

``[imgur] use_emulator``: ``always`` runs the emulator in-process; ``auto`` does so only
when no ``IMGUR_CLIENT_ID`` is set (so ``make run`` works on a fresh machine); ``never``
refuses to start without credentials.

This is the product's one entry point into ``fakes/``: it starts the emulator through
``fakes.imgur.app.Emulator`` and nothing else.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import aiohttp
from pydantic import SecretStr

from bot.clock import Clock, SystemClock
from bot.config import Config
from bot.imgur.aiohttp_transport import aiohttp_client
from bot.imgur.client import ImgurClient
from bot.imgur.shared_cache import SharedCache, namespace_for

EMULATOR_CLIENT_ID = "imgurbot-emulator"


@dataclass
class ImgurBackend:
    client: ImgurClient
    base_url: str
    emulated: bool
    emulator: object | None = None


def wants_emulator(config: Config, force: bool = False) -> bool:
    mode = config.imgur.use_emulator
    if force or mode == "always":
        return True
    if config.secrets.imgur_client_id is None:
        if mode == "never":
            raise ValueError(
                "IMGUR_CLIENT_ID is not set and [imgur] use_emulator = 'never'; "
                "set IMGUR_CLIENT_ID to your Imgur application's Client-ID"
            )
        return True
    return False


@asynccontextmanager
async def open_imgur(
    config: Config,
    *,
    session: aiohttp.ClientSession | None = None,
    force_emulator: bool = False,
    clock: Clock | None = None,
) -> AsyncIterator[ImgurBackend]:
    """Yield a ready client (and the emulator behind it, when emulated); close both after."""
    clock = clock or SystemClock()
    async with AsyncExitStack() as stack:
        emulator = None
        secrets = config.secrets
        if wants_emulator(config, force_emulator):
            from fakes.imgur.app import Emulator, EmulatorConfig

            emulator = await stack.enter_async_context(
                Emulator(
                    EmulatorConfig(
                        seed=config.emulator.seed,
                        public_url=config.emulator.public_url,
                    )
                )
            )
            base_url = emulator.base_url
            secrets = secrets.model_copy(
                update={
                    "imgur_client_id": SecretStr(EMULATOR_CLIENT_ID),
                    "imgur_refresh_token": None,
                    "rapidapi_key": None,
                }
            )
            settings = config.imgur.model_copy(update={"commercial": False})
        else:
            settings = config.imgur
            base_url = settings.rapidapi_base_url if settings.commercial else settings.api_base_url
        shared = None
        if config.cache.redis_url:
            client_id = secrets.imgur_client_id
            shared = SharedCache.from_url(
                config.cache.redis_url,
                config.cache,
                clock,
                namespace=namespace_for(client_id and client_id.get_secret_value(), base_url),
            )
            stack.push_async_callback(shared.close)
        client = aiohttp_client(
            session, settings, config.cache, secrets, base_url=base_url, clock=clock,
            shared=shared,
        )  # fmt: skip
        stack.push_async_callback(client.close)
        yield ImgurBackend(
            client=client, base_url=base_url, emulated=emulator is not None, emulator=emulator
        )
