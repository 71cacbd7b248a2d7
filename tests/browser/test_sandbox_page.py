"""What a visitor does in the sandbox page, in a real browser, against the real bot.

Each test reads the page as a person would (the embed, the buttons, the private notes) and
checks the result against the emulator behind it (which items are NSFW, whether an upload
is really gone).
"""

from __future__ import annotations

import io
import os
import re

import pytest
from PIL import Image
from playwright.async_api import Page, expect

pytestmark = pytest.mark.slow


async def run(page: Page, command: str, *, enter: bool = False, **options: str | bytes) -> None:
    """Type ``command`` ("/imgur search"), pick it, fill in its options and send it (with
    the Send button, or ``enter`` in the last option)."""
    await page.fill("#input", command)
    await page.click(f"[data-command='{command}']")
    for name, value in options.items():
        field = page.locator(f"#opt-{name}")
        if isinstance(value, bytes):
            await field.set_input_files(
                files=[{"name": f"{name}.png", "mimeType": "image/png", "buffer": value}]
            )
        elif await field.evaluate("el => el.tagName") == "SELECT":
            await field.select_option(value)
        else:
            await field.fill(value)
    if enter:
        await page.keyboard.press("Enter")
    else:
        await page.click("#send")


async def be(page: Page, user) -> None:
    """Switch the member the page acts as (with the page's member switcher)."""
    await page.select_option("#member", user.id)


def bot_messages(page: Page):
    return page.locator(".msg")


def item_id(href: str) -> str:
    return href.rstrip("/").rsplit("/", 1)[-1]


def picture() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 80, 40)).save(out, "PNG")
    return out.getvalue()


async def test_search_shows_an_embed_and_the_buttons_turn_its_pages(page, served):
    await run(page, "/imgur search", query="cats", enter=True)
    answer = bot_messages(page).filter(has=page.locator(".embed"))
    await expect(answer.locator(".embed img.image")).to_be_visible()
    await expect(answer.locator(".embed-footer")).to_contain_text(re.compile(r"· 1/\d+"))
    first = item_id(await answer.get_by_role("link", name="Open on Imgur").get_attribute("href"))
    await page.steps.step("searched")

    await answer.get_by_role("button", name="▶").click()
    await expect(answer.locator(".embed-footer")).to_contain_text(re.compile(r"· 2/\d+"))
    second = item_id(await answer.get_by_role("link", name="Open on Imgur").get_attribute("href"))
    assert second != first
    assert await bot_messages(page).count() == 1  # edited in place, not a new message
    await expect(answer.get_by_role("button", name="◀")).to_be_enabled()
    await page.steps.step("paged")

    # Underneath: the Imgur call with its verdict and cost, and what the bot sent Discord.
    call = page.locator("#imgur-log li", has_text="/3/gallery/search")
    await expect(call.first).to_contain_text("imgur")
    await expect(call.first).to_contain_text("1 credit")
    await expect(page.locator("#guild-credits")).not_to_have_text("0")
    await page.click("[data-tab=discord]")
    await expect(page.locator("#discord-log li", has_text="/interactions/").first).to_be_visible()
    if os.environ.get("IMGURBOT_SCREENSHOT"):  # `make screenshot`: the README's picture
        await page.click("[data-tab=imgur]")
        await page.screenshot(path=os.environ["IMGURBOT_SCREENSHOT"])


async def test_another_member_cannot_turn_someone_elses_pages(page, served):
    people = served.sandbox.people
    await run(page, "/imgur search", query="dogs")
    answer = bot_messages(page).filter(has=page.locator(".embed"))
    await expect(answer.locator(".embed-footer")).to_contain_text(re.compile(r"· 1/\d+"))

    await be(page, people.moderator)
    await answer.get_by_role("button", name="▶").click()
    refusal = page.locator(".msg.ephemeral")
    await expect(refusal).to_contain_text("These buttons belong to whoever ran the command")
    await expect(refusal).to_contain_text("Only you can see this")
    await expect(answer.locator(".embed-footer")).to_contain_text(re.compile(r"· 1/\d+"))
    await page.steps.step("refused")

    await be(page, people.member)  # the note was mo's alone
    await expect(page.locator(".msg.ephemeral")).to_have_count(0)


