"""The bot: who owns what, and for how long.

``open_bot`` owns every lifetime (the discord.py ``advanced_startup`` pattern): the aiohttp
session, the SQLite store, the Imgur client (or the built-in emulator behind it), the quota
ledger and the scheduler are opened in order and closed in reverse, whatever happens.
``ImgurBot`` receives them ready-made; ``setup_hook`` loads the cogs (one failing cog is
logged, the rest load) and syncs the commands to the dev guild only. Global syncs happen
through ``imgurbot sync``.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import weakref
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager

import aiohttp
import discord
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from discord.ext import commands

from bot.access import ImgurAccess
from bot.clock import Clock, SystemClock
from bot.config import Config
from bot.discord.clockskew import ClockSkewWatch
from bot.discord.endpoints import point_discordpy_at
from bot.discord.inflight import InFlight
from bot.discord.paginator import ExpiredPages, disable_all
from bot.discord.replies import NO_MENTIONS
from bot.discord.tree import ImgurTree
from bot.discord.uploads import DeleteUploadButton
from bot.imgur.backend import ImgurBackend, open_imgur
from bot.ledger import Ledger
from bot.memes.service import MemeService
from bot.store import Store
from bot.uploads.service import UploadService

log = logging.getLogger(__name__)

EXTENSIONS: tuple[str, ...] = ("cogs.browse", "cogs.admin", "cogs.uploads", "cogs.memes")


class ImgurBot(commands.Bot):
    """The bot. Cogs reach Imgur only through ``bot.imgur`` (an ``ImgurAccess``), which
    charges every call to the ledger; the raw client is not theirs to hold."""

    def __init__(
        self,
        config: Config,
        *,
        session: aiohttp.ClientSession,
        store: Store,
        ledger: Ledger,
        imgur: ImgurAccess,
        backend: ImgurBackend,
        scheduler: AsyncIOScheduler,
        clock: Clock,
        memes: MemeService,
        uploads: UploadService | None = None,
        extensions: Sequence[str] = EXTENSIONS,
        sync_on_start: bool = True,
        **options,
    ) -> None:
        # Slash commands and buttons arrive as interactions whatever the intents; the guild
        # cache (channels and their NSFW flag) is all the bot needs from the gateway. Every
        # other event would be parsed for nothing (message updates were ~10% of a burst).
        intents = discord.Intents.none()
        intents.guilds = True
        self.clock_skew = ClockSkewWatch(clock)
        options.setdefault("http_trace", self.clock_skew.trace_config())
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            tree_cls=ImgurTree,
            allowed_mentions=NO_MENTIONS,
            owner_ids=set(config.discord.owner_ids) or None,
            help_command=None,
            **options,
        )
        self.config = config
        self.session = session
        self.store = store
        self.ledger = ledger
        self.imgur = imgur
        self.imgur_backend = backend  # whether "Imgur" is the emulator, for the start-up log
        self.scheduler = scheduler
        self.clock = clock
        self.memes = memes
        self.uploads = uploads
        self.inflight = InFlight()
        self.failed_extensions: dict[str, str] = {}
        self._views: weakref.WeakSet[discord.ui.View] = weakref.WeakSet()
        self._extensions = tuple(extensions)
        self._sync_on_start = sync_on_start

    async def setup_hook(self) -> None:
        # Clicks on paginators from before a restart get an answer instead of a failure;
        # "Delete from Imgur" buttons work whenever they were sent.
        self.add_dynamic_items(ExpiredPages, DeleteUploadButton)
        for name in self._extensions:
            try:
                await self.load_extension(name)
            except commands.ExtensionError as exc:
                cause = exc.__cause__ or exc
                self.failed_extensions[name] = f"{type(cause).__name__}: {cause}"
                log.error("cog %s failed to load; the others still run", name, exc_info=cause)
        if not self.scheduler.running:
            self.scheduler.start()
        guild_id = self.config.discord.dev_guild_id
        if self._sync_on_start and guild_id:
            guild = discord.Object(id=guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d commands to dev guild %s", len(synced), guild_id)

    async def is_owner(self, user: discord.abc.User) -> bool:
        # The application's owner (or team) always counts; config adds more.
        if user.id in self.config.discord.owner_ids:
            return True
        return await super().is_owner(user)

    async def drain_and_close(self) -> None:
        """Stop taking commands, let in-flight ones finish (bounded), then close."""
        assert isinstance(self.tree, ImgurTree)
        self.tree.accepting = False
        grace = self.config.discord.shutdown_grace_s
        if not await self.inflight.wait_idle(grace):
            log.warning("shutting down with %d command(s) still running", self.inflight.count)
        await self.close()

    def track_view(self, view: discord.ui.View) -> None:
        """Remember a live view so closing the bot stops its timeout timer too."""
        self._views.add(view)

    async def close(self) -> None:
        # Buttons no process will answer must not look alive: grey them out while the REST
        # client still works. discord.py leaves each view's timeout task running after
        # close(), so every view is stopped too.
        await disable_all(list(self._views))
        for view in list(self._views):
            view.stop()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        await super().close()


@asynccontextmanager
async def open_bot(
    config: Config,
    *,
    clock: Clock | None = None,
    extensions: Sequence[str] = EXTENSIONS,
    sync_on_start: bool = True,
    **options,
) -> AsyncIterator[ImgurBot]:
    """Open every resource the bot owns, yield the bot, and close all of it afterwards."""
    clock = clock or SystemClock()
    async with AsyncExitStack() as stack:
        stack.callback(point_discordpy_at(config.discord.api_base_url, config.discord.gateway_url))
        timeout = aiohttp.ClientTimeout(
            total=config.imgur.total_timeout_s, connect=config.imgur.connect_timeout_s
        )
        connector = aiohttp.TCPConnector(limit=config.imgur.max_connections)
        session = await stack.enter_async_context(
            aiohttp.ClientSession(timeout=timeout, connector=connector)
        )
        store = await Store.open(config.store)
        stack.push_async_callback(store.close)
        ledger = await Ledger.open(store, config.ledger, clock=clock)
        stack.push_async_callback(ledger.close)  # flushes before the store closes
        backend: ImgurBackend = await stack.enter_async_context(
            open_imgur(config, session=session, clock=clock)
        )
        backend.client.add_listener(ledger.observe)
        imgur = ImgurAccess(backend.client, ledger, clock=clock)
        # Files are checked on two threads of their own: see bot/uploads/intake.py for why.
        threads = config.uploads.inspect_threads
        inspections = stack.enter_context(
            ThreadPoolExecutor(threads, thread_name_prefix="imgurbot-inspect")
        )
        uploads = await UploadService.open(
            store, imgur=imgur, ledger=ledger, session=session, executor=inspections,
            settings=config.uploads, clock=clock,
        )  # fmt: skip
        # Meme rendering is Pillow work: it runs on threads of its own, never on the loop.
        render_pool = ThreadPoolExecutor(
            max_workers=config.memes.render_threads, thread_name_prefix="imgurbot-render"
        )
        stack.callback(render_pool.shutdown, wait=False, cancel_futures=True)
        memes = await stack.enter_async_context(
            MemeService(
                config.memes,
                store=store,
                executor=render_pool,
                session=session,
                # The built-in emulator serves its template images on its own origin.
                extra_origins=_emulator_origins(config, backend),
                clock=clock,
                user_agent=config.imgur.user_agent,
            )
        )
        scheduler = AsyncIOScheduler(timezone="UTC")
        bot = ImgurBot(
            config,
            session=session,
            store=store,
            ledger=ledger,
            imgur=imgur,
            backend=backend,
            scheduler=scheduler,
            clock=clock,
            memes=memes,
            uploads=uploads,
            extensions=extensions,
            sync_on_start=sync_on_start,
            **options,
        )

        async with bot:
            yield bot


def _emulator_origins(config: Config, backend: ImgurBackend) -> list[str]:
    if not backend.emulated:
        return []
    return [url for url in (backend.base_url, config.emulator.public_url) if url]


async def run_bot(config: Config) -> int:
    """``imgurbot run``: run until SIGINT/SIGTERM, then shut down gracefully."""
    assert config.secrets.discord_token is not None
    token = config.secrets.discord_token.get_secret_value()
    loop = asyncio.get_running_loop()
    try:
        async with open_bot(config) as bot:
            if bot.imgur_backend.emulated:
                log.warning(
                    "IMGUR_CLIENT_ID is not set: answering from the built-in Imgur emulator at %s",
                    bot.imgur_backend.base_url,
                )
            stopping = asyncio.Event()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stopping.set)
            runner = asyncio.create_task(bot.start(token))
            stopper = asyncio.create_task(stopping.wait())
            done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if stopper in done:
                log.info("signal received: finishing in-flight commands, then stopping")
                await bot.drain_and_close()
            stopper.cancel()
            await runner
    except discord.LoginFailure:
        log.error("Discord refused DISCORD_TOKEN: copy the bot token again from the portal")
        return 1
    except discord.PrivilegedIntentsRequired:
        log.error("Discord refused the gateway intents the bot asked for")
        return 1
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return 0


async def sync_commands(config: Config, guild_id: int | None) -> int:
    """``imgurbot sync``: publish the command tree globally or to one guild, then exit."""
    assert config.secrets.discord_token is not None
    async with open_bot(config, sync_on_start=False) as bot:
        try:
            await bot.login(config.secrets.discord_token.get_secret_value())
        except discord.LoginFailure:
            log.error("Discord refused DISCORD_TOKEN: copy the bot token again from the portal")
            return 1
        guild = discord.Object(id=guild_id) if guild_id else None
        if guild:
            bot.tree.copy_global_to(guild=guild)
        synced = await bot.tree.sync(guild=guild)
        where = f"to guild {guild_id}" if guild_id else "globally (may take up to an hour to show)"
        print(f"synced {len(synced)} commands {where}")
    return 0
