"""The only way cogs reach Imgur: every call is made on behalf of a caller and charged.

``ImgurService.for_caller(guild_id, user_id, command)`` returns a ``Caller`` whose methods
build the request, hand the client a gate bound to that guild and member (the ledger
reserves before anything is sent and settles with what Imgur counted), and parse the
answer into models. A cache hit or a request joining an identical one in flight costs
nothing and never touches the ledger. When the ledger refuses (or Imgur fails) and an
older answer is cached, the client serves it: ``Answer.stale`` and ``Answer.age_s`` say so,
and the cog shows its age instead of refusing.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

from bot.clock import Clock, SystemClock
from bot.errors import BadInput
from bot.imgur import models, sansio
from bot.imgur.client import ImgurClient
from bot.imgur.errors import NotFound
from bot.ledger import Ledger
from bot.links import ImgurRef

T = TypeVar("T")

# How many pages of a listing feed the pool `/imgur random` draws from.
RANDOM_POOL_PAGES = 2
# Channels whose last random pick is remembered (bounded: the oldest are forgotten).
RANDOM_MEMORY = 10_000


@dataclass(frozen=True, slots=True)
class Answer(Generic[T]):
    """A parsed answer; ``age_s`` is how old it is, ``stale`` that it is past its TTL."""

    value: T
    stale: bool = False
    age_s: float = 0.0


class ImgurService:
    def __init__(
        self,
        client: ImgurClient,
        ledger: Ledger,
        *,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._client = client
        self._ledger = ledger
        self._clock = clock or SystemClock()
        self._rng = rng or random.Random()
        self._last_random: OrderedDict[int, str] = OrderedDict()

    def for_caller(self, guild_id: int | None, user_id: int | None, command: str) -> Caller:
        return Caller(self, guild_id, user_id, command)

    def remember_pick(self, channel_id: int, item_id: str) -> None:
        self._last_random[channel_id] = item_id
        self._last_random.move_to_end(channel_id)
        while len(self._last_random) > RANDOM_MEMORY:
            self._last_random.popitem(last=False)


def _with_mature(request: sansio.Request, mature: bool) -> sansio.Request:
    """Un-authenticated gallery listings hide NSFW posts unless asked (imgur-api.md §8)."""
    if not mature:
        return request
    return replace(request, params=(*request.params, ("mature", "true")))


def _build(builder: Callable[..., sansio.Request], *args: Any, **kwargs: Any) -> sansio.Request:
    """Builders raise ValueError for values Imgur would reject: that is the member's input."""
    try:
        return builder(*args, **kwargs)
    except ValueError as exc:
        raise BadInput(str(exc)) from None


def _tag_items(data: Any) -> list[models.GalleryItem]:
    return models.parse_tag_gallery(data).items


def _tag_list(data: Any) -> list[models.Tag]:
    return models.parse_tags(data).tags


