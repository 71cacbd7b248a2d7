"""The start-up parts on their own: invite permissions, the sync hash, the health verdict,
the pre-flight rules and the instance lock."""

from __future__ import annotations

import os
import subprocess
import sys

import discord
import pytest
from discord.ext import commands

from bot.command_sync import SyncOutcome, payload_digest
from bot.config import load_config
from bot.failures import ExitStatus, Failure
from bot.health import HealthReport, judge
from bot.instance_lock import instance_lock, lock_path
from bot.invite import SHARED, cog_classes, invite_url, permission_names, permissions_needed
from bot.preflight import run_failures

# -- invite ---------------------------------------------------------------------------------


class Poster(commands.Cog):
    bot_permissions = discord.Permissions(embed_links=True, attach_files=True)


class Reader(commands.Cog):
    bot_permissions = discord.Permissions(read_message_history=True)


def test_the_invite_asks_for_the_shared_permissions_plus_each_cogs_own():
    needed = permissions_needed([Poster, Reader(), commands.Cog])
    assert needed == SHARED | Poster.bot_permissions | Reader.bot_permissions
    assert permission_names(needed) == [
        "View Channels", "Send Messages", "Embed Links", "Attach Files", "Read Message History",
    ]  # fmt: skip


def test_the_loaded_cogs_ask_for_nothing_beyond_the_shared_permissions_today():
    classes = cog_classes(("cogs.browse", "cogs.admin"))
    assert {c.__name__ for c in classes} == {"Browse", "Admin"}
    assert permissions_needed(classes) == SHARED


def test_invite_url_has_both_scopes_and_can_choose_the_server():
    url = invite_url(1234, SHARED, guild_id=99)
    assert url.startswith("https://discord.com/oauth2/authorize?client_id=1234")
    assert "scope=bot+applications.commands" in url
    assert f"permissions={SHARED.value}" in url
    assert "guild_id=99" in url and "disable_guild_select=true" in url


# -- the sync hash --------------------------------------------------------------------------


def test_the_payload_hash_ignores_key_order_and_sees_any_change():
    a = [{"name": "imgur", "description": "Browse Imgur", "options": []}]
    b = [{"options": [], "description": "Browse Imgur", "name": "imgur"}]
    c = [{"name": "imgur", "description": "Browse Imgur!", "options": []}]
    assert payload_digest(a) == payload_digest(b) != payload_digest(c)


def test_the_sync_outcome_says_where_and_whether_anything_was_sent():
    assert SyncOutcome(2, None, True).describe() == (
        "synced 2 commands globally (may take a minute to show)"
    )
    assert SyncOutcome(2, 42, True).describe() == "synced 2 commands to guild 42"
    assert SyncOutcome(2, 42, False).describe() == (
        "2 commands unchanged since the last sync to guild 42: not synced again"
    )


# -- the health verdict ---------------------------------------------------------------------


def report(**changes) -> HealthReport:
    fields = dict(
        pid=os.getpid(), at=1000.0, interval_s=15.0, gateway_connected=True,
        gateway_since=900.0, store_problem=None,
    )  # fmt: skip
    return HealthReport(**{**fields, **changes})


def test_a_fresh_connected_writable_report_is_healthy():
    assert judge(report(), now=1010.0) == []
    assert HealthReport.from_json(report().to_json()) == report()


def test_each_way_of_being_unhealthy_is_one_sentence():
    assert judge(None, 0) == [
        "no health record: the bot is not running, or has not finished starting"
    ]
    assert judge(report(), now=1000.0 + 3 * 15 + 2) == [
        "the last heartbeat was 47 s ago: the bot is stuck"
    ]
    assert judge(report(gateway_connected=False, gateway_since=990.0), now=1000.0) == [
        "not connected to Discord's gateway (since 10 s ago)"
    ]
    assert judge(report(store_problem="disk full"), now=1000.0) == [
        "the database refused a write: disk full"
    ]


def test_a_report_from_a_process_that_is_gone_is_unhealthy():
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    pid = int(gone.stdout)
    assert judge(report(pid=pid), now=1000.0) == [f"the bot (pid {pid}) is not running any more"]


# -- pre-flight -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "refused"),
    [
        ({}, None),  # no token: the demo, not a refusal
        ({"DISCORD_TOKEN": "t"}, "IMGUR_CLIENT_ID is not"),
        ({"DISCORD_TOKEN": "t", "IMGURBOT_IMGUR__USE_EMULATOR": "always"}, None),
        ({"DISCORD_TOKEN": "t", "IMGUR_CLIENT_ID": "c"}, None),
        ({"IMGURBOT_IMGUR__USE_EMULATOR": "never"}, 'use_emulator = "never"'),
        ({"IMGUR_CLIENT_ID": "c", "IMGURBOT_IMGUR__COMMERCIAL": "true"}, "RAPIDAPI_KEY"),
        (
            {"IMGUR_CLIENT_ID": "c", "RAPIDAPI_KEY": "k", "IMGURBOT_IMGUR__COMMERCIAL": "true"},
            None,
        ),
    ],
)
def test_run_refuses_only_what_would_mislead_or_fail(env, refused):
    failures = run_failures(load_config(None, env))
    if refused is None:
        assert failures == []
    else:
        (failure,) = failures
        assert failure.status == ExitStatus.CONFIG and refused in " ".join(failure.lines)


# -- the instance lock ----------------------------------------------------------------------


def test_the_lock_names_its_holder_and_is_free_again_once_released(tmp_path):
    database = tmp_path / "bot.db"
    with instance_lock(database):
        with pytest.raises(Failure) as refused, instance_lock(database):
            pass
        assert refused.value.status == ExitStatus.IN_USE
        assert f"pid {os.getpid()} on " in refused.value.lines[0]
        assert '"pid"' in lock_path(database).read_text()  # the loser erased nothing
    with instance_lock(database):
        pass


def test_a_database_in_memory_needs_no_lock(tmp_path):
    with instance_lock(":memory:"), instance_lock(":memory:"):
        assert not list(tmp_path.iterdir())


# -- gateway close codes that the admin fixes -------------------------------------------------


class _ClosedSocket:
    close_code = None


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (4010, ["Discord refused shard 3 as invalid", "shard_count and shard_ids"]),
        (4011, ["Discord requires sharding", 'shard_count = "auto"']),
    ],
)
def test_shard_close_codes_are_configuration_failures_in_words(code, words):
    from bot.failures import explain_discord_error

    closed = discord.ConnectionClosed(_ClosedSocket(), shard_id=3, code=code)
    failure = explain_discord_error(closed, "https://discord.com/api/v10")
    assert failure is not None and failure.status == ExitStatus.CONFIG
    text = " ".join(failure.lines)
    for word in words:
        assert word in text, text


def test_each_process_on_postgresql_has_its_own_health_file(tmp_path):
    from bot.config import StoreSettings
    from bot.health import health_path

    alone = StoreSettings(path=tmp_path / "imgurbot.db")
    assert health_path(alone) == tmp_path / "imgurbot.db.health.json"
    shared = {"path": tmp_path / "imgurbot.db", "url": "postgresql://bot@db/imgurbot"}
    one = health_path(StoreSettings(**shared, process_name="one"))
    two = health_path(StoreSettings(**shared, process_name="two"))
    assert one != two and one.parent == two.parent == tmp_path
