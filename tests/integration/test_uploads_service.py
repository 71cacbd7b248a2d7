"""The upload service against the Imgur emulator and the fake Discord's CDN, no bot.

Real store, ledger, Imgur client and sockets: what the cogs rely on, one layer down, where
failures are easy to arrange (a fault on the second upload, a refusal by the ledger).
"""

from __future__ import annotations

import io
import logging
import random
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from PIL import Image
from pydantic import SecretStr

from bot.access import ImgurAccess
from bot.clock import FakeClock
from bot.config import (
    CacheSettings,
    ImgurSettings,
    LedgerSettings,
    Secrets,
    UploadSettings,
)
from bot.errors import QuotaExceeded
from bot.imgur import sansio
from bot.imgur.aiohttp_transport import aiohttp_client
from bot.imgur.client import ImgurClient
from bot.imgur.errors import UploadRejected
from bot.ledger import Ledger
from bot.store import Store
from bot.uploads.media import MediaRejected, Refusal
from bot.uploads.service import (
    DeleteNotAllowed,
    FilesRefused,
    Incoming,
    NotFetched,
    TookTooLong,
    UploadIncomplete,
    UploadService,
    UploadUnknown,
)
from fakes.discord import FakeDiscord
from fakes.imgur import Emulator, EmulatorConfig

GUILD, ALICE, BOB = 10, 1, 2
LIMIT = 10 * 1024 * 1024


def picture(fmt: str = "PNG", size: tuple[int, int] = (64, 48), seed: int = 0) -> bytes:
    """Seeded noise: the same bytes every run; PNG and JPEG keep it large."""
    image = Image.frombytes("RGB", size, random.Random(seed).randbytes(size[0] * size[1] * 3))
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


@dataclass
class Env:
    emu: Emulator
    fd: FakeDiscord
    store: Store
    ledger: Ledger
    client: ImgurClient
    access: ImgurAccess
    service: UploadService
    temp_dir: Path

    def incoming(self, name: str, data: bytes, **options) -> Incoming:
        file = self.fd.add_attachment(name, data, "image/png", **options)
        return Incoming(file.url, name, len(data))

    async def upload(self, *files: Incoming, **options) -> object:
        where = {"guild_id": GUILD, "user_id": ALICE, "channel_id": 5, "size_limit": LIMIT}
        return await self.service.upload_attachments(list(files), **(where | options))

    async def charges(self) -> list[dict]:
        await self.ledger.flush()
        return await self.store.fetch(
            "SELECT guild_id, user_id, command, kind, cost, state FROM ledger_charges ORDER BY id"
        )

    async def rows(self) -> list[dict]:
        return await self.store.fetch("SELECT * FROM uploads ORDER BY id")


@pytest.fixture
def ledger_settings() -> LedgerSettings:
    """The ledger's settings (a test parametrizes this to tighten a limit)."""
    return LedgerSettings()


@pytest.fixture
async def env(tmp_path, ledger_settings, open_store) -> AsyncIterator[Env]:
    """The service on each engine in turn."""
    clock = FakeClock()
    temp_dir = tmp_path / "uploads"
    async with (
        Emulator(EmulatorConfig(seed=3, item_count=60)) as emu,
        FakeDiscord(token="t") as fd,
        aiohttp.ClientSession() as session,
    ):
        store = await open_store()
        ledger = await Ledger.open(store, ledger_settings, clock=clock)
        client = aiohttp_client(
            session,
            ImgurSettings(api_base_url=emu.base_url, max_retries=0),
            CacheSettings(),
            Secrets(imgur_client_id=SecretStr("uploads-test")),
            clock=clock,
        )
        client.add_listener(ledger.observe)
        access = ImgurAccess(client, ledger, clock=clock)
        with ThreadPoolExecutor(2) as executor:
            service = await UploadService.open(
                store, imgur=access, ledger=ledger, session=session, executor=executor,
                settings=UploadSettings(temp_dir=temp_dir), clock=clock,
            )  # fmt: skip
            try:
                yield Env(emu, fd, store, ledger, client, access, service, temp_dir)
            finally:
                await ledger.close()
        assert list(temp_dir.iterdir()) == []  # every temporary file is gone


# -- publish_bytes: the seam memes use ------------------------------------------------------


async def test_publish_bytes_uploads_charges_the_caller_and_records_the_deletehash(env):
    data = picture("JPEG", (120, 90))
    imgur = env.access.acting_for(GUILD, ALICE, "meme")
    published = await env.service.publish_bytes(
        imgur, data, filename="meme.jpg", mime="image/jpeg", title="Top text",
        description=None, guild_id=GUILD, user_id=ALICE, channel_id=5, source_message_id=None,
    )  # fmt: skip
    on_imgur = env.emu.data.images[published.imgur_id]
    assert (on_imgur.title, on_imgur.size, on_imgur.mime) == ("Top text", len(data), "image/jpeg")
    assert not published.is_album and published.link.endswith(f"{published.imgur_id}.jpg")
    assert published.files[0].width == 120
    (row,) = await env.rows()
    assert (row["id"], row["user_id"], row["guild_id"], row["kind"]) == (
        published.row_id, ALICE, GUILD, "image",
    )  # fmt: skip
    assert env.emu.data.by_deletehash[row["deletehash"]] is on_imgur
    assert "deletehash" not in repr(published)
    assert await env.charges() == [
        {"guild_id": GUILD, "user_id": ALICE, "command": "meme", "kind": "upload", "cost": 10,
         "state": "settled"},
    ]  # fmt: skip


