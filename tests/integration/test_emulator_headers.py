"""Rate-limit headers on the wire, spelled exactly as recorded from the real Imgur."""

from __future__ import annotations

import io
import json
from pathlib import Path

import aiohttp
import pytest
from PIL import Image

from fakes.imgur import Emulator, EmulatorConfig

RECORDED = Path(__file__).resolve().parents[3] / "shared" / "fixtures"
CLIENT = {"Authorization": "Client-ID test-client"}


def recorded_rate_header_names(name: str) -> list[str]:
    headers = json.loads((RECORDED / "imgur-recorded-2" / name).read_text())["headers"]
    return sorted(h for h in headers if "ratelimit" in h.lower() or "rate-limit" in h.lower())


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(out, "PNG")
    return out.getvalue()


async def wire_rate_header_names(emu: Emulator, method: str, path: str) -> list[str]:
    """Header names exactly as sent (raw bytes), not through a case-insensitive dict."""
    data = None
    if method == "POST":
        data = aiohttp.FormData()
        data.add_field("image", png(), filename="a.png")
    async with aiohttp.ClientSession() as http:
        async with http.request(method, emu.base_url + path, headers=CLIENT, data=data) as response:
            assert response.status == 200
            names = [name.decode() for name, _ in response.raw_headers]
    return sorted(n for n in names if "ratelimit" in n.lower() or "rate-limit" in n.lower())


@pytest.fixture
async def emu():
    async with Emulator(EmulatorConfig(item_count=100)) as emulator:
        yield emulator


async def test_modern_headers_match_the_2024_recording_name_for_name(emu):
    # ShareX#7289 (March 2024): a POST to /3/upload, every rate header in lower case.
    recorded = recorded_rate_header_names("075_sharex_post_upload.json")

    upload = await wire_rate_header_names(emu, "POST", "/3/upload")
    read = await wire_rate_header_names(emu, "GET", "/3/credits")

    assert upload == recorded
    assert read == [n for n in recorded if n.startswith("x-ratelimit-")]


async def test_the_2017_style_matches_imgurs_postman_samples(emu):
    emu.config.rate_header_style = "2017"
    get_sample = recorded_rate_header_names("053_postman_account_ghostinspector.json")
    post_sample = recorded_rate_header_names("060_postman_post_image.json")

    assert await wire_rate_header_names(emu, "GET", "/3/credits") == get_sample
    assert await wire_rate_header_names(emu, "POST", "/3/image") == post_sample
