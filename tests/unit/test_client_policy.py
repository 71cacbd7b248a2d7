"""The Imgur client's policy against a scripted transport: no sockets, no emulator.

Cache, coalescing, the gate's verdicts and settlements, retries, stale serving and OAuth
refresh are decisions of ``bot.imgur.client``; the transport only carries bytes, so a script
of answers is all these tests need.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from pydantic import SecretStr
from scripted_imgur import ITEM, JSON, Script, client_over, error, ok

from bot.clock import FakeClock
from bot.config import CacheSettings, Secrets
from bot.errors import QuotaExceeded
from bot.imgur import sansio
from bot.imgur.client import HttpResponse
from bot.imgur.errors import AuthError, BadResponse, NoAnswer, NotFound, RateLimited, ServerError


class Gate:
    """A stand-in for the ledger: counts entries and settlements, refuses on demand.

    ``settled`` holds the credits of each attempt; ``outcomes`` them with their certainty.
    """

    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.entered = 0
        self.outcomes: list[tuple[int, bool]] = []

    @property
    def settled(self) -> list[int]:
        return [credits for credits, _certain in self.outcomes]

    def settle(self, credits: int, *, certain: bool = True, limits: Any = None) -> None:
        self.outcomes.append((credits, certain))

    @asynccontextmanager
    async def __call__(self, _request: Any) -> AsyncIterator[Gate]:
        if self.refuse:
            raise QuotaExceeded("guild", None)
        self.entered += 1
        yield self


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


# -- cache ----------------------------------------------------------------------------------


async def test_a_fresh_cache_entry_answers_without_the_network_or_the_gate(clock) -> None:
    script = Script(ok([ITEM]), ok([ITEM]))
    client = client_over(script, clock)
    gate = Gate()
    first = await client.fetch(sansio.gallery(), gate=gate)
    second = await client.fetch(sansio.gallery(), gate=gate)
    assert not first.from_cache and second.from_cache and not second.stale
    assert len(script.sent) == 1 and gate.entered == 1 and gate.settled == [1]
    clock.advance(CacheSettings().ttl_frontpage_s + 1)
    await client.fetch(sansio.gallery(), gate=gate)
    assert len(script.sent) == 2


async def test_each_kind_keeps_its_own_ttl(clock) -> None:
    script = Script(ok([ITEM]), ok({"tags": []}), ok([ITEM]))
    client = client_over(script, clock, cache=CacheSettings(ttl_frontpage_s=10, ttl_tags_s=100))
    await client.get(sansio.gallery())
    await client.get(sansio.tags())
    clock.advance(50)
    await client.get(sansio.tags())  # still fresh
    await client.get(sansio.gallery())  # expired: asked again
    assert [r.url.rsplit("/3/", 1)[1] for r in script.sent] == [
        "gallery/hot/viral/day/0",
        "tags",
        "gallery/hot/viral/day/0",
    ]


async def test_writes_are_never_cached(clock) -> None:
    script = Script(ok(True), ok(True))
    client = client_over(script, clock)
    assert await client.get(sansio.delete_image("deletehash123"))
    assert await client.get(sansio.delete_image("deletehash123"))
    assert len(script.sent) == 2


# -- coalescing -----------------------------------------------------------------------------


async def test_identical_gets_in_flight_share_one_call_and_one_charge(clock) -> None:
    hold = asyncio.Event()
    script = Script(hold, ok([ITEM]))
    client = client_over(script, clock)
    gate = Gate()
    calls = [asyncio.create_task(client.get(sansio.gallery(), gate=gate)) for _ in range(20)]
    await asyncio.sleep(0)
    hold.set()
    pages = await asyncio.gather(*calls)
    assert all(p[0].id == "AbC1234" for p in pages)
    assert len(script.sent) == 1 and gate.entered == 1 and gate.settled == [1]


async def test_followers_get_the_leaders_error(clock) -> None:
    hold = asyncio.Event()
    script = Script(hold, error(404, "Unable to find an image with the id, Missing"))
    client = client_over(script, clock)
    calls = [asyncio.create_task(client.get(sansio.image("Missing"))) for _ in range(5)]
    await asyncio.sleep(0)
    hold.set()
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(r, NotFound) for r in results) and len(script.sent) == 1


async def test_one_impatient_caller_does_not_cancel_the_others(clock) -> None:
    hold = asyncio.Event()
    script = Script(hold, ok([ITEM]))
    client = client_over(script, clock)
    impatient = asyncio.create_task(client.get(sansio.gallery()))
    patient = asyncio.create_task(client.get(sansio.gallery()))
    await asyncio.sleep(0)
    impatient.cancel()
    hold.set()
    assert (await patient)[0].id == "AbC1234"


# -- the gate ---------------------------------------------------------------------------------


async def test_a_refusal_sends_nothing_and_raises_without_a_cached_answer(clock) -> None:
    script = Script()
    client = client_over(script, clock)
    with pytest.raises(QuotaExceeded):
        await client.get(sansio.gallery(), gate=Gate(refuse=True))
    assert script.sent == []


async def test_a_refusal_serves_the_stale_answer_marked_stale(clock) -> None:
    script = Script(ok([ITEM]))
    client = client_over(script, clock)
    await client.get(sansio.gallery())
    clock.advance(CacheSettings().ttl_frontpage_s + 60)
    fetched = await client.fetch(sansio.gallery(), gate=Gate(refuse=True))
    assert fetched.stale and fetched.from_cache and fetched.age_s(clock.now()) >= 660
    assert len(script.sent) == 1


async def test_an_upload_is_charged_what_imgur_counts_for_one(clock) -> None:
    script = Script(ok(ITEM | {"deletehash": "dh0123456789abc"}))
    client = client_over(script, clock)
    gate = Gate()
    result = await client.get(sansio.upload(filename="a.png"), body=b"\x89PNG", gate=gate)
    assert result.deletehash == "dh0123456789abc" and gate.settled == [10]
    sent = script.sent[0]
    assert sent.file is not None and sent.body == b"\x89PNG" and ("type", "file") in sent.form


async def test_a_429_counts_as_uncertain_and_passes_through_the_gate(clock) -> None:
    script = Script(error(429, "Too Many Requests", {"X-RateLimit-UserRemaining": "0"}))
    client = client_over(script, clock)
    gate = Gate()
    with pytest.raises(RateLimited) as caught:
        await client.get(sansio.gallery(), gate=gate)
    # It reached Imgur: counted until Imgur's figures say it was not (the ledger decides).
    assert caught.value.scope == "ip" and gate.outcomes == [(1, False)]
    assert len(script.sent) == 1


async def test_a_call_abandoned_mid_send_counts_as_uncertain(clock) -> None:
    sending = asyncio.Event()

    class Held(Script):
        async def send(self, request):
            sending.set()
            return await super().send(request)

    script = Held(asyncio.Event())  # never set: the request stays in flight until cancelled
    client = client_over(script, clock)
    gate = Gate()
    upload = sansio.upload(filename="a.png")  # not shared with other callers: its own call
    call = asyncio.create_task(client.get(upload, body=b"\x89PNG", gate=gate))
    await sending.wait()
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    # It may be at Imgur already: counted, uncertain, until Imgur's figures settle it.
    assert gate.outcomes == [(10, False)]


# -- retries ----------------------------------------------------------------------------------


async def test_transient_failures_are_retried_with_backoff_then_succeed(clock) -> None:
    script = Script(
        error(500, "boom"),
        NoAnswer("connection reset", may_have_reached=True),
        NoAnswer("connection refused", may_have_reached=False),
        ok([ITEM]),
    )
    client = client_over(script, clock)
    gate = Gate()
    assert (await client.get(sansio.gallery(), gate=gate))[0].id == "AbC1234"
    assert len(script.sent) == 4 and len(client.waits) == 3  # type: ignore[attr-defined]
    # Each attempt through the gate: what may have reached Imgur counts (uncertain), what
    # never left costs nothing, the success counts for sure.
    assert gate.entered == 4
    assert gate.outcomes == [(1, False), (1, False), (0, True), (1, True)]


async def test_a_retry_refused_by_the_gate_stops_the_retries(clock) -> None:
    script = Script(error(500, "boom"), ok([ITEM]))
    client = client_over(script, clock)
    gate = Gate()

    @asynccontextmanager
    async def once(request: Any) -> AsyncIterator[Gate]:
        if gate.entered:
            raise QuotaExceeded("guild", None)
        async with gate(request) as meter:
            yield meter

    with pytest.raises(QuotaExceeded):
        await client.get(sansio.gallery(), gate=once)
    assert len(script.sent) == 1 and gate.outcomes == [(1, False)]


async def test_retries_stop_after_max_retries(clock) -> None:
    script = Script(*[error(503, "down")] * 10)
    client = client_over(script, clock, max_retries=2)
    with pytest.raises(ServerError):
        await client.get(sansio.gallery())
    assert len(script.sent) == 3


async def test_writes_and_uploads_are_never_retried(clock) -> None:
    script = Script(error(500, "boom"), error(500, "boom"))
    client = client_over(script, clock)
    with pytest.raises(ServerError):
        await client.get(sansio.delete_image("deletehash123"))
    with pytest.raises(ServerError):
        await client.get(sansio.upload(), body=b"x")
    assert len(script.sent) == 2


async def test_not_found_is_final(clock) -> None:
    script = Script(error(404, "Unable to find an image with the id, Missing"))
    client = client_over(script, clock)
    with pytest.raises(NotFound):
        await client.get(sansio.image("Missing"))
    assert len(script.sent) == 1


async def test_a_failure_after_retries_serves_stale(clock) -> None:
    script = Script(ok([ITEM]), *[NoAnswer("timeout", may_have_reached=True)] * 4)
    client = client_over(script, clock)
    await client.get(sansio.gallery())
    clock.advance(CacheSettings().ttl_frontpage_s + 1)
    fetched = await client.fetch(sansio.gallery())
    assert fetched.stale and fetched.parse(sansio.gallery().parse)[0].id == "AbC1234"


# -- answers --------------------------------------------------------------------------------


async def test_an_oversized_answer_is_a_bad_response_and_not_cached(clock) -> None:
    script = Script(HttpResponse(200, JSON, b"", too_large=True), ok([ITEM]))
    client = client_over(script, clock)
    with pytest.raises(BadResponse, match="larger than"):
        await client.get(sansio.gallery())
    assert (await client.get(sansio.gallery()))[0].id == "AbC1234"
    assert script.sent[0].max_body == sansio.gallery().max_body


async def test_listeners_hear_the_headers_of_every_answer(clock) -> None:
    heard: list[tuple[int | None, int]] = []
    script = Script(
        ok([ITEM], {"X-RateLimit-ClientRemaining": "12400"}),
        error(404, "Unable to find", {"x-ratelimit-clientremaining": "12399"}),
    )
    client = client_over(script, clock)
    client.add_listener(lambda limits, req, status: heard.append((limits.client_remaining, status)))
    await client.get(sansio.gallery())
    with pytest.raises(NotFound):
        await client.get(sansio.image("Missing"))
    assert heard == [(12400, 200), (12399, 404)]


# -- OAuth ----------------------------------------------------------------------------------


def token(access: str) -> HttpResponse:
    body = {"access_token": access, "refresh_token": "refresh-2", "expires_in": 3600}
    return HttpResponse(200, JSON, json.dumps(body).encode())


OAUTH = Secrets(
    imgur_client_id=SecretStr("cid"),
    imgur_client_secret=SecretStr("secret"),
    imgur_refresh_token=SecretStr("refresh-1"),
)


async def test_bearer_calls_get_a_token_first_and_refresh_once_when_it_expires(clock) -> None:
    account = {"id": 1, "url": "me_myself"}
    script = Script(
        token("access-1"),
        ok(account),
        error(403, "The access token provided is invalid."),
        token("access-2"),
        ok(account),
    )
    client = client_over(script, clock, cache=CacheSettings(enabled=False), secrets=OAUTH)
    assert (await client.get(sansio.account("me"))).username == "me_myself"
    assert (await client.get(sansio.account("me"))).username == "me_myself"
    auth = [r.headers.get("Authorization") for r in script.sent]
    assert auth == [None, "Bearer access-1", "Bearer access-1", None, "Bearer access-2"]
    # The rotated refresh token is the one sent the second time.
    assert ("refresh_token", "refresh-2") in script.sent[3].form


async def test_concurrent_bearer_calls_refresh_only_once(clock) -> None:
    hold = asyncio.Event()
    script = Script(hold, token("access-1"), *[ok([ITEM])] * 5)
    client = client_over(script, clock, cache=CacheSettings(enabled=False), secrets=OAUTH)
    calls = [asyncio.create_task(client.get(sansio.account_submissions("me", p))) for p in range(5)]
    await asyncio.sleep(0)
    hold.set()
    await asyncio.gather(*calls)
    assert sum(r.url.endswith("/oauth2/token") for r in script.sent) == 1


async def test_without_a_refresh_token_bearer_calls_are_refused(clock) -> None:
    script = Script(error(403, "The access token provided is invalid."))
    client = client_over(script, clock)
    with pytest.raises(AuthError):
        await client.get(sansio.account("me"))


async def test_close_closes_the_transport(clock) -> None:
    script = Script()
    client = client_over(script, clock)
    await client.close()
    assert script.closed
    with pytest.raises(RuntimeError, match="closed"):
        await client.get(sansio.gallery())


async def test_an_answer_larger_than_a_cache_entry_may_hold_is_served_not_kept(clock) -> None:
    big = [ITEM | {"description": "x" * 2000} for _ in range(600)]  # about 1.3 MB
    script = Script(ok(big), ok(big))
    client = client_over(script, clock, cache=CacheSettings(max_entry_kb=1024))
    assert len(await client.get(sansio.gallery_search("big"))) == 600
    assert client.peek(sansio.gallery_search("big")) is None
    await client.get(sansio.gallery_search("big"))
    assert len(script.sent) == 2
