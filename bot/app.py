"""The bot: who owns what, and for how long.

``open_bot`` owns every lifetime (the discord.py ``advanced_startup`` pattern): the aiohttp
session, the SQLite store, the Imgur client (or the built-in emulator behind it), the quota
ledger and the scheduler are opened in order and closed in reverse, whatever happens.
``ImgurBot`` receives them ready-made; ``setup_hook`` loads the cogs (one failing cog is
logged, the rest load), logs the invite link and publishes the slash commands if they changed
since the last start (``bot.command_sync``): globally, or to ``[discord] dev_guild_id``.

``run_bot`` and ``sync_commands`` are the ``imgurbot run`` and ``imgurbot sync`` commands.
Whatever the admin can fix or wait out ends in a ``bot.failures.Failure`` (a sentence and
an exit status); the database is held by one bot at a time (``bot.instance_lock``).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sqlite3
import time
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
from bot.command_sync import publish_commands
from bot.config import Config
from bot.discord.clockskew import ClockSkewWatch
from bot.discord.endpoints import point_discordpy_at
from bot.discord.inflight import InFlight
from bot.discord.paginator import ExpiredPages, disable_all
from bot.discord.replies import NO_MENTIONS
from bot.discord.tree import ImgurTree
from bot.discord.uploads import DeleteUploadButton
from bot.failures import Failure, explain_discord_error
from bot.health import Heartbeat, health_path
from bot.highlights import DiscordOutlet, HighlightsEngine
from bot.imgur.backend import ImgurBackend, open_imgur
from bot.instance_lock import instance_lock
from bot.invite import invite_line, invite_url, permissions_needed
from bot.ledger import Ledger
from bot.memes.service import MemeService
from bot.metrics import BotMetrics, serving
from bot.online import discord_api_url
from bot.preflight import missing_token, run_failures, storage_failure
from bot.store import Store, StoreUnavailable, open_store, shared
from bot.uploads.service import UploadService

log = logging.getLogger(__name__)

EXTENSIONS: tuple[str, ...] = (
    "cogs.browse",
    "cogs.admin",
    "cogs.uploads",
    "cogs.memes",
    "cogs.highlights",
)


class ImgurBot(commands.Bot):
    """The bot. Cogs reach Imgur only through ``bot.imgur`` (an ``ImgurAccess``), which
    charges every call to the ledger; the raw client is not theirs to hold."""

    highlights: HighlightsEngine  # attached by ``open_bot`` (it needs the bot for Discord)

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
        trace = options.setdefault("http_trace", self.clock_skew.trace_config())
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            tree_cls=ImgurTree,
            allowed_mentions=NO_MENTIONS,
            # No owner_ids here: given any, discord.py skips the application lookup and the
            # application's owner (or team) is locked out. is_owner adds the listed ids.
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
        self.metrics = BotMetrics()  # /metrics (bot.metrics), fed by events from here on
        self.metrics.attach(self, trace)

    @property
    def demo(self) -> bool:
        """True when "Imgur" is the built-in emulator: answers then say they are the demo's."""
        return self.imgur_backend.emulated

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
        await self.highlights.start()
        if self._sync_on_start:
            await announce_and_publish(self)

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

    def gateway_open(self) -> bool:
        """Whether the gateway connection is open (every shard's, for a sharded bot)."""
        return self.ws is not None and self.ws.open

    def gateway_latencies(self) -> dict[int, float]:
        """Seconds between a heartbeat and its ACK, per shard id (``inf``/``nan`` until one
        was measured): one shard, 0, unless sharded."""
        return {self.shard_id or 0: self.latency}

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
        await self.highlights.stop(self.config.discord.shutdown_grace_s)
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        await super().close()


IDENTIFY_INTERVAL_S = 5.0  # Discord: one IDENTIFY per 5 s per shard_id % max_concurrency
IDENTIFY_MARGIN_S = 0.25  # the IDENTIFY leaves a moment after the hook; keep Discord's gap


