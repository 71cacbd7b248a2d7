"""What a feed posts: where on Imgur it reads (its ``Source``), and which items it picks.

Feeds that name the same source share one request per slot, so a source's identity is the
request's path (``Source.key``): the builder pins the window where Imgur ignores it, and two
feeds that differ only there are one source, one call, one cache entry.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from bot.access import build
from bot.discord.embeds import Media, is_nsfw
from bot.imgur import models, sansio
from bot.imgur.sansio import Request
from bot.imgur.vocab import GallerySort, Section, Window


@dataclass(frozen=True, slots=True)
class Source:
    """A front-page section (or a tag's gallery, when ``tag`` is set), sorted, in a window."""

    section: Section = "hot"
    sort: GallerySort = "viral"
    window: Window = "day"
    tag: str | None = None

    def request(self, *, mature: bool = False) -> Request[Any]:
        """The Imgur request; ``BadInput`` in words when Imgur would refuse the combination
        (``rising`` outside the user section, a tag with characters Imgur does not allow)."""
        if self.tag:
            return build(sansio.gallery_tag, self.tag, self.sort, self.window, mature=mature)
        return build(sansio.gallery, self.section, self.sort, self.window, mature=mature)

    @property
    def key(self) -> str:
        return self.request().path

    @property
    def label(self) -> str:
        """How a member reads it: "hot · viral", "top · top of the week", "#cats · time"."""
        where = f"#{self.tag}" if self.tag else self.section
        if self.sort == "top":
            return (
                f"{where} · top of the {self.window}" if self.window != "all" else f"{where} · top"
            )
        return f"{where} · {self.sort}"


def listed_items(answer: list[models.GalleryItem] | models.TagGallery) -> list[Media]:
    """The items of a gallery listing or of a tag's gallery, in Imgur's order."""
    if isinstance(answer, models.TagGallery):
        return list(answer.items)
    return list(answer)


def pick(
    items: Iterable[Media],
    *,
    count: int,
    min_points: int | None,
    nsfw_ok: bool,
    seen: Collection[str],
) -> list[Media]:
    """The best ``count`` items in the listing's own order, skipping NSFW where it may not
    go, items below ``min_points``, and items already posted (``seen``): the next best
    takes a skipped item's place."""
    chosen: list[Media] = []
    taken: set[str] = set()
    for item in items:
        if item.id in seen or item.id in taken:
            continue
        if is_nsfw(item) and not nsfw_ok:
            continue
        if min_points and (getattr(item, "points", None) or 0) < min_points:
            continue
        chosen.append(item)
        taken.add(item.id)
        if len(chosen) == count:
            break
    return chosen
