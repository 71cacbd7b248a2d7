"""Deleting an image or an album makes it gone everywhere, as on Imgur.

Anonymous content is deleted by deletehash; an owner deletes by id with a Bearer token.
Afterwards: lookups answer 404, albums stop listing deleted images, gallery lists drop
deleted posts, and media links redirect to /removed.png (i.imgur.com does the same).
"""

from __future__ import annotations

import io
import json
from contextlib import AsyncExitStack

import aiohttp
import pytest
from PIL import Image

from fakes.imgur import Emulator, EmulatorConfig

CLIENT = {"Authorization": "Client-ID test-client"}


@pytest.fixture
async def emu():
    async with AsyncExitStack() as stack:
        yield await stack.enter_async_context(Emulator(EmulatorConfig(item_count=600)))


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


async def call(http, emu, method, path, headers=CLIENT, **kwargs):
    async with http.request(
        method, emu.base_url + path, headers=headers, allow_redirects=False, **kwargs
    ) as response:
        body = await response.read()
        is_json = response.content_type.endswith("json")
        return response.status, response.headers, json.loads(body) if is_json else body


async def upload(http, emu, colour) -> dict:
    out = io.BytesIO()
    Image.new("RGB", (16, 12), colour).save(out, "PNG")
    form = aiohttp.FormData()
    form.add_field("image", out.getvalue(), filename="x.png")
    status, _, answer = await call(http, emu, "POST", "/3/image", data=form)
    assert status == 200
    return answer["data"]


def media_path(emu, link: str) -> str:
    return link.removeprefix(emu.base_url)


def bearer(emu, username: str) -> dict:
    return {"Authorization": f"Bearer {emu.issue_token(username).access_token}"}


async def front_page_ids(http, emu) -> set[str]:
    ids = set()
    for page in range(100):
        answer = (await call(http, emu, "GET", f"/3/gallery/hot/viral/{page}?mature=1"))[2]
        if not answer["data"]:
            return ids
        ids |= {item["id"] for item in answer["data"]}
    raise AssertionError("the front page never ended")


async def test_an_anonymous_image_deleted_by_deletehash_is_gone_everywhere(emu, http):
    gone, kept = await upload(http, emu, (250, 0, 0)), await upload(http, emu, (0, 0, 250))
    created = await call(
        http, emu, "POST", "/3/album",
        data={"deletehashes": f"{gone['deletehash']},{kept['deletehash']}"},
    )  # fmt: skip
    album = created[2]["data"]
    assert (await call(http, emu, "GET", media_path(emu, gone["link"])))[0] == 200

    deleted = await call(http, emu, "DELETE", f"/3/image/{gone['deletehash']}")

    assert deleted[2] == {"data": True, "success": True, "status": 200}
    assert (await call(http, emu, "GET", f"/3/image/{gone['id']}"))[0] == 404
    assert (await call(http, emu, "GET", f"/3/album/{album['id']}/image/{gone['id']}"))[0] == 404
    got = (await call(http, emu, "GET", f"/3/album/{album['id']}"))[2]["data"]
    listed = (await call(http, emu, "GET", f"/3/album/{album['id']}/images"))[2]["data"]
    assert [i["id"] for i in got["images"]] == [i["id"] for i in listed] == [kept["id"]]
    assert got["images_count"] == 1 and got["cover"] == kept["id"]
    for path in (media_path(emu, gone["link"]), f"/{gone['id']}b.jpg"):
        status, headers, _ = await call(http, emu, "GET", path)
        assert (status, headers["Location"]) == (302, "/removed.png")
    assert (await call(http, emu, "GET", f"/{gone['id']}"))[0] == 404
    # Its deletehash is spent: a second delete or an edit finds nothing.
    assert (await call(http, emu, "DELETE", f"/3/image/{gone['deletehash']}"))[0] == 404
    title = {"title": "x"}
    assert (await call(http, emu, "POST", f"/3/image/{gone['deletehash']}", data=title))[0] == 404


