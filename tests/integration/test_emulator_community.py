"""Comments, the gallery profile, account settings and favourites (imgur-api.md §5.1–§5.5).

Reads are open to a Client-ID; writes need a Bearer token (401 without one), and an
account's settings and private favourites answer only to its owner (403 for others).
"""

from __future__ import annotations

import json
from contextlib import AsyncExitStack

import aiohttp
import pytest

from fakes.imgur import Emulator, EmulatorConfig

CLIENT = {"Authorization": "Client-ID test-client"}
COMMENT_KEYS = {
    "id", "image_id", "comment", "author", "author_id", "on_album", "album_cover", "ups",
    "downs", "points", "datetime", "parent_id", "deleted", "vote", "platform",
    "has_admin_badge", "children",
}  # fmt: skip


@pytest.fixture
async def emu():
    async with AsyncExitStack() as stack:
        yield await stack.enter_async_context(Emulator(EmulatorConfig(item_count=600)))


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


async def call(http, emu, method, path, headers=CLIENT, **kwargs):
    async with http.request(method, emu.base_url + path, headers=headers, **kwargs) as response:
        return response.status, json.loads(await response.read())


def bearer(emu, username: str) -> dict:
    return {"Authorization": f"Bearer {emu.issue_token(username).access_token}"}


def flatten(tree: list[dict]) -> list[dict]:
    out = []
    for node in tree:
        out.append(node)
        out += flatten(node["children"])
    return out


def busy_post(emu):
    return next(p for p in emu.data.posts if p.votes and 10 <= p.votes.comment_count <= 40)


async def test_a_post_has_a_comment_tree_with_matching_ids_and_count(emu, http):
    post = busy_post(emu)
    status, tree = await call(http, emu, "GET", f"/3/gallery/{post.id}/comments/best")
    ids = (await call(http, emu, "GET", f"/3/gallery/{post.id}/comments/ids"))[1]["data"]
    count = (await call(http, emu, "GET", f"/3/gallery/{post.id}/comments/count"))[1]["data"]
    flat = flatten(tree["data"])

    assert status == 200 and count == post.votes.comment_count == len(flat)
    assert sorted(ids) == sorted(c["id"] for c in flat) and all(isinstance(i, int) for i in ids)
    assert all(set(c) == COMMENT_KEYS and c["image_id"] == post.id for c in flat)
    by_id = {c["id"]: c for c in flat}
    for comment in flat:
        assert all(child["parent_id"] == comment["id"] for child in comment["children"])
        assert comment["parent_id"] == 0 or comment["parent_id"] in by_id
    best = [c["points"] for c in tree["data"]]
    assert best == sorted(best, reverse=True)
    newest = (await call(http, emu, "GET", f"/3/gallery/{post.id}/comments/new"))[1]["data"]
    assert [c["datetime"] for c in newest] == sorted((c["datetime"] for c in newest), reverse=True)


async def test_one_comment_by_id_with_its_replies(emu, http):
    post = busy_post(emu)
    tree = (await call(http, emu, "GET", f"/3/gallery/{post.id}/comments/best"))[1]["data"]
    parent = next((c for c in flatten(tree) if c["children"]), flatten(tree)[0])

    plain = (await call(http, emu, "GET", f"/3/comment/{parent['id']}"))[1]["data"]
    replies = (await call(http, emu, "GET", f"/3/comment/{parent['id']}/replies"))[1]["data"]
    on_item = await call(http, emu, "GET", f"/3/gallery/{post.id}/comment/{parent['id']}")
    elsewhere = await call(
        http, emu, "GET", f"/3/gallery/{emu.data.posts[0].id}/comment/{parent['id']}"
    )

    assert plain == {**parent, "children": []}
    assert replies == parent and on_item[1]["data"] == parent
    assert elsewhere[0] == 404 or emu.data.posts[0].id == post.id
    assert (await call(http, emu, "GET", "/3/comment/12345"))[0] == 404


