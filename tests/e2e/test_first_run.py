"""Going live, in process: commands published when they change, the invite link, who the
owners are, the health report, and what the demo catalogue says about itself.

The real bot (``open_bot``, as ``imgurbot run`` builds it) against the fake Discord and the
Imgur emulator. Restarts stop one bot and open the next on the same database.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import discord
import pytest

from bot.app import EXTENSIONS, ImgurBot, open_bot
from bot.clock import SystemClock
from bot.discord.paginator import DEMO_NOTE
from bot.health import Heartbeat, judge
from bot.invite import SHARED
from fakes.discord import FakeDiscord
from fakes.imgur.app import Emulator, EmulatorConfig

from .conftest import TOKEN, make_config

GLOBAL_SYNC = "/applications/{app}/commands"
# The top-level commands the extensions publish (slash groups and the context menu).
PUBLISHED = {"imgur", "imgur-admin", "meme", "highlights", "Upload to Imgur"}


@asynccontextmanager
async def running(config, extensions=EXTENSIONS) -> AsyncIterator[ImgurBot]:
    """One start of the bot, until the block ends (then it stops, as on SIGTERM)."""
    async with open_bot(config, extensions=extensions, guild_ready_timeout=0.05) as bot:
        task = asyncio.create_task(bot.start(TOKEN))
        try:
            await asyncio.wait_for(bot.wait_until_ready(), 15)
            yield bot
        finally:
            await bot.drain_and_close()
            await asyncio.wait_for(task, 10)


@pytest.fixture
async def fakes():
    async with FakeDiscord(token=TOKEN) as fd, Emulator(EmulatorConfig(seed=11)) as emu:
        guild = fd.add_guild("first-run")
        fd.add_channel(guild, "general")
        yield fd, emu, guild


def global_syncs(fd: FakeDiscord) -> int:
    return len(fd.requests("PUT", GLOBAL_SYNC.format(app=fd.application_id)))


async def test_commands_sync_globally_once_and_again_only_when_they_change(fakes, tmp_path, caplog):
    fd, emu, guild = fakes
    config = make_config(fd, emu, guild, tmp_path, DISCORD__DEV_GUILD_ID="")
    with caplog.at_level(logging.INFO, logger="bot.app"):
        async with running(config):
            pass
    assert global_syncs(fd) == 1
    assert {c["name"] for c in fd.synced_commands(None)} == PUBLISHED
    assert f"synced {len(PUBLISHED)} commands globally (may take a minute to show)" in caplog.text

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="bot.app"):
        async with running(config):
            pass
    assert global_syncs(fd) == 1  # the same commands: Discord's sync limit is not spent
    assert f"{len(PUBLISHED)} commands unchanged since the last sync globally" in caplog.text

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="bot.app"):
        async with running(config, extensions=("cogs.browse",)):  # an update dropped a cog
            pass
    assert global_syncs(fd) == 2
    assert [c["name"] for c in fd.synced_commands(None)] == ["imgur"]
    assert "synced 1 commands globally" in caplog.text


async def test_with_dev_guild_id_the_commands_go_to_that_server_only(fakes, tmp_path, caplog):
    fd, emu, guild = fakes
    config = make_config(fd, emu, guild, tmp_path)  # dev_guild_id = the test server
    with caplog.at_level(logging.INFO, logger="bot.app"):
        async with running(config):
            pass
        async with running(config):
            pass
    assert global_syncs(fd) == 0
    guild_syncs = fd.requests("PUT", f"/applications/{fd.application_id}/guilds/{guild.id}/")
    assert len(guild_syncs) == 1
    assert f"synced {len(PUBLISHED)} commands to guild {guild.id}" in caplog.text


async def test_the_start_logs_the_invite_link_with_the_scopes_and_exact_permissions(
    fakes, tmp_path, caplog
):
    fd, emu, guild = fakes
    with caplog.at_level(logging.INFO, logger="bot.app"):
        async with running(make_config(fd, emu, guild, tmp_path)):
            pass
    (line,) = [r.getMessage() for r in caplog.records if "invite the bot" in r.getMessage()]
    url = re.search(r"https://discord\.com/oauth2/authorize\S+", line).group(0)
    assert f"client_id={fd.application_id}" in url
    assert "scope=bot+applications.commands" in url
    # Answers need nothing; scheduled highlights are posts of their own, with embeds, and
    # are looked for in the channel's history after a crash.
    assert f"permissions={SHARED.value | (1 << 14) | (1 << 16)}" in url
    assert "View Channels, Send Messages, Embed Links, Read Message History" in line


# -- owners (ledger issue, item 5) ----------------------------------------------------------


async def admin_usage_answer(fd: FakeDiscord, user, channel) -> str:
    """What ``/imgur-admin usage`` shows ``user``: the usage embed's title, or the refusal."""
    record = await fd.slash("imgur-admin", "usage", user=user, channel=channel)
    await record.wait_done(timeout=15)
    message = await record.wait_until(lambda r: r.last_message, timeout=10)
    return message.embed["title"] if message.embeds else message.content


