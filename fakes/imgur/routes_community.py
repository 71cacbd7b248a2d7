"""Comments, favourites, account settings and the gallery profile (§5.1, §5.3–§5.5).

Reading is open to a Client-ID; writing needs a Bearer token (routes say ``auth="user"``),
and an account's settings and favourites are its owner's alone.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from fakes.imgur.comments import Comment
from fakes.imgur.data import Account, Post
from fakes.imgur.listings import page_of
from fakes.imgur.responses import ApiError
from fakes.imgur.state import Call, Reply, Route

ACCOUNT_PAGE_SIZE = 50  # account lists page by 50 (§1 paging)
PERMISSION_DENIED = "Permission denied"
VOTES = ("up", "down", "veto")
ACCOUNT_COMMENT_SORTS = ("best", "worst", "oldest", "newest")
ITEM_COMMENT_SORTS = ("best", "top", "new")
# Account settings a user may change, with the values each takes (None: free text).
SETTING_VALUES: dict[str, tuple[str, ...] | None] = {
    "bio": None,
    "public_images": ("true", "false"),
    "messaging_enabled": ("true", "false"),
    "album_privacy": ("public", "hidden", "secret"),
    "accepted_gallery_terms": ("true", "false"),
    "show_mature": ("true", "false"),
    "newsletter_subscribed": ("true", "false"),
}
TROPHIES = (
    ("Night Owl", "Posted something at three in the morning."),
    ("Gone Mobile", "Used the app."),
    ("Epic", "Received a high number of points in one day."),
    ("Storyteller", "Wrote a long caption people actually read."),
)


# -- accounts --------------------------------------------------------------------------------


def username_of(call: Call, username: str) -> str:
    """``me`` is the token's user (401 without a token); any other name stands."""
    if username == "me":
        if call.token is None:
            raise ApiError(401, "Authentication required")
        return call.token.username
    return username


def account_or_404(call: Call, username: str) -> Account:
    name = username_of(call, username)
    account = call.state.catalogue.accounts.get(name.lower())
    if account is None and call.token is not None and name == call.token.username:
        account = call.state.tokens.account_for(name)
    if account is None:
        raise ApiError(404, f"A user with the name {name} doesn't exist")
    return account


def own_account(call: Call, username: str) -> Account:
    """The account, if it is the caller's own (403 otherwise)."""
    account = account_or_404(call, username)
    if call.token is None or call.token.username.lower() != account.url.lower():
        raise ApiError(403, PERMISSION_DENIED)
    return account


def account_list_reply(
    items: Sequence[Any], page: int, what: str, render: Callable[[Any], Any]
) -> Reply:
    """An account list as ``what`` asks: ``count``, ``ids`` of a page, or a rendered page."""
    if what == "count":
        return Reply(len(items))
    chunk = page_of(items, page, ACCOUNT_PAGE_SIZE)
    if what == "ids":
        return Reply([item.id for item in chunk])
    return Reply([render(item) for item in chunk])


# -- comments --------------------------------------------------------------------------------


def _post_or_404(call: Call, item_id: str) -> Post:
    post = call.state.catalogue.item(item_id)
    if post is None:
        raise ApiError(404, f"Unable to find a gallery item with the id, {item_id}")
    return post


def _comment_or_404(call: Call, comment_id: str | int) -> Comment:
    found = None
    if str(comment_id).isdigit():
        found = call.state.comments.get(int(comment_id))
    if found is None:
        raise ApiError(404, f"Unable to find a comment with the id, {comment_id}")
    return found


def _viewer(call: Call) -> str | None:
    return call.token.username if call.token is not None else None


def _with_replies(call: Call, comment: Comment) -> dict:
    post = call.state.catalogue.item(comment.image_id)
    thread = call.state.comments.of_post(post) if post is not None else []
    below = [c for c in thread if c.id != comment.id]
    children = call.state.comments.tree(below, _viewer(call), "best", root=comment.id)
    return comment.as_json(_viewer(call), children)


