"""The sans-I/O core: request builders and ``decipher_response`` for every error shape."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.imgur import sansio
from bot.imgur.errors import (
    ApiError,
    AuthError,
    BadResponse,
    ImgurError,
    NotFound,
    OverCapacity,
    RateLimited,
    ServerError,
    UploadRejected,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def envelope(data: Any, status: int = 200, success: bool | None = None) -> bytes:
    ok = status == 200 if success is None else success
    return json.dumps({"data": data, "success": ok, "status": status}).encode()


def error_body(error: Any, status: int, path: str = "/3/image/x", success: bool = False) -> bytes:
    data = {"error": error, "request": path, "method": "GET"}
    return envelope(data, status, success)


def decipher(status: int, body: bytes, headers: dict[str, str] | None = None, request=None):
    data, _limits = sansio.decipher_response(status, headers or {}, body, request, now=NOW)
    return data


# ---------------------------------------------------------------------------------------
# Builders


def test_gallery_builds_the_long_path_with_flags() -> None:
    req = sansio.gallery("top", "top", "week", 2, show_viral=False, mature=True)
    assert req.method == "GET" and req.path == "/3/gallery/top/top/week/2"
    assert dict(req.params) == {"showViral": "false", "mature": "true"}
    assert req.kind == "frontpage" and req.cost == 1 and req.auth == "client"
    assert req.cache_key == "client:/3/gallery/top/top/week/2?mature=true&showViral=false"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"section": "cold"}, "section must be one of hot, top, user"),
        ({"sort": "best"}, "sort must be one of"),
        ({"window": "decade"}, "window must be one of"),
        ({"page": -1}, "page must be a page number \\(0 or more\\)"),
        ({"page": True}, "page must be a page number"),
        ({"sort": "rising"}, "only valid with section 'user'"),
    ],
)
def test_gallery_rejects_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sansio.gallery(**kwargs)


def test_rising_is_fine_for_the_user_section() -> None:
    assert sansio.gallery("user", "rising").path == "/3/gallery/user/rising/day/0"


def test_search_normalises_whitespace_so_equal_queries_share_a_key() -> None:
    a = sansio.gallery_search("cats   and  dogs")
    b = sansio.gallery_search(" cats and dogs ")
    assert a.cache_key == b.cache_key
    assert a.path == "/3/gallery/search/time/all/0" and a.params == (("q", "cats and dogs"),)
    assert a.kind == "search"


def test_advanced_search_sends_only_the_advanced_fields() -> None:
    req = sansio.gallery_search(q_all="cat", q_type="anigif", q_size_px="med", sort="top")
    assert dict(req.params) == {"q_all": "cat", "q_type": "anigif", "q_size_px": "med"}
    assert req.path == "/3/gallery/search/top/all/0"


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((), {}, "q must be some words to search for"),
        (("  ",), {}, "q must be some words to search for"),
        (("cat",), {"q_any": "dog"}, "not both"),
        ((), {"q_type": "bmp"}, "q_type must be one of"),
        ((), {"q_all": "x", "q_size_px": "giant"}, "q_size_px must be one of"),
        (("x",), {"sort": "rising"}, "sort must be one of time, viral, top"),
    ],
)
def test_search_rejects_bad_arguments(args: tuple, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sansio.gallery_search(*args, **kwargs)


@pytest.mark.parametrize(
    ("req", "path", "kind"),
    [
        (sansio.gallery_item("AbC123"), "/3/gallery/AbC123", "item"),
        (sansio.gallery_image("AbC123"), "/3/gallery/image/AbC123", "item"),
        (sansio.gallery_album("AbC12"), "/3/gallery/album/AbC12", "item"),
        (sansio.gallery_tag("funny cats"), "/3/gallery/t/funny%20cats/viral/week/0", "tag"),
        (sansio.tag_info("aww"), "/3/gallery/tag_info/aww", "tag"),
        (sansio.tags(), "/3/tags", "tags"),
        (sansio.subreddit_gallery("earthporn"), "/3/gallery/r/earthporn/time/week/0", "subreddit"),
        (sansio.memes_subgallery("top", "month", 1), "/3/g/memes/top/month/1", "frontpage"),
        (sansio.memegen_defaults(), "/3/memegen/defaults", "memegen"),
        (sansio.image("AbC123"), "/3/image/AbC123", "item"),
        (sansio.album("AbC12"), "/3/album/AbC12", "item"),
        (sansio.account("whiskerfan"), "/3/account/whiskerfan", "account"),
        (sansio.account_submissions("bob", 3), "/3/account/bob/submissions/3", "account"),
        (sansio.credits(), "/3/credits", "credits"),
    ],
)
def test_get_builders(req: sansio.Request, path: str, kind: str) -> None:
    assert (req.method, req.path, req.kind, req.cost) == ("GET", path, kind, 1)
    assert req.cache_key is not None and req.cache_key.startswith("client:" + path)


@pytest.mark.parametrize(
    "build",
    [
        lambda: sansio.image("../etc"),
        lambda: sansio.gallery_item(""),
        lambda: sansio.album("a/b"),
        lambda: sansio.gallery_tag("a/b"),
        lambda: sansio.tag_info(".."),
        lambda: sansio.subreddit_gallery("pics?x=1"),
        lambda: sansio.subreddit_gallery("pics", sort="viral"),
        lambda: sansio.gallery_tag("cats", sort="rising"),
        lambda: sansio.memes_subgallery("rising"),
        lambda: sansio.account("bad name"),
        lambda: sansio.delete_image("x" * 65),
        lambda: sansio.create_album("notalist"),
        lambda: sansio.album_add("abc", []),
        lambda: sansio.update_image("abc"),
        lambda: sansio.upload(url="ftp://example.com/x.png"),
        lambda: sansio.upload(url="https://example.com/x.mp4", video=True),
        lambda: sansio.upload(album="../x"),
    ],
)
def test_builders_refuse_what_would_break_the_url(build) -> None:
    with pytest.raises(ValueError):
        build()


def test_me_endpoints_ask_for_bearer_auth() -> None:
    assert sansio.account("me").auth == "bearer"
    assert sansio.account_submissions("me").auth == "bearer"
    assert sansio.account("me").cache_key != sansio.account("bob").cache_key


def test_upload_of_bytes_describes_a_file_part_and_costs_ten() -> None:
    req = sansio.upload(title="A", album="AlbHash123", content_type="image/png", filename="a.png")
    assert (req.method, req.path, req.kind, req.cost) == ("POST", "/3/image", "upload", 10)
    assert req.cache_key is None and not req.idempotent
    assert req.file == sansio.FilePart("image", "a.png", "image/png")
    assert dict(req.form_fields()) == {"type": "file", "title": "A", "album": "AlbHash123"}


def test_upload_of_video_uses_the_video_field() -> None:
    req = sansio.upload(video=True, disable_audio=True)
    assert req.file is not None and req.file.field == "video"
    assert req.file.content_type == "video/mp4"
    assert ("disable_audio", "1") in req.form_fields()


def test_upload_from_url_has_no_file_part() -> None:
    req = sansio.upload(url="https://example.com/cat.png", description="d")
    assert req.file is None
    assert dict(req.form_fields()) == {
        "image": "https://example.com/cat.png",
        "type": "url",
        "description": "d",
    }


def test_write_builders() -> None:
    made = sansio.create_album(["aaa", "bbb"], title="T")
    assert (made.method, made.path, made.kind, made.cost) == ("POST", "/3/album", "write", 1)
    assert made.form_fields() == [
        ("deletehashes[]", "aaa"),
        ("deletehashes[]", "bbb"),
        ("title", "T"),
    ]
    add = sansio.album_add("AlbHash", ["ccc"])
    assert add.path == "/3/album/AlbHash/add" and add.form_fields() == [("deletehashes[]", "ccc")]
    assert sansio.delete_album("AlbHash").method == "DELETE"
    assert sansio.delete_image("ImgHash").path == "/3/image/ImgHash"
    upd = sansio.update_image("ImgHash", title="new")
    assert upd.method == "POST" and upd.form_fields() == [("title", "new")]
    assert all(r.cache_key is None for r in (made, add, upd))


def test_refresh_token_request_is_free_and_hides_its_secrets() -> None:
    req = sansio.refresh_token("refresh-SECRET", "client-SECRET", "secret-SECRET")
    assert (req.method, req.path, req.kind, req.cost) == ("POST", "/oauth2/token", "oauth", 0)
    assert "SECRET" not in repr(req) and "SECRET" not in str(req.form)
    assert dict(req.form_fields())["refresh_token"] == "refresh-SECRET"
    assert dict(req.form_fields())["grant_type"] == "refresh_token"


# ---------------------------------------------------------------------------------------
# decipher_response: success shapes


def test_envelope_gives_its_data() -> None:
    assert decipher(200, envelope([{"id": "a"}])) == [{"id": "a"}]
    assert decipher(200, envelope(True)) is True
    assert decipher(200, envelope("favorited")) == "favorited"
    assert decipher(200, envelope(None)) is None


def test_envelope_with_only_data_is_fine() -> None:
    assert decipher(200, b'{"data": {"id": "x"}}') == {"id": "x"}


def test_oauth_token_is_returned_unwrapped() -> None:
    body = b'{"access_token": "a", "refresh_token": "r", "expires_in": 3600}'
    req = sansio.refresh_token("r", "c", "s")
    assert decipher(200, body, request=req)["access_token"] == "a"


# ---------------------------------------------------------------------------------------
# decipher_response: error shapes


def test_classic_string_errors() -> None:
    with pytest.raises(NotFound) as caught:
        decipher(404, error_body("Unable to find an image with the id, AbC", 404, "/3/image/AbC"))
    assert caught.value.status == 404 and caught.value.request == "/3/image/AbC"
    with pytest.raises(AuthError):
        decipher(401, error_body("Authentication required", 401))
    with pytest.raises(AuthError):
        decipher(403, error_body("The access token provided is invalid.", 403))
    with pytest.raises(ApiError):
        decipher(409, error_body("Not following tag", 409))
    with pytest.raises(ServerError):
        decipher(502, error_body("Bad gateway", 502))


def test_object_error_with_code_and_type() -> None:
    err = {"code": 500, "message": "Could not complete request", "type": "ImgurException"}
    with pytest.raises(ServerError, match="Could not complete request"):
        decipher(500, error_body(err, 500))
    upload_err = {"code": 1003, "message": "File type invalid (1)", "type": "Exception_UploadError"}
    with pytest.raises(UploadRejected, match="File type invalid"):
        decipher(400, error_body(upload_err, 400), request=sansio.upload())
    with pytest.raises(ServerError, match="error code 500"):
        decipher(500, error_body({"code": 500}, 500))  # message may be absent


def test_errors_array_with_string_code_is_a_rate_limit() -> None:
    error = {"id": "legacy-api-1", "code": "429", "status": "Too Many Requests"}
    body = json.dumps({"errors": [error | {"detail": "Too Many Requests"}]}).encode()
    with pytest.raises(RateLimited) as caught:
        decipher(429, body, {"X-RateLimit-ClientRemaining": "0", "X-RateLimit-ClientReset": "600"})
    assert caught.value.scope == "client"
    assert caught.value.resets_at == NOW + timedelta(seconds=600)


def test_flat_413_body_is_an_upload_rejection() -> None:
    body = json.dumps(
        {
            "id": "legacy-api-x",
            "code": 413,
            "detail": "file is over the size limit",
            "status": "Request Entity Too Large",
        }
    ).encode()
    with pytest.raises(UploadRejected, match="over the size limit") as caught:
        decipher(413, body, request=sansio.upload())
    assert caught.value.status == 413


def test_success_true_carrying_data_error_is_an_error() -> None:
    with pytest.raises(NotFound, match="Album not found"):
        decipher(200, error_body("Album not found", 200, success=True))
    with pytest.raises(AuthError):
        decipher(200, error_body("Unauthorized", 200, success=True))


def test_data_as_a_bare_error_sentence_is_an_error() -> None:
    with pytest.raises(ApiError, match="An error occurred"):
        decipher(200, envelope("An error occurred while fetching the comment"))
    with pytest.raises(ApiError):
        decipher(200, envelope("whatever", 400, success=False))


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, error_body("Imgur is over capacity. Please try again.", 1203)),
        (403, error_body("Imgur is temporarily over capacity. Please try again later.", 403)),
        (500, error_body({"code": 500, "message": "Imgur is temporarily over capacity"}, 500)),
        (503, b"<html><body>Imgur is over capacity!</body></html>"),
    ],
)
def test_over_capacity_in_every_form(status: int, body: bytes) -> None:
    with pytest.raises(OverCapacity):
        decipher(status, body)


def test_html_404_page_is_not_found() -> None:
    with pytest.raises(NotFound):
        decipher(404, b"<!DOCTYPE html><html><title>imgur: the simple 404 page</title></html>")


@pytest.mark.parametrize(
    "message",
    [
        "Missing Mashape application key.Go to http://docs.mashape.com/api-keys to learn how.",
        "Invalid API key. Go to https://docs.rapidapi.com/docs/keys for more info.",
        "You are not subscribed to this API.",
    ],
)
def test_gateway_messages_are_auth_errors(message: str) -> None:
    for status in (200, 401, 403):
        with pytest.raises(AuthError):
            decipher(status, json.dumps({"message": message}).encode())


def test_gateway_quota_message_is_a_client_rate_limit() -> None:
    body = b'{"message":"You have exceeded the DAILY quota for Requests on your current plan"}'
    with pytest.raises(RateLimited) as caught:
        decipher(429, body)
    assert caught.value.scope == "client"


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, b""),
        (200, b"   "),
        (200, b"\r\n <xml"),
        (200, b'{"data": [{"id": "abc", "title": "cut'),
        (200, b"[1, 2, 3]"),
        (200, b"\xff\xfe\x00garbage"),
        (302, b"<html>moved</html>"),
    ],
)
def test_unreadable_bodies_are_bad_responses(status: int, body: bytes) -> None:
    with pytest.raises(BadResponse):
        decipher(status, body)


def test_html_5xx_is_a_server_error() -> None:
    with pytest.raises(ServerError):
        decipher(503, b"<html>Service Unavailable</html>")
    with pytest.raises(ServerError):
        decipher(500, b"")


# ---------------------------------------------------------------------------------------
# 429: scope and reset time


def test_daily_client_limit_text_means_client_scope() -> None:
    body = error_body("Daily client requests exceeded", 429)
    with pytest.raises(RateLimited) as caught:
        decipher(429, body, {"X-RateLimit-ClientReset": "3600"})
    assert caught.value.scope == "client"
    assert caught.value.resets_at == NOW + timedelta(hours=1)


def test_user_remaining_zero_means_user_scope_relative_reset() -> None:
    headers = {"X-RateLimit-UserRemaining": "0", "X-RateLimit-UserReset": "3047"}
    with pytest.raises(RateLimited) as caught:
        decipher(429, error_body("Too Many Requests", 429), headers)
    assert caught.value.scope == "ip"
    assert caught.value.resets_at == NOW + timedelta(seconds=3047)


def test_user_reset_as_epoch() -> None:
    epoch = int((NOW + timedelta(minutes=20)).timestamp())
    headers = {"x-ratelimit-userremaining": "0", "x-ratelimit-userreset": str(epoch)}
    with pytest.raises(RateLimited) as caught:
        decipher(429, error_body("Too Many Requests", 429), headers)
    assert caught.value.resets_at == NOW + timedelta(minutes=20)


def test_post_remaining_zero_means_post_scope() -> None:
    headers = {
        "X-RateLimit-UserRemaining": "10",
        "X-Post-Rate-Limit-Remaining": "0",
        "X-Post-Rate-Limit-Reset": "875",
    }
    with pytest.raises(RateLimited) as caught:
        decipher(429, error_body("Too Many Requests", 429), headers)
    assert caught.value.scope == "post"
    assert caught.value.resets_at == NOW + timedelta(seconds=875)


def test_uploading_too_fast_reads_the_wait_from_the_text() -> None:
    err = {
        "code": 429,
        "message": "You are uploading too fast. Please wait 59 more minutes.",
        "type": "ImgurException",
        "exception": [],
    }
    # Seen with envelope status 400 in one fixture: the text decides.
    with pytest.raises(RateLimited) as caught:
        decipher(400, error_body(err, 400), request=sansio.upload())
    assert caught.value.scope == "upload"
    assert caught.value.resets_at == NOW + timedelta(minutes=59)


def test_429_without_any_hint_defaults_to_user_scope() -> None:
    with pytest.raises(RateLimited) as caught:
        decipher(429, b"")
    assert caught.value.scope == "ip" and caught.value.resets_at is None


def test_absurd_reset_headers_do_not_escape_as_other_errors() -> None:
    headers = {"X-RateLimit-UserRemaining": "0", "X-RateLimit-UserReset": "9" * 30}
    with pytest.raises(RateLimited) as caught:
        decipher(429, b"", headers)
    assert caught.value.resets_at is None


# ---------------------------------------------------------------------------------------
# Property: only ImgurError subclasses ever leave decipher_response

_KEYS = [
    "data",
    "success",
    "status",
    "error",
    "errors",
    "message",
    "code",
    "detail",
    "request",
    "method",
    "id",
    "type",
    "access_token",
]
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=30)
    | st.sampled_from(["Too Many Requests", "over capacity", "wait 5 more minutes", "1203"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(_KEYS) | st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=20,
)
_header_names = st.sampled_from(
    [
        "X-RateLimit-UserLimit",
        "X-RateLimit-UserRemaining",
        "X-RateLimit-UserReset",
        "X-RateLimit-ClientLimit",
        "X-RateLimit-ClientRemaining",
        "X-RateLimit-ClientReset",
        "X-Post-Rate-Limit-Remaining",
        "X-Post-Rate-Limit-Reset",
        "Content-Type",
    ]
)
_headers = st.dictionaries(
    _header_names | st.text(max_size=10),
    st.text(max_size=25) | st.integers().map(str),
    max_size=6,
)
_requests = st.sampled_from(
    [
        None,
        sansio.gallery(),
        sansio.upload(),
        sansio.refresh_token("r", "c", "s"),
        sansio.delete_image("abc"),
    ]
)
_statuses = st.integers(min_value=-1, max_value=1300) | st.sampled_from([200, 403, 404, 429, 500])


def _only_imgur_errors(status: int, headers: dict[str, str], body: bytes, request) -> None:
    try:
        sansio.decipher_response(status, headers, body, request, now=NOW)
    except ImgurError as exc:
        assert isinstance(exc.message, str) and isinstance(exc.status, int)
        # The rules themselves must cover the input, not the last-resort safety net.
        assert exc.__cause__ is None, f"safety net caught {exc.__cause__!r}"
        if isinstance(exc, RateLimited):
            assert exc.scope in ("client", "ip", "post", "upload")


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(_statuses, _headers, st.binary(max_size=200), _requests)
def test_any_bytes_give_data_or_an_imgur_error(status, headers, body, request) -> None:
    _only_imgur_errors(status, headers, body, request)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(_statuses, _headers, _json, _requests)
def test_any_json_gives_data_or_an_imgur_error(status, headers, doc, request) -> None:
    _only_imgur_errors(status, headers, json.dumps(doc).encode(), request)


def test_front_page_window_only_counts_for_top():
    from bot.imgur import sansio as s

    assert s.gallery("hot", "viral", "week").cache_key == s.gallery("hot", "viral", "day").cache_key
    assert s.gallery("top", "top", "week").path == "/3/gallery/top/top/week/0"
