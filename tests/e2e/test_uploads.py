"""Uploads end to end: members attach files in the fake Discord, the genuine discord.py bot
fetches them from the fake CDN and streams them to the Imgur emulator.

What a member sees (the public link and embed, the private "Delete from Imgur" button,
progress, refusals) is read back from the fake Discord; what Imgur holds and counted from
the emulator; what the bot charged from the ledger's audit table.
"""

from __future__ import annotations

import io
import itertools
import logging
import random
import re
import zlib

import discord
import pytest
from PIL import Image

from .helpers import private_text

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
    """A small MP4 as a camera writes one: ftyp, moov with one video track, mdat."""

    def box(kind: bytes, payload: bytes = b"") -> bytes:
        return (8 + len(payload)).to_bytes(4, "big") + kind + payload

    hdlr = box(b"hdlr", bytes(8) + b"vide" + bytes(13))
    trak = box(b"trak", box(b"tkhd", bytes(84)) + box(b"mdia", box(b"mdhd", bytes(24)) + hdlr))
    moov = box(b"moov", box(b"mvhd", bytes(100)) + trak)
    ftyp = box(b"ftyp", b"isom" + b"\x00\x00\x02\x00" + b"isommp41")
    return ftyp + moov + box(b"mdat", b"\x42" * 256)


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


async def test_one_file_becomes_an_image_shown_in_the_channel(world, caplog):
    caplog.set_level(logging.DEBUG)
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
    # Nor in anything the bot or discord.py logged (the emulator's own lines aside).
    bots = [r for r in caplog.records if not r.name.startswith(("fakes", "aiohttp.access"))]
    assert bots and not any(deletehash in r.getMessage() for r in bots)


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


async def test_several_files_become_an_album(world):
    files = [attach(world, f"{n}.png", picture(seed=n)) for n in range(3)]
    record = await upload(world, *files, title="Holiday")
    rows = await uploads_rows(world)
    album = world.emu.data.albums[rows[-1]["imgur_id"]]
    assert album.title == "Holiday"
    assert album.image_ids == [r["imgur_id"] for r in rows[:3]]
    answer = record.original
    assert answer.content == f"<{world.emu.base_url}/a/{album.id}>"
    assert answer.embed["title"] == "Holiday"
    assert answer.embed["footer"]["text"].startswith("album · 3 files · ")
    assert (await delete_button_message(record)).buttons[0]["label"] == "Delete from Imgur"


async def test_the_message_menu_uploads_every_picture_and_video_of_a_message(world):
    posted = await world.fd.post_message(
        world.sfw, world.alice, "look at these",
        attachments=[("cat.png", picture(), "image/png"), ("clip.mp4", mp4(), "video/mp4"),
                     ("notes.txt", b"not for Imgur", "text/plain")],
    )  # fmt: skip
    record = await world.fd.message_command("Upload to Imgur", posted, user=world.bob)
    await record.wait_done(timeout=15)
    rows = await uploads_rows(world)
    assert [(r["kind"], r["name"]) for r in rows] == [
        ("image", "cat.png"), ("image", "clip.mp4"), ("album", "album of 2 files"),
    ]  # fmt: skip
    assert {r["user_id"] for r in rows} == {int(world.bob.id)}
    assert {r["source_message_id"] for r in rows} == {int(posted.id)}
    assert world.emu.data.images[rows[1]["imgur_id"]].mime == "video/mp4"
    assert not record.original.ephemeral
    assert record.original.embed["footer"]["text"].startswith("album · 2 files")


async def test_the_message_menu_on_a_message_without_media_says_so(world):
    posted = await world.fd.post_message(world.sfw, world.alice, "just words")
    record = await world.fd.message_command("Upload to Imgur", posted, user=world.bob)
    assert "no pictures or videos" in await private_text(record)
    assert world.emu.stats.api_calls == 0


async def test_visible_false_answers_only_the_uploader(world):
    record = await upload(world, attach(world, "secret.png", picture()), visible=False)
    answer = record.original
    assert answer.ephemeral and answer.embed["title"] == "secret.png"
    assert answer.content.startswith("<") and "Only you can see this" in answer.content
    assert [b["label"] for b in answer.buttons] == ["Delete from Imgur"]
    assert record.followups == []
    assert [m for m in world.fd.channel_messages(world.sfw) if m.author is world.fd.bot_user] == []