async def item_comments(call: Call, item_id: str, what: str, sort: str = "best") -> Reply:
    comments = call.state.comments.of_post(_post_or_404(call, item_id))
    live = [c for c in comments if not c.deleted]
    if what == "count":
        return Reply(len(live))
    if what == "ids":
        return Reply([c.id for c in live])
    return Reply(call.state.comments.tree(comments, _viewer(call), sort))


async def item_comment(call: Call, item_id: str, comment_id: str) -> Reply:
    comment = _comment_or_404(call, comment_id)
    if comment.image_id != item_id:
        raise ApiError(404, f"Unable to find a comment with the id, {comment_id}")
    return Reply(_with_replies(call, comment))


async def comment_get(call: Call, comment_id: str) -> Reply:
    return Reply(_comment_or_404(call, comment_id).as_json(_viewer(call)))


async def comment_replies(call: Call, comment_id: str) -> Reply:
    return Reply(_with_replies(call, _comment_or_404(call, comment_id)))


async def comment_create(
    call: Call, parent_id: str | None = None, item_id: str | None = None
) -> Reply:
    """``POST /3/comment``, a reply (``/3/comment/{id}``) or ``/3/gallery/{id}/comment``."""
    form = await call.require_any("comment")
    text = str(form["comment"]).strip()
    parent_key = parent_id or str(form.get("parent_id") or "")
    parent = _comment_or_404(call, parent_key) if parent_key not in ("", "0") else None
    image_id = item_id or str(form.get("image_id") or "") or (parent.image_id if parent else "")
    if not image_id:
        raise ApiError(400, "Missing required parameter: image_id")
    post = _post_or_404(call, image_id)
    if parent is not None and parent.image_id != post.id:
        raise ApiError(400, f"The comment {parent.id} is not on {post.id}")
    assert call.token is not None  # auth="user"
    account = call.state.tokens.account_for(call.token.username)
    now = int(call.state.config.clock.now().timestamp())
    comment = call.state.comments.post(post, account, text, parent.id if parent else 0, now)
    return Reply({"id": comment.id})


async def comment_delete(call: Call, comment_id: str, username: str | None = None) -> Reply:
    if username is not None:
        own_account(call, username)
    comment = _comment_or_404(call, comment_id)
    if call.token is None or comment.author.lower() != call.token.username.lower():
        raise ApiError(403, PERMISSION_DENIED)
    call.state.comments.delete(comment)
    return Reply(True)


async def comment_vote(call: Call, comment_id: str, vote: str) -> Reply:
    comment = _comment_or_404(call, comment_id)
    if vote not in VOTES:
        raise ApiError(400, f"Invalid vote {vote!r}: use up, down or veto")
    assert call.token is not None
    if vote == "veto":
        comment.votes.pop(call.token.username, None)
    else:
        comment.votes[call.token.username] = vote
    return Reply(True)


async def comment_report(call: Call, comment_id: str) -> Reply:
    _comment_or_404(call, comment_id)
    reason = (await call.form()).get("reason")
    if reason not in (None, "") and str(reason) not in ("1", "2", "3", "4", "5"):
        raise ApiError(400, "Invalid reason: use 1 to 5")
    return Reply(True)


async def account_comments(call: Call, username: str, sort: str, page: int, what: str) -> Reply:
    account = account_or_404(call, username)
    comments = call.state.comments.by_author(account.url)  # newest first
    if sort == "oldest":
        comments.reverse()
    elif sort in ("best", "worst"):
        comments.sort(key=lambda c: (c.ups - c.downs, c.id), reverse=sort == "best")
    return account_list_reply(comments, page, what, lambda c: c.as_json(_viewer(call)))


async def account_comment(call: Call, username: str, comment_id: str) -> Reply:
    account = account_or_404(call, username)
    comment = _comment_or_404(call, comment_id)
    if comment.author.lower() != account.url.lower():
        raise ApiError(404, f"Unable to find a comment with the id, {comment_id}")
    return Reply(comment.as_json(_viewer(call)))


# -- the gallery profile and settings -----------------------------------------------------------


