"""``/meme …``: making memes from templates or members' own images, and a server's templates.

Discord surface only: options, permissions, deferring, files and views. Templates, their
images and rendering are ``bot.memes.service.MemeService`` (``bot.memes``); the Pillow work
runs on the bot's render executor, never here on the event loop.

- ``/meme make`` and ``/meme custom`` render a meme; with ``preview`` the member privately
  gets a 640 px still, posted straight to Discord (no Imgur call, no credits), and a
  "Publish to Imgur" button; without it the full meme is uploaded (charged) and posted.
- ``/meme templates`` pages through every template this server can use, each page with a
  preview rendered with sample text.
- ``/meme template-add`` and ``/meme template-remove`` need Manage Server, checked here on
  every call (Discord's default-permission hint does not apply to subcommands).
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.embeds import EMBED_COLOUR, Page
from bot.discord.paginator import Paginator
from bot.discord.replies import NO_MENTIONS, clip, echo, reply_privately
from bot.discord.tree import describe_error
from bot.discord.uploads import send_published
from bot.errors import BadInput, QuotaExceeded
from bot.imgur.errors import ImgurError
from bot.memes import MemeError, Rendered
from bot.memes.service import MemeService, TemplateEntry
from bot.memes.templates import LAYOUTS, SOURCE_LABELS
from cogs.browse import user_cooldown

if TYPE_CHECKING:
    from bot.app import ImgurBot

    Interaction = discord.Interaction[ImgurBot]
else:
    Interaction = discord.Interaction

TEXT_OPTION_LIMIT = 1000  # Discord refuses longer; the per-box cap is checked by the renderer
# One option per box (discord.py needs each as a parameter); text1 may hold them all.
TEXTS_HELP = {
    "text1": "text for box 1, or every box's text separated by |",
    **{f"text{n}": f"text for box {n}" for n in range(2, 7)},
}
PREVIEW_HELP = "only show me a quick preview first (nothing is uploaded)"
LAYOUT_DESCRIPTIONS = {
    "classic": "classic: top and bottom",
    "top": "top: one caption at the top",
    "bottom": "bottom: one caption at the bottom",
    "center": "center: one caption across the middle",
    "left-right": "left-right: two side by side",
    "four": "four: a two-by-two grid",
}

log = logging.getLogger(__name__)

Text = app_commands.Range[str, 1, TEXT_OPTION_LIMIT]
Publish = Callable[[Interaction], Awaitable[None]]
# Renders the meme (small: the preview) and names it.
Draw = Callable[[bool], Awaitable[tuple[Rendered, str]]]
CUSTOM = "Custom meme"


class NeedsManageServer(app_commands.CheckFailure):
    def __init__(self) -> None:
        super().__init__("You need the Manage Server permission to change this server's templates.")


async def manage_server(interaction: Interaction) -> bool:
    """Only members who may manage the server change its templates (checked every call)."""
    if interaction.guild is None:
        raise app_commands.NoPrivateMessage()
    if not interaction.permissions.manage_guild:
        raise NeedsManageServer()
    return True


def meme_file(rendered: Rendered, stem: str) -> discord.File:
    return discord.File(io.BytesIO(rendered.data), filename=f"{stem}.{rendered.extension}")


def notes_text(rendered: Rendered) -> str:
    """What the renderer had to do that the member may want to know, as a short line."""
    notes = [*rendered.notes, *rendered.adjustments]
    return clip("Note: " + "; ".join(notes) + ".", 400) if notes else ""


class PreviewActions(discord.ui.View):
    """The button under a private preview: publish the full meme (charged) when pressed.

    The meme is posted as a new public message (the preview stays private), and the
    preview's button is greyed out. A button is not a command, so its errors do not reach
    the tree's handler: they are worded here with the tree's words."""

    def __init__(self, origin: Interaction, publish: Publish, *, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self.origin = origin  # the command that posted the preview (its answer is the preview)
        self._publish = publish

    async def interaction_check(self, interaction: Interaction) -> bool:
        if interaction.user.id == self.origin.user.id:
            return True
        await reply_privately(interaction, "This preview belongs to whoever made it.")
        return False

    @discord.ui.button(label="Publish to Imgur", style=discord.ButtonStyle.success)
    async def publish(self, interaction: Interaction, button: discord.ui.Button) -> None:
        button.disabled = True
        self.stop()
        await interaction.response.defer(thinking=True)  # a new, public message
        try:
            await self.origin.edit_original_response(view=self)
        except discord.HTTPException as exc:  # the preview was dismissed, or is too old
            log.debug("could not grey out a preview's button: %s", exc)
        await self._publish(interaction)

    async def on_timeout(self) -> None:
        self.publish.disabled = True
        try:
            await self.origin.edit_original_response(view=self)
        except discord.HTTPException as exc:
            log.debug("could not grey out a preview's button: %s", exc)

    async def on_error(
        self, interaction: Interaction, error: Exception, item: discord.ui.Item
    ) -> None:
        words, unexpected = describe_error(error)
        if unexpected:
            log.error("publishing a previewed meme failed", exc_info=error)
            words = "Something went wrong on my side; the meme was not published."
        await reply_privately(interaction, words)


def template_page(entry: TemplateEntry, position: str, note: str | None) -> Page:
    """One template's page in the browser (its preview is attached when shown)."""
    boxes = len(entry.template.boxes)
    lines = [
        f"From {SOURCE_LABELS[entry.source]} · {boxes} text box{'es' * (boxes != 1)}",
        f"Use it: `/meme make template:{echo(entry.name, 60)}`",
    ]
    if entry.frames > 1:
        lines.insert(1, f"Animated, {entry.frames} frames: every frame gets the text")
    embed = discord.Embed(
        title=clip(entry.name, 256), description="\n".join(lines), colour=EMBED_COLOUR
    )
    embed.set_footer(text=position)
    return Page(content=note, embed=embed, url=entry.page_url or "https://imgur.com/")


