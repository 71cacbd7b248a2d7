"""The fake Discord's world as the coming features meet it, with the genuine discord.py.

Channel permissions (overwrites, Missing Permissions / Missing Access), the bot leaving a
server, channels changing and disappearing, DMs the bot opens, the system channel, message
and user context menus on a member's message with attachments, component ids, the Date
header and clock skews.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands

from fakes.discord import FakeDiscord, Guild, User
from fakes.discord.models import (
    ATTACH_FILES,
    CHANNEL_PERMISSIONS,
    EMBED_LINKS,
    SEND_MESSAGES,
    VIEW_CHANNEL,
    Channel,
    snowflake_time,
)

TOKEN = "test-token"


class Buttons(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=None)
        self.add_item(discord.ui.Button(label="One", custom_id="b:1"))
        self.add_item(discord.ui.Button(label="Two", custom_id="b:2"))
        self.add_item(
            discord.ui.Select(custom_id="s:1", options=[discord.SelectOption(label="x")], row=1)
        )


@app_commands.context_menu(name="Upload to Imgur")
async def upload_menu(interaction: discord.Interaction, message: discord.Message) -> None:
    await interaction.response.defer(ephemeral=True, thinking=True)
    lines = []
    for attachment in message.attachments:
        data = await attachment.read()
        lines.append(f"{attachment.filename} {len(data)} {hashlib.sha256(data).hexdigest()[:8]}")
    await interaction.followup.send(" | ".join(lines) or "no files", ephemeral=True)


@app_commands.context_menu(name="Wave")
async def wave_menu(interaction: discord.Interaction, member: discord.Member) -> None:
    await interaction.response.send_message(f"waves at {member.name}")


@app_commands.command(description="What may the bot do here")
async def perms(interaction: discord.Interaction) -> None:
    app = interaction.app_permissions
    created = interaction.created_at.timestamp()
    await interaction.response.send_message(
        f"embed={app.embed_links} files={app.attach_files} created={created:.0f}"
    )


class WorldBot(commands.Bot):
    def __init__(self, guild_id: str) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents.default(),
            guild_ready_timeout=0.05,
        )
        self.test_guild = discord.Object(int(guild_id))
        self.removed: list[int] = []

    async def setup_hook(self) -> None:
        for command in (upload_menu, wave_menu, perms):
            self.tree.add_command(command, guild=self.test_guild)
        await self.tree.sync(guild=self.test_guild)

    async def on_guild_remove(self, guild: discord.Guild) -> None:
        self.removed.append(guild.id)


@dataclass
class Env:
    fd: FakeDiscord
    bot: WorldBot
    guild: Guild
    sfw: Channel
    alice: User
    bob: User

    def channel(self, channel: Channel) -> discord.TextChannel:
        return self.bot.get_channel(int(channel.id))


@pytest.fixture
async def env(fd: FakeDiscord):
    guild = fd.add_guild("world")
    sfw = fd.add_channel(guild, "general")
    bot = WorldBot(guild.id)
    await bot.login(TOKEN)
    runner = asyncio.create_task(bot.connect())
    await fd.wait_until_ready()
    await asyncio.wait_for(bot.wait_until_ready(), 10)
    yield Env(fd, bot, guild, sfw, fd.add_user("alice"), fd.add_user("bob"))
    await bot.close()
    await asyncio.wait_for(runner, 10)


async def until(check, timeout: float = 5.0) -> None:  # noqa: ASYNC109
    """Poll bot-side state (discord.py offers no event for it) until ``check()`` holds."""
    async with asyncio.timeout(timeout):
        while not check():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


def bot_role(env: Env) -> discord.Role:
    return env.bot.get_guild(int(env.guild.id)).get_role(int(env.guild.bot_role_id))


# -- permissions -----------------------------------------------------------------------------


async def test_overwrites_give_discordpy_and_the_fake_the_same_permissions(env: Env) -> None:
    fd, guild = env.fd, env.guild
    role = guild.role(guild.bot_role_id)
    cases = {
        "locked": (role, 0, SEND_MESSAGES),
        "no-embeds": (guild, 0, EMBED_LINKS),  # @everyone's overwrite binds the bot too
        "hidden": (fd.bot_user, 0, VIEW_CHANNEL),
        "no-files": (fd.bot_user, 0, ATTACH_FILES),
        "reopened": (role, SEND_MESSAGES, 0),
    }
    made = {}
    for name, (target, allow, deny) in cases.items():
        made[name] = fd.add_channel(guild, name)
        fd.set_permissions(made[name], target, allow=allow, deny=deny)
    fd.set_permissions(made["reopened"], guild, deny=SEND_MESSAGES)  # everyone denied, role not
    await fd.flush()
    await until(lambda: all(env.channel(c) for c in made.values()))
    await until(lambda: len(env.channel(made["reopened"]).overwrites) == 2)

    me = env.bot.get_guild(int(guild.id)).me
    voice = discord.Permissions.voice().value  # discord.py drops these in text channels
    for name, channel in made.items():
        theirs = env.channel(channel).permissions_for(me).value
        assert theirs == fd.bot_permissions(channel) & ~voice, name
    assert not fd.bot_permissions(made["locked"]) & (SEND_MESSAGES | EMBED_LINKS | ATTACH_FILES)
    assert fd.bot_permissions(made["hidden"]) & CHANNEL_PERMISSIONS == 0  # guild-wide ones stay
    assert fd.bot_permissions(made["reopened"]) & SEND_MESSAGES


async def test_posting_without_the_permission_is_refused_as_discord_does(env: Env) -> None:
    fd, guild = env.fd, env.guild
    locked, hidden, bare = (fd.add_channel(guild, n) for n in ("locked", "hidden", "bare"))
    fd.set_permissions(locked, guild.role(guild.bot_role_id), deny=SEND_MESSAGES)
    fd.set_permissions(hidden, fd.bot_user, deny=VIEW_CHANNEL)
    fd.set_permissions(bare, guild, deny=EMBED_LINKS | ATTACH_FILES)
    await fd.flush()
    await until(lambda: env.channel(bare) and env.channel(bare).overwrites)

    async def refusal(channel: Channel, **kwargs) -> tuple[int, int]:
        with pytest.raises(discord.Forbidden) as refused:
            await env.channel(channel).send("hi", **kwargs)
        return refused.value.status, refused.value.code

    assert await refusal(locked) == (403, 50013)
    assert await refusal(hidden) == (403, 50001)  # cannot see it: Missing Access
    assert await refusal(bare, embed=discord.Embed(title="t")) == (403, 50013)
    assert await refusal(bare, file=discord.File(io.BytesIO(b"x"), "x.txt")) == (403, 50013)
    await env.channel(bare).send("plain text still goes")
    assert [m.content for m in fd.channel_messages(bare)] == ["plain text still goes"]
    assert fd.channel_messages(locked) == [] and fd.channel_messages(hidden) == []


async def test_app_permissions_follow_the_channel(env: Env) -> None:
    no_embeds = env.fd.add_channel(env.guild, "no-embeds")
    env.fd.set_permissions(no_embeds, env.guild, deny=EMBED_LINKS)
    here = await env.fd.slash("perms", channel=env.sfw, user=env.alice)
    there = await env.fd.slash("perms", channel=no_embeds, user=env.alice)
    assert (await here.wait_done()).content.startswith("embed=True files=True")
    assert (await there.wait_done()).content.startswith("embed=False files=True")
    assert int(there.payload["app_permissions"]) == env.fd.bot_permissions(no_embeds)


# -- the bot's servers and channels change -------------------------------------------------


async def test_syncing_commands_to_a_guild_the_bot_is_not_in_is_missing_access(
    env: Env,
) -> None:
    with pytest.raises(discord.Forbidden) as refused:
        await env.bot.tree.sync(guild=discord.Object(123456789012345678))
    assert refused.value.code == 50001


async def test_the_bot_removed_from_a_server(env: Env) -> None:
    env.fd.remove_bot(env.guild)
    await env.fd.flush()
    await until(lambda: env.bot.removed == [int(env.guild.id)])
    assert env.bot.get_guild(int(env.guild.id)) is None
    route = discord.http.Route
    channel_id, guild_id = int(env.sfw.id), int(env.guild.id)
    for call in (
        env.bot.http.request(
            route("POST", "/channels/{channel_id}/messages", channel_id=channel_id),
            json={"content": "still here?"},
        ),
        env.bot.http.get_channel(channel_id),
        env.bot.http.get_guild(guild_id),
        env.bot.tree.sync(guild=env.bot.test_guild),
    ):
        with pytest.raises(discord.Forbidden) as refused:
            await call
        assert refused.value.code == 50001
    with pytest.raises(LookupError, match="not in"):
        await env.fd.slash("perms", channel=env.sfw)


async def test_channel_updates_and_deletion_reach_the_bot(env: Env) -> None:
    env.fd.update_channel(env.sfw, nsfw=True, topic="after dark")
    await env.fd.flush()
    await until(lambda: env.channel(env.sfw).is_nsfw())
    assert env.channel(env.sfw).topic == "after dark"

    doomed = env.fd.add_channel(env.guild, "doomed")
    await env.fd.flush()
    await until(lambda: env.channel(doomed) is not None)
    env.fd.delete_channel(doomed)
    await env.fd.flush()
    await until(lambda: env.channel(doomed) is None)
    with pytest.raises(discord.NotFound) as gone:
        await env.bot.fetch_channel(int(doomed.id))
    assert gone.value.code == 10003
    with pytest.raises(ValueError, match="cannot change"):
        env.fd.update_channel(env.sfw, owner="me")


async def test_the_bot_opens_a_dm_and_writes_there(env: Env) -> None:
    user = await env.bot.fetch_user(int(env.alice.id))
    sent = await user.send("hello in private", allowed_mentions=discord.AllowedMentions.none())
    dm = env.fd.dm_channel(env.alice)
    assert [m.content for m in env.fd.channel_messages(dm)] == ["hello in private"]
    assert sent.channel.id == int(dm.id) and isinstance(sent.channel, discord.DMChannel)
    assert env.fd.requests("POST", "/users/@me/channels")[0].body == {
        "recipient_id": int(env.alice.id)
    }


async def test_system_channel_reaches_the_bot(env: Env) -> None:
    assert env.bot.get_guild(int(env.guild.id)).system_channel is None
    env.fd.set_system_channel(env.guild, env.sfw)
    await env.fd.flush()
    await until(lambda: env.bot.get_guild(int(env.guild.id)).system_channel is not None)
    assert env.bot.get_guild(int(env.guild.id)).system_channel.id == int(env.sfw.id)
    with pytest.raises(ValueError, match="not a channel of"):
        env.fd.set_system_channel(env.fd.add_guild("other"), env.sfw)


# -- messages, components, context menus -----------------------------------------------------


async def test_components_get_discords_numeric_ids(env: Env) -> None:
    sent = await env.channel(env.sfw).send("pick", view=Buttons())
    stored = env.fd.channel_messages(env.sfw)[0]
    ids = [c["id"] for c in stored.iter_components()]
    assert ids == [1, 2, 3, 4, 5]  # row, button, button, row, select: in order
    assert [c.id for c in sent.components[0].children] == [2, 3]  # discord.py read them back
    # Ids the sender chose are kept, and numbering skips them.
    row = {"type": 1, "components": [{"type": 2, "custom_id": "a", "label": "A", "id": 2}]}
    row["components"].append({"type": 2, "custom_id": "b", "label": "B"})
    await env.bot.http.request(
        discord.http.Route("POST", "/channels/{channel_id}/messages", channel_id=env.sfw.id),
        json={"content": "x", "components": [row]},
    )
    latest = env.fd.channel_messages(env.sfw)[-1]
    assert [c["id"] for c in latest.iter_components()] == [1, 2, 3]


async def test_upload_menu_on_a_members_message_with_attachments(env: Env) -> None:
    cat, dog = b"\x89PNG" + bytes(5000), b"GIF89a" + bytes(7000)
    posted = await env.fd.post_message(
        env.sfw,
        env.alice,
        "two pets",
        attachments=[("cat.png", cat, "image/png"), ("dog.gif", dog)],
    )
    assert posted.author is env.alice and [a["filename"] for a in posted.attachments] == [
        "cat.png",
        "dog.gif",
    ]
    record = await env.fd.message_command("Upload to Imgur", posted, user=env.bob)
    answer = await record.wait_done()
    digest = [hashlib.sha256(d).hexdigest()[:8] for d in (cat, dog)]
    assert answer.content == f"cat.png 5004 {digest[0]} | dog.gif 7006 {digest[1]}"
    assert answer.ephemeral
    data = record.payload["data"]
    assert data["type"] == 3 and data["target_id"] == posted.id
    resolved = data["resolved"]["messages"][posted.id]
    assert resolved["content"] == "two pets" and resolved["author"]["id"] == env.alice.id
    assert len(env.fd.cdn.downloads) == 2


async def test_user_menu_resolves_the_user_and_partial_member(env: Env) -> None:
    record = await env.fd.user_command("Wave", env.bob, user=env.alice, channel=env.sfw)
    assert (await record.wait_done()).content == "waves at bob"
    data = record.payload["data"]
    assert data["type"] == 2 and data["target_id"] == env.bob.id
    assert data["resolved"]["users"][env.bob.id]["username"] == "bob"
    member = data["resolved"]["members"][env.bob.id]
    assert "permissions" in member and not {"user", "deaf", "mute"} & set(member)
    with pytest.raises(LookupError, match="no message command"):
        await env.fd.message_command("Wave", env.fd.channel_messages(env.sfw)[0])


# -- time ----------------------------------------------------------------------------------


async def test_date_header_and_snowflakes_follow_the_fakes_clock_skews(env: Env) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(env.fd.cdn_url + "/attachments/0/x") as resp:
            plain = parsedate_to_datetime(resp.headers["Date"]).timestamp()
        env.fd.clock_skew_s = 900
        headers = {"Authorization": f"Bot {TOKEN}"}
        async with http.get(env.fd.rest_url + "/users/@me", headers=headers) as resp:
            skewed = parsedate_to_datetime(resp.headers["Date"]).timestamp()
    assert abs(plain - time.time()) < 5
    assert abs(skewed - (time.time() + 900)) < 5

    env.fd.snowflake_skew_s = 900  # interaction ids 15 minutes ahead of the host clock
    record = await env.fd.slash("perms", channel=env.sfw, user=env.alice)
    answer = await record.wait_done()
    assert abs(snowflake_time(record.id) - (time.time() + 900)) < 5
    seen = float(answer.content.split("created=")[1])
    assert abs(seen - snowflake_time(record.id)) < 1  # what discord.py read as created_at
    assert abs(snowflake_time(answer.id) - (time.time() + 900)) < 5
