"""The browse commands, as members use them, through the genuine discord.py."""

from __future__ import annotations

NSFW_FLAG = 64


async def test_frontpage_shows_pages_with_buttons(world):
    record = await world.run("imgur", "frontpage")
    assert record.deferred
    answer = record.original
    assert not answer.ephemeral
    embed = answer.embed
    assert embed["title"]
    assert embed["footer"]["text"].endswith("/60") or "/" in embed["footer"]["text"]
    labels = [b.get("label") for b in answer.buttons]
    assert "Open on Imgur" in labels and "▶" in labels
