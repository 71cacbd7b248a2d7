"""``/3/gallery/...``, ``/3/g/memes/...``, ``/3/tags`` and ``/3/memegen/defaults`` (§5.1, §5.6).

Gallery paths are ambiguous (``/3/gallery/hot`` is a section, ``/3/gallery/AbC1234`` an
item), so they are resolved by hand, segment by segment, instead of by a route table.
"""

from __future__ import annotations

from functools import partial

from fakes.imgur.data import Post
from fakes.imgur.listings import (
    GALLERY_SORTS,
    SEARCH_SORTS,
    SECTIONS,
    SUBREDDIT_SORTS,
    TAG_SORTS,
    page_of,
    parse_tail,
)
from fakes.imgur.responses import ApiError
from fakes.imgur.routes_community import resolve_item_comments
from fakes.imgur.search import ADVANCED, SearchError
from fakes.imgur.state import Call, Reply, Route


def _page_reply(call: Call, posts: list[Post], page: int, variant: str = "list") -> Reply:
    if variant == "list" and call.flag("album_previews"):
        variant = "previews"
    return Reply(body=call.renderer.list_page(page_of(posts, page), variant))


def _query_page(call: Call, page: int) -> int:
    # Some clients pass ?page= instead of a path segment.
    value = call.query.get("page", "")
    return int(value) if value.isdigit() and page == 0 else page


async def gallery_list(call: Call, section: str, sort: str, window: str, page: int) -> Reply:
    if sort == "rising" and section != "user":
        sort = "viral"  # rising only exists for the user section
    posts = call.state.listings.gallery(
        section, sort, window, show_viral=call.flag("showViral", True), mature=call.mature
    )
    return _page_reply(call, posts, _query_page(call, page))


async def gallery_search(call: Call, sort: str, window: str, page: int) -> Reply:
    params = {k: call.query.get(k, "") for k in ("q", *ADVANCED)}
    try:
        posts = call.state.listings.search(params, sort, window, mature=call.mature)
    except SearchError as exc:
        raise ApiError(400, f"Invalid search query: {exc}") from exc
    return _page_reply(call, posts, _query_page(call, page))


def _find_post(call: Call, item_id: str) -> Post:
    post = call.state.catalogue.item(item_id)
    if post is None:
        raise ApiError(404, f"Unable to find a gallery item with the id, {item_id}")
    return post


async def gallery_item(call: Call, item_id: str) -> Reply:
    return Reply(body=call.renderer.item_body(_find_post(call, item_id)))


async def gallery_image(call: Call, item_id: str) -> Reply:
    post = call.state.catalogue.item(item_id)
    if post is None or post.is_album:
        raise ApiError(404, f"Unable to find an image with the id, {item_id}")
    return Reply(body=call.renderer.item_body(post))


async def gallery_album(call: Call, item_id: str) -> Reply:
    post = call.state.catalogue.item(item_id)
    if post is None or not post.is_album:
        raise ApiError(404, f"Unable to find an album with the id, {item_id}.")
    return Reply(body=call.renderer.item_body(post))


async def item_votes(call: Call, item_id: str) -> Reply:
    post = _find_post(call, item_id)
    votes = post.votes
    return Reply({"ups": votes.ups if votes else 0, "downs": votes.downs if votes else 0})


async def item_tags(call: Call, item_id: str) -> Reply:
    post = _find_post(call, item_id)
    # Legacy TagVote shape (§6.5).
    return Reply(
        {"tags": [{"name": t, "ups": 1, "downs": 0, "author": post.account_url} for t in post.tags]}
    )


def _tag_or_404(call: Call, tag: str):
    info = call.state.catalogue.tags.get(tag.lower())
    if info is None:
        raise ApiError(404, "Tag does not exist")
    return info


async def tag_gallery(call: Call, tag: str, sort: str, window: str, page: int) -> Reply:
    info = _tag_or_404(call, tag)
    posts = call.state.listings.tag(info.name, sort, window, mature=call.mature)
    variant = "previews" if call.flag("album_previews") else "list"
    return Reply(body=call.renderer.tag_body(info, page_of(posts, page), variant))


async def tag_item(call: Call, tag: str, item_id: str) -> Reply:
    info = _tag_or_404(call, tag)
    post = _find_post(call, item_id)
    if info.name not in post.tags:
        raise ApiError(404, f"Unable to find a gallery item with the id, {item_id}")
    return await gallery_item(call, item_id)


async def tag_info(call: Call, tag: str) -> Reply:
    info = _tag_or_404(call, tag)
    full = call.renderer.tag_object(info)
    keys = (
        "name",
        "display_name",
        "followers",
        "total_items",
        "following",
        "background_hash",
        "is_promoted",
        "description",
        "logo_hash",
        "logo_destination_url",
        "description_annotations",
    )
    return Reply({k: full[k] for k in keys})


async def subreddit_gallery(call: Call, name: str, sort: str, window: str, page: int) -> Reply:
    posts = call.state.listings.subreddit(name, sort, window, mature=call.mature)
    return _page_reply(call, posts, _query_page(call, page), variant="subreddit")


async def subreddit_image(call: Call, name: str, item_id: str) -> Reply:
    post = call.state.catalogue.item(item_id)
    if post is None or post.is_album or (post.section or "").lower() != name.lower():
        raise ApiError(404, f"Unable to find an image with the id, {item_id}")
    return Reply(call.renderer.image(post, gallery=True, subreddit=True))