class Caller:
    """Imgur on behalf of one member in one guild, for one command."""

    def __init__(
        self, service: ImgurService, guild_id: int | None, user_id: int | None, command: str
    ) -> None:
        self._service = service
        self._gate = service._ledger.gate(guild_id, user_id, command)
        self.guild_id = guild_id
        self.user_id = user_id
        self.command = command

    async def _get(self, request: sansio.Request, parse: Callable[[Any], T]) -> Answer[T]:
        fetched = await self._service._client.fetch(request, gate=self._gate)
        age = fetched.age_s(self._service._clock.now())
        return Answer(fetched.parse(parse), stale=fetched.stale, age_s=age)

    async def frontpage(
        self,
        section: str = "hot",
        sort: str = "viral",
        window: str = "day",
        page: int = 0,
        *,
        mature: bool = False,
    ) -> Answer[list[models.GalleryItem]]:
        """``mature`` asks Imgur to include NSFW posts (only for age-restricted channels)."""
        request = _build(sansio.gallery, section, sort, window, page, mature=mature)
        return await self._get(request, models.parse_gallery)

    async def search(
        self,
        query: str,
        *,
        sort: str = "time",
        window: str = "all",
        q_type: str | None = None,
        q_size_px: str | None = None,
        page: int = 0,
        mature: bool = False,
    ) -> Answer[list[models.GalleryItem]]:
        if q_type or q_size_px:
            request = _build(
                sansio.gallery_search,
                q_all=query,
                q_type=q_type,
                q_size_px=q_size_px,
                sort=sort,
                window=window,
                page=page,
            )
        else:
            request = _build(sansio.gallery_search, query, sort=sort, window=window, page=page)
        return await self._get(_with_mature(request, mature), models.parse_gallery)

    async def tag(
        self,
        name: str,
        sort: str = "viral",
        window: str = "week",
        page: int = 0,
        *,
        mature: bool = False,
    ) -> Answer[list[models.GalleryItem]]:
        request = _build(sansio.gallery_tag, name, sort, window, page)
        return await self._get(_with_mature(request, mature), _tag_items)

    async def tags(self) -> Answer[list[models.Tag]]:
        return await self._get(sansio.tags(), _tag_list)

    async def subreddit(
        self,
        name: str,
        sort: str = "time",
        window: str = "week",
        page: int = 0,
        *,
        mature: bool = False,
    ) -> Answer[list[models.GalleryItem]]:
        request = _build(sansio.subreddit_gallery, name, sort, window, page)
        return await self._get(_with_mature(request, mature), models.parse_gallery)

    async def item(self, ref: ImgurRef) -> Answer[models.GalleryItem | models.Image | models.Album]:
        """Resolve a link: gallery posts first (they carry votes and views), then plain media."""
        if ref.kind == "album":
            return await self._get(_build(sansio.album, ref.id), models.parse_album)
        if ref.kind == "image":
            return await self._get(_build(sansio.image, ref.id), models.parse_image)
        try:
            return await self._get(_build(sansio.gallery_item, ref.id), models.parse_item)
        except NotFound:
            if ref.kind == "gallery":
                raise
        return await self._get(_build(sansio.image, ref.id), models.parse_image)

    async def user(
        self, username: str, *, mature: bool = False
    ) -> Answer[tuple[models.Account, list[models.GalleryItem]]]:
        account = await self._get(_build(sansio.account, username), models.parse_account)
        submissions = await self._get(
            _with_mature(_build(sansio.account_submissions, username, 0), mature),
            models.parse_gallery,
        )
        stale = account.stale or submissions.stale
        return Answer(
            (account.value, submissions.value),
            stale=stale,
            age_s=max(account.age_s, submissions.age_s),
        )

    async def random(
        self, channel_id: int, *, tag: str | None = None, allow_nsfw: bool = False
    ) -> Answer[models.GalleryItem | None]:
        """A random post from a cached pool (the viral front page, or the tag's pages).

        Imgur's random endpoint is deprecated; the pool costs one call per page per TTL
        and is shared by every channel. The channel's previous pick is never drawn twice
        in a row; NSFW posts only where ``allow_nsfw``.
        """
        pool: list[models.GalleryItem] = []
        stale, age = False, 0.0
        for page in range(RANDOM_POOL_PAGES):
            if tag:
                answer = await self.tag(tag, "viral", "week", page, mature=allow_nsfw)
            else:
                answer = await self.frontpage("hot", "viral", "day", page, mature=allow_nsfw)
            stale, age = stale or answer.stale, max(age, answer.age_s)
            if not answer.value:
                break
            pool.extend(answer.value)
        last = self._service._last_random.get(channel_id)
        candidates = [i for i in pool if (allow_nsfw or not i.nsfw) and i.id != last]
        if not candidates:
            return Answer(None, stale=stale, age_s=age)
        pick = self._service._rng.choice(candidates)
        self._service.remember_pick(channel_id, pick.id)
        return Answer(pick, stale=stale, age_s=age)
