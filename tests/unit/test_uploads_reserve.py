"""An album's uploads are reserved in the ledger together, before the first is sent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from bot.clock import FakeClock
from bot.config import LedgerSettings, StoreSettings
from bot.errors import QuotaExceeded
from bot.imgur.errors import RateLimited, UploadRejected
from bot.ledger import Ledger
from bot.store import Store
from bot.uploads.service import ReservedUploads

GUILD, ALICE = 7, 70


@dataclass(frozen=True)
class FakeRequest:
    kind: str
    cost: int
    method: str = "POST"


UPLOAD = FakeRequest("upload", 10)
ALBUM = FakeRequest("write", 1)


@pytest.fixture
async def ledger(tmp_path):
    store = await Store.open(StoreSettings(path=tmp_path / "ledger.db"))
    ledger = await Ledger.open(store, LedgerSettings(guild_uploads_per_hour=3), clock=FakeClock())
    yield ledger
    await ledger.close()
    await store.close()


async def rows(ledger) -> list[tuple]:
    await ledger.flush()
    found = await ledger.store.fetch(
        "SELECT user_id, kind, cost, state FROM ledger_charges ORDER BY id"
    )
    return [(r["user_id"], r["kind"], r["cost"], r["state"]) for r in found]


async def test_uploads_are_reserved_up_front_and_used_one_per_upload(ledger):
    async with ReservedUploads(ledger, GUILD, ALICE, "upload", 2) as gate:
        assert (await ledger.guild_status(GUILD)).used == 20  # both held before any call
        for _ in range(2):
            async with gate(UPLOAD) as meter:
                meter.settle(10)
        async with gate(ALBUM) as meter:  # not an upload: charged as it comes
            meter.settle(1)
    assert await rows(ledger) == [
        (ALICE, "upload", 10, "settled"),  # every file is the member's (a call each)
        (ALICE, "upload", 10, "settled"),
        (None, "write", 1, "settled"),
    ]


async def test_more_uploads_than_the_hour_allows_are_refused_whole(ledger):
    with pytest.raises(QuotaExceeded) as caught:
        async with ReservedUploads(ledger, GUILD, ALICE, "upload", 4):
            pytest.fail("nothing may be sent")
    assert caught.value.scope == "guild_upload"
    assert [r[2] for r in await rows(ledger)] == [0, 0, 0]  # granted, then given back
    assert (await ledger.guild_status(GUILD)).used == 0


async def test_reservations_left_unused_are_given_back(ledger):
    async with ReservedUploads(ledger, GUILD, ALICE, "upload", 3) as gate:
        async with gate(UPLOAD) as meter:
            meter.settle(10)
    assert [r[2:] for r in await rows(ledger)] == [
        (10, "settled"), (0, "refunded"), (0, "refunded"),
    ]  # fmt: skip


async def test_a_failed_upload_is_settled_as_the_ledger_settles_any_failure(ledger):
    async with ReservedUploads(ledger, GUILD, ALICE, "upload", 2) as gate:
        with pytest.raises(UploadRejected):
            async with gate(UPLOAD):
                raise UploadRejected("File is over the size limit")  # Imgur answered
        with pytest.raises(RateLimited):
            async with gate(UPLOAD):
                wait = datetime(2026, 1, 1, 1, tzinfo=UTC)  # "Please wait 60 more minutes."
                raise RateLimited("You are uploading too fast", scope="upload", resets_at=wait)
    # Counted (uncertain) until Imgur's own figures say otherwise; the 429 stops uploads.
    assert [r[2:] for r in await rows(ledger)] == [(10, "uncertain"), (10, "uncertain")]
    assert "upload" in ledger.health().breakers_open
