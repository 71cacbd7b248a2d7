"""``FakeDiscord``: the server, and the API tests (and the offline sandbox) drive it with.

See the package docstring (``fakes/discord/__init__.py``) for a walkthrough.
"""

# The public waiting API takes timeout= arguments on purpose (readable tests).
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .backend import Backend
from .cdn import Cdn
from .feed import Event, Subscription
from .gateway import Gateway, SessionStartLimit, shard_of
from .interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    MESSAGE_COMMAND,
    MESSAGE_COMPONENT,
    MODAL_SUBMIT,
    USER_COMMAND,
    Callback,
    InteractionRecord,
    build_command_data,
    build_context_menu_data,
    build_interaction,
    component_data,
    modal_submit_data,
)
from .models import (
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_EVERYONE_PERMISSIONS,
    GUILD_CREATE_ONLY,
    GUILD_TEXT,
    MEMBER_OVERWRITE,
    ROLE_OVERWRITE,
    CdnFile,
    Channel,
    Guild,
    Member,
    Message,
    Overwrite,
    Role,
    User,
    as_permission_int,
)
from .ratelimit import DEFAULT_ROUTE_LIMIT, Injection, RateLimiter, RouteLimit
from .rest import API, build_app
from .state import RecordedRequest, World

BACKLOG = 1024  # pending connections the listening socket holds


