"""``imgurbot migrate``: a bot that ran on SQLite goes on, on PostgreSQL, with everything it
had: the member's upload (and its delete button), the server's feed, the day's credits."""

from __future__ import annotations

import pytest

from bot.config import StoreSettings
from bot.failures import Failure
from bot.migrate import migrate

from .test_highlights import add
from .test_uploads import attach, click_and_confirm, delete_button_message, picture, upload

pytestmark = pytest.mark.parametrize("engine", ["postgresql"])


async def test_a_bot_moved_to_postgresql_keeps_its_uploads_feeds_and_credits(
    start_world, store_env, tmp_path
):
    first = await start_world()
    await first.run("imgur", "frontpage")
    record = await upload(first, attach(first, "cat.png", picture()))
    holder = await delete_button_message(record)
    (uploaded,) = await first.bot.store.fetch("SELECT imgur_id FROM uploads")
    await add(first, first.sfw)
    guild_id = int(first.guild.id)
    used = (await first.bot.ledger.guild_status(guild_id)).used
    assert used > 0
    await first.stop()

    url = store_env["IMGURBOT_STORE__URL"]
    source = StoreSettings(path=tmp_path / "imgurbot.db")
    done = await migrate(source, url)
    assert done.copied["uploads"] == 1 and done.copied["highlight_feeds"] == 1
    assert done.copied["ledger_charges"] >= 2
    again = await migrate(source, url)  # safe to run twice: nothing copied the second time
    assert sum(again.copied.values()) == 0
    assert again.already == {t: n for t, n in done.copied.items() if n}

    first.fd.identify_interval = None  # no 5 s wait before the next IDENTIFY
    second = await start_world(STORE__URL=url, STORE__PROCESS_NAME="one")
    assert (await second.bot.ledger.guild_status(guild_id)).used == used
    listing = await second.fd.slash("highlights", "list", user=second.fd.owner, channel=second.sfw)
    await listing.wait_done(timeout=15)
    assert f"<#{second.sfw.id}>" in str(listing.original.content) + str(listing.original.embeds)
    # The deletehash came along: the old message's button deletes the upload from Imgur.
    await click_and_confirm(second, holder, second.alice)
    assert uploaded["imgur_id"] not in second.emu.data.images


async def test_migrate_refuses_to_mix_a_database_the_bot_has_used_since(
    start_world, store_env, tmp_path
):
    world = await start_world()
    await world.run("imgur", "frontpage")
    await world.stop()
    url = store_env["IMGURBOT_STORE__URL"]
    source = StoreSettings(path=tmp_path / "imgurbot.db")
    await migrate(source, url)
    world.fd.identify_interval = None
    later = await start_world(STORE__URL=url, STORE__PROCESS_NAME="one")
    await later.run("imgur", "search", query="cats")  # the bot goes on, on PostgreSQL
    await later.stop()
    with pytest.raises(Failure) as refused:
        await migrate(source, url)
    assert "a bot has used PostgreSQL since" in str(refused.value)
