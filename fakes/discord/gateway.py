"""The fake gateway: one WebSocket endpoint speaking Discord's gateway protocol v10.

What it does, each point from Discord's gateway documentation (Events → Gateway, Gateway
Events, Opcodes and Status Codes):

- HELLO on connect; every HEARTBEAT (op 1) is answered with HEARTBEAT_ACK (op 11).
- Frames: plain JSON text, or with ``?compress=zlib-stream`` / ``zstd-stream`` binary frames
  of one compression context per connection (``compression.py``). Clients may send their
  own payloads as text or binary frames (UTF-8 JSON either way).
- IDENTIFY (op 2) → READY (``session_id``, ``resume_gateway_url``, ``application``, the
  shard's guilds as unavailable) then one GUILD_CREATE per guild of that shard. A wrong
  token closes with 4004; a second IDENTIFY on one connection with 4005; an invalid ``shard``
  with 4010; a shard that would hold more than ``max_guilds_per_shard`` guilds with 4011.
- Sharding: a session with ``shard: [id, count]`` gets only the events of guilds with
  ``(guild_id >> 22) % count == id``; events without a guild (DMs) go to shard 0. Several
  sessions may identify with the same shard, each getting that shard's events: Discord's
  Gateway documentation, "Sharding", says "You can establish multiple sessions with the same
  [shard_id, num_shards]" (what zero-downtime hand-overs rely on), and its close codes have
  4005 only for "more than one identify payload" on one connection. So the fake refuses no
  second session for a shard; keeping one process per shard is the bot's job.
- Session starts: every IDENTIFY spends one of ``session_start_limit.remaining`` (shown by
  ``GET /gateway/bot``). At most one IDENTIFY per ``identify_interval`` (5 s) per
  rate-limit key ``shard_id % max_concurrency``; one over that gets INVALID_SESSION (op 9).
  When none remain, Discord resets the bot's token and ends every session: the fake closes
  them with 4004 and refuses the old token from then on.
- RESUME (op 6) → the events missed since the client's sequence, then RESUMED; an unknown
  session, or one whose missed events are no longer kept, gets INVALID_SESSION (op 9).
- REQUEST_GUILD_MEMBERS (op 8) → one GUILD_MEMBERS_CHUNK.
- Bad input closes the socket with Discord's codes: 4002 (not JSON), 4001 (unknown opcode),
  4003 (a payload other than HEARTBEAT/IDENTIFY/RESUME before identifying), 4012 (an
  unsupported ``v``). An unknown ``compress`` or an ``encoding`` other than ``json`` is
  refused before the upgrade with a 400 that says what is accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from .compression import Plain, ZlibStream, ZstdStream, transport_for
from .state import World

log = logging.getLogger(__name__)

# Opcodes.
DISPATCH, HEARTBEAT, IDENTIFY, PRESENCE_UPDATE, VOICE_STATE_UPDATE = 0, 1, 2, 3, 4
RESUME, RECONNECT, REQUEST_GUILD_MEMBERS, INVALID_SESSION, HELLO, HEARTBEAT_ACK = 6, 7, 8, 9, 10, 11
REQUEST_SOUNDBOARD_SOUNDS, REQUEST_CHANNEL_INFO = 31, 43
CLIENT_OPCODES = {
    HEARTBEAT,
    IDENTIFY,
    PRESENCE_UPDATE,
    VOICE_STATE_UPDATE,
    RESUME,
    REQUEST_GUILD_MEMBERS,
    REQUEST_SOUNDBOARD_SOUNDS,
    REQUEST_CHANNEL_INFO,
}

# Close codes.
UNKNOWN_OPCODE, DECODE_ERROR, NOT_AUTHENTICATED = 4001, 4002, 4003
AUTHENTICATION_FAILED, ALREADY_AUTHENTICATED = 4004, 4005
INVALID_SHARD, SHARDING_REQUIRED, INVALID_API_VERSION = 4010, 4011, 4012

SUPPORTED_VERSIONS = {"9", "10"}
REPLAY_KEPT = 1000  # dispatches a session keeps for RESUME; older ones cannot be replayed
RECEIVED_KEPT = 1000  # client payloads kept in ``Gateway.received``
DAY_MS = 24 * 60 * 60 * 1000


def shard_of(guild_id: str | int | None, shard_count: int) -> int:
    """The shard that receives a guild's events (Discord's sharding formula); DMs: 0."""
    if guild_id is None:
        return 0
    return (int(guild_id) >> 22) % shard_count


@dataclass(eq=False)
class Connection:
    """One WebSocket connection (a session may live on several, one after another)."""

    path: str
    query: dict[str, str]
    transport: Plain | ZlibStream | ZstdStream = field(default_factory=Plain, repr=False)
    ws: web.WebSocketResponse | None = field(default=None, repr=False)
    kind: str = "pending"  # "identify", "resume", "invalid", "refused"
    close_code: int | None = None

    async def send(self, payload: dict[str, Any]) -> None:
        ws = self.ws
        if ws is None or ws.closed:
            raise ConnectionResetError("socket closed")
        frame = self.transport.encode(json.dumps(payload))
        if isinstance(frame, bytes):
            await ws.send_bytes(frame)
        else:
            await ws.send_str(frame)


@dataclass(eq=False)
class GatewaySession:
    id: str
    intents: int
    shard: list[int]
    sequence: int = 0
    sent: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=REPLAY_KEPT))
    connection: Connection | None = None
    ready: bool = False  # READY and every GUILD_CREATE have been sent
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def ws(self) -> web.WebSocketResponse | None:
        return self.connection.ws if self.connection is not None else None

    @property
    def connected(self) -> bool:
        ws = self.ws
        return ws is not None and not ws.closed

    def owns(self, guild_id: str | int | None) -> bool:
        """Whether this session's shard receives events for ``guild_id`` (None: a DM)."""
        shard_id, count = self.shard
        return shard_of(guild_id, count) == shard_id