class FakeDiscord:
    """A local Discord for the genuine discord.py: REST + gateway + CDN on one port.

    Use it as ``async with FakeDiscord(token="t") as fd: ...``; it listens on ``host:port``
    (port 0 picks a free one) until the block ends.
    """

    def __init__(
        self,
        token: str = "test-token",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        bot_name: str = "imgurbot",
        owner_name: str = "owner",
        interaction_deadline: float | None = 3.0,
        token_lifetime: float = 15 * 60.0,
        global_rate_limit: int | None = 50,
        route_limit: RouteLimit | None = DEFAULT_ROUTE_LIMIT,
        heartbeat_interval_ms: int = 41_250,
        human_delay: float = 0.05,
    ) -> None:
        self.host, self.port = host, port
        # Pause before a click or modal submit. A person cannot press a button before the
        # message reaches them; without the pause a test could click before discord.py has
        # read the callback response and registered the View that handles the button.
        self.human_delay = human_delay
        self.world = World(token=token, bot_name=bot_name, owner_name=owner_name)
        self.cdn = Cdn(self.world.ids)
        self.gateway = Gateway(self.world, heartbeat_interval_ms=heartbeat_interval_ms)
        self.limiter = RateLimiter(global_per_second=global_rate_limit, route_limit=route_limit)
        self.backend = Backend(
            self.world,
            self.cdn,
            self.gateway,
            self.limiter,
            interaction_deadline=interaction_deadline,
            token_lifetime=token_lifetime,
        )
        self._runner: web.AppRunner | None = None
        self._pending: set[asyncio.Task[Any]] = set()
        self._default_user: User | None = None

    # -- lifetime ----------------------------------------------------------------------------

    async def start(self) -> FakeDiscord:
        self._runner = web.AppRunner(
            build_app(self.backend), handle_signals=False, access_log=None, shutdown_timeout=2.0
        )
        await self._runner.setup()
        # Discord accepts bursts of connections; a small listen backlog would drop SYNs and
        # add a 1 s retransmit to some requests, a delay real Discord does not have.
        site = web.TCPSite(self._runner, self.host, self.port, backlog=BACKLOG)
        await site.start()
        self.port = self._runner.addresses[0][1]
        base = f"http://{self.host}:{self.port}"
        self.cdn.base_url = base + "/cdn"
        self.gateway.url = f"ws://{self.host}:{self.port}/gateway"
        return self

    async def close(self) -> None:
        await self.flush()
        await self.gateway.close()
        await self.world.feed.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- where it listens --------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def rest_url(self) -> str:
        return self.base_url + API

    @property
    def gateway_url(self) -> str:
        return self.gateway.url

    @property
    def cdn_url(self) -> str:
        return self.cdn.base_url

    # -- knobs tests turn --------------------------------------------------------------------

    @property
    def interaction_deadline(self) -> float | None:
        """Seconds the bot has for its first callback (Discord: 3); None disables the rule."""
        return self.backend.interaction_deadline

    @interaction_deadline.setter
    def interaction_deadline(self, seconds: float | None) -> None:
        self.backend.interaction_deadline = seconds

    @property
    def global_rate_limit(self) -> int | None:
        """Requests per second across all routes except interactions (Discord: 50)."""
        return self.limiter.global_per_second

    @global_rate_limit.setter
    def global_rate_limit(self, per_second: int | None) -> None:
        self.limiter.global_per_second = per_second

    @property
    def clock_skew_s(self) -> float:
        """Seconds the ``Date`` header of every answer is ahead of the host clock (negative:
        behind); Discord's clock as the bot sees it."""
        return self.backend.clock_skew_s

    @clock_skew_s.setter
    def clock_skew_s(self, seconds: float) -> None:
        self.backend.clock_skew_s = float(seconds)

    @property
    def snowflake_skew_s(self) -> float:
        """Seconds the time inside new snowflake ids (messages, interactions…) is ahead of
        the host clock; discord.py's ``created_at`` and ``Interaction.expires_at`` follow."""
        return self.world.ids.skew_s

    @snowflake_skew_s.setter
    def snowflake_skew_s(self, seconds: float) -> None:
        self.world.ids.skew_s = float(seconds)

    @property
    def recommended_shards(self) -> int:
        """``GET /gateway/bot``'s ``shards`` (what ``AutoShardedClient`` launches)."""
        return self.gateway.recommended_shards

    @recommended_shards.setter
    def recommended_shards(self, count: int) -> None:
        self.gateway.recommended_shards = int(count)

    @property
    def session_start_limit(self) -> SessionStartLimit:
        """``total``, ``remaining``, ``max_concurrency`` (settable) and ``reset_at``; every
        IDENTIFY spends one."""
        return self.gateway.session_start_limit

    @property
    def max_guilds_per_shard(self) -> int:
        """A shard identifying with more guilds than this is closed with 4011 (sharding
        required); Discord's figure is 2500."""
        return self.gateway.max_guilds_per_shard

    @max_guilds_per_shard.setter
    def max_guilds_per_shard(self, count: int) -> None:
        self.gateway.max_guilds_per_shard = int(count)

    @property
    def identify_interval(self) -> float | None:
        """Seconds between IDENTIFYs of one rate-limit key (``shard_id % max_concurrency``);
        Discord: 5. One too soon gets INVALID_SESSION. None lifts the rule."""
        return self.gateway.identify_interval

    @identify_interval.setter
    def identify_interval(self, seconds: float | None) -> None:
        self.gateway.identify_interval = seconds

    @property
    def cdn_bandwidth(self) -> int | None:
        """Bytes per second each CDN download is served at (None: as fast as possible);
        a file's own ``CdnFile.bandwidth`` wins."""
        return self.cdn.bandwidth

    @cdn_bandwidth.setter
    def cdn_bandwidth(self, bytes_per_second: int | None) -> None:
        self.cdn.bandwidth = bytes_per_second

    # -- who is who ---------------------------------------------------------------------------

    @property
    def token(self) -> str:
        return self.world.token

    @property
    def bot_user(self) -> User:
        return self.world.bot

    @property
    def application_id(self) -> str:
        return self.world.application_id

    @property
    def owner(self) -> User:
        """The application's owner (``AppInfo.owner``, so ``bot.is_owner()`` is True for it)."""
        return self.world.owner

    @property
    def default_user(self) -> User:
        """The user interactions come from when a test names none: a plain member."""
        if self._default_user is None:
            self._default_user = self.add_user("tester")
        return self._default_user

    # -- building the world ------------------------------------------------------------------

    def add_user(self, username: str, *, bot: bool = False) -> User:
        return self.world.add_user(username, bot=bot)

    def add_guild(
        self,
        name: str = "guild",
        *,
        owner: User | None = None,
        everyone_permissions: Any = DEFAULT_EVERYONE_PERMISSIONS,
        bot_permissions: Any = DEFAULT_BOT_PERMISSIONS,
    ) -> Guild:
        """A server with the bot in it. Added after the bot connected, the bot gets a
        GUILD_CREATE (as when it joins a server)."""
        guild = self.world.add_guild(
            name,
            owner=owner,
            everyone_permissions=as_permission_int(everyone_permissions),
            bot_permissions=as_permission_int(bot_permissions),
        )
        self._announce("GUILD_CREATE", lambda: guild.payload(self.world.bot.id), guild.id)
        return guild

    def add_guild_per_shard(
        self, shard_count: int, *, channel: str = "general"
    ) -> dict[int, Guild]:
        """One new server (with a text channel) on each shard of ``shard_count``, by shard id.

        A server's shard comes from the millisecond in its id, so each is made a millisecond
        later than the last on the fake's id clock (``snowflake_skew_s``; nothing sleeps).
        Servers made on the way to a missing shard are kept (with their channel) too."""
        owners: dict[int, Guild] = {}
        skew = self.snowflake_skew_s
        try:
            while len(owners) < shard_count:
                guild = self.add_guild(f"guild-{len(self.world.guilds)}")
                self.add_channel(guild, channel)
                owners.setdefault(shard_of(guild.id, shard_count), guild)
                self.snowflake_skew_s += 0.001
        finally:
            self.snowflake_skew_s = skew
        return owners

    def add_channel(
        self,
        guild: Guild,
        name: str,
        *,
        nsfw: bool = False,
        type: int = GUILD_TEXT,
        topic: str | None = None,
    ) -> Channel:
        channel = self.world.add_channel(guild, name, nsfw=nsfw, type=type, topic=topic)
        self._announce("CHANNEL_CREATE", channel.payload, guild.id)
        return channel

    def add_role(self, guild: Guild, name: str, *, permissions: Any = 0) -> Role:
        role = self.world.add_role(guild, name, as_permission_int(permissions))
        self._announce(
            "GUILD_ROLE_CREATE", lambda: {"guild_id": guild.id, "role": role.payload()}, guild.id
        )
        return role

    def add_member(self, guild: Guild, user: User, *, roles: tuple[Role, ...] = ()) -> Member:
        """Make ``user`` a member of ``guild`` with these roles (users also become members
        automatically the first time they use a command there)."""
        member = self.world.ensure_member(guild, user)
        member.role_ids = [r.id for r in roles]
        return member

    def dm_channel(self, user: User) -> Channel:
        return self.world.dm_channel(user)

    # -- changing the world under the bot ---------------------------------------------------

    def set_permissions(
        self,
        channel: Channel,
        target: Role | User | Member | Guild,
        *,
        allow: Any = 0,
        deny: Any = 0,
    ) -> Overwrite | None:
        """Set ``channel``'s permission overwrite for a role, a member (a ``User`` or
        ``Member``), or @everyone (pass the ``Guild``); ``allow=deny=0`` removes it. The bot
        gets a CHANNEL_UPDATE; REST calls and interactions' ``app_permissions`` follow."""
        guild = self.world.guild_of(channel)
        if guild is None:
            raise ValueError("DM channels have no permission overwrites")
        if isinstance(target, Guild | Role):
            target_id, kind = target.id, ROLE_OVERWRITE
        else:
            user = target.user if isinstance(target, Member) else target
            target_id, kind = user.id, MEMBER_OVERWRITE
        channel.overwrites = [o for o in channel.overwrites if o.id != target_id]
        overwrite = None
        allow, deny = as_permission_int(allow), as_permission_int(deny)
        if allow or deny:
            overwrite = Overwrite(target_id, kind, allow, deny)
            # discord.py reads the @everyone overwrite first; Discord lists it first too.
            if target_id == guild.id:
                channel.overwrites.insert(0, overwrite)
            else:
                channel.overwrites.append(overwrite)
        self._announce("CHANNEL_UPDATE", channel.payload, guild.id)
        return overwrite

    def bot_permissions(self, channel: Channel) -> int:
        """The bot's permissions in ``channel`` as the fake enforces them."""
        guild = self.world.guild_of(channel)
        return guild.permissions_in(channel, self.world.bot.id) if guild else 0

    def update_channel(self, channel: Channel, **changes: Any) -> Channel:
        """Change ``name``, ``nsfw``, ``topic`` or ``position`` of a channel; the bot gets a
        CHANNEL_UPDATE with the whole channel."""
        allowed = {"name", "nsfw", "topic", "position"}
        unknown = set(changes) - allowed
        if unknown:
            raise ValueError(f"cannot change {sorted(unknown)}; changeable: {sorted(allowed)}")
        for key, value in changes.items():
            setattr(channel, key, value)
        self._announce("CHANNEL_UPDATE", channel.payload, channel.guild_id)
        self.world.changed()
        return channel

    def delete_channel(self, channel: Channel) -> None:
        """Delete a channel: the bot gets a CHANNEL_DELETE, and REST calls to it answer 404
        Unknown Channel (10003) from then on."""
        guild = self.world.guild_of(channel)
        channel.deleted = True
        self.world.channels.pop(channel.id, None)
        if guild is not None:
            guild.channels = [c for c in guild.channels if c is not channel]
            if guild.system_channel_id == channel.id:
                guild.system_channel_id = None
        self._announce("CHANNEL_DELETE", channel.payload, channel.guild_id)
        self.world.changed()

    def set_system_channel(self, guild: Guild, channel: Channel | None) -> None:
        """Make ``channel`` the server's system channel (``system_channel_id``; None clears
        it); the bot gets a GUILD_UPDATE."""
        if channel is not None and channel.guild_id != guild.id:
            raise ValueError(f"#{channel.name} is not a channel of {guild.name!r}")
        guild.system_channel_id = channel.id if channel else None
        self._announce("GUILD_UPDATE", lambda: self._guild_update(guild), guild.id)
        self.world.changed()

    def _guild_update(self, guild: Guild) -> dict[str, Any]:
        data = guild.payload(self.world.bot.id)
        for key in GUILD_CREATE_ONLY:
            data.pop(key, None)
        return data

    def remove_bot(self, guild: Guild) -> None:
        """Kick the bot from ``guild``: the owning shard gets GUILD_DELETE (no
        ``unavailable``: removed, not an outage); REST calls about the server and its
        channels answer 403 Missing Access (50001), and its members can no longer reach the
        bot."""
        self._announce("GUILD_DELETE", lambda: {"id": guild.id}, guild.id)
        guild.bot_present = False
        guild.members.pop(self.world.bot.id, None)
        self.world.changed()

    def add_attachment(
        self,
        filename: str,
        data: bytes,
        content_type: str = "application/octet-stream",
        *,
        width: int | None = None,
        height: int | None = None,
        bandwidth: int | None = None,
    ) -> CdnFile:
        """Put bytes on the CDN; pass the result as an attachment option value (or to
        ``post_message``). ``bandwidth`` (bytes/s) slows this file's downloads."""
        return self.cdn.add(
            filename, data, content_type, width=width, height=height, bandwidth=bandwidth
        )

    def _announce(
        self, event: str, payload: Callable[[], Any], guild_id: str | None = None
    ) -> None:
        """Tell the connected bot about a change made by the test: the shard that owns
        ``guild_id`` (shard 0 for None); nothing if no session is there."""
        if not self.gateway.sessions_for(guild_id):
            return
        coro = self.gateway.dispatch(event, payload(), guild_id=guild_id)
        task = asyncio.get_running_loop().create_task(coro)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def flush(self) -> None:
        """Wait until every gateway event queued by ``add_*`` has been sent."""
        while self._pending:
            await asyncio.gather(*list(self._pending))

    # -- the bot's connection ----------------------------------------------------------------

    async def wait_until_ready(self, timeout: float = 10.0, *, shards: int | None = None) -> None:
        """Wait until a bot has identified and received READY and every GUILD_CREATE; with
        ``shards=N``, until each of shards 0..N-1 (of a count of N) has a connected session."""

        def ready() -> bool:
            connected = self.gateway.connected_sessions()
            if shards is None:
                return bool(connected)
            have = {s.shard[0] for s in connected if s.shard[1] == shards}
            return have >= set(range(shards))

        await self.world.notifier.wait_for(
            ready,
            timeout,
            lambda: (
                f"no bot identified on {self.gateway_url} (shards={shards}); "
                f"sessions={[s.shard for s in self.gateway.connected_sessions()]}, "
                f"connections={self.gateway.connections}, requests={self.world.requests[-5:]}"
            ),
        )

    async def reconnect_bot(self, timeout: float = 10.0) -> None:
        """Send RECONNECT (op 7) and wait until the bot has RESUMEd its session."""
        before = sum(c.kind == "resume" for c in self.gateway.connections)
        await self.gateway.send_reconnect()
        await self.world.notifier.wait_for(
            lambda: (
                any(s.ws is not None for s in self.gateway.sessions.values())
                and sum(c.kind == "resume" for c in self.gateway.connections) > before
            ),
            timeout,
            lambda: f"no RESUME; connections={self.gateway.connections}",
        )

    async def dispatch(self, event: str, data: Any, *, guild_id: str | None = None) -> None:
        """Send any gateway event to the shard that owns ``guild_id`` (default: the
        ``guild_id`` in ``data``; none means shard 0, as for DMs)."""
        await self.flush()
        if guild_id is None and isinstance(data, dict) and data.get("guild_id"):
            guild_id = str(data["guild_id"])
        if not await self.gateway.dispatch(event, data, guild_id=guild_id):
            raise RuntimeError(self._nobody_for(guild_id))

    def _nobody_for(self, guild_id: str | None) -> str:
        if not self.gateway.ready_sessions():
            return "no bot is connected; await fd.wait_until_ready() first"
        shards = sorted({tuple(s.shard) for s in self.gateway.ready_sessions()})
        where = f"guild {guild_id}" if guild_id else "DMs"
        return f"no connected session owns the shard of {where}; sessions' shards: {shards}"

    async def _send_interaction(self, record: InteractionRecord) -> InteractionRecord:
        await self.flush()
        guild_id = record.guild.id if record.guild else None
        if not self.gateway.sessions_for(guild_id):
            raise RuntimeError(self._nobody_for(guild_id))
        record.dispatched_at = time.monotonic()  # the 3-second window starts now
        self.world.feed.publish(
            "interaction",
            action="dispatched",
            id=record.id,
            label=record.label,
            type=record.type,
            user_id=record.user.id,
            channel_id=record.channel.id,
            guild_id=guild_id,
        )
        await self.gateway.dispatch("INTERACTION_CREATE", record.payload, guild_id=guild_id)
        return record

    # -- what users do -----------------------------------------------------------------------

    async def slash(
        self,
        name: str,
        *path: str,
        options: dict[str, Any] | None = None,
        user: User | None = None,
        channel: Channel | None = None,
        permissions: Any = None,
        app_permissions: Any = None,
        locale: str = "en-US",
    ) -> InteractionRecord:
        """Run ``/name *path`` with ``options`` (plain Python values, typed from the synced
        definition). ``channel=None`` means the user's DM with the bot. ``permissions``
        overrides the member's computed permissions (an int, str or ``discord.Permissions``).
        Returns at once; await the record's ``wait_response()``/``wait_done()``."""
        user = user or self.default_user
        channel = channel or self.world.dm_channel(user)
        data = build_command_data(
            self.world,
            self.world.guild_of(channel),
            name,
            path,
            dict(options or {}),
            invoker=user,
        )
        record = build_interaction(
            self.world,
            APPLICATION_COMMAND,
            data,
            user=user,
            channel=channel,
            label="/" + " ".join((name, *path)),
            permissions=permissions,
            app_permissions=app_permissions,
            locale=locale,
        )
        return await self._send_interaction(record)

    async def autocomplete(
        self,
        name: str,
        *path: str,
        focused: str,
        value: str = "",
        options: dict[str, Any] | None = None,
        user: User | None = None,
        channel: Channel | None = None,
        timeout: float = 5.0,
    ) -> list[dict[str, Any]]:
        """Type ``value`` into option ``focused`` of ``/name *path`` and return the choices
        the bot offers (``[{"name": ..., "value": ...}, ...]``)."""
        record = await self.autocomplete_interaction(
            name, *path, focused=focused, value=value, options=options, user=user, channel=channel
        )
        callback = await record.wait_response(timeout)
        return callback.choices or []

    async def autocomplete_interaction(
        self,
        name: str,
        *path: str,
        focused: str,
        value: str = "",
        options: dict[str, Any] | None = None,
        user: User | None = None,
        channel: Channel | None = None,
    ) -> InteractionRecord:
        """Like :meth:`autocomplete` but returns the record instead of waiting."""
        user = user or self.default_user
        channel = channel or self.world.dm_channel(user)
        data = build_command_data(
            self.world,
            self.world.guild_of(channel),
            name,
            path,
            dict(options or {}),
            focused=(focused, value),
            invoker=user,
        )
        record = build_interaction(
            self.world,
            AUTOCOMPLETE,
            data,
            user=user,
            channel=channel,
            label=f"autocomplete /{' '.join((name, *path))} {focused}={value!r}",
        )
        return await self._send_interaction(record)

    async def message_command(
        self,
        name: str,
        message: Message,
        *,
        user: User | None = None,
        channel: Channel | None = None,
        permissions: Any = None,
        app_permissions: Any = None,
        locale: str = "en-US",
    ) -> InteractionRecord:
        """Use the message context menu command ``name`` (Apps → name) on ``message``, as
        ``user``; ``channel`` defaults to the message's own. The bot gets ``data.target_id``
        and the message in ``data.resolved.messages``, content included (Discord sends it
        whatever the intents)."""
        user = user or self.default_user
        channel = channel or self.world.channels[message.channel_id]
        guild = self.world.guild_of(channel)
        data = build_context_menu_data(self.world, guild, name, MESSAGE_COMMAND, message, user)
        return await self._context_menu(
            data, user, channel, f"message menu {name!r} on {message.id}",
            permissions, app_permissions, locale,
        )  # fmt: skip

    async def user_command(
        self,
        name: str,
        target_user: User,
        *,
        user: User | None = None,
        channel: Channel | None = None,
        permissions: Any = None,
        app_permissions: Any = None,
        locale: str = "en-US",
    ) -> InteractionRecord:
        """Use the user context menu command ``name`` on ``target_user``, as ``user``, in
        ``channel`` (None: the DM with the bot). The bot gets ``data.target_id`` and the user
        in ``data.resolved.users`` (plus the partial member in a server)."""
        user = user or self.default_user
        channel = channel or self.world.dm_channel(user)
        guild = self.world.guild_of(channel)
        data = build_context_menu_data(self.world, guild, name, USER_COMMAND, target_user, user)
        return await self._context_menu(
            data, user, channel, f"user menu {name!r} on {target_user.username}",
            permissions, app_permissions, locale,
        )  # fmt: skip

    async def _context_menu(
        self,
        data: dict[str, Any],
        user: User,
        channel: Channel,
        label: str,
        permissions: Any,
        app_permissions: Any,
        locale: str,
    ) -> InteractionRecord:
        record = build_interaction(
            self.world,
            APPLICATION_COMMAND,
            data,
            user=user,
            channel=channel,
            label=label,
            permissions=permissions,
            app_permissions=app_permissions,
            locale=locale,
        )
        return await self._send_interaction(record)

    async def post_message(
        self,
        channel: Channel,
        user: User,
        content: str = "",
        *,
        attachments: list[CdnFile | tuple[str, bytes] | tuple[str, bytes, str]] = (),
    ) -> Message:
        """``user`` posts a message in ``channel`` (e.g. to use a message menu on it). Each
        attachment is a ``CdnFile`` (``add_attachment``) or ``(filename, data[,
        content_type])``, put on the CDN so the bot can download it. The bot's shard gets a
        MESSAGE_CREATE if it has the messages intent (content emptied without the message
        content intent, as Discord does)."""
        guild = self.world.guild_of(channel)
        if guild is not None:
            self.world.ensure_member(guild, user)
        files = [a if isinstance(a, CdnFile) else self.add_attachment(*a) for a in attachments]
        message = self.world.new_message(
            channel.id,
            guild.id if guild else None,
            author=user,
            content=content,
            attachments=[f.payload() for f in files],
            files={f.filename: f.data for f in files},
        )
        self.world.post_to_channel(message)
        self.world.feed_message("created", message)
        await self.flush()
        await self.backend.announce("MESSAGE_CREATE", message)
        self.world.changed()
        return message

    async def click(
        self,
        target: Message | InteractionRecord | Callback,
        *,
        custom_id: str | None = None,
        label: str | None = None,
        user: User | None = None,
        permissions: Any = None,
    ) -> InteractionRecord:
        """Press the button with this ``custom_id`` (or ``label``) on a message (or on an
        interaction's original response)."""
        if custom_id is None and label is None:
            raise ValueError("say which button: custom_id=... or label=...")
        message = self._message_of(target)
        component = message.find_component(custom_id=custom_id, label=label)
        if component.get("type") != 2:
            raise ValueError(f"{component.get('custom_id')!r} is not a button")
        if component.get("disabled"):
            raise ValueError(f"button {component.get('label') or custom_id!r} is disabled")
        if "custom_id" not in component:
            raise ValueError("link buttons cannot be clicked by a bot-facing test")
        return await self._component(message, component, None, user, permissions)

    async def select(
        self,
        target: Message | InteractionRecord | Callback,
        *,
        custom_id: str,
        values: list[str],
        user: User | None = None,
        permissions: Any = None,
    ) -> InteractionRecord:
        """Pick ``values`` in the select menu ``custom_id``."""
        message = self._message_of(target)
        component = message.find_component(custom_id=custom_id)
        return await self._component(message, component, values, user, permissions)

    async def _component(
        self,
        message: Message,
        component: dict[str, Any],
        values: list[str] | None,
        user: User | None,
        permissions: Any,
    ) -> InteractionRecord:
        user = user or self.default_user
        channel = self.world.channels[message.channel_id]
        await asyncio.sleep(self.human_delay)
        what = component.get("label") or component.get("custom_id")
        record = build_interaction(
            self.world,
            MESSAGE_COMPONENT,
            component_data(component, values),
            user=user,
            channel=channel,
            label=f"component {what!r} on message {message.id}",
            permissions=permissions,
            message=message,
        )
        return await self._send_interaction(record)

    async def submit_modal(
        self, shown_by: InteractionRecord, values: dict[str, Any], *, user: User | None = None
    ) -> InteractionRecord:
        """Fill in and submit the modal the bot showed in answer to ``shown_by``."""
        modal = shown_by.modal
        if modal is None:
            raise ValueError(f"{shown_by.label} was not answered with a modal")
        await asyncio.sleep(self.human_delay)
        record = build_interaction(
            self.world,
            MODAL_SUBMIT,
            modal_submit_data(modal, values),
            user=user or shown_by.user,
            channel=shown_by.channel,
            label=f"modal {modal['custom_id']!r}",
            message=shown_by.source_message,
        )
        return await self._send_interaction(record)

    def _message_of(self, target: Message | InteractionRecord | Callback) -> Message:
        if isinstance(target, InteractionRecord):
            message = target.original
        elif isinstance(target, Callback):
            message = target.message
        else:
            message = target
        if message is None:
            raise ValueError(f"{target!r} has no message to interact with")
        if message.deleted:
            raise ValueError(f"message {message.id} was deleted")
        return message

    # -- what the bot did --------------------------------------------------------------------

    def synced_commands(self, guild: Guild | None = None) -> list[dict[str, Any]] | None:
        """The body of the last command sync (PUT) for ``guild`` (None = global), exactly as
        the bot sent it; None if it never synced there."""
        gid = guild.id if guild else None
        for scope, body in reversed(self.world.sync_log):
            if scope == gid:
                return body
        return None

    def commands(self, guild: Guild | None = None) -> list[dict[str, Any]]:
        """The commands as stored (with ``id``, ``application_id``, ``version``)."""
        return self.world.commands_for(guild.id if guild else None)

    def channel_messages(self, channel: Channel) -> list[Message]:
        """Messages visible in ``channel``, oldest first (interaction responses included,
        ephemeral and deleted ones not)."""
        return self.world.visible_messages(channel.id)

    async def wait_for_message(
        self,
        channel: Channel,
        check: Callable[[Message], bool] | None = None,
        *,
        count: int = 1,
        timeout: float = 5.0,
    ) -> Message:
        """Wait until ``channel`` holds ``count`` messages passing ``check``; return the last."""

        def found() -> Message | None:
            hits = [m for m in self.channel_messages(channel) if check is None or check(m)]
            return hits[count - 1] if len(hits) >= count else None

        return await self.world.notifier.wait_for(
            found,
            timeout,
            lambda: f"channel #{channel.name} has {self.channel_messages(channel)}",
        )

    def events(self, backlog: int = 1000) -> Subscription:
        """An async iterator over everything that happens from now on (``async for event in
        fd.events(): ...``): ``Event(kind, data, seq, at, dropped)`` where ``kind`` is

        - ``request``: ``method``, ``path`` (tokens replaced by ``{token}``), ``status``,
          ``summary`` (no headers, never a token);
        - ``message``: ``action`` (created/edited/deleted), ``id``, ``channel_id``,
          ``guild_id``, ``ephemeral``, ``message`` (its payload as it now is);
        - ``interaction``: ``action`` (dispatched/callback/callback_refused), ``id``,
          ``label``, ``type`` and the rest;
        - ``gateway``: ``action`` (connect/identify/resume/disconnect/refused), ``shard``…

        At most ``backlog`` events wait for a slow reader; older ones are dropped and the
        next event read says how many (``dropped``). The fake never waits for a reader.
        ``close()`` the subscription when done."""
        return self.world.feed.subscription(backlog)

    def subscribe(
        self, callback: Callable[[Event], Any], backlog: int = 1000
    ) -> Callable[[], None]:
        """Call ``callback(event)`` (plain or async) for every event, from a task of its own;
        returns the function that stops it. See :meth:`events`."""
        return self.world.feed.subscribe(callback, backlog)

    def requests(self, method: str | None = None, path_prefix: str = "") -> list[RecordedRequest]:
        """Requests the bot made, filtered by method and path prefix (paths exclude /api/v10)."""
        return [
            r
            for r in self.world.requests
            if (method is None or r.method == method.upper()) and r.path.startswith(path_prefix)
        ]

    @property
    def unmatched_requests(self) -> list[RecordedRequest]:
        """Requests to endpoints the fake does not serve (each got a JSON 404)."""
        return [r for r in self.world.requests if not r.matched]

    def inject_rate_limit(
        self,
        path_prefix: str,
        *,
        retry_after: float = 0.5,
        count: int = 1,
        method: str | None = None,
        is_global: bool = False,
    ) -> Injection:
        """Answer the next ``count`` requests under ``path_prefix`` (with or without
        ``/api/v10``) with a 429 asking to retry after ``retry_after`` seconds. The returned
        object's ``hits`` counts how many were sent."""
        prefix = path_prefix.removeprefix(API)
        return self.limiter.inject(
            prefix, retry_after=retry_after, count=count, method=method, is_global=is_global
        )

    async def wait_for(
        self, check: Callable[[], Any], timeout: float = 5.0, what: str = "condition"
    ) -> Any:
        """Wait until ``check()`` (about the fake's state) is truthy; return its value."""
        return await self.world.notifier.wait_for(check, timeout, lambda: what)

    async def run(self, until: Awaitable[Any] | None = None) -> None:
        """Serve until ``until`` completes (forever if None): for the offline sandbox."""
        if until is None:
            await asyncio.Event().wait()
        else:
            await until