@pytest.mark.parametrize("listed", [None, "alice"])
async def test_the_application_owner_is_always_an_owner_and_owner_ids_add_to_it(
    fakes, tmp_path, listed
):
    fd, emu, guild = fakes
    channel = fd.add_channel(guild, "admin")
    alice, bob = fd.add_user("alice"), fd.add_user("bob")
    overrides = {"DISCORD__OWNER_IDS": f"[{alice.id}]"} if listed else {}
    async with running(make_config(fd, emu, guild, tmp_path, **overrides)):
        assert await admin_usage_answer(fd, fd.owner, channel) == "Imgur usage today"
        alice_sees = await admin_usage_answer(fd, alice, channel)
        if listed == "alice":
            assert alice_sees == "Imgur usage today"
        else:
            assert "Only the bot's owner" in alice_sees
        assert "Only the bot's owner" in await admin_usage_answer(fd, bob, channel)


# -- health ---------------------------------------------------------------------------------


async def test_health_report_says_connected_and_writable_then_what_broke(world, tmp_path):
    heartbeat = Heartbeat(world.bot, tmp_path / "health.json", 0.5, SystemClock())
    await heartbeat.start()
    try:
        report = await heartbeat.probe()
        assert report.gateway_connected and report.store_problem is None
        assert judge(report, report.at) == []

        # The database stops taking writes (as a full disk or a read-only remount would).
        await world.bot.store.run(lambda db: db.execute("PRAGMA query_only = 1"))
        report = await heartbeat.probe()
        (problem,) = judge(report, report.at)
        assert problem.startswith("the database refused a write:")
        assert "readonly" in problem
        await world.bot.store.run(lambda db: db.execute("PRAGMA query_only = 0"))

        # The gateway goes away.
        world.bot.dispatch("disconnect")
        await asyncio.sleep(0)
        report = await heartbeat.probe()
        assert judge(report, report.at + 2) == [
            "not connected to Discord's gateway (since 2 s ago)"
        ]
    finally:
        await heartbeat.stop()
    assert not (tmp_path / "health.json").exists()  # removed when the bot stops


# -- the demo catalogue, chosen on purpose ----------------------------------------------------


async def test_with_use_emulator_always_every_answer_says_it_is_the_demo(start_world):
    world = await start_world(IMGUR__USE_EMULATOR="always")
    record = await world.run("imgur", "frontpage")
    message = record.original
    assert message.content.startswith(DEMO_NOTE)
    first = message.embed["title"]
    click = await world.fd.click(message, label="▶", user=world.alice)
    await click.wait_done()
    assert message.embed["title"] != first and message.content.startswith(DEMO_NOTE)


async def test_answers_from_the_real_imgur_carry_no_demo_note(world):
    record = await world.run("imgur", "frontpage")
    assert DEMO_NOTE not in (record.original.content or "")


def test_shared_permissions_are_what_the_shared_code_does_outside_interactions():
    assert SHARED == discord.Permissions(view_channel=True, send_messages=True)


async def test_the_unused_voice_support_is_not_warned_about(fakes, tmp_path, caplog):
    fd, emu, guild = fakes
    discord.VoiceClient.warn_nacl = True  # as a fresh process starts
    with caplog.at_level(logging.WARNING):
        async with running(make_config(fd, emu, guild, tmp_path)):
            pass
    assert "voice will NOT be supported" not in caplog.text
