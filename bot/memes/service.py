"""The meme service: which templates a server can use, their images, and rendering them.

``MemeService`` is what ``cogs/memes.py`` calls; it holds no Discord types. It owns:

- the **catalogue** (``catalogue``, ``find``, ``suggest``): a server's own templates, Imgur's
  defaults (``/3/memegen/defaults`` through the member's ``ChargedImgur``: charged once,
  then cached for ``[cache] ttl_memegen_s``) and the bot's own drawn ones. When Imgur's
  legacy endpoint fails (or the quota refuses it) the list degrades to the server's and
  the bot's, and says so;
- the **templates' images**: downloaded through the SSRF-safe ``TemplateFetcher`` (links,
  Imgur's templates) or read from the store (a server's), decoded once and kept in a
  bounded cache of decoded backgrounds (``[memes] background_cache_mb``, by decoded size),
  so rendering the same template twice decodes it once; concurrent first uses share one
  download;
- **rendering**, always on the executor the bot gives it (never on the event loop): the full
  render for Imgur (under Imgur's 10 MB, re-encoded or scaled when needed) and the cheap
  preview (640 px still) that is posted to Discord without touching Imgur;
- **adding and removing** a server's templates (``add_template``, ``remove_template``): the
  image checked, scaled and stored, the count per server capped.

Errors are ``MemeError`` subclasses (``TemplateNotFound`` and ``ImgurTemplatesUnavailable``
here, ``FetchRefused``/``FetchFailed`` from ``fetch``, the renderer's own), each with one
line for the member.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import aiohttp
from cachetools import LRUCache

from bot.access import ChargedImgur
from bot.clock import Clock, SystemClock
from bot.config import MemesSettings
from bot.errors import QuotaExceeded
from bot.imgur import sansio
from bot.imgur.errors import ImgurError, ServerError
from bot.store import Store

from .errors import MemeError, TemplateInvalid
from .fetch import FetchFailed, FetchPolicy, Lookup, TemplateFetcher, read_capped, system_lookup
from .fonts import DEFAULT_SEARCH_PATHS, FontBook, default_font_book
from .images import Background, ImageLimits, load_background
from .model import Template, TextBox
from .render import PREVIEW_OPTIONS, Rendered, RenderOptions, render, render_preview
from .templates import (
    LAYOUT_HELP,
    LAYOUTS,
    ServerTemplates,
    TemplateEntry,
    builtin_entries,
    draw_builtin,
    imgur_entry,
    layout_template,
    parse_layout,
    prepare_image,
    template_slug,
)
from .text import clean_text, split_texts

log = logging.getLogger(__name__)
# After Imgur's meme templates fail, how long before they are asked for again.
IMGUR_RETRY_AFTER_S = 60.0

T = TypeVar("T")
SUGGESTIONS = 25  # Discord shows at most 25 autocomplete choices
MAX_NAME_LENGTH = 64


class TemplateNotFound(MemeError):
    """No template answers to what the member typed."""


class ImgurTemplatesUnavailable(MemeError):
    """An Imgur template was asked for while Imgur's list cannot be had."""


@dataclass(frozen=True)
class Catalogue:
    """Every template a server can use: its own, then Imgur's, then the bot's.

    ``imgur_missing`` says Imgur's list could not be had (the legacy endpoint failed, or the
    quota refused it); ``imgur_age_s`` is set when Imgur's list is an older cached copy."""

    entries: tuple[TemplateEntry, ...]
    imgur_missing: bool = False
    imgur_age_s: float | None = None

    @property
    def note(self) -> str | None:
        """A line to show with the list when it is not the whole, fresh one."""
        if self.imgur_missing:
            return (
                "Imgur's meme templates can't be loaded right now, so only this server's and "
                "the bot's own are listed."
            )
        return None


def _decoded_size(background: Background) -> int:
    return (
        sum(frame.width * frame.height * len(frame.getbands()) for frame in background.frames) or 1
    )


def _named(wanted: str, entries: Sequence[TemplateEntry]) -> TemplateEntry | None:
    """The entry whose key, name (any case) or id is what the member typed."""
    slug, name = template_slug(wanted), wanted.casefold()
    for entry in entries:
        if entry.key == wanted or entry.name.casefold() == name or entry.template.id == slug:
            return entry
    return None


