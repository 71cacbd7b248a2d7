"""Gallery-like lists: which posts, in which order, 60 to a page (§1 paging, §5.1).

Every list (front page, search, tag, subreddit, memes) is computed once per distinct
(kind, parameters, mature) and cached: the gallery changes only when an owner deletes one
of its posts (uploads are not shared to the gallery), and then ``clear`` drops them all.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Callable, Sequence

from fakes.imgur.data import Catalogue, Post
from fakes.imgur.search import SearchIndex, build_predicate, cache_key, matching

PAGE_SIZE = 60
SECTIONS = ("hot", "top", "user")
GALLERY_SORTS = ("viral", "top", "time", "rising")
SEARCH_SORTS = ("time", "viral", "top")
TAG_SORTS = ("viral", "top", "time")
SUBREDDIT_SORTS = ("time", "top")
WINDOWS = ("day", "week", "month", "year", "all")
WINDOW_SECONDS = {
    "day": 86_400,
    "week": 7 * 86_400,
    "month": 31 * 86_400,
    "year": 366 * 86_400,
    "all": None,
}
SEARCH_CACHE_SIZE = 1024


def parse_tail(
    tail: Sequence[str],
    sorts: Sequence[str],
    default_sort: str,
    default_window: str,
    *,
    strict: bool = False,
) -> tuple[str, str, int] | None:
    """``[sort][/window][/page]`` -> (sort, window, page).

    Both URL shapes of §5.1 fit: ``/{sort}/{window}/{page}`` and ``/{sort}/{page}`` (a
    number where the window would be is the page, §8.17). Imgur tolerates segments it
    does not know (an unknown sort, a stray trailing part): they are skipped, and the
    known ones still count, in that order. ``strict`` returns None instead when any
    segment is unknown, for routes where one unknown segment is an item id.
    """
    sort = window = page = None
    unknown = False
    for segment in tail:
        if sort is None and window is None and page is None and segment in sorts:
            sort = segment
        elif window is None and page is None and segment in WINDOWS:
            window = segment
        elif page is None and segment.isdigit():
            page = int(segment)
        else:
            unknown = True
    if unknown and strict:
        return None
    return sort or default_sort, window or default_window, page or 0


def _sort_key(sort: str, anchor: int) -> Callable[[Post], float]:
    if sort == "time":
        return lambda p: p.datetime
    if sort == "top":
        return lambda p: p.votes.points if p.votes else 0
    if sort == "rising":
        # Score per hour of age: young posts with some traction float up.
        return lambda p: (
            (p.votes.score if p.votes else 0) / ((max(0, anchor - p.datetime) / 3600 + 2) ** 1.5)
        )
    return lambda p: p.votes.score if p.votes else 0


def sort_posts(posts: Sequence[Post], sort: str, anchor: int) -> list[Post]:
    # Ties broken by id so the order is total and stable across runs.
    key = _sort_key(sort, anchor)
    return sorted(posts, key=lambda p: (-key(p), p.id))


def in_window(posts: Sequence[Post], window: str, anchor: int) -> list[Post]:
    seconds = WINDOW_SECONDS.get(window)
    if seconds is None:
        return list(posts)
    return [p for p in posts if p.datetime >= anchor - seconds]


def page_of(posts: Sequence[Post], page: int, size: int = PAGE_SIZE) -> list[Post]:
    start = page * size
    return list(posts[start : start + size])


class Listings:
    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self._cache: dict[tuple, list[Post]] = {}
        self._search_cache: OrderedDict[tuple, list[Post]] = OrderedDict()
        self._index: SearchIndex | None = None

    def clear(self) -> None:
        """Forget every computed list: the catalogue lost a post (an owner deleted it)."""
        self._cache.clear()
        self._search_cache.clear()
        self._index = None

    @property
    def anchor(self) -> int:
        return self.catalogue.anchor

    def _cached(self, key: tuple, build: Callable[[], list[Post]], mature: bool) -> list[Post]:
        full_key = (*key, True)
        posts = self._cache.get(full_key)
        if posts is None:
            posts = self._cache[full_key] = build()
        if mature:
            return posts
        safe_key = (*key, False)
        safe = self._cache.get(safe_key)
        if safe is None:
            safe = self._cache[safe_key] = [p for p in posts if not p.nsfw]
        return safe

    def gallery(
        self, section: str, sort: str, window: str, *, show_viral: bool, mature: bool
    ) -> list[Post]:
        def build() -> list[Post]:
            posts: list[Post] = self.catalogue.posts
            if section == "hot":
                posts = [p for p in posts if p.in_most_viral]
            elif section == "user" and not show_viral:
                posts = [p for p in posts if not p.in_most_viral]
            if section == "top":
                posts = in_window(posts, window, self.anchor)
            return sort_posts(posts, sort, self.anchor)

        effective_window = window if section == "top" else "all"
        key = ("gallery", section, sort, effective_window, show_viral or section != "user")
        return self._cached(key, build, mature)

    def tag(self, tag: str, sort: str, window: str, *, mature: bool) -> list[Post]:
        info = self.catalogue.tags[tag]
        effective_window = window if sort == "top" else "all"

        def build() -> list[Post]:
            return sort_posts(
                in_window(info.posts, effective_window, self.anchor), sort, self.anchor
            )

        return self._cached(("tag", tag, sort, effective_window), build, mature)

    def subreddit(self, name: str, sort: str, window: str, *, mature: bool) -> list[Post]:
        effective_window = window if sort == "top" else "all"

        def build() -> list[Post]:
            posts = self.catalogue.by_subreddit.get(name.lower(), [])
            return sort_posts(in_window(posts, effective_window, self.anchor), sort, self.anchor)

        return self._cached(("r", name.lower(), sort, effective_window), build, mature)

    def memes(self, sort: str, window: str, *, mature: bool) -> list[Post]:
        effective_window = window if sort == "top" else "all"

        def build() -> list[Post]:
            posts = in_window(self.catalogue.memes, effective_window, self.anchor)
            return sort_posts(posts, sort, self.anchor)

        return self._cached(("memes", sort, effective_window), build, mature)

    def random_page(self, page: int, *, mature: bool) -> list[Post]:
        # The deprecated random gallery: a shuffle seeded by catalogue seed and page.
        posts = [p for p in self.catalogue.posts if mature or not p.nsfw]
        rng = random.Random(self.catalogue.seed * 1_000_003 + page)
        return rng.sample(posts, min(PAGE_SIZE, len(posts)))

    def account_posts(self, username: str, sort: str, *, mature: bool) -> list[Post]:
        def build() -> list[Post]:
            posts = [p for p in self.catalogue.by_account.get(username.lower(), []) if p.in_gallery]
            if sort in ("oldest", "newest"):
                ordered = sort_posts(posts, "time", self.anchor)
                return ordered[::-1] if sort == "oldest" else ordered
            ordered = sort_posts(posts, "top", self.anchor)
            return ordered[::-1] if sort == "worst" else ordered

        return self._cached(("account", username.lower(), sort), build, mature)

    def search(self, params: dict[str, str], sort: str, window: str, *, mature: bool) -> list[Post]:
        """Raises search.SearchError for an empty or malformed query."""
        effective_window = window if sort == "top" else "all"
        key = (cache_key(params), sort, effective_window, mature)
        hit = self._search_cache.get(key)
        if hit is not None:
            self._search_cache.move_to_end(key)
            return hit
        predicate = build_predicate(params)
        if self._index is None:
            self._index = SearchIndex.build(self.catalogue)
        matches = [e.post for e in matching(self._index, predicate) if mature or not e.post.nsfw]
        result = sort_posts(in_window(matches, effective_window, self.anchor), sort, self.anchor)
        self._search_cache[key] = result
        if len(self._search_cache) > SEARCH_CACHE_SIZE:
            self._search_cache.popitem(last=False)
        return result
