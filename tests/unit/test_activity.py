"""Every call a cog makes reaches ``activity`` once, with its verdict and what it cost."""

from __future__ import annotations

import asyncio

import pytest
from scripted_imgur import ITEM, Script, client_over, error, ok

from bot.access import ImgurAccess
from bot.clock import FakeClock
from bot.config import CacheSettings, LedgerSettings, StoreSettings
from bot.errors import QuotaExceeded
from bot.imgur import sansio
from bot.imgur.errors import NoAnswer, NotFound
from bot.ledger import Ledger
from bot.store import Store


@pytest.fixture
async def ledger(tmp_path):
    clock = FakeClock()
    store = await Store.open(StoreSettings(path=tmp_path / "activity.db"))
    ledger = await Ledger.open(
        store, LedgerSettings(guild_uploads_per_hour=1000, user_burst_per_minute=1000), clock=clock
    )
    yield ledger, clock
    await ledger.close()
    await store.close()


async def test_each_call_is_reported_with_its_verdict_and_credits(ledger) -> None:
    ledger, clock = ledger
    script = Script(
        ok([ITEM]),
        NoAnswer("reset", may_have_reached=True),
        ok([ITEM]),
        error(404, "Unable to find an image with the id, Missing"),
    )
    client = client_over(script, clock, cache=CacheSettings())
    access = ImgurAccess(client, ledger, clock=clock)
    heard = []
    access.activity.watch(heard.append)
    imgur = access.acting_for(7, 8, "search")

    await imgur.get(sansio.gallery())  # sent
    await imgur.get(sansio.gallery())  # from the cache
    await imgur.get(sansio.gallery_search("cats"))  # a retry, then an answer
    with pytest.raises(NotFound):
        await imgur.get(sansio.image("Missing"))
    assert [(e.verdict, e.credits, e.attempts) for e in heard] == [
        ("imgur", 1, 1),
        ("cache", 0, 0),
        ("imgur", 2, 2),  # the unanswered try counts until Imgur's figures say otherwise
        ("failed", 1, 1),
    ]
    assert heard[0].guild_id == 7 and heard[0].user_id == 8 and heard[0].command == "search"
    assert heard[-1].detail == "NotFound" and list(access.activity.recent) == heard


async def test_refusals_and_coalesced_calls_are_reported_without_credits(ledger) -> None:
    ledger, clock = ledger
    await ledger.set_allowance(9, 0)
    hold = asyncio.Event()
    script = Script(hold, ok([ITEM]))
    access = ImgurAccess(client_over(script, clock), ledger, clock=clock)
    heard = []
    access.activity.watch(heard.append)
    with pytest.raises(QuotaExceeded):
        await access.acting_for(9, 1, "frontpage").get(sansio.gallery())
    leader = asyncio.create_task(access.acting_for(1, 1, "frontpage").get(sansio.gallery()))
    follower = asyncio.create_task(access.acting_for(2, 2, "frontpage").get(sansio.gallery()))
    await asyncio.sleep(0)
    hold.set()
    await asyncio.gather(leader, follower)
    assert [(e.verdict, e.credits, e.detail) for e in heard] == [
        ("refused", 0, "guild"),
        ("imgur", 1, ""),
        ("coalesced", 0, ""),
    ]
