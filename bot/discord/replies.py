"""Sending short ephemeral replies whatever state the interaction is in.

A slash command can fail before it answered, after it deferred (the "thinking" message is
public), after it answered, or after its 15-minute token expired. ``reply_privately``
finds the right way in each case; every message goes out with ``AllowedMentions.none()``
because what we echo (titles, captions, queries) comes from strangers.
"""

from __future__ import annotations

import logging
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


async def reply_privately(interaction: discord.Interaction, message: str) -> None:
    message = clip(message, CONTENT_LIMIT)
    try:
        if interaction.is_expired():
            channel = interaction.channel
            if isinstance(channel, discord.abc.Messageable):
                await channel.send(message, allowed_mentions=NO_MENTIONS)
            return
        if not interaction.response.is_done():
            await interaction.response.send_message(
                message, ephemeral=True, allowed_mentions=NO_MENTIONS
            )
            return
        if interaction.response.type in (discord.InteractionResponseType.deferred_channel_message,):
            # The public "thinking…" placeholder would turn our note public: remove it first.
            try:
                await interaction.delete_original_response()
            except discord.HTTPException:
                pass
        await interaction.followup.send(message, ephemeral=True, allowed_mentions=NO_MENTIONS)
    except discord.HTTPException as exc:
        log.warning("could not tell the user about an error: %s", exc)
