"""The link that adds the bot to a server, with exactly the permissions it uses.

Scopes: ``bot`` (the bot user joins) and ``applications.commands`` (its slash commands may be
published there; without it Discord refuses a sync to that server with 50001 Missing
Access). Permissions: what the shared Discord code needs, plus what each loaded cog declares
in a ``bot_permissions`` class attribute (a ``discord.Permissions``). Answers to slash
commands need no channel permission at all, so a cog declares only what it does outside
them: posting to a channel, attaching files there, reading a channel's history.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterable

import discord
from discord.ext import commands

SCOPES = ("bot", "applications.commands")

# bot/discord/replies.py posts a private note's text in the channel instead when the
# interaction's 15-minute token has expired: that needs to see the channel and to send.
SHARED = discord.Permissions(view_channel=True, send_messages=True)

# Names as Discord's invite page shows them, where they differ from the flag's name.
_SHOWN = {
    "read_messages": "View Channels",  # discord.py's name for VIEW_CHANNEL
    "read_message_history": "Read Message History",
    "external_emojis": "Use External Emojis",
}


def permissions_needed(cogs: Iterable[object]) -> discord.Permissions:
    """The shared permissions plus every cog's (or cog class's) ``bot_permissions``."""
    needed = discord.Permissions(SHARED.value)
    for cog in cogs:
        declared = getattr(cog, "bot_permissions", None)
        if isinstance(declared, discord.Permissions):
            needed |= declared
    return needed


def cog_classes(extensions: Iterable[str]) -> list[type[commands.Cog]]:
    """The cog classes the extension modules define, without a bot to load them into."""
    found = []
    for name in extensions:
        module = importlib.import_module(name)
        found.extend(
            obj
            for obj in vars(module).values()
            if inspect.isclass(obj)
            and issubclass(obj, commands.Cog)
            and obj.__module__ == module.__name__
        )
    return found


def permission_names(permissions: discord.Permissions) -> list[str]:
    return [_SHOWN.get(name, name.replace("_", " ").title()) for name, on in permissions if on]


def invite_url(
    application_id: int, permissions: discord.Permissions, guild_id: int | None = None
) -> str:
    """The OAuth2 link; with ``guild_id``, that server is chosen in advance."""
    if guild_id:
        return discord.utils.oauth_url(
            application_id,
            permissions=permissions,
            scopes=SCOPES,
            guild=discord.Object(id=guild_id),
            disable_guild_select=True,
        )
    return discord.utils.oauth_url(application_id, permissions=permissions, scopes=SCOPES)


def invite_line(url: str, permissions: discord.Permissions) -> str:
    """What the bot logs at every start."""
    names = ", ".join(permission_names(permissions)) or "none"
    return (
        f"invite the bot to a server (scopes bot and applications.commands; "
        f"permissions {names}): {url}"
    )
