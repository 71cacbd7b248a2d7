"""The upload service against the Imgur emulator and the fake Discord's CDN, no bot.

Real store, ledger, Imgur client and sockets: what the cogs rely on, one layer down, where
failures are easy to arrange (a fault on the second upload, a refusal by the ledger).
"""

from __future__ import annotations

import io
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
    StoreSettings,
    UploadSettings,
)
from bot.imgur.aiohttp_transport import aiohttp_client
from bot.imgur.client import ImgurClient
from bot.ledger import Ledger
from bot.store import Store
from bot.uploads.media import MediaRejected, Refusal
from bot.uploads.service import (
    Incoming,
    UploadService,
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
async def env(tmp_path) -> AsyncIterator[Env]:
    clock = FakeClock()
    temp_dir = tmp_path / "uploads"
    async with (
        Emulator(EmulatorConfig(seed=3, item_count=60)) as emu,
        FakeDiscord(token="t") as fd,
        aiohttp.ClientSession() as session,
    ):
        store = await Store.open(StoreSettings(path=tmp_path / "bot.db"))
        ledger = await Ledger.open(store, LedgerSettings(), clock=clock)
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
                await store.close()
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
