"""A scripted transport for the Imgur client's policy: answers from a queue, no sockets."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from pydantic import SecretStr

from bot.clock import FakeClock
from bot.config import CacheSettings, ImgurSettings, Secrets
from bot.imgur.client import HttpRequest, HttpResponse, ImgurClient

JSON = {"Content-Type": "application/json"}
ITEM = {"id": "AbC1234", "title": "a cat", "link": "https://i.imgur.com/AbC1234.jpg"}


def ok(data: Any, headers: dict[str, str] | None = None) -> HttpResponse:
    body = json.dumps({"data": data, "success": True, "status": 200}).encode()
    return HttpResponse(200, JSON | (headers or {}), body)


def error(status: int, message: str, headers: dict[str, str] | None = None) -> HttpResponse:
    body = json.dumps({"data": {"error": message}, "success": False, "status": status}).encode()
    return HttpResponse(status, JSON | (headers or {}), body)


class Script:
    """A transport that answers from a queue, in order, and records what it was asked.

    An item may be an ``HttpResponse``, an exception to raise (no answer), or an
    ``asyncio.Event`` to wait on before taking the next item (to hold a call in flight).
    """

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.sent: list[HttpRequest] = []
        self.closed = False

    async def send(self, request: HttpRequest) -> HttpResponse:
        self.sent.append(request)
        item = self.answers.pop(0)
        if isinstance(item, asyncio.Event):
            await item.wait()
            item = self.answers.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item

    async def close(self) -> None:
        self.closed = True


def client_over(
    script: Script,
    clock: FakeClock,
    *,
    cache: CacheSettings | None = None,
    secrets: Secrets | None = None,
    **settings: Any,
) -> ImgurClient:
    waits: list[float] = []

    async def no_sleep(seconds: float) -> None:
        waits.append(seconds)

    defaults = {"max_retries": 3, "backoff_base_s": 0.5, "retry_budget_s": 60.0}
    client = ImgurClient(
        script,
        ImgurSettings(**(defaults | settings)),
        cache or CacheSettings(),
        secrets or Secrets(imgur_client_id=SecretStr("cid")),
        base_url="https://api.example",
        clock=clock,
        sleep=no_sleep,
    )
    client.waits = waits  # type: ignore[attr-defined]
    return client
