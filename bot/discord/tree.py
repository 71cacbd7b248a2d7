"""The command tree: one place where every error turns into a few friendly words.

Errors are typed where they arise (``QuotaExceeded`` in the ledger, ``ImgurError``s in
the client, discord.py's check failures) and only here become text. Unexpected errors are
logged with a short id that the member's message shows, so an admin can find the log
line; no traceback, path or secret ever reaches chat.
"""

from __future__ import annotations

import logging
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.discord.replies import GONE, relative_time, reply_privately
from bot.errors import BadInput, QuotaExceeded
from bot.imgur import errors as imgur
from bot.memes import MemeError
from bot.store import StoreUnavailable
from bot.uploads.media import MediaRejected
from bot.uploads.service import UploadIncomplete, UploadProblem

if TYPE_CHECKING:
    from bot.app import ImgurBot

    Interaction = discord.Interaction[ImgurBot]
else:
    Interaction = discord.Interaction

log = logging.getLogger(__name__)

# discord.py's private ``CommandTree._call(self, interaction)`` is overridden below; this is
# the version its signature and behaviour were checked against (a test pins the signature).
CHECKED_AGAINST_DISCORD_PY = "2.7.1"
COMMANDS_UPDATING = (
    "The bot's commands are being updated, and this one is not known any more. "
    "Give it a minute, then try again (Discord may need a restart of your app to refresh)."
)

QUOTA_WORDS = {
    "guild": "This server has used its Imgur allowance for today.",
    "member": "You're going a bit fast.",
    "guild_upload": "This server has reached its upload limit for the hour.",
    # Imgur's own hourly upload throttle is the whole bot's, not this server's doing.
    "upload": "The bot has made as many uploads as Imgur allows in an hour.",
    "client": "The bot has used today's Imgur budget.",
    "ip": "Imgur has asked the bot to slow down.",
    "post": "Imgur has asked the bot to slow down.",
    "slowdown": "Imgur has asked the bot to slow down.",
    "scheduler": "The scheduled posts' budget is spent for today.",
}


def _wait_text(resets_at: datetime | None, fallback: str = "later") -> str:
    return f"Try again {relative_time(resets_at)}." if resets_at else f"Try again {fallback}."


def describe_error(error: BaseException) -> tuple[str, bool]:
    """Return (message for the member, whether this is unexpected and must be logged)."""
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    if isinstance(error, app_commands.CommandNotFound):
        # Discord still shows a command the bot no longer has: the command list on Discord
        # and the bot's tree are out of sync until the next sync reaches every client.
        log.warning(
            "an interaction arrived for /%s, which this bot does not have: the commands on "
            "Discord are out of date (they are synced at start; `imgurbot sync` does it now)",
            " ".join([*error.parents, error.name]),
        )
        return COMMANDS_UPDATING, False
    if isinstance(error, discord.HTTPException) and error.code in GONE:
        # Discord gave up on the interaction before the bot acknowledged it (3 seconds):
        # nothing can reach the member now. Not a bug, but the owner should know why.
        _warn_gone()
        return "", False
    if isinstance(error, app_commands.CommandOnCooldown):
        when = datetime.now(UTC) + timedelta(seconds=error.retry_after)
        return f"Slow down a little: you can use this again {relative_time(when)}.", False
    if isinstance(error, app_commands.MissingPermissions):
        needed = ", ".join(p.replace("_", " ") for p in error.missing_permissions)
        return f"You need the {needed} permission to do that.", False
    if isinstance(error, app_commands.BotMissingPermissions):
        needed = ", ".join(p.replace("_", " ") for p in error.missing_permissions)
        return f"I need the {needed} permission in this channel to do that.", False
    if isinstance(error, app_commands.NoPrivateMessage):
        return "That command only works in a server.", False
    if isinstance(error, app_commands.CheckFailure):
        return str(error) or "You can't use that command here.", False
    if isinstance(error, app_commands.TransformerError):
        return f"I couldn't understand {error.value!r} for that option.", False
    if isinstance(error, BadInput | MediaRejected | UploadProblem):
        return str(error), False
    if isinstance(error, MemeError):
        # The renderer's refusals and the template fetcher's are written for the member.
        return str(error), False
    if isinstance(error, UploadIncomplete):
        # Why it stopped, in the words for that error, then what became of the files.
        cause, unexpected = describe_error(error.cause)
        if unexpected:
            log.error("an upload stopped half-way", exc_info=error.cause)
            cause = "Something went wrong on my side."
        return f"{cause}\n{error}", False
    if isinstance(error, StoreUnavailable):
        log.error("the bot cannot save to its database: %s (%s)", error.reason, error.error)
        return (
            "The bot can't save anything right now (a problem with its disk), so it won't ask "
            "Imgur for you. Nothing was lost; try again later. The bot's owner can see why "
            "in the log.",
            False,
        )
    if isinstance(error, QuotaExceeded):
        words = QUOTA_WORDS.get(error.scope, "The bot is out of Imgur credits for now.")
        return f"{words} {_wait_text(error.resets_at)}", False
    if isinstance(error, imgur.NotFound):
        return "Imgur has nothing there: check the link or the name.", False
    if isinstance(error, imgur.RateLimited):
        return f"Imgur is rate-limiting the bot. {_wait_text(error.resets_at)}", False
    if isinstance(error, imgur.OverCapacity):
        return "Imgur is over capacity right now. Try again in a few minutes.", False
    if isinstance(error, imgur.UploadRejected):
        return f"Imgur refused the upload: {error.reason}", False
    if isinstance(error, imgur.AuthError):
        log.warning("Imgur refused the bot's credentials: %s", error.message)
        return "Imgur refused the bot's credentials; the bot's owner has to check them.", False
    if isinstance(error, imgur.BadResponse):
        return "Imgur sent an answer I couldn't read. Try again in a moment.", False
    if isinstance(error, imgur.ServerError | TimeoutError):
        return "Imgur isn't answering right now. Try again in a few minutes.", False
    if isinstance(error, imgur.ImgurError):
        return f"Imgur said no: {error.message}", False
    return "", True


