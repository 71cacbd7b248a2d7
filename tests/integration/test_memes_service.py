"""The meme service against the Imgur emulator and a real store: the template catalogue
(with the degraded list when Imgur's legacy endpoint fails), each server's own templates,
rendering on the executor, and what costs Imgur credits (only the list, once)."""

from __future__ import annotations

import asyncio
import io
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import aiohttp
import pytest
from PIL import Image
from pydantic import SecretStr

from bot.access import ImgurAccess
from bot.config import (
    CacheSettings,
    ImgurSettings,
    LedgerSettings,
    MemesSettings,
    Secrets,
    StoreSettings,
)
from bot.ledger import Ledger
from bot.memes import BadImage, TemplateInvalid
from bot.memes.fetch import FetchRefused
from bot.memes.service import ImgurTemplatesUnavailable, MemeService, TemplateNotFound
from bot.memes.templates import TemplateExists, TemplatesFull
from bot.store import Store
from fakes.imgur import Emulator, EmulatorConfig

GUILD, OTHER_GUILD, ADMIN = 1001, 2002, 42


def picture(size=(300, 200), colour=(30, 120, 60), fmt="PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, fmt)
    return buffer.getvalue()


def animation(frames: int = 4, duration: int = 70) -> bytes:
    images = [Image.new("RGB", (120, 90), (40 * i, 80, 160)) for i in range(frames)]
    buffer = io.BytesIO()
    images[0].save(
        buffer, "GIF", save_all=True, append_images=images[1:], duration=duration, loop=0
    )
    return buffer.getvalue()


class RecordingPool(ThreadPoolExecutor):
    """The render executor, noting which threads ran the work."""

    def __init__(self) -> None:
        super().__init__(max_workers=2, thread_name_prefix="test-render")
        self.threads: set[str] = set()

    def submit(self, fn, /, *args, **kwargs):
        def noted():
            self.threads.add(threading.current_thread().name)
            return fn(*args, **kwargs)

        return super().submit(noted)


@dataclass
class Harness:
    emu: Emulator
    service: MemeService
    access: ImgurAccess
    ledger: Ledger
    pool: RecordingPool
    store: Store
    session: aiohttp.ClientSession

    def another_service(self, settings: MemesSettings) -> MemeService:
        """A second service on the same store, executor and session."""
        return MemeService(settings, store=self.store, executor=self.pool, session=self.session)

    def imgur(self, guild: int | None = GUILD):
        return self.access.acting_for(guild, ADMIN, "memegen")


@pytest.fixture
async def harness(tmp_path):
    async with (
        Emulator(EmulatorConfig(seed=3, item_count=200)) as emu,
        aiohttp.ClientSession() as session,
    ):
        store = await Store.open(StoreSettings(path=tmp_path / "bot.db"))
        ledger = await Ledger.open(store, LedgerSettings())
        client = aiohttp_client_for(emu, session)
        pool = RecordingPool()
        settings = MemesSettings(extra_template_origins=[emu.base_url], max_templates_per_server=3)
        service = MemeService(settings, store=store, executor=pool, session=session)
        try:
            async with service:
                access = ImgurAccess(client, ledger)
                yield Harness(emu, service, access, ledger, pool, store, session)
        finally:
            pool.shutdown()
            await client.close()
            await ledger.close()
            await store.close()


def aiohttp_client_for(emu: Emulator, session: aiohttp.ClientSession):
    from bot.imgur.aiohttp_transport import aiohttp_client

    settings = ImgurSettings(max_retries=0, backoff_base_s=0.01, backoff_max_s=0.01)
    secrets = Secrets(imgur_client_id=SecretStr("memes-test"))
    return aiohttp_client(session, settings, CacheSettings(), secrets, base_url=emu.base_url)


async def test_the_catalogue_lists_the_servers_then_imgurs_then_the_bots_own(harness):
    await harness.service.add_template(
        harness.imgur(), GUILD, ADMIN, "Our dog", picture(), source="attachment:dog.png"
    )
    catalogue = await harness.service.catalogue(harness.imgur(), GUILD)
    sources = [entry.source for entry in catalogue.entries]
    assert sources[0] == "server"
    assert sources.index("imgur") < sources.index("bot")
    names = {entry.name for entry in catalogue.entries}
    assert {"Our dog", "Plain black"} <= names
    imgur_names = {t.title for t in harness.emu.data.meme_templates}
    assert imgur_names <= names
    assert not catalogue.imgur_missing and catalogue.note is None


async def test_imgurs_list_is_charged_once_then_served_from_the_cache(harness):
    for _ in range(3):
        await harness.service.catalogue(harness.imgur(), GUILD)
    assert harness.emu.stats.calls("memegen.defaults") == 1
    assert harness.emu.stats.credits_charged == 1


async def test_when_imgurs_legacy_endpoint_fails_the_list_degrades_to_ours(harness):
    harness.emu.faults.add("error_500", path_prefix="/3/memegen")
    await harness.service.add_template(
        harness.imgur(), GUILD, ADMIN, "Our dog", picture(), source="attachment:dog.png"
    )
    catalogue = await harness.service.catalogue(harness.imgur(), GUILD)
    assert catalogue.imgur_missing
    assert "can't be loaded right now" in (catalogue.note or "")
    assert {entry.source for entry in catalogue.entries} == {"server", "bot"}
    # what is still there still works
    entry = await harness.service.find(harness.imgur(), GUILD, "plain black")
    rendered = await harness.service.render(entry, ["still", "works"], guild_id=GUILD)
    assert rendered.mime == "image/jpeg"
    with pytest.raises(ImgurTemplatesUnavailable, match="can't be loaded right now"):
        await harness.service.find(harness.imgur(), GUILD, "imgur:AbC1234")


async def test_a_failing_legacy_endpoint_is_not_asked_on_every_keystroke(harness):
    from bot.clock import FakeClock
    from bot.memes.service import IMGUR_RETRY_AFTER_S

    harness.service.clock = clock = FakeClock()
    harness.emu.faults.add("error_500", path_prefix="/3/memegen")
    for typed in ("d", "do", "dog", "doge"):  # autocomplete, a keystroke at a time
        names = [e.label for e in await harness.service.suggest(harness.imgur(), GUILD, typed)]
        assert all("imgur" not in n.lower() for n in names)
    asked = harness.emu.stats.requests
    assert asked == 1  # each failed call may count at Imgur: one, not one per keystroke
    clock.advance(IMGUR_RETRY_AFTER_S + 1)
    await harness.service.suggest(harness.imgur(), GUILD, "dog")
    assert harness.emu.stats.requests == 2


async def test_templates_are_found_by_key_or_by_name_as_typed(harness):
    imgur = harness.imgur()
    meme = harness.emu.data.meme_templates[0]
    by_key = await harness.service.find(imgur, GUILD, f"imgur:{meme.id}")
    by_name = await harness.service.find(imgur, GUILD, f"  {meme.title.upper()} ")
    assert by_key == by_name and by_key.image_url.endswith(f"/{meme.id}.jpg")
    assert (await harness.service.find(imgur, GUILD, "bot:ocean")).name == "Ocean gradient"
    with pytest.raises(TemplateNotFound, match="no template called “nope”"):
        await harness.service.find(imgur, GUILD, "nope")


async def test_suggestions_put_names_starting_with_the_typed_text_first(harness):
    entries = await harness.service.suggest(harness.imgur(), GUILD, "plain")
    assert [e.key for e in entries[:2]] == ["bot:black", "bot:white"]
    assert len(await harness.service.suggest(harness.imgur(), GUILD, "")) == 25


async def test_a_servers_templates_belong_to_that_server_only(harness):
    service = harness.service
    entry = await service.add_template(
        harness.imgur(), GUILD, ADMIN, "Inside joke", picture(), source="attachment:j.png"
    )
    assert entry.key == "server:inside-joke"
    assert await service.find(harness.imgur(GUILD), GUILD, "inside joke") == entry
    with pytest.raises(TemplateNotFound):
        await service.find(harness.imgur(OTHER_GUILD), OTHER_GUILD, "inside joke")
    other = await service.catalogue(harness.imgur(OTHER_GUILD), OTHER_GUILD)
    assert all(e.source != "server" for e in other.entries)
    with pytest.raises(TemplateNotFound):
        await service.remove_template(OTHER_GUILD, "inside joke")
    removed = await service.remove_template(GUILD, "server:inside-joke")
    assert removed.name == "Inside joke"
    with pytest.raises(TemplateNotFound):
        await service.find(harness.imgur(), GUILD, "inside joke")


async def test_names_are_unique_per_server_and_the_count_is_capped(harness):
    service, imgur = harness.service, harness.imgur()
    await service.add_template(imgur, GUILD, ADMIN, "One", picture(), source="a")
    with pytest.raises(TemplateExists, match="already has a template called “One”"):
        await service.add_template(imgur, GUILD, ADMIN, "one!", picture(), source="a")
    await service.add_template(imgur, GUILD, ADMIN, "Two", picture(), source="a")
    await service.add_template(imgur, GUILD, ADMIN, "Three", picture(), source="a")
    with pytest.raises(TemplatesFull, match="has 3 templates"):
        await service.add_template(imgur, GUILD, ADMIN, "Four", picture(), source="a")
    # the cap is per server
    await service.add_template(harness.imgur(OTHER_GUILD), OTHER_GUILD, ADMIN, "Four",
                               picture(), source="a")  # fmt: skip


async def test_a_template_takes_a_layout_preset_json_boxes_or_another_templates_layout(harness):
    service, imgur = harness.service, harness.imgur()
    four = await service.add_template(imgur, GUILD, ADMIN, "Grid", picture(), source="a",
                                      layout="four")  # fmt: skip
    assert len(four.template.boxes) == 4
    json_boxes = (
        '[{"anchor_x":0.1,"anchor_y":0.1,"scale_x":0.5,"scale_y":0.3,"angle":12,"color":"yellow"}]'
    )
    tilted = await service.add_template(imgur, GUILD, ADMIN, "Tilted", picture(), source="a",
                                        layout=json_boxes)  # fmt: skip
    (box,) = tilted.template.boxes
    assert (box.angle, box.color) == (12, "yellow")
    borrowed = await service.add_template(
        harness.imgur(OTHER_GUILD), OTHER_GUILD, ADMIN, "Split", picture(), source="a",
        layout="bot:expectation-reality",
    )  # fmt: skip
    assert len(borrowed.template.boxes) == 2
    with pytest.raises(TemplateInvalid, match=r"boxes\[1\]: anchor_x \+ scale_x"):
        await service.add_template(imgur, GUILD, ADMIN, "Bad", picture(), source="a",
                                   layout='[{"anchor_x":0.9,"scale_x":0.5}]')  # fmt: skip
    with pytest.raises(TemplateInvalid, match="is not a layout"):
        await service.add_template(imgur, GUILD, ADMIN, "Bad", picture(), source="a",
                                   layout="zigzag")  # fmt: skip


async def test_a_template_image_must_be_an_image(harness):
    with pytest.raises(BadImage, match="not an image I can read"):
        await harness.service.add_template(
            harness.imgur(), GUILD, ADMIN, "Junk", b"<html>hello</html>", source="a"
        )


async def test_big_stills_are_stored_scaled_and_animations_kept_whole(harness):
    service, imgur = harness.service, harness.imgur()
    big = await service.add_template(imgur, GUILD, ADMIN, "Big", picture((3000, 1500)), source="a")
    assert (big.width, big.height) == (1200, 600)
    gif = animation(frames=5, duration=80)
    moving = await service.add_template(imgur, GUILD, ADMIN, "Moving", gif, source="a")
    assert moving.frames == 5
    assert await service.templates.image(GUILD, "moving") == gif


async def test_an_animated_template_is_captioned_on_every_frame_with_its_timing(harness):
    service, imgur = harness.service, harness.imgur()
    entry = await service.add_template(imgur, GUILD, ADMIN, "Moving", animation(6, 90), source="a")
    rendered = await service.render(entry, ["every | frame"], guild_id=GUILD)
    assert rendered.mime == "image/gif" and rendered.frames == 6
    image = Image.open(io.BytesIO(rendered.data))
    durations = []
    for index in range(image.n_frames):
        image.seek(index)
        durations.append(image.info["duration"])
        top = image.convert("RGB").crop((0, 0, 120, 25))
        # the backgrounds have no bright pixels: near-white there is caption ink
        assert any(min(pixel) > 200 for _, pixel in top.getcolors(10_000)), index
    assert durations == [90] * 6


async def test_rendering_runs_on_the_render_executor(harness):
    entry = await harness.service.find(harness.imgur(), GUILD, "bot:sunset")
    await harness.service.render(entry, ["off", "the loop"], guild_id=GUILD)
    await harness.service.render(entry, ["off", "the loop"], guild_id=GUILD, preview=True)
    assert harness.pool.threads and all(t.startswith("test-render") for t in harness.pool.threads)


async def test_an_imgur_template_is_downloaded_once_for_many_renders(harness):
    meme = harness.emu.data.meme_templates[1]
    entry = await harness.service.find(harness.imgur(), GUILD, f"imgur:{meme.id}")
    before = harness.emu.stats.media_requests
    await asyncio.gather(
        *(harness.service.render(entry, [f"take {n}"], guild_id=GUILD) for n in range(4)),
        harness.service.render(entry, ["and a preview"], guild_id=GUILD, preview=True),
    )
    assert harness.emu.stats.media_requests - before == 1


async def test_renders_and_previews_cost_no_imgur_credits(harness):
    meme = harness.emu.data.meme_templates[2]
    entry = await harness.service.find(harness.imgur(), GUILD, f"imgur:{meme.id}")
    credits = harness.emu.stats.credits_charged
    preview = await harness.service.render(entry, ["no", "credits"], guild_id=GUILD, preview=True)
    assert max(Image.open(io.BytesIO(preview.data)).size) <= 640
    assert harness.emu.stats.credits_charged == credits
    assert harness.emu.stats.uploads == 0


async def test_without_the_extra_origin_the_emulators_images_are_refused(harness):
    meme = harness.emu.data.meme_templates[0]
    entry = await harness.service.find(harness.imgur(), GUILD, f"imgur:{meme.id}")
    strict = harness.another_service(MemesSettings())
    async with strict:
        with pytest.raises(FetchRefused, match="https"):
            await strict.render(entry, ["refused"], guild_id=GUILD)


async def test_names_in_any_script_get_templates_of_their_own(harness):
    service, imgur = harness.service, harness.imgur()
    cat = await service.add_template(imgur, GUILD, ADMIN, "猫", picture(), source="a")
    dog = await service.add_template(imgur, GUILD, ADMIN, "犬", picture(), source="a")
    assert cat.key != dog.key and cat.key.startswith("server:t-")
    assert await service.find(imgur, GUILD, "猫") == cat
    assert await service.find(imgur, GUILD, "犬") == dog
    assert (await service.remove_template(GUILD, "猫")).name == "猫"
    assert await service.find(imgur, GUILD, "犬") == dog


async def test_without_a_background_cache_renders_still_work(harness):
    service = harness.another_service(MemesSettings(background_cache_mb=0))
    async with service:
        entry = await service.find(harness.imgur(), GUILD, "bot:black")
        for _ in range(2):
            assert (await service.render(entry, ["no", "cache"], guild_id=GUILD)).data
