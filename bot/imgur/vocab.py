"""Imgur's vocabulary, declared once (``imgur-api.md`` §5.1).

Every allowed path value is a ``Literal`` type here; the tuples beside them are derived from
those types, so the request builders, the slash-command choices and the command line all
offer exactly the same words. The kinds of request (what a cache TTL and a response size cap
are chosen by) live here too.
"""

from __future__ import annotations

from typing import Literal, get_args

# -- gallery paths -----------------------------------------------------------------------------

Section = Literal["hot", "top", "user"]
# The three sorts every listing knows; ``rising`` exists only for the user-submitted section.
BasicSort = Literal["viral", "top", "time"]
GallerySort = Literal[BasicSort, "rising"]
Window = Literal["day", "week", "month", "year", "all"]
SearchSort = Literal["time", "viral", "top"]
TagSort = BasicSort
SubredditSort = Literal["time", "top"]
MemeSort = Literal["viral", "time", "top"]
SearchType = Literal["jpg", "png", "gif", "anigif", "album"]
SearchSize = Literal["small", "med", "big", "lrg", "huge"]

SECTIONS: tuple[Section, ...] = get_args(Section)
GALLERY_SORTS: tuple[GallerySort, ...] = get_args(GallerySort)
WINDOWS: tuple[Window, ...] = get_args(Window)
SEARCH_SORTS: tuple[SearchSort, ...] = get_args(SearchSort)
TAG_SORTS: tuple[TagSort, ...] = get_args(TagSort)
SUBREDDIT_SORTS: tuple[SubredditSort, ...] = get_args(SubredditSort)
MEME_SORTS: tuple[MemeSort, ...] = get_args(MemeSort)
SEARCH_TYPES: tuple[SearchType, ...] = get_args(SearchType)
SEARCH_SIZES: tuple[SearchSize, ...] = get_args(SearchSize)

# -- kinds of request --------------------------------------------------------------------------

# Answers kept in the cache, each kind with its own TTL setting (``[cache] ttl_<kind>_s``).
CachedKind = Literal[
    "frontpage", "search", "tag", "tags", "subreddit", "item", "account", "memegen"
]
# ``credits`` is a GET that is never cached: the ledger wants today's figures.
Kind = Literal[CachedKind, "credits", "upload", "write", "oauth"]
CACHED_KINDS: tuple[CachedKind, ...] = get_args(CachedKind)

# The largest answer each kind may bring, read while streaming: a real listing of 60 posts is
# about 100 KB and ``/3/tags`` about 170 KB, so these are far above anything genuine, and an
# answer past them is a broken (or hostile) response, not data.
MB = 1024 * 1024
MAX_BODY: dict[Kind, int] = {
    "frontpage": 8 * MB,
    "search": 8 * MB,
    "tag": 8 * MB,
    "tags": 8 * MB,
    "subreddit": 8 * MB,
    "item": 4 * MB,
    "account": 4 * MB,
    "memegen": 4 * MB,
    "credits": 64 * 1024,
    "upload": 1 * MB,
    "write": 1 * MB,
    "oauth": 64 * 1024,
}

# -- credits -----------------------------------------------------------------------------------

CALL_COST = 1  # what Imgur counts for an ordinary call
UPLOAD_COST = 10  # and for an upload (§3.1)
