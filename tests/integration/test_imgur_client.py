"""The aiohttp client against the Imgur emulator: every endpoint, every fault mode, the
gate/settle seam with the quota ledger, cache, coalescing, stale serving and OAuth."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

from bot.clock import FakeClock
from bot.config import CacheSettings, ImgurSettings, Secrets
from bot.errors import QuotaExceeded
from bot.imgur import models, sansio
from bot.imgur.aiohttp_transport import AiohttpTransport, aiohttp_client
from bot.imgur.client import Fetched, ImgurClient
from bot.imgur.errors import (
    AuthError,
    BadResponse,
    NotFound,
    OverCapacity,
    RateLimited,
    ServerError,
)
from bot.imgur.ratelimit import RateLimits
from bot.imgur.sansio import Request
from fakes.imgur.app import Emulator, EmulatorConfig

CLIENT_ID = "test-client-id-0042"
CLIENT_SECRET = "test-client-secret-0042"
REFRESH = "test-refresh-token-0042"
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 200


def fast_settings(**overrides: Any) -> ImgurSettings:
    values: dict[str, Any] = {
        "backoff_base_s": 0.005,
        "backoff_max_s": 0.02,
        "max_retries": 3,
        "retry_budget_s": 5.0,
        "total_timeout_s": 5.0,
        "connect_timeout_s": 2.0,
    }
    return ImgurSettings(**(values | overrides))


def make_client(
    emu: Emulator,
    settings: ImgurSettings,
    cache: CacheSettings,
    keys: Secrets,
    *,
    clock: FakeClock | None = None,
    session: aiohttp.ClientSession | None = None,
) -> ImgurClient:
    extra = {"clock": clock} if clock is not None else {}
    return aiohttp_client(session, settings, cache, keys, base_url=emu.base_url, **extra)


def secrets(**overrides: Any) -> Secrets:
    values = {"imgur_client_id": CLIENT_ID, "imgur_client_secret": CLIENT_SECRET}
    return Secrets(**{k: SecretStr(v) for k, v in (values | overrides).items()})


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(EmulatorConfig(seed=1, item_count=300)) as emulator:
        yield emulator


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def client(emu: Emulator, clock: FakeClock) -> AsyncIterator[ImgurClient]:
    async with make_client(emu, fast_settings(), CacheSettings(), secrets(), clock=clock) as imgur:
        yield imgur


class Gate:
    """A stand-in for the quota ledger: records entries, settlements and failures.

    Every attempt enters the gate and is settled once: ``outcomes`` holds each attempt's
    (credits, certain); ``settled`` just the credits.
    """

    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.entered: list[Request] = []
        self.outcomes: list[tuple[int, bool]] = []
        self.failures: list[BaseException] = []

    @property
    def settled(self) -> list[int]:
        return [credits for credits, _certain in self.outcomes]

    def settle(self, actual_cost: int, *, certain: bool = True, limits: Any = None) -> None:
        self.outcomes.append((actual_cost, certain))

    @asynccontextmanager
    async def __call__(self, req: Request) -> AsyncIterator[Gate]:
        if self.refuse:
            raise QuotaExceeded("guild", None, "guild budget spent")
        self.entered.append(req)
        try:
            yield self
        except BaseException as exc:
            self.failures.append(exc)
            raise


def api_calls(emu: Emulator) -> int:
    """Requests that reached the emulator's API (faulted answers included)."""
    return emu.stats.requests


# ---------------------------------------------------------------------------------------
# Every endpoint