async def test_publish_bytes_refuses_what_imgur_would_before_charging(env):
    imgur = env.access.acting_for(GUILD, ALICE, "meme")
    with pytest.raises(MediaRejected) as caught:
        await env.service.publish_bytes(
            imgur, b"%PDF-1.7 not a picture", filename="meme.png", mime="image/png",
            title=None, description=None, guild_id=GUILD, user_id=ALICE, channel_id=None,
            source_message_id=None,
        )  # fmt: skip
    assert caught.value.refusal is Refusal.UNKNOWN_TYPE
    assert await env.charges() == [] and env.emu.stats.credits_charged == 0


# -- several files: an album, reserved together ----------------------------------------------


async def test_several_files_become_an_album_of_their_images_in_order(env):
    files = [env.incoming(f"{n}.png", picture(seed=n)) for n in range(3)]
    published = await env.upload(*files, title="Trip", description="Three days")
    assert published.is_album and published.title == "Trip"
    album = env.emu.data.albums[published.imgur_id]
    assert (album.title, album.description) == ("Trip", "Three days")
    rows = await env.rows()
    assert album.image_ids == [r["imgur_id"] for r in rows[:3]]
    assert [f.name for f in published.files] == ["0.png", "1.png", "2.png"]
    assert published.link == published.page_url == f"{env.emu.base_url}/a/{album.id}"
    assert [(r["kind"], r["album_row"]) for r in rows] == [
        ("image", published.row_id), ("image", published.row_id), ("image", published.row_id),
        ("album", None),
    ]  # fmt: skip
    assert rows[-1]["id"] == published.row_id
    # Every file is the member's (one call each in their minute); the album is the server's.
    assert [(c["user_id"], c["kind"], c["cost"]) for c in await env.charges()] == [
        (ALICE, "upload", 10), (ALICE, "upload", 10), (ALICE, "upload", 10), (None, "write", 1),
    ]  # fmt: skip


@pytest.mark.parametrize("ledger_settings", [LedgerSettings(guild_uploads_per_hour=2)])
async def test_an_album_the_server_has_no_uploads_left_for_is_refused_before_imgur_is_asked(
    env,
):
    files = [env.incoming(f"{n}.png", picture(seed=n)) for n in range(3)]
    with pytest.raises(QuotaExceeded) as caught:
        await env.upload(*files)
    assert caught.value.scope == "guild_upload" and caught.value.resets_at is not None
    assert env.emu.stats.api_calls == 0
    # The two reservations that were granted were given back: nothing counts.
    assert sum(c["cost"] for c in await env.charges()) == 0
    assert await env.rows() == []
    # Two files still fit this hour.
    assert (await env.upload(*files[:2])).is_album


async def test_every_refused_file_is_named_and_nothing_is_charged(env):
    files = [
        env.incoming("fine.png", picture()),
        env.incoming("notes.png", b"just some text, not a picture at all"),
        env.incoming("empty.jpg", b""),
    ]
    with pytest.raises(FilesRefused) as caught:
        await env.upload(*files)
    words = str(caught.value)
    assert "`notes.png`" in words and "`empty.jpg`" in words and "fine.png" not in words
    assert [r.refusal for r in caught.value.refusals] == [Refusal.UNKNOWN_TYPE, Refusal.EMPTY]
    assert await env.charges() == [] and env.emu.stats.api_calls == 0


async def test_an_attachment_discord_no_longer_serves_is_said_so(env):
    with pytest.raises(NotFetched, match=r"`gone.png` from Discord \(Discord answered HTTP 404"):
        await env.upload(Incoming(f"{env.fd.cdn_url}/attachments/1/2/gone.png", "gone.png", 10))
    assert await env.charges() == []


# -- failing half-way ----------------------------------------------------------------------


async def test_a_failure_half_way_through_an_album_deletes_what_was_uploaded(env):
    small, big = picture(seed=1), picture(size=(200, 200), seed=2)
    env.emu.config.max_image_bytes = len(big) - 1  # Imgur refuses the second file
    files = [env.incoming("first.png", small), env.incoming("second.png", big),
             env.incoming("third.png", small)]  # fmt: skip
    with pytest.raises(UploadIncomplete) as caught:
        await env.upload(*files)
    assert isinstance(caught.value.cause, UploadRejected)
    assert str(caught.value) == (
        "`second.png` (file 2 of 3) did not reach Imgur, so I removed the 1 file already on "
        "Imgur: nothing was kept."
    )
    (first,) = await env.rows()
    assert first["deletehash"] is None and first["deleted_at"] is not None
    assert first["imgur_id"] not in env.emu.data.images
    assert env.emu.stats.calls("image.delete") == 1
    assert env.emu.stats.calls("album.create") == 0


