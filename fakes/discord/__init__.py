"""A fake Discord for the genuine discord.py: REST, gateway and CDN over real HTTP/WebSocket.

It is product, not test clutter: end-to-end tests use it now and the offline sandbox will run
the real bot against it later. Start it, point discord.py at it, start a bot, then act as
Discord users would and read back what the bot sent::

    from fakes.discord import FakeDiscord

    async with FakeDiscord(token="test-token") as fd:          # 127.0.0.1, a free port
        guild = fd.add_guild("g")                              # before or after the bot connects
        sfw = fd.add_channel(guild, "general")
        nsfw = fd.add_channel(guild, "nsfw", nsfw=True)
        alice, bob = fd.add_user("alice"), fd.add_user("bob")
        restore = point_discordpy_at(fd.rest_url, fd.gateway_url)   # bot.discord.endpoints
        bot = MyBot(...)
        await bot.login("test-token"); task = asyncio.create_task(bot.connect())
        await fd.wait_until_ready()                            # READY + every GUILD_CREATE sent

        inter = await fd.slash("imgur", "search", options={"query": "cats"},
                               user=alice, channel=sfw)
        first = await inter.wait_response()                    # Callback: .type .message .deferred
        answer = await inter.wait_done()                       # the Message the user finally sees
        inter.original, inter.followups, inter.ephemeral, inter.rejected

        click = await fd.click(inter, label="Next", user=bob)   # or custom_id=...; on a Message too
        choices = await fd.autocomplete("imgur", "tag", focused="name", value="ca", channel=sfw)
        image = fd.add_attachment("cat.png", png_bytes, "image/png")   # an attachment option value
        fd.synced_commands(guild=None)                         # the last PUT body, as sent
        fd.channel_messages(sfw); await fd.wait_for_message(sfw, lambda m: "cat" in m.content)
        fd.inject_rate_limit("/channels/", retry_after=0.2, count=1)
        fd.requests("POST", "/channels/"); fd.unmatched_requests

        await bot.close(); await task

Test API (``FakeDiscord``; see ``server.py`` for every parameter):

- ``FakeDiscord(token="test-token", *, host, port=0, bot_name, owner_name,
  interaction_deadline=3.0 (None: no limit), token_lifetime=900, global_rate_limit=50
  (None: off), route_limit=RouteLimit(50, 1.0) (None: no bucket headers), heartbeat_interval_ms)``
- URLs: ``rest_url`` (``http://127.0.0.1:P/api/v10``), ``gateway_url`` (``ws://…/gateway``),
  ``cdn_url`` (``http://…/cdn``). The fake patches no client library: point yours at these
  URLs (for discord.py, ``bot.discord.endpoints.point_discordpy_at``).
- World: ``add_guild(name, *, owner, everyone_permissions, bot_permissions) -> Guild``,
  ``add_channel(guild, name, *, nsfw, type, topic) -> Channel``, ``add_user(name) -> User``,
  ``add_role(guild, name, *, permissions) -> Role``, ``add_member(guild, user, *, roles)``,
  ``dm_channel(user)``, ``add_attachment(filename, data, content_type) -> CdnFile``;
  ``bot_user``, ``owner`` (the application owner), ``default_user``, ``application_id``.
- Users acting: ``await slash(name, *path, options=, user=, channel=None (DM), permissions=,
  app_permissions=, locale=)``, ``await autocomplete(name, *path, focused=, value=, options=,
  user=, channel=) -> list[choice]``, ``await click(message|record|callback, custom_id= |
  label=, user=, permissions=)``, ``await select(..., custom_id=, values=)``,
  ``await submit_modal(record_that_got_the_modal, {custom_id: value})``; each returns an
  ``InteractionRecord`` (except ``autocomplete``). Option types come from the synced command
  definitions; Discord's client rules (required, choices, ranges) are enforced.
- ``InteractionRecord``: ``await wait_response()``, ``await wait_done()``,
  ``await wait_followup(n)``, ``response``, ``callbacks``, ``rejected`` (refused callbacks as
  ``(type, status, code)``), ``original``, ``followups``, ``messages``, ``deferred``,
  ``ephemeral``, ``choices``, ``modal``, ``payload`` (what was dispatched).
- ``Message`` (live: edits apply in place, earlier versions in ``history``): ``content``,
  ``embeds``/``embed``, ``components``, ``buttons``, ``find_component()``, ``flags``,
  ``ephemeral``, ``loading``, ``attachments``, ``files`` (uploaded bytes by filename),
  ``allowed_mentions``, ``deleted``.
- Reading: ``synced_commands(guild)``, ``commands(guild)``, ``channel_messages(channel)``,
  ``await wait_for_message(channel, check, count=, timeout=)``, ``requests(method, prefix)``,
  ``unmatched_requests``, ``gateway.received`` / ``gateway.connections``, ``cdn.downloads``.
- Faults: ``inject_rate_limit(prefix, *, retry_after, count, method, is_global)``,
  ``await reconnect_bot()`` (op 7, the bot RESUMEs), ``await gateway.drop_connections()``;
  settable ``interaction_deadline``, ``global_rate_limit``, ``human_delay`` (pause before a
  click or modal submit, so discord.py has registered the View the response carried).
- Bugs in the fake itself answer 500 and land in ``world.server_errors``.
- Standalone (offline sandbox): ``python -m fakes.discord --port 8090 --token sandbox-token``.

Discord behaviour it keeps (each one a trap for a naive fake or a naive bot):
``Content-Type: application/json`` exactly; JSON error bodies ``{"message", "code"}``;
``X-RateLimit-*`` headers and JSON 429s with ``retry_after`` and a ``Via`` header; a global
limit that spares interaction endpoints; one callback per interaction (40060), within 3 s
(10062); the first followup after a deferral resolves the "thinking…" message and keeps its
ephemerality; ephemeral messages are never in a channel; wrong token → 401 / close 4004.
"""

from .callbacks import ALLOWED as ALLOWED_CALLBACKS
from .interactions import Callback, InteractionRecord
from .models import CdnFile, Channel, Guild, Member, Message, Role, User
from .ratelimit import RouteLimit
from .server import FakeDiscord
from .state import RecordedRequest

__all__ = [
    "ALLOWED_CALLBACKS",
    "Callback",
    "CdnFile",
    "Channel",
    "FakeDiscord",
    "Guild",
    "InteractionRecord",
    "Member",
    "Message",
    "RecordedRequest",
    "Role",
    "RouteLimit",
    "User",
]
