"""Entry points of the Imgur emulator: ``make_app``, ``Emulator`` and ``run``.

Usage in a test::

    async with Emulator(EmulatorConfig(seed=7, item_count=500)) as emu:
        async with aiohttp.ClientSession() as http:
            headers = {"Authorization": "Client-ID test"}
            async with http.get(f"{emu.base_url}/3/gallery/hot/viral/0", headers=headers) as r:
                items = (await r.json())["data"]
        emu.faults.add("html_404", path_prefix="/3/image", times=1)
        emu.expire_tokens()
        assert emu.stats.calls("gallery") == 1

From a shell: ``python -m fakes.imgur --port 8089 --seed 7`` (or ``imgurbot emulator``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import signal
import sys
from typing import Any

from aiohttp import web

from fakes.imgur.accounting import Caller
from fakes.imgur.admin import add_admin_routes
from fakes.imgur.config import EmulatorConfig
from fakes.imgur.data import Catalogue
from fakes.imgur.faults import Faults
from fakes.imgur.oauth import TokenGrant
from fakes.imgur.pipeline import STATE_KEY, handle
from fakes.imgur.state import State
from fakes.imgur.stats import Stats
from fakes.imgur.uploads import body_limit

BACKLOG = 1024  # pending connections the listening socket holds

__all__ = ["Emulator", "EmulatorConfig", "make_app", "run"]

READY_LINE = "Imgur emulator listening on {url}"
ADMIN_TOKEN_ENV = "IMGUR_EMULATOR_ADMIN_TOKEN"

log = logging.getLogger("fakes.imgur")


def make_app(config: EmulatorConfig | None = None) -> web.Application:
    """The aiohttp application, for embedding in another server or test runner."""
    config = config or EmulatorConfig()
    # Large enough for the biggest video sent as base64 in a urlencoded form; anything
    # bigger gets Imgur's own over-size answer (uploads.read_form), not aiohttp's 413.
    app = web.Application(client_max_size=body_limit(config.max_video_bytes))
    app[STATE_KEY] = State(config)
    add_admin_routes(app)
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def _bound_port(site: web.TCPSite) -> int:
    server = site._server  # aiohttp exposes no public accessor for the bound socket
    assert server is not None and server.sockets
    return server.sockets[0].getsockname()[1]


def binds_beyond_loopback(host: str) -> bool:
    """True for a wildcard (``0.0.0.0``, ``::``, ``""``), a LAN address or a host name."""
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


def warn_if_exposed(host: str, config: EmulatorConfig) -> None:
    """Say loudly (stderr and the log) that other machines can reach this emulator."""
    if not binds_beyond_loopback(host):
        return
    admin = (
        "its admin API (/_emulator) needs the admin token"
        if config.admin_token
        else "its admin API (/_emulator) answers only loopback Host headers; set "
        f"--admin-token or {ADMIN_TOKEN_ENV} to drive it from elsewhere"
    )
    message = (
        f"WARNING: the Imgur emulator listens on {host or 'every address'}, beyond loopback: "
        f"anyone who can reach this port can use its API, and {admin}"
    )
    print(message, file=sys.stderr, flush=True)
    log.warning(message)


async def _start_site(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Listen on host:port; returns the runner (to clean up) and the bound port."""
    config = app[STATE_KEY].config
    # aiohttp would hold an idle keep-alive connection for an hour; real servers close it
    # far sooner, and clients must cope with that (a pooled connection gone stale).
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=config.keepalive_timeout)
    await runner.setup()
    # Clients open bursts of connections; a small listen backlog would drop SYNs and add a
    # 1 s retransmit to some requests, a delay the real service does not have.
    site = web.TCPSite(runner, host, port, backlog=BACKLOG)
    await site.start()
    warn_if_exposed(host, config)
    return runner, _bound_port(site)


class Emulator:
    """An emulator on 127.0.0.1 (free port by default) for the life of an ``async with``."""

    def __init__(
        self, config: EmulatorConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.config = config or EmulatorConfig()
        self.host = host
        self.port = port
        self.app = make_app(self.config)
        self.state: State = self.app[STATE_KEY]
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def start(self) -> Emulator:
        self._runner, self.port = await _start_site(self.app, self.host, self.port)
        self.base_url = f"http://{self.host}:{self.port}"
        self.state.listen_url = self.base_url
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Emulator:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- what tests reach for --------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/3/"

    @property
    def public_url(self) -> str:
        return (self.config.public_url or self.base_url).rstrip("/")

    @property
    def faults(self) -> Faults:
        return self.state.faults

    @property
    def stats(self) -> Stats:
        return self.state.stats

    @property
    def data(self) -> Catalogue:
        return self.state.catalogue

    def expire_tokens(self) -> int:
        """Every access token issued so far now answers 403 (the client must refresh)."""
        return self.state.tokens.expire_all()

    def issue_token(self, username: str | None = None, client_id: str | None = None) -> TokenGrant:
        """A fresh access + refresh token, as if the user had just authorised the app."""
        return self.state.tokens.issue(username or self.config.oauth_username, client_id)

    def reset(self) -> None:
        self.state.reset()

    def remaining(self, client_id: str, ip: str = "127.0.0.1") -> dict[str, int]:
        """Credits left, as ``/3/credits`` would report them (without charging)."""
        return self.state.accounting.credits(Caller(client_id, ip))


def run(host: str = "127.0.0.1", port: int = 8089, **config: Any) -> None:
    """Serve until interrupted; prints one ready line with the URL. ``config``: EmulatorConfig.

    Without an ``admin_token`` argument the token comes from $IMGUR_EMULATOR_ADMIN_TOKEN.
    """
    if config.get("admin_token") is None:
        config["admin_token"] = os.environ.get(ADMIN_TOKEN_ENV) or None
    asyncio.run(serve(host, port, EmulatorConfig(**config)))


async def serve(host: str, port: int, config: EmulatorConfig) -> None:
    app = make_app(config)
    runner, bound = await _start_site(app, host, port)
    url = f"http://{host}:{bound}"
    if host not in ("0.0.0.0", "::", ""):
        # On a wildcard address links follow the request's Host header instead.
        app[STATE_KEY].listen_url = url
    print(READY_LINE.format(url=url), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
