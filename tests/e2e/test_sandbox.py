"""The sandbox without a browser: its world, its API and the ``imgurbot sandbox`` process.

The page's own behaviour is in tests/browser; here are the parts a browser test would reach
slowly or not at all: skipping ahead to a scheduled post, a message menu on a member's
message with a file, who may drive the API, and the command's start and stop.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import signal
import socket

import aiohttp
import pytest
from aiohttp import web
from PIL import Image
from processes import assert_failure, finish, imgurbot_async, start

from bot.failures import ExitStatus
from bot.sandbox.server import build_app
from bot.sandbox.world import Refused, Sandbox


def picture() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (10, 120, 200)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
async def sandbox(tmp_path):
    async with Sandbox(data_dir=tmp_path, overrides={"DISCORD__COOLDOWN_PER_USER_S": "0"}) as sb:
        yield sb


@pytest.fixture
async def served(sandbox):
    runner = web.AppRunner(build_app(sandbox), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{runner.addresses[0][1]}") as http:
            yield http
    finally:
        await runner.cleanup()


async def answered(sandbox: Sandbox, interaction_id: str):
    record = sandbox.fd.world.interactions[interaction_id]
    return await record.wait_done(timeout=15)


async def test_skipping_ahead_makes_a_scheduled_highlight_arrive_now(sandbox):
    mod, general = sandbox.people.moderator, sandbox.general
    with pytest.raises(Refused, match="no highlights feed is scheduled"):
        await sandbox.skip(None)
    added = await sandbox.slash(
        mod.id,
        general.id,
        "highlights",
        ["add"],
        {"channel": general.id, "schedule": "daily 09:00"},
    )
    assert (await answered(sandbox, added)).content.startswith("Added a highlights feed")
    before = len(sandbox.fd.channel_messages(general))

    outcome = await sandbox.skip(None)

    assert 0 < outcome["skipped_s"] <= 86400 + 1
    assert outcome["ran"] == "1 feed(s) posted"
    posted = await sandbox.fd.wait_for_message(
        general, lambda m: m.interaction_id is None and m.embeds, timeout=15
    )
    assert len(sandbox.fd.channel_messages(general)) > before and posted.embeds[0]["url"]


async def test_a_message_menu_uploads_the_file_on_a_members_message(sandbox):
    member = sandbox.people.member
    file = sandbox.attach("mine.png", picture(), "image/png")
    message = await sandbox.post(member.id, sandbox.general.id, "look at this", [file.id])
    images_before = set(sandbox.emu.data.images)

    menu = await sandbox.message_command(member.id, message.id, "Upload to Imgur")
    await answered(sandbox, menu)

    new = set(sandbox.emu.data.images) - images_before
    assert len(new) == 1 and sandbox.emu.data.images[new.pop()].size == len(picture())


async def test_only_the_commands_a_member_may_use_are_offered(sandbox):
    def names(user, channel):
        return {c["name"] for c in sandbox.commands(user, channel)}

    people, general = sandbox.people, sandbox.general
    assert "highlights" not in names(people.member, general)  # needs Manage Server
    assert "highlights" in names(people.moderator, general)
    assert "imgur-admin" in names(people.owner, general)
    assert "Upload to Imgur" in names(people.member, general)  # the message menu


async def test_options_from_the_page_are_typed_or_refused_in_words(sandbox):
    member, general = sandbox.people.member, sandbox.general
    with pytest.raises(Refused, match="fill in query first"):
        await sandbox.slash(member.id, general.id, "imgur", ["search"], {})
    with pytest.raises(Refused, match="no option 'colour'"):
        await sandbox.slash(member.id, general.id, "imgur", ["search"], {"colour": "red"})
    with pytest.raises(Refused, match="not a choice"):
        await sandbox.slash(member.id, general.id, "imgur", ["search"], {"query": "a", "sort": "x"})
    with pytest.raises(Refused, match="attach a file first"):
        await sandbox.slash(member.id, general.id, "imgur", ["upload"], {"file": "123"})


async def test_the_api_answers_only_loopback_names_and_json_writes(served, sandbox):
    async with served.get("/", headers={"Host": "evil.example:8080"}) as refused:
        assert refused.status == 403
    body = {"user": sandbox.people.member.id, "channel": sandbox.general.id}
    async with served.post("/api/post", data=body) as form:  # what a foreign page could send
        assert form.status == 415
    async with served.post("/api/post", json={**body, "content": ""}) as empty:
        assert empty.status == 400
        assert (await empty.json())["error"] == "write something or attach a file"
    assert not sandbox.fd.channel_messages(sandbox.general)


async def test_the_live_feed_starts_with_the_world_and_follows_the_bot(served, sandbox):
    async with served.ws_connect("/ws") as ws:
        hello = json.loads((await ws.receive()).data)
        assert hello["kind"] == "hello"
        assert [c["name"] for c in hello["channels"]] == ["general", "after-dark"]
        assert [c["nsfw"] for c in hello["channels"]] == [False, True]
        assert [p["role"] for p in hello["people"]] == [
            "member", "member with Manage Server", "the bot's owner",
        ]  # fmt: skip
        async with served.post(
            "/api/slash",
            json={"user": sandbox.people.member.id, "channel": sandbox.general.id,
                  "name": "imgur", "path": ["search"], "options": {"query": "cats"}},
        ) as ran:  # fmt: skip
            assert ran.status == 200
        kinds, image = set(), None
        async with asyncio.timeout(15):
            while not {"imgur", "discord", "credits"} <= kinds or image is None:
                event = json.loads((await ws.receive()).data)
                kinds.add(event["kind"])
                if event["kind"] == "message" and event["message"]["embeds"]:
                    image = event["message"]["embeds"][0]["image"]["url"]
    # Links to the emulator come through the sandbox's own port.
    assert image.startswith("/emu/")
    async with served.get(image) as proxied:
        assert proxied.status == 200 and proxied.content_type.startswith("image/")
    async with served.get("/emu/_emulator/faults") as admin:  # media only, not the admin API
        assert admin.status == 404


async def test_imgurbot_sandbox_prints_its_address_serves_and_stops_on_ctrl_c():
    proc = await start("sandbox", "--port", "0")
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        url = re.search(r"open (http://127\.0\.0\.1:\d+/)", line)[1]
        async with aiohttp.ClientSession() as http:
            async with http.get(url) as page:
                assert page.status == 200 and "imgurbot sandbox" in await page.text()
            async with http.ws_connect(url + "ws") as live:  # a page stays open meanwhile
                assert json.loads((await live.receive()).data)["kind"] == "hello"
                proc.send_signal(signal.SIGINT)
                result = await finish(proc, 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert result.returncode == 0, result.output
    assert re.search(r"first command answered \d+\.\d\d s after start", result.stderr)
    assert "Traceback" not in result.output


async def test_a_port_in_use_is_said_in_words():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = await imgurbot_async("sandbox", "--port", str(port))
    assert_failure(result, ExitStatus.IN_USE, f"port {port} on 127.0.0.1 is already in use")
