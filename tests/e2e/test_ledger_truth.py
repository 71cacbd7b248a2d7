"""The ledger's promise, end to end: it never counts fewer credits than Imgur did, it gives
back what Imgur shows it never counted, and one 429 does not close the bot for the day.

Each test reproduces a defect found by driving the real bot (fake Discord ⇄ bot ⇄
emulator) and reading both counts: the ledger's and the emulator's.
"""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime

from .helpers import private_text

RELATIVE_TIME = re.compile(r"<t:(\d+):R>")
FAST = {
    "IMGUR__MAX_RETRIES": "3",
    "IMGUR__BACKOFF_BASE_S": "0.01",
    "IMGUR__BACKOFF_MAX_S": "0.02",
    "LEDGER__RECONCILE_AFTER_S": "1",
}


def ledger_total(world) -> int:
    return world.bot.ledger.book.total


def imgur_total(world) -> int:
    return world.emu.stats.credits_charged


async def settle_down(world, seconds: float) -> None:
    """A quiet period: let Imgur finish what the bot gave up on, and the grace pass."""
    await world.bot.ledger.flush()
    await asyncio.sleep(seconds)


async def test_calls_imgur_counted_after_the_bot_gave_up_are_never_refunded(start_world):
    # The bot gives up after 0.3 s; Imgur answers (and counts) each try after 0.6 s.
    world = await start_world(IMGUR__TOTAL_TIMEOUT_S="0.3", **FAST)
    world.emu.faults.add("latency", path_prefix="/3/gallery/search", seconds=0.6)
    for n in range(3):
        record = await world.run("imgur", "search", query=f"slow {n}")
        assert "Imgur isn't answering" in await private_text(record)
        assert ledger_total(world) >= imgur_total(world)
    deadline = time.monotonic() + 5
    while imgur_total(world) < 12 and time.monotonic() < deadline:
        assert ledger_total(world) >= imgur_total(world)
        await asyncio.sleep(0.05)
    assert imgur_total(world) == 12  # four tries each, every one counted by Imgur
    assert ledger_total(world) == 12
    world.emu.faults.clear()

    await settle_down(world, 1.2)
    await world.run("imgur", "frontpage")
    assert ledger_total(world) == imgur_total(world) == 13  # nothing was released
    await world.bot.ledger.flush()
    states = await world.bot.store.run(
        lambda db: [r["state"] for r in db.query("SELECT state FROM ledger_charges ORDER BY id")]
    )
    assert states == ["uncertain"] * 12 + ["settled"]


async def test_retries_imgur_never_counted_are_given_back_after_its_next_count(start_world):
    world = await start_world(**FAST)
    world.emu.faults.add("error_500", path_prefix="/3/gallery/search")
    for n in range(3):
        record = await world.run("imgur", "search", query=f"outage {n}")
        assert "Imgur isn't answering" in await private_text(record)
    assert imgur_total(world) == 0
    # Until Imgur's own figures say otherwise, each try that reached it counts...
    assert ledger_total(world) == 12
    world.emu.faults.clear()

    # ...and the next answer that carries Imgur's count after a quiet period settles it.
    await settle_down(world, 1.2)
    await world.run("imgur", "frontpage")
    assert ledger_total(world) == imgur_total(world) == 1
    status = await world.bot.ledger.guild_status(int(world.guild.id))
    assert status.used == 1  # the server's allowance got its credits back
    await world.bot.ledger.flush()
    rows = await world.bot.store.run(
        lambda db: list(db.query("SELECT state, note FROM ledger_charges ORDER BY id"))
    )
    assert [r["state"] for r in rows] == ["reconciled"] * 12 + ["settled"]
    assert all("Imgur's count" in r["note"] for r in rows[:12])


async def test_one_bare_429_pauses_briefly_then_the_bot_asks_again(start_world):
    world = await start_world(LEDGER__SLOWDOWN_BASE_S="1", **FAST)
    world.emu.faults.add("rate_limited_429", path_prefix="/3/gallery", times=1)
    record = await world.run("imgur", "frontpage")
    text = await private_text(record)
    assert "rate-limiting" in text and RELATIVE_TIME.search(text)

    # Straight after: a new query is held back briefly, and told when to come back.
    record = await world.run("imgur", "search", query="cats")
    text = await private_text(record)
    assert "slow down" in text
    when = datetime.fromtimestamp(int(RELATIVE_TIME.search(text).group(1)), UTC)
    assert (when - datetime.now(UTC)).total_seconds() < 5  # not "until the day resets"

    await asyncio.sleep(1.1)
    record = await world.run("imgur", "search", query="cats")
    assert not record.original.ephemeral and record.original.embed["title"]
    usage = await world.bot.ledger.usage()
    assert usage.limit_hits_this_month == 0 and not usage.breakers


async def test_a_429_whose_headers_show_the_daily_limit_spent_is_a_hit(start_world):
    world = await start_world(**FAST)
    world.emu.faults.add("rate_limited_429_spent", path_prefix="/3/gallery", times=1)
    record = await world.run("imgur", "frontpage")
    assert RELATIVE_TIME.search(await private_text(record))
    record = await world.run("imgur", "search", query="dogs")
    assert "today's Imgur budget" in await private_text(record)
    usage = await world.bot.ledger.usage()
    assert usage.limit_hits_this_month == 1 and "client" in usage.breakers
