"""Each server's own templates in the store, the same on SQLite and on PostgreSQL: stored
whole (picture bytes included), listed per server, names unique per server, the count
capped in the same statement that inserts, removed."""

from __future__ import annotations

import asyncio
import io

import pytest
from PIL import Image

from bot.memes.templates import (
    SCHEMA,
    PreparedImage,
    ServerTemplates,
    TemplateExists,
    TemplatesFull,
    layout_template,
    parse_layout,
)

GUILD, OTHER = 2**60 + 7, 99  # Discord ids need 64 bits


def prepared(colour=(200, 30, 30)) -> PreparedImage:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buffer, "PNG")
    return PreparedImage(buffer.getvalue(), "image/png", 64, 48, 1)


async def add(templates: ServerTemplates, guild: int, name: str, *, limit: int = 10, **kw):
    template = layout_template(name, parse_layout(kw.pop("layout", "classic")))
    return await templates.add(
        guild, template, kw.pop("image", prepared()), source="test", added_by=1,
        added_at=1.5, limit=limit,
    )  # fmt: skip


@pytest.fixture
async def templates(open_store):
    store = await open_store(migrations=[SCHEMA])
    return ServerTemplates(store)


async def test_a_template_is_stored_whole_and_read_back(templates):
    image = prepared()
    entry = await add(templates, GUILD, "Our Cat", layout="four", image=image)
    assert entry.key == "server:our-cat" and entry.name == "Our Cat"
    assert len(entry.template.boxes) == 4
    assert (entry.width, entry.height, entry.frames, entry.version) == (64, 48, 1, image.sha256)
    assert await templates.get(GUILD, "our-cat") == entry
    assert await templates.image(GUILD, "our-cat") == image.data


async def test_each_server_lists_only_its_own_by_name(templates):
    await add(templates, GUILD, "Zebra")
    await add(templates, GUILD, "Aardvark")
    await add(templates, OTHER, "Mine")
    assert [e.name for e in await templates.list(GUILD)] == ["Aardvark", "Zebra"]
    assert [e.name for e in await templates.list(OTHER)] == ["Mine"]
    assert await templates.get(OTHER, "zebra") is None
    assert await templates.image(OTHER, "zebra") is None


async def test_a_name_is_taken_once_per_server(templates):
    await add(templates, GUILD, "Same")
    with pytest.raises(TemplateExists, match="already has a template called “Same”"):
        await add(templates, GUILD, "same")
    await add(templates, OTHER, "Same")


async def test_the_cap_holds_when_admins_add_at_once(templates):
    results = await asyncio.gather(
        *(add(templates, GUILD, f"T{n}", limit=3) for n in range(8)), return_exceptions=True
    )
    assert sum(not isinstance(r, Exception) for r in results) == 3
    assert all(isinstance(r, TemplatesFull) for r in results if isinstance(r, Exception))
    assert len(await templates.list(GUILD)) == 3


async def test_removing_frees_the_name_and_a_place(templates):
    await add(templates, GUILD, "Gone", limit=1)
    assert await templates.remove(GUILD, "gone")
    assert not await templates.remove(GUILD, "gone")
    assert await templates.get(GUILD, "gone") is None
    await add(templates, GUILD, "Gone", limit=1)
