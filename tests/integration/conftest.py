"""Fixtures for the fake Discord's tests: the fake, with discord.py pointed at it."""

from __future__ import annotations

import pytest

from bot.discord.endpoints import point_discordpy_at
from fakes.discord import FakeDiscord

FAKE_DISCORD_TOKEN = "test-token"


@pytest.fixture
async def fd():
    """A running fake Discord (token ``test-token``) that discord.py talks to; discord.py's
    endpoints are put back afterwards."""
    async with FakeDiscord(token=FAKE_DISCORD_TOKEN) as fake:
        restore = point_discordpy_at(fake.rest_url, fake.gateway_url)
        try:
            yield fake
        finally:
            restore()
