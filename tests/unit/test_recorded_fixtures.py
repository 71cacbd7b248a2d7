"""Every recorded real Imgur body (../shared/fixtures/imgur-recorded/) through the sans-I/O
core and the models: each one parses into the right models or raises the right typed error.

The expectation table names every file; a file without an entry (or an entry without a
file) fails the run, so nothing is skipped silently.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.imgur import models, sansio
from bot.imgur.errors import (
    ApiError,
    AuthError,
    ImgurError,
    NotFound,
    OverCapacity,
)

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "imgur-recorded"


@dataclass(frozen=True)
class Raises:
    error: type[ImgurError]


@dataclass(frozen=True)
class Parses:
    """Decipher, then parse with ``parse``; ``check(parsed, data)`` asserts the details."""

    parse: Callable[[Any], Any]
    check: Callable[[Any, Any], None]


def _data_of(kind: type | tuple[type, ...]) -> Parses:
    def check(parsed: Any, data: Any) -> None:
        assert isinstance(parsed, kind)

    return Parses(lambda data: data, check)


def _ok() -> Parses:
    return Parses(models.parse_ok, lambda parsed, data: None if parsed is True else pytest.fail())


def _gallery_page(expected_len: int | None = None) -> Parses:
    def check(items: list[Any], data: Any) -> None:
        raw = data["items"] if isinstance(data, dict) else data
        assert len(items) == len(raw), "no item may be dropped"
        if expected_len is not None:
            assert len(items) == expected_len
        for item, source in zip(items, raw, strict=True):
            _check_item(item, source)

    def parse(data: Any) -> list[Any]:
        return models.parse_gallery(data["items"] if isinstance(data, dict) else data)

    return Parses(parse, check)


def _check_item(item: Any, source: dict[str, Any]) -> None:
    assert item.id == source["id"]
    expected_album = bool(source.get("is_album", "images_count" in source))
    assert isinstance(item, models.GalleryAlbum if expected_album else models.GalleryImage)
    assert item.display_url and item.display_url.startswith("https://")
    assert item.page_url == f"https://imgur.com/gallery/{item.id}"
    assert item.image_count >= (0 if expected_album else 1)
    if isinstance(item, models.GalleryImage) and source.get("animated"):
        assert item.is_animated and item.display_url.endswith(".mp4")
    if isinstance(item, models.GalleryAlbum) and source.get("cover"):
        assert source["cover"] in item.display_url


def _single_item(album: bool) -> Parses:
    def check(item: Any, data: Any) -> None:
        _check_item(item, data)
        assert isinstance(item, models.GalleryAlbum if album else models.GalleryImage)

    return Parses(models.parse_item, check)


def _album(with_images: bool) -> Parses:
    def check(album: models.Album, data: Any) -> None:
        assert album.id == data["id"]
        assert (album.images is not None) == with_images
        if with_images:
            assert len(album.images or []) == len(data["images"])
        assert album.display_url and album.cover and album.cover in album.display_url

    return Parses(models.parse_album, check)


def _image() -> Parses:
    def check(image: models.Image, data: Any) -> None:
        assert image.id == data["id"]
        assert image.display_url and image.display_url.startswith("https://")
        assert image.page_url == f"https://imgur.com/{image.id}"

    return Parses(models.parse_image, check)


def _images() -> Parses:
    def check(images: list[models.Image], data: Any) -> None:
        assert [i.id for i in images] == [d["id"] for d in data]

    return Parses(models.parse_images, check)


def _token(access: str) -> Parses:
    def check(token: models.Token, data: Any) -> None:
        assert token.access_token.get_secret_value() == access
        assert token.expires_in == 2419200
        assert access not in repr(token)

    return Parses(models.parse_token, check)


def _topics() -> Parses:
    def parse(data: Any) -> list[Any]:
        return [models.parse_item(topic["topPost"]) for topic in data]

    def check(items: list[Any], data: Any) -> None:
        assert len(items) == len(data)

    return Parses(parse, check)


def _account(parsed: models.Account, data: Any) -> None:
    assert parsed.username == "Bob" and parsed.reputation == 4343
    assert parsed.pro_expiration is None  # false in the JSON


def _credits(parsed: models.Credits, data: Any) -> None:
    assert parsed.client_remaining == 9500 and parsed.user_limit == 412
    reset = parsed.user_reset_at(datetime.now(UTC))  # an epoch: "now" does not matter
    assert reset is not None and reset.year == 2015


def _upload(parsed: models.UploadResult, data: Any) -> None:
    assert parsed.deletehash == data["deletehash"] and parsed.link == data["link"]


def _tag_gallery(parsed: models.TagGallery, data: Any) -> None:
    assert parsed.name == "cats" and len(parsed.items) == len(data["items"])
    for item, source in zip(parsed.items, data["items"], strict=True):
        _check_item(item, source)


def _memes(parsed: list[models.MemeTemplate], data: Any) -> None:
    assert len(parsed) == 113
    assert parsed[0].name == "10 Guy" and parsed[0].image_url.startswith("https://")


def _gallery_album(parsed: models.GalleryAlbum, data: Any) -> None:
    assert parsed.images is not None and len(parsed.images) == len(data["images"])
    assert parsed.image_count == data["images_count"]


ACC = "AccountEndpointResponses."
ALB = "AlbumEndpointResponses."
GAL = "GalleryEndpointResponses."

EXPECTED: dict[str, Raises | Parses] = {
    # Account
    ACC + "Albums.DeleteAlbumAsync": _ok(),
    ACC + "Albums.DeleteAlbumErrorAsync": Raises(NotFound),  # success:true beside data.error
    ACC + "Albums.GetAlbumAsync": _album(with_images=True),
    ACC + "Albums.GetAlbumCountAsync": _data_of(int),
    ACC + "Albums.GetAlbumIdsAsync": _data_of(list),
    ACC + "Albums.GetAlbumsAsync": Parses(
        models.parse_albums,
        lambda albums, data: (
            None
            if len(albums) == len(data) and all(a.images is None for a in albums)
            else pytest.fail("albums without images")
        ),
    ),
    ACC + "Comments.DeleteCommentAsync": _ok(),
    ACC + "Comments.DeleteCommentErrorAsync": Raises(NotFound),
    ACC + "Comments.GetCommentAsync": _data_of(dict),
    ACC + "Comments.GetCommentCountAsync": _data_of(int),
    ACC + "Comments.GetCommentIdsAsync": _data_of(list),
    ACC + "Comments.GetCommentsAsync": _data_of(list),
    ACC + "Gallery.GetAccountFavoritesAsync": _gallery_page(),
    ACC + "Gallery.GetAccountGalleryFavoritesAsync": _gallery_page(),
    ACC + "Gallery.GetAccountSubmissionsAsync": _gallery_page(),
    ACC + "Gallery.GetGalleryAlbumAsync": _single_item(album=True),  # a body without envelope
    ACC + "Gallery.GetGalleryImageAsync": _single_item(album=False),
    ACC + "Gallery.GetGalleryProfileAsync": _data_of(dict),
    ACC + "GetAccountAsync": Parses(models.parse_account, _account),
    ACC + "GetAccountSettingsAsync": _data_of(dict),
    ACC + "Images.DeleteImageAsync": _ok(),
    ACC + "Images.DeleteImageErrorAsync": Raises(AuthError),  # "Unauthorized" with success:true
    ACC + "Images.GetImageAsync": _image(),
    ACC + "Images.GetImageCountAsync": _data_of(int),
    ACC + "Images.GetImageIdsAsync": _data_of(list),
    ACC + "Images.GetImagesAsync": _images(),
    ACC + "Notifications.GetCommentNotificationAsync": _data_of(dict),
    ACC + "Notifications.GetMessageNotificationAsync": _data_of(dict),
    ACC + "Notifications.GetNotificationsAsync": _data_of(dict),
    ACC + "SendVerificationEmailAsync": _ok(),
    ACC + "SendVerificationEmailErrorAsync": Raises(ApiError),  # 400 "User Previously Verified"
    ACC + "UpdateAccountSettingsAsync": _ok(),
    ACC + "VerifyEmailAsync": _ok(),
    ACC + "VerifyEmailErrorAsync": Raises(AuthError),  # 403 "Unauthorized"
    # Album
    ALB + "AddAlbumImagesAsync": _ok(),
    ALB + "CreateAlbumAsync": Parses(
        models.parse_album_created,
        lambda made, data: None if made.deletehash == data["deletehash"] else pytest.fail(),
    ),
    ALB + "DeleteAlbumAsync": _ok(),
    # A favourite toggle answered with data.error "u"/"f": an error by the envelope's rules.
    ALB + "FavoriteAlbumResponseFalse": Raises(ApiError),
    ALB + "FavoriteAlbumResponseTrue": Raises(ApiError),
    ALB + "GetAlbumAsync": _album(with_images=True),
    ALB + "GetAlbumImageAsync": _image(),
    ALB + "GetAlbumImagesAsync": _images(),
    ALB + "RemoveAlbumImagesAsync": _ok(),
    ALB + "SetAlbumImagesAsync": _ok(),
    ALB + "UpdateAlbumAsync": _ok(),
    # Comment
    "CommentEndpointResponses.CreateCommentAsync": _data_of(dict),
    "CommentEndpointResponses.CreateReplyAsync": _data_of(dict),
    "CommentEndpointResponses.DeleteCommentAsync": _ok(),
    "CommentEndpointResponses.GetCommentAsync": _data_of(dict),
    "CommentEndpointResponses.GetCommentReplies": _data_of(dict),
    "CommentEndpointResponses.ReportCommentAsync": _ok(),  # data: null
    "CommentEndpointResponses.VoteCommentAsync": _ok(),
    # Conversation (legacy; not modelled)
    "ConversationEndpointResponses.BlockSenderAsync": _ok(),
    "ConversationEndpointResponses.CreateConversationAsync": _ok(),
    "ConversationEndpointResponses.DeleteConversationAsync": _ok(),
    "ConversationEndpointResponses.GetConversationAsync": _data_of(dict),
    "ConversationEndpointResponses.GetConversationsAsync": _data_of(list),
    "ConversationEndpointResponses.ReportSenderAsync": _ok(),
    # Custom gallery (legacy): its items are ordinary gallery items
    "CustomGalleryEndpointResponses.AddCustomGalleryTagsAsync": _ok(),
    "CustomGalleryEndpointResponses.AddFilteredOutGalleryTagAsync": _ok(),
    "CustomGalleryEndpointResponses.GetCustomGalleryAlbumAsync": _single_item(album=True),
    "CustomGalleryEndpointResponses.GetCustomGalleryAsync": _gallery_page(60),
    "CustomGalleryEndpointResponses.GetCustomGalleryImageAsync": _single_item(album=False),
    "CustomGalleryEndpointResponses.GetFilteredOutGalleryAsync": _gallery_page(60),
    "CustomGalleryEndpointResponses.RemoveCustomGalleryTagsAsync": _ok(),
    "CustomGalleryEndpointResponses.RemoveFilteredOutGalleryTagAsync": _ok(),
    # Error bodies
    "FakeErrors.ImgurCapacityErrorAsync": Raises(OverCapacity),  # body status 1203
    "FakeErrors.ImgurClientErrorAsync": Raises(AuthError),  # 401 Authentication required
    "FakeErrors.MashapeErrorAsync": Raises(AuthError),  # gateway: missing application key
    # Gallery
    GAL + "Albums.GetGalleryAlbumAsync": Parses(models.parse_gallery_album, _gallery_album),
    GAL + "Comments.CreateGalleryItemCommentAsync": _data_of(dict),
    GAL + "Comments.CreateGalleryItemCommentReplyAsync": _data_of(dict),
    GAL + "Comments.GetGalleryItemCommentAsync": _data_of(dict),
    GAL + "Comments.GetGalleryItemCommentCountAsync": _data_of(int),
    GAL + "Comments.GetGalleryItemCommentIdsAsync": _data_of(list),
    GAL + "Comments.GetGalleryItemCommentsAsync": _data_of(list),
    GAL + "GetGalleryAsync": _gallery_page(60),
    GAL + "GetRandomGalleryAsync": _gallery_page(60),
    GAL + "Images.GetGalleryImageAsync": Parses(
        models.parse_gallery_image, lambda item, data: _check_item(item, data)
    ),
    GAL + "Memes.GetMemesSubGalleryAsync": _gallery_page(60),
    GAL + "Memes.GetMemesSubGalleryImageAsync": _single_item(album=False),
    GAL + "PublishToGalleryAsync": _ok(),
    GAL + "RemoveFromGalleryAsync": _ok(),
    GAL + "ReportGalleryItemAsync": _ok(),
    GAL + "SearchGalleryAdvancedAsync": _gallery_page(),
    GAL + "SearchGalleryAsync": _gallery_page(),
    GAL + "Subreddits.GetSubredditGalleryAsync": _gallery_page(),
    GAL + "Subreddits.GetSubredditImageAsync": _single_item(album=False),
    GAL + "Tags.GetGalleryItemTagsAsync": _data_of(dict),  # tag votes (legacy, not modelled)
    GAL + "Tags.GetGalleryTagAsync": Parses(models.parse_tag_gallery, _tag_gallery),
    GAL + "Tags.GetGalleryTagImageAsync": _single_item(album=False),
    GAL + "Tags.VoteGalleryTagAsync": _ok(),
    GAL + "Votes.GetGalleryItemVotesAsync": _data_of(dict),
    GAL + "Votes.VoteGalleryItemAsync": _ok(),
    "GenericEndpointResponses.SuccessfulAsyncResponse": _ok(),
    # Image
    "ImageEndpointResponses.DeleteImageAsync": _ok(),
    "ImageEndpointResponses.FavoriteImageAsyncFalse": _data_of(str),  # "unfavorited"
    "ImageEndpointResponses.FavoriteImageAsyncTrue": _data_of(str),  # "favorited"
    "ImageEndpointResponses.FavoriteImageResponseFalse": Raises(ApiError),
    "ImageEndpointResponses.FavoriteImageResponseTrue": Raises(ApiError),
    "ImageEndpointResponses.GetImageAsync": _image(),
    "ImageEndpointResponses.UpdateImageAsync": _ok(),
    "ImageEndpointResponses.UploadImageAsync": Parses(models.parse_upload, _upload),
    "MemeGenEndpointResponses.GetDefaultMemesAsync": Parses(models.parse_memegen, _memes),
    # Notifications (not modelled)
    "NotificationEndpointResponses.GetNotificationAsync": _data_of(dict),
    "NotificationEndpointResponses.GetNotificationsAsync": _data_of(dict),
    "NotificationEndpointResponses.MarkNotificationViewedAsync": _ok(),
    # OAuth (never wrapped)
    "OAuth2EndpointResponses.GetTokenByCodeAsync": _token("CodeResponse"),
    "OAuth2EndpointResponses.GetTokenByPinAsync": _token("PinResponse"),
    "OAuth2EndpointResponses.GetTokenByRefreshTokenAsync": _token("RefreshTokenResponse"),
    "OAuth2EndpointResponses.OAuth2TokenResponseError": Raises(AuthError),
    "RateLimitEndpointResponses.GetRateLimitAsync": Parses(models.parse_credits, _credits),
    # Topics (legacy): topPost and items are ordinary gallery items
    "TopicEndpointResponses.GetDefaultTopicsAsync": _topics(),
    "TopicEndpointResponses.GetGalleryTopicItemAsync": _single_item(album=True),
    "TopicEndpointResponses.GetGalleryTopicItemsAsync": _gallery_page(),
}


def _fixture_files() -> list[Path]:
    if not FIXTURES.is_dir():
        raise FileNotFoundError(f"recorded Imgur fixtures missing: {FIXTURES}")
    return sorted(FIXTURES.glob("*.json"))


def test_every_fixture_has_an_expectation_and_every_expectation_a_file() -> None:
    names = {p.name.removesuffix(".json") for p in _fixture_files()}
    assert len(names) == 115
    assert names - EXPECTED.keys() == set(), "fixtures without an expectation"
    assert EXPECTED.keys() - names == set(), "expectations without a fixture"


def _http_status(doc: Any) -> int:
    """Imgur mirrors the envelope status in HTTP; 1203 and bare bodies came with 200."""
    status = doc.get("status") if isinstance(doc, dict) else None
    return status if isinstance(status, int) and 100 <= status < 600 else 200


@pytest.mark.parametrize("path", _fixture_files(), ids=lambda p: p.name.removesuffix(".json"))
def test_recorded_body(path: Path) -> None:
    expected = EXPECTED[path.name.removesuffix(".json")]
    body = path.read_bytes()
    doc = json.loads(body)
    request = None
    if path.name.startswith("OAuth2"):
        request = sansio.refresh_token("r", "c", "s")
    elif path.name.startswith("ImageEndpointResponses.Upload"):
        request = sansio.upload(title="t")

    if isinstance(expected, Raises):
        with pytest.raises(expected.error) as caught:
            sansio.decipher_response(_http_status(doc), {}, body, request)
        assert type(caught.value) is expected.error
        assert caught.value.message
        return
    data, _limits = sansio.decipher_response(_http_status(doc), {}, body, request)
    expected.check(expected.parse(data), data)
