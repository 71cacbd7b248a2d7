"""The paginator: first, previous, next, last, shuffle, and an "Open on Imgur" link.

Only the member who ran the command may turn the pages (others get a private note). On
timeout the buttons are disabled in place, so a stale message does not look alive.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence

import discord

from bot.discord.embeds import Page
from bot.discord.replies import NO_MENTIONS

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 180.0


class Paginator(discord.ui.View):
    def __init__(
        self,
        pages: Sequence[Page],
        owner_id: int,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(timeout=timeout)
        if not pages:
            raise ValueError("a paginator needs at least one page")
        self.pages = pages  # may be lazy: a page is rendered when first shown
        self.owner_id = owner_id
        self.index = 0
        self._rng = rng or random.Random()
        self._interaction: discord.Interaction | None = None
        self.open_link = discord.ui.Button(
            label="Open on Imgur", style=discord.ButtonStyle.link, url=self.pages[0].url
        )
        if len(self.pages) == 1:
            for child in list(self.children):
                self.remove_item(child)
        self.add_item(self.open_link)
        self._sync_buttons()

    # -- rendering ------------------------------------------------------------------------

    @property
    def page(self) -> Page:
        return self.pages[self.index]

    def _sync_buttons(self) -> None:
        # Not named _refresh: discord.ui.View has its own, which discord.py calls on updates.
        last = len(self.pages) - 1
        self.first.disabled = self.previous.disabled = self.index == 0
        self.next.disabled = self.last.disabled = self.index == last
        self.open_link.url = self.page.url

    async def send(self, interaction: discord.Interaction) -> None:
        """Show page one as the command's answer (after a defer, it replaces "thinking")."""
        self._interaction = interaction
        kwargs = {
            "content": self.page.content,
            "embed": self.page.embed,
            "view": self,
            "allowed_mentions": NO_MENTIONS,
        }
        if interaction.response.is_done():
            await interaction.edit_original_response(**kwargs)
        else:
            await interaction.response.send_message(**kwargs)

    async def _show(self, interaction: discord.Interaction, index: int) -> None:
        self.index = max(0, min(index, len(self.pages) - 1))
        self._sync_buttons()
        await interaction.response.edit_message(
            content=self.page.content, embed=self.page.embed, view=self
        )

    # -- who may press ---------------------------------------------------------------------

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id == self.owner_id:
            return True
        await interaction.response.send_message(
            "These buttons belong to whoever ran the command. Run it yourself to browse.",
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )
        return False

    async def on_timeout(self) -> None:
        for child in self.children:
            if isinstance(child, discord.ui.Button) and child.style is not discord.ButtonStyle.link:
                child.disabled = True
        if self._interaction is None:
            return
        try:
            await self._interaction.edit_original_response(view=self)
        except discord.HTTPException as exc:  # deleted message, expired token: nothing to fix
            log.debug("could not disable a timed-out paginator: %s", exc)

    # -- buttons ---------------------------------------------------------------------------

    @discord.ui.button(label="⏮", style=discord.ButtonStyle.secondary, custom_id="page:first")
    async def first(self, interaction: discord.Interaction, _: discord.ui.Button) -> None:
        await self._show(interaction, 0)

    @discord.ui.button(label="◀", style=discord.ButtonStyle.primary, custom_id="page:prev")
    async def previous(self, interaction: discord.Interaction, _: discord.ui.Button) -> None:
        await self._show(interaction, self.index - 1)

    @discord.ui.button(label="▶", style=discord.ButtonStyle.primary, custom_id="page:next")
    async def next(self, interaction: discord.Interaction, _: discord.ui.Button) -> None:
        await self._show(interaction, self.index + 1)

    @discord.ui.button(label="⏭", style=discord.ButtonStyle.secondary, custom_id="page:last")
    async def last(self, interaction: discord.Interaction, _: discord.ui.Button) -> None:
        await self._show(interaction, len(self.pages) - 1)

    @discord.ui.button(label="🔀", style=discord.ButtonStyle.secondary, custom_id="page:shuffle")
    async def shuffle(self, interaction: discord.Interaction, _: discord.ui.Button) -> None:
        choices = [i for i in range(len(self.pages)) if i != self.index] or [self.index]
        await self._show(interaction, self._rng.choice(choices))