async def test_every_read_endpoint_returns_its_models(client: ImgurClient, emu: Emulator) -> None:
    page = await client.get(sansio.gallery())
    assert len(page) > 10 and {type(i) for i in page} == {models.GalleryImage, models.GalleryAlbum}
    for item in page:
        assert item.display_url and item.display_url.startswith(emu.base_url)
        assert item.page_url == f"{emu.base_url}/gallery/{item.id}"
    top = await client.get(sansio.gallery("top", "top", "week", 0, show_viral=False))
    assert all(isinstance(i, models.GalleryImage | models.GalleryAlbum) for i in top)

    assert await client.get(sansio.gallery_search("cats")) is not None
    advanced = await client.get(sansio.gallery_search(q_all="cat", q_type="album"))
    assert all(isinstance(i, models.GalleryAlbum) for i in advanced)

    album_item = next(i for i in page if isinstance(i, models.GalleryAlbum))
    image_item = next(i for i in page if isinstance(i, models.GalleryImage))
    full_album = await client.get(sansio.gallery_album(album_item.id))
    assert full_album.images and full_album.image_count == len(full_album.images)
    assert (await client.get(sansio.gallery_image(image_item.id))).id == image_item.id
    assert isinstance(await client.get(sansio.gallery_item(album_item.id)), models.GalleryAlbum)
    assert (await client.get(sansio.image(image_item.id))).link
    assert (await client.get(sansio.album(album_item.id))).display_url

    catalog = await client.get(sansio.tags())
    assert catalog.tags and catalog.featured
    tag = catalog.tags[0].name
    assert (await client.get(sansio.tag_info(tag))).name == tag
    assert (await client.get(sansio.gallery_tag(tag))).items
    assert isinstance(await client.get(sansio.subreddit_gallery("aww")), list)
    assert await client.get(sansio.memes_subgallery())
    memes = await client.get(sansio.memegen_defaults())
    assert memes and memes[0].name and memes[0].image_url.startswith(emu.base_url)

    author = next(i.account_url for i in page if i.account_url)
    assert (await client.get(sansio.account(author))).username == author
    assert isinstance(await client.get(sansio.account_submissions(author)), list)
    credits = await client.get(sansio.credits())
    assert credits.client_limit == 12_500 and credits.client_remaining is not None

    routes = emu.stats.by_route
    for route in (
        "gallery",
        "gallery.search",
        "gallery.album",
        "gallery.image",
        "gallery.item",
        "image.get",
        "album.get",
        "tags",
        "gallery.tag_info",
        "gallery.tag",
        "gallery.subreddit",
        "gallery.memes",
        "memegen.defaults",
        "account.get",
        "account.submissions",
        "credits",
    ):
        assert routes[route] >= 1, route


async def test_upload_bytes_then_album_update_and_delete(
    client: ImgurClient, emu: Emulator
) -> None:
    gate = Gate()
    png = sansio.upload(filename="label.png", content_type="image/png", title="label")
    up = await client.get(png, body=PNG, gate=gate)
    assert up.deletehash and up.type == "image/png" and up.title == "label"
    assert gate.settled == [10] and gate.entered[0].kind == "upload"
    made = await client.get(sansio.create_album([up.deletehash], title="bot uploads"))
    assert made.deletehash
    second = await client.get(sansio.upload(album=made.deletehash), body=PNG)
    assert await client.get(sansio.album_add(made.deletehash, [second.deletehash or ""]))
    assert await client.get(sansio.update_image(up.deletehash, title="renamed"))
    assert (await client.get(sansio.image(up.id))).title == "renamed"
    assert await client.get(sansio.delete_image(second.deletehash or ""))
    assert await client.get(sansio.delete_album(made.deletehash))
    with pytest.raises(NotFound):
        await client.get(sansio.image(second.id))


