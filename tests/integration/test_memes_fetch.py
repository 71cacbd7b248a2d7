"""The template fetcher against a local web server: what it downloads, and every way a link
could aim it at the bot's own machine or network, refused.

The server listens on 127.0.0.1. Names are resolved by an injected lookup (no DNS), so
``evil.example`` can resolve to 10.0.0.1 and ``templates.test`` to the local server.
"""

from __future__ import annotations

import io

import pytest
from aiohttp import web
from PIL import Image

from bot.memes.fetch import FetchFailed, FetchPolicy, FetchRefused, TemplateFetcher

CAP = 64 * 1024


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 10, 10)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
async def server():
    hits: list[str] = []

    async def image(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(body=png(), content_type="image/png")

    async def redirect(request: web.Request) -> web.Response:
        hits.append(request.path)
        raise web.HTTPFound(request.query["to"])

    async def loop(request: web.Request) -> web.Response:
        hits.append(request.path)
        raise web.HTTPFound("/loop")

    async def big_declared(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(body=bytes(CAP + 1), content_type="image/png")

    async def big_streamed(request: web.Request) -> web.StreamResponse:
        hits.append(request.path)
        response = web.StreamResponse()  # chunked: no Content-Length to judge by
        await response.prepare(request)
        try:
            for _ in range(64):  # 4 MiB if nobody stops reading
                await response.write(bytes(64 * 1024))
        except ConnectionError:
            hits.append("stopped")
        return response

    async def missing(request: web.Request) -> web.Response:
        return web.Response(status=404, text="no")

    app = web.Application()
    app.router.add_get("/image.png", image)
    app.router.add_get("/redirect", redirect)
    app.router.add_get("/loop", loop)
    app.router.add_get("/big-declared", big_declared)
    app.router.add_get("/big-streamed", big_streamed)
    app.router.add_get("/missing", missing)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        yield port, hits
    finally:
        await runner.cleanup()


def lookup_table(table: dict[str, list[str]]):
    asked: list[str] = []

    async def lookup(host: str, port: int) -> list[str]:
        asked.append(host)
        return table[host]

    lookup.asked = asked  # type: ignore[attr-defined]
    return lookup


async def fetch(policy: FetchPolicy, link: str, lookup=None):
    async with TemplateFetcher(policy, lookup=lookup or lookup_table({})) as fetcher:
        return await fetcher.fetch(link)


async def test_an_image_from_a_trusted_origin_is_downloaded(server):
    port, _ = server
    policy = FetchPolicy.build(extra_origins=[f"http://127.0.0.1:{port}"], max_bytes=CAP)
    fetched = await fetch(policy, f"http://127.0.0.1:{port}/image.png")
    assert fetched.data == png()
    assert fetched.content_type == "image/png"


async def test_the_same_link_is_refused_by_default_and_nothing_is_requested(server):
    port, hits = server
    with pytest.raises(FetchRefused, match="https"):
        await fetch(FetchPolicy.build(max_bytes=CAP), f"http://127.0.0.1:{port}/image.png")
    assert hits == []


async def test_the_connection_goes_to_the_address_that_was_checked(server):
    # templates.test exists only in the injected lookup: reaching the server at all proves
    # aiohttp connected to the address the guard looked up, and looked it up once.
    port, _ = server
    lookup = lookup_table({"templates.test": ["127.0.0.1"]})
    policy = FetchPolicy.build(extra_origins=[f"http://templates.test:{port}"], max_bytes=CAP)
    fetched = await fetch(policy, f"http://templates.test:{port}/image.png", lookup)
    assert fetched.data == png()
    assert lookup.asked == ["templates.test"]


@pytest.mark.parametrize(
    "addresses",
    [
        ["10.0.0.1"],
        ["127.0.0.1"],
        ["169.254.169.254"],
        ["::ffff:10.0.0.1"],
        ["8.8.8.8", "10.0.0.1"],
    ],
)
async def test_an_allowed_name_that_resolves_inside_is_refused_before_connecting(addresses):
    lookup = lookup_table({"evil.example": addresses})
    policy = FetchPolicy.build(["evil.example"], max_bytes=CAP)
    with pytest.raises(FetchRefused, match="resolves to a"):
        await fetch(policy, "https://evil.example/cat.png", lookup)
    assert lookup.asked == ["evil.example"]


@pytest.mark.parametrize(
    ("target", "words"),
    [
        ("https://10.0.0.1/x.png", "private address"),
        ("http://169.254.169.254/latest/meta-data/", "must be https"),
        ("https://169.254.169.254/latest/meta-data/", "link-local address"),
        ("https://[::1]/x.png", "loopback address"),
        ("https://internal.example/x.png", "must be on"),
    ],
)
async def test_a_redirect_off_the_list_is_refused(server, target, words):
    port, hits = server
    policy = FetchPolicy.build(extra_origins=[f"http://127.0.0.1:{port}"], max_bytes=CAP)
    with pytest.raises(FetchRefused, match="redirects somewhere not allowed") as refused:
        await fetch(policy, f"http://127.0.0.1:{port}/redirect?to={target}")
    assert words in str(refused.value)
    assert hits == ["/redirect"]


async def test_a_redirect_to_an_allowed_name_that_resolves_inside_is_refused(server):
    port, _ = server
    lookup = lookup_table({"i.imgur.com": ["10.0.0.1"]})
    policy = FetchPolicy.build(extra_origins=[f"http://127.0.0.1:{port}"], max_bytes=CAP)
    link = f"http://127.0.0.1:{port}/redirect?to=https://i.imgur.com/AbC1234.png"
    with pytest.raises(FetchRefused, match="resolves to a private address"):
        await fetch(policy, link, lookup)


async def test_a_redirect_within_the_list_is_followed(server):
    port, hits = server
    policy = FetchPolicy.build(extra_origins=[f"http://127.0.0.1:{port}"], max_bytes=CAP)
    fetched = await fetch(policy, f"http://127.0.0.1:{port}/redirect?to=/image.png")
    assert fetched.data == png()
    assert fetched.redirects == (f"http://127.0.0.1:{port}/image.png",)
    assert hits == ["/redirect", "/image.png"]


async def test_redirects_are_followed_only_so_many_times(server):
    port, hits = server
    policy = FetchPolicy.build(
        extra_origins=[f"http://127.0.0.1:{port}"], max_bytes=CAP, max_redirects=2
    )
    with pytest.raises(FetchRefused, match="redirects more than 2 times"):
        await fetch(policy, f"http://127.0.0.1:{port}/loop")
    assert hits == ["/loop"] * 3


async def test_a_body_declared_over_the_cap_is_refused_unread(server):
    port, _ = server
    policy = FetchPolicy.build(extra_origins=[f"http://127.0.0.1:{port}"], max_bytes=CAP)
    with pytest.raises(FetchRefused, match="larger than"):
        await fetch(policy, f"http://127.0.0.1:{port}/big-declared")


async def test_an_undeclared_body_is_cut_off_as_soon_as_it_passes_the_cap(server):
    port, _ = server
    policy = FetchPolicy.build(extra_origins=[f"http://127.0.0.1:{port}"], max_bytes=CAP)
    with pytest.raises(FetchRefused, match="larger than"):
        await fetch(policy, f"http://127.0.0.1:{port}/big-streamed")


async def test_an_error_status_is_a_failure_in_words(server):
    port, _ = server
    policy = FetchPolicy.build(extra_origins=[f"http://127.0.0.1:{port}"], max_bytes=CAP)
    with pytest.raises(FetchFailed, match="answered 404"):
        await fetch(policy, f"http://127.0.0.1:{port}/missing")


async def test_a_host_that_does_not_answer_is_a_failure_in_words(unused_tcp_port):
    policy = FetchPolicy.build(extra_origins=[f"http://127.0.0.1:{unused_tcp_port}"])
    with pytest.raises(FetchFailed, match="could not be downloaded"):
        await fetch(policy, f"http://127.0.0.1:{unused_tcp_port}/x.png")