async def gallery_profile(call: Call, username: str) -> Reply:
    account = account_or_404(call, username)
    rng = random.Random(f"{call.state.catalogue.seed}:profile:{account.id}")
    submissions = call.state.listings.account_posts(account.url, "newest", mature=True)
    earned = rng.sample(TROPHIES, rng.randint(0, len(TROPHIES)))
    trophies = [
        {
            "id": account.id * 10 + n,
            "name": name,
            "name_clean": name.replace(" ", ""),
            "description": description,
            "data": None,
            "data_link": None,
            "datetime": account.created + rng.randint(86_400, 400 * 86_400),
            "image": f"{call.renderer.base}/removed.png",
        }
        for n, (name, description) in enumerate(earned)
    ]
    return Reply(
        {
            "total_gallery_comments": len(call.state.comments.by_author(account.url)),
            "total_gallery_likes": rng.randint(0, 5_000),
            "total_gallery_submissions": len(submissions),
            "trophies": trophies,
        }
    )


async def settings_get(call: Call, username: str) -> Reply:
    account = own_account(call, username)
    return Reply(call.state.settings_of(account))


async def settings_update(call: Call, username: str) -> Reply:
    account = own_account(call, username)
    form = await call.require_any(*SETTING_VALUES, "username")
    if "username" in form:
        raise ApiError(400, "The emulator cannot rename accounts; leave out username")
    changes: dict[str, Any] = {}
    for name, allowed in SETTING_VALUES.items():
        if name not in form:
            continue
        value = str(form[name]).strip().lower() if allowed else str(form[name])
        value = {"1": "true", "0": "false"}.get(value, value) if allowed else value
        if allowed is not None and value not in allowed:
            raise ApiError(400, f"Invalid {name} {form[name]!r}: use one of {', '.join(allowed)}")
        changes[name] = value == "true" if allowed == ("true", "false") else value
    call.state.settings_of(account).update(changes)
    return Reply(True)


# -- favourites --------------------------------------------------------------------------------


async def favorite(call: Call, item_id: str, kind: str) -> Reply:
    """Toggle: ``"favorited"`` the first time, ``"unfavorited"`` the next (§5.2, §5.3)."""
    catalogue = call.state.catalogue
    exists = item_id in (catalogue.albums if kind == "album" else catalogue.images)
    if not exists:
        noun = "an album" if kind == "album" else "an image"
        raise ApiError(404, f"Unable to find {noun} with the id, {item_id}")
    assert call.token is not None
    mine = call.state.favourites.setdefault(call.token.username.lower(), {})
    if item_id in mine:
        del mine[item_id]
        return Reply("unfavorited")
    mine[item_id] = None
    return Reply("favorited")


def _favourite_items(call: Call, account: Account, gallery_only: bool) -> list[dict]:
    catalogue, renderer = call.state.catalogue, call.renderer
    out = []
    for item_id in reversed(call.state.favourites.get(account.url.lower(), {})):
        post = catalogue.item(item_id)
        if post is not None:
            out.append(renderer.post(post))
        elif gallery_only:
            continue
        elif item_id in catalogue.albums:
            out.append(renderer.album(catalogue.albums[item_id], images="none"))
        elif item_id in catalogue.images:
            out.append(renderer.image(catalogue.images[item_id]))
    return out


async def account_favorites(call: Call, username: str, page: int, gallery_only: bool) -> Reply:
    """``favorites`` (the owner's, everything) or ``gallery_favorites`` (public, gallery)."""
    account = account_or_404(call, username) if gallery_only else own_account(call, username)
    return Reply(page_of(_favourite_items(call, account, gallery_only), page, ACCOUNT_PAGE_SIZE))


# -- resolution -------------------------------------------------------------------------------


def _page(segment: str | None) -> int | None:
    if segment is None:
        return 0
    return int(segment) if segment.isdigit() else None


