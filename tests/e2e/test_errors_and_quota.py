"""When things go wrong: Imgur faults, spent quotas, cooldowns, owners, surprises.

Whatever fails, the member gets a short private sentence (with a Discord relative time
when the answer is "wait"), never a traceback, and the channel stays clean.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import UTC, datetime

import pytest

from bot.clock import FakeClock

from .helpers import item_id_of, private_text

RELATIVE_TIME = re.compile(r"<t:\d+:R>")


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("error_500", "Imgur isn't answering"),
        ("html_503", "over capacity"),  # Imgur's 503 page says it is over capacity
        ("connection_reset", "Imgur isn't answering"),
        ("over_capacity_403", "over capacity"),
        ("over_capacity_1203", "over capacity"),
        ("html_404", "Imgur has nothing there"),
        ("invalid_json", "couldn't read"),
        ("truncated_json", "couldn't read"),
        ("empty_body", "couldn't read"),
        ("rate_limited_429", "rate-limiting the bot"),
        ("token_invalid_403", "credentials"),
    ],
)
async def test_each_imgur_fault_becomes_a_private_sentence(world, fault, expected):
    world.emu.faults.add(fault, path_prefix="/3/gallery/search")
    record = await world.run("imgur", "search", query=f"cats {fault}")
    text = await private_text(record)
    assert expected in text
    assert "Traceback" not in text and "http" not in text
    assert not world.fd.channel_messages(world.sfw)  # nothing leaked into the channel


async def test_missing_rate_limit_headers_are_harmless(world):
    world.emu.faults.add("missing_rate_headers", path_prefix="/3/gallery")
    record = await world.run("imgur", "frontpage")
    assert not record.original.ephemeral and record.original.embed["title"]


async def test_a_slow_imgur_times_out_with_a_clear_message(start_world):
    world = await start_world(IMGUR__TOTAL_TIMEOUT_S="0.3", IMGUR__MAX_RETRIES="0")
    world.emu.faults.add("latency", path_prefix="/3/gallery", seconds=2)
    record = await world.run("imgur", "frontpage")
    assert "Imgur isn't answering" in await private_text(record)


async def test_spent_quota_serves_the_cache_stale_and_refuses_only_new_queries(start_world):
    clock = FakeClock(datetime.now(UTC))
    world = await start_world(clock=clock)
    fresh = await world.run("imgur", "frontpage")
    first_item = item_id_of(fresh.original)

    # The owner caps this server at what it has already used.
    capped = await world.run(
        "imgur-admin", "quota", "set", guild=str(world.guild.id), allowance=0, user=world.fd.owner
    )
    assert "now gets 0 credits a day" in await private_text(capped)

    clock.advance(11 * 60)  # past the front page's 10-minute TTL
    stale = await world.run("imgur", "frontpage")
    assert not stale.original.ephemeral
    assert stale.original.content.startswith("⏳ From 11 minutes ago")
    assert item_id_of(stale.original) == first_item

    refused = await world.run("imgur", "search", query="never asked before")
    text = await private_text(refused)
    assert "used its Imgur allowance for today" in text
    assert RELATIVE_TIME.search(text)


async def test_quota_command_shows_this_servers_credits(world):
    await world.run("imgur", "frontpage")
    record = await world.run("imgur", "quota")
    text = await private_text(record)
    assert re.search(r"\*\*[\d,]+\*\* of [\d,]+ Imgur credits left today \(used 1\)", text)
    assert RELATIVE_TIME.search(text)
    assert "healthy" in text


async def test_cooldown_answers_privately_with_when(start_world):
    world = await start_world(DISCORD__COOLDOWN_PER_USER_S="30")
    await world.run("imgur", "frontpage")
    again = await world.run("imgur", "frontpage")
    text = await private_text(again)
    assert text.startswith("Slow down a little") and RELATIVE_TIME.search(text)
    other = await world.run("imgur", "frontpage", user=world.bob)  # per user, not per guild
    assert not other.original.ephemeral


async def test_admin_commands_are_for_the_owner_only(world):
    denied = await world.run("imgur-admin", "usage", user=world.alice)
    assert "Only the bot's owner" in await private_text(denied)
    denied_set = await world.run(
        "imgur-admin", "quota", "set", guild=str(world.guild.id), allowance=5, user=world.alice
    )
    assert "Only the bot's owner" in await private_text(denied_set)
    assert (await world.bot.ledger.guild_status(world.guild.id)).override is None

    await world.run("imgur", "frontpage")
    usage = await world.run("imgur-admin", "usage", user=world.fd.owner)
    await usage.wait_until(lambda r: r.last_message and r.last_message.embeds)
    embed = usage.last_message.embed
    assert usage.last_message.ephemeral
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert str(world.guild.id) in fields["Busiest servers (1 active)"]
    assert fields["Breakers"] == "all closed"
    assert fields["Daily limit hits this month"].startswith("0 of 5")


async def test_bad_server_id_is_explained(world):
    record = await world.run(
        "imgur-admin", "quota", "set", guild="my server", allowance=5, user=world.fd.owner
    )
    assert "is not a server id" in await private_text(record)


async def test_unexpected_errors_show_an_id_and_log_it(world, caplog):
    async def explode(*args, **kwargs):
        raise RuntimeError("kaboom at /home/bot/secret/path")

    real = world.bot.imgur.acting_for

    def broken(*args, **kwargs):
        imgur = real(*args, **kwargs)
        imgur.get = explode
        return imgur

    world.bot.imgur.acting_for = broken
    with caplog.at_level(logging.ERROR, logger="bot.discord.tree"):
        record = await world.run("imgur", "frontpage")
        text = await private_text(record)
    match = re.search(r"error id `([0-9a-f]{8})`", text)
    assert match, text
    assert "kaboom" not in text and "secret" not in text
    (entry,) = [r for r in caplog.records if match.group(1) in r.getMessage()]
    assert entry.exc_info and "kaboom" in str(entry.exc_info[1])


async def test_a_broken_cog_is_logged_and_the_rest_still_load(start_world, caplog):
    with caplog.at_level(logging.ERROR, logger="bot.app"):
        world = await start_world(extensions=("cogs.browse", "cogs.does_not_exist", "cogs.admin"))
    assert "cogs.does_not_exist" in world.bot.failed_extensions
    assert any("cogs.does_not_exist" in r.getMessage() for r in caplog.records)
    record = await world.run("imgur", "frontpage")
    assert not record.original.ephemeral


async def test_shutdown_finishes_in_flight_commands_and_refuses_new_ones(world):
    world.emu.faults.add("latency", path_prefix="/3/gallery", seconds=0.6)
    slow = await world.fd.slash("imgur", "frontpage", user=world.alice, channel=world.sfw)
    await slow.wait_response()  # deferred, now waiting on Imgur
    assert world.bot.inflight.count == 1
    closing = asyncio.create_task(world.bot.drain_and_close())
    late = await world.fd.slash(
        "imgur", "search", options={"query": "x"}, user=world.bob, channel=world.sfw
    )
    assert "restarting" in await private_text(late)
    await slow.wait_done(timeout=10)
    assert not slow.original.ephemeral and slow.original.embed["title"]
    await asyncio.wait_for(closing, 15)
    assert world.bot.is_closed()


async def test_a_command_discord_still_shows_but_the_bot_dropped_gets_a_note(world, caplog):
    # Synced at start; then the bot loses the command without a new sync, as after an
    # update that removed it: Discord still offers it to members.
    world.bot.tree.remove_command("imgur-admin")
    world.bot.tree.remove_command("imgur-admin", guild=world.guild_object)
    with caplog.at_level(logging.WARNING, logger="bot.discord.tree"):
        record = await world.run("imgur-admin", "usage", user=world.fd.owner)
        text = await private_text(record)
    assert "commands are being updated" in text and "error id" not in text
    (entry,) = [r for r in caplog.records if "does not have" in r.getMessage()]
    assert entry.levelno == logging.WARNING and "/imgur-admin" in entry.getMessage()


async def test_interaction_tokens_never_reach_the_log_even_at_debug(world):
    import io

    from bot.config import LoggingSettings, Secrets
    from bot.logs import setup_logging

    stream = io.StringIO()
    setup_logging(LoggingSettings(level="DEBUG"), Secrets(), stream=stream)
    record = await world.run("imgur", "frontpage")
    click = await world.fd.click(record.original, label="▶", user=world.alice)
    await click.wait_done(timeout=10)
    await world.run("imgur", "search", query="zzqx nothing at all")  # a followup
    logged = stream.getvalue()
    tokens = [record.payload["token"], click.payload["token"]]
    assert "/interactions/" in logged and "/webhooks/" in logged  # the URLs were logged...
    assert "[redacted]" in logged
    for token in tokens:
        assert token not in logged  # ...without their tokens


async def test_a_database_that_cannot_be_written_gets_words_not_an_error_id(world):
    # As a read-only mount does it (a full disk is the same class: see test_store.py).
    await world.bot.store.run(lambda db: db.execute("PRAGMA query_only = 1"))
    record = await world.run("imgur", "search", query="cats")
    text = await private_text(record)
    assert "can't save anything right now" in text and "Nothing was lost" in text
    assert "error id" not in text
    assert world.emu.stats.api_calls == 0  # Imgur was not asked: nothing could be charged


async def test_a_skewed_clock_never_turns_private_errors_public(world, caplog):
    # Interaction ids carry a time 16 minutes before this host's clock: discord.py's
    # is_expired() says every interaction is too old, though Discord still takes answers.
    world.fd.snowflake_skew_s = -16 * 60
    world.fd.clock_skew_s = -16 * 60  # and Discord's Date headers say the same
    world.emu.faults.add("error_500", path_prefix="/3/gallery/search")
    with caplog.at_level(logging.WARNING, logger="bot.discord.clockskew"):
        record = await world.run("imgur", "search", query="cats")
        text = await private_text(record)
    assert "Imgur isn't answering" in text
    assert not world.fd.channel_messages(world.sfw)  # nothing public
    assert record.response is not None  # the interaction was acknowledged
    (warning,) = [r for r in caplog.records if "clock" in r.getMessage()]
    assert re.search(r"9[56]\d s ahead of Discord's", warning.getMessage())