_gone_warned_at = 0.0
_gone_since_warning = 0


def _warn_gone() -> None:
    """One warning a minute, however many interactions expire in a burst."""
    global _gone_warned_at, _gone_since_warning
    _gone_since_warning += 1
    now = time.monotonic()
    if now - _gone_warned_at < 60:
        return
    log.warning(
        "%d interaction(s) expired before the bot could acknowledge them (Discord allows 3 s): "
        "the bot is overloaded or its connection to Discord is slow; members saw "
        '"The application did not respond"',
        _gone_since_warning,
    )
    _gone_warned_at, _gone_since_warning = now, 0


def outcome_of(error: BaseException, unexpected: bool) -> str:
    """How a failed command counts in the metrics: ``rejected`` (the member's input, a check,
    a cooldown), ``refused`` (the quota ledger), ``failed`` (Imgur, the database, a timeout)
    or ``error`` (a bug: logged with an error id)."""
    if unexpected:
        return "error"
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    if isinstance(error, UploadIncomplete):
        error = error.cause
    if isinstance(error, QuotaExceeded):
        return "refused"
    if isinstance(error, discord.HTTPException) and error.code in GONE:
        return "expired"
    if isinstance(error, imgur.ImgurError | StoreUnavailable | TimeoutError):
        return "failed"
    return "rejected"


class ImgurTree(app_commands.CommandTree["ImgurBot"]):
    """Adds the shutdown gate and the single error handler."""

    accepting = True

    async def interaction_check(self, interaction: Interaction) -> bool:
        if self.accepting:
            return True
        if interaction.type is discord.InteractionType.application_command:
            interaction.extras["outcome"] = "restarting"
            await reply_privately(interaction, "The bot is restarting. Try again in a minute.")
        return False

    async def _call(self, interaction: Interaction) -> None:
        # Everything a command does, its error reply included, counts as in flight, so a
        # shutdown waits for it. discord.py has no public after-command hook for this, so
        # its private ``_call`` is wrapped (checked against CHECKED_AGAINST_DISCORD_PY).
        async with self.client.inflight.track():
            if interaction.type is not discord.InteractionType.application_command:
                return await super()._call(interaction)
            with self.client.metrics.command(interaction):  # counted, timed (bot.metrics)
                return await super()._call(interaction)

    async def on_error(self, interaction: Interaction, error: app_commands.AppCommandError) -> None:
        message, unexpected = describe_error(error)
        interaction.extras["outcome"] = outcome_of(error, unexpected)
        if unexpected:
            error_id = secrets.token_hex(4)
            original = getattr(error, "original", error)
            command = interaction.command.qualified_name if interaction.command else "?"
            log.error(
                "unexpected error %s in /%s (guild %s)",
                error_id,
                command,
                interaction.guild_id,
                exc_info=(type(original), original, original.__traceback__),
                extra={"error_id": error_id, "command": command},
            )
            message = (
                f"Something went wrong on my side (error id `{error_id}`). "
                "The bot's owner can look it up in the logs."
            )
        if not message and not unexpected:
            return  # Discord gave up on the interaction (see describe_error): nobody to tell
        if interaction.type is discord.InteractionType.autocomplete:
            # Autocomplete cannot carry a message: an empty list of suggestions says enough.
            try:
                if not interaction.response.is_done():
                    await interaction.response.autocomplete([])
            except discord.HTTPException as exc:
                log.debug("could not answer an autocomplete after an error: %s", exc)
            return
        await reply_privately(interaction, message)
