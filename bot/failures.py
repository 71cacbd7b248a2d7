"""How a command ends when it cannot do its job: an exit status per kind of failure, and words.

A ``Failure`` is what start-up code raises when the admin (not the code) has something to fix
or wait for: it carries one or two lines (what is wrong, what to do) and the exit status the
process ends with. The command line prints or logs those lines and exits; no traceback,
because a traceback tells an admin nothing they can act on. Anything else that escapes is a
bug and keeps its traceback (status 1).

The statuses are a contract with supervisors (systemd's ``RestartPreventExitStatus``,
scripts) and are documented in the README's "Exit statuses" table, which a test keeps equal
to ``ExitStatus``.

This module imports only the standard library at the top: the command line imports it before
anything heavy, so that Ctrl-C during the slow imports still ends in a sentence.
"""

from __future__ import annotations

import enum
import errno
import socket
from collections.abc import Sequence


class ExitStatus(enum.IntEnum):
    OK = 0
    BUG = 1  # an unexpected error: the log has the traceback, please report it
    CONFIG = 2  # the configuration, a secret or the Discord application needs fixing
    UNREACHABLE = 3  # Discord or Imgur could not be reached; starting again later may work
    STORAGE = 4  # the database, its folder or the log file cannot be used
    IN_USE = 5  # another imgurbot runs on this database, or the port is taken
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as shells report it)


# What each status asks of the admin, for the README table and ``imgurbot --help``.
MEANING = {
    ExitStatus.OK: "done (for `run`: stopped cleanly by SIGTERM or Ctrl-C)",
    ExitStatus.BUG: "unexpected error: a bug; the traceback is in the log, please report it",
    ExitStatus.CONFIG: "fix the configuration: config file, environment, a secret, or the "
    "Discord application (token, invite scopes)",
    ExitStatus.UNREACHABLE: "Discord or Imgur could not be reached: check the network; "
    "starting again later may work",
    ExitStatus.STORAGE: "the database, its folder or the log file cannot be used",
    ExitStatus.IN_USE: "another imgurbot already runs on this database, or the port is taken",
    ExitStatus.INTERRUPTED: "interrupted (Ctrl-C)",
}

# Restarting cannot fix these; a supervisor should wait for the admin (see ``[run] supervised``).
NEEDS_THE_ADMIN = frozenset({ExitStatus.CONFIG, ExitStatus.STORAGE})


class Failure(Exception):
    """A failure the admin can act on: ``lines`` say what is wrong and what to do."""

    def __init__(self, status: ExitStatus, *lines: str) -> None:
        super().__init__(" ".join(lines))
        self.status = status
        self.lines: Sequence[str] = lines


def network_reason(exc: BaseException) -> str:
    """A few words for why a connection failed ("connection refused", "name not resolved")."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, socket.gaierror):
            return "the name does not resolve (DNS)"
        if isinstance(current, TimeoutError):
            return "timed out"
        if isinstance(current, OSError) and current.errno is not None:
            if current.errno == errno.ECONNREFUSED:
                return "connection refused"
            return current.strerror or errno.errorcode.get(current.errno, str(current.errno))
        current = getattr(current, "os_error", None) or current.__cause__ or current.__context__
    return type(exc).__name__


def unreachable(service: str, url: str, exc: BaseException) -> Failure:
    return Failure(
        ExitStatus.UNREACHABLE,
        f"cannot reach {service} at {url} ({network_reason(exc)}).",
        "Check this machine's network, DNS and firewall, then start again.",
    )


def token_refused() -> Failure:
    return Failure(
        ExitStatus.CONFIG,
        "Discord refused DISCORD_TOKEN (401 Unauthorized).",
        "Copy the token again: developer portal, your application, Bot, Reset Token.",
    )


def explain_discord_error(exc: BaseException, api_url: str) -> Failure | None:
    """The failure a discord.py or network exception at start-up means, or None (a bug)."""
    import aiohttp
    import discord

    if isinstance(exc, discord.LoginFailure):
        return token_refused()
    if isinstance(exc, discord.PrivilegedIntentsRequired):
        return Failure(
            ExitStatus.CONFIG,
            "Discord refused the gateway intents the bot asked for.",
            "imgurbot needs no privileged intent; report this as a bug.",
        )
    if isinstance(exc, discord.ConnectionClosed):
        if exc.code == 4004:
            return token_refused()
        if exc.code == 4011:
            return Failure(
                ExitStatus.CONFIG,
                "Discord requires sharding: a shard would serve more than 2,500 servers.",
                'Set [discord] shard_count = "auto" (or more shards): README, "Sharding".',
            )
        if exc.code == 4010:
            return Failure(
                ExitStatus.CONFIG,
                f"Discord refused shard {exc.shard_id} as invalid (close code 4010).",
                "Check [discord] shard_count and shard_ids (--shard-count, --shards): "
                "every id must be below the count.",
            )
        return Failure(
            ExitStatus.UNREACHABLE,
            f"Discord closed the gateway connection (code {exc.code}: {exc.reason or 'no reason'})."
            " Start again later.",
        )
    if isinstance(exc, discord.DiscordServerError):
        return Failure(
            ExitStatus.UNREACHABLE,
            f"Discord answered HTTP {exc.status} at {api_url}: it is having trouble.",
            "Start again later (https://discordstatus.com).",
        )
    if isinstance(
        exc, aiohttp.ClientConnectionError | discord.GatewayNotFound | OSError | TimeoutError
    ):
        return unreachable("Discord", api_url, exc)
    return None
