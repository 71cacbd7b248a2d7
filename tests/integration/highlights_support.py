"""The highlights engine for real (store, ledger, Imgur client against the emulator), with
Discord replaced by an in-memory outlet whose channels a test can change underfoot.

Several engines can share one database file and one ``Channels``: that is two bot
processes posting into the same Discord. (The end-to-end tests import ``mixed_tag`` from
here as ``integration.highlights_support``.)
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from bot.app import open_bot
from bot.clock import FakeClock
from bot.config import load_config
from bot.highlights import ChannelProblem, HighlightsEngine
from bot.highlights.message import Post
from bot.highlights.outlet import ChannelInfo, FoundPost
from fakes.imgur.app import Emulator

GUILD = 100


@dataclass
class Place:
    guild_id: int = GUILD
    nsfw: bool = False
    missing: tuple[str, ...] = ()
    gone: bool = False


@dataclass
class Sent:
    channel_id: int
    post: Post
    message_id: int


@dataclass
class Channels:
    """A tiny Discord: channels, the guilds the bot is in, and everything sent."""

    places: dict[int, Place] = field(default_factory=dict)
    guilds: set[int] = field(default_factory=lambda: {GUILD})
    sent: list[Sent] = field(default_factory=list)
    notices: list[tuple[int, int, str]] = field(default_factory=list)
    # Called after each message lands (with how many have landed): a test can stall a
    # run there, mid-way, as a crash or a restart would find it.
    after_send: Callable[[int], Awaitable[None]] | None = None
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def add(self, channel_id: int, **place) -> int:
        self.places[channel_id] = Place(**place)
        return channel_id

    def posts_in(self, channel_id: int) -> list[Post]:
        return [s.post for s in self.sent if s.channel_id == channel_id]


class MemoryOutlet:
    def __init__(self, channels: Channels) -> None:
        self.channels = channels

    async def wait_ready(self) -> None:
        return None

    def has_guild(self, guild_id: int) -> bool | None:
        return guild_id in self.channels.guilds

    def channel(self, guild_id: int, channel_id: int) -> ChannelInfo:
        place = self.channels.places.get(channel_id)
        if place is None or place.gone or place.guild_id not in self.channels.guilds:
            raise ChannelProblem(channel_id, gone=True)
        if place.missing:
            raise ChannelProblem(channel_id, missing=place.missing)
        return ChannelInfo(nsfw=place.nsfw, can_read_history=True)

    async def send(self, channel_id: int, post: Post) -> int:
        await asyncio.sleep(0)  # a real send yields to the loop
        self.channel(self.channels.places[channel_id].guild_id, channel_id)
        sent = Sent(channel_id, post, next(self.channels._ids))
        self.channels.sent.append(sent)
        if self.channels.after_send is not None:
            await self.channels.after_send(len(self.channels.sent))
        return sent.message_id

    async def find_post(self, channel_id: int, header: str) -> FoundPost | None:
        for sent in reversed(self.channels.sent):
            if sent.channel_id == channel_id and sent.post.content.startswith(header):
                return FoundPost(sent.message_id, sent.post.item_ids)
        return None

    async def notify(self, guild_id: int, user_id: int, text: str, *, avoid: int) -> str | None:
        self.channels.notices.append((guild_id, user_id, text))
        return "a direct message"


def mixed_tag(emu: Emulator) -> str:
    """A tag of the emulator's whose posts mix NSFW and safe ones (at least ten safe),
    the NSFW-heaviest of them: its listing shows whether NSFW was filtered."""
    counts: dict[str, list[int]] = {}
    for post in emu.data.posts:
        for tag in post.tags:
            counts.setdefault(tag, [0, 0])[bool(post.nsfw)] += 1
    mixed = [t for t, (safe, nsfw) in counts.items() if safe >= 10 and nsfw]
    return max(mixed, key=lambda t: counts[t][1] / sum(counts[t]))


@asynccontextmanager
async def open_engine(
    emu: Emulator,
    db: Mapping[str, str],
    clock: FakeClock,
    channels: Channels,
    *,
    process: str = "one",
    **settings: str,
) -> AsyncIterator[HighlightsEngine]:
    """The engine as ``open_bot`` builds it (not connected to any Discord), posting into
    ``channels``. ``db`` names the database (the ``store_env`` fixture); ``process`` is
    this bot's name among those sharing it; ``settings`` override ``[highlights]`` keys."""
    env = {
        "IMGUR_CLIENT_ID": "highlights-test-client",
        "IMGURBOT_IMGUR__API_BASE_URL": emu.base_url,
        "IMGURBOT_IMGUR__USE_EMULATOR": "never",
        "IMGURBOT_IMGUR__MAX_RETRIES": "0",
        "IMGURBOT_STORE__PROCESS_NAME": process,
        "IMGURBOT_HIGHLIGHTS__DISCORD_POSTS_PER_SECOND": "50",
        **db,
    }
    env.update({f"IMGURBOT_HIGHLIGHTS__{k.upper()}": v for k, v in settings.items()})
    async with open_bot(load_config(None, env), clock=clock) as bot:
        engine = bot.highlights
        engine.outlet = MemoryOutlet(channels)
        await engine.feeds.create_tables()
        yield engine
