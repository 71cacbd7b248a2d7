"""The emulator's synthetic catalogue: seeded, fast, varied, with Imgur's type drift."""

from __future__ import annotations

import hashlib
import json
from collections import Counter

import pytest

from fakes.imgur.data import ID_ALPHABET, generate_catalogue
from fakes.imgur.render import Renderer


@pytest.fixture(scope="module")
def catalogue():
    return generate_catalogue(seed=1337, item_count=3000)


def fingerprint(cat) -> list[tuple]:
    return [(p.id, p.title, p.datetime, p.nsfw, p.tags) for p in cat.posts]


def test_same_seed_same_catalogue_other_seed_other_catalogue(catalogue):
    again = generate_catalogue(seed=1337, item_count=3000)
    other = generate_catalogue(seed=1338, item_count=3000)
    assert fingerprint(again) == fingerprint(catalogue)
    assert fingerprint(other) != fingerprint(catalogue)


def test_catalogue_mixes_kinds_and_flags_about_eight_percent_nsfw(catalogue):
    kinds = Counter(
        "album" if p.is_album else ("video" if p.is_video else p.mime) for p in catalogue.posts
    )
    assert len(catalogue.posts) == 3000
    assert {"album", "video", "image/jpeg", "image/png", "image/gif"} <= set(kinds)
    assert all(count >= 100 for count in kinds.values())
    nsfw_share = len(catalogue.nsfw_posts()) / len(catalogue.posts)
    assert 0.05 < nsfw_share < 0.11


def test_ids_have_imgur_shape_and_are_unique(catalogue):
    ids = [p.id for p in catalogue.posts] + list(catalogue.images)
    assert len(set(catalogue.images)) == len(catalogue.images)
    assert all(len(i) in (5, 7) and set(i) <= set(ID_ALPHABET) for i in ids)


def test_albums_hold_one_to_fifty_existing_images(catalogue):
    albums = catalogue.gallery_albums()
    sizes = [a.images_count for a in albums]
    assert min(sizes) == 1 and 15 < max(sizes) <= 50
    for album in albums:
        assert album.cover == album.image_ids[0]
        assert all(i in catalogue.images for i in album.image_ids)


def test_indexes_agree_with_the_posts(catalogue):
    for name, info in catalogue.tags.items():
        assert all(name in p.tags for p in info.posts)
    for sub, posts in catalogue.by_subreddit.items():
        assert all(p.section.lower() == sub and not p.is_album for p in posts)
    assert catalogue.memes and all("memes" in p.tags for p in catalogue.memes)
    assert len(catalogue.accounts) > 100
    assert len({p.account_url for p in catalogue.posts}) > 100


def test_varied_sizes_span_every_search_bucket(catalogue):
    sides = [max(p.width, p.height) for p in catalogue.gallery_images()]
    assert min(sides) <= 500 and max(sides) >= 10_000
    assert any(5_000 <= s < 10_000 for s in sides)


def test_render_reproduces_imgurs_type_drift(catalogue):
    renderer = Renderer(catalogue, "http://emu")
    images = catalogue.gallery_images()
    legacy_gif = next(i for i in images if i.legacy and i.animated and not i.is_video)
    modern = next(i for i in images if not i.legacy)
    album_member = catalogue.images[
        next(a for a in catalogue.gallery_albums() if not a.legacy).cover
    ]

    old = renderer.image(legacy_gif, gallery=True)
    new = renderer.image(modern, gallery=True)
    member = renderer.image(album_member)

    assert isinstance(old["mp4_size"], str) and old["comment_preview"] is None
    assert "tags" not in old and "edited" not in old
    assert new["edited"] == "0" and new["ad_type"] == 0 and isinstance(new["tags"], list)
    assert member["ups"] is None and member["points"] is None and member["score"] is None
    assert any(a.favorite_is_null for a in catalogue.gallery_albums())


def test_link_shapes(catalogue):
    renderer = Renderer(catalogue, "http://emu:1/")
    album = catalogue.gallery_albums()[0]
    video = next(i for i in catalogue.gallery_images() if i.is_video)
    rendered = renderer.image(video, gallery=True)
    assert (
        renderer.album(album, gallery=True, images="none")["link"] == f"http://emu:1/a/{album.id}"
    )
    assert rendered["link"] == f"http://emu:1/{video.id}.mp4"
    assert rendered["gifv"] == f"http://emu:1/{video.id}.gifv"
    assert renderer.gallery_link(album.id) == f"http://emu:1/gallery/{album.id}"


def test_list_pages_are_cached_encoded_and_dropped_when_an_item_changes():
    catalogue = generate_catalogue(5, 120)
    renderer = Renderer(catalogue, "http://emu.test")
    posts = catalogue.posts[:60]
    page = renderer.list_page(posts, "list")
    assert page.body == renderer.list_body(posts, "list").encode()
    assert page.etag == 'W/"' + hashlib.sha1(page.body).hexdigest() + '"'
    assert renderer.list_page(list(posts), "list") is page  # same items: no new work
    assert renderer.list_page(posts[1:], "list") is not page
    assert renderer.list_page(posts, "previews") is not page

    posts[0].title = "an edited title"
    renderer.forget(posts[0].id)
    fresh = renderer.list_page(posts, "list")
    assert json.loads(fresh.body)["data"][0]["title"] == "an edited title"
    assert fresh.etag != page.etag