async def test_what_could_not_be_cleaned_up_is_linked_and_stays_listed(env):
    small, big = picture(seed=1), picture(size=(200, 200), seed=2)
    env.emu.config.max_image_bytes = len(big) - 1
    env.emu.faults.add("error_500", path_prefix="/3/image/", method="DELETE")
    with pytest.raises(UploadIncomplete) as caught:
        await env.upload(env.incoming("first.png", small), env.incoming("second.png", big))
    (first,) = await env.rows()
    link = f"{env.emu.base_url}/{first['imgur_id']}.png"
    assert caught.value.left == [link]
    assert f"• <{link}>" in str(caught.value) and "/imgur uploads" in str(caught.value)
    assert first["imgur_id"] in env.emu.data.images
    assert [r.id for r in await env.service.listing(ALICE)] == [first["id"]]


async def test_an_upload_past_its_time_is_stopped_with_nothing_charged(env):
    env.service.settings = UploadSettings(timeout_s=0.3, temp_dir=env.temp_dir)
    slow = env.incoming("slow.png", picture(size=(100, 100)), bandwidth=20_000)
    with pytest.raises(TookTooLong, match=r"took longer than 0\.3 seconds, so I stopped it"):
        await env.upload(slow)
    assert await env.charges() == [] and env.emu.stats.api_calls == 0


# -- deleting ------------------------------------------------------------------------------


async def test_who_may_delete_an_upload(env):
    published = await env.upload(env.incoming("cat.png", picture()))
    row = published.row_id
    allowed = [
        {"actor_id": ALICE, "actor_guild_id": None, "may_manage": False},  # the uploader, anywhere
        {"actor_id": BOB, "actor_guild_id": GUILD, "may_manage": True},  # a moderator there
    ]
    refused = [
        {"actor_id": BOB, "actor_guild_id": GUILD, "may_manage": False},
        {"actor_id": BOB, "actor_guild_id": GUILD + 1, "may_manage": True},  # another server's
        {"actor_id": BOB, "actor_guild_id": None, "may_manage": True},
    ]
    for actor in allowed:
        assert (await env.service.deletable(row, **actor)).id == row
    for actor in refused:
        with pytest.raises(DeleteNotAllowed):
            await env.service.delete(row, **actor)
    assert published.imgur_id in env.emu.data.images
    with pytest.raises(UploadUnknown):
        await env.service.delete(row + 100, **allowed[0])


async def test_deleting_removes_it_from_imgur_and_from_the_bots_cache(env):
    published = await env.upload(env.incoming("cat.png", picture()))
    looked_up = env.access.acting_for(GUILD, BOB, "item")
    await looked_up.get(sansio.image(published.imgur_id))  # now cached
    assert env.client.peek(sansio.image(published.imgur_id)) is not None
    removal = await env.service.delete(
        published.row_id, actor_id=BOB, actor_guild_id=GUILD, may_manage=True
    )
    assert not removal.already
    assert published.imgur_id not in env.emu.data.images
    assert env.client.peek(sansio.image(published.imgur_id)) is None
    (row,) = await env.rows()
    assert (row["deletehash"], row["deleted_by"]) == (None, BOB)
    again = await env.service.delete(
        published.row_id, actor_id=ALICE, actor_guild_id=GUILD, may_manage=False
    )
    assert again.already and env.emu.stats.calls("image.delete") == 1
    # Deleting is the server's cost, not the member's minute.
    assert [(c["user_id"], c["command"]) for c in (await env.charges())[-1:]] == [
        (None, "delete-upload")
    ]


async def test_deleting_an_album_deletes_its_images_then_the_album(env):
    files = [env.incoming(f"{n}.png", picture(seed=n)) for n in range(2)]
    published = await env.upload(*files)
    image_ids = [r["imgur_id"] for r in await env.rows() if r["kind"] == "image"]
    await env.service.delete(
        published.row_id, actor_id=ALICE, actor_guild_id=GUILD, may_manage=False
    )
    assert published.imgur_id not in env.emu.data.albums
    assert not set(image_ids) & set(env.emu.data.images)
    assert all(r["deleted_at"] is not None for r in await env.rows())
    assert await env.service.listing(ALICE) == []


async def test_no_deletehash_reaches_the_logs(env, caplog):
    caplog.set_level(logging.DEBUG)
    files = [env.incoming(f"{n}.png", picture(seed=n)) for n in range(2)]
    published = await env.upload(*files)
    secrets = [r["deletehash"] for r in await env.rows()]
    assert len(secrets) == 3 and all(secrets)
    await env.service.delete(published.row_id, actor_id=ALICE, actor_guild_id=None,
                             may_manage=False)  # fmt: skip
    ours = [r for r in caplog.records if not r.name.startswith(("fakes", "aiohttp.access"))]
    assert ours  # the bot did log (debug lines included)
    logged = "\n".join(r.getMessage() + str(r.exc_info or "") for r in ours)
    assert not any(secret in logged for secret in secrets)