async def test_an_account_lists_the_comments_it_wrote(emu, http):
    post = busy_post(emu)
    tree = (await call(http, emu, "GET", f"/3/gallery/{post.id}/comments/best"))[1]["data"]
    written = flatten(tree)[0]
    author = written["author"]

    listed = (await call(http, emu, "GET", f"/3/account/{author}/comments/newest/0"))[1]["data"]
    pages = [listed]
    while len(pages[-1]) == 50:
        path = f"/3/account/{author}/comments/newest/{len(pages)}"
        pages.append((await call(http, emu, "GET", path))[1]["data"])
    everything = [c for page in pages for c in page]
    count = (await call(http, emu, "GET", f"/3/account/{author}/comments/count"))[1]["data"]
    ids = (await call(http, emu, "GET", f"/3/account/{author}/comments/ids/newest/0"))[1]["data"]
    one = await call(http, emu, "GET", f"/3/account/{author}/comment/{written['id']}")
    stranger = next(a.url for a in emu.data.accounts.values() if a.url != author)
    not_theirs = await call(http, emu, "GET", f"/3/account/{stranger}/comment/{written['id']}")

    assert written["id"] in {c["id"] for c in everything}
    assert all(c["author"] == author for c in everything) and count == len(everything)
    assert ids == [c["id"] for c in listed]
    assert [c["datetime"] for c in everything] == sorted(
        (c["datetime"] for c in everything), reverse=True
    )
    assert one[0] == 200 and one[1]["data"]["id"] == written["id"]
    assert not_theirs[0] == 404


async def test_posting_replying_voting_and_deleting_a_comment(emu, http):
    post = busy_post(emu)
    me, other = bearer(emu, "commenter"), bearer(emu, "someone_else")
    base = (await call(http, emu, "GET", f"/3/gallery/{post.id}/comments/count"))[1]["data"]

    anonymous = await call(
        http, emu, "POST", "/3/comment", data={"image_id": post.id, "comment": "hi"}
    )
    form = aiohttp.FormData({"image_id": post.id, "comment": "first!"}, default_to_multipart=True)
    created = await call(http, emu, "POST", "/3/comment", data=form, headers=me)
    top = created[1]["data"]["id"]
    reply = await call(
        http, emu, "POST", f"/3/comment/{top}", json={"comment": "me again"}, headers=other
    )
    on_item = await call(
        http, emu, "POST", f"/3/gallery/{post.id}/comment", data={"comment": "x"}, headers=other
    )
    empty = await call(http, emu, "POST", "/3/comment", data={"image_id": post.id}, headers=me)
    voted = await call(http, emu, "POST", f"/3/comment/{top}/vote/up", headers=other)
    bad_vote = await call(http, emu, "POST", f"/3/comment/{top}/vote/sideways", headers=other)
    seen = (await call(http, emu, "GET", f"/3/comment/{top}/replies", headers=other))[1]["data"]
    mine = (await call(http, emu, "GET", "/3/account/me/comments", headers=me))[1]["data"]

    assert anonymous[0] == 401
    assert created[0] == 200 and set(created[1]["data"]) == {"id"}
    assert reply[0] == on_item[0] == 200 and empty[0] == 400
    assert (voted[0], bad_vote[0]) == (200, 400)
    assert seen["comment"] == "first!" and seen["author"] == "commenter"
    assert (seen["ups"], seen["vote"]) == (2, "up")  # own upvote + one vote
    assert [c["comment"] for c in seen["children"]] == ["me again"]
    assert [c["id"] for c in mine] == [top]
    count = (await call(http, emu, "GET", f"/3/gallery/{post.id}/comments/count"))[1]["data"]
    assert count == base + 3

    refused = await call(http, emu, "DELETE", f"/3/comment/{top}", headers=other)
    deleted = await call(http, emu, "DELETE", f"/3/comment/{top}", headers=me)
    tree = (await call(http, emu, "GET", f"/3/gallery/{post.id}/comments/new"))[1]["data"]
    placeholder = next(c for c in flatten(tree) if c["id"] == top)

    assert (refused[0], deleted[0]) == (403, 200)
    assert (await call(http, emu, "GET", f"/3/comment/{top}"))[0] == 404
    assert placeholder["deleted"] is True and placeholder["comment"] == "[deleted]"
    assert [c["comment"] for c in placeholder["children"]] == ["me again"]
    count = (await call(http, emu, "GET", f"/3/gallery/{post.id}/comments/count"))[1]["data"]
    assert count == base + 2