async def test_upload_streams_an_async_iterator(client: ImgurClient) -> None:
    chunks_sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(MP4), 32):
            chunks_sent.append(start)
            yield MP4[start : start + 32]

    video = sansio.upload(video=True, filename="clip.mp4", content_type="video/mp4")
    up = await client.get(video, body=chunks())
    assert up.type == "video/mp4" and up.is_video
    assert len(chunks_sent) == -(-len(MP4) // 32)


async def test_upload_from_url(client: ImgurClient, emu: Emulator) -> None:
    page = await client.get(sansio.gallery())
    still = next(i for i in page if isinstance(i, models.GalleryImage) and not i.is_animated)
    up = await client.get(sansio.upload(url=still.link or "", title="copied"))
    assert up.deletehash and up.title == "copied"


# ---------------------------------------------------------------------------------------
# Faults: retries and typed errors


@pytest.mark.parametrize("kind", ["error_500", "html_503", "connection_reset", "over_capacity_403"])
async def test_transient_faults_are_retried_and_succeed(
    client: ImgurClient, emu: Emulator, kind: str
) -> None:
    emu.faults.add(kind, path_prefix="/3/gallery", times=2)
    gate = Gate()
    page = await client.get(sansio.gallery(), gate=gate)
    assert page
    assert api_calls(emu) == 3
    # Each attempt through the gate: the failures may have been counted by Imgur (so they
    # count, uncertain, until its figures say), the success surely was. (aiohttp re-sends a
    # GET by itself when a reused connection turns out dropped, so a reset may cost one of
    # our attempts two requests.)
    failures = 2 if kind != "connection_reset" else len(gate.outcomes) - 1
    assert gate.outcomes == [(1, False)] * failures + [(1, True)] and failures >= 1


async def test_persistent_over_capacity_gives_up_after_max_retries(
    client: ImgurClient, emu: Emulator
) -> None:
    emu.faults.add("over_capacity_1203", path_prefix="/3/gallery")
    gate = Gate()
    with pytest.raises(OverCapacity):
        await client.get(sansio.gallery(), gate=gate)
    assert api_calls(emu) == 4  # max_retries=3 → 4 attempts
    assert gate.outcomes == [(1, False)] * 4


async def test_persistent_connection_reset_ends_as_server_error(
    client: ImgurClient, emu: Emulator
) -> None:
    emu.faults.add("connection_reset", path_prefix="/3/gallery")
    gate = Gate()
    with pytest.raises(ServerError) as caught:
        await client.get(sansio.gallery(), gate=gate)
    assert caught.value.status == 0 and gate.outcomes == [(1, False)] * 4
    # 4 attempts; aiohttp itself re-sends a GET once when a reused keep-alive connection
    # turns out dropped (RFC 9112 §9.3.1), so the emulator may see up to two per attempt.
    assert 4 <= api_calls(emu) <= 8


async def test_retry_budget_bounds_total_time(emu: Emulator) -> None:
    emu.faults.add("error_500", path_prefix="/3/gallery")
    settings = fast_settings(
        max_retries=10, backoff_base_s=0.2, backoff_max_s=0.2, retry_budget_s=0.3
    )
    async with make_client(emu, settings, CacheSettings(), secrets()) as c:
        with pytest.raises(ServerError):
            await c.get(sansio.gallery())
    assert api_calls(emu) < 11


@pytest.mark.parametrize(("max_retries", "attempts"), [(0, 1), (1, 2)])
async def test_max_retries_counts_the_first_attempt_too(
    emu: Emulator, max_retries: int, attempts: int
) -> None:
    emu.faults.add("error_500", path_prefix="/3/gallery")
    settings = fast_settings(max_retries=max_retries)
    async with make_client(emu, settings, CacheSettings(), secrets()) as c:
        with pytest.raises(ServerError):
            await c.get(sansio.gallery())
    assert api_calls(emu) == attempts


async def test_a_spent_retry_budget_stops_after_the_first_attempt(emu: Emulator) -> None:
    # The first attempt alone outlasts the budget: no retry, as if tenacity had timed it.
    emu.faults.add("latency", path_prefix="/3/gallery", times=1, seconds=0.2)
    emu.faults.add("error_500", path_prefix="/3/gallery")
    settings = fast_settings(max_retries=5, retry_budget_s=0.1)
    async with make_client(emu, settings, CacheSettings(), secrets()) as c:
        with pytest.raises(ServerError):
            await c.get(sansio.gallery())
    assert api_calls(emu) == 1


async def test_html_404_is_not_found_and_not_retried(client: ImgurClient, emu: Emulator) -> None:
    emu.faults.add("html_404", path_prefix="/3/image")
    with pytest.raises(NotFound):
        await client.get(sansio.image("AbCdEf1"))
    assert api_calls(emu) == 1


async def test_json_404_is_not_found(client: ImgurClient) -> None:
    with pytest.raises(NotFound, match="Unable to find an image"):
        await client.get(sansio.image("Missing"))


@pytest.mark.parametrize("kind", ["truncated_json", "invalid_json", "empty_body"])
async def test_unreadable_bodies_are_bad_responses(
    client: ImgurClient, emu: Emulator, kind: str
) -> None:
    emu.faults.add(kind, path_prefix="/3/gallery", times=1)
    gate = Gate()
    with pytest.raises(BadResponse):
        await client.get(sansio.gallery(), gate=gate)
    assert api_calls(emu) == 1 and gate.outcomes == [(1, False)]


async def test_missing_rate_headers_are_tolerated(client: ImgurClient, emu: Emulator) -> None:
    seen: list[RateLimits] = []
    client.add_listener(lambda limits, req, status: seen.append(limits))
    emu.faults.add("missing_rate_headers", path_prefix="/3/gallery", times=1)
    assert await client.get(sansio.gallery())
    assert seen == [RateLimits()] and seen[0].empty


@pytest.mark.parametrize("kind", ["user_reset_epoch", "user_reset_relative"])
async def test_user_reset_epoch_or_relative_gives_the_same_moment(emu: Emulator, kind: str) -> None:
    seen: list[RateLimits] = []
    # The emulator's clock is real time here, so the client's must be too.
    async with make_client(emu, fast_settings(), CacheSettings(), secrets()) as real_time_client:
        real_time_client.add_listener(lambda limits, req, status: seen.append(limits))
        emu.faults.add(kind, path_prefix="/3/gallery", times=1)
        await real_time_client.get(sansio.gallery())
    [limits] = seen
    assert limits.user_reset is not None
    now = emu.config.clock.now()
    assert now < limits.user_reset <= now + timedelta(hours=1, seconds=5)


async def test_listener_hears_every_response_including_errors(
    client: ImgurClient, emu: Emulator
) -> None:
    heard: list[tuple[str, int]] = []

    async def listener(limits: RateLimits, req: Request, status: int) -> None:
        heard.append((req.path, status))

    client.add_listener(listener)
    client.add_listener(lambda *_: 1 / 0)  # a broken listener changes nothing
    emu.faults.add("error_500", path_prefix="/3/gallery", times=1)
    await client.get(sansio.gallery())
    with pytest.raises(NotFound):
        await client.get(sansio.image("Missing"))
    assert heard == [
        ("/3/gallery/hot/viral/day/0", 500),
        ("/3/gallery/hot/viral/day/0", 200),
        ("/3/image/Missing", 404),
    ]


# ---------------------------------------------------------------------------------------
# 429s, uploads and the gate


async def test_429_is_not_retried_and_passes_through_the_gate(
    client: ImgurClient, emu: Emulator
) -> None:
    emu.faults.add("rate_limited_429", path_prefix="/3/gallery", scope="client")
    gate = Gate()
    with pytest.raises(RateLimited) as caught:
        await client.get(sansio.gallery(), gate=gate)
    assert api_calls(emu) == 1
    assert gate.outcomes == [(1, False)]  # it reached Imgur: the ledger reconciles it
    assert gate.failures and isinstance(gate.failures[0], RateLimited)
    assert caught.value.scope == "client"  # "Daily client requests exceeded"


@pytest.mark.parametrize("shape", ["classic", "errors"])
async def test_real_client_limit_in_both_429_shapes(emu: Emulator, shape: str) -> None:
    emu.config.rate_limit_429_shape = shape
    emu.config.client_daily_limit = 1
    async with make_client(emu, fast_settings(), CacheSettings(), secrets()) as c:
        await c.get(sansio.gallery())
        with pytest.raises(RateLimited) as caught:
            await c.get(sansio.gallery_search("cats"))
    # The errors[] body says only "Too Many Requests": the headers tell the scope.
    assert caught.value.scope == "client"
    assert api_calls(emu) == 2


async def test_real_user_limit_gives_user_scope_with_reset(emu: Emulator) -> None:
    emu.config.user_hourly_limit = 2
    async with make_client(emu, fast_settings(), CacheSettings(enabled=False), secrets()) as c:
        await c.get(sansio.gallery())
        await c.get(sansio.gallery())
        with pytest.raises(RateLimited) as caught:
            await c.get(sansio.gallery())
    assert caught.value.scope == "ip"
    assert caught.value.resets_at is not None


async def test_upload_is_never_retried(client: ImgurClient, emu: Emulator) -> None:
    emu.faults.add("error_500", path_prefix="/3/image", method="POST")
    gate = Gate()
    with pytest.raises(ServerError):
        await client.get(sansio.upload(), body=PNG, gate=gate)
    assert api_calls(emu) == 1 and gate.outcomes == [(10, False)]
    emu.faults.clear()
    emu.faults.add("connection_reset", path_prefix="/3/image", method="POST")
    with pytest.raises(ServerError):
        await client.get(sansio.upload(), body=PNG, gate=gate)
    assert api_calls(emu) == 2 and gate.outcomes == [(10, False), (10, False)]


async def test_upload_throttle_is_an_upload_rate_limit(emu: Emulator) -> None:
    emu.config.upload_hourly_limit = 1
    async with make_client(emu, fast_settings(), CacheSettings(), secrets()) as c:
        await c.get(sansio.upload(), body=PNG)
        gate = Gate()
        with pytest.raises(RateLimited) as caught:
            await c.get(sansio.upload(), body=PNG, gate=gate)
    assert caught.value.scope == "upload" and caught.value.resets_at is not None
    assert gate.outcomes == [(10, False)]


async def test_gate_settles_one_credit_per_successful_call(client: ImgurClient) -> None:
    gate = Gate()
    await client.get(sansio.gallery(), gate=gate)
    await client.get(sansio.gallery_search("dogs"), gate=gate)
    assert gate.settled == [1, 1] and [r.kind for r in gate.entered] == ["frontpage", "search"]


# ---------------------------------------------------------------------------------------
# Cache, coalescing, stale


async def test_concurrent_identical_gets_make_one_call(client: ImgurClient, emu: Emulator) -> None:
    emu.faults.add("latency", path_prefix="/3/gallery", times=1, seconds=0.2)
    gate = Gate()
    results = await asyncio.gather(*(client.get(sansio.gallery(), gate=gate) for _ in range(25)))
    assert emu.stats.calls("gallery") == 1
    assert len(gate.entered) == 1 and gate.settled == [1]
    assert all([i.id for i in r] == [i.id for i in results[0]] for r in results)


async def test_followers_get_the_leaders_exception(client: ImgurClient, emu: Emulator) -> None:
    emu.faults.add("latency", path_prefix="/3/image", times=1, seconds=0.1)
    outcomes = await asyncio.gather(
        *(client.get(sansio.image("Missing")) for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(o, NotFound) for o in outcomes)
    assert emu.stats.calls("image.get") == 1


async def test_cache_hit_makes_no_call_until_the_ttl_passes(
    client: ImgurClient, emu: Emulator, clock: FakeClock
) -> None:
    gate = Gate()
    first = await client.fetch(sansio.gallery(), gate=gate)
    clock.advance(599)
    second = await client.fetch(sansio.gallery(), gate=gate)
    assert not first.from_cache and second.from_cache and not second.stale
    assert second.age_s(clock.now()) == 599
    assert emu.stats.calls("gallery") == 1 and len(gate.entered) == 1
    clock.advance(2)  # front page TTL is 10 minutes
    third = await client.fetch(sansio.gallery(), gate=gate)
    assert not third.from_cache and emu.stats.calls("gallery") == 2


async def test_per_kind_ttls(client: ImgurClient, emu: Emulator, clock: FakeClock) -> None:
    await client.get(sansio.memegen_defaults())
    await client.get(sansio.tags())
    clock.advance(86_399)
    await client.get(sansio.memegen_defaults())
    await client.get(sansio.tags())
    assert emu.stats.calls("memegen.defaults") == 1 and emu.stats.calls("tags") == 1
    clock.advance(2)
    await client.get(sansio.tags())
    assert emu.stats.calls("tags") == 2


async def test_failed_responses_are_not_cached(client: ImgurClient, emu: Emulator) -> None:
    emu.faults.add("truncated_json", path_prefix="/3/gallery", times=1)
    with pytest.raises(BadResponse):
        await client.get(sansio.gallery())
    assert await client.get(sansio.gallery())
    assert emu.stats.calls("gallery") == 2


async def test_use_cache_false_goes_to_imgur(client: ImgurClient, emu: Emulator) -> None:
    await client.fetch(sansio.gallery())
    fresh = await client.fetch(sansio.gallery(), use_cache=False)
    assert not fresh.from_cache and emu.stats.calls("gallery") == 2


async def test_lru_bound_evicts_the_oldest(emu: Emulator) -> None:
    async with make_client(emu, fast_settings(), CacheSettings(max_entries=2), secrets()) as c:
        for q in ("a", "b", "c"):
            await c.get(sansio.gallery_search(q))
        assert c.peek(sansio.gallery_search("a")) is None
        assert c.peek(sansio.gallery_search("c")) is not None


async def test_stale_entry_served_when_the_gate_refuses(
    client: ImgurClient, emu: Emulator, clock: FakeClock
) -> None:
    await client.get(sansio.gallery())
    clock.advance(3600)
    refusing = Gate(refuse=True)
    stale = await client.fetch(sansio.gallery(), gate=refusing)
    assert stale.stale and stale.from_cache and stale.age_s(clock.now()) == 3600
    assert emu.stats.calls("gallery") == 1
    with pytest.raises(QuotaExceeded):
        await client.get(sansio.gallery_search("never asked before"), gate=refusing)


@pytest.mark.parametrize("kind", ["rate_limited_429", "over_capacity_403", "connection_reset"])
async def test_stale_entry_served_when_imgur_fails(
    client: ImgurClient, emu: Emulator, clock: FakeClock, kind: str
) -> None:
    items = await client.get(sansio.gallery())
    clock.advance(3600)
    emu.faults.add(kind, path_prefix="/3/gallery")
    gate = Gate()
    stale = await client.fetch(sansio.gallery(), gate=gate)
    assert stale.stale
    assert [i.id for i in stale.parse(models.parse_gallery)] == [i.id for i in items]
    # The ledger still saw every attempt fail (a 429 is not retried).
    assert len(gate.failures) == (1 if kind == "rate_limited_429" else 4)


async def test_stale_entries_expire_after_keep_stale(emu: Emulator, clock: FakeClock) -> None:
    cache = CacheSettings(keep_stale_s=100)
    async with make_client(emu, fast_settings(), cache, secrets(), clock=clock) as c:
        await c.get(sansio.gallery())
        clock.advance(600 + 101)
        assert c.peek(sansio.gallery()) is None
        with pytest.raises(QuotaExceeded):
            await c.fetch(sansio.gallery(), gate=Gate(refuse=True))


async def test_timeout_is_retried_then_served_stale(emu: Emulator, clock: FakeClock) -> None:
    settings = fast_settings(total_timeout_s=0.15, max_retries=1)
    async with make_client(emu, settings, CacheSettings(), secrets(), clock=clock) as c:
        with pytest.raises(ServerError, match="did not answer"):
            emu.faults.add("latency", path_prefix="/3/credits", times=2, seconds=0.5)
            await c.get(sansio.credits())
        await c.get(sansio.gallery())
        clock.advance(700)
        emu.faults.add("latency", path_prefix="/3/gallery", times=2, seconds=0.5)
        fetched = await c.fetch(sansio.gallery())
        assert fetched.stale


async def test_parsed_models_are_memoised_per_cache_entry(client: ImgurClient) -> None:
    first = await client.fetch(sansio.gallery())
    second = await client.fetch(sansio.gallery())
    a, b = first.parse(models.parse_gallery), second.parse(models.parse_gallery)
    assert a is not b and a[0] is b[0]  # same models, separate lists
    a.clear()
    assert second.parse(models.parse_gallery)


# ---------------------------------------------------------------------------------------
# OAuth, commercial mode, secrets, lifetime


async def test_bearer_refreshes_once_after_expiry(emu: Emulator) -> None:
    with_refresh = secrets(imgur_refresh_token=REFRESH)
    async with make_client(emu, fast_settings(), CacheSettings(enabled=False), with_refresh) as c:
        me = await c.get(sansio.account("me"))
        assert me.username == emu.config.oauth_username
        assert emu.stats.calls("oauth.token") == 1
        emu.expire_tokens()
        gate = Gate()
        assert isinstance(await c.get(sansio.account_submissions("me"), gate=gate), list)
        assert emu.stats.calls("oauth.token") == 2
        # The 403 (uncertain) and the retried call (certain); the refresh is free.
        assert gate.outcomes == [(1, False), (1, True)]


async def test_bearer_refresh_happens_only_once_per_call(emu: Emulator) -> None:
    with_refresh = secrets(imgur_refresh_token=REFRESH)
    async with make_client(emu, fast_settings(), CacheSettings(enabled=False), with_refresh) as c:
        await c.get(sansio.account("me"))
        emu.faults.add("token_invalid_403", path_prefix="/3/account")
        with pytest.raises(AuthError):
            await c.get(sansio.account("me"))
    assert emu.stats.calls("oauth.token") == 2


async def test_without_a_refresh_token_me_is_refused(client: ImgurClient) -> None:
    with pytest.raises(AuthError):
        await client.get(sansio.account("me"))


async def test_commercial_mode_sends_rapidapi_headers(emu: Emulator) -> None:
    emu.config.rapidapi_key = "rapid-key-1234"
    settings = fast_settings(commercial=True)
    async with make_client(
        emu, settings, CacheSettings(), secrets(rapidapi_key="rapid-key-1234")
    ) as c:
        assert await c.get(sansio.gallery())
    async with make_client(
        emu, settings, CacheSettings(), secrets(rapidapi_key="wrong-key-9999")
    ) as c:
        with pytest.raises(AuthError):
            await c.get(sansio.gallery())


async def test_secrets_never_show(emu: Emulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    all_secrets = secrets(imgur_refresh_token=REFRESH)
    async with make_client(emu, fast_settings(), CacheSettings(), all_secrets) as c:
        emu.faults.add("token_invalid_403", path_prefix="/3/account")
        with pytest.raises(AuthError) as caught:
            await c.get(sansio.account("me"))
        text = " ".join([repr(c), str(caught.value), repr(caught.value), caplog.text])
        text += repr(sansio.refresh_token(REFRESH, CLIENT_ID, CLIENT_SECRET))
    for secret in (CLIENT_ID, CLIENT_SECRET, REFRESH):
        assert secret not in text


async def test_a_given_session_is_not_closed(emu: Emulator) -> None:
    async with aiohttp.ClientSession() as session:
        c = make_client(emu, fast_settings(), CacheSettings(), secrets(), session=session)
        assert await c.get(sansio.gallery())
        await c.close()
        assert not session.closed
    transport = AiohttpTransport(None, fast_settings())
    own = ImgurClient(transport, fast_settings(), CacheSettings(), secrets(), base_url=emu.base_url)
    await own.get(sansio.gallery())
    session = transport._session
    await own.close()
    assert session is not None and session.closed


async def test_missing_client_id_is_an_auth_error_without_a_call(emu: Emulator) -> None:
    async with make_client(emu, fast_settings(), CacheSettings(), Secrets()) as c:
        gate = Gate()
        with pytest.raises(AuthError):
            await c.get(sansio.gallery(), gate=gate)
    assert api_calls(emu) == 0 and gate.entered == []


async def test_peek_and_fetched_shape(client: ImgurClient) -> None:
    assert client.peek(sansio.gallery()) is None
    assert client.peek(sansio.delete_image("abc")) is None
    fetched = await client.fetch(sansio.gallery())
    assert isinstance(fetched, Fetched) and isinstance(fetched.data, list)
    peeked = client.peek(sansio.gallery())
    assert peeked is not None and peeked.from_cache and not peeked.stale
