"""What a highlights post holds, which items it picks, and how sends are spaced."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from itertools import pairwise

import pytest

from bot.errors import BadInput
from bot.highlights.message import EMBED_TEXT_LIMIT, build_post, header_for
from bot.highlights.pacing import Pacer, PacerClosed
from bot.highlights.sources import Source, pick
from bot.imgur import models

SLOT = datetime(2026, 3, 2, 9, tzinfo=UTC)


def image(n: int, **fields) -> models.GalleryImage:
    data = {
        "id": f"img{n}",
        "title": f"Picture {n}",
        "link": f"https://i.imgur.com/img{n}.jpg",
        "type": "image/jpeg",
        "points": 100 - n,
        "views": 1000,
        "nsfw": False,
    }
    data.update(fields)
    return models.parse_gallery_image(data)


def video(n: int) -> models.GalleryImage:
    return image(n, type="video/mp4", animated=True, mp4=f"https://i.imgur.com/img{n}.mp4")


def test_a_post_is_one_message_with_a_header_and_an_embed_per_item():
    items = [image(1), image(2)]
    post = build_post(header_for(12, "hot · viral", SLOT), items)
    assert post.content == "**Imgur highlights #12** · hot · viral · <t:1772442000:f>"
    assert post.item_ids == ("img1", "img2")
    first = post.embeds[0]
    assert first.title == "Picture 1"
    assert first.url == "https://imgur.com/gallery/img1"  # the link
    assert first.image.url == "https://i.imgur.com/img1.jpg"
    assert "99 points" in first.footer.text


def test_videos_come_as_links_in_the_text_which_discord_plays():
    post = build_post("header", [image(1), video(2)])
    assert post.content.splitlines() == ["header", "https://i.imgur.com/img2.mp4"]
    assert post.embeds[1].image.url is None  # an embed image cannot play


def test_at_most_ten_embeds():
    post = build_post("header", [image(n) for n in range(15)])
    assert len(post.embeds) == 10 and len(post.item_ids) == 10


def test_a_post_is_cut_to_discords_six_thousand_characters_of_embeds():
    wordy = [
        image(n, title="t" * 300, description="d" * 500, account_url="a" * 200) for n in range(10)
    ]
    post = build_post("header", wordy)
    assert sum(len(e) for e in post.embeds) <= EMBED_TEXT_LIMIT
    assert len(post.embeds) == 10  # descriptions and authors went, the items stayed
    assert all(e.description is None for e in post.embeds)


def test_pick_takes_the_best_in_order_skipping_what_may_not_go():
    items = [
        image(1),
        image(2, nsfw=True),
        image(3),
        image(4, points=5),
        image(5),
        image(1),  # listed twice
        image(6),
    ]
    chosen = pick(items, count=3, min_points=10, nsfw_ok=False, seen={"img3"})
    assert [i.id for i in chosen] == ["img1", "img5", "img6"]
    with_nsfw = pick(items, count=2, min_points=None, nsfw_ok=True, seen=set())
    assert [i.id for i in with_nsfw] == ["img1", "img2"]


def test_sources_that_imgur_answers_alike_share_one_key():
    assert Source("hot", "viral", "day").key == Source("hot", "viral", "week").key
    assert Source("top", "top", "day").key != Source("top", "top", "week").key
    assert Source(tag="cats").key.startswith("/3/gallery/t/cats/")
    assert Source("top", "top", "week").label == "top · top of the week"
    assert Source(tag="cats", sort="time").label == "#cats · time"


def test_a_source_imgur_would_refuse_is_refused_in_words():
    with pytest.raises(BadInput, match="rising"):
        Source("hot", "rising").request()
    with pytest.raises(BadInput, match="tag name"):
        Source(tag="no/slashes").request()


async def test_the_pacer_keeps_its_rate_and_never_lets_a_backlog_out_at_once():
    pacer = Pacer(rate=200)
    loop = asyncio.get_running_loop()
    released: list[float] = []

    async def send(n: int) -> None:
        await pacer.wait()
        released.append(loop.time())
        if n == 4:
            time.sleep(0.05)  # noqa: ASYNC251 - the event loop stalls for ten intervals

    await asyncio.gather(*(send(n) for n in range(10)))
    tolerance = 0.002
    for k, at in enumerate(released[:5]):
        assert at - released[0] >= k * pacer.interval - tolerance  # never ahead of the rate
    gaps = [b - a for a, b in pairwise(released)]
    assert min(gaps) >= pacer.interval / 2 - tolerance  # no burst after the stall
    pacer.close()
    with pytest.raises(PacerClosed):
        await pacer.wait()
