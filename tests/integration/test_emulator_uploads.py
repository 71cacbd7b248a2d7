"""What real Imgur enforces on uploads, and what the upload and meme features meet.

imgur-api.md §7: images up to 10 MB through the API, video up to 200 MB, over-size
answered 400 "File is over the size limit" (or the newer 413 body); types Imgur does not
take answered with code 1003 "File type invalid (1)"; §3.1/§3.4: the hourly upload
throttle and its object error; §5.6: the legacy meme templates the bot draws on.
"""

from __future__ import annotations

import base64
import io
import json
import re
from contextlib import AsyncExitStack

import aiohttp
import pytest
from PIL import Image

from fakes.imgur import Emulator, EmulatorConfig
from fakes.imgur.clock import ManualClock

CLIENT = {"Authorization": "Client-ID test-client"}
MP4_HEAD = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"


@pytest.fixture
async def make_emu():
    async with AsyncExitStack() as stack:

        async def start(**config) -> Emulator:
            config.setdefault("item_count", 100)
            return await stack.enter_async_context(Emulator(EmulatorConfig(**config)))

        yield start


async def post(emu, path="/3/image", **kwargs):
    async with aiohttp.ClientSession() as http:
        async with http.post(emu.base_url + path, headers=CLIENT, **kwargs) as response:
            return response.status, response.headers, json.loads(await response.read())


def file_form(field: str, data: bytes, filename: str | None = "upload.bin") -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field(field, data, filename=filename)
    return form


def noisy_png(side: int) -> bytes:
    out = io.BytesIO()
    Image.effect_noise((side, side), 64).convert("RGB").save(out, "PNG")
    return out.getvalue()


# -- size and type -------------------------------------------------------------------------


async def test_each_type_has_its_own_size_limit(make_emu):
    emu = await make_emu(max_image_bytes=4_000, max_video_bytes=20_000)
    big_image = noisy_png(60)
    assert 4_000 < len(big_image) < 20_000
    video = MP4_HEAD + bytes(10_000)

    image_over = await post(emu, data=file_form("image", big_image))
    # The file's content decides, not the field it came in: still an image.
    image_as_video = await post(emu, data=file_form("video", big_image))
    video_ok = await post(emu, data=file_form("video", video))
    video_over = await post(emu, data=file_form("video", MP4_HEAD + bytes(30_000)))

    for status, _, body in (image_over, image_as_video, video_over):
        assert status == 400 and body["data"]["error"] == "File is over the size limit"
        assert body["data"]["request"] == "/3/image" and body["data"]["method"] == "POST"
    assert video_ok[0] == 200 and video_ok[2]["data"]["type"] == "video/mp4"
    assert emu.stats.uploads == 1


async def test_the_413_mode_answers_with_the_2024_body(make_emu):
    emu = await make_emu(max_image_bytes=1_000, oversize_mode="413")
    status, headers, body = await post(emu, data=file_form("image", noisy_png(40)))
    assert status == 413 and headers["Content-Type"].startswith("application/vnd.imgur.v1+json")
    assert body["detail"] == "file is over the size limit" and body["code"] == 413