async def memes_gallery(call: Call, sort: str, window: str, page: int) -> Reply:
    posts = call.state.listings.memes(sort, window, mature=call.mature)
    return _page_reply(call, posts, _query_page(call, page))


async def memes_image(call: Call, item_id: str) -> Reply:
    # Meme image lookups have answered 400 "Invalid Request" since 2015 (§5.1).
    raise ApiError(400, "Invalid Request")


async def random_gallery(call: Call, page: int) -> Reply:
    posts = call.state.listings.random_page(page, mature=call.mature)
    return Reply(body=call.renderer.list_body(posts, "list"))


async def tags_list(call: Call) -> Reply:
    catalogue = call.state.catalogue
    renderer = call.renderer
    tags = []
    for info in sorted(catalogue.tags.values(), key=lambda t: -t.followers):
        tag = dict(renderer.tag_object(info))
        tag["id"] = str(len(tags) + 100)  # a *string* id, as in the recorded /3/tags
        tags.append(tag)
    viral = call.state.listings.gallery("hot", "viral", "day", show_viral=True, mature=False)
    user = call.state.listings.gallery("user", "time", "day", show_viral=True, mature=False)
    galleries = []
    for gid, name, posts in ((1, "Most Viral", viral), (2, "User Submitted", user)):
        top = renderer.post(posts[0]) if posts else None
        galleries.append({"id": gid, "name": name, "description": "", "topPost": top})
    return Reply(
        {"tags": tags, "featured": tags[0]["name"] if tags else None, "galleries": galleries}
    )


async def memegen_defaults(call: Call) -> Reply:
    return Reply([call.renderer.image(t) for t in call.state.catalogue.meme_templates])


def _listing(
    handler, tail, sorts, default_sort, default_window, route_name, *, items=True, **bound
) -> Route | None:
    """A list route, tolerant of unknown segments; but where the list also has item
    lookups (``items``), a lone unknown segment is an item id: None, for the caller."""
    strict = items and len(tail) == 1
    parsed = parse_tail(tail, sorts, default_sort, default_window, strict=strict)
    if parsed is None:
        return None
    sort, window, page = parsed
    return Route(route_name, partial(handler, sort=sort, window=window, page=page, **bound))


def resolve_memes(segments: list[str]) -> Route | None:
    route = _listing(memes_gallery, segments, TAG_SORTS, "viral", "week", "gallery.memes")
    if route is None and len(segments) == 1:
        return Route("gallery.memes.image", partial(memes_image, item_id=segments[0]))
    return route


def resolve_gallery(method: str, segments: list[str]) -> Route | None:
    """Route a ``/3/gallery/...`` path (segments after ``gallery``)."""
    if method == "POST" and len(segments) > 1 and segments[1] == "comment":
        return resolve_item_comments(method, segments[0], segments[1:])
    if method not in ("GET", "HEAD"):
        return None
    if not segments:
        return Route(
            "gallery", partial(gallery_list, section="hot", sort="viral", window="day", page=0)
        )
    head, rest = segments[0], segments[1:]
    if head in SECTIONS:
        return _listing(
            gallery_list, rest, GALLERY_SORTS, "viral", "day", "gallery", items=False, section=head
        )
    if head == "search":
        return _listing(
            gallery_search, rest, SEARCH_SORTS, "time", "all", "gallery.search", items=False
        )
    if head in ("image", "album") and len(rest) == 1:
        handler = gallery_image if head == "image" else gallery_album
        return Route(f"gallery.{head}", partial(handler, item_id=rest[0]))
    if head == "r" and rest:
        name, tail = rest[0], rest[1:]
        route = _listing(
            subreddit_gallery, tail, SUBREDDIT_SORTS, "time", "week", "gallery.subreddit", name=name
        )
        if route is None and len(tail) == 1:
            return Route(
                "gallery.subreddit.image", partial(subreddit_image, name=name, item_id=tail[0])
            )
        return route
    if head == "t" and rest:
        tag, tail = rest[0], rest[1:]
        route = _listing(tag_gallery, tail, TAG_SORTS, "viral", "week", "gallery.tag", tag=tag)
        if route is None and len(tail) == 1:
            return Route("gallery.tag.item", partial(tag_item, tag=tag, item_id=tail[0]))
        return route
    if head == "tag_info" and len(rest) == 1:
        return Route("gallery.tag_info", partial(tag_info, tag=rest[0]))
    if head == "g" and rest[:1] == ["memes"]:
        return resolve_memes(rest[1:])
    if head == "random":
        tail = [s for s in rest if s != "random"]
        page = int(tail[0]) if tail and tail[0].isdigit() else 0
        return Route("gallery.random", partial(random_gallery, page=page))
    return _resolve_item(head, rest)


def _resolve_item(item_id: str, rest: list[str]) -> Route | None:
    if not rest:
        return Route("gallery.item", partial(gallery_item, item_id=item_id))
    if rest == ["votes"]:
        return Route("gallery.votes", partial(item_votes, item_id=item_id))
    if rest == ["tags"]:
        return Route("gallery.item_tags", partial(item_tags, item_id=item_id))
    return resolve_item_comments("GET", item_id, rest)
