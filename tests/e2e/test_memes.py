"""``/meme`` as members use it, through the genuine discord.py, the fake Discord and the
Imgur emulator: previews posted straight to Discord (free), templates per server, the
template browser with previews, and the words members get when something is refused."""

from __future__ import annotations

import io

import discord
from PIL import Image

from .helpers import private_text

MANAGER = discord.Permissions(manage_guild=True, send_messages=True, attach_files=True)


def png(size=(400, 300), colour=(20, 110, 70)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def picture_of(message, name: str) -> Image.Image:
    image = Image.open(io.BytesIO(message.files[name]))
    image.load()
    return image


async def slash(world, *path, user=None, permissions=None, **options):
    record = await world.fd.slash(
        "meme", *path, options=options, user=user or world.alice, channel=world.sfw,
        permissions=permissions,
    )  # fmt: skip
    await record.wait_done(timeout=15)
    return record


async def add_template(world, name: str, data: bytes, **options):
    image = world.fd.add_attachment(f"{name}.png", data, "image/png")
    return await slash(world, "template-add", permissions=MANAGER, name=name, image=image,
                       **options)  # fmt: skip


def spent(world) -> tuple[int, int]:
    return world.emu.stats.credits_charged, world.emu.stats.uploads


async def test_a_preview_is_posted_privately_as_an_image_and_costs_no_credits(world):
    before = spent(world)
    record = await slash(world, "make", template="bot:sunset", text1="hello | world",
                         preview=True)  # fmt: skip
    message = record.original
    assert record.ephemeral and message.ephemeral
    assert "nothing was uploaded" in message.content
    image = picture_of(message, "meme-preview.jpg")
    assert max(image.size) <= 640
    assert [b["label"] for b in message.buttons] == ["Publish to Imgur"]
    assert message.allowed_mentions == {"parse": []}
    assert spent(world) == before == (0, 0)


async def test_previewing_imgurs_templates_costs_only_their_list_once(world):
    meme = world.emu.data.meme_templates[0]
    for text in ("first", "second", "third"):
        record = await slash(world, "make", template=f"imgur:{meme.id}", text1=text, preview=True)
        assert "meme-preview.jpg" in record.original.files
    assert world.emu.stats.calls("memegen.defaults") == 1
    assert spent(world) == (1, 0)


async def test_autocomplete_offers_the_servers_imgurs_and_the_bots_templates(world):
    await add_template(world, "Plaid cat", png())
    choices = await world.fd.autocomplete(
        "meme", "make", focused="template", value="pla", user=world.alice, channel=world.sfw
    )
    labels = [c["name"] for c in choices]
    assert labels[0] == "Plaid cat · this server"
    assert {"Plain black · built in", "Plain white · built in"} <= set(labels)
    meme = world.emu.data.meme_templates[3]
    choices = await world.fd.autocomplete(
        "meme", "make", focused="template", value=meme.title[:5], channel=world.sfw
    )
    assert {"name": f"{meme.title} · Imgur", "value": f"imgur:{meme.id}"} in choices


async def test_texts_over_the_cap_or_more_than_the_boxes_are_refused_in_words(world):
    record = await slash(world, "make", template="bot:black", text1="a" * 201, preview=True)
    assert await private_text(record) == (
        "Text 1 is 201 characters long; the limit is 200 per box. Shorten it and try again."
    )
    record = await slash(world, "make", template="bot:black", text1="a | b | c", preview=True)
    assert "has 2 text boxes but 3 texts were given" in await private_text(record)
    record = await slash(world, "make", template="no such thing", text1="x", preview=True)
    assert "There is no template called “no such thing”" in await private_text(record)


async def test_the_browser_pages_through_templates_with_a_preview_on_each(world):
    record = await slash(world, "templates", search="gradient")
    message = record.original
    assert not message.ephemeral
    assert message.embed["title"] == "Sunset gradient"
    first = message.files["template.jpg"]
    assert message.embed["image"]["url"].endswith("template.jpg")
    assert "Open on Imgur" not in [b.get("label") for b in message.buttons]
    click = await world.fd.click(message, label="▶", user=world.alice)
    await click.wait_done(timeout=10)
    assert message.embed["title"] == "Ocean gradient"
    assert message.files["template.jpg"] != first
    assert message.embed["footer"]["text"] == "2/2"


async def test_imgurs_templates_in_the_browser_link_to_imgur(world):
    meme = world.emu.data.meme_templates[5]
    record = await slash(world, "templates", search=meme.title)
    message = record.original
    assert message.embed["title"] == meme.title
    link = next(b for b in message.buttons if b.get("label") == "Open on Imgur")
    assert link["url"] == f"https://imgur.com/{meme.id}"
    assert "template.jpg" in message.files


async def test_when_imgurs_list_fails_the_browser_shows_ours_and_says_so(world):
    world.emu.faults.add("error_500", path_prefix="/3/memegen")
    record = await slash(world, "templates")
    message = record.original
    assert "Imgur's meme templates can't be loaded right now" in message.content
    assert message.embed["footer"]["text"] == "1/6"  # the bot's six
    record = await slash(world, "make", template="bot:black", text1="still works", preview=True)
    assert "meme-preview.jpg" in record.original.files


async def test_only_members_who_manage_the_server_add_or_remove_templates(world):
    image = world.fd.add_attachment("x.png", png(), "image/png")
    record = await slash(world, "template-add", name="Nope", image=image)
    assert await private_text(record) == (
        "You need the Manage Server permission to change this server's templates."
    )
    record = await slash(world, "template-remove", template="Nope")
    assert "Manage Server permission" in await private_text(record)


async def test_a_template_from_an_attachment_is_used_then_removed(world):
    record = await add_template(world, "Our cat", png((640, 480)), layout="bottom")
    added = record.original
    assert not added.ephemeral
    assert "Added the template **Our cat** (1 text box)" in added.content
    assert picture_of(added, "template.jpg").size == (640, 480)

    record = await slash(world, "make", template="server:our-cat", text1="meow", preview=True)
    assert "meme-preview.jpg" in record.original.files
    choices = await world.fd.autocomplete(
        "meme", "template-remove", focused="template", value="", channel=world.sfw
    )
    assert choices == [{"name": "Our cat · this server", "value": "server:our-cat"}]

    record = await slash(world, "template-remove", permissions=MANAGER, template="server:our-cat")
    assert "Removed the template **Our cat**" in record.original.content
    record = await slash(world, "make", template="Our cat", text1="gone", preview=True)
    assert "There is no template called “Our cat”" in await private_text(record)


async def test_a_template_from_an_allowed_link_is_fetched(world):
    meme = world.emu.data.meme_templates[2]
    link = f"{world.emu.base_url}/{meme.id}.jpg"
    record = await slash(world, "template-add", permissions=MANAGER, name="Linked", url=link)
    assert "Added the template **Linked** (2 text boxes)" in record.original.content


async def test_by_default_links_to_the_bots_own_machine_are_refused(start_world):
    world = await start_world(MEMES__EXTRA_TEMPLATE_ORIGINS="[]")
    meme = world.emu.data.meme_templates[2]
    for link, words in (
        (f"{world.emu.base_url}/{meme.id}.jpg", "must be https links on"),
        ("https://169.254.169.254/latest/meta-data/", "points at a link-local address"),
        ("https://127.0.0.1/_emulator/reset", "points at a loopback address"),
    ):
        record = await slash(world, "template-add", permissions=MANAGER, name="x", url=link)
        assert words in await private_text(record)
    assert world.emu.stats.media_requests == 0


async def test_a_template_needs_exactly_one_picture(world):
    record = await slash(world, "template-add", permissions=MANAGER, name="Nothing")
    assert "Attach the template's picture or give its link" in await private_text(record)


async def test_a_custom_image_preview_uses_the_layout_asked_for(world):
    image = world.fd.add_attachment("mine.png", png((500, 500), (0, 0, 0)), "image/png")
    record = await slash(world, "custom", image=image, text1="one | two | three | four",
                         layout="four", preview=True)  # fmt: skip
    preview = picture_of(record.original, "meme-preview.jpg").convert("L")
    # a caption in every quarter: each has white ink on the black picture
    for box in ((0, 0, 250, 250), (250, 0, 500, 250), (0, 250, 250, 500), (250, 250, 500, 500)):
        assert preview.crop(box).getextrema()[1] > 200, box
    assert spent(world) == (0, 0)


async def test_a_caption_cannot_mention_anyone(world):
    record = await slash(world, "make", template="bot:black", text1="@everyone <@123>",
                         preview=True)  # fmt: skip
    assert record.original.allowed_mentions == {"parse": []}
    assert "@everyone" not in (record.original.content or "")


async def test_an_attachment_over_the_template_cap_is_refused_before_downloading(world):
    image = world.fd.add_attachment("huge.png", bytes(9 * 1024 * 1024), "image/png")
    record = await slash(world, "custom", image=image, text1="too big", preview=True)
    assert "the limit for templates is 8 MB" in await private_text(record)
    assert image.id not in world.fd.cdn.downloads


# -- publishing to Imgur -------------------------------------------------------------------


async def uploaded(world) -> list[dict]:
    return await world.bot.store.fetch("SELECT imgur_id, user_id FROM uploads ORDER BY id")


async def test_a_meme_is_uploaded_charged_and_posted(world):
    record = await slash(world, "make", template="bot:sunset", text1="shipped | on friday")
    answer = record.original
    assert not answer.ephemeral and answer.embed["title"] == "Sunset gradient"
    (row,) = await uploaded(world)
    on_imgur = world.emu.data.images[row["imgur_id"]]
    assert answer.content == f"<{world.emu.base_url}/{row['imgur_id']}.jpg>"
    meme = Image.open(io.BytesIO(on_imgur.payload))
    assert (meme.format, meme.size) == ("JPEG", (800, 800))
    assert (on_imgur.title, row["user_id"]) == ("Sunset gradient", int(world.alice.id))
    assert spent(world) == (10, 1)  # one upload, nothing else
    holder = await record.wait_until(
        lambda r: next((m for m in r.messages if m.ephemeral and m.buttons), None), timeout=10
    )
    assert holder.buttons[0]["label"] == "Delete from Imgur"


async def test_publishing_a_preview_posts_the_full_meme_publicly(world):
    record = await slash(world, "make", template="bot:ocean", text1="looks | good", preview=True)
    preview = record.original
    assert spent(world) == (0, 0)
    click = await world.fd.click(preview, label="Publish to Imgur", user=world.alice)
    await click.wait_done(timeout=15)
    answer = click.original
    assert not answer.ephemeral and answer.embed["title"] == "Ocean gradient"
    (row,) = await uploaded(world)
    assert Image.open(io.BytesIO(world.emu.data.images[row["imgur_id"]].payload)).size == (800, 800)
    assert spent(world) == (10, 1)
    assert preview.buttons[0]["disabled"]  # published once; the preview stays private


async def test_only_the_maker_can_publish_their_preview(world):
    record = await slash(world, "make", template="bot:black", text1="mine", preview=True)
    click = await world.fd.click(record.original, label="Publish to Imgur", user=world.bob)
    await click.wait_done(timeout=10)
    assert click.ephemeral and "belongs to whoever made it" in click.original.content
    assert spent(world) == (0, 0)


async def test_an_animated_template_is_published_with_every_frame_captioned(world):
    frames = [Image.new("RGB", (160, 120), (30 * n, 60, 120)) for n in range(5)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=120, loop=0)
    image = world.fd.add_attachment("dance.gif", buffer.getvalue(), "image/gif")
    added = await slash(world, "template-add", permissions=MANAGER, name="Dance", image=image)
    assert "Added the template **Dance**" in added.original.content
    # By name: found among the server's own without asking Imgur for its list, so the
    # member's minute of credits is all there for the upload (10 credits).
    await slash(world, "make", template="dance", text1="every | frame")
    assert world.emu.stats.calls("memegen.defaults") == 0
    (row,) = await uploaded(world)
    meme = Image.open(io.BytesIO(world.emu.data.images[row["imgur_id"]].payload))
    assert (meme.format, meme.n_frames) == ("GIF", 5)
    for index in range(5):
        meme.seek(index)
        assert meme.info["duration"] == 120
        top = meme.convert("L").crop((0, 0, 160, 30))
        assert top.getextrema()[1] > 200, index  # caption ink on a dark frame


async def test_when_the_server_may_not_upload_previews_still_work(start_world):
    world = await start_world(LEDGER__GUILD_UPLOADS_PER_HOUR="0")
    record = await slash(world, "make", template="bot:black", text1="no uploads")
    assert "upload limit for the hour" in await private_text(record)
    assert world.emu.stats.uploads == 0
    record = await slash(world, "make", template="bot:black", text1="but this", preview=True)
    assert "meme-preview.jpg" in record.original.files