class ShardedImgurBot(ImgurBot, commands.AutoShardedBot):
    """The same bot running several shards in one process (``[discord] shard_count`` and
    ``shard_ids``; README, "Sharding"), through discord.py's ``AutoShardedBot``.

    discord.py waits 5 s before every IDENTIFY but the first; Discord allows
    ``max_concurrency`` of them at once (shards whose ``shard_id % max_concurrency`` differ),
    so the wait here is per rate-limit key (``max_concurrency`` from ``GET /gateway/bot``).
    """

    identify_interval_s = IDENTIFY_INTERVAL_S

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._max_concurrency: int | None = None
        self._identified: dict[int, float] = {}
        self._identify_lock = asyncio.Lock()

    async def launch_shards(self) -> None:
        # "auto": discord.py asks GET /gateway/bot for the count and would then connect to the
        # URL in that answer, past a configured [discord] gateway_url (a proxy). Not here.
        if self.shard_count is None and self.config.discord.gateway_url:
            self.shard_count, _url, _limits = await self.http.get_bot_gateway()
        await super().launch_shards()

    def gateway_open(self) -> bool:
        wanted = self.shard_ids or range(self.shard_count or 0)
        shards = self.shards
        return bool(wanted) and all(i in shards and not shards[i].is_closed() for i in wanted)

    def gateway_latencies(self) -> dict[int, float]:
        return dict(self.latencies)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        if self._max_concurrency is None:
            try:
                limits = await self.fetch_session_start_limits()
                self._max_concurrency = max(1, limits.max_concurrency)
            except (discord.HTTPException, discord.GatewayNotFound, aiohttp.ClientError):
                self._max_concurrency = 1  # discord.py's own assumption
        key = (shard_id or 0) % self._max_concurrency
        async with self._identify_lock:
            last = self._identified.get(key)
            if last is not None:
                wait = last + self.identify_interval_s + IDENTIFY_MARGIN_S - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
            self._identified[key] = time.monotonic()


def bot_class(config: Config) -> tuple[type[ImgurBot], dict[str, object]]:
    """The bot class the configuration asks for, and its sharding options."""
    settings = config.discord
    if not settings.sharded:
        return ImgurBot, {}
    count = None if settings.shard_count == "auto" else settings.shard_count
    return ShardedImgurBot, {"shard_count": count, "shard_ids": settings.shard_ids}


def bot_invite_url(bot: ImgurBot, guild_id: int | None = None) -> str:
    """The invite link for this bot with the permissions its loaded cogs use."""
    assert bot.application_id is not None, "known once logged in"
    return invite_url(bot.application_id, permissions_needed(bot.cogs.values()), guild_id)


async def announce_and_publish(bot: ImgurBot) -> None:
    """At every start: log the invite link, then sync the commands if they changed.

    A 50001 for the dev guild stops the start (``Failure``, with the invite link); Discord
    being unreachable or failing does not: the commands stay as last synced, and the next
    start tries again.
    """
    log.info(invite_line(bot_invite_url(bot), permissions_needed(bot.cogs.values())))
    try:
        outcome = await publish_commands(
            bot, bot.config.discord.dev_guild_id, invite=lambda g: bot_invite_url(bot, g)
        )
    except (discord.DiscordServerError, aiohttp.ClientError, TimeoutError) as exc:
        log.warning(
            "could not sync the commands (%s); Discord keeps the last synced ones, and the "
            "next start tries again",
            exc,
        )
        return
    log.info("%s", outcome.describe())


def process_name(config: Config) -> str | None:
    """This process's name among those sharing a PostgreSQL database (None on SQLite, where
    the bot is alone): the ledger files its charges under it, so a restart under the same
    name settles what the process left unfinished."""
    if not shared(config.store):
        return None
    return config.store.member_name


