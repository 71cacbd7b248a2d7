"""The paginator: first, previous, next, last, shuffle, and an "Open on Imgur" link.

Only the member who ran the command may turn the pages (others get a private note). On
timeout, and when the bot shuts down, the buttons are disabled in place, so a message no
process will answer does not look alive. Where that edit could not be made (the bot was
killed, or the 15-minute token had run out), a click on the old buttons reaches
``ExpiredPages``, which says so instead of leaving Discord's "This interaction failed".

Every paginator's buttons carry its own id (``page:<id>:<action>``), and the paginators alive
in this process are kept by that id: that is how a click is known to be one nobody answers.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import secrets
import weakref
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import discord

from bot.discord.embeds import Page
from bot.discord.replies import NO_MENTIONS

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 180.0
# Discord accepts edits with an interaction's token for 15 minutes; leave a margin.
TOKEN_LIFETIME = timedelta(minutes=14)
EXPIRED = (
    "These buttons stopped working (the bot restarted, or they timed out). "
    "Run the command again to browse."
)

# The paginators this process answers for, by id.
LIVE: weakref.WeakValueDictionary[str, Paginator] = weakref.WeakValueDictionary()


# Above every page the bot shows while its Imgur is the built-in emulator: nobody should
# take the made-up posts for Imgur's.
DEMO_NOTE = "-# Demo catalogue: made-up posts from the built-in Imgur emulator, not Imgur."


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
        self._answered_at: datetime | None = None
        self.view_id = secrets.token_hex(6)
        self.demo = False  # set from the bot when sent
        for button in (self.first, self.previous, self.next, self.last, self.shuffle):
            button.custom_id = f"page:{self.view_id}:{button.custom_id.removeprefix('page:')}"
        LIVE[self.view_id] = self
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

    @property
    def content(self) -> str | None:
        """The page's text, marked as the demo's when the posts are the emulator's."""
        if not self.demo:
            return self.page.content
        return f"{DEMO_NOTE}\n{self.page.content}" if self.page.content else DEMO_NOTE

    async def send(self, interaction: discord.Interaction) -> None:
        """Show page one as the command's answer (after a defer, it replaces "thinking")."""
        self._interaction = interaction
        self._answered_at = datetime.now(UTC)
        self.demo = bool(getattr(interaction.client, "demo", False))
        kwargs = {
            "content": self.content,
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
            content=self.content, embed=self.page.embed, view=self
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
        await self.disable()

    def stop(self) -> None:
        LIVE.pop(self.view_id, None)
        super().stop()

    async def disable(self) -> None:
        """Grey out the buttons in place (the link stays), where the message can still be
        edited, and stop answering them."""
        self.stop()
        for child in self.children:
            if isinstance(child, discord.ui.Button) and child.style is not discord.ButtonStyle.link:
                child.disabled = True
        answered = self._answered_at
        if self._interaction is None or answered is None:
            return
        if datetime.now(UTC) - answered > TOKEN_LIFETIME:
            return  # the token cannot edit any more; a click will reach ExpiredPages
        try:
            await self._interaction.edit_original_response(view=self)
        except discord.HTTPException as exc:  # deleted message, expired token: nothing to fix
            log.debug("could not disable a paginator: %s", exc)

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


class ExpiredPages(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"page:(?P<view_id>[0-9a-f]{12}):(?P<action>[a-z]+)",
):
    """Answers a click on a paginator this process does not have (see the module docstring).

    discord.py offers every click to the dynamic items as well as to the live view that
    owns it, so this stays silent when the paginator is alive."""

    def __init__(self, view_id: str, action: str) -> None:
        super().__init__(discord.ui.Button(custom_id=f"page:{view_id}:{action}"))
        self.view_id = view_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> ExpiredPages:
        return cls(match["view_id"], match["action"])

    async def callback(self, interaction: discord.Interaction) -> None:
        if self.view_id in LIVE:
            return
        try:
            await interaction.response.send_message(
                EXPIRED, ephemeral=True, allowed_mentions=NO_MENTIONS
            )
        except discord.HTTPException as exc:
            log.debug("could not answer a click on expired buttons: %s", exc)


async def disable_all(views: Sequence[discord.ui.View], timeout_s: float = 5.0) -> None:
    """At shutdown: grey out every live paginator's buttons (bounded in time)."""
    paginators = [v for v in views if isinstance(v, Paginator) and not v.is_finished()]
    if not paginators:
        return
    try:
        async with asyncio.timeout(timeout_s):
            await asyncio.gather(*(p.disable() for p in paginators), return_exceptions=True)
    except TimeoutError:
        log.info("shutting down before every paginator's buttons could be disabled")