async def test_no_nsfw_post_reaches_the_normal_channel(page, served):
    catalogue = served.sandbox.emu.data
    counts: dict[str, list[int]] = {}
    for post in catalogue.posts:
        for tag in post.tags:
            nsfw, total = counts.setdefault(tag, [0, 0])
            counts[tag] = [nsfw + bool(post.nsfw), total + 1]
    # A tag with NSFW and SFW posts, small enough to page through in a few clicks.
    tag = min((t for t, (n, total) in counts.items() if 0 < n < total), key=lambda t: counts[t][1])
    nsfw_ids = {p.id for p in catalogue.posts if p.nsfw}

    await page.click("[data-channel=general]")
    await run(page, "/imgur tag", name=tag, window="all")
    answer = bot_messages(page).filter(has=page.locator(".embed"))
    link = answer.get_by_role("link", name="Open on Imgur")
    await expect(link).to_be_visible()
    shown = [item_id(await link.get_attribute("href"))]
    forward = answer.get_by_role("button", name="▶")
    while await forward.is_enabled():
        page_number = len(shown) + 1
        await forward.click()
        await expect(answer.locator(".embed-footer")).to_contain_text(f"· {page_number}/")
        shown.append(item_id(await link.get_attribute("href")))
    await page.steps.step("paged-through")
    assert shown and not set(shown) & nsfw_ids


async def test_a_member_uploads_a_file_then_deletes_it(page, served):
    await run(page, "/imgur upload", file=picture(), title="Sandbox cat")
    public = bot_messages(page).filter(has=page.locator(".embed", has_text="Sandbox cat"))
    await expect(public.locator(".embed img.image")).to_be_visible()
    image_id = re.search(
        r"/emu/(\w+)\.png", await public.locator(".embed img.image").get_attribute("src")
    )[1]
    assert image_id in served.sandbox.emu.data.images
    await page.steps.step("uploaded")

    holder = page.locator(
        ".msg.ephemeral", has=page.get_by_role("button", name="Delete from Imgur")
    )
    await holder.get_by_role("button", name="Delete from Imgur").click()
    await page.get_by_role("button", name="Yes, delete it").click()
    await expect(page.locator(".msg.ephemeral", has_text="is deleted from Imgur.")).to_be_visible()
    await expect(public).to_have_count(0)  # its embed is gone: the message now says why
    await expect(
        bot_messages(page).filter(has_text="This upload was deleted from Imgur by its uploader")
    ).to_be_visible()
    await page.steps.step("deleted")
    assert image_id not in served.sandbox.emu.data.images


async def test_an_injected_imgur_429_is_answered_in_words(page, served):
    await page.click("[data-tab=faults]")
    await page.select_option("#imgur-fault", "429")
    await page.select_option("#imgur-times", "")  # until cleared
    await page.click("#imgur-inject")
    await expect(page.locator("#imgur-faults")).to_contain_text("rate_limited_429")
    await page.steps.step("injected")

    await run(page, "/imgur search", query="sandbox 429")
    note = page.locator(".msg.ephemeral")
    await expect(note).to_contain_text("rate-limiting the bot")
    await expect(note).not_to_contain_text("Traceback")
    await page.steps.step("answered")
    assert served.sandbox.emu.stats.faults_applied["rate_limited_429"] >= 1


async def test_completion_offers_what_the_member_may_use_and_the_bots_autocomplete(page, served):
    await page.fill("#input", "/high")
    await expect(page.locator("#suggestions")).to_contain_text("no command matches")
    await be(page, served.sandbox.people.moderator)  # Manage Server: /highlights appears
    await page.fill("#input", "/high")
    await expect(page.locator("[data-command='/highlights add']")).to_be_visible()

    await page.fill("#input", "/imgur tag")
    await page.click("[data-command='/imgur tag']")
    await page.fill("#opt-name", "c")
    choices = page.locator(".choices button")
    await expect(choices.first).to_be_visible()  # answered by the bot, as you type
    offered = await choices.all_inner_texts()
    tags = {t for post in served.sandbox.emu.data.posts for t in post.tags}
    assert offered and all(name.split(" ")[0].lower() in tags for name in offered), offered
    await page.steps.step("autocompleted")


async def test_a_message_menu_uploads_the_picture_on_a_members_message(page, served):
    await page.set_input_files(
        "#attach", files=[{"name": "mine.png", "mimeType": "image/png", "buffer": picture()}]
    )
    await expect(page.locator(".chip")).to_contain_text("mine.png")
    await page.fill("#input", "my picture")
    await page.click("#send")
    mine = page.locator(".msg", has_text="my picture")
    await expect(mine.locator(".attachment img")).to_be_visible()
    images_before = set(served.sandbox.emu.data.images)

    await mine.hover()
    await mine.get_by_role("button", name="Message menu").click()
    await page.get_by_role("menuitem", name="Upload to Imgur").click()
    uploaded = bot_messages(page).filter(has=page.locator(".embed", has_text="mine.png"))
    await expect(uploaded.locator(".embed img.image")).to_be_visible()
    await page.steps.step("menu-upload")
    assert len(set(served.sandbox.emu.data.images) - images_before) == 1
