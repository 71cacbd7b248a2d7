"""Uploads end to end: members attach files in the fake Discord, the genuine discord.py bot
fetches them from the fake CDN and streams them to the Imgur emulator.

What a member sees (the public link and embed, the private "Delete from Imgur" button,
progress, refusals) is read back from the fake Discord; what Imgur holds and counted from
the emulator; what the bot charged from the ledger's audit table.
"""

from __future__ import annotations

import io
import random
import zlib

from PIL import Image

SMALL = (64, 48)


# -- files ---------------------------------------------------------------------------------


def picture(fmt: str = "PNG", size: tuple[int, int] = SMALL, seed: int = 0) -> bytes:
    """Seeded noise: the same bytes every run, and as large as noise makes them."""
    image = Image.frombytes("RGB", size, random.Random(seed).randbytes(size[0] * size[1] * 3))
    if fmt == "GIF":
        image = image.convert("P")
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` × ``height``: a decompression bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data).to_bytes(4, "big")
        return len(data).to_bytes(4, "big") + kind + data + crc

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def mp4() -> bytes:
    """A minimal MP4: ftyp, a moov with a video track handler, and some frame bytes."""

    def box(kind: bytes, payload: bytes = b"") -> bytes:
        return (8 + len(payload)).to_bytes(4, "big") + kind + payload

    hdlr = box(b"hdlr", bytes(8) + b"vide" + bytes(12) + b"video\x00")
    moov = box(b"moov", box(b"trak", box(b"mdia", hdlr)))
    return box(b"ftyp", b"isom" + bytes(4) + b"isomiso2mp41") + moov + box(b"mdat", bytes(256))


# -- reading the world ---------------------------------------------------------------------


async def charges(world) -> list[dict]:
    await world.bot.ledger.flush()
    return await world.bot.store.fetch(
        "SELECT guild_id, user_id, command, kind, cost FROM ledger_charges ORDER BY id"
    )


async def uploads_rows(world) -> list[dict]:
    return await world.bot.store.fetch("SELECT * FROM uploads ORDER BY id")


def attach(world, name: str, data: bytes, content_type: str = "image/png", **options):
    return world.fd.add_attachment(name, data, content_type, **options)


async def upload(world, *files, user=None, **options):
    """``/imgur upload`` with ``files`` as file, file2...; waits for the final answer."""
    named = dict(zip(["file", "file2", "file3", "file4"], files, strict=False))
    return await world.run("imgur", "upload", user=user, **named, **options)


async def delete_button_message(record):
    """The uploader's private message holding "Delete from Imgur"."""

    def holder(r):
        return next((m for m in r.messages if m.ephemeral and m.buttons), None)

    return await record.wait_until(holder, timeout=10)


async def click_and_confirm(world, message, user):
    """Press "Delete from Imgur" on ``message`` as ``user``, then "Yes, delete it"."""
    asked = await world.fd.click(message, label="Delete from Imgur", user=user)
    await asked.wait_done(timeout=10)
    confirm = asked.last_message
    sure = await world.fd.click(confirm, label="Yes, delete it", user=user)
    await sure.wait_until(lambda r: not confirm.buttons, timeout=10)
    return confirm


# -- one file, several, the message menu ---------------------------------------------------


async def test_one_file_becomes_an_image_shown_in_the_channel(world):
    data = picture("PNG")
    record = await upload(world, attach(world, "cat.png", data), title="My cat")
    answer = record.original
    assert not answer.ephemeral
    (row,) = await uploads_rows(world)
    image_id = row["imgur_id"]
    on_imgur = world.emu.data.images[image_id]
    assert (on_imgur.title, on_imgur.size, on_imgur.mime) == ("My cat", len(data), "image/png")
    assert answer.content == f"<{world.emu.base_url}/{image_id}.png>"
    assert answer.embed["title"] == "My cat"
    assert answer.embed["image"]["url"].endswith(f"/{image_id}.png")
    assert answer.embed["footer"]["text"] == f"PNG · 64×48 · {len(data) / 1024:.1f} KB"
    holder = await delete_button_message(record)
    assert holder.ephemeral and "Only you can see this" in holder.content
    (button,) = holder.buttons
    assert button["label"] == "Delete from Imgur"
    # Ten credits, charged to the member; the deletehash is kept, never shown.
    assert await charges(world) == [
        {"guild_id": int(world.guild.id), "user_id": int(world.alice.id), "command": "upload",
         "kind": "upload", "cost": 10},
    ]  # fmt: skip
    deletehash = row["deletehash"]
    assert world.emu.data.by_deletehash[deletehash] is on_imgur
    for message in record.messages:
        assert deletehash not in str(message.content) + str(message.embeds) + str(message.buttons)


async def test_the_uploader_deletes_an_upload_and_the_channel_message_says_so(world):
    record = await upload(world, attach(world, "cat.png", picture()))
    (row,) = await uploads_rows(world)
    image_id = row["imgur_id"]
    confirm = await click_and_confirm(world, await delete_button_message(record), world.alice)
    assert confirm.content == "“cat.png” is deleted from Imgur."
    assert image_id not in world.emu.data.images
    assert world.emu.stats.calls("image.delete") == 1
    public = record.original
    assert public.content == "🗑️ This upload was deleted from Imgur by its uploader."
    assert public.embeds == []
    (row,) = await uploads_rows(world)
    assert row["deletehash"] is None and row["deleted_by"] == int(world.alice.id)