async def test_a_base64_body_too_big_for_any_file_is_imgurs_400_not_a_server_413(make_emu):
    emu = await make_emu(max_image_bytes=1_000, max_video_bytes=3_000)
    huge = base64.b64encode(bytes(3 * 1024 * 1024)).decode()

    status, _, body = await post(emu, data={"image": huge, "type": "base64"})

    assert status == 400 and body["data"]["error"] == "File is over the size limit"


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("heic", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64)),
        ("avif", b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1" + bytes(64)),
        ("m4a", b"\x00\x00\x00\x18ftypM4A \x00\x00\x00\x00M4A isom" + bytes(64)),
        ("bmp", b"BM" + bytes(64)),
        ("pdf", b"%PDF-1.4\n" + bytes(64)),
        ("text", b"hello, not a picture"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
async def test_types_imgur_does_not_take_are_code_1003(make_emu, name, data):
    emu = await make_emu()
    status, _, body = await post(emu, data=file_form("image", data, f"file.{name}"))
    error = body["data"]["error"]
    assert status == 400
    assert (error["code"], error["message"], error["type"]) == (
        1003,
        "File type invalid (1)",
        "Exception_UploadError",
    )
    assert emu.stats.uploads == 0


async def test_a_file_part_without_a_filename_is_still_a_file(make_emu):
    emu = await make_emu()
    picture = noisy_png(16)
    writer = aiohttp.MultipartWriter("form-data")
    part = writer.append(picture, {"Content-Type": "image/png"})
    part.set_content_disposition("form-data", name="image")  # no filename=

    status, _, body = await post(emu, data=writer)

    assert status == 200 and (body["data"]["width"], body["data"]["type"]) == (16, "image/png")


async def test_base64_and_a_url_may_come_as_plain_multipart_parts(make_emu):
    emu = await make_emu()
    encoded = base64.b64encode(noisy_png(12)).decode()
    form = aiohttp.FormData({"image": encoded, "type": "base64"}, default_to_multipart=True)
    status, _, body = await post(emu, data=form)
    assert status == 200 and body["data"]["width"] == 12


# -- the upload throttle ----------------------------------------------------------------------


def post_headers(headers) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items() if k.lower().startswith("x-post-rate")}


async def test_the_upload_throttle_shows_post_headers_and_says_how_long_to_wait(make_emu):
    clock = ManualClock()
    emu = await make_emu(upload_hourly_limit=2, clock=clock)
    first = await post(emu, data=file_form("image", noisy_png(8)))
    clock.advance(20 * 60)
    second = await post(emu, data=file_form("image", noisy_png(8)))
    clock.advance(10 * 60 + 1)
    throttled = await post(emu, data=file_form("image", noisy_png(8)))
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{emu.base_url}/3/credits", headers=CLIENT) as r:
            read_headers = r.headers

    assert first[0] == second[0] == 200
    assert post_headers(first[1]) == {
        "x-post-rate-limit-limit": "1250",
        "x-post-rate-limit-remaining": "1249",
        "x-post-rate-limit-reset": "3600",
    }
    assert post_headers(second[1])["x-post-rate-limit-remaining"] == "1248"
    assert post_headers(second[1])["x-post-rate-limit-reset"] == str(3600 - 20 * 60)
    status, headers, body = throttled
    assert status == 429
    assert body["success"] is False and body["status"] == 429
    assert body["data"]["request"] == "/3/image" and body["data"]["method"] == "POST"
    error = body["data"]["error"]
    assert (error["code"], error["type"], error["exception"]) == (429, "ImgurException", [])
    # The first upload's hour ends in 29 min 59 s: Imgur rounds that up to minutes.
    assert error["message"] == "You are uploading too fast. Please wait 30 more minutes."
    # A refused upload costs nothing, its POST included.
    assert post_headers(headers)["x-post-rate-limit-remaining"] == "1248"
    assert post_headers(read_headers) == {}  # only POSTs carry them
    assert emu.stats.credits_charged == 20 + 1  # two uploads and the GET; not the 429


# -- the meme templates ---------------------------------------------------------------------


async def test_every_meme_template_link_serves_the_picture_it_describes(make_emu):
    emu = await make_emu()
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{emu.base_url}/3/memegen/defaults", headers=CLIENT) as r:
            assert r.status == 200
            templates = (await r.json())["data"]
        assert len(templates) == len(emu.data.meme_templates) >= 20
        for template in templates:
            assert re.fullmatch(r"[A-Za-z0-9]{7}", template["id"]) and template["title"]
            async with http.get(template["link"]) as r:
                assert r.status == 200 and r.content_type == template["type"] == "image/jpeg"
                picture = Image.open(io.BytesIO(await r.read()))
                picture.load()  # fully decodable, not just a header
            assert picture.size == (template["width"], template["height"]), template["title"]
