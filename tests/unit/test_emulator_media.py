"""Bytes behind the emulator's links: decodable, deterministic, typed."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from fakes.imgur.data import ImageRecord
from fakes.imgur.media import MediaStore, fake_mp4, fake_webm, render_file
from fakes.imgur.uploads import sniff_mime


def record(mime="image/jpeg", size=(640, 480), animated=False, **extra) -> ImageRecord:
    return ImageRecord(
        id="AbCdEf1", mime=mime, width=size[0], height=size[1], size=1, datetime=0,
        animated=animated, **extra,
    )  # fmt: skip


@pytest.mark.parametrize(("ext", "fmt"), [("jpg", "JPEG"), ("png", "PNG"), ("gif", "GIF")])
def test_stills_decode_at_the_records_size(ext, fmt):
    picture = Image.open(io.BytesIO(render_file(record(), None, ext, "http://e")))
    assert (picture.format, picture.size) == (fmt, (640, 480))


def test_same_id_same_bytes_other_id_other_bytes():
    one = render_file(record(), None, "jpg", "http://e")
    assert one == render_file(record(), None, "jpg", "http://e")
    other = record()
    other.id = "ZzZzZz9"
    assert render_file(other, None, "jpg", "http://e") != one


def test_huge_records_are_drawn_scaled_down():
    picture = Image.open(io.BytesIO(render_file(record(size=(12_000, 3_000)), None, "jpg", "")))
    assert max(picture.size) == 2560 and picture.size[0] / picture.size[1] == pytest.approx(4, 0.01)


def test_animated_gif_has_frames_and_thumbnails_have_imgur_sizes():
    gif = Image.open(io.BytesIO(render_file(record("image/gif", animated=True), None, "gif", "")))
    square = Image.open(io.BytesIO(render_file(record(), "s", "jpg", "")))
    medium = Image.open(io.BytesIO(render_file(record(), "m", "jpg", "")))
    assert gif.n_frames > 1
    assert square.size == (90, 90)
    assert medium.size == (320, 240)


def test_video_files_only_look_valid_and_sniff_as_video():
    assert sniff_mime(fake_mp4()) == "video/mp4"
    assert sniff_mime(fake_webm()) == "video/webm"
    video = record("video/mp4", animated=True)
    assert render_file(video, None, "mp4", "") == fake_mp4()
    assert b"<video" in render_file(video, None, "gifv", "http://e")
    assert render_file(video, None, "m3u8", "").startswith(b"#EXTM3U")


def test_uploaded_payload_is_served_verbatim_and_converted_for_other_formats():
    out = io.BytesIO()
    Image.new("RGB", (50, 40), (9, 9, 9)).save(out, "PNG")
    upload = record("image/png", size=(50, 40), payload=out.getvalue())
    assert render_file(upload, None, "png", "") == out.getvalue()
    assert Image.open(io.BytesIO(render_file(upload, "b", "jpg", ""))).size == (160, 160)


@pytest.mark.parametrize(
    ("head", "mime"),
    [
        (b"\xff\xd8\xff\xe0", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"GIF89a", "image/gif"),
        (b"II*\x00", "image/tiff"),
        (b"FLV\x01", "video/x-flv"),
        (b"%PDF-1.4", None),
        (b"", None),
    ],
)
def test_sniff_mime(head, mime):
    assert sniff_mime(head + bytes(16)) == mime


async def test_store_renders_once_and_caches():
    store = MediaStore(cache_bytes=10_000_000)
    image = record()
    first = await store.get(image, None, "jpg", "")
    second = await store.get(image, None, "jpg", "")
    assert first is second
    store.forget(image.id)
    assert await store.get(image, None, "jpg", "") == first