async def test_a_slow_upload_shows_its_progress_at_most_once_a_second(start_world):
    world = await start_world(UPLOADS__PROGRESS_AFTER_S="0.5")
    data = picture(size=(300, 300))  # about 264 KB of noise
    slow = attach(world, "big.png", data, bandwidth=len(data) // 3)  # three seconds
    record = await upload(world, slow)  # done at the first edit: that resolves the deferral
    await record.wait_until(lambda r: r.original.content.startswith("<"), timeout=15)
    shown = [v["content"] for v in record.original.history if v.get("content")]
    progress = [c for c in shown if c.startswith("Receiving your file from Discord…")]
    assert len(progress) >= 2, shown
    assert all(c.endswith("%)") and " of 264" in c for c in progress)
    edits = [
        r.at for r in world.fd.requests("PATCH", "/webhooks/")
        if "Receiving" in str((r.body or {}).get("content"))
    ]  # fmt: skip
    assert all(later - earlier >= 0.9 for earlier, later in itertools.pairwise(edits))
    assert record.original.embed["title"] == "big.png"  # then the answer replaced it


# -- deleting: who may ---------------------------------------------------------------------


async def test_a_member_with_manage_messages_deletes_someone_elses_upload(world):
    mods = world.fd.add_role(
        world.guild, "mods", permissions=discord.Permissions(manage_messages=True)
    )
    world.fd.add_member(world.guild, world.bob, roles=[mods])
    record = await upload(world, attach(world, "cat.png", picture()))
    (row,) = await uploads_rows(world)
    listed = await world.run("imgur", "uploads", user=world.bob, member=world.alice)
    listing = listed.original
    assert listing.ephemeral and listing.embed["title"] == "cat.png"
    await click_and_confirm(world, listing, world.bob)
    assert row["imgur_id"] not in world.emu.data.images
    await record.wait_until(lambda r: r.original.content.startswith("🗑️"), timeout=10)
    assert record.original.content == "🗑️ This upload was deleted from Imgur by a moderator."
    assert (await uploads_rows(world))[0]["deleted_by"] == int(world.bob.id)


async def test_another_member_can_neither_list_nor_delete_someone_elses_upload(world):
    record = await upload(world, attach(world, "cat.png", picture()))
    (row,) = await uploads_rows(world)
    listed = await world.run("imgur", "uploads", user=world.bob, member=world.alice)
    assert await private_text(listed) == "You need the manage messages permission to do that."
    # Even with the button in hand (a custom id is no secret), the click is checked.
    click = await world.fd.click(await delete_button_message(record), label="Delete from Imgur",
                                 user=world.bob)  # fmt: skip
    assert "Only the member who uploaded this" in await private_text(click)
    assert row["imgur_id"] in world.emu.data.images
    assert world.emu.stats.calls("image.delete") == 0


async def test_uploads_lists_your_uploads_a_page_each_with_its_own_delete_button(start_world):
    # Three uploads in a minute (30 credits): the member's minute counts three calls.
    world = await start_world()
    await upload(world, attach(world, "first.png", picture(seed=1)))
    await upload(
        world, attach(world, "a.png", picture(seed=2)), attach(world, "b.png", picture(seed=3))
    )
    rows = await uploads_rows(world)
    listed = await world.run("imgur", "uploads")
    message = listed.original
    assert message.ephemeral
    ids = []
    for _ in range(2):
        ids.append(
            next(b["custom_id"] for b in message.buttons if b.get("label") == "Delete from Imgur")
        )
        if any(b.get("label") == "▶" and not b.get("disabled") for b in message.buttons):
            turned = await world.fd.click(message, label="▶", user=world.alice)
            await turned.wait_done(timeout=10)
    album_row = next(r["id"] for r in rows if r["kind"] == "album")
    assert ids == [f"upload:delete:{album_row}", f"upload:delete:{rows[0]['id']}"]


async def test_delete_buttons_still_work_after_a_restart(start_world):
    first = await start_world()
    record = await upload(first, attach(first, "cat.png", picture()))
    holder = await delete_button_message(record)
    (row,) = await uploads_rows(first)
    await first.stop()
    first.fd.identify_interval = None  # no need to wait Discord's 5 s between logins here
    second = await start_world()  # a new process's bot, on the same database
    await click_and_confirm(second, holder, second.alice)
    assert row["imgur_id"] not in second.emu.data.images


# -- failures and refusals -----------------------------------------------------------------


async def test_the_servers_hourly_upload_limit_is_answered_before_imgur_is_asked(start_world):
    world = await start_world(LEDGER__GUILD_UPLOADS_PER_HOUR="1")
    await upload(world, attach(world, "one.png", picture(seed=1)))
    record = await upload(world, attach(world, "two.png", picture(seed=2)), user=world.bob)
    text = await private_text(record)
    assert re.fullmatch(
        r"This server has reached its upload limit for the hour\. Try again <t:\d+:R>\.", text
    )
    assert world.emu.stats.uploads == 1 and world.emu.stats.rate_limited == 0


async def test_a_failure_half_way_through_an_album_removes_what_was_uploaded(world):
    small, big = picture(seed=1), picture(size=(200, 200), seed=2)
    world.emu.config.max_image_bytes = len(big) - 1  # Imgur will refuse the second file
    record = await upload(world, attach(world, "small.png", small), attach(world, "big.png", big))
    assert await private_text(record) == (
        "Imgur refused the upload: File is over the size limit\n"
        "`big.png` (file 2 of 2) did not reach Imgur, so I removed the 1 file already on "
        "Imgur: nothing was kept."
    )
    (first,) = await uploads_rows(world)
    assert first["imgur_id"] not in world.emu.data.images and first["deleted_at"] is not None
    assert world.emu.stats.calls("album.create") == 0
    assert [m for m in world.fd.channel_messages(world.sfw) if m.author is world.fd.bot_user
            and not m.deleted] == []  # fmt: skip


REFUSED = {
    "wrong type behind a picture's name": (
        "cat.png",
        b"%PDF-1.7\n" + bytes(4000),
        "image/png",
        "its name says PNG, but it is",
    ),
    "oversize": ("huge.png", b"\x89PNG\r\n\x1a\n" + bytes(11 * 1024 * 1024), "image/png", "10 MB"),
    "corrupt": ("cut.png", picture(size=(100, 100))[:-5000], "image/png", "looks like a PNG"),
    "decompression bomb": ("bomb.png", png_claiming(60_000, 60_000), "image/png", "megapixels"),
    "empty": ("blank.png", b"", "image/png", "it is empty (0 bytes)"),
}


@pytest.mark.parametrize("case", REFUSED.values(), ids=REFUSED.keys())
async def test_a_refused_file_is_named_with_what_to_do_and_costs_nothing(world, case):
    name, data, content_type, words = case
    record = await upload(world, attach(world, name, data, content_type))
    text = await private_text(record)
    assert text.startswith(f"I can't upload `{name}`: ") and words in text
    assert await charges(world) == []  # no charge row at all
    assert world.emu.stats.credits_charged == 0 and world.emu.stats.api_calls == 0
    assert await uploads_rows(world) == []