@asynccontextmanager
async def open_bot(
    config: Config,
    *,
    clock: Clock | None = None,
    extensions: Sequence[str] = EXTENSIONS,
    sync_on_start: bool = True,
    force_emulator: bool = False,
    **options,
) -> AsyncIterator[ImgurBot]:
    """Open every resource the bot owns, yield the bot, and close all of it afterwards.

    The database is locked for the whole time (``Failure``, status 5, if another bot holds
    it), and a database that cannot be opened is explained (``Failure``, status 4).
    ``force_emulator`` is for commands that load the cogs but never ask Imgur (``sync``).
    """
    clock = clock or SystemClock()
    # The bot uses no voice: discord.py's "PyNaCl/davey is not installed" warnings at every
    # start would only send admins looking for packages they do not need.
    for switch in ("warn_nacl", "warn_dave"):
        if hasattr(discord.VoiceClient, switch):
            setattr(discord.VoiceClient, switch, False)
    async with AsyncExitStack() as stack:
        stack.callback(point_discordpy_at(config.discord.api_base_url, config.discord.gateway_url))
        try:
            if not shared(config.store):  # on PostgreSQL, several processes are the point
                stack.enter_context(instance_lock(config.store.path))
            store = await open_store(config.store, password=config.secrets.pgpassword)
            stack.push_async_callback(store.close)
            ledger = await Ledger.open(
                store, config.ledger, clock=clock, owner=process_name(config)
            )
            stack.push_async_callback(ledger.close)  # flushes before the store closes
        except (OSError, sqlite3.Error, StoreUnavailable) as exc:
            raise await storage_failure(config.store, exc, config.secrets.pgpassword) from None
        timeout = aiohttp.ClientTimeout(
            total=config.imgur.total_timeout_s, connect=config.imgur.connect_timeout_s
        )
        connector = aiohttp.TCPConnector(limit=config.imgur.max_connections)
        session = await stack.enter_async_context(
            aiohttp.ClientSession(timeout=timeout, connector=connector)
        )
        backend: ImgurBackend = await stack.enter_async_context(
            open_imgur(config, session=session, clock=clock, force_emulator=force_emulator)
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
        cls, sharding = bot_class(config)
        bot = cls(
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
            **sharding,
            **options,
        )
        bot.highlights = HighlightsEngine(
            store,
            bot.imgur,
            config.highlights,
            clock=clock,
            scheduler=scheduler,
            outlet=DiscordOutlet(bot),
        )

        async with bot:
            yield bot


def _explained(exc: Exception, config: Config) -> Exception:
    """``exc`` as the admin's ``Failure`` when it is one of theirs, else ``exc`` itself."""
    if isinstance(exc, Failure):
        return exc
    return explain_discord_error(exc, discord_api_url(config)) or exc


async def _stop(bot: ImgurBot, runner: asyncio.Task[None]) -> None:
    """Stop a connected bot (finishing its commands) or one still connecting (cancelled).

    Closing discord.py in the middle of its gateway handshake races its own clean-up, so a
    bot without an open gateway connection is cancelled instead. On Python 3.11 that
    cancellation can be lost (``asyncio.wait_for`` in discord.py's ``connect`` swallows one
    that lands as the handshake completes), hence the loop: cancel again, or close once the
    connection is open.
    """
    while not runner.done():
        if bot.gateway_open():
            await bot.drain_and_close()
            return
        runner.cancel()
        await asyncio.wait({runner}, timeout=1.0)


def _emulator_origins(config: Config, backend: ImgurBackend) -> list[str]:
    if not backend.emulated:
        return []
    return [url for url in (backend.base_url, config.emulator.public_url) if url]


async def run_bot(config: Config) -> int:
    """``imgurbot run``: run until SIGINT/SIGTERM, then finish in-flight commands and stop.

    Raises ``Failure`` for anything the admin can fix or wait out (bot.failures).
    """
    if config.secrets.discord_token is None:
        raise missing_token()
    for failure in run_failures(config):
        raise failure
    token = config.secrets.discord_token.get_secret_value()
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    try:
        async with open_bot(config) as bot:
            if bot.imgur_backend.emulated:
                log.warning(
                    "answering from the built-in demo catalogue (made-up posts, links on %s), "
                    'not Imgur: [imgur] use_emulator = "always"',
                    bot.imgur_backend.base_url,
                )
            heartbeat = Heartbeat(bot, health_path(config.store), config.run.heartbeat_s, bot.clock)
            await heartbeat.start()
            metrics = AsyncExitStack()
            try:
                await metrics.enter_async_context(serving(bot, heartbeat, config.metrics))
                runner = asyncio.create_task(bot.start(token))
                stopper = asyncio.create_task(stopping.wait())
                done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
                if stopper in done:
                    log.info("signal received: finishing in-flight commands, then stopping")
                    await _stop(bot, runner)
                stopper.cancel()
                await asyncio.wait({runner})
                if not runner.cancelled() and runner.exception() is not None:
                    raise _explained(runner.exception(), config) from None
            finally:
                await metrics.aclose()
                await heartbeat.stop()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return 0


async def sync_commands(config: Config, guild_id: int | None) -> str:
    """``imgurbot sync``: publish the command tree globally or to one guild, say what it did.

    Needs no Imgur Client-ID: the cogs are loaded against the built-in emulator, which the
    sync never asks.
    """
    if config.secrets.discord_token is None:
        raise missing_token()
    async with open_bot(config, sync_on_start=False, force_emulator=True) as bot:
        try:
            await bot.login(config.secrets.discord_token.get_secret_value())
            outcome = await publish_commands(
                bot, guild_id, invite=lambda g: bot_invite_url(bot, g), force=True
            )
        except Exception as exc:
            raise _explained(exc, config) from None
    return outcome.describe()