class TemplateBrowser(Paginator):
    """The shared paginator, with each template's rendered preview attached to its page and
    the "Open on Imgur" link only on Imgur's templates."""

    def __init__(
        self,
        entries: Sequence[TemplateEntry],
        owner_id: int,
        preview: Callable[[TemplateEntry], Awaitable[Rendered]],
        *,
        note: str | None,
        timeout: float,
    ) -> None:
        self._entries = list(entries)
        self._preview = preview
        self._previews: dict[int, bytes | str] = {}  # rendered JPEG, or why there is none
        total = len(self._entries)
        pages = [
            template_page(entry, f"{n}/{total}", note)
            for n, entry in enumerate(self._entries, start=1)
        ]
        super().__init__(pages, owner_id, timeout=timeout)

    def _sync_buttons(self) -> None:
        super()._sync_buttons()
        on_imgur = self._entries[self.index].page_url is not None
        if on_imgur and self.open_link not in self.children:
            self.add_item(self.open_link)
        elif not on_imgur and self.open_link in self.children:
            self.remove_item(self.open_link)

    async def _rendered_page(self) -> tuple[discord.Embed, list[discord.File]]:
        index = self.index
        if index not in self._previews:
            try:
                self._previews[index] = (await self._preview(self._entries[index])).data
            except MemeError as error:
                self._previews[index] = str(error)
        embed = self.page.embed.copy()
        preview = self._previews[index]
        if isinstance(preview, str):
            embed.add_field(name="No preview", value=clip(preview, 1024), inline=False)
            return embed, []
        embed.set_image(url="attachment://template.jpg")
        return embed, [discord.File(io.BytesIO(preview), filename="template.jpg")]

    async def send(self, interaction: discord.Interaction) -> None:
        """Show page one as the (deferred) command's answer, preview attached."""
        embed, files = await self._rendered_page()
        self._interaction = interaction
        self._answered_at = datetime.now(UTC)
        await interaction.edit_original_response(
            content=self.page.content,
            embed=embed,
            attachments=files,
            view=self,
            allowed_mentions=NO_MENTIONS,
        )

    async def _show(self, interaction: discord.Interaction, index: int) -> None:
        self.index = max(0, min(index, len(self.pages) - 1))
        self._sync_buttons()
        # A template not seen yet may have to be downloaded first: acknowledge the click now.
        await interaction.response.defer()
        embed, files = await self._rendered_page()
        await interaction.edit_original_response(
            content=self.page.content, embed=embed, attachments=files, view=self
        )


