"""Discord-shaped HTTP responses.

discord.py decodes a body as JSON only when ``Content-Type`` is exactly ``application/json``
(``discord.http.json_or_text``); aiohttp's ``web.json_response`` appends ``; charset=utf-8``,
which makes discord.py treat every payload as a plain string. Everything here therefore
builds the response by hand.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

JSON = "application/json"

# Discord's JSON error codes used by the fake (https://discord.com/developers/docs/topics/opcodes-and-status-codes).
UNKNOWN_ACCOUNT = 10001
UNKNOWN_APPLICATION = 10002
UNKNOWN_CHANNEL = 10003
UNKNOWN_GUILD = 10004
UNKNOWN_MESSAGE = 10008
UNKNOWN_USER = 10013
UNKNOWN_WEBHOOK = 10015
UNKNOWN_INTERACTION = 10062
UNKNOWN_APPLICATION_COMMAND = 10063
CANNOT_SEND_EMPTY_MESSAGE = 50006
INVALID_WEBHOOK_TOKEN = 50027
INVALID_FORM_BODY = 50035
ALREADY_ACKNOWLEDGED = 40060


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    all_headers = {"Content-Type": JSON}
    all_headers.update(headers or {})
    return web.Response(body=json.dumps(data).encode(), status=status, headers=all_headers)


def no_content() -> web.Response:
    return web.Response(status=204)


def error(
    status: int, message: str, code: int = 0, errors: dict[str, Any] | None = None
) -> web.Response:
    body: dict[str, Any] = {"message": message, "code": code}
    if errors:
        body["errors"] = errors
    return json_response(body, status=status)


def not_found(what: str = "404: Not Found", code: int = 0) -> web.Response:
    return error(404, what, code)


def unauthorized() -> web.Response:
    return error(401, "401: Unauthorized", 0)


def invalid_form(field: str, message: str) -> web.Response:
    errors = {field: {"_errors": [{"code": "BASE_TYPE_INVALID", "message": message}]}}
    return error(400, "Invalid Form Body", INVALID_FORM_BODY, errors)


class DiscordError(Exception):
    """Raised inside a handler to answer with a Discord error body."""

    def __init__(self, status: int, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code

    def response(self) -> web.Response:
        return error(self.status, self.message, self.code)


def unknown(what: str, code: int) -> DiscordError:
    return DiscordError(404, f"Unknown {what}", code)
