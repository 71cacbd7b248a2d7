"""Browsing that takes more than one Imgur call: a pasted link, a profile, a random pick.

Single calls need nothing here: a cog builds the request (``bot.imgur.sansio``) and asks its
``ChargedImgur``. These functions combine calls, each one charged the same way.
"""

from __future__ import annotations

import logging
import random
from collections import OrderedDict
from dataclasses import dataclass

from bot.access import Answer, ChargedImgur, build
from bot.errors import BadInput, QuotaExceeded
from bot.imgur import models, sansio
from bot.imgur.errors import ImgurError, NotFound
from bot.imgur.links import ImgurRef

log = logging.getLogger(__name__)

# How many pages of a listing feed the pool `/imgur random` draws from.
RANDOM_POOL_PAGES = 2
# Channels whose last random pick is remembered (bounded: the oldest are forgotten).
RANDOM_MEMORY = 10_000

Media = models.GalleryItem | models.Image | models.Album


async def resolve_item(imgur: ChargedImgur, ref: ImgurRef) -> Answer[Media]:
    """Resolve a link: gallery posts first (they carry votes and views), then plain media."""
    if ref.kind == "album":
        return await imgur.get(build(sansio.album, ref.id))
    if ref.kind == "image":
        return await imgur.get(build(sansio.image, ref.id))
    try:
        return await imgur.get(build(sansio.gallery_item, ref.id))
    except NotFound:
        if ref.kind == "gallery":
            raise
    return await imgur.get(build(sansio.image, ref.id))


async def with_album_images(imgur: ChargedImgur, answer: Answer[Media]) -> Answer[Media]:
    """A gallery album often comes without its images: ask for the album itself, and keep
    the post as it is when that second call fails."""
    media = answer.value
    if not isinstance(media, models.Album) or media.images is not None:
        return answer
    try:
        full = await resolve_item(imgur, ImgurRef("album", media.id))
    except PARTIAL_FAILURES as exc:
        log.info("album %s shown without its images: %s", media.id, type(exc).__name__)
        return answer
    if isinstance(full.value, models.Album):
        return Answer(full.value, answer.stale or full.stale, max(answer.age_s, full.age_s))
    return answer


@dataclass(frozen=True, slots=True)
class Profile:
    """An account and its recent submissions; ``submissions`` is None when they could not be
    fetched (the profile is still worth showing)."""

    account: models.Account
    submissions: list[models.GalleryItem] | None


# What a second, optional call may fail with without failing the whole answer.
PARTIAL_FAILURES = (ImgurError, QuotaExceeded)


async def profile(imgur: ChargedImgur, username: str, *, mature: bool = False) -> Answer[Profile]:
    """An account and its recent submissions (two calls; the second may fail alone)."""
    if username.strip().lower() == "me":
        # "me" is the bot's own Imgur account to the API: not a name a member may look up.
        raise BadInput("“me” is not an Imgur username you can look up here. Give a username.")
    account = await imgur.get(build(sansio.account, username))
    try:
        submissions = await imgur.get(build(sansio.account_submissions, username, 0, mature=mature))
    except PARTIAL_FAILURES as exc:
        log.info("profile of %s without its submissions: %s", username, type(exc).__name__)
        return Answer(Profile(account.value, None), account.stale, account.age_s)
    return Answer(
        Profile(account.value, submissions.value),
        stale=account.stale or submissions.stale,
        age_s=max(account.age_s, submissions.age_s),
    )


class RandomPicker:
    """``/imgur random``: a post drawn from a cached pool, never the same twice running in a
    channel.

    Imgur's random endpoint is deprecated; the pool (the viral front page, or a tag's pages)
    costs one call per page per TTL and is shared by every channel.
    """

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()
        self._last: OrderedDict[int, str] = OrderedDict()

    def _remember(self, channel_id: int, item_id: str) -> None:
        self._last[channel_id] = item_id
        self._last.move_to_end(channel_id)
        while len(self._last) > RANDOM_MEMORY:
            self._last.popitem(last=False)

    async def pick(
        self,
        imgur: ChargedImgur,
        channel_id: int,
        *,
        tag: str | None = None,
        allow_nsfw: bool = False,
    ) -> Answer[models.GalleryItem | None]:
        """NSFW posts only where ``allow_nsfw``."""
        pool: list[models.GalleryItem] = []
        stale, age = False, 0.0
        for page in range(RANDOM_POOL_PAGES):
            try:
                if tag:
                    answer = await imgur.get(
                        build(sansio.gallery_tag, tag, "viral", "week", page, mature=allow_nsfw)
                    )
                    items = answer.value.items
                else:
                    listing = await imgur.get(
                        build(sansio.gallery, "hot", "viral", "day", page, mature=allow_nsfw)
                    )
                    answer, items = listing, listing.value
            except PARTIAL_FAILURES:
                if not pool:
                    raise
                break  # the pages that arrived are enough to pick from
            stale, age = stale or answer.stale, max(age, answer.age_s)
            if not items:
                break
            pool.extend(items)
        last = self._last.get(channel_id)
        candidates = [i for i in pool if (allow_nsfw or not i.nsfw) and i.id != last]
        if not candidates:
            return Answer(None, stale=stale, age_s=age)
        pick = self._rng.choice(candidates)
        self._remember(channel_id, pick.id)
        return Answer(pick, stale=stale, age_s=age)
