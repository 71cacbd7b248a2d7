"""Reading what a member sees in the fake Discord."""

from __future__ import annotations


def item_id_of(message) -> str:
    """The Imgur id a page shows, from its "Open on Imgur" link button."""
    (link,) = [b for b in message.buttons if b.get("label") == "Open on Imgur"]
    return link["url"].rstrip("/").rsplit("/", 1)[-1]


async def all_pages(world, record, user=None) -> list[str]:
    """Every item id the paginator shows, turning pages with the ▶ button."""
    message = record.original
    ids = [item_id_of(message)]
    for _ in range(100):
        nxt = next(b for b in message.buttons if b.get("label") == "▶")
        if nxt.get("disabled"):
            break
        click = await world.fd.click(message, label="▶", user=user or world.alice)
        await click.wait_done(timeout=10)
        ids.append(item_id_of(message))
    return ids


async def private_text(record) -> str:
    """The private (ephemeral) note the member got, once it has arrived."""

    def note(r):
        m = r.last_message
        return m if m is not None and m.ephemeral and not m.deleted and m.content else None

    message = await record.wait_until(note, timeout=10)
    return message.content