@dataclass
class SessionStartLimit:
    """``GET /gateway/bot``'s ``session_start_limit``, spent by every IDENTIFY."""

    total: int = 1000
    remaining: int = 1000
    max_concurrency: int = 1
    reset_at: float = field(default_factory=lambda: time.monotonic() + DAY_MS / 1000)

    def refresh(self, now: float) -> None:
        if now >= self.reset_at:
            self.remaining = self.total
            self.reset_at = now + DAY_MS / 1000

    def payload(self, now: float) -> dict[str, int]:
        self.refresh(now)
        return {
            "total": self.total,
            "remaining": self.remaining,
            "reset_after": max(0, int((self.reset_at - now) * 1000)),
            "max_concurrency": self.max_concurrency,
        }


class Gateway:
    def __init__(
        self,
        world: World,
        *,
        heartbeat_interval_ms: int = 41_250,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.world = world
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.clock = clock
        self.url = ""  # ws://127.0.0.1:PORT/gateway, set once the server listens
        self.sessions: dict[str, GatewaySession] = {}
        self.connections: list[Connection] = []
        self.received: deque[dict[str, Any]] = deque(maxlen=RECEIVED_KEPT)  # client payloads
        self.session_start_limit = SessionStartLimit()
        self.identify_interval: float | None = 5.0  # per rate-limit key; None: no limit
        self.max_guilds_per_shard = 2500  # more on one shard: close 4011 (sharding required)
        self.recommended_shards = 1  # GET /gateway/bot ``shards``
        self._last_identify: dict[int, float] = {}
        self._sockets: set[web.WebSocketResponse] = set()

    @property
    def resume_url(self) -> str:
        return self.url + "/resume"

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/gateway", self.handle), web.get("/gateway/resume", self.handle)]

    # -- connection handling -----------------------------------------------------------------

    def _refusal(self, query: dict[str, str]) -> str | None:
        """Why the connection's query string cannot be served, or None."""
        encoding = query.get("encoding", "json")
        if encoding != "json":
            return f"encoding={encoding!r} is not supported by the fake Discord; use json"
        try:
            transport_for(query.get("compress"))
        except ValueError as exc:
            return str(exc)
        return None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        query = dict(request.query)
        connection = Connection(request.path, query)
        self.connections.append(connection)
        refusal = self._refusal(query)
        if refusal is not None:
            connection.kind = "refused"
            self.world.feed.publish("gateway", action="refused", reason=refusal)
            return web.Response(status=400, text=refusal, content_type="text/plain")
        connection.transport = transport_for(query.get("compress"))
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        connection.ws = ws
        self._sockets.add(ws)
        self.world.feed.publish(
            "gateway", action="connect", path=request.path, compress=connection.transport.name
        )
        session: GatewaySession | None = None
        try:
            hello = {"heartbeat_interval": self.heartbeat_interval_ms}
            await connection.send({"op": HELLO, "d": hello})
            if query.get("v", "10") not in SUPPORTED_VERSIONS:
                await self._close(connection, INVALID_API_VERSION, "Invalid API version.")
                return ws
            async for msg in ws:
                payload = await self._decode(connection, msg)
                if payload is None:
                    if ws.closed:
                        break
                    continue
                self.received.append(payload)
                session = await self._handle_payload(connection, session, payload)
                if ws.closed:
                    break
        finally:
            self._sockets.discard(ws)
            connection.close_code = ws.close_code
            if session is not None and session.connection is connection:
                session.connection = None
                # A 1000/1001 close ends the session, as on Discord; anything else leaves it
                # resumable. (discord.py's own close() reaches the server as 4000: its poll
                # loop closes the socket first.)
                if ws.close_code in (1000, 1001):
                    self.sessions.pop(session.id, None)
            self.world.feed.publish(
                "gateway",
                action="disconnect",
                code=ws.close_code,
                session=session.id if session else None,
                shard=session.shard if session else None,
            )
            self.world.changed()
        return ws

    async def _decode(self, connection: Connection, msg: Any) -> dict[str, Any] | None:
        """The client's payload from a TEXT or BINARY frame (None for control frames)."""
        if msg.type == WSMsgType.TEXT:
            raw: str | bytes = msg.data
        elif msg.type == WSMsgType.BINARY:
            raw = msg.data  # Discord accepts client payloads in binary frames too
        else:
            return None
        try:
            payload = json.loads(raw)
            if not isinstance(payload, dict):
                raise ValueError("not an object")
        except ValueError:
            await self._close(connection, DECODE_ERROR, "Decode error.")
            return None
        return payload

    async def _handle_payload(
        self, connection: Connection, session: GatewaySession | None, payload: dict[str, Any]
    ) -> GatewaySession | None:
        op, data = payload.get("op"), payload.get("d")
        if op not in CLIENT_OPCODES:
            await self._close(connection, UNKNOWN_OPCODE, "Unknown opcode.")
            return session
        if op == HEARTBEAT:
            await connection.send({"op": HEARTBEAT_ACK})
        elif op == IDENTIFY:
            if session is not None:
                await self._close(connection, ALREADY_AUTHENTICATED, "Already authenticated.")
                return session
            connection.kind = "identify"
            return await self._identify(connection, data if isinstance(data, dict) else {})
        elif op == RESUME:
            connection.kind = "resume"
            session = await self._resume(connection, data if isinstance(data, dict) else {})
            if session is None:
                connection.kind = "invalid"
            return session
        elif session is None:
            await self._close(connection, NOT_AUTHENTICATED, "Not authenticated.")
        elif op == REQUEST_GUILD_MEMBERS:
            await self._members_chunk(session, data if isinstance(data, dict) else {})
        # PRESENCE_UPDATE, VOICE_STATE_UPDATE and the rest need no answer.
        return session

    async def _close(self, connection: Connection, code: int, reason: str) -> None:
        if connection.ws is not None:
            with contextlib.suppress(ConnectionError):
                await connection.ws.close(code=code, message=reason.encode())

    def _token_ok(self, token: Any) -> bool:
        token = str(token or "")
        return self.world.token_valid(token.removeprefix("Bot "))

    def _valid_shard(self, shard: Any) -> list[int] | None:
        if shard is None:
            return [0, 1]
        if (
            isinstance(shard, list)
            and len(shard) == 2
            and all(isinstance(n, int) and not isinstance(n, bool) for n in shard)
            and shard[1] >= 1
            and 0 <= shard[0] < shard[1]
        ):
            return list(shard)
        return None

    async def _identify(
        self, connection: Connection, data: dict[str, Any]
    ) -> GatewaySession | None:
        world = self.world
        if not self._token_ok(data.get("token")):
            await self._close(connection, AUTHENTICATION_FAILED, "Authentication failed.")
            return None
        shard = self._valid_shard(data.get("shard"))
        if shard is None:
            await self._close(connection, INVALID_SHARD, "Invalid shard.")
            return None
        now = self.clock()
        limits = self.session_start_limit
        limits.refresh(now)
        if limits.remaining <= 0:
            # Discord: past the daily limit every session ends and the token is reset.
            world.revoke_token()
            await self._close(connection, AUTHENTICATION_FAILED, "Authentication failed.")
            await self.drop_connections(code=AUTHENTICATION_FAILED)
            return None
        key = shard[0] % max(1, limits.max_concurrency)
        last = self._last_identify.get(key)
        if (
            self.identify_interval is not None
            and last is not None
            and now - last < self.identify_interval
        ):
            await connection.send({"op": INVALID_SESSION, "d": False})
            return None
        owned = [g for g in world.guilds.values() if shard_of(g.id, shard[1]) == shard[0]]
        if len(owned) > self.max_guilds_per_shard:
            await self._close(connection, SHARDING_REQUIRED, "Sharding required.")
            return None
        self._last_identify[key] = now
        limits.remaining -= 1
        session = GatewaySession(
            id=secrets.token_hex(16),
            intents=int(data.get("intents", 0)),
            shard=shard,
            connection=connection,
        )
        self.sessions[session.id] = session
        world.feed.publish("gateway", action="identify", session=session.id, shard=shard)
        ready = {
            "v": 10,
            "user": world.bot_self_payload(),
            "guilds": [{"id": g.id, "unavailable": True} for g in owned],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self.resume_url,
            "shard": session.shard,
            "application": {"id": world.application_id, "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "user_settings": {},
        }
        await self.send(session, "READY", ready)
        for guild in owned:
            await self.send(session, "GUILD_CREATE", guild.payload(world.bot.id))
        session.ready = True
        world.changed()
        return session

    async def _resume(self, connection: Connection, data: dict[str, Any]) -> GatewaySession | None:
        session = self.sessions.get(str(data.get("session_id", "")))
        seen = int(data.get("seq") or 0)
        kept_from = session.sent[0]["s"] if session is not None and session.sent else 1
        if (
            session is None
            or not self._token_ok(data.get("token"))
            or (seen + 1 < kept_from and session.sequence > seen)
        ):
            await connection.send({"op": INVALID_SESSION, "d": False})
            return None
        old = session.connection
        session.connection = connection
        if old is not None and old.ws is not None and not old.ws.closed:
            await old.ws.close(code=4000, message=b"Session resumed elsewhere.")
        async with session.lock:
            for payload in session.sent:
                if payload["s"] > seen:
                    await connection.send(payload)
        await self.send(session, "RESUMED", {})
        self.world.feed.publish("gateway", action="resume", session=session.id, shard=session.shard)
        self.world.changed()
        return session

    async def _members_chunk(self, session: GatewaySession, data: dict[str, Any]) -> None:
        guild = self.world.guilds.get(str(data.get("guild_id")))
        if guild is None:
            return
        wanted = {str(u) for u in data.get("user_ids") or []}
        prefix = (data.get("query") or "").lower()
        members = [
            m.payload()
            for m in guild.members.values()
            if (not wanted or m.user.id in wanted) and m.user.username.lower().startswith(prefix)
        ]
        chunk = {
            "guild_id": guild.id,
            "members": members,
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": sorted(wanted - {m["user"]["id"] for m in members}),
        }
        if data.get("nonce") is not None:
            chunk["nonce"] = data["nonce"]
        await self.send(session, "GUILD_MEMBERS_CHUNK", chunk)

    # -- sending -----------------------------------------------------------------------------

    async def send(self, session: GatewaySession, event: str, data: Any) -> None:
        async with session.lock:
            session.sequence += 1
            payload = {"op": DISPATCH, "t": event, "s": session.sequence, "d": data}
            session.sent.append(payload)
            connection = session.connection
            if connection is not None:
                try:
                    await connection.send(payload)
                except ConnectionError:
                    # Kept in ``sent``; a RESUME will replay it.
                    log.debug("gateway send of %s failed; left for resume", event)

    def ready_sessions(self) -> list[GatewaySession]:
        """Identified sessions, connected or waiting to be resumed."""
        return [s for s in self.sessions.values() if s.ready]

    def connected_sessions(self) -> list[GatewaySession]:
        """Identified sessions with a live socket."""
        return [s for s in self.ready_sessions() if s.connected]

    def sessions_for(self, guild_id: str | int | None) -> list[GatewaySession]:
        """Ready sessions whose shard receives events of ``guild_id`` (None: DMs, shard 0)."""
        return [s for s in self.ready_sessions() if s.owns(guild_id)]

    @property
    def open_sockets(self) -> int:
        return len(self._sockets)

    async def dispatch(self, event: str, data: Any, *, guild_id: str | int | None = None) -> int:
        """Send a DISPATCH to every session whose shard owns ``guild_id`` (None: shard 0);
        returns how many sessions got it."""
        sessions = self.sessions_for(guild_id)
        for session in sessions:
            await self.send(session, event, data)
        return len(sessions)

    async def send_reconnect(self) -> None:
        """Ask every client to reconnect (op 7); discord.py will RESUME."""
        for session in self.ready_sessions():
            if session.connection is not None and session.connected:
                await session.connection.send({"op": RECONNECT, "d": None})

    async def drop_connections(self, code: int = 4000) -> None:
        """Close every socket from the server side (sessions stay resumable)."""
        for ws in list(self._sockets):
            with contextlib.suppress(ConnectionError):
                await ws.close(code=code, message=b"Dropped by the fake.")

    async def close(self) -> None:
        await self.drop_connections(code=1001)
        self.sessions.clear()
