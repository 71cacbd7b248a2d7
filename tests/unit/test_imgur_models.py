"""The models read every type drift of imgur-api.md §6 and §8 without falling over."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.imgur import models
from bot.imgur.errors import ApiError, BadResponse


def image(**fields: Any) -> dict[str, Any]:
    base = {
        "id": "Hn3kW0a",
        "title": "cat",
        "type": "image/jpeg",
        "animated": False,
        "link": "https://i.imgur.com/Hn3kW0a.jpg",
        "is_album": False,
    }
    return base | fields


def album(**fields: Any) -> dict[str, Any]:
    base = {
        "id": "Zx9Qp2L",
        "title": "garage",
        "cover": "Rt5Yu8I",
        "images_count": 14,
        "link": "https://imgur.com/a/Zx9Qp2L",
        "is_album": True,
    }
    return base | fields


def test_numbers_as_strings_and_edited_as_string() -> None:
    item = models.parse_item(
        image(views="1200", mp4_size="812345", ups="5", edited="0", width=480.0, datetime="17")
    )
    assert isinstance(item, models.GalleryImage)
    assert (item.views, item.mp4_size, item.ups, item.width, item.datetime) == (
        1200,
        812345,
        5,
        480,
        17,
    )
    assert item.edited == "0"
    assert models.parse_item(image(edited=0)).edited == "0"


def test_null_vote_fields_and_missing_keys() -> None:
    item = models.parse_item(
        {"id": "abc", "ups": None, "downs": None, "points": None, "comment_count": None}
    )
    assert isinstance(item, models.GalleryImage)
    assert item.ups is None and item.score is None and item.tags == []
    assert item.nsfw is None and item.title is None


def test_garbage_values_become_none_instead_of_errors() -> None:
    item = models.parse_item(image(views="lots", nsfw="maybe", title={"x": 1}, animated=[1]))
    assert item.views is None and item.nsfw is None and item.title is None
    assert item.is_animated is False


def test_nsfw_variants() -> None:
    assert models.parse_item(image(nsfw=None)).nsfw is None
    assert models.parse_item(image(nsfw=True)).nsfw is True
    assert models.parse_item(image(nsfw="1")).nsfw is True
    assert models.parse_item(image(nsfw=0)).nsfw is False


def test_is_album_tells_mixed_items_apart() -> None:
    items = models.parse_gallery([image(), album(), image(id="B2", is_album="false")])
    assert [type(i).__name__ for i in items] == ["GalleryImage", "GalleryAlbum", "GalleryImage"]


def test_album_without_is_album_is_recognised_by_its_cover_and_count() -> None:
    raw = album()
    del raw["is_album"]
    assert isinstance(models.parse_item(raw), models.GalleryAlbum)
    bare = image()
    del bare["is_album"]
    assert isinstance(models.parse_item(bare), models.GalleryImage)


def test_album_without_images_uses_the_cover_id() -> None:
    item = models.parse_item(album())
    assert isinstance(item, models.GalleryAlbum)
    assert item.images is None and item.image_count == 14
    assert item.display_url == "https://i.imgur.com/Rt5Yu8I.jpg"
    assert item.page_url == "https://imgur.com/gallery/Zx9Qp2L"


def test_album_cover_stays_on_the_host_of_its_link() -> None:
    item = models.parse_item(album(link="http://127.0.0.1:8089/a/Zx9Qp2L"))
    assert item.display_url == "http://127.0.0.1:8089/Rt5Yu8I.jpg"
    assert item.page_url == "http://127.0.0.1:8089/gallery/Zx9Qp2L"


@pytest.mark.parametrize("cover", [None, ""])
def test_album_with_null_or_empty_cover(cover: Any) -> None:
    empty = models.parse_item(album(cover=cover, images_count=0, cover_width=None))
    assert empty.display_url is None and empty.image_count == 0
    first = models.parse_item(
        album(cover=cover, images=[image(id="First1", link="https://i.imgur.com/First1.png")])
    )
    assert first.display_url == "https://i.imgur.com/First1.png"


def test_album_with_embedded_animated_cover_shows_its_mp4() -> None:
    cover = image(
        id="Rt5Yu8I",
        type="image/gif",
        animated=True,
        mp4="https://i.imgur.com/Rt5Yu8I.mp4",
    )
    item = models.parse_item(album(images=[image(id="Other1"), cover], images_count=None))
    assert item.display_url == "https://i.imgur.com/Rt5Yu8I.mp4"
    assert item.is_animated and not item.is_video and item.image_count == 2


def test_album_images_without_ids_are_dropped_not_fatal() -> None:
    item = models.parse_album(album(images=[{"title": "no id"}, "junk", image()]))
    assert [i.id for i in item.images or []] == ["Hn3kW0a"]


def test_gifv_and_video_display_the_mp4() -> None:
    gif = models.parse_item(
        image(
            type="image/gif",
            animated=True,
            link="https://i.imgur.com/Hn3kW0ah.gif",
            mp4="https://i.imgur.com/Hn3kW0a.mp4",
        )
    )
    assert gif.display_url == "https://i.imgur.com/Hn3kW0a.mp4"
    assert gif.is_animated and not gif.is_video
    video = models.parse_item(
        image(type="video/mp4", animated=None, link="https://i.imgur.com/V.mp4")
    )
    assert video.is_video and video.is_animated and video.display_url == "https://i.imgur.com/V.mp4"
    gifv_only = models.parse_item(
        image(animated=True, mp4="", link="https://i.imgur.com/G.gifv", type="image/gif")
    )
    assert gifv_only.display_url == "https://i.imgur.com/G.mp4"


def test_still_image_with_empty_mp4_shows_its_link_over_https() -> None:
    item = models.parse_item(image(mp4="", hls="", link="http://i.imgur.com/Hn3kW0a.jpg"))
    assert item.mp4 is None
    assert item.display_url == "https://i.imgur.com/Hn3kW0a.jpg"
    assert item.page_url == "https://imgur.com/gallery/Hn3kW0a"
    assert models.parse_image(image()).page_url == "https://imgur.com/Hn3kW0a"


def test_item_tags_tolerate_junk() -> None:
    item = models.parse_item(
        image(tags=[{"name": "cats", "display_name": "Cats", "followers": "10"}, "x", {"a": 1}])
    )
    assert [t.label for t in item.tags] == ["Cats"] and item.tags[0].followers == 10
    assert models.parse_item(image(tags=None)).tags == []


def test_a_broken_item_does_not_cost_the_page(caplog: pytest.LogCaptureFixture) -> None:
    items = models.parse_gallery([image(), {"title": "no id"}, 42, album()])
    assert [i.id for i in items] == ["Hn3kW0a", "Zx9Qp2L"]
    assert "skipped an unreadable gallery item" in caplog.text


@pytest.mark.parametrize(
    ("parse", "data"),
    [
        (models.parse_gallery, {"not": "a list"}),
        (models.parse_item, ["a list"]),
        (models.parse_album, None),
        (models.parse_account, {"id": 1}),
        (models.parse_upload, {"id": "abc", "link": "https://i.imgur.com/abc.png"}),
        (models.parse_token, {"token_type": "bearer"}),
        (models.parse_credits, [1]),
        (models.parse_tag_gallery, "cats"),
    ],
)
def test_hopeless_shapes_raise_bad_response(parse, data) -> None:
    with pytest.raises(BadResponse):
        parse(data)


def test_account_pro_expiration_false_or_epoch() -> None:
    assert models.parse_account({"url": "bob", "pro_expiration": False}).pro_expiration is None
    acct = models.parse_account({"url": "bob", "pro_expiration": 1700000000, "reputation": -3.5})
    assert acct.pro_expiration == 1700000000 and acct.reputation == -3


def test_tag_info_and_catalog() -> None:
    tag = models.parse_tag_info({"name": "the_more_you_know", "display_name": "the more you know"})
    assert tag.label == "the more you know"
    catalog = models.parse_tags(
        {"tags": [{"id": "112", "name": "aww", "followers": 5}], "featured": "aww", "galleries": []}
    )
    assert [t.name for t in catalog.tags] == ["aww"] and catalog.featured == "aww"


def test_tag_gallery_holds_mixed_items() -> None:
    page = models.parse_tag_gallery({"name": "cats", "followers": 1, "items": [image(), album()]})
    assert page.name == "cats" and [i.is_album for i in page.items] == [False, True]


def test_credits_user_reset_epoch_or_relative() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    epoch = models.parse_credits({"UserReset": 1767229200, "ClientRemaining": "9"})
    assert epoch.user_reset_at(now) == datetime(2026, 1, 1, 1, tzinfo=UTC)
    assert epoch.client_remaining == 9
    relative = models.parse_credits({"UserReset": 60})
    assert relative.user_reset_at(now) == datetime(2026, 1, 1, 0, 1, tzinfo=UTC)


def test_upload_result_and_token_hide_nothing_they_should_not() -> None:
    result = models.parse_upload(image(deletehash="Xk2pQ9wEr4TyU1o", name="label.png"))
    assert result.deletehash == "Xk2pQ9wEr4TyU1o" and result.link.endswith(".jpg")
    token = models.parse_token(
        {"access_token": "TOPSECRET1", "refresh_token": "TOPSECRET2", "expires_in": "3600"}
    )
    assert token.expires_in == 3600
    assert "TOPSECRET" not in repr(token) and "TOPSECRET" not in str(token)


def test_meme_templates_are_named_by_title() -> None:
    memes = models.parse_memegen([image(title="10 Guy"), image(id="NoTitle", title=None)])
    assert [m.name for m in memes] == ["10 Guy", "NoTitle"]


def test_parse_ok() -> None:
    assert models.parse_ok(True) and models.parse_ok(None) and models.parse_ok({"id": "x"})
    with pytest.raises(ApiError):
        models.parse_ok(False)


def _item_by_item(data: list[Any]) -> list[models.GalleryItem]:
    return models._validate_list(models.parse_item, data, "gallery")


@pytest.mark.parametrize(
    "page",
    [
        [image(), album(), image(mp4="", hls="", gifv="")],
        [album(cover="", link=""), image(tags=[{"name": "cats", "background_hash": ""}])],
        [image(width="480", nsfw="1"), album(is_album="true", images=[image(mp4="")])],
        [{"id": "old", "cover": "c1", "images_count": 2}, {"id": "img", "type": "image/png"}],
    ],
)
def test_whole_page_pass_builds_what_item_by_item_builds(page: list[Any]) -> None:
    fast = models.parse_gallery(page)
    slow = _item_by_item(page)
    assert [type(i) for i in fast] == [type(i) for i in slow]
    assert [i.model_dump() for i in fast] == [i.model_dump() for i in slow]


def test_a_page_the_whole_page_pass_refuses_goes_item_by_item() -> None:
    # "abc" is no int even in lax mode: only the lenient second pass reads it (as None).
    items = models.parse_gallery([image(), image(id="b", width="abc"), 7])
    assert [(i.id, i.width) for i in items] == [("Hn3kW0a", None), ("b", None)]


def test_blank_fields_are_the_lenient_pass_s_blank_fields() -> None:
    for model in (models.Tag, models.Image, models.GalleryImage, models.Album, models.Account):
        blank = {
            name
            for name, info in model.model_fields.items()
            if any(getattr(m, "func", None) is models._blank_to_none for m in info.metadata)
        }
        assert blank == set(model._blank_is_none), model.__name__