async def test_gallery_profile_counts_what_the_account_did(emu, http):
    author = busy_post(emu).account_url
    status, body = await call(http, emu, "GET", f"/3/account/{author}/gallery_profile")
    comments = (await call(http, emu, "GET", f"/3/account/{author}/comments/count"))[1]["data"]
    submitted = len(emu.state.listings.account_posts(author, "newest", mature=True))

    profile = body["data"]
    assert status == 200
    assert set(profile) == {
        "total_gallery_comments", "total_gallery_likes", "total_gallery_submissions", "trophies"
    }  # fmt: skip
    assert profile["total_gallery_comments"] == comments
    assert profile["total_gallery_submissions"] == submitted
    assert (await call(http, emu, "GET", "/3/account/no_such_person/gallery_profile"))[0] == 404


async def test_account_settings_are_the_owners_and_change_what_they_see(emu, http):
    me = bearer(emu, "settler")
    anonymous = await call(http, emu, "GET", "/3/account/me/settings")
    other = await call(http, emu, "GET", "/3/account/settler/settings", headers=bearer(emu, "x1"))
    before = (await call(http, emu, "GET", "/3/account/me/settings", headers=me))[1]["data"]
    nsfw = {p.id for p in emu.data.nsfw_posts()}
    page = "/3/gallery/hot/viral/0"
    hidden = {i["id"] for i in (await call(http, emu, "GET", page, headers=me))[1]["data"]}

    changed = await call(
        http, emu, "POST", "/3/account/me/settings",
        data=aiohttp.FormData({"show_mature": "true", "bio": "hello"}, default_to_multipart=True),
        headers=me,
    )  # fmt: skip
    after = (await call(http, emu, "GET", "/3/account/me/settings", headers=me))[1]["data"]
    shown = {i["id"] for i in (await call(http, emu, "GET", page, headers=me))[1]["data"]}
    nothing = await call(http, emu, "POST", "/3/account/me/settings", headers=me)
    bad = await call(
        http, emu, "PUT", "/3/account/me/settings", data={"album_privacy": "x"}, headers=me
    )

    assert (anonymous[0], other[0]) == (401, 403)
    assert before["show_mature"] is False and before["account_url"] == "settler"
    assert changed[1]["data"] is True
    assert (after["show_mature"], after["bio"]) == (True, "hello")
    assert not hidden & nsfw and shown & nsfw
    assert (nothing[0], bad[0]) == (400, 400)


async def test_favouriting_albums_and_images_toggles_and_lists(emu, http):
    me = bearer(emu, "fan")
    album = emu.data.gallery_albums()[0]
    image = emu.data.gallery_images()[0]

    anonymous = await call(http, emu, "POST", f"/3/album/{album.id}/favorite")
    first = await call(http, emu, "POST", f"/3/album/{album.id}/favorite", headers=me)
    liked_image = await call(http, emu, "POST", f"/3/image/{image.id}/favorite", headers=me)
    private = (await call(http, emu, "GET", "/3/account/me/favorites", headers=me))[1]["data"]
    public = (await call(http, emu, "GET", "/3/account/fan/gallery_favorites/0"))[1]["data"]
    not_mine = await call(http, emu, "GET", "/3/account/fan/favorites", headers=bearer(emu, "y"))
    second = await call(http, emu, "POST", f"/3/album/{album.id}/favorite", headers=me)
    unknown = await call(http, emu, "POST", "/3/album/nope123/favorite", headers=me)

    assert anonymous[0] == 401
    assert (first[1]["data"], second[1]["data"]) == ("favorited", "unfavorited")
    assert liked_image[1]["data"] == "favorited"
    assert [i["id"] for i in private] == [image.id, album.id] == [i["id"] for i in public]
    assert not_mine[0] == 403 and unknown[0] == 404
