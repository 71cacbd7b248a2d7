"""How uploads look in Discord, and the "Delete from Imgur" button.

``send_published(interaction, published, visible=...)`` is the standard answer to anything
that put a file on Imgur (``/imgur upload``, the "Upload to Imgur" menu, memes): the link
and an embed, public unless ``visible`` is False, and for the uploader alone, ephemeral, a
"Delete from Imgur" button. Defer with ``defer_upload(interaction, visible)`` first: the
deferral decides whether the answer is public.

``DeleteUploadButton`` is a persistent ``DynamicItem``: its custom id carries the upload's
row id (never its deletehash), so a click works after a restart, and who may delete is
checked on every click (the uploader, or Manage Messages in the upload's server). Register
it once in ``setup_hook``. A first click asks to confirm; the second deletes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import aiohttp
import discord

from bot.discord.embeds import EMBED_COLOUR, FOOTER_LIMIT, TITLE_LIMIT, Page
from bot.discord.paginator import Paginator
from bot.discord.replies import NO_MENTIONS, clip, echo, reply_privately
from bot.discord.tree import describe_error
from bot.uploads.formats import MediaType
from bot.uploads.media import format_size
from bot.uploads.progress import Progress
from bot.uploads.records import UploadRecord
from bot.uploads.service import Published, UploadService

if TYPE_CHECKING:
    from bot.app import ImgurBot

log = logging.getLogger(__name__)

DESCRIPTION_LIMIT = 300
AUTHOR_LIMIT = 256
_SHORT_NAMES = {t.mime: t.short for t in MediaType}


def _type_name(mime: str | None) -> str | None:
    if not mime:
        return None
    return _SHORT_NAMES.get(mime, mime.rpartition("/")[2].upper())


def _quoted(name: str) -> str:
    return f"“{echo(name, 100)}”"


# -- the answer ----------------------------------------------------------------------------


def published_page(published: Published, *, uploader: str, title: str | None = None) -> Page:
    """The public answer: the link in the text (an animation's mp4, so Discord plays it;
    otherwise in <> so Discord does not show the picture twice) and an embed."""
    first = published.files[0]
    embed = discord.Embed(
        title=clip(title or published.name, TITLE_LIMIT), url=published.page_url,
        colour=EMBED_COLOUR,
    )  # fmt: skip
    embed.set_author(name=clip(f"Uploaded by {uploader}", AUTHOR_LIMIT))
    if published.description:
        embed.description = clip(published.description, DESCRIPTION_LIMIT)
    if published.is_album:
        facts = [f"album · {len(published.files)} files", format_size(published.size)]
    else:
        size = f"{first.width}×{first.height}" if first.width and first.height else None
        facts = [f for f in (_type_name(first.media_type), size, format_size(first.size)) if f]
    embed.set_footer(text=clip(" · ".join(facts), FOOTER_LIMIT))
    animated = first.animated and first.display_url
    if first.display_url and not animated:
        embed.set_image(url=first.display_url)
    if animated and not published.is_album:
        content = first.display_url
    else:
        content = f"<{published.link}>"
    return Page(content=content, embed=embed, url=published.page_url)


def delete_note(published: Published) -> str:
    return (
        f"Only you can see this. If you change your mind, this deletes {_quoted(published.name)} "
        "from Imgur, for everyone who has the link."
    )


async def defer_upload(interaction: discord.Interaction, visible: bool) -> None:
    """Defer before an upload: the "thinking" message is public only when ``visible``."""
    if not interaction.response.is_done():
        await interaction.response.defer(thinking=True, ephemeral=not visible)


async def _answer(interaction: discord.Interaction, **message: Any) -> discord.Message:
    """Send the command's answer, or put it in place of the deferral's "thinking"."""
    if interaction.response.is_done():
        message.pop("ephemeral", None)  # decided by the deferral
        return await interaction.edit_original_response(**message)
    await interaction.response.send_message(**message)
    return await interaction.original_response()


async def send_published(
    interaction: discord.Interaction,
    published: Published,
    *,
    visible: bool = True,
    title: str | None = None,
) -> None:
    """The standard answer to an upload (see the module docstring). ``title`` replaces the
    embed's title (the upload's own title, or its file name, otherwise)."""
    page = published_page(published, uploader=interaction.user.display_name, title=title)
    button = DeleteUploadButton(published.row_id)
    if not visible:
        content = f"{page.content}\n{delete_note(published)}"
        await _answer(
            interaction, content=content, embed=page.embed, view=_view(button),
            ephemeral=True, allowed_mentions=NO_MENTIONS,
        )  # fmt: skip
        return
    message = await _answer(
        interaction, content=page.content, embed=page.embed, allowed_mentions=NO_MENTIONS
    )
    service: UploadService | None = getattr(interaction.client, "uploads", None)
    if service is not None:
        try:
            await service.remember_reply(published.row_id, interaction.channel_id, message.id)
        except Exception as exc:  # the upload stands; only the later "deleted" edit is lost
            log.warning("could not record the message showing upload %d: %r", published.row_id, exc)
    await interaction.followup.send(
        delete_note(published), view=_view(button), ephemeral=True, allowed_mentions=NO_MENTIONS
    )


def _view(*items: discord.ui.Item[Any]) -> discord.ui.View:
    # No timeout: the buttons are dynamic items, answered by any process at any time.
    view = discord.ui.View(timeout=None)
    for item in items:
        view.add_item(item)
    return view


def progress_text(progress: Progress) -> str:
    """ "Sending to Imgur… 4.5 MB of 9 MB (50%)"."""
    files = "your file" if progress.files == 1 else f"{progress.files} files"
    doing = (
        f"Receiving {files} from Discord…"
        if progress.phase == "receiving"
        else f"Sending {files} to Imgur…"
    )
    if progress.total <= 0:
        return f"{doing} {format_size(progress.done)} so far"
    return (
        f"{doing} {format_size(progress.done)} of {format_size(progress.total)} "
        f"({progress.fraction:.0%})"
    )


# -- deleting ------------------------------------------------------------------------------


def delete_custom_id(row_id: int, *, sure: bool = False) -> str:
    return f"upload:delete:{row_id}" + (":sure" if sure else "")


class DeleteUploadButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"upload:delete:(?P<row>[0-9]{1,19})(?P<sure>:sure)?",
):
    """ "Delete from Imgur" (and its "Yes, delete it"): see the module docstring."""

    def __init__(self, row_id: int, *, sure: bool = False) -> None:
        super().__init__(
            discord.ui.Button(
                label="Yes, delete it" if sure else "Delete from Imgur",
                style=discord.ButtonStyle.danger,
                custom_id=delete_custom_id(row_id, sure=sure),
            )
        )
        self.row_id = row_id
        self.sure = sure

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> DeleteUploadButton:
        return cls(int(match["row"]), sure=bool(match["sure"]))

    async def callback(self, interaction: discord.Interaction[ImgurBot]) -> None:
        # Not a command: its errors do not reach the tree's handler, so they are worded here
        # with the same words.
        try:
            await self._act(interaction)
        except Exception as exc:
            words, unexpected = describe_error(exc)
            if unexpected:
                log.error("deleting upload %d failed", self.row_id, exc_info=exc)
                words = "Something went wrong on my side; the upload was not deleted."
            await reply_privately(interaction, words)

    async def _act(self, interaction: discord.Interaction[ImgurBot]) -> None:
        service = interaction.client.uploads
        actor = {
            "actor_id": interaction.user.id,
            "actor_guild_id": interaction.guild_id,
            "may_manage": interaction.guild_id is not None
            and interaction.permissions.manage_messages,
        }
        if not self.sure:
            record = await service.deletable(self.row_id, **actor)
            if record.deleted:
                await reply_privately(interaction, f"{_quoted(record.name)} is already deleted.")
                return
            await interaction.response.send_message(
                f"Delete {_quoted(record.name)} from Imgur for good? Everyone who has the link "
                "will find it gone.",
                view=_view(DeleteUploadButton(self.row_id, sure=True)),
                ephemeral=True,
                allowed_mentions=NO_MENTIONS,
            )
            return
        await interaction.response.defer()  # the confirmation is edited in place
        removal = await service.delete(self.row_id, **actor)
        record = removal.record
        if not removal.already:
            by_uploader = interaction.user.id == record.user_id
            await mark_reply_deleted(interaction.client, record, by_uploader=by_uploader)
        words = "was already deleted" if removal.already else "is deleted from Imgur"
        await interaction.edit_original_response(
            content=f"{_quoted(record.name)} {words}.", view=None, allowed_mentions=NO_MENTIONS
        )


async def mark_reply_deleted(
    client: discord.Client, record: UploadRecord, *, by_uploader: bool
) -> None:
    """Replace the public message that showed a deleted upload (if there is one)."""
    if record.channel_id is None or record.reply_message_id is None:
        return
    who = "its uploader" if by_uploader else "a moderator"
    message = client.get_partial_messageable(record.channel_id).get_partial_message(
        record.reply_message_id
    )
    try:
        await message.edit(
            content=f"🗑️ This upload was deleted from Imgur by {who}.",
            embeds=[],
            allowed_mentions=NO_MENTIONS,
        )
    except (discord.HTTPException, aiohttp.ClientError) as exc:
        # A deleted message, no access, Discord unreachable: the upload is gone all the same.
        log.info("could not mark upload %d's message as deleted: %r", record.id, exc)


# -- /imgur uploads ------------------------------------------------------------------------


def record_page(record: UploadRecord, position: str = "") -> Page:
    """One upload, as ``/imgur uploads`` lists it."""
    embed = discord.Embed(
        title=clip(record.name, TITLE_LIMIT), url=record.page_url, colour=EMBED_COLOUR
    )
    embed.timestamp = datetime.fromtimestamp(record.created_at, UTC)
    kind = "album" if record.is_album else _type_name(record.media_type)
    facts = [f for f in (kind, format_size(record.size) if record.size else None, position) if f]
    embed.set_footer(text=clip(" · ".join(facts), FOOTER_LIMIT))
    if not record.is_album and (record.media_type or "").startswith("image/"):
        embed.set_image(url=record.link)
    return Page(content=f"<{record.link}>", embed=embed, url=record.page_url)


class UploadPages(Paginator):
    """The paginator, one upload a page, with that upload's "Delete from Imgur" button.

    The button is a plain one carrying the dynamic item's custom id: the click is answered
    by ``DeleteUploadButton`` (registered for the whole bot), not by this view. (A dynamic
    item placed in a view that later times out would be unregistered for everyone.)"""

    def __init__(self, records: Sequence[UploadRecord], owner_id: int, *, timeout: float) -> None:
        self.records = list(records)
        total = len(self.records)
        self.delete_button: discord.ui.Button[Any] = discord.ui.Button(
            label="Delete from Imgur",
            style=discord.ButtonStyle.danger,
            custom_id=delete_custom_id(self.records[0].id),
        )
        pages = [
            record_page(r, f"{i + 1}/{total}" if total > 1 else "")
            for i, r in enumerate(self.records)
        ]
        super().__init__(pages, owner_id, timeout=timeout)
        self.add_item(self.delete_button)

    def _sync_buttons(self) -> None:
        super()._sync_buttons()
        self.delete_button.custom_id = delete_custom_id(self.records[self.index].id)
