"""Sending short ephemeral replies whatever state the interaction is in.

A slash command can fail before it answered, after it deferred (the "thinking" message is
public), after it answered, or after its 15-minute token expired. ``reply_privately``
finds the right way in each case; every message goes out with ``AllowedMentions.none()``
because what we echo (titles, captions, queries) comes from strangers.
"""

from __future__ import annotations

import logging
import unicodedata
from datetime import datetime

import discord

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()
CONTENT_LIMIT = 2000


def relative_time(when: datetime) -> str:
    """Discord renders ``<t:epoch:R>`` as "in 5 minutes" in the reader's own locale."""
    return f"<t:{int(when.timestamp())}:R>"


def clip(text: str, limit: int) -> str:
    """Cut ``text`` to ``limit`` characters, ending with an ellipsis when it was longer."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# Unicode categories never echoed: controls, format characters (the bidi overrides and
# isolates that reorder the rest of a message, zero-width characters), private-use,
# surrogates and unassigned code points.
_UNSHOWN = frozenset({"Cc", "Cf", "Co", "Cs", "Cn"})


def echo(text: object, limit: int = 80) -> str:
    """What a member typed, safe to show back: invisible and direction-changing characters
    removed, whitespace collapsed, cut to ``limit``, then Markdown escaped so it reads as
    typed. (Mentions are harmless anyway: nothing is sent with mentions allowed.)"""
    raw = " ".join(str(text).split())
    visible = "".join(ch for ch in raw if unicodedata.category(ch) not in _UNSHOWN)
    return discord.utils.escape_markdown(clip(visible.strip(), limit))


# Discord's own word that an interaction can no longer be answered: Unknown interaction
# (its 3 seconds or 15 minutes have passed), Unknown webhook, Invalid webhook token.
GONE = frozenset({10062, 10015, 50027})


async def reply_privately(interaction: discord.Interaction, message: str) -> None:
    """Tell the member privately, whatever state the interaction is in.

    Discord decides whether an interaction can still be answered, not the host clock:
    discord.py's ``is_expired()`` compares the interaction id's time with the local clock,
    and a clock a few minutes off would make every answer look too late. So the answer is
    always tried; if Discord says the interaction is gone, the note is dropped (and logged),
    never posted in the channel where everyone would see it.
    """
    message = clip(message, CONTENT_LIMIT)
    try:
        if not interaction.response.is_done():
            await interaction.response.send_message(
                message, ephemeral=True, allowed_mentions=NO_MENTIONS
            )
            return
        if interaction.response.type is discord.InteractionResponseType.deferred_channel_message:
            # The public "thinking…" placeholder would turn our note public: remove it first.
            try:
                await interaction.delete_original_response()
            except discord.HTTPException:
                pass
        await interaction.followup.send(message, ephemeral=True, allowed_mentions=NO_MENTIONS)
    except discord.HTTPException as exc:
        if exc.code in GONE:
            log.warning(
                "a private note could not be delivered: Discord says the interaction is gone "
                "(%s); it was not posted publicly instead",
                exc.code,
            )
        else:
            log.warning("could not tell the member about an error: %s", exc)
