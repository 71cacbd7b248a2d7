"""Uploading to Imgur from Discord: ``/imgur upload``, ``/imgur uploads`` and the "Upload to
Imgur" message menu.

Discord surface only: options, deferring, progress edits and the answer. The work is
``bot.uploads`` (``bot.uploads.service``); the answer and the "Delete from Imgur" button
are ``bot.discord.uploads``.

``/imgur`` is the browsing cog's group (a ``GroupCog``), and a command group cannot span
cogs by declaration, so this cog adds its two subcommands to that group when it loads and
takes them out when it unloads (as RoboDanny adds context menus to the tree). The commands
are module-level functions wrapped in fresh ``Command`` objects per cog, so two bots in one
process never share one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.replies import reply_privately
from bot.discord.uploads import (
    UploadPages,
    defer_upload,
    progress_text,
    send_published,
)
from bot.uploads.formats import IMGUR_VIDEO_LIMIT, type_from_name
from bot.uploads.progress import Progress
from bot.uploads.service import Incoming

if TYPE_CHECKING:
    from bot.app import ImgurBot

    Interaction = discord.Interaction[ImgurBot]
else:
    Interaction = discord.Interaction

MENU_NAME = "Upload to Imgur"
TITLE_LIMIT = 128  # Imgur shows longer titles cut; Discord options need a bound anyway
DESCRIPTION_LIMIT = 1000


def _incoming(attachment: discord.Attachment) -> Incoming:
    return Incoming(url=attachment.url, filename=attachment.filename, size=attachment.size)


def _is_media(attachment: discord.Attachment) -> bool:
    """Worth trying: Discord says picture or video, or the name does. (The bytes decide
    whether it really is one; this only leaves out the PDFs and ZIPs next to them.)"""
    claimed = (attachment.content_type or "").split(";")[0].strip().lower()
    if claimed.startswith(("image/", "video/")):
        return True
    return type_from_name(attachment.filename) is not None


def _in_a_server(interaction: Interaction) -> None:
    # Uploads count against a server's hourly limit: outside one nothing would bound them.
    if interaction.guild_id is None:
        raise app_commands.NoPrivateMessage()


async def _upload(
    interaction: Interaction,
    attachments: list[discord.Attachment],
    *,
    visible: bool,
    title: str | None = None,
    description: str | None = None,
    source_message_id: int | None = None,
    size_limit: int,
    command: str,
) -> None:
    _in_a_server(interaction)
    await defer_upload(interaction, visible)
    service = interaction.client.uploads

    async def show(progress: Progress) -> None:
        await interaction.edit_original_response(content=progress_text(progress))

    published = await service.upload_attachments(
        [_incoming(a) for a in attachments],
        guild_id=interaction.guild_id,
        user_id=interaction.user.id,
        channel_id=interaction.channel_id,
        source_message_id=source_message_id,
        title=title or None,
        description=description or None,
        size_limit=size_limit,
        command=command,
        meter=service.meter(show),
    )
    await send_published(interaction, published, visible=visible)


# -- the commands (wrapped per cog in ``Uploads.cog_load``) --------------------------------


@app_commands.describe(
    file="a picture or video (JPEG, PNG, GIF, TIFF, MP4, WebM, MOV...)",
    file2="another file: several files make an album",
    file3="another file for the album",
    file4="another file for the album",
    title="a title on Imgur",
    description="a description on Imgur",
    visible="show the result to the channel (default) or only to you",
)
async def upload_command(
    interaction: Interaction,
    file: discord.Attachment,
    file2: discord.Attachment | None = None,
    file3: discord.Attachment | None = None,
    file4: discord.Attachment | None = None,
    title: app_commands.Range[str, 1, TITLE_LIMIT] | None = None,
    description: app_commands.Range[str, 1, DESCRIPTION_LIMIT] | None = None,
    visible: bool = True,
) -> None:
    files = [a for a in (file, file2, file3, file4) if a is not None]
    await _upload(
        interaction,
        files,
        visible=visible,
        title=title,
        description=description,
        size_limit=interaction.filesize_limit,
        command="upload",
    )


@app_commands.describe(member="someone else's uploads in this server (needs Manage Messages)")
async def uploads_command(interaction: Interaction, member: discord.Member | None = None) -> None:
    service = interaction.client.uploads
    if member is None or member.id == interaction.user.id:
        records = await service.listing(interaction.user.id)
        whose = "You have"
    else:
        _in_a_server(interaction)
        if not interaction.permissions.manage_messages:
            raise app_commands.MissingPermissions(["manage_messages"])
        records = await service.listing(member.id, guild_id=interaction.guild_id)
        whose = f"{member.display_name} has"
    if not records:
        await reply_privately(interaction, f"{whose} no uploads on Imgur that I know of.")
        return
    await interaction.response.defer(ephemeral=True, thinking=True)
    view = UploadPages(
        records,
        interaction.user.id,
        timeout=interaction.client.config.discord.paginator_timeout_s,
    )
    interaction.client.track_view(view)
    await view.send(interaction)


async def upload_menu(interaction: Interaction, message: discord.Message) -> None:
    media = [a for a in message.attachments if _is_media(a)]
    if not media:
        await reply_privately(
            interaction,
            "That message has no pictures or videos attached, so there is nothing to upload.",
        )
        return
    # The files are on Discord already, whoever posted them: only Imgur's limits apply.
    await _upload(
        interaction,
        media,
        visible=True,
        source_message_id=message.id,
        size_limit=IMGUR_VIDEO_LIMIT,
        command="upload-menu",
    )


class Uploads(commands.Cog):
    """Adds ``/imgur upload``, ``/imgur uploads`` and the message menu; see the docstring."""

    def __init__(self, bot: ImgurBot) -> None:
        self.bot = bot
        self.subcommands = [
            app_commands.Command(
                name="upload",
                description="Upload pictures or videos to Imgur (several make an album)",
                callback=upload_command,
            ),
            app_commands.Command(
                name="uploads",
                description="Your uploads to Imgur, with buttons to delete them",
                callback=uploads_command,
            ),
        ]
        self.menu = app_commands.ContextMenu(
            name=MENU_NAME,
            callback=upload_menu,
            allowed_contexts=app_commands.AppCommandContext(guild=True),
        )

    def _imgur_group(self) -> app_commands.Group:
        group = self.bot.tree.get_command("imgur")
        if not isinstance(group, app_commands.Group):
            raise RuntimeError("the /imgur group (cogs.browse) must be loaded before cogs.uploads")
        return group

    async def cog_load(self) -> None:
        if getattr(self.bot, "uploads", None) is None:
            raise RuntimeError("the bot has no upload service (open_bot creates it)")
        group = self._imgur_group()
        for command in self.subcommands:
            group.add_command(command)
        self.bot.tree.add_command(self.menu)

    async def cog_unload(self) -> None:
        group = self.bot.tree.get_command("imgur")
        if isinstance(group, app_commands.Group):
            for command in self.subcommands:
                group.remove_command(command.name)
        self.bot.tree.remove_command(self.menu.name, type=self.menu.type)


async def setup(bot: ImgurBot) -> None:
    await bot.add_cog(Uploads(bot))
