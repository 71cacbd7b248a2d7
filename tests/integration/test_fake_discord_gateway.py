"""The fake gateway as any library sees it: a raw WebSocket client, no discord.py.

Each test pins down a behaviour from Discord's gateway documentation that another library
found missing: transport compression, binary client frames, READY's user, the close codes,
session starts and the IDENTIFY rate limit.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest

from fakes.discord import FakeDiscord

TOKEN = "test-token"


class RawGateway:
    """A minimal gateway client that decodes whatever transport it asked for."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, compress: str | None) -> None:
        self.ws = ws
        self.compress = compress
        self.frames: list[aiohttp.WSMessage] = []
        self._inflate = zlib.decompressobj()
        self._buffer = bytearray()
        self._zstd = ZstdRawReader()

    async def receive(self, timeout: float = 5.0) -> dict:  # noqa: ASYNC109
        while True:
            msg = await self.ws.receive(timeout=timeout)
            self.frames.append(msg)
            if msg.type == aiohttp.WSMsgType.TEXT:
                return json.loads(msg.data)
            if msg.type != aiohttp.WSMsgType.BINARY:
                raise ConnectionError(f"socket closed: {msg.type} {self.ws.close_code}")
            if self.compress == "zstd-stream":
                return json.loads(self._zstd.feed(msg.data))
            self._buffer += msg.data
            if self._buffer[-4:] != b"\x00\x00\xff\xff":
                continue  # a message may span frames: wait for the Z_SYNC_FLUSH suffix
            text = self._inflate.decompress(bytes(self._buffer))
            self._buffer.clear()
            return json.loads(text)

    async def receive_dispatch(self, event: str) -> dict:
        while True:
            payload = await self.receive()
            if payload.get("t") == event:
                return payload

    async def send(self, payload: dict, *, binary: bool = False) -> None:
        if binary:
            await self.ws.send_bytes(json.dumps(payload).encode())
        else:
            await self.ws.send_str(json.dumps(payload))

    async def identify(self, token: str = TOKEN, **extra) -> None:
        data = {"token": token, "properties": {"os": "linux", "browser": "t", "device": "t"}}
        data["intents"] = 1 | 1 << 9
        await self.send({"op": 2, "d": data | extra})

    async def closed_with(self) -> int | None:
        while not self.ws.closed:
            msg = await self.ws.receive(timeout=5)
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                break
        return self.ws.close_code


class ZstdRawReader:
    """Reads a zstd stream made only of raw blocks, following RFC 8878 §3.1.1: it checks
    the frame header once, then returns the content of the blocks each message carries.
    A compressed block (type 2) or a closed frame fails the test loudly."""

    def __init__(self) -> None:
        self.header_seen = False

    def feed(self, data: bytes) -> str:
        view = memoryview(data)
        if not self.header_seen:
            assert struct.unpack("<I", view[:4])[0] == 0xFD2FB528, "zstd magic number"
            descriptor = view[4]
            assert descriptor & 0b1110_0000 == 0, "no content size, not single segment"
            assert descriptor & 0b0000_0111 == 0, "no checksum, no dictionary"
            window_log = 10 + (view[5] >> 3)
            assert window_log >= 17, "window holds a 128 KiB block"
            view = view[6:]
            self.header_seen = True
        out = bytearray()
        while view:
            header = int.from_bytes(view[:3], "little")
            last, block_type, size = header & 1, (header >> 1) & 3, header >> 3
            assert not last, "the frame stays open for the whole connection"
            assert block_type == 0, "raw block"
            out += view[3 : 3 + size]
            view = view[3 + size :]
        return out.decode()


@asynccontextmanager
async def raw_gateway(fd: FakeDiscord, query: str = "?v=10&encoding=json") -> AsyncIterator:
    compress = dict(p.split("=") for p in query.lstrip("?").split("&") if p).get("compress")
    async with aiohttp.ClientSession() as http, http.ws_connect(fd.gateway_url + query) as ws:
        yield RawGateway(ws, compress)


@pytest.fixture
async def fd():
    async with FakeDiscord(token=TOKEN) as fake:
        guild = fake.add_guild("g")
        fake.add_channel(guild, "general")
        yield fake


# -- transport compression -------------------------------------------------------------------


async def test_without_compress_every_message_is_a_text_frame(fd: FakeDiscord) -> None:
    async with raw_gateway(fd) as gw:
        hello = await gw.receive()
        assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] > 0
        await gw.identify()
        ready = await gw.receive_dispatch("READY")
        assert ready["d"]["user"]["id"] == fd.bot_user.id
        assert {f.type for f in gw.frames} == {aiohttp.WSMsgType.TEXT}


