"""Who may drive the emulator's admin API (/_emulator), and how the server treats sockets."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sys
from contextlib import AsyncExitStack

import aiohttp
import pytest

from fakes.imgur import Emulator, EmulatorConfig
from fakes.imgur.app import binds_beyond_loopback, warn_if_exposed

TOKEN = "admin-secret-4f1c"


@pytest.fixture
async def make_emu():
    async with AsyncExitStack() as stack:

        async def start(**config) -> Emulator:
            config.setdefault("item_count", 100)
            return await stack.enter_async_context(Emulator(EmulatorConfig(**config)))

        yield start


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


async def admin(http, emu, method, path, **kwargs):
    async with http.request(method, f"{emu.base_url}/_emulator{path}", **kwargs) as response:
        return response.status, await response.text()


# -- a page in a browser cannot drive it ------------------------------------------------------


async def test_a_text_plain_post_creates_no_fault(make_emu, http):
    emu = await make_emu()
    # What a cross-site <form enctype="text/plain"> or fetch(no-cors) can send.
    status, text = await admin(
        http,
        emu,
        "POST",
        "/faults",
        data='{"kind": "html_503"}',
        headers={"Content-Type": "text/plain"},
    )

    assert status == 415 and "Content-Type: application/json" in text
    assert emu.faults.active() == []


@pytest.mark.parametrize("path", ["/reset", "/expire_tokens", "/faults", "/settings"])
async def test_every_admin_write_needs_a_json_content_type(make_emu, http, path):
    emu = await make_emu()
    form = await admin(http, emu, "POST", path, data={"kind": "html_404"})
    bare = await admin(http, emu, "POST", path)

    assert form[0] == bare[0] == 415
    assert emu.faults.active() == []


async def test_a_foreign_host_header_is_refused_reads_and_writes(make_emu, http):
    emu = await make_emu()
    # DNS rebinding: the browser sends the attacker's name in Host.
    foreign = {"Host": f"attacker.example:{emu.port}"}
    read = await admin(http, emu, "GET", "/stats", headers=foreign)
    write = await admin(http, emu, "POST", "/faults", json={"kind": "html_503"}, headers=foreign)

    assert read[0] == write[0] == 403
    assert "127.0.0.1, localhost or [::1]" in read[1] and "--admin-token" in read[1]
    assert emu.faults.active() == []


@pytest.mark.parametrize(
    "host", ["127.0.0.1:{port}", "localhost:{port}", "localhost", "[::1]:{port}"]
)
async def test_loopback_host_headers_are_accepted(make_emu, http, host):
    emu = await make_emu()
    headers = {"Host": host.format(port=emu.port)}
    status, _ = await admin(
        http, emu, "POST", "/faults", json={"kind": "html_404"}, headers=headers
    )
    assert status == 201 and [f.kind for f in emu.faults.active()] == ["html_404"]


async def test_the_api_itself_is_not_guarded(make_emu, http):
    emu = await make_emu()
    async with http.get(
        f"{emu.base_url}/3/credits",
        headers={"Authorization": "Client-ID c", "Host": "imgur.example"},
    ) as response:
        assert response.status == 200


# -- with an admin token ------------------------------------------------------------------------


async def test_a_configured_token_is_required_and_unlocks_any_host(make_emu, http):
    emu = await make_emu(admin_token=TOKEN)
    foreign = {"Host": "emulator.internal:8089"}

    missing = await admin(http, emu, "GET", "/stats")  # loopback alone is not enough now
    wrong = await admin(http, emu, "GET", "/stats", headers={"Authorization": "Bearer nope"})
    bearer = await admin(
        http, emu, "GET", "/stats", headers={**foreign, "Authorization": f"Bearer {TOKEN}"}
    )
    own_header = await admin(
        http,
        emu,
        "POST",
        "/faults",
        json={"kind": "html_404"},
        headers={**foreign, "X-Emulator-Admin-Token": TOKEN},
    )

    assert missing[0] == wrong[0] == 401
    assert "admin token" in missing[1] and TOKEN not in missing[1] + wrong[1]
    assert bearer[0] == 200 and own_header[0] == 201


async def test_a_token_still_needs_json_for_writes(make_emu, http):
    emu = await make_emu(admin_token=TOKEN)
    status, _ = await admin(
        http, emu, "POST", "/reset", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert status == 415


def test_the_token_stays_out_of_the_config_repr():
    assert TOKEN not in repr(EmulatorConfig(admin_token=TOKEN))


async def test_the_command_line_takes_the_token_from_the_environment():
    env = {**os.environ, "IMGUR_EMULATOR_ADMIN_TOKEN": TOKEN}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fakes.imgur", "--port", "0", "--items", "100",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        line = (await asyncio.wait_for(process.stdout.readline(), timeout=15)).decode()
        url = re.search(r"http://127\.0\.0\.1:\d+", line)[0]
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{url}/_emulator/stats") as r:
                without = r.status
            headers = {"X-Emulator-Admin-Token": TOKEN}
            async with session.get(f"{url}/_emulator/stats", headers=headers) as r:
                with_token = r.status
    finally:
        process.terminate()
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=10)
    assert (without, with_token) == (401, 200)
    assert TOKEN.encode() not in stderr


# -- binding beyond loopback ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "exposed"),
    [
        ("127.0.0.1", False),
        ("localhost", False),
        ("::1", False),
        ("127.0.0.5", False),
        ("0.0.0.0", True),
        ("::", True),
        ("", True),
        ("192.168.1.20", True),
        ("emulator.internal", True),
    ],
)
def test_which_bind_addresses_count_as_beyond_loopback(host, exposed):
    assert binds_beyond_loopback(host) is exposed


def test_binding_beyond_loopback_warns_on_stderr_and_in_the_log(capsys, caplog):
    with caplog.at_level(logging.WARNING, logger="fakes.imgur"):
        warn_if_exposed("0.0.0.0", EmulatorConfig(admin_token=TOKEN))
        warn_if_exposed("127.0.0.1", EmulatorConfig())

    stderr = capsys.readouterr().err
    assert stderr.count("WARNING") == 1 and "0.0.0.0, beyond loopback" in stderr
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert TOKEN not in stderr + caplog.text


# -- idle connections ---------------------------------------------------------------------------


async def test_an_idle_keep_alive_connection_is_closed_by_the_server(make_emu):
    emu = await make_emu(keepalive_timeout=0.2)
    reader, writer = await asyncio.open_connection(emu.host, emu.port)
    try:
        writer.write(
            b"GET /3/credits HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Authorization: Client-ID c\r\nConnection: keep-alive\r\n\r\n"
        )
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: *(\d+)", head)[1])
        await reader.readexactly(length)
        assert b"connection: close" not in head.lower()  # kept alive, for now

        # Nothing more is sent: the server must hang up by itself (aiohttp's default
        # would keep the socket for an hour, and this wait would time out).
        rest = await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()
    assert rest == b""


def test_the_default_keep_alive_is_short_but_not_instant():
    assert 5 <= EmulatorConfig().keepalive_timeout <= 120