async def test_an_anonymous_album_deleted_by_deletehash_is_gone_but_its_images_stay(emu, http):
    image = await upload(http, emu, (0, 200, 0))
    album = (
        await call(
            http, emu, "POST", "/3/album",
            data={"deletehashes[]": image["deletehash"], "title": "t"},
        )
    )[2]["data"]  # fmt: skip

    deleted = await call(http, emu, "DELETE", f"/3/album/{album['deletehash']}")

    assert deleted[2]["data"] is True
    for path in (f"/3/album/{album['id']}", f"/3/album/{album['id']}/images"):
        assert (await call(http, emu, "GET", path))[0] == 404
    assert (await call(http, emu, "GET", f"/a/{album['id']}"))[0] == 404
    edit = await call(http, emu, "POST", f"/3/album/{album['deletehash']}", data={"title": "x"})
    assert edit[0] == 404
    assert (await call(http, emu, "GET", f"/3/image/{image['id']}"))[0] == 200


async def test_an_owner_deleting_a_gallery_image_takes_it_off_every_list(emu, http):
    page = (await call(http, emu, "GET", "/3/gallery/hot/viral/0?mature=1"))[2]["data"]
    post = emu.data.item(next(i["id"] for i in page if not i["is_album"] and i["tags"]))
    tag = post.tags[0]
    tag_page = f"/3/gallery/t/{tag}/viral/0?mature=1"
    assert post.id in {
        i["id"] for i in (await call(http, emu, "GET", tag_page))[2]["data"]["items"]
    }
    assert (await call(http, emu, "GET", f"/3/gallery/{post.id}"))[0] == 200  # now cached

    deleted = await call(
        http, emu, "DELETE", f"/3/image/{post.id}", headers=bearer(emu, post.account_url)
    )

    assert deleted[0] == 200
    for path in (f"/3/gallery/{post.id}", f"/3/gallery/image/{post.id}", f"/3/image/{post.id}"):
        assert (await call(http, emu, "GET", path))[0] == 404, path
    assert post.id not in await front_page_ids(http, emu)
    tag_items = (await call(http, emu, "GET", tag_page))[2]["data"]["items"]
    assert post.id not in {i["id"] for i in tag_items}


async def test_an_owner_deleting_an_album_image_shrinks_the_gallery_album(emu, http):
    album = next(a for a in emu.data.gallery_albums() if a.images_count >= 2)
    first, second = album.image_ids[:2]
    before = (await call(http, emu, "GET", f"/3/gallery/album/{album.id}"))[2]["data"]

    deleted = await call(
        http, emu, "DELETE", f"/3/image/{first}", headers=bearer(emu, album.account_url)
    )
    after = (await call(http, emu, "GET", f"/3/gallery/album/{album.id}"))[2]["data"]

    assert deleted[0] == 200
    assert [i["id"] for i in after["images"]] == [i["id"] for i in before["images"]][1:]
    assert after["images_count"] == before["images_count"] - 1
    assert after["cover"] == second


async def test_an_owner_deleting_a_gallery_album_takes_it_off_the_gallery(emu, http):
    page = (await call(http, emu, "GET", "/3/gallery/hot/viral/0?mature=1"))[2]["data"]
    album = emu.data.item(next(i["id"] for i in page if i["is_album"]))

    deleted = await call(
        http, emu, "DELETE", f"/3/album/{album.id}", headers=bearer(emu, album.account_url)
    )

    assert deleted[0] == 200
    for path in (f"/3/gallery/{album.id}", f"/3/gallery/album/{album.id}", f"/3/album/{album.id}"):
        assert (await call(http, emu, "GET", path))[0] == 404, path
    assert album.id not in await front_page_ids(http, emu)


async def test_someone_else_cannot_delete_by_id(emu, http):
    post = emu.data.gallery_images()[0]
    stranger = bearer(emu, "somebody_else")
    status, _, _ = await call(http, emu, "DELETE", f"/3/image/{post.id}", headers=stranger)
    assert status == 403 and emu.data.item(post.id) is post
