"""Publishing the slash commands to Discord, only when they changed.

Discord shows a bot's slash commands only after the bot has sent their definitions (a
"sync"), and it rate-limits syncs. So the bot computes the exact payload discord.py would
send, keeps a SHA-256 of it in the database per scope (globally, or one server), and syncs
at start only when the hash differs: a restart with the same commands costs Discord nothing,
an update that changed them publishes them without anyone running ``imgurbot sync``.

``imgurbot sync`` forces a sync and records the hash too.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.failures import ExitStatus, Failure
from bot.store import Schema

if TYPE_CHECKING:
    from bot.app import ImgurBot

log = logging.getLogger(__name__)

MISSING_ACCESS = 50001
# The last payload synced per scope ("global" or "guild:<id>"), as a hash. The step keeps
# the name databases made before the store was portable recorded it under.
MIGRATIONS = Schema(
    "command_sync",
    [
        (
            "m001_synced_commands",
            [
                "CREATE TABLE IF NOT EXISTS synced_commands (scope TEXT PRIMARY KEY, "
                "application_id BIGINT, sha256 TEXT, count INTEGER, synced_at DOUBLE PRECISION)"
            ],
        )
    ],
)


@dataclass(frozen=True)
class SyncOutcome:
    count: int
    guild_id: int | None
    published: bool  # False: unchanged since the last sync, nothing sent

    def describe(self) -> str:
        if self.guild_id:
            where = f"to guild {self.guild_id}"
        else:
            where = "globally (may take a minute to show)"
        if self.published:
            return f"synced {self.count} commands {where}"
        return f"{self.count} commands unchanged since the last sync {where}: not synced again"


async def command_payload(
    tree: app_commands.CommandTree, guild: discord.abc.Snowflake | None
) -> list[dict[str, Any]]:
    """What ``tree.sync(guild=guild)`` sends, translated the same way when a translator is set."""
    commands = tree.get_commands(guild=guild)
    if tree.translator:
        return [await c.get_translated_payload(tree, tree.translator) for c in commands]
    return [c.to_dict(tree) for c in commands]


def payload_digest(payload: list[dict[str, Any]]) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _scope(guild_id: int | None) -> str:
    return f"guild:{guild_id}" if guild_id else "global"


def missing_access(guild_id: int, invite: str) -> Failure:
    return Failure(
        ExitStatus.CONFIG,
        f"Discord refused the commands for server {guild_id} (50001 Missing Access): the bot "
        "is not in that server, or was invited without the applications.commands scope.",
        f"Invite it with this link, then start again: {invite}",
    )


async def publish_commands(
    bot: ImgurBot,
    guild_id: int | None,
    *,
    invite: Callable[[int | None], str],
    force: bool = False,
) -> SyncOutcome:
    """Sync the command tree globally or to ``guild_id`` if it changed (always if ``force``).

    ``invite(guild_id)`` builds the invite link a 50001 answer is explained with.
    """
    guild = discord.Object(id=guild_id) if guild_id else None
    if guild is not None:
        bot.tree.copy_global_to(guild=guild)
    payload = await command_payload(bot.tree, guild)
    digest = payload_digest(payload)
    scope, app_id = _scope(guild_id), int(bot.application_id or 0)
    await bot.store.apply(MIGRATIONS)

    last = await bot.store.fetchone(
        "SELECT application_id, sha256 FROM synced_commands WHERE scope = ?", scope
    )
    if not force and last and (last["application_id"], last["sha256"]) == (app_id, digest):
        return SyncOutcome(len(payload), guild_id, published=False)
    try:
        synced = await bot.tree.sync(guild=guild)
    except discord.Forbidden as exc:
        if guild_id and exc.code == MISSING_ACCESS:
            raise missing_access(guild_id, invite(guild_id)) from None
        raise
    await bot.store.execute(
        "INSERT INTO synced_commands (scope, application_id, sha256, count, synced_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (scope) DO UPDATE SET "
        "application_id = excluded.application_id, sha256 = excluded.sha256, "
        "count = excluded.count, synced_at = excluded.synced_at",
        scope, app_id, digest, len(synced), bot.clock.now().timestamp(),
    )  # fmt: skip
    return SyncOutcome(len(synced), guild_id, published=True)
