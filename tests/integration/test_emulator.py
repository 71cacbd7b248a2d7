"""The Imgur emulator over HTTP: aiohttp and the official imgurpython client against it."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import re
import sys
from contextlib import AsyncExitStack
from datetime import UTC, datetime

import aiohttp
import imgurpython.client
import pytest
from imgurpython import ImgurClient
from imgurpython.helpers.error import ImgurClientError
from PIL import Image

from bot.clock import FakeClock
from fakes.imgur import Emulator, EmulatorConfig
from fakes.imgur.listings import PAGE_SIZE

CLIENT = {"Authorization": "Client-ID test-client"}
SMALL = 600  # gallery posts in most tests: enough for several pages, quick to build


@pytest.fixture
async def make_emu():
    async with AsyncExitStack() as stack:

        async def start(**config) -> Emulator:
            config.setdefault("item_count", SMALL)
            return await stack.enter_async_context(Emulator(EmulatorConfig(**config)))

        yield start


@pytest.fixture
async def emu(make_emu) -> Emulator:
    return await make_emu()


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def imgur_at(monkeypatch):
    """Point imgurpython (module-level API_URL, also used for token refresh) at an emulator."""

    def point(emulator: Emulator) -> None:
        monkeypatch.setattr(imgurpython.client, "API_URL", emulator.base_url + "/")

    return point


async def fetch(http, emu, path, *, method="GET", headers=CLIENT, **kwargs):
    async with http.request(method, emu.base_url + path, headers=headers, **kwargs) as response:
        body = await response.read()
        return response.status, response.headers, body


async def fetch_json(http, emu, path, **kwargs):
    status, headers, body = await fetch(http, emu, path, **kwargs)
    return status, headers, json.loads(body)


def png_bytes(size=(64, 48), colour=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


# -- imgurpython, the seed's client ------------------------------------------------------------


async def test_seed_example_gallery_prints_imgur_shaped_links(make_emu, imgur_at):
    emu = await make_emu(item_count=3000)  # the default catalogue, as `imgurbot emulator`
    imgur_at(emu)
    host = re.escape(emu.base_url)
    image_link = re.compile(rf"^{host}/[A-Za-z0-9]{{7}}h?\.(jpg|png|gif|mp4)$")
    album_link = re.compile(rf"^{host}/a/[A-Za-z0-9]{{5,7}}$")

    items = await asyncio.to_thread(lambda: ImgurClient("client-id", "secret").gallery())

    assert len(items) >= 20
    kinds = {type(item).__name__ for item in items}
    assert kinds == {"GalleryImage", "GalleryAlbum"}
    for item in items:
        pattern = album_link if item.is_album else image_link
        assert pattern.match(item.link), item.link


async def test_imgurpython_upload_from_path_then_delete(emu, imgur_at, tmp_path, http):
    imgur_at(emu)
    picture = tmp_path / "cat.png"
    picture.write_bytes(png_bytes((120, 80)))

    def upload_and_delete():
        client = ImgurClient("client-id", "secret")
        uploaded = client.upload_from_path(str(picture), config={"title": "A cat"})
        deleted = client.delete_image(uploaded["deletehash"])
        with pytest.raises(ImgurClientError) as gone:
            client.get_image(uploaded["id"])
        return uploaded, deleted, gone.value

    uploaded, deleted, gone = await asyncio.to_thread(upload_and_delete)

    assert uploaded["link"] == f"{emu.base_url}/{uploaded['id']}.png"
    assert (uploaded["width"], uploaded["height"], uploaded["title"]) == (120, 80, "A cat")
    assert re.fullmatch(r"[A-Za-z0-9]{15}", uploaded["deletehash"])
    assert deleted is True
    assert gone.status_code == 404
    assert emu.stats.uploads == 1


async def test_imgurpython_refreshes_an_expired_token_once_and_retries(emu, imgur_at):
    imgur_at(emu)
    grant = emu.issue_token(client_id="client-id")
    emu.expire_tokens()

    account = await asyncio.to_thread(
        lambda: ImgurClient("client-id", "secret", grant.access_token, "refresh-me").get_account(
            "me"
        )
    )

    assert account.url == emu.config.oauth_username
    assert emu.stats.calls("oauth.token") == 1
    assert emu.stats.by_status[403] == 1


async def test_imgurpython_search_tag_and_memes(emu, imgur_at):
    imgur_at(emu)

    def browse():
        client = ImgurClient("client-id", "secret")
        return (
            client.gallery_tag("cats"),
            client.gallery_search("cat OR dog"),
            client.default_memes(),
        )

    tag, found, memes = await asyncio.to_thread(browse)

    assert tag.name == "cats" and tag.items
    assert found and all(not getattr(i, "nsfw", False) for i in found)
    assert len(memes) >= 10 and memes[0].link.endswith(".jpg")


# -- the envelope, errors and auth -------------------------------------------------------------


async def test_success_envelope_and_json_suffix(emu, http):
    status, _, plain = await fetch_json(http, emu, "/3/gallery/hot/viral/0")
    _, _, suffixed = await fetch_json(http, emu, "/3/gallery/hot/viral/0.json")

    assert status == 200
    assert set(plain) == {"data", "success", "status"}
    assert plain["success"] is True and plain["status"] == 200
    assert plain == suffixed


async def test_error_echoes_request_and_method(emu, http):
    status, _, body = await fetch_json(http, emu, "/3/image/nope123.json", method="DELETE")

    assert status == 404
    assert body == {
        "data": {
            "error": "Unable to find an image with the id, nope123",
            "request": "/3/image/nope123.json",
            "method": "DELETE",
        },
        "success": False,
        "status": 404,
    }


async def test_fake_status_parameter_keeps_http_200(emu, http):
    status, _, body = await fetch_json(http, emu, "/3/image/nope123?_fake_status=true")
    assert (status, body["status"], body["success"]) == (200, 404, False)


async def test_raw_body_escapes_slashes_like_imgur(emu, http):
    _, _, raw = await fetch(http, emu, "/3/gallery/hot/viral/0")
    assert b'"link":"http:\\/\\/127.0.0.1' in raw


async def test_missing_auth_is_401_authentication_required(emu, http):
    status, headers, body = await fetch_json(http, emu, "/3/credits", headers={})

    assert status == 401
    assert body["data"]["error"] == "Authentication required"
    assert body["data"]["request"] == "/3/credits"
    assert "X-RateLimit-ClientRemaining" not in headers


async def test_unknown_client_id_and_invalid_token_are_403(make_emu, http):
    emu = await make_emu(accepted_client_ids=frozenset({"good"}))

    bad_client = await fetch_json(http, emu, "/3/credits", headers={"Authorization": "Client-ID x"})
    good_client = await fetch_json(
        http, emu, "/3/credits", headers={"Authorization": "Client-ID good"}
    )
    bad_token = await fetch_json(http, emu, "/3/credits", headers={"Authorization": "Bearer 00"})

    assert bad_client[0] == 403 and bad_client[2]["data"]["error"] == "Invalid client_id"
    assert good_client[0] == 200
    assert bad_token[0] == 403
    assert bad_token[2]["data"]["error"] == "The access token provided is invalid."


async def test_user_only_route_needs_a_bearer_token(emu, http):
    image_id = emu.data.gallery_images()[0].id
    status, _, body = await fetch_json(http, emu, f"/3/image/{image_id}/favorite", method="POST")
    assert (status, body["data"]["error"]) == (401, "Authentication required")


async def test_rapidapi_key_is_accepted_when_configured(make_emu, http):
    emu = await make_emu(rapidapi_key="rapid-secret")

    ok = await fetch(http, emu, "/3/credits", headers={**CLIENT, "X-RapidAPI-Key": "rapid-secret"})
    mashape = await fetch(
        http, emu, "/3/credits", headers={**CLIENT, "X-Mashape-Key": "rapid-secret"}
    )
    wrong = await fetch_json(http, emu, "/3/credits", headers={**CLIENT, "X-RapidAPI-Key": "no"})

    assert ok[0] == 200 and mashape[0] == 200
    assert wrong[0] == 403
    assert set(wrong[2]) == {"message"}  # the gateway's own body, no envelope


# -- OAuth -------------------------------------------------------------------------------------


async def test_refresh_token_grant_is_not_enveloped_and_token_works(emu, http):
    form = {
        "refresh_token": "r1",
        "client_id": "test-client",
        "client_secret": "s",
        "grant_type": "refresh_token",
    }
    status, headers, grant = await fetch_json(
        http, emu, "/oauth2/token", method="POST", data=form, headers={}
    )

    assert status == 200
    assert "data" not in grant
    assert re.fullmatch(r"[0-9a-f]{40}", grant["access_token"])
    assert grant["token_type"] == "bearer" and grant["refresh_token"] == "r1"
    assert "X-RateLimit-ClientRemaining" not in headers  # OAuth calls cost nothing
    bearer = {"Authorization": f"Bearer {grant['access_token']}"}
    me = await fetch_json(http, emu, "/3/account/me", headers=bearer)
    assert me[0] == 200 and me[2]["data"]["url"] == grant["account_username"]

    emu.expire_tokens()
    expired = await fetch_json(http, emu, "/3/account/me", headers=bearer)
    assert expired[0] == 403
    assert expired[2]["data"]["error"] == "The access token provided is invalid."


async def test_invalid_refresh_token_is_400(make_emu, http):
    emu = await make_emu(refresh_tokens={"known": "someone"})
    form = {"refresh_token": "unknown", "client_id": "c", "grant_type": "refresh_token"}
    status, _, body = await fetch_json(
        http, emu, "/oauth2/token", method="POST", data=form, headers={}
    )
    assert status == 400
    assert body["data"] == {
        "error": "Invalid refresh token",
        "request": "/oauth2/token",
        "method": "POST",
    }


async def test_access_token_expires_on_the_clock(make_emu, http):
    clock = FakeClock()
    emu = await make_emu(clock=clock, access_token_ttl=3600)
    bearer = {"Authorization": f"Bearer {emu.issue_token().access_token}"}

    assert (await fetch(http, emu, "/3/account/me", headers=bearer))[0] == 200
    clock.advance(3601)
    assert (await fetch(http, emu, "/3/account/me", headers=bearer))[0] == 403


# -- gallery: URL shapes, paging, mature, previews ---------------------------------------------


async def test_both_gallery_url_shapes_give_the_same_page(emu, http):
    short = await fetch_json(http, emu, "/3/gallery/hot/viral/1")
    long = await fetch_json(http, emu, "/3/gallery/hot/viral/day/1")
    bare = await fetch_json(http, emu, "/3/gallery")
    first = await fetch_json(http, emu, "/3/gallery/hot/viral/0")

    assert short[2] == long[2]
    assert bare[2] == first[2]
    top_week = await fetch_json(http, emu, "/3/gallery/top/top/week/0")
    anchor = emu.data.anchor
    assert all(item["datetime"] >= anchor - 7 * 86400 for item in top_week[2]["data"])
    points = [item["points"] for item in top_week[2]["data"]]
    assert points == sorted(points, reverse=True)


async def test_gallery_pages_hold_60_and_end_with_empty_data(emu, http):
    seen: list[str] = []
    page = 0
    while True:
        _, _, body = await fetch_json(http, emu, f"/3/gallery/hot/time/{page}")
        if not body["data"]:
            break
        assert len(body["data"]) <= PAGE_SIZE
        seen.extend(item["id"] for item in body["data"])
        page += 1

    expected = [p for p in emu.data.posts if p.in_most_viral and not p.nsfw]
    assert page >= 2
    assert len(seen) == len(set(seen)) == len(expected)
    assert body == {"data": [], "success": True, "status": 200}


async def test_mature_query_decides_whether_nsfw_items_show(emu, http):
    async def all_ids(mature: str) -> list[dict]:
        items, page = [], 0
        while True:
            path = f"/3/gallery/user/time/{page}?mature={mature}"
            data = (await fetch_json(http, emu, path))[2]["data"]
            if not data:
                return items
            items.extend(data)
            page += 1

    hidden = await all_ids("false")
    shown = await all_ids("true")

    assert not any(item["nsfw"] for item in hidden)
    nsfw = {p.id for p in emu.data.nsfw_posts()}
    assert nsfw and nsfw <= {item["id"] for item in shown}
    assert len(shown) == len(hidden) + len(nsfw)


async def test_show_viral_false_hides_viral_items_of_user_section(emu, http):
    _, _, body = await fetch_json(http, emu, "/3/gallery/user/viral/0?showViral=false")
    ids = [item["id"] for item in body["data"]]
    assert ids and not any(emu.data.item(i).in_most_viral for i in ids)


async def test_albums_in_lists_carry_images_only_with_album_previews(emu, http):
    plain = (await fetch_json(http, emu, "/3/gallery/hot/viral/0"))[2]["data"]
    previews = (await fetch_json(http, emu, "/3/gallery/hot/viral/0?album_previews=true"))[2][
        "data"
    ]

    plain_albums = [i for i in plain if i["is_album"]]
    preview_albums = [i for i in previews if i["is_album"]]
    assert plain_albums and all("images" not in a for a in plain_albums)
    assert all(1 <= len(a["images"]) <= min(3, a["images_count"]) for a in preview_albums)


async def test_gallery_item_lookups(emu, http):
    image = emu.data.gallery_images()[0]
    album = emu.data.gallery_albums()[0]

    item = (await fetch_json(http, emu, f"/3/gallery/{album.id}"))[2]["data"]
    by_image = (await fetch_json(http, emu, f"/3/gallery/image/{image.id}"))[2]["data"]
    by_album = (await fetch_json(http, emu, f"/3/gallery/album/{album.id}"))[2]["data"]
    wrong_kind = await fetch_json(http, emu, f"/3/gallery/album/{image.id}")

    assert item["is_album"] is True and len(item["images"]) == album.images_count
    assert by_image["id"] == image.id and by_image["is_album"] is False
    assert by_album == item
    assert wrong_kind[0] == 404


# -- search ------------------------------------------------------------------------------------


async def search_ids(http, emu, query: str) -> set[str]:
    ids, page = set(), 0
    while True:
        body = (await fetch_json(http, emu, f"/3/gallery/search/time/{page}?{query}"))[2]
        if not body["data"]:
            return ids
        ids.update(item["id"] for item in body["data"])
        page += 1


def expected_ids(emu, keep) -> set[str]:
    return {p.id for p in emu.data.posts if not p.nsfw and keep(p)}


def title_words(post) -> set[str]:
    return set(re.findall(r"[a-z0-9_']+", (post.title or "").lower()))


@pytest.mark.parametrize(
    ("query", "keep"),
    [
        ("q=tag:cats", lambda p: "cats" in p.tags),
        ("q=title:%20kitten", lambda p: "kitten" in title_words(p)),
        ("q=ext:gif", lambda p: not p.is_album and p.ext == "gif"),
        ("q=tag:cats%20AND%20tag:funny", lambda p: {"cats", "funny"} <= set(p.tags)),
        ("q=tag:cats%20OR%20tag:dogs", lambda p: bool({"cats", "dogs"} & set(p.tags))),
        (
            "q=tag:cats%20NOT%20ext:jpg",
            lambda p: "cats" in p.tags and getattr(p, "ext", "") != "jpg",
        ),
        ("q_type=album", lambda p: p.is_album),
        ("q_type=anigif", lambda p: not p.is_album and p.animated and p.mime == "image/gif"),
        ("q_size_px=small", "small"),
    ],
)
async def test_search_operators_over_http(emu, http, query, keep):
    if keep == "small":  # albums are measured by their cover

        def keep(p):
            image = emu.data.images[p.cover] if p.is_album else p
            return max(image.width, image.height) <= 500

    assert await search_ids(http, emu, query) == expected_ids(emu, keep)


async def test_advanced_search_ignores_q_and_combines_params(emu, http):
    got = await search_ids(http, emu, "q=tag:nothing&q_any=cat%20dog&q_not=tiny")
    want = expected_ids(
        emu,
        lambda p: (
            bool({"cat", "dog"} & (title_words(p) | set(p.tags)))
            or (p.description and bool({"cat", "dog"} & set(p.description.lower().split())))
        ),
    )
    assert got and got <= want
    assert not any("tiny" in title_words(emu.data.item(i)) for i in got)


async def test_search_sorts_and_empty_query(emu, http):
    viral = (await fetch_json(http, emu, "/3/gallery/search/viral/0?q=cat"))[2]["data"]
    scores = [i["score"] for i in viral]
    assert scores == sorted(scores, reverse=True)
    status, _, body = await fetch_json(http, emu, "/3/gallery/search?q=")
    assert status == 400 and body["success"] is False


# -- tags, subreddits, memes, memegen ----------------------------------------------------------


async def test_tags_tag_gallery_and_tag_info(emu, http):
    tags = (await fetch_json(http, emu, "/3/tags"))[2]["data"]
    gallery = (await fetch_json(http, emu, "/3/gallery/t/cats/top/week/0"))[2]["data"]
    info = (await fetch_json(http, emu, "/3/gallery/tag_info/cats"))[2]["data"]
    missing = await fetch_json(http, emu, "/3/gallery/tag_info/no_such_tag")

    assert {"tags", "featured", "galleries"} <= set(tags)
    assert all(isinstance(t["id"], str) for t in tags["tags"])  # drift: string ids
    assert gallery["name"] == "cats" and "items" in gallery
    assert all(emu.data.item(i["id"]).tags.count("cats") for i in gallery["items"])
    assert info["name"] == "cats" and "items" not in info
    assert info["total_items"] == emu.data.tags["cats"].total_items
    assert missing[0] == 404


async def test_subreddit_gallery_has_null_votes(emu, http):
    name = next(iter(emu.data.by_subreddit))
    items = (await fetch_json(http, emu, f"/3/gallery/r/{name}/time/0"))[2]["data"]
    one = (await fetch_json(http, emu, f"/3/gallery/r/{name}/{items[0]['id']}"))[2]["data"]

    assert items and all(i["section"] == name for i in items)
    assert all(i["ups"] is None and isinstance(i["score"], int) for i in items)
    assert one["id"] == items[0]["id"]


async def test_memes_subgallery_and_memegen_templates_are_real_jpegs(emu, http):
    memes = (await fetch_json(http, emu, "/3/g/memes/viral/0"))[2]["data"]
    legacy_path = (await fetch_json(http, emu, "/3/gallery/g/memes/time/0"))[2]["data"]
    templates = (await fetch_json(http, emu, "/3/memegen/defaults"))[2]["data"]

    assert memes and all("memes" in emu.data.item(m["id"]).tags for m in memes)
    assert legacy_path
    assert len(templates) >= 10 and all(t["account_id"] == 4 for t in templates)
    status, headers, jpeg = await fetch(http, emu, templates[0]["link"].removeprefix(emu.base_url))
    picture = Image.open(io.BytesIO(jpeg))
    assert (status, headers["Content-Type"], picture.format) == (200, "image/jpeg", "JPEG")
    assert 700 <= picture.width <= 900 and 700 <= picture.height <= 900


# -- images, anonymous albums, accounts --------------------------------------------------------


async def upload(http, emu, headers=CLIENT, **form):
    data = aiohttp.FormData()
    for key, value in form.items():
        if isinstance(value, bytes):
            data.add_field(key, value, filename="file.bin")
        else:
            data.add_field(key, value)
    return await fetch_json(http, emu, "/3/image", method="POST", data=data, headers=headers)


async def test_image_update_and_delete_by_deletehash(emu, http):
    _, _, created = await upload(http, emu, image=png_bytes(), title="before")
    image = created["data"]

    updated = await fetch_json(
        http, emu, f"/3/image/{image['deletehash']}", method="POST", data={"title": "after"}
    )
    by_id = await fetch_json(
        http, emu, f"/3/image/{image['id']}", method="POST", data={"title": "x"}
    )
    got = (await fetch_json(http, emu, f"/3/image/{image['id']}"))[2]["data"]
    deleted = await fetch_json(http, emu, f"/3/image/{image['deletehash']}", method="DELETE")

    assert updated[2]["data"] is True
    assert by_id[0] == 403  # an id is not enough without the owner's token
    assert got["title"] == "after" and "deletehash" not in got
    assert deleted[2] == {"data": True, "success": True, "status": 200}
    assert (await fetch(http, emu, f"/3/image/{image['id']}"))[0] == 404


async def test_anonymous_album_lifecycle_by_deletehash(emu, http):
    first = (await upload(http, emu, image=png_bytes()))[2]["data"]
    second = (await upload(http, emu, image=png_bytes(colour=(0, 0, 255))))[2]["data"]

    created = await fetch_json(
        http,
        emu,
        "/3/album",
        method="POST",
        data={"deletehashes[]": first["deletehash"], "title": "Bot uploads"},
    )
    album = created[2]["data"]
    added = await fetch_json(
        http,
        emu,
        f"/3/album/{album['deletehash']}/add",
        method="POST",
        data={"deletehashes": second["deletehash"]},
    )
    got = (await fetch_json(http, emu, f"/3/album/{album['id']}"))[2]["data"]
    deleted = await fetch_json(http, emu, f"/3/album/{album['deletehash']}", method="DELETE")

    assert set(album) == {"id", "deletehash"}
    assert added[2]["data"] is True
    assert [i["id"] for i in got["images"]] == [first["id"], second["id"]]
    assert got["link"] == f"{emu.base_url}/a/{album['id']}"
    assert got["cover"] == first["id"] and got["title"] == "Bot uploads"
    assert deleted[2]["data"] is True
    assert (await fetch(http, emu, f"/3/album/{album['id']}"))[0] == 404


async def test_upload_straight_into_an_anonymous_album(emu, http):
    album = (await fetch_json(http, emu, "/3/album", method="POST", data={"title": "t"}))[2]
    empty = (await fetch_json(http, emu, f"/3/album/{album['data']['id']}"))[2]["data"]
    image = (await upload(http, emu, image=png_bytes(), album=album["data"]["deletehash"]))[2]
    full = (await fetch_json(http, emu, f"/3/album/{album['data']['id']}/images"))[2]["data"]
    unknown = await upload(http, emu, image=png_bytes(), album="nope")

    assert empty["cover"] is None and empty["images"] == [] and empty["images_count"] == 0
    assert [i["id"] for i in full] == [image["data"]["id"]]
    assert unknown[0] == 404


async def test_owner_token_edits_by_id_and_sees_own_uploads(emu, http):
    post = emu.data.gallery_images()[0]
    owner = {"Authorization": f"Bearer {emu.issue_token(post.account_url).access_token}"}
    before = (await fetch_json(http, emu, f"/3/gallery/{post.id}"))[2]["data"]

    edited = await fetch(
        http, emu, f"/3/image/{post.id}", method="POST", data={"title": "new"}, headers=owner
    )
    after = (await fetch_json(http, emu, f"/3/gallery/{post.id}"))[2]["data"]
    mine = (await upload(http, emu, image=png_bytes(), headers=owner))[2]["data"]
    listed = (await fetch_json(http, emu, "/3/account/me/images/0", headers=owner))[2]["data"]

    assert edited[0] == 200 and before["title"] != "new" and after["title"] == "new"
    assert mine["account_url"] == post.account_url
    assert [i["id"] for i in listed] == [mine["id"]] and listed[0]["deletehash"]


async def test_account_and_submissions(emu, http):
    author = emu.data.posts[0].account_url
    account = (await fetch_json(http, emu, f"/3/account/{author}"))[2]["data"]
    page = (await fetch_json(http, emu, f"/3/account/{author}/submissions/0"))[2]["data"]
    past = (await fetch_json(http, emu, f"/3/account/{author}/submissions/50"))[2]["data"]

    assert account["url"] == author and isinstance(account["id"], int)
    assert page and all(item["account_url"] == author for item in page)
    assert past == []
    assert (await fetch(http, emu, "/3/account/nobody_at_all_here"))[0] == 404


# -- uploads -----------------------------------------------------------------------------------


async def test_upload_as_multipart_base64_and_own_host_url(emu, http):
    multipart = await upload(http, emu, image=png_bytes((30, 20)))
    b64 = await fetch_json(
        http,
        emu,
        "/3/upload",
        method="POST",
        data={"image": base64.b64encode(png_bytes((31, 21))).decode(), "type": "base64"},
    )
    source = multipart[2]["data"]["link"]
    by_url = await fetch_json(
        http, emu, "/3/image", method="POST", data={"image": source, "type": "url"}
    )

    assert multipart[2]["data"]["width"] == 30
    assert b64[2]["data"]["width"] == 31
    assert by_url[0] == 200 and by_url[2]["data"]["width"] == 30
    assert by_url[2]["data"]["id"] != multipart[2]["data"]["id"]


async def test_upload_from_foreign_url_is_refused(emu, http):
    status, _, body = await fetch_json(
        http,
        emu,
        "/3/image",
        method="POST",
        data={"image": "https://example.com/cat.png", "type": "url"},
    )
    assert (status, body["data"]["error"]) == (400, "Unable to process upload!")


async def test_upload_size_and_type_rules(make_emu, http):
    emu = await make_emu(max_image_bytes=2000)
    big = io.BytesIO()
    Image.effect_noise((200, 200), 64).save(big, "PNG")

    too_big = await upload(http, emu, image=big.getvalue())
    wrong_type = await upload(http, emu, image=b"%PDF-1.4 not an image at all")
    corrupt = await upload(http, emu, image=b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)

    assert too_big[0] == 400 and too_big[2]["data"]["error"] == "File is over the size limit"
    assert wrong_type[0] == 400
    assert wrong_type[2]["data"]["error"]["code"] == 1003
    assert wrong_type[2]["data"]["error"]["message"] == "File type invalid (1)"
    assert corrupt[2]["data"]["error"]["code"] == 1001
    assert emu.stats.uploads == 0

    emu.config.oversize_mode = "413"
    layer = await upload(http, emu, image=big.getvalue())
    assert layer[0] == 413 and layer[2]["detail"] == "file is over the size limit"


async def test_video_upload_is_served_back(emu, http):
    mp4 = b"\x00\x00\x00\x18ftypmp42" + bytes(64)
    status, _, body = await upload(http, emu, video=mp4)
    video = body["data"]
    got = await fetch(http, emu, video["link"].removeprefix(emu.base_url))

    assert status == 200 and video["type"] == "video/mp4" and video["link"].endswith(".mp4")
    assert got[1]["Content-Type"] == "video/mp4" and got[2] == mp4


# -- accounting --------------------------------------------------------------------------------

RATE_HEADERS = (
    "X-RateLimit-UserLimit",
    "X-RateLimit-UserRemaining",
    "X-RateLimit-UserReset",
    "X-RateLimit-ClientLimit",
    "X-RateLimit-ClientRemaining",
    "X-RateLimit-ClientReset",
)
POST_HEADERS = ("X-Post-Rate-Limit-Limit", "X-Post-Rate-Limit-Remaining", "X-Post-Rate-Limit-Reset")


async def test_every_rate_header_and_credit_costs(emu, http):
    _, get_headers, _ = await fetch(http, emu, "/3/gallery/hot/viral/0")
    _, post_headers, _ = await upload(http, emu, image=png_bytes())
    _, after, _ = await fetch(http, emu, "/3/tags")

    assert all(h in get_headers for h in RATE_HEADERS)
    assert not any(h in get_headers for h in POST_HEADERS)
    assert all(h in post_headers for h in (*RATE_HEADERS, *POST_HEADERS))
    assert int(get_headers["X-RateLimit-ClientRemaining"]) == 12_500 - 1
    assert int(post_headers["X-RateLimit-ClientRemaining"]) == 12_500 - 11  # upload = 10
    assert int(post_headers["X-Post-Rate-Limit-Remaining"]) == 1_249
    assert int(after["X-RateLimit-UserRemaining"]) == 500 - 12
    assert int(after["X-RateLimit-UserReset"]) <= 3600
    assert emu.stats.credits_charged == 12


async def test_user_reset_header_modes(make_emu, http):
    clock = FakeClock(datetime(2026, 3, 1, tzinfo=UTC))
    emu = await make_emu(clock=clock, user_reset_mode="epoch")
    now = int(clock.now().timestamp())

    epoch = int((await fetch(http, emu, "/3/tags"))[1]["X-RateLimit-UserReset"])
    emu.config.user_reset_mode = "relative"
    relative = int((await fetch(http, emu, "/3/tags"))[1]["X-RateLimit-UserReset"])

    assert epoch == now + 3600
    assert relative == 3600


@pytest.mark.parametrize("shape", ["classic", "errors"])
async def test_daily_client_limit_gives_429_in_either_shape(make_emu, http, shape):
    emu = await make_emu(client_daily_limit=3, rate_limit_429_shape=shape)
    for _ in range(3):
        assert (await fetch(http, emu, "/3/tags"))[0] == 200

    status, headers, body = await fetch_json(http, emu, "/3/tags")

    assert status == 429
    assert headers["X-RateLimit-ClientRemaining"] == "0"
    if shape == "classic":
        assert body["data"]["error"] == "Daily client requests exceeded"
        assert body["status"] == 429 and body["success"] is False
    else:
        assert headers["Content-Type"].startswith("application/vnd.imgur.v1+json")
        (error,) = body["errors"]
        assert error["code"] == "429" and error["status"] == "Too Many Requests"
    assert emu.stats.rate_limited == 1 and emu.stats.credits_charged == 3
    assert emu.stats.calls("tags") == 4  # calls received, the refused one included


async def test_user_limit_is_per_client_ip(make_emu, http):
    emu = await make_emu(user_hourly_limit=2, trust_forwarded_for=True)
    alice = {**CLIENT, "X-Forwarded-For": "10.0.0.1"}
    bob = {**CLIENT, "X-Forwarded-For": "10.0.0.2"}
    for _ in range(2):
        await fetch(http, emu, "/3/tags", headers=alice)

    refused = await fetch_json(http, emu, "/3/tags", headers=alice)
    other_ip = await fetch(http, emu, "/3/tags", headers=bob)

    assert refused[0] == 429 and refused[2]["data"]["error"] == "User request limit exceeded"
    assert other_ip[0] == 200


async def test_post_hourly_limit(make_emu, http):
    emu = await make_emu(post_hourly_limit=1)
    first = await fetch(http, emu, "/3/album", method="POST", data={"title": "a"})
    second = await fetch_json(http, emu, "/3/album", method="POST", data={"title": "b"})

    assert first[0] == 200
    assert second[0] == 429 and second[1]["X-Post-Rate-Limit-Remaining"] == "0"


async def test_upload_throttle_object_error_then_window_rolls(make_emu, http):
    clock = FakeClock()
    emu = await make_emu(upload_hourly_limit=2, clock=clock)
    for _ in range(2):
        assert (await upload(http, emu, image=png_bytes()))[0] == 200

    status, _, body = await upload(http, emu, image=png_bytes())
    clock.advance(3600)
    again = await upload(http, emu, image=png_bytes())

    assert status == 429
    error = body["data"]["error"]
    assert error["code"] == 429 and error["type"] == "ImgurException"
    assert re.fullmatch(
        r"You are uploading too fast\. Please wait \d+ more minutes\.", error["message"]
    )
    assert again[0] == 200


async def test_a_simulated_day_rolls_the_daily_window(make_emu, http):
    clock = FakeClock()
    emu = await make_emu(client_daily_limit=24, user_hourly_limit=10, clock=clock)
    statuses = []
    for _hour in range(30):  # two calls an hour for 30 hours
        for _ in range(2):
            statuses.append((await fetch(http, emu, "/3/tags"))[0])
        clock.advance(3600)

    # 24 credits last 12 hours; then 429s until the day (from the first call) is over.
    assert statuses[:24] == [200] * 24
    assert statuses[24:48] == [429] * 24
    assert statuses[48:] == [200] * 12
    assert emu.stats.rate_limited == 24


async def test_credits_endpoint_matches_headers(emu, http):
    _, headers, body = await fetch_json(http, emu, "/3/credits")
    data = body["data"]
    assert data["ClientRemaining"] == int(headers["X-RateLimit-ClientRemaining"])
    assert data["UserRemaining"] == int(headers["X-RateLimit-UserRemaining"])
    assert set(data) == {
        "UserLimit",
        "UserRemaining",
        "UserReset",
        "ClientLimit",
        "ClientRemaining",
    }


async def test_etag_gives_304(emu, http):
    _, headers, _ = await fetch(http, emu, "/3/tags")
    status, again, body = await fetch(
        http, emu, "/3/tags", headers={**CLIENT, "If-None-Match": headers["ETag"]}
    )
    assert (status, body) == (304, b"")
    assert int(again["X-RateLimit-ClientRemaining"]) == 12_500 - 2  # still charged


async def test_a_cached_gallery_page_keeps_its_body_and_etag(emu, http):
    first = await fetch(http, emu, "/3/gallery/hot/viral/day/0")
    second = await fetch(http, emu, "/3/gallery/hot/viral/day/0")
    assert first[0] == second[0] == 200 and first[2] == second[2]
    etag = first[1]["ETag"]
    assert etag == second[1]["ETag"] == 'W/"' + hashlib.sha1(first[2]).hexdigest() + '"'
    status, _, body = await fetch(
        http, emu, "/3/gallery/hot/viral/day/0", headers={**CLIENT, "If-None-Match": etag}
    )
    assert (status, body) == (304, b"")


# -- faults ------------------------------------------------------------------------------------


def is_json(body: bytes) -> bool:
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize(
    ("kind", "check"),
    [
        ("error_500", lambda s, h, b: s == 500 and json.loads(b)["data"]["error"]["code"] == 500),
        ("html_503", lambda s, h, b: s == 503 and b.startswith(b"<!DOCTYPE html>")),
        (
            "over_capacity_403",
            lambda s, h, b: s == 403 and "over capacity" in json.loads(b)["data"]["error"],
        ),
        ("over_capacity_1203", lambda s, h, b: json.loads(b)["status"] == 1203),
        ("html_404", lambda s, h, b: s == 404 and h["Content-Type"].startswith("text/html")),
        ("token_invalid_403", lambda s, h, b: s == 403 and "access token" in b.decode()),
        ("rate_limited_429", lambda s, h, b: s == 429 and is_json(b)),
        ("truncated_json", lambda s, h, b: s == 200 and b and not is_json(b)),
        ("invalid_json", lambda s, h, b: s == 200 and b == b"\r\n <xml"),
        ("empty_body", lambda s, h, b: s == 200 and b == b""),
        (
            "missing_rate_headers",
            lambda s, h, b: s == 200 and not any("ratelimit" in k.lower() for k in h),
        ),
        ("user_reset_epoch", lambda s, h, b: int(h["X-RateLimit-UserReset"]) > 10**9),
    ],
)
async def test_each_fault_is_observable_over_http(emu, http, kind, check):
    emu.faults.add(kind, path_prefix="/3/gallery", times=1)

    faulted = await fetch(http, emu, "/3/gallery/hot/viral/0")
    normal = await fetch(http, emu, "/3/gallery/hot/viral/0")

    assert check(*faulted), faulted[:2]
    assert normal[0] == 200 and is_json(normal[2])
    assert emu.stats.faults_applied[kind] == 1


async def test_user_reset_relative_fault_overrides_epoch_mode(make_emu, http):
    emu = await make_emu(user_reset_mode="epoch")
    emu.faults.add("user_reset_relative", times=1)
    assert int((await fetch(http, emu, "/3/tags"))[1]["X-RateLimit-UserReset"]) <= 3600
    assert int((await fetch(http, emu, "/3/tags"))[1]["X-RateLimit-UserReset"]) > 10**9


async def test_connection_reset_fault(emu, http):
    # Until cleared: aiohttp retries a GET once on a dropped connection by itself.
    fault = emu.faults.add("connection_reset", path_prefix="/3/tags")
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await fetch(http, emu, "/3/tags")
    emu.faults.clear(fault.id)

    assert (await fetch(http, emu, "/3/tags"))[0] == 200
    assert emu.stats.faults_applied["connection_reset"] >= 1
    assert emu.stats.credits_charged == 1  # dropped requests were never processed


async def test_latency_fault_delays_answers(emu, http):
    emu.faults.add("latency", path_prefix="/3/tags", seconds=0.3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await fetch(http, emu, "/3/tags")
    slow = loop.time() - started
    started = loop.time()
    await fetch(http, emu, "/3/credits")
    fast = loop.time() - started
    assert slow >= 0.3 > fast


async def test_faults_target_a_prefix_and_last_until_cleared(emu, http):
    fault = emu.faults.add("html_503", path_prefix="/3/image")
    image_id = emu.data.gallery_images()[0].id

    hits = [(await fetch(http, emu, f"/3/image/{image_id}"))[0] for _ in range(3)]
    other = (await fetch(http, emu, "/3/tags"))[0]
    emu.faults.clear(fault.id)
    after = (await fetch(http, emu, f"/3/image/{image_id}"))[0]

    assert hits == [503, 503, 503] and other == 200 and after == 200


async def test_admin_http_api(emu, http):
    admin = emu.base_url + "/_emulator"
    async with http.post(
        f"{admin}/faults", json={"kind": "html_404", "path_prefix": "/3/tags", "times": 2}
    ) as r:
        assert r.status == 201
        fault = await r.json()
    async with http.post(f"{admin}/faults", json={"kind": "no_such_kind"}) as r:
        assert r.status == 400
    statuses = [(await fetch(http, emu, "/3/tags"))[0] for _ in range(3)]
    async with http.get(f"{admin}/stats") as r:
        stats = await r.json()
    async with http.get(f"{admin}/faults") as r:
        remaining = await r.json()
    async with http.post(f"{admin}/settings", json={"rate_limit_429_shape": "errors"}) as r:
        settings = await r.json()
    async with http.post(f"{admin}/reset", json={}) as r:
        assert r.status == 200

    assert fault["kind"] == "html_404"
    assert statuses == [404, 404, 200]
    assert remaining == []
    assert stats["faults_applied"] == {"html_404": 2}
    assert stats["by_route"]["tags"] == 1 and stats["credits_charged"] == 1
    assert stats["by_path"]["/3/tags"] == 1 and stats["rate_limited"] == 0
    assert settings["rate_limit_429_shape"] == "errors"
    assert emu.stats.requests == 0


async def test_admin_can_expire_tokens_and_move_a_fake_clock(make_emu, http):
    emu = await make_emu(clock=FakeClock())
    admin = emu.base_url + "/_emulator"
    async with http.post(f"{admin}/tokens", json={"username": "someone"}) as r:
        grant = await r.json()
    bearer = {"Authorization": f"Bearer {grant['access_token']}"}
    assert (await fetch(http, emu, "/3/account/me", headers=bearer))[0] == 200
    async with http.post(f"{admin}/expire_tokens", json={}) as r:
        assert (await r.json())["expired"] >= 1
    async with http.post(f"{admin}/clock", json={"advance": 90}) as r:
        moved = await r.json()

    assert (await fetch(http, emu, "/3/account/me", headers=bearer))[0] == 403
    assert moved["now"].startswith("2026-01-01T00:01:30")


# -- the image host ----------------------------------------------------------------------------


async def test_image_links_serve_decodable_bytes(emu, http):
    images = emu.data.gallery_images()
    still = next(i for i in images if i.mime == "image/jpeg" and max(i.width, i.height) <= 2000)
    png = next(i for i in images if i.mime == "image/png" and max(i.width, i.height) <= 2000)
    gif = next(i for i in images if i.mime == "image/gif")
    video = next(i for i in images if i.is_video)

    for record, fmt in ((still, "JPEG"), (png, "PNG")):
        body = (await fetch_json(http, emu, f"/3/image/{record.id}"))[2]["data"]
        status, headers, data = await fetch(http, emu, body["link"].removeprefix(emu.base_url))
        picture = Image.open(io.BytesIO(data))
        assert (status, picture.format, picture.size) == (200, fmt, (record.width, record.height))
        assert headers["Content-Type"] == f"image/{fmt.lower()}"
    animated = Image.open(io.BytesIO((await fetch(http, emu, f"/{gif.id}.gif"))[2]))
    assert animated.format == "GIF" and animated.n_frames > 1
    _, headers, mp4 = await fetch(http, emu, f"/{video.id}.mp4")
    assert headers["Content-Type"] == "video/mp4" and mp4[4:8] == b"ftyp"
    thumb = Image.open(io.BytesIO((await fetch(http, emu, f"/{still.id}b.jpg"))[2]))
    assert thumb.size == (160, 160)
    same_again = (await fetch(http, emu, f"/{still.id}.jpg"))[2]
    assert same_again == (await fetch(http, emu, f"/{still.id}.jpg"))[2]


async def test_unknown_image_redirects_to_removed_png(emu, http):
    async with http.get(f"{emu.base_url}/zzzzzzz.jpg", allow_redirects=False) as response:
        assert response.status == 302
        assert response.headers["Location"] == "/removed.png"
    _, headers, data = await fetch(http, emu, "/zzzzzzz.jpg")
    assert headers["Content-Type"] == "image/png" and Image.open(io.BytesIO(data)).size


async def test_album_and_gallery_pages_exist(emu, http):
    album = emu.data.gallery_albums()[0]
    page = await fetch(http, emu, f"/a/{album.id}")
    gallery = await fetch(http, emu, f"/gallery/{album.id}")
    assert page[0] == gallery[0] == 200 and b"og:image" in page[2]


async def test_public_url_changes_every_link(make_emu, http):
    emu = await make_emu(public_url="https://imgur.example.test")
    data = (await fetch_json(http, emu, "/3/gallery/hot/viral/0"))[2]["data"]
    assert all(item["link"].startswith("https://imgur.example.test/") for item in data)


# -- the command line entry point --------------------------------------------------------------


async def test_python_dash_m_prints_ready_line_and_serves():
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "fakes.imgur",
        "--port",
        "0",
        "--seed",
        "3",
        "--items",
        "200",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        line = (await asyncio.wait_for(process.stdout.readline(), timeout=15)).decode().strip()
        match = re.fullmatch(r"Imgur emulator listening on (http://127\.0\.0\.1:\d+)", line)
        assert match, line
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{match[1]}/3/gallery/hot/viral/0", headers=CLIENT) as r:
                assert r.status == 200
                assert (await r.json())["data"]
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), timeout=10)
    assert process.returncode in (0, -15)