class MemeService:
    """Templates, their images and rendering, for the cog. Open it with ``MemeService.open``
    (or ``start``/``close``)."""

    def __init__(
        self,
        settings: MemesSettings,
        *,
        store: Store,
        executor: Executor,
        session: aiohttp.ClientSession,
        extra_origins: Sequence[str] = (),
        lookup: Lookup = system_lookup,
        fonts: FontBook | None = None,
        clock: Clock | None = None,
        user_agent: str = "imgurbot",
    ) -> None:
        self.settings = settings
        self.templates = ServerTemplates(store)
        self.executor = executor
        self.clock = clock or SystemClock()
        self._imgur_quiet_until = 0.0  # see imgur_entries
        self._session = session  # the bot's own, for Discord's attachments
        self.max_bytes = int(settings.max_template_mb * 1024 * 1024)
        self.policy = FetchPolicy.build(
            settings.allowed_template_hosts,
            [*settings.extra_template_origins, *extra_origins],
            max_bytes=self.max_bytes,
            max_redirects=settings.max_redirects,
            timeout_s=settings.fetch_timeout_s,
        )
        self.fetcher = TemplateFetcher(self.policy, lookup=lookup, user_agent=user_agent)
        self.fonts = fonts or (
            FontBook([*settings.fonts, *DEFAULT_SEARCH_PATHS])
            if settings.fonts
            else default_font_book()
        )
        self.limits = ImageLimits()
        self.render_options = RenderOptions(
            max_text_length=settings.max_text_length, fonts=self.fonts, limits=self.limits
        )
        self.preview_options = replace(
            PREVIEW_OPTIONS, max_text_length=settings.max_text_length, fonts=self.fonts
        )
        self._builtins = {entry.key: entry for entry in builtin_entries()}
        self._backgrounds: LRUCache[tuple[Any, ...], Background] = LRUCache(
            maxsize=max(1, settings.background_cache_mb * 1024 * 1024), getsizeof=_decoded_size
        )
        self._loading: dict[tuple[Any, ...], asyncio.Future[Background]] = {}
        self._warming: asyncio.Future[Any] | None = None

    # -- lifetime ------------------------------------------------------------------------

    async def start(self) -> None:
        """Create the templates table, open the fetcher, and read the fonts in the
        background (the first meme after start-up is not the slow one)."""
        await self.templates.setup()
        await self.fetcher.start()
        self._warming = asyncio.ensure_future(self._warm_fonts())

    async def _warm_fonts(self) -> None:
        report = await self.run(self.fonts.warm)
        command = report.install_command()
        if command:
            log.warning(
                "meme fonts are missing (captions fall back to other fonts); install: %s",
                command,
            )

    async def close(self) -> None:
        if self._warming is not None and not self._warming.done():
            self._warming.cancel()
            await asyncio.gather(self._warming, return_exceptions=True)
        await self.fetcher.close()
        self._backgrounds.clear()

    async def __aenter__(self) -> MemeService:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run CPU work (Pillow) on the render executor, never on the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))

    # -- the catalogue -------------------------------------------------------------------

    async def imgur_entries(self, imgur: ChargedImgur) -> tuple[list[TemplateEntry], float | None]:
        """Imgur's default templates (charged once, then from the cache) and the answer's
        age when it is an older copy. Raises what the call raised."""
        now = self.clock.now().timestamp()
        if now < self._imgur_quiet_until:
            # It just failed: autocomplete asks on every keystroke, and each failed call
            # may still be counted by Imgur. Ask again after a pause, not per keystroke.
            raise ServerError("Imgur's meme templates failed a moment ago; asking again shortly")
        try:
            answer = await imgur.get(sansio.memegen_defaults())
        except ImgurError:
            self._imgur_quiet_until = now + IMGUR_RETRY_AFTER_S
            raise
        entries = [imgur_entry(meme) for meme in answer.value]
        return entries, (answer.age_s if answer.stale else None)

    async def catalogue(self, imgur: ChargedImgur, guild_id: int | None) -> Catalogue:
        """Every template this server can use (see ``Catalogue``)."""
        own = await self.templates.list(guild_id) if guild_id is not None else []
        try:
            from_imgur, age = await self.imgur_entries(imgur)
            missing = False
        except (ImgurError, QuotaExceeded, TimeoutError) as error:
            log.info("Imgur's meme templates are unavailable (%s); listing the rest", error)
            from_imgur, age, missing = [], None, True
        return Catalogue(
            (*own, *from_imgur, *self._builtins.values()),
            imgur_missing=missing,
            imgur_age_s=age,
        )

    async def find(self, imgur: ChargedImgur, guild_id: int | None, wanted: str) -> TemplateEntry:
        """The template a member named: a key from autocomplete (``imgur:AbC1234``), or a
        name as typed: this server's, then the bot's, then Imgur's. Imgur's list is asked
        for only when the name is none of the others (it costs a credit when not cached,
        and an upload right after needs the member's whole minute of credits)."""
        wanted = wanted.strip()
        prefix, _, rest = wanted.partition(":")
        if prefix == "imgur" and rest:
            for entry in await self._imgur_or_unavailable(imgur):
                if entry.imgur_id == rest:
                    return entry
        own = await self.templates.list(guild_id) if guild_id is not None else []
        found = _named(wanted, [*own, *self._builtins.values()])
        if found is not None:
            return found
        catalogue = await self.catalogue(imgur, guild_id)
        found = _named(wanted, catalogue.entries)
        if found is not None:
            return found
        extra = f" {catalogue.note}" if catalogue.note else ""
        raise TemplateNotFound(
            f"There is no template called “{clean_text(wanted)[:80]}”. Pick one from the "
            f"suggestions as you type, or browse them with /meme templates.{extra}"
        )

    async def _imgur_or_unavailable(self, imgur: ChargedImgur) -> list[TemplateEntry]:
        try:
            return (await self.imgur_entries(imgur))[0]
        except (ImgurError, QuotaExceeded, TimeoutError):
            raise ImgurTemplatesUnavailable(
                "Imgur's meme templates can't be loaded right now; pick one of this "
                "server's or the bot's own (see /meme templates)."
            ) from None

    async def suggest(
        self,
        imgur: ChargedImgur,
        guild_id: int | None,
        typed: str,
        *,
        sources: Sequence[str] = ("server", "imgur", "bot"),
    ) -> list[TemplateEntry]:
        """Templates for autocomplete: names starting with what was typed first, then names
        containing it (at most 25)."""
        if sources == ("server",):
            entries: Sequence[TemplateEntry] = (
                await self.templates.list(guild_id) if guild_id is not None else []
            )
        else:
            entries = (await self.catalogue(imgur, guild_id)).entries
        entries = [e for e in entries if e.source in sources]
        needle = typed.strip().lower()
        starts = [e for e in entries if e.name.lower().startswith(needle)]
        rest = [e for e in entries if e not in starts and e.matches(needle)]
        return (starts + rest)[:SUGGESTIONS]

    # -- images --------------------------------------------------------------------------

    async def background(self, entry: TemplateEntry, guild_id: int | None) -> Background:
        """The template's decoded image, from the cache or fetched and decoded once."""
        key = (guild_id if entry.source == "server" else None, entry.key, entry.version)
        cached = self._backgrounds.get(key)
        if cached is not None:
            return cached
        pending = self._loading.get(key)
        if pending is None:
            # The first caller loads it; callers arriving meanwhile share that load.
            pending = asyncio.ensure_future(self._load_background(entry, guild_id))
            self._loading[key] = pending
            pending.add_done_callback(lambda _: self._loading.pop(key, None))
        background = await asyncio.shield(pending)
        if _decoded_size(background) <= self._backgrounds.maxsize:
            self._backgrounds[key] = background
        return background

    async def _load_background(self, entry: TemplateEntry, guild_id: int | None) -> Background:
        max_side = self.render_options.max_side
        if entry.source == "bot":
            return await self.run(draw_builtin, entry.template.id)
        if entry.source == "server":
            data = await self.templates.image(guild_id, entry.template.id) if guild_id else None
            if data is None:
                raise TemplateNotFound(f"The template “{entry.name}” was just removed.")
        else:
            assert entry.image_url is not None
            data = (await self.fetcher.fetch(entry.image_url)).data
        return await self.run(load_background, data, limits=self.limits, max_side=max_side)

    async def download_link(self, link: str) -> bytes:
        """The image behind a link a member gave, under the link policy (see ``fetch``)."""
        return (await self.fetcher.fetch(link)).data

    async def download_attachment(self, url: str, declared_size: int | None) -> bytes:
        """A Discord attachment's bytes, capped while streaming. The link is Discord's own
        (from the interaction), not one a member typed, so it is read with the bot's
        session rather than through the link policy."""
        if declared_size is not None and declared_size > self.max_bytes:
            raise FetchFailed(
                f"The image is {declared_size / 1_048_576:.1f} MB; the limit for templates is "
                f"{self.settings.max_template_mb:g} MB. Use a smaller one."
            )
        timeout = aiohttp.ClientTimeout(total=self.settings.fetch_timeout_s)
        try:
            async with self._session.get(url, timeout=timeout) as response:
                if response.status != 200:
                    raise FetchFailed(
                        f"Discord answered {response.status} for the attachment; try again."
                    )
                return await read_capped(response, self.max_bytes)
        except (aiohttp.ClientError, TimeoutError):
            raise FetchFailed("The attachment could not be downloaded; try again.") from None

    # -- rendering -----------------------------------------------------------------------

    async def render(
        self,
        entry: TemplateEntry,
        values: Sequence[str | None],
        *,
        guild_id: int | None,
        preview: bool = False,
    ) -> Rendered:
        """Render a template with what the member typed (one value per box, or one
        ``|``-separated line). ``preview``: the 640 px still for Discord, else the full
        meme for Imgur."""
        texts = split_texts(values, len(entry.template.boxes), entry.name)
        background = await self.background(entry, guild_id)
        return await self._render(entry.template, background, texts, preview)

    async def render_custom(
        self,
        image: bytes,
        values: Sequence[str | None],
        boxes: Sequence[TextBox],
        *,
        preview: bool = False,
    ) -> Rendered:
        """Render on a member's own image, with the given layout."""
        template = Template.build(id="custom", name="Custom meme", boxes=tuple(boxes))
        texts = split_texts(values, len(boxes), "This layout")
        return await self._render(template, image, texts, preview)

    async def _render(
        self, template: Template, background: Background | bytes, texts: list[str], preview: bool
    ) -> Rendered:
        if preview:
            return await self.run(
                render_preview, template, background, texts, options=self.preview_options
            )
        return await self.run(render, template, background, texts, options=self.render_options)

    async def preview_sample(self, entry: TemplateEntry, guild_id: int | None) -> Rendered:
        """A preview of a template with sample text in every box (for browsing)."""
        return await self.render(entry, list(entry.sample_texts), guild_id=guild_id, preview=True)

    # -- layouts and a server's own templates ---------------------------------------------

    async def layout(
        self, imgur: ChargedImgur, guild_id: int | None, text: str | None
    ) -> tuple[TextBox, ...]:
        """The boxes a member asked for: a preset, JSON boxes, or another template's layout
        (by name); the classic top and bottom when nothing was given."""
        if not text or not text.strip():
            return LAYOUTS["classic"]
        boxes = parse_layout(text)
        if boxes is not None:
            return boxes
        try:
            return (await self.find(imgur, guild_id, text)).template.boxes
        except TemplateNotFound:
            raise TemplateInvalid(
                f"“{clean_text(text)[:80]}” is not a layout: {LAYOUT_HELP}."
            ) from None

    async def add_template(
        self,
        imgur: ChargedImgur,
        guild_id: int,
        user_id: int,
        name: str,
        image: bytes,
        *,
        source: str,
        layout: str | None = None,
    ) -> TemplateEntry:
        """Check, scale and store a new template for a server."""
        shown = clean_text(name).replace("\n", " ")
        if not shown or len(shown) > MAX_NAME_LENGTH:
            raise TemplateInvalid(
                f"A template's name is 1 to {MAX_NAME_LENGTH} visible characters; "
                f"“{shown[:80]}” is {len(shown)}."
            )
        template = layout_template(shown, await self.layout(imgur, guild_id, layout))
        prepared = await self.run(
            prepare_image, image, self.settings.template_max_side, self.limits
        )
        return await self.templates.add(
            guild_id,
            template,
            prepared,
            source=source,
            added_by=user_id,
            added_at=self.clock.now().timestamp(),
            limit=self.settings.max_templates_per_server,
        )

    async def remove_template(self, guild_id: int, wanted: str) -> TemplateEntry:
        """Remove one of this server's templates (by key or name); the removed entry."""
        wanted = wanted.strip()
        slug = wanted[len("server:") :] if wanted.startswith("server:") else template_slug(wanted)
        entry = await self.templates.get(guild_id, slug)
        if entry is None or not await self.templates.remove(guild_id, slug):
            raise TemplateNotFound(
                f"This server has no template called “{clean_text(wanted)[:80]}”."
            )
        return entry
