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
  ``dm_channel(user)``, ``add_attachment(filename, data, content_type, *, bandwidth) ->
  CdnFile``; ``bot_user``, ``owner`` (the application owner), ``default_user``,
  ``application_id``.
- Changing the world under the bot (each sends the bot its gateway event):
  ``set_permissions(channel, role | user | member | guild (= @everyone), allow=, deny=)``
  (CHANNEL_UPDATE; ``bot_permissions(channel)`` is what the fake enforces),
  ``update_channel(channel, nsfw=, name=, topic=, position=)`` (CHANNEL_UPDATE),
  ``delete_channel(channel)`` (CHANNEL_DELETE; REST → 404 10003),
  ``set_system_channel(guild, channel | None)`` (GUILD_UPDATE),
  ``remove_bot(guild)`` (GUILD_DELETE; REST about it → 403 50001).
- Users acting: ``await slash(name, *path, options=, user=, channel=None (DM), permissions=,
  app_permissions=, locale=)``, ``await autocomplete(name, *path, focused=, value=, options=,
  user=, channel=) -> list[choice]``, ``await click(message|record|callback, custom_id= |
  label=, user=, permissions=)``, ``await select(..., custom_id=, values=)``,
  ``await submit_modal(record_that_got_the_modal, {custom_id: value})``,
  ``await message_command(name, message, user=, channel=)``, ``await user_command(name,
  target_user, user=, channel=)``; each returns an ``InteractionRecord`` (except
  ``autocomplete``). ``await post_message(channel, user, content, attachments=[CdnFile |
  (filename, data[, content_type])]) -> Message``: a member's own message, files on the CDN.
  Option types come from the synced command definitions; Discord's client rules (required,
  choices, ranges) are enforced.
- ``InteractionRecord``: ``await wait_response()``, ``await wait_done()``,
  ``await wait_followup(n)``, ``response``, ``callbacks``, ``rejected`` (refused callbacks as
  ``(type, status, code)``), ``original``, ``followups``, ``messages``, ``deferred``,
  ``ephemeral``, ``choices``, ``modal``, ``payload`` (what was dispatched).
- ``Message`` (live: edits apply in place, earlier versions in ``history``): ``content``,
  ``embeds``/``embed``, ``components`` (with their numeric ``id``), ``buttons``,
  ``find_component()``, ``flags``, ``ephemeral``, ``loading``, ``attachments``, ``files``
  (uploaded bytes by filename), ``allowed_mentions``, ``author``, ``deleted``.
- Reading: ``synced_commands(guild)``, ``commands(guild)``, ``channel_messages(channel)``,
  ``await wait_for_message(channel, check, count=, timeout=)``, ``requests(method, prefix)``
  (``RecordedRequest``: status, body, ``response_headers``, ``admitted_at``; the token is
  redacted), ``unmatched_requests``, ``gateway.received`` / ``gateway.connections`` /
  ``gateway.sessions`` (each with its ``shard`` and ``sent`` dispatches), ``cdn.downloads``.
- Event feed (the sandbox's view): ``async for event in fd.events(backlog=1000)`` or
  ``stop = fd.subscribe(callback)``; ``Event(kind, data, seq, at, dropped)`` with kinds
  ``request`` (method, path with tokens as ``{token}``, status, summary), ``message``
  (created/edited/deleted, the message as it now is), ``interaction`` (dispatched, callback,
  callback_refused), ``gateway`` (connect, identify, resume, disconnect, refused). Bounded:
  a slow reader loses the oldest events (counted in ``dropped``) and never blocks the fake.
- Sharding: ``add_guild_per_shard(count) -> {shard_id: Guild}``, ``recommended_shards``
  (``GET /gateway/bot``), ``session_start_limit`` (total,
  remaining, max_concurrency), ``identify_interval`` (5 s per ``shard_id %
  max_concurrency``; None: off), ``max_guilds_per_shard`` (2500; more: close 4011),
  ``await wait_until_ready(shards=N)``.
- Time: ``clock_skew_s`` (the ``Date`` header of every answer), ``snowflake_skew_s`` (the time
  in every new id, interaction ids included).
- Faults: ``inject_rate_limit(prefix, *, retry_after, count, method, is_global)`` (the bucket
  stays spent until the retry time), ``await reconnect_bot()`` (op 7, the bot RESUMEs),
  ``await gateway.drop_connections()``; settable ``interaction_deadline``,
  ``global_rate_limit``, ``cdn_bandwidth`` (bytes/s; ``CdnFile.bandwidth`` per file),
  ``human_delay`` (pause before a click or modal submit, so discord.py has registered the
  View the response carried).
- Bugs in the fake itself answer 500 and land in ``world.server_errors``.
- Standalone (offline sandbox): ``python -m fakes.discord --port 8090 --token sandbox-token``.

Discord behaviour it keeps (each one a trap for a naive fake or a naive bot; the sources are
Discord's developer documentation and its OpenAPI spec):
``Content-Type: application/json`` exactly; JSON error bodies ``{"message", "code"}``; a
``Date`` header on every answer; ``X-RateLimit-*`` bucket headers on every 2xx, interaction
callbacks and webhooks included, a bucket spent until the retry time after a 429, and JSON
429s with ``retry_after`` and a ``Via`` header; a global limit (50/s) that spares interaction
endpoints and answers ``global: true`` without bucket headers; one callback per interaction
(40060), within 3 s (10062); the first followup after a deferral resolves the "thinking…"
message and keeps its ephemerality; ephemeral messages are never in a channel; wrong token →
401 / close 4004. Gateway: plain text frames, or ``zlib-stream`` (one context per
connection, each message ending ``00 00 ff ff``) or ``zstd-stream`` (one endless zstd frame)
binary frames as asked; client payloads in text or binary frames; READY's ``user`` is
``GET /users/@me``'s object; close codes 4001/4002/4003/4005/4010/4011/4012; events, guilds
and interactions only to the shard ``(guild_id >> 22) % shard_count`` (DMs: shard 0), several
sessions per shard allowed; one IDENTIFY per 5 s per ``shard_id % max_concurrency`` (else op
9); each IDENTIFY spends a session start, and none left resets the token. Permissions:
channel overwrites in Discord's order with its implicit rules; no VIEW_CHANNEL → 403 50001,
no SEND_MESSAGES (or EMBED_LINKS for embeds, ATTACH_FILES for files) → 403 50013;
``app_permissions`` and ``member.permissions`` are the channel's; a guild the bot is not in
→ 403 50001; a deleted channel → 404 10003. Messages: components get numeric ids; others'
messages reach a bot without the message content intent emptied; interaction tokens decode
to ``interaction:<id>:…``. CDN: streamed, ``Content-Length``, ``HEAD``.
"""

from .callbacks import ALLOWED as ALLOWED_CALLBACKS
from .feed import Event, Subscription
from .gateway import SessionStartLimit
from .interactions import Callback, InteractionRecord
from .models import CdnFile, Channel, Guild, Member, Message, Overwrite, Role, User
from .ratelimit import RouteLimit
from .server import FakeDiscord
from .state import RecordedRequest

__all__ = [
    "ALLOWED_CALLBACKS",
    "Callback",
    "CdnFile",
    "Channel",
    "Event",
    "FakeDiscord",
    "Guild",
    "InteractionRecord",
    "Member",
    "Message",
    "Overwrite",
    "RecordedRequest",
    "Role",
    "RouteLimit",
    "SessionStartLimit",
    "Subscription",
    "User",
]
