"""Every write reads its body whatever the encoding, and a write it cannot apply fails.

Imgur's own Postman collection sends album and image edits as multipart/form-data;
imgurpython sends urlencoded; others send JSON. An emulator that answered ``data: true``
while dropping the fields would hide exactly the bugs a client could have.
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
ENCODINGS = ("urlencoded", "multipart", "json")


@pytest.fixture
async def emu():
    async with AsyncExitStack() as stack:
        yield await stack.enter_async_context(Emulator(EmulatorConfig(item_count=100)))


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


def body(encoding: str, fields: list[tuple[str, str]]) -> dict:
    """aiohttp request kwargs sending ``fields`` in one of the three encodings."""
    if encoding == "json":
        grouped: dict[str, object] = {}
        for key, value in fields:
            key = key.removesuffix("[]")
            grouped[key] = (
                [*grouped.get(key, []), value] if key in ("ids", "deletehashes") else value
            )
        return {"json": grouped}
    if encoding == "multipart":
        return {"data": aiohttp.FormData(fields, default_to_multipart=True)}
    return {"data": fields}


async def call(http, emu, method, path, headers=CLIENT, **kwargs):
    async with http.request(method, emu.base_url + path, headers=headers, **kwargs) as response:
        return response.status, json.loads(await response.read())


async def uploaded(http, emu, colour=(200, 0, 0)) -> dict:
    out = io.BytesIO()
    Image.new("RGB", (12, 10), colour).save(out, "PNG")
    form = aiohttp.FormData()
    form.add_field("image", out.getvalue(), filename="x.png")
    status, answer = await call(http, emu, "POST", "/3/image", data=form)
    assert status == 200
    return answer["data"]


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_album_writes_apply_their_fields_in_every_encoding(emu, http, encoding):
    a, b, c = [await uploaded(http, emu, (n * 60, 0, 0)) for n in range(3)]

    created = await call(
        http, emu, "POST", "/3/album",
        **body(encoding, [("title", "Trip"), ("description", "day one"),
                          ("deletehashes[]", a["deletehash"]),
                          ("deletehashes[]", b["deletehash"])]),
    )  # fmt: skip
    album = created[1]["data"]
    updated = await call(
        http, emu, "POST", f"/3/album/{album['deletehash']}",
        **body(encoding, [("title", "Trip, edited"), ("privacy", "secret")]),
    )  # fmt: skip
    added = await call(
        http, emu, "POST", f"/3/album/{album['deletehash']}/add",
        **body(encoding, [("deletehashes[]", c["deletehash"])]),
    )  # fmt: skip
    removed = await call(
        http, emu, "POST", f"/3/album/{album['deletehash']}/remove_images",
        **body(encoding, [("ids[]", a["id"])]),
    )  # fmt: skip
    got = (await call(http, emu, "GET", f"/3/album/{album['id']}"))[1]["data"]

    assert created[0] == updated[0] == added[0] == removed[0] == 200
    assert (got["title"], got["description"], got["privacy"]) == (
        "Trip, edited",
        "day one",
        "secret",
    )
    assert [i["id"] for i in got["images"]] == [b["id"], c["id"]]


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_album_set_images_replaces_them_in_every_encoding(emu, http, encoding):
    a, b = [await uploaded(http, emu, (0, n * 90, 0)) for n in range(2)]
    album = (await call(http, emu, "POST", "/3/album", data={"deletehashes": a["deletehash"]}))[1]

    status, _ = await call(
        http, emu, "POST", f"/3/album/{album['data']['deletehash']}",
        **body(encoding, [("deletehashes[]", b["deletehash"])]),
    )  # fmt: skip
    got = (await call(http, emu, "GET", f"/3/album/{album['data']['id']}/images"))[1]["data"]

    assert status == 200 and [i["id"] for i in got] == [b["id"]]


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_image_update_applies_in_every_encoding(emu, http, encoding):
    image = await uploaded(http, emu)
    status, answer = await call(
        http, emu, "POST", f"/3/image/{image['deletehash']}",
        **body(encoding, [("title", "new title"), ("description", "new words")]),
    )  # fmt: skip
    got = (await call(http, emu, "GET", f"/3/image/{image['id']}"))[1]["data"]

    assert (status, answer["data"]) == (200, True)
    assert (got["title"], got["description"]) == ("new title", "new words")


@pytest.mark.parametrize(
    ("method", "path", "missing"),
    [
        ("POST", "/3/image/{image}", "title or description"),
        ("POST", "/3/album/{album}", "title or description or privacy"),
        ("POST", "/3/album/{album}/add", "ids or deletehashes"),
        ("POST", "/3/album/{album}/remove_images", "ids"),
        ("DELETE", "/3/album/{album}/remove_images", "ids"),
    ],
)
async def test_a_write_without_its_required_fields_is_a_400(emu, http, method, path, missing):
    image = await uploaded(http, emu)
    album = (await call(http, emu, "POST", "/3/album", data={"title": "t"}))[1]["data"]
    target = path.format(image=image["deletehash"], album=album["deletehash"])

    # An empty body, and a body in a type Imgur does not read: both carry nothing.
    empty = await call(http, emu, method, target)
    as_text = {**CLIENT, "Content-Type": "text/plain"}
    plain = await call(http, emu, method, target, data=b"title=x&ids=a", headers=as_text)

    for status, answer in (empty, plain):
        assert status == 400 and answer["success"] is False and answer["status"] == 400
        assert missing in answer["data"]["error"]
        assert answer["data"]["request"] == target and answer["data"]["method"] == method


async def test_bad_values_and_unknown_images_are_refused_not_ignored(emu, http):
    image = await uploaded(http, emu)
    album = (await call(http, emu, "POST", "/3/album", data={"title": "t"}))[1]["data"]
    dh = album["deletehash"]

    privacy = await call(http, emu, "POST", f"/3/album/{dh}", data={"privacy": "everyone"})
    cover = await call(http, emu, "POST", f"/3/album/{dh}", data={"cover": image["id"]})
    unknown = await call(http, emu, "POST", f"/3/album/{dh}/add", data={"deletehashes": "nope"})
    broken_json = await call(
        http, emu, "POST", f"/3/album/{dh}", data=b"{not json",
        headers={**CLIENT, "Content-Type": "application/json"},
    )  # fmt: skip

    assert privacy[0] == 400 and "public, hidden, secret" in privacy[1]["data"]["error"]
    assert cover[0] == 400 and "not an image of this album" in cover[1]["data"]["error"]
    assert unknown[0] == 404
    assert broken_json[0] == 400 and "not valid JSON" in broken_json[1]["data"]["error"]
    got = (await call(http, emu, "GET", f"/3/album/{album['id']}"))[1]["data"]
    assert (got["privacy"], got["images"]) == ("hidden", [])