async def test_zlib_stream_sends_binary_frames_of_one_deflate_context(fd: FakeDiscord) -> None:
    async with raw_gateway(fd, "?v=10&encoding=json&compress=zlib-stream") as gw:
        assert (await gw.receive())["op"] == 10
        await gw.identify()
        await gw.receive_dispatch("READY")
        guild = await gw.receive_dispatch("GUILD_CREATE")
        assert guild["d"]["name"] == "g"
        assert {f.type for f in gw.frames} == {aiohttp.WSMsgType.BINARY}
        assert all(bytes(f.data).endswith(b"\x00\x00\xff\xff") for f in gw.frames)
        # One shared context: a later frame cannot be inflated on its own.
        with pytest.raises(zlib.error):
            zlib.decompressobj().decompress(gw.frames[-1].data)


async def test_zstd_stream_sends_one_endless_zstd_frame(fd: FakeDiscord) -> None:
    fd.add_guild("big").name = "x" * 200_000  # a READY-time GUILD_CREATE over one 128 KiB block
    async with raw_gateway(fd, "?v=10&encoding=json&compress=zstd-stream") as gw:
        assert (await gw.receive())["op"] == 10
        await gw.identify()
        await gw.receive_dispatch("READY")
        names = {(await gw.receive_dispatch("GUILD_CREATE"))["d"]["name"] for _ in range(2)}
        assert names == {"g", "x" * 200_000}
        assert {f.type for f in gw.frames} == {aiohttp.WSMsgType.BINARY}
        assert bytes(gw.frames[0].data[:4]) == b"\x28\xb5\x2f\xfd"  # only the first has it
        assert all(bytes(f.data[:4]) != b"\x28\xb5\x2f\xfd" for f in gw.frames[1:])


async def test_discordpy_decoder_reads_the_zlib_stream(fd: FakeDiscord) -> None:
    """discord.py's own zlib-stream context (the one it uses without a zstd module)."""
    from discord.utils import _ActiveDecompressionContext

    assert _ActiveDecompressionContext.COMPRESSION_TYPE == "zlib-stream"
    context = _ActiveDecompressionContext()
    async with raw_gateway(fd, "?v=10&encoding=json&compress=zlib-stream") as gw:
        await gw.receive()
        await gw.identify()
        await gw.receive_dispatch("READY")
    decoded = [json.loads(context.decompress(f.data)) for f in gw.frames]
    assert [p["op"] for p in decoded][:2] == [10, 0]


@pytest.mark.parametrize(
    ("query", "words"),
    [("?v=10&encoding=json&compress=brotli", "zlib-stream"), ("?v=10&encoding=etf", "json")],
)
async def test_an_unsupported_compress_or_encoding_is_refused_clearly(
    fd: FakeDiscord, query: str, words: str
) -> None:
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(fd.gateway_url + query)
    assert refused.value.status == 400
    assert fd.gateway.connections[-1].kind == "refused"


# -- what clients send ---------------------------------------------------------------------


async def test_client_payloads_in_binary_frames_are_read(fd: FakeDiscord) -> None:
    async with raw_gateway(fd) as gw:
        await gw.receive()
        await gw.send({"op": 1, "d": None}, binary=True)
        assert (await gw.receive())["op"] == 11
        data = {"token": TOKEN, "properties": {}, "intents": 1}
        await gw.send({"op": 2, "d": data}, binary=True)
        assert (await gw.receive_dispatch("READY"))["d"]["session_id"]


@pytest.mark.parametrize(
    ("frame", "code"),
    [(b"{not json", 4002), ('{"op": 99, "d": null}', 4001), ('{"op": 8, "d": {}}', 4003)],
)
async def test_bad_payloads_close_with_discords_codes(
    fd: FakeDiscord, frame: str | bytes, code: int
) -> None:
    async with raw_gateway(fd) as gw:
        await gw.receive()
        if isinstance(frame, bytes):
            await gw.ws.send_bytes(frame)
        else:
            await gw.ws.send_str(frame)
        assert await gw.closed_with() == code


async def test_an_unsupported_version_closes_with_4012(fd: FakeDiscord) -> None:
    async with raw_gateway(fd, "?v=3&encoding=json") as gw:
        assert await gw.closed_with() == 4012


async def test_a_second_identify_on_one_connection_closes_with_4005(fd: FakeDiscord) -> None:
    async with raw_gateway(fd) as gw:
        await gw.receive()
        await gw.identify()
        await gw.receive_dispatch("READY")
        await gw.identify()
        assert await gw.closed_with() == 4005


# -- READY ---------------------------------------------------------------------------------


