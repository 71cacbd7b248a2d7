"""Imgur's answer shapes: the envelope, error bodies (§3.4, §4) and its HTML pages."""

from __future__ import annotations

import itertools
from typing import Any

from aiohttp import web

from fakes.imgur.render import dumps

JSON_TYPE = "application/json"
# The newer (2023+) error layer answers with its own media type.
VND_TYPE = "application/vnd.imgur.v1+json"

# Headers Imgur sends on every API answer (§1, "Typical response headers").
BASE_HEADERS = {
    "Server": "cat factory 1.0",
    "Cache-Control": "no-store, no-cache, must-revalidate, post-check=0, pre-check=0",
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, PUT, POST, DELETE, OPTIONS, PATCH",
    "Access-Control-Expose-Headers": (
        "X-RateLimit-ClientLimit, X-RateLimit-ClientRemaining, X-RateLimit-UserLimit, "
        "X-RateLimit-UserRemaining, X-RateLimit-UserReset"
    ),
    "X-Frame-Options": "DENY",
}

_error_ids = itertools.count(1)


class ApiError(Exception):
    """Raised by a route: becomes the classic error envelope with request/method echoed.

    ``error`` is a string, or the object form ``{"code","message","type","exception"}``.
    """

    def __init__(self, status: int, error: str | dict, *, body_status: int | None = None):
        super().__init__(error if isinstance(error, str) else error.get("message", ""))
        self.status = status
        self.error = error
        self.body_status = body_status if body_status is not None else status


class RawResponse(Exception):
    """Raised by a route that must answer outside the envelope (e.g. a 413 layer body)."""

    def __init__(self, response: web.Response) -> None:
        super().__init__("raw response")
        self.response = response


def envelope(data: Any, status: int = 200) -> str:
    return dumps({"data": data, "success": status == 200, "status": status})


def error_body(error: str | dict, request_path: str, method: str, status: int) -> str:
    return dumps(
        {
            "data": {"error": error, "request": request_path, "method": method},
            "success": False,
            "status": status,
        }
    )


def object_error(code: int, message: str, kind: str = "ImgurException") -> dict:
    return {"code": code, "message": message, "type": kind, "exception": {}}


def json_response(
    body: str | bytes, status: int = 200, content_type: str = JSON_TYPE
) -> web.Response:
    return web.Response(
        body=body.encode() if isinstance(body, str) else body,
        status=status,
        headers={**BASE_HEADERS, "Content-Type": f"{content_type}; charset=utf-8"},
    )


def api_error_response(exc: ApiError, request_path: str, method: str) -> web.Response:
    return json_response(error_body(exc.error, request_path, method, exc.body_status), exc.status)


def layer_error(status: int, title: str, detail: str) -> web.Response:
    """The 2024+ ``errors[]`` shape (no envelope; ``code`` is a string)."""
    error_id = f"legacy-api-emulator-{next(_error_ids)}/{next(_error_ids)}-1"
    body = dumps(
        {"errors": [{"id": error_id, "code": str(status), "status": title, "detail": detail}]}
    )
    return json_response(body, status, VND_TYPE)


def html_page(status: int, title: str, text: str) -> web.Response:
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{title}</title></head><body><div class='container'><h1>{title}</h1>"
        f"<p>{text}</p></div></body></html>"
    )
    return web.Response(
        text=page,
        status=status,
        content_type="text/html",
        headers={"Server": "cat factory 1.0"},
    )


def html_404() -> web.Response:
    # Since 2017 a missing image or album can come back as Imgur's HTML 404 page.
    return html_page(
        404, "imgur: the simple 404 page", "Zoinks! You've taken a wrong turn. Let's split up gang"
    )


def html_503() -> web.Response:
    return html_page(503, "Imgur is down", "Imgur is over capacity! Please try again later.")


def mashape_error(message: str) -> web.Response:
    """The RapidAPI/Mashape gateway's own body: no envelope at all."""
    return web.Response(
        text=dumps({"message": message}), status=403, content_type="application/json"
    )
