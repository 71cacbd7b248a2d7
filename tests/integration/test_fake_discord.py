"""The fake Discord against the genuine discord.py: a small real bot, real HTTP and WebSocket.

The bot below is defined here on purpose (the product bot does not exist yet): a guild-synced
``/demo`` group covering each interaction shape, and a global DM-allowed ``/ping``.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import threading
import time
from dataclasses import dataclass

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands

from bot.discord.endpoints import point_discordpy_at
from fakes.discord import FakeDiscord, Guild, InteractionRecord, User
from fakes.discord.models import Channel

TOKEN = "test-token"
MANAGE_GUILD = discord.Permissions(manage_guild=True)


# -- the bot under test ----------------------------------------------------------------------


class PagerView(discord.ui.View):
    """A button only the invoker may press; anybody else is told so, privately."""

    def __init__(self, owner_id: int) -> None:
        super().__init__(timeout=60)
        self.owner_id = owner_id
        self.page = 1

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id != self.owner_id:
            await interaction.response.send_message("Not your button.", ephemeral=True)
            return False
        return True

    @discord.ui.button(label="Next", custom_id="demo:next", style=discord.ButtonStyle.primary)
    async def next_page(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        self.page += 1
        await interaction.response.edit_message(content=f"page {self.page}", view=self)


class FeedbackModal(discord.ui.Modal, title="Feedback"):
    text = discord.ui.TextInput(label="Your feedback", custom_id="feedback:text")

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"thanks: {self.text.value}", ephemeral=True)


class Demo(commands.GroupCog, group_name="demo", group_description="Demo commands"):
    def __init__(self, bot: DemoBot) -> None:
        self.bot = bot
        super().__init__()

    @app_commands.command(description="An embed with a button")
    async def hello(self, interaction: discord.Interaction) -> None:
        embed = discord.Embed(title="Hello", description=f"in #{interaction.channel.name}")
        await interaction.response.send_message(
            "page 1",
            embed=embed,
            view=self.bot.track(PagerView(interaction.user.id)),
            allowed_mentions=discord.AllowedMentions.none(),
        )

    @app_commands.command(description="Defer, then answer")
    async def slow(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        await asyncio.sleep(0.05)
        # Discord's rule: this first followup resolves the public "thinking…" message, so it
        # stays public although it asks to be ephemeral.
        await interaction.followup.send("done", ephemeral=True)
        await interaction.followup.send("details for you", ephemeral=True)
        await interaction.edit_original_response(content="done (edited)")

    @app_commands.command(description="A private answer")
    async def secret(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message("shh", ephemeral=True)

    @app_commands.command(description="Pick a tag")
    @app_commands.describe(name="Tag name")
    async def tag(self, interaction: discord.Interaction, name: str) -> None:
        await interaction.response.send_message(f"tag {name}")

    @tag.autocomplete("name")
    async def tag_names(self, interaction: discord.Interaction, current: str):
        tags = ["cats", "cars", "dogs"]
        return [app_commands.Choice(name=t, value=t) for t in tags if t.startswith(current)]

    @app_commands.command(description="Read an attachment")
    async def upload(self, interaction: discord.Interaction, image: discord.Attachment) -> None:
        data = await image.read()
        digest = hashlib.sha256(data).hexdigest()[:12]
        await interaction.response.send_message(
            f"{image.filename} {image.size} {digest}",
            file=discord.File(io.BytesIO(data), filename="copy.bin"),
        )

    @app_commands.command(description="Typed options")
    async def count(
        self,
        interaction: discord.Interaction,
        n: app_commands.Range[int, 1, 10],
        loud: bool = False,
        who: discord.Member | None = None,
        where: discord.TextChannel | None = None,
    ) -> None:
        words = [str(n), "loud" if loud else "quiet"]
        words += [who.name if who else "-", where.name if where else "-"]
        await interaction.response.send_message(" ".join(words))

    @app_commands.command(description="Needs Manage Server")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def admin(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message("admin ok")

    @app_commands.command(description="Where am I")
    async def where(self, interaction: discord.Interaction) -> None:
        channel = interaction.channel
        await interaction.response.send_message(f"{channel.name} nsfw={channel.is_nsfw()}")

    @app_commands.command(description="Answers twice at once")
    async def twice(self, interaction: discord.Interaction) -> None:
        # Both calls pass discord.py's "already responded?" check before either completes,
        # so the second reaches Discord, which refuses it.
        results = await asyncio.gather(
            interaction.response.send_message("first"),
            interaction.response.send_message("second"),
            return_exceptions=True,
        )
        self.bot.caught.extend(r for r in results if isinstance(r, Exception))

    @app_commands.command(description="Answers too late")
    async def sleepy(self, interaction: discord.Interaction) -> None:
        await asyncio.sleep(0.4)
        try:
            await interaction.response.send_message("finally")
        except discord.HTTPException as exc:
            self.bot.caught.append(exc)

    @app_commands.command(description="Shows a modal")
    async def feedback(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(FeedbackModal())

    async def cog_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        if isinstance(error, app_commands.MissingPermissions):
            await interaction.response.send_message("You need Manage Server.", ephemeral=True)


@app_commands.command(description="Works in DMs too")
@app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
async def ping(interaction: discord.Interaction) -> None:
    where = "DM" if interaction.guild_id is None else "guild"
    await interaction.response.send_message(f"pong ({where})")


class DemoBot(commands.Bot):
    def __init__(self, guild_id: str) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents.default(),  # no members intent: no chunking
            guild_ready_timeout=0.05,
        )
        self.test_guild = discord.Object(int(guild_id))
        self.caught: list[Exception] = []
        self.tree_errors: list[Exception] = []
        self.views: list[discord.ui.View] = []

    def track(self, view: discord.ui.View) -> discord.ui.View:
        self.views.append(view)
        return view

    async def close(self) -> None:
        # discord.py leaves each View's timeout task running after close(); stop them.
        for view in self.views:
            view.stop()
        await super().close()

    async def setup_hook(self) -> None:
        await self.add_cog(Demo(self), guild=self.test_guild)
        self.tree.add_command(ping)
        self.tree.on_error = self._record_tree_error
        await self.tree.sync(guild=self.test_guild)
        await self.tree.sync()

    async def _record_tree_error(self, interaction, error) -> None:
        self.tree_errors.append(error)


# -- fixtures --------------------------------------------------------------------------------


@dataclass
class Env:
    fd: FakeDiscord
    bot: DemoBot
    guild: Guild
    sfw: Channel
    nsfw: Channel
    alice: User
    bob: User


@pytest.fixture
async def env(fd: FakeDiscord):
    guild = fd.add_guild("test guild")
    sfw = fd.add_channel(guild, "general")
    nsfw = fd.add_channel(guild, "nsfw", nsfw=True)
    alice, bob = fd.add_user("alice"), fd.add_user("bob")
    bot = DemoBot(guild.id)
    await bot.login(TOKEN)
    runner = asyncio.create_task(bot.connect())
    await fd.wait_until_ready(timeout=10)
    await asyncio.wait_for(bot.wait_until_ready(), 10)
    yield Env(fd, bot, guild, sfw, nsfw, alice, bob)
    await bot.close()
    await asyncio.wait_for(runner, 10)


async def run(env: Env, *path: str, **kwargs) -> InteractionRecord:
    kwargs.setdefault("user", env.alice)
    kwargs.setdefault("channel", env.sfw)
    return await env.fd.slash("demo", *path, **kwargs)


# -- login, sync, gateway --------------------------------------------------------------------


async def test_wrong_token_is_a_login_failure(fd: FakeDiscord) -> None:
    bot = DemoBot("1")
    with pytest.raises(discord.LoginFailure):
        await bot.login("not-the-token")
    await bot.close()
    assert fd.requests("GET", "/users/@me")[0].status == 401


async def test_sync_payloads_are_recorded_and_answered_with_ids(env: Env) -> None:
    guild_body = env.fd.synced_commands(env.guild)
    assert [c["name"] for c in guild_body] == ["demo"]
    demo = guild_body[0]
    assert demo["description"] == "Demo commands"
    subs = {o["name"]: o for o in demo["options"]}
    assert set(subs) == {
        "hello", "slow", "secret", "tag", "upload", "count", "admin", "where", "twice",
        "sleepy", "feedback",
    }  # fmt: skip
    assert subs["tag"]["options"] == [
        {
            "type": 3,
            "name": "name",
            "description": "Tag name",
            "required": True,
            "autocomplete": True,
        }
    ]
    count = {o["name"]: o for o in subs["count"]["options"]}
    assert (
        count["n"]["type"] == 4 and count["n"]["min_value"] == 1 and count["n"]["max_value"] == 10
    )
    assert subs["upload"]["options"][0]["type"] == 11
    assert [c["name"] for c in env.fd.synced_commands()] == ["ping"]
    assert env.fd.synced_commands()[0]["contexts"] == [0, 1, 2]
    # What discord.py got back carries the ids Discord adds.
    fetched = await env.bot.tree.fetch_commands(guild=env.bot.test_guild)
    assert [c.name for c in fetched] == ["demo"]
    assert fetched[0].id == int(env.fd.commands(env.guild)[0]["id"])
    assert env.bot.application_id == int(env.fd.application_id)
    assert env.fd.unmatched_requests == []


async def test_ready_and_guild_create_fill_the_bot_cache(env: Env) -> None:
    guild = env.bot.get_guild(int(env.guild.id))
    assert guild is not None and guild.name == "test guild"
    assert guild.get_channel(int(env.nsfw.id)).is_nsfw()
    assert not guild.get_channel(int(env.sfw.id)).is_nsfw()
    assert guild.me.id == int(env.fd.bot_user.id)
    identify = next(p for p in env.fd.gateway.received if p["op"] == 2)
    assert identify["d"]["token"] == TOKEN
    assert identify["d"]["intents"] == discord.Intents.default().value
    # A guild joined later arrives as GUILD_CREATE too.
    later = env.fd.add_guild("later")
    env.fd.add_channel(later, "news")
    await env.fd.flush()
    await asyncio.wait_for(_until(lambda: env.bot.get_guild(int(later.id))), 5)
    assert await env.bot.is_owner(await env.bot.fetch_user(int(env.fd.owner.id)))


async def _until(check, timeout: float = 5.0) -> None:  # noqa: ASYNC109
    """Poll bot-side state (discord.py offers no event for it) until ``check()`` holds."""
    async with asyncio.timeout(timeout):
        while not check():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_reconnect_resumes_the_session(env: Env) -> None:
    await env.fd.reconnect_bot()
    assert env.fd.gateway.connections[-1].path == "/gateway/resume"
    assert env.fd.gateway.connections[-1].kind == "resume"
    inter = await run(env, "where")
    assert (await inter.wait_done()).content == "general nsfw=False"


# -- slash commands and responses ------------------------------------------------------------


async def test_slash_reply_with_embed_and_button(env: Env) -> None:
    inter = await run(env, "hello")
    first = await inter.wait_response()
    assert first.type == 4 and not first.deferred
    msg = inter.original
    assert msg.content == "page 1" and msg.embed["title"] == "Hello"
    assert msg.embed["description"] == "in #general"
    assert [b["label"] for b in msg.buttons] == ["Next"]
    assert msg.allowed_mentions == {"parse": []}
    assert not inter.ephemeral
    assert env.fd.channel_messages(env.sfw) == [msg]
    # The payload was shaped like Discord's: nested subcommand, member with permissions.
    assert inter.payload["data"]["options"] == [{"type": 1, "name": "hello", "options": []}]
    assert "permissions" in inter.payload["member"]


async def test_button_click_by_invoker_and_by_someone_else(env: Env) -> None:
    inter = await run(env, "hello")
    msg = (await inter.wait_response()).message

    mine = await env.fd.click(msg, label="Next", user=env.alice)
    assert (await mine.wait_response()).type == 7  # UPDATE_MESSAGE, on the same message
    assert mine.original is msg and msg.content == "page 2"

    theirs = await env.fd.click(inter, custom_id="demo:next", user=env.bob)
    reply = await theirs.wait_done()
    assert reply.content == "Not your button." and reply.ephemeral
    assert msg.content == "page 2"  # unchanged
    assert [h["content"] for h in msg.history] == ["page 1"]


async def test_defer_then_followups_and_original_edit(env: Env) -> None:
    inter = await run(env, "slow")
    first = await inter.wait_response()
    assert first.deferred and first.type == 5
    await inter.wait_followup(1)
    await inter.wait_until(lambda r: r.original.content == "done (edited)")
    original = inter.original
    assert not original.loading and not original.ephemeral  # the deferral decided: public
    assert original.history[0]["flags"] & 128  # it was "thinking…" first
    assert [m.content for m in inter.followups] == ["details for you"]
    assert inter.followups[0].ephemeral
    assert env.fd.channel_messages(env.sfw) == [original]

    # The same webhook, spoken to directly: read @original, delete a followup, then expire.
    hook = f"{env.fd.rest_url}/webhooks/{env.fd.application_id}/{inter.token}"
    async with aiohttp.ClientSession() as http:
        async with http.get(hook + "/messages/@original") as resp:
            assert (await resp.json())["content"] == "done (edited)"
        async with http.delete(f"{hook}/messages/{inter.followups[0].id}") as resp:
            assert resp.status == 204 and inter.followups[0].deleted
        env.fd.backend.token_lifetime = 0
        async with http.post(hook, json={"content": "too late"}) as resp:
            assert resp.status == 401 and (await resp.json())["code"] == 50027


async def test_ephemeral_response_stays_out_of_the_channel(env: Env) -> None:
    inter = await run(env, "secret")
    msg = await inter.wait_done()
    assert msg.content == "shh" and inter.ephemeral and msg.flags & 64
    assert env.fd.channel_messages(env.sfw) == []


async def test_typed_options_and_resolved_objects(env: Env) -> None:
    opts = {"n": 3, "loud": True, "who": env.bob, "where": env.nsfw}
    inter = await run(env, "count", options=opts)
    assert (await inter.wait_done()).content == "3 loud bob nsfw"
    resolved = inter.payload["data"]["resolved"]
    assert set(resolved) == {"users", "members", "channels"}
    with pytest.raises(ValueError, match="within"):
        await run(env, "count", options={"n": 11})
    with pytest.raises(ValueError, match="missing required"):
        await run(env, "count")
    with pytest.raises(ValueError, match="no option"):
        await run(env, "count", options={"n": 1, "nope": 2})


async def test_autocomplete_choices(env: Env) -> None:
    choices = await env.fd.autocomplete(
        "demo", "tag", focused="name", value="ca", user=env.alice, channel=env.sfw
    )
    assert choices == [{"name": "cats", "value": "cats"}, {"name": "cars", "value": "cars"}]
    inter = await run(env, "tag", options={"name": "cats"})
    assert (await inter.wait_done()).content == "tag cats"


async def test_attachment_is_read_from_the_cdn_and_files_are_uploaded(env: Env) -> None:
    data = bytes(range(256)) * 40
    image = env.fd.add_attachment("cat.png", data, "image/png", width=2, height=2)
    inter = await run(env, "upload", options={"image": image})
    msg = await inter.wait_done()
    assert msg.content == f"cat.png {len(data)} {hashlib.sha256(data).hexdigest()[:12]}"
    assert env.fd.cdn.downloads == [image.id]
    assert msg.files["copy.bin"] == data  # the multipart upload arrived intact
    assert msg.attachments[0]["filename"] == "copy.bin"
    async with aiohttp.ClientSession() as http:  # and is served by the CDN in turn
        async with http.get(msg.attachments[0]["url"]) as resp:
            assert await resp.read() == data


async def test_permission_check_uses_the_member_permissions(env: Env) -> None:
    denied = await run(env, "admin")
    reply = await denied.wait_done()
    assert reply.content == "You need Manage Server." and reply.ephemeral
    await _until(lambda: env.bot.tree_errors)  # the tree's handler runs after the cog's
    assert isinstance(env.bot.tree_errors[-1], app_commands.MissingPermissions)

    allowed = await run(env, "admin", permissions=MANAGE_GUILD)
    assert (await allowed.wait_done()).content == "admin ok"
    assert allowed.payload["member"]["permissions"] == str(MANAGE_GUILD.value)


async def test_nsfw_channel_is_visible_to_the_command(env: Env) -> None:
    inter = await run(env, "where", channel=env.nsfw)
    assert (await inter.wait_done()).content == "nsfw nsfw=True"


async def test_dm_context(env: Env) -> None:
    inter = await env.fd.slash("ping", user=env.alice)  # no channel: the DM with the bot
    assert (await inter.wait_done()).content == "pong (DM)"
    assert "guild_id" not in inter.payload and inter.payload["user"]["username"] == "alice"
    assert inter.payload["channel"]["type"] == 1
    in_guild = await env.fd.slash("ping", user=env.alice, channel=env.sfw)
    assert (await in_guild.wait_done()).content == "pong (guild)"
    with pytest.raises(LookupError, match="not synced"):
        await env.fd.slash("demo", "hello", user=env.alice)  # guild-only, so not in DMs


async def test_modal_round_trip(env: Env) -> None:
    inter = await run(env, "feedback")
    await inter.wait_response()
    assert inter.modal["title"] == "Feedback"
    submitted = await env.fd.submit_modal(inter, {"feedback:text": "great"})
    assert (await submitted.wait_done()).content == "thanks: great"


# -- Discord's refusals ----------------------------------------------------------------------


async def test_second_acknowledgement_is_refused(env: Env) -> None:
    inter = await run(env, "twice")
    await inter.wait_until(lambda r: r.rejected)
    await _until(lambda: env.bot.caught)
    assert inter.rejected == [(4, 400, 40060)]
    assert inter.original.content == "first"
    error = env.bot.caught[0]
    assert isinstance(error, discord.HTTPException) and error.code == 40060
    assert error.text == "Interaction has already been acknowledged."


async def test_late_first_response_is_unknown_interaction(env: Env) -> None:
    env.fd.interaction_deadline = 0.2
    inter = await run(env, "sleepy")
    await inter.wait_until(lambda r: r.rejected)
    await _until(lambda: env.bot.caught)
    assert inter.rejected == [(4, 404, 10062)] and inter.response is None
    assert isinstance(env.bot.caught[0], discord.NotFound) and env.bot.caught[0].code == 10062


async def test_429_is_retried_by_discordpy(env: Env) -> None:
    channel = env.bot.get_channel(int(env.sfw.id))
    injected = env.fd.inject_rate_limit(f"/channels/{env.sfw.id}/messages", retry_after=0.3)
    started = time.monotonic()
    sent = await channel.send("hello after a 429")
    assert time.monotonic() - started >= 0.3
    assert injected.hits == 1
    statuses = [r.status for r in env.fd.requests("POST", f"/channels/{env.sfw.id}/messages")]
    assert statuses == [429, 200]
    assert [m.content for m in env.fd.channel_messages(env.sfw)] == ["hello after a 429"]
    assert sent.id == int(env.fd.channel_messages(env.sfw)[0].id)

    # The webhook adapter (interaction responses) honours it too.
    env.fd.inject_rate_limit("/interactions/", retry_after=0.2)
    inter = await run(env, "secret")
    assert (await inter.wait_done()).content == "shh"
    assert [r.status for r in env.fd.requests("POST", "/interactions/")] == [429, 200]


async def test_global_rate_limit_is_survived(env: Env) -> None:
    env.fd.global_rate_limit = 3
    channels = await asyncio.gather(*(env.bot.fetch_channel(int(env.sfw.id)) for _ in range(6)))
    assert {c.id for c in channels} == {int(env.sfw.id)}
    assert ("GET", f"/channels/{env.sfw.id}", "global") in env.fd.limiter.rejected


# -- channel messages and the HTTP surface ---------------------------------------------------


async def test_channel_message_post_edit_delete(env: Env) -> None:
    channel = env.bot.get_channel(int(env.nsfw.id))
    sent = await channel.send(
        "scheduled post",
        embed=discord.Embed(title="Top of the day"),
        file=discord.File(io.BytesIO(b"gif-bytes"), filename="a.gif"),
        allowed_mentions=discord.AllowedMentions.none(),
    )
    posted = await env.fd.wait_for_message(env.nsfw, lambda m: "scheduled" in m.content)
    assert posted.embed["title"] == "Top of the day" and posted.files["a.gif"] == b"gif-bytes"
    await sent.edit(content="scheduled post (edited)")
    assert posted.content == "scheduled post (edited)"
    fetched = await channel.fetch_message(sent.id)
    assert fetched.content == "scheduled post (edited)"
    await sent.delete()
    assert env.fd.channel_messages(env.nsfw) == []


async def test_http_surface_is_discord_shaped(fd: FakeDiscord) -> None:
    async with aiohttp.ClientSession() as http:
        auth = {"Authorization": f"Bot {TOKEN}"}
        async with http.get(fd.rest_url + "/users/@me", headers=auth) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"] == "application/json"  # no charset
            assert resp.headers["X-RateLimit-Bucket"] and resp.headers["X-RateLimit-Limit"]
            assert (await resp.json())["bot"] is True
        async with http.get(fd.rest_url + "/users/@me") as resp:
            assert resp.status == 401
            assert await resp.json() == {"message": "401: Unauthorized", "code": 0}
        async with http.get(fd.rest_url + "/no/such/route", headers=auth) as resp:
            assert resp.status == 404 and resp.headers["Content-Type"] == "application/json"
        async with http.post(fd.rest_url + "/interactions/1/x/callback", json={"type": 4}) as resp:
            assert (await resp.json())["code"] == 10062
    assert [r.path for r in fd.unmatched_requests] == ["/no/such/route"]


async def test_point_discordpy_at_restores() -> None:
    before = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    restore = point_discordpy_at("http://127.0.0.1:1/api/v10/", "ws://127.0.0.1:1/gateway")
    assert discord.http.Route.BASE == "http://127.0.0.1:1/api/v10"
    assert str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == "ws://127.0.0.1:1/gateway"
    restore()
    assert (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == before


async def test_clean_shutdown_leaves_nothing_running(fd: FakeDiscord) -> None:
    guild = fd.add_guild("g")
    fd.add_channel(guild, "general")
    bot = DemoBot(guild.id)
    await bot.login(TOKEN)
    runner = asyncio.create_task(bot.connect())
    await fd.wait_until_ready()
    await asyncio.wait_for(bot.wait_until_ready(), 5)
    inter = await fd.slash("demo", "hello", channel=guild.channel("general"))
    await inter.wait_done()  # leaves a View (and its timeout task) behind

    await bot.close()
    await asyncio.wait_for(runner, 5)
    assert bot.is_closed()
    await fd.wait_for(lambda: fd.gateway.open_sockets == 0, what="the socket to close")
    assert fd.gateway.connected_sessions() == []
    assert [c.kind for c in fd.gateway.connections] == ["identify"]
    await asyncio.sleep(0)  # let cancelled tasks finish
    leftovers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert [(t.get_name(), t.get_coro()) for t in leftovers if not t.done()] == []
    # The heartbeat thread has been told to stop; it exits as soon as it wakes.
    await _until(
        lambda: not [t for t in threading.enumerate() if "keep-alive" in t.name], timeout=2
    )


async def test_options_accept_discordpy_objects_and_ids(env: Env) -> None:
    member = env.bot.get_guild(int(env.guild.id)).me  # a discord.Member, matched by id
    inter = await run(env, "count", options={"n": 2, "who": member, "where": int(env.nsfw.id)})
    assert (await inter.wait_done()).content == f"2 quiet {env.fd.bot_user.username} nsfw"


async def test_standalone_sandbox_world() -> None:
    from fakes.discord.__main__ import build, parse_args, settings

    fake = build(parse_args(["--port", "0", "--token", "s", "--nsfw-channel", "after-dark"]))
    async with fake:
        (guild,) = fake.world.guilds.values()
        assert [(c.name, c.nsfw) for c in guild.channels] == [
            ("general", False),
            ("after-dark", True),
        ]
        assert f'api_base_url = "{fake.rest_url}"' in settings(fake)
        async with aiohttp.ClientSession() as http:
            headers = {"Authorization": "Bot s"}
            async with http.get(fake.rest_url + "/users/@me", headers=headers) as resp:
                assert resp.status == 200
