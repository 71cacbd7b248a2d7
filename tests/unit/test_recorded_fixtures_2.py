"""The second corpus of real Imgur responses (../shared/fixtures/imgur-recorded-2/), every file:
each reaches the outcome its ``expect`` names through ``decipher_response``, and each successful
body parses with the model its ``model`` names, nothing dropped.

Each file says what a correct client concludes, so the table lives in the files themselves;
a file this test cannot read fails it, none is skipped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.imgur import errors, models, sansio

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "imgur-recorded-2"

OUTCOMES: dict[str, type[errors.ImgurError]] = {
    "not_found": errors.NotFound,
    "auth": errors.AuthError,
    "rate_limited": errors.RateLimited,
    "over_capacity": errors.OverCapacity,
    "upload_rejected": errors.UploadRejected,
    "server_error": errors.ServerError,
    "bad_response": errors.BadResponse,
    "api_error": errors.ApiError,
}


def _files() -> list[Path]:
    return sorted(FIXTURES.glob("*.json"))


def _request(endpoint: str) -> sansio.Request[Any]:
    """The request a client would have sent: the method and path, and the kind that changes
    how an answer is read (an upload, an OAuth grant)."""
    method, _, path = endpoint.partition(" ") if " /" in endpoint else ("GET", "", endpoint)
    path = path.split(" ")[0].split("?")[0]
    if path.startswith("/oauth2/"):
        kind = "oauth"
    elif method == "POST" and path in ("/3/image", "/3/upload"):
        kind = "upload"
    elif method != "GET":
        kind = "write"
    else:
        kind = "item"
    return sansio.Request(method, path, kind)  # type: ignore[arg-type]


def test_the_corpus_is_all_here() -> None:
    assert len(_files()) == 90


@pytest.mark.parametrize("path", _files(), ids=lambda p: p.name.removesuffix(".json"))
def test_recorded_response(path: Path) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    headers = doc.get("headers") or {"Content-Type": "application/json"}
    body = doc["body"].encode("utf-8")
    request = _request(doc["endpoint"])
    expect = doc["expect"]

    if expect != "ok":
        with pytest.raises(OUTCOMES[expect]) as caught:
            sansio.decipher_response(doc["status"], headers, body, request)
        assert caught.value.message
        if doc.get("scope"):
            assert caught.value.scope == doc["scope"]
        if expect == "api_error":
            # ApiError is the class of last resort: nothing narrower may claim these.
            narrower = tuple(c for c in OUTCOMES.values() if c is not errors.ApiError)
            assert not isinstance(caught.value, narrower)
        return

    data, _limits = sansio.decipher_response(doc["status"], headers, body, request)
    if doc["model"] == "none":
        return
    parsed = getattr(models, doc["model"])(data)
    if isinstance(data, list):
        assert len(parsed) == len(data), "no item may be dropped"
    elif doc["model"] == "parse_ok":
        assert parsed is True
    else:
        assert parsed is not None


def test_edge_blocks_and_forbidden_uploads_are_not_blamed_on_the_file() -> None:
    """A member must not be told their file was refused when Imgur refused the bot."""
    for name, cls in (
        ("071_sharex_post_image.json", errors.AuthError),
        ("072_sharex_post_upload.json", errors.EdgeBlocked),
    ):
        doc = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
        with pytest.raises(cls) as caught:
            sansio.decipher_response(
                doc["status"],
                doc.get("headers") or {},
                doc["body"].encode(),
                _request(doc["endpoint"]),
            )
        assert not isinstance(caught.value, errors.UploadRejected)
