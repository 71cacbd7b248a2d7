"""The fake gateway: one WebSocket endpoint speaking Discord's gateway protocol v10.

Enough of it for discord.py's ``DiscordWebSocket``:

- HELLO on connect; every HEARTBEAT (op 1) is answered with HEARTBEAT_ACK (op 11);
- IDENTIFY (op 2) → READY (``session_id``, ``resume_gateway_url``, ``application``) then one
  GUILD_CREATE per guild; a wrong token closes with 4004 (discord.py then gives up);
- RESUME (op 6) → the events missed since the client's sequence, then RESUMED; an unknown
  session gets INVALID_SESSION (op 9, not resumable) and discord.py re-identifies;
- REQUEST_GUILD_MEMBERS (op 8) → one GUILD_MEMBERS_CHUNK;
- server pushes: any DISPATCH, RECONNECT (op 7) on demand.

Frames are plain JSON text. discord.py asks for ``compress=zlib-stream`` in the query string
but decodes TEXT frames without decompressing, so the fake ignores it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from .state import World

log = logging.getLogger(__name__)

# Opcodes.
DISPATCH, HEARTBEAT, IDENTIFY, PRESENCE_UPDATE, VOICE_STATE_UPDATE = 0, 1, 2, 3, 4
RESUME, RECONNECT, REQUEST_GUILD_MEMBERS, INVALID_SESSION, HELLO, HEARTBEAT_ACK = 6, 7, 8, 9, 10, 11

AUTHENTICATION_FAILED = 4004
ALREADY_AUTHENTICATED = 4005


@dataclass(eq=False)
class GatewaySession:
    id: str
    intents: int
    shard: list[int]
    sequence: int = 0
    sent: list[dict[str, Any]] = field(default_factory=list)  # every DISPATCH, for RESUME
    ws: web.WebSocketResponse | None = None
    ready: bool = False  # READY and every GUILD_CREATE have been sent
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass
class Connection:
    path: str
    query: dict[str, str]
    kind: str = "pending"  # "identify", "resume", "invalid"


class Gateway:
    def __init__(self, world: World, *, heartbeat_interval_ms: int = 41_250) -> None:
        self.world = world
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.url = ""  # ws://127.0.0.1:PORT/gateway, set once the server listens
        self.sessions: dict[str, GatewaySession] = {}
        self.connections: list[Connection] = []
        self.received: list[dict[str, Any]] = []  # every payload the client sent
        self._sockets: set[web.WebSocketResponse] = set()

    @property
    def resume_url(self) -> str:
        return self.url + "/resume"

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/gateway", self.handle), web.get("/gateway/resume", self.handle)]

    # -- connection handling -----------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        self._sockets.add(ws)
        connection = Connection(request.path, dict(request.query))
        self.connections.append(connection)
        session: GatewaySession | None = None
        try:
            await ws.send_str(
                json.dumps({"op": HELLO, "d": {"heartbeat_interval": self.heartbeat_interval_ms}})
            )
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue  # discord.py only ever sends text
                payload = json.loads(msg.data)
                self.received.append(payload)
                op, data = payload.get("op"), payload.get("d")
                if op == HEARTBEAT:
                    await ws.send_str(json.dumps({"op": HEARTBEAT_ACK}))
                elif op == IDENTIFY:
                    if session is not None:
                        await ws.close(
                            code=ALREADY_AUTHENTICATED, message=b"Already authenticated."
                        )
                        break
                    connection.kind = "identify"
                    session = await self._identify(ws, data)
                elif op == RESUME:
                    connection.kind = "resume"
                    session = await self._resume(ws, data)
                    if session is None:
                        connection.kind = "invalid"
                elif op == REQUEST_GUILD_MEMBERS and session is not None:
                    await self._members_chunk(session, data)
                # PRESENCE_UPDATE, VOICE_STATE_UPDATE and the rest need no answer.
        finally:
            self._sockets.discard(ws)
            if session is not None and session.ws is ws:
                session.ws = None
                # A 1000/1001 close ends the session, as on Discord; anything else leaves it
                # resumable. (discord.py's own close() reaches the server as 4000: its poll
                # loop closes the socket first.)
                if ws.close_code in (1000, 1001):
                    self.sessions.pop(session.id, None)
            self.world.changed()
        return ws

    def _token_ok(self, token: Any) -> bool:
        token = str(token or "")
        return token.removeprefix("Bot ") == self.world.token

    async def _identify(
        self, ws: web.WebSocketResponse, data: dict[str, Any]
    ) -> GatewaySession | None:
        if not self._token_ok(data.get("token")):
            await ws.close(code=AUTHENTICATION_FAILED, message=b"Authentication failed.")
            return None
        session = GatewaySession(
            id=secrets.token_hex(16),
            intents=int(data.get("intents", 0)),
            shard=list(data.get("shard") or [0, 1]),
            ws=ws,
        )
        self.sessions[session.id] = session
        world = self.world
        ready = {
            "v": 10,
            "user": world.bot.payload(),
            "guilds": [{"id": g.id, "unavailable": True} for g in world.guilds.values()],
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
        for guild in list(world.guilds.values()):
            await self.send(session, "GUILD_CREATE", guild.payload(world.bot.id))
        session.ready = True
        world.changed()
        return session

    async def _resume(
        self, ws: web.WebSocketResponse, data: dict[str, Any]
    ) -> GatewaySession | None:
        session = self.sessions.get(data.get("session_id", ""))
        if session is None or not self._token_ok(data.get("token")):
            await ws.send_str(json.dumps({"op": INVALID_SESSION, "d": False}))
            return None
        old = session.ws
        session.ws = ws
        if old is not None and not old.closed:
            await old.close(code=4000, message=b"Session resumed elsewhere.")
        async with session.lock:
            seen = int(data.get("seq") or 0)
            for payload in session.sent:
                if payload["s"] > seen:
                    await ws.send_str(json.dumps(payload))
        await self.send(session, "RESUMED", {})
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
            ws = session.ws
            if ws is not None and not ws.closed:
                try:
                    await ws.send_str(json.dumps(payload))
                except ConnectionError:
                    # Kept in ``sent``; a RESUME will replay it.
                    log.debug("gateway send of %s failed; left for resume", event)

    def ready_sessions(self) -> list[GatewaySession]:
        """Identified sessions, connected or waiting to be resumed."""
        return [s for s in self.sessions.values() if s.ready]

    def connected_sessions(self) -> list[GatewaySession]:
        """Identified sessions with a live socket."""
        return [s for s in self.ready_sessions() if s.ws is not None and not s.ws.closed]

    @property
    def open_sockets(self) -> int:
        return len(self._sockets)

    async def dispatch(self, event: str, data: Any) -> int:
        """Send a DISPATCH to every identified session; returns how many got it."""
        sessions = self.ready_sessions()
        for session in sessions:
            await self.send(session, event, data)
        return len(sessions)

    async def send_reconnect(self) -> None:
        """Ask every client to reconnect (op 7); discord.py will RESUME."""
        for session in self.ready_sessions():
            if session.ws is not None and not session.ws.closed:
                await session.ws.send_str(json.dumps({"op": RECONNECT, "d": None}))

    async def drop_connections(self, code: int = 4000) -> None:
        """Close every socket from the server side (sessions stay resumable)."""
        for ws in list(self._sockets):
            with contextlib.suppress(ConnectionError):
                await ws.close(code=code, message=b"Dropped by the fake.")

    async def close(self) -> None:
        await self.drop_connections(code=1001)
        self.sessions.clear()