def resolve_comment(method: str, rest: list[str]) -> Route | None:
    """``/3/comment[/{id}[/replies|/vote/{v}|/report]]``."""
    reading = method in ("GET", "HEAD")
    if not rest:
        return Route("comment.create", comment_create, auth="user") if method == "POST" else None
    key, tail = rest[0], rest[1:]
    if not tail:
        if reading:
            return Route("comment.get", partial(comment_get, comment_id=key))
        if method == "POST":
            return Route("comment.reply", partial(comment_create, parent_id=key), auth="user")
        if method == "DELETE":
            return Route("comment.delete", partial(comment_delete, comment_id=key), auth="user")
        return None
    if tail == ["replies"] and reading:
        return Route("comment.replies", partial(comment_replies, comment_id=key))
    if len(tail) == 2 and tail[0] == "vote" and method == "POST":
        handler = partial(comment_vote, comment_id=key, vote=tail[1])
        return Route("comment.vote", handler, auth="user")
    if tail == ["report"] and method == "POST":
        return Route("comment.report", partial(comment_report, comment_id=key), auth="user")
    return None


def resolve_item_comments(method: str, item_id: str, rest: list[str]) -> Route | None:
    """``/3/gallery/{id}/comments/...`` and ``/3/gallery/{id}/comment[/{cid}]``."""
    if method in ("GET", "HEAD") and rest[0] == "comments" and len(rest) <= 2:
        what = rest[1] if len(rest) == 2 and rest[1] in ("count", "ids") else "tree"
        sort = rest[1] if len(rest) == 2 and rest[1] in ITEM_COMMENT_SORTS else "best"
        handler = partial(item_comments, item_id=item_id, what=what, sort=sort)
        return Route("gallery.comments", handler)
    if rest[0] != "comment" or len(rest) > 2:
        return None
    if method in ("GET", "HEAD") and len(rest) == 2:
        handler = partial(item_comment, item_id=item_id, comment_id=rest[1])
        return Route("gallery.comment", handler)
    if method == "POST":
        parent = rest[1] if len(rest) == 2 else None
        handler = partial(comment_create, parent_id=parent, item_id=item_id)
        return Route("gallery.comment.create", handler, auth="user")
    return None


def resolve_account_community(method: str, user: str, tail: list[str]) -> Route | None:
    """Account routes for comments, favourites, settings and the gallery profile."""
    reading = method in ("GET", "HEAD")
    what = tail[0]
    if what == "comments" and reading:
        rest = tail[1:]
        sub = "list"
        if rest[:1] in (["ids"], ["count"]):
            sub, rest = rest[0], rest[1:]
        sort = rest.pop(0) if rest[:1] and rest[0] in ACCOUNT_COMMENT_SORTS else "newest"
        page = _page(rest[0] if rest else None)
        if page is None or len(rest) > 1:
            return None
        handler = partial(account_comments, username=user, sort=sort, page=page, what=sub)
        return Route(f"account.comments{'' if sub == 'list' else '.' + sub}", handler)
    if what == "comment" and len(tail) == 2:
        if reading:
            handler = partial(account_comment, username=user, comment_id=tail[1])
            return Route("account.comment", handler)
        if method == "DELETE":
            handler = partial(comment_delete, comment_id=tail[1], username=user)
            return Route("account.comment.delete", handler, auth="user")
    if what in ("favorites", "gallery_favorites") and reading and len(tail) <= 3:
        page = _page(tail[1] if len(tail) > 1 else None)
        if page is None:
            return None
        gallery_only = what == "gallery_favorites"
        handler = partial(account_favorites, username=user, page=page, gallery_only=gallery_only)
        return Route(f"account.{what}", handler, auth="client" if gallery_only else "user")
    if what == "gallery_profile" and reading and len(tail) == 1:
        return Route("account.gallery_profile", partial(gallery_profile, username=user))
    if what == "settings" and len(tail) == 1:
        if reading:
            return Route("account.settings", partial(settings_get, username=user), auth="user")
        if method in ("POST", "PUT"):
            handler = partial(settings_update, username=user)
            return Route("account.settings.update", handler, auth="user")
    return None