class Memes(commands.GroupCog, group_name="meme", group_description="Make memes"):
    def __init__(self, bot: ImgurBot) -> None:
        self.bot = bot
        self.service: MemeService = bot.memes
        super().__init__()

    # -- shared flow ---------------------------------------------------------------------

    @asynccontextmanager
    async def _working(self, interaction: Interaction, *, private: bool = False):
        """Defer (rendering and Imgur take time), then bound the time the command takes."""
        if not interaction.response.is_done():
            await interaction.response.defer(thinking=True, ephemeral=private)
        async with asyncio.timeout(self.bot.config.discord.command_timeout_s):
            yield

    def _imgur(self, interaction: Interaction, command: str):
        return self.bot.imgur.acting_for(interaction.guild_id, interaction.user.id, command)

    async def _deliver(self, interaction: Interaction, draw: Draw, *, preview: bool) -> None:
        """Render (``draw``) and publish the meme; or, for a preview, post the small still
        privately with a button that renders the full meme and publishes it."""
        async with self._working(interaction, private=preview):
            rendered, title = await draw(preview)
        if not preview:
            await self._publish(interaction, rendered, title)
            return

        async def publish(click: Interaction) -> None:
            async with self._working(click):
                full, _ = await draw(False)
            await self._publish(click, full, title)

        what = "your meme" if title == CUSTOM else f"**{echo(title)}**"
        lines = [
            f"Preview of {what} (a small still; nothing was uploaded). "
            "Press **Publish to Imgur** to upload the full meme and post it here.",
            notes_text(rendered),
        ]
        view = PreviewActions(
            interaction, publish, timeout=self.bot.config.discord.paginator_timeout_s
        )
        self.bot.track_view(view)
        await interaction.followup.send(
            "\n".join(line for line in lines if line),
            file=meme_file(rendered, "meme-preview"),
            view=view,
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    async def _publish(self, interaction: Interaction, rendered: Rendered, title: str) -> None:
        """Upload the full meme to Imgur (charged to the server and member: an upload) and
        post the standard upload answer; then, privately, what rendering had to adjust."""
        imgur = self._imgur(interaction, "meme")
        published = await self.bot.uploads.publish_bytes(
            imgur,
            rendered.data,
            filename=f"meme.{rendered.extension}",
            mime=rendered.mime,
            title=title,
            description=None,
            guild_id=interaction.guild_id,
            user_id=interaction.user.id,
            channel_id=interaction.channel_id,
            source_message_id=None,
        )
        await send_published(interaction, published, visible=True, title=title)
        note = notes_text(rendered)
        if note:
            await interaction.followup.send(note, ephemeral=True, allowed_mentions=NO_MENTIONS)

    # -- making memes --------------------------------------------------------------------

    @app_commands.command(name="make", description="Make a meme from a template")
    @app_commands.describe(
        template="the template (start typing for suggestions)",
        **TEXTS_HELP,
        preview=PREVIEW_HELP,
    )
    @user_cooldown
    async def make(
        self,
        interaction: Interaction,
        template: app_commands.Range[str, 1, 100],
        text1: Text | None = None,
        text2: Text | None = None,
        text3: Text | None = None,
        text4: Text | None = None,
        text5: Text | None = None,
        text6: Text | None = None,
        preview: bool = False,
    ) -> None:
        texts = [text1, text2, text3, text4, text5, text6]
        guild_id = interaction.guild_id

        async def draw(small: bool) -> tuple[Rendered, str]:
            imgur = self._imgur(interaction, "memegen")
            entry = await self.service.find(imgur, guild_id, template)
            rendered = await self.service.render(entry, texts, guild_id=guild_id, preview=small)
            return rendered, entry.name

        await self._deliver(interaction, draw, preview=preview)

    @make.autocomplete("template")
    async def template_names(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self._suggest(interaction, current)

    async def _suggest(
        self,
        interaction: Interaction,
        current: str,
        sources: Sequence[str] = ("server", "imgur", "bot"),
    ) -> list[app_commands.Choice[str]]:
        try:
            entries = await self.service.suggest(
                self._imgur(interaction, "memegen"), interaction.guild_id, current, sources=sources
            )
        except (ImgurError, QuotaExceeded, TimeoutError):
            return []
        return [app_commands.Choice(name=clip(e.label, 100), value=e.key[:100]) for e in entries]

    @app_commands.command(name="custom", description="Make a meme on your own image")
    @app_commands.describe(
        image="the picture to caption (PNG, JPEG, GIF, WebP)",
        **TEXTS_HELP,
        layout="where the text goes: classic (default), top, bottom… or a template's layout",
        preview=PREVIEW_HELP,
    )
    @user_cooldown
    async def custom(
        self,
        interaction: Interaction,
        image: discord.Attachment,
        text1: Text | None = None,
        text2: Text | None = None,
        text3: Text | None = None,
        text4: Text | None = None,
        text5: Text | None = None,
        text6: Text | None = None,
        layout: app_commands.Range[str, 1, 4000] | None = None,
        preview: bool = False,
    ) -> None:
        texts = [text1, text2, text3, text4, text5, text6]
        data: bytes | None = None  # downloaded once, for the preview and the full meme

        async def draw(small: bool) -> tuple[Rendered, str]:
            nonlocal data
            imgur = self._imgur(interaction, "memegen")
            boxes = await self.service.layout(imgur, interaction.guild_id, layout)
            if data is None:
                data = await self.service.download_attachment(image.url, image.size)
            rendered = await self.service.render_custom(data, texts, boxes, preview=small)
            return rendered, CUSTOM

        await self._deliver(interaction, draw, preview=preview)

    @custom.autocomplete("layout")
    async def custom_layouts(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self._layouts(interaction, current)

    async def _layouts(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Layout presets, then templates whose layout can be borrowed."""
        needle = current.strip().lower()
        presets = [
            app_commands.Choice(name=LAYOUT_DESCRIPTIONS[name], value=name)
            for name in LAYOUTS
            if needle in name
        ]
        return (presets + await self._suggest(interaction, current))[:25]

    # -- templates -----------------------------------------------------------------------

    @app_commands.command(name="templates", description="Browse the meme templates, with previews")
    @app_commands.describe(search="only templates whose name contains these words")
    @user_cooldown
    async def templates(
        self, interaction: Interaction, search: app_commands.Range[str, 1, 100] | None = None
    ) -> None:
        guild_id = interaction.guild_id
        async with self._working(interaction):
            catalogue = await self.service.catalogue(self._imgur(interaction, "memegen"), guild_id)
        entries = [e for e in catalogue.entries if e.matches(search or "")]
        if not entries:
            await reply_privately(
                interaction, f"No template's name contains “{echo(search)}”. Try other words."
            )
            return
        browser = TemplateBrowser(
            entries,
            interaction.user.id,
            lambda entry: self.service.preview_sample(entry, guild_id),
            note=catalogue.note,
            timeout=self.bot.config.discord.paginator_timeout_s,
        )
        self.bot.track_view(browser)
        await browser.send(interaction)

    @app_commands.command(name="template-add", description="Add a template to this server")
    @app_commands.describe(
        name="what members will call it",
        image="the template's picture (or give a url)",
        url="an https link to the picture on i.imgur.com or Discord (or attach it)",
        layout="where the text goes: classic (default), top, bottom, four… or JSON boxes",
    )
    @app_commands.check(manage_server)
    async def template_add(
        self,
        interaction: Interaction,
        name: app_commands.Range[str, 1, 64],
        image: discord.Attachment | None = None,
        url: app_commands.Range[str, 1, 2000] | None = None,
        layout: app_commands.Range[str, 1, 4000] | None = None,
    ) -> None:
        if (image is None) == (url is None):
            raise BadInput("Attach the template's picture or give its link: one of the two.")
        assert interaction.guild_id is not None  # manage_server refuses DMs
        async with self._working(interaction):
            if image is not None:
                data = await self.service.download_attachment(image.url, image.size)
                source = f"attachment:{image.filename}"
            else:
                assert url is not None
                data = await self.service.download_link(url)
                source = url
            entry = await self.service.add_template(
                self._imgur(interaction, "memegen"),
                interaction.guild_id,
                interaction.user.id,
                name,
                data,
                source=source,
                layout=layout,
            )
            sample = await self.service.preview_sample(entry, interaction.guild_id)
        boxes = len(entry.template.boxes)
        await interaction.followup.send(
            f"Added the template **{echo(entry.name)}** ({boxes} text box{'es' * (boxes != 1)}). "
            f"Make a meme with `/meme make template:{echo(entry.name, 60)}`.",
            file=meme_file(sample, "template"),
            allowed_mentions=NO_MENTIONS,
        )

    @template_add.autocomplete("layout")
    async def template_add_layouts(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self._layouts(interaction, current)

    @app_commands.command(name="template-remove", description="Remove a template from this server")
    @app_commands.describe(template="the server's template to remove")
    @app_commands.check(manage_server)
    async def template_remove(
        self, interaction: Interaction, template: app_commands.Range[str, 1, 100]
    ) -> None:
        assert interaction.guild_id is not None
        entry = await self.service.remove_template(interaction.guild_id, template)
        await interaction.response.send_message(
            f"Removed the template **{echo(entry.name)}** from this server.",
            allowed_mentions=NO_MENTIONS,
        )

    @template_remove.autocomplete("template")
    async def server_template_names(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self._suggest(interaction, current, sources=("server",))


async def setup(bot: ImgurBot) -> None:
    await bot.add_cog(Memes(bot))
