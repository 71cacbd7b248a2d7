"""Point the genuine discord.py at another Discord (a proxy, the fake Discord, the sandbox).

discord.py builds every REST URL from the class attribute ``discord.http.Route.BASE`` (the
webhook adapter that answers interactions imports the same ``Route``), and a plain
``Client``/``Bot`` connects straight to ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY``
without asking ``GET /gateway/bot``. Setting those two attributes is all it takes. Do not call
``discord.http._set_api_version()`` afterwards: it rewrites ``Route.BASE``.

This is the one place in the project that knows it; ``[discord] api_base_url`` and
``gateway_url`` reach it through ``open_bot``, and the tests use it for bare clients.
"""

from __future__ import annotations

from collections.abc import Callable

import discord.gateway
import discord.http
import yarl


def point_discordpy_at(rest_url: str | None, gateway_url: str | None) -> Callable[[], None]:
    """Send discord.py's REST calls to ``rest_url`` (e.g. ``http://127.0.0.1:8080/api/v10``)
    and its gateway connection to ``gateway_url`` (e.g. ``ws://127.0.0.1:8080/gateway``).
    A None leaves that one as it is.

    Returns a function that puts the previous values back (calling it twice is harmless).
    """
    previous = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    if rest_url:
        discord.http.Route.BASE = rest_url.rstrip("/")
    if gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)

    def restore() -> None:
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = previous

    return restore
