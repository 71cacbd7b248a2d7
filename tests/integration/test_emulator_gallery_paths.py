"""Gallery URLs as clients really send them: Imgur tolerates segments it does not know.

imgur-api.md §5.1 and §8.17: both ``/{sort}/{page}`` and ``/{sort}/{window}/{page}`` are
valid, a number in the window's place is the page, and a stray or unknown segment does
not turn a gallery request into a 404.
"""

from __future__ import annotations

import json

import aiohttp
import pytest

from fakes.imgur import Emulator, EmulatorConfig
from fakes.imgur.listings import parse_tail

CLIENT = {"Authorization": "Client-ID test-client"}


@pytest.fixture
async def emu():
    async with Emulator(EmulatorConfig(item_count=600)) as emulator:
        yield emulator


async def ids_at(emu, path) -> tuple[int, list[str]]:
    async with aiohttp.ClientSession() as http:
        async with http.get(emu.base_url + path, headers=CLIENT) as response:
            body = json.loads(await response.read())
    data = body["data"]
    items = data["items"] if isinstance(data, dict) and "items" in data else data
    return response.status, [i["id"] for i in items] if isinstance(items, list) else items


@pytest.mark.parametrize(
    ("tolerated", "canonical"),
    [
        ("/3/gallery/hot/viral/1/extra", "/3/gallery/hot/viral/1"),
        ("/3/gallery/hot/best/1", "/3/gallery/hot/viral/1"),  # unknown sort: the default
        ("/3/gallery/top/top/week/0/x/y", "/3/gallery/top/top/week/0"),
        ("/3/gallery/user/time/day/0.json", "/3/gallery/user/time/0"),
        ("/3/gallery/search/top/all/0/extra?q=cat", "/3/gallery/search/top/all/0?q=cat"),
        ("/3/gallery/t/cats/top/week/0/extra", "/3/gallery/t/cats/top/week/0"),
        ("/3/gallery/r/aww/top/week/0/extra", "/3/gallery/r/aww/top/week/0"),
        ("/3/g/memes/time/0/extra", "/3/g/memes/time/0"),
    ],
)
async def test_unknown_extra_segments_are_ignored(emu, tolerated, canonical):
    got = await ids_at(emu, tolerated)
    expected = await ids_at(emu, canonical)
    assert got == expected and expected[0] == 200 and expected[1]


async def test_item_lookups_under_tags_and_subreddits_still_route(emu):
    post = next(p for p in emu.data.gallery_images() if p.tags and p.section)
    status_tag, _ = await ids_at(emu, f"/3/gallery/t/{post.tags[0]}/{post.id}")
    async with aiohttp.ClientSession() as http:
        async with http.get(
            f"{emu.base_url}/3/gallery/r/{post.section}/{post.id}", headers=CLIENT
        ) as response:
            sub = (await response.json())["data"]
    assert status_tag == 200 and sub["id"] == post.id


async def test_an_unknown_segment_after_an_item_is_still_a_404(emu):
    post = emu.data.gallery_images()[0]
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{emu.base_url}/3/gallery/{post.id}/nonsense", headers=CLIENT) as r:
            assert r.status == 404


def test_parse_tail_reads_known_segments_in_order_and_skips_the_rest():
    sorts = ("viral", "top", "time")
    assert parse_tail(["top", "week", "2"], sorts, "viral", "day") == ("top", "week", 2)
    assert parse_tail(["time", "3"], sorts, "viral", "day") == ("time", "day", 3)
    assert parse_tail(["x", "top", "1", "y"], sorts, "viral", "day") == ("top", "day", 1)
    assert parse_tail(["AbC1234"], sorts, "viral", "day", strict=True) is None
    assert parse_tail(["2", "top"], sorts, "viral", "day") == ("viral", "day", 2)
