"""The uploads table: what is listed, what deleting keeps, and a deletehash never in a repr.
Also the client's ``forget``: a deleted upload's cached answers go, fresh or stale."""

from __future__ import annotations

import pytest

from bot.clock import FakeClock
from bot.config import CacheSettings, ImgurSettings, Secrets
from bot.imgur import sansio
from bot.imgur.client import HttpResponse, ImgurClient
from bot.uploads.records import UPLOADS, NewUpload, UploadRecords

ALICE, BOB, GUILD = 1, 2, 10


def new(imgur_id: str, *, user: int = ALICE, guild: int | None = GUILD, kind="image", at=1.0):
    return NewUpload(
        guild_id=guild, user_id=user, channel_id=5, source_message_id=None, kind=kind,
        imgur_id=imgur_id, deletehash=f"secret{imgur_id}", link=f"https://i.imgur.com/{imgur_id}.png",
        page_url=f"https://imgur.com/{imgur_id}", name=f"{imgur_id}.png", media_type="image/png",
        size=100, created_at=at,
    )  # fmt: skip


@pytest.fixture
async def records(open_store):
    """On each engine in turn (``open_store`` closes it after the test)."""
    return UploadRecords(await open_store(migrations=[UPLOADS]))


async def test_a_listing_shows_a_members_live_uploads_newest_first_albums_once(records):
    single = await records.add(new("one", at=1))
    pictures = [await records.add(new(f"pic{n}", at=2)) for n in range(2)]
    album = await records.add(new("alb", kind="album", at=3))
    await records.put_in_album(album, pictures)
    elsewhere = await records.add(new("far", guild=None, at=4))
    gone = await records.add(new("gone", at=5))
    await records.add(new("bobs", user=BOB, at=6))
    await records.mark_deleted([gone], by=ALICE, at=7)
    assert [r.id for r in await records.listing(ALICE)] == [elsewhere, album, single]
    assert [r.id for r in await records.listing(ALICE, guild_id=GUILD)] == [album, single]
    assert [r.imgur_id for r in await records.album_images(album)] == ["pic0", "pic1"]


async def test_deleting_forgets_the_deletehash_and_keeps_who_and_when(records):
    row = await records.add(new("cat"))
    before = await records.get(row)
    assert before.deletehash == "secretcat" and not before.deleted
    await records.mark_deleted([row], by=BOB, at=9.5)
    await records.mark_deleted([row], by=ALICE, at=12.0)  # a second delete changes nothing
    after = await records.get(row)
    assert (after.deletehash, after.deleted_at, after.deleted_by) == (None, 9.5, BOB)
    assert await records.get(row + 1) is None


async def test_the_deletehash_is_never_in_a_repr(records):
    record = await records.get(await records.add(new("cat")))
    assert "secretcat" not in repr(record)
    assert "secretcat" not in repr(new("cat"))


class OneAnswer:
    """A transport that answers every call with the same image."""

    def __init__(self) -> None:
        self.sent = 0

    async def send(self, request):
        self.sent += 1
        body = b'{"data": {"id": "cat", "link": "https://i.imgur.com/cat.png"}, "success": true}'
        return HttpResponse(200, {"Content-Type": "application/json"}, body)

    async def close(self) -> None:
        pass


@pytest.mark.parametrize("age_s", [0, 3600 + 60])  # fresh, then stale but kept
async def test_forget_drops_a_cached_answer_fresh_or_stale(age_s):
    clock, transport = FakeClock(), OneAnswer()
    client = ImgurClient(
        transport, ImgurSettings(), CacheSettings(), Secrets(imgur_client_id="x"), clock=clock
    )
    await client.get(sansio.image("cat"))
    clock.advance(age_s)
    assert client.peek(sansio.image("cat")) is not None
    assert client.forget(sansio.image("cat"))
    assert client.peek(sansio.image("cat")) is None
    assert not client.forget(sansio.image("cat"))  # nothing left to forget
    await client.get(sansio.image("cat"))
    assert transport.sent == 2  # asked again, not served from the cache
