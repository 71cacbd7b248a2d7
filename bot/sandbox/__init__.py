"""``imgurbot sandbox``: try every command in a browser, with no Discord or Imgur account.

The Imgur emulator, the fake Discord and the real bot run in this process
(``bot.sandbox.world``); a small web server (``bot.sandbox.server``) serves a page that looks
and behaves like a Discord channel, plus what happened underneath. The page is plain HTML,
CSS and JavaScript in ``static/``: no build step and nothing fetched from the internet.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
import webbrowser

from aiohttp import web

from bot.sandbox.server import build_app
from bot.sandbox.world import Sandbox

log = logging.getLogger(__name__)

LOOPBACK = ("127.0.0.1", "localhost", "::1")


async def serve_sandbox(
    host: str, port: int, *, open_browser: bool = False, since: float | None = None
) -> int:
    """Run the sandbox until SIGINT or SIGTERM; print its address when it is ready.

    ``since`` (a ``time.monotonic()`` reading, the process's start) is where the logged
    start-up time counts from: to the bot's first answered command."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    try:
        async with Sandbox() as sandbox:
            app = build_app(sandbox, loopback_only=host in LOOPBACK)
            runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=2.0)
            await runner.setup()
            try:
                site = web.TCPSite(runner, host, port)
                await site.start()
                bound = runner.addresses[0][1]
                shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
                url = f"http://{shown}:{bound}/"
                total = time.monotonic() - since if since is not None else sandbox.started_in_s
                log.info(
                    "sandbox ready: first command answered %.2f s after start (%.2f s to start "
                    "the emulator, the fake Discord and the bot and have it answer)",
                    total,
                    sandbox.started_in_s,
                )
                print(f"imgurbot sandbox: open {url}  (Ctrl-C stops it)", flush=True)
                if host not in LOOPBACK:
                    print(
                        f"imgurbot sandbox: listening on {host}: anyone who can reach this "
                        "machine's port can use it",
                        flush=True,
                    )
                if open_browser:
                    await loop.run_in_executor(None, webbrowser.open, url)
                await stopping.wait()
                log.info("stopping the sandbox")
            finally:
                await runner.cleanup()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return 0