async def test_ready_user_is_the_same_object_as_get_users_me(fd: FakeDiscord) -> None:
    async with raw_gateway(fd) as gw:
        await gw.receive()
        await gw.identify()
        ready_user = (await gw.receive_dispatch("READY"))["d"]["user"]
    async with aiohttp.ClientSession() as http:
        headers = {"Authorization": f"Bot {TOKEN}"}
        async with http.get(fd.rest_url + "/users/@me", headers=headers) as resp:
            me = await resp.json()
    assert ready_user == me
    for key in ("mfa_enabled", "verified", "email", "locale", "flags", "bot"):
        assert key in me, key


# -- shards and session starts -------------------------------------------------------------


@pytest.mark.parametrize("shard", [[2, 2], [-1, 2], [0, 0], [0], "0,1", [True, 2]])
async def test_an_invalid_shard_closes_with_4010(fd: FakeDiscord, shard) -> None:
    async with raw_gateway(fd) as gw:
        await gw.receive()
        await gw.identify(shard=shard)
        assert await gw.closed_with() == 4010


async def test_too_many_guilds_on_one_shard_closes_with_4011(fd: FakeDiscord) -> None:
    fd.add_guild("second")
    fd.max_guilds_per_shard = 1
    async with raw_gateway(fd) as gw:
        await gw.receive()
        await gw.identify()
        assert await gw.closed_with() == 4011
    fd.max_guilds_per_shard = 2
    async with raw_gateway(fd) as gw:
        await gw.receive()
        await gw.identify()
        assert len((await gw.receive_dispatch("READY"))["d"]["guilds"]) == 2


async def test_get_gateway_bot_reports_settable_shards_and_spent_session_starts(
    fd: FakeDiscord,
) -> None:
    fd.recommended_shards = 3
    fd.session_start_limit.max_concurrency = 2

    async def gateway_bot() -> dict:
        async with aiohttp.ClientSession() as http:
            headers = {"Authorization": f"Bot {TOKEN}"}
            async with http.get(fd.rest_url + "/gateway/bot", headers=headers) as resp:
                return await resp.json()

    before = await gateway_bot()
    assert before["url"] == fd.gateway_url and before["shards"] == 3
    limit = before["session_start_limit"]
    assert limit["total"] == 1000 and limit["max_concurrency"] == 2
    assert 0 < limit["reset_after"] <= 24 * 3600 * 1000
    async with raw_gateway(fd) as gw:
        await gw.receive()
        await gw.identify()
        await gw.receive_dispatch("READY")
    after = await gateway_bot()
    assert after["session_start_limit"]["remaining"] == limit["remaining"] - 1


async def test_identifying_again_within_five_seconds_is_an_invalid_session(
    fd: FakeDiscord,
) -> None:
    async with raw_gateway(fd) as first:
        await first.receive()
        await first.identify()
        await first.receive_dispatch("READY")
        async with raw_gateway(fd) as second:
            await second.receive()
            await second.identify()
            assert await second.receive() == {"op": 9, "d": False}
    # Shards in different rate-limit buckets (shard_id % max_concurrency) may start together.
    fd.session_start_limit.max_concurrency = 2
    async with raw_gateway(fd) as shard1:
        await shard1.receive()
        await shard1.identify(shard=[1, 2])
        assert (await shard1.receive_dispatch("READY"))["d"]["shard"] == [1, 2]


async def test_two_sessions_may_identify_the_same_shard_and_both_get_its_events(
    fd: FakeDiscord,
) -> None:
    """Discord: "You can establish multiple sessions with the same [shard_id, num_shards]"."""
    fd.identify_interval = None
    (guild,) = fd.world.guilds.values()
    async with raw_gateway(fd) as one, raw_gateway(fd) as two:
        for gw in (one, two):
            await gw.receive()
            await gw.identify(shard=[0, 1])
            await gw.receive_dispatch("GUILD_CREATE")
        fd.add_channel(guild, "news")
        await fd.flush()
        for gw in (one, two):
            assert (await gw.receive_dispatch("CHANNEL_CREATE"))["d"]["name"] == "news"


async def test_running_out_of_session_starts_resets_the_token(fd: FakeDiscord) -> None:
    fd.identify_interval = None
    fd.session_start_limit.remaining = 1
    async with raw_gateway(fd) as first:
        await first.receive()
        await first.identify()
        await first.receive_dispatch("READY")
        async with raw_gateway(fd) as second:
            await second.receive()
            await second.identify()
            assert await second.closed_with() == 4004
        assert await first.closed_with() == 4004  # every session ends
    async with aiohttp.ClientSession() as http:
        headers = {"Authorization": f"Bot {TOKEN}"}
        async with http.get(fd.rest_url + "/users/@me", headers=headers) as resp:
            assert resp.status == 401
