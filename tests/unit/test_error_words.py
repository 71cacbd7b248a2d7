"""Every error a member can meet becomes a short sentence, never a traceback."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from discord import app_commands

from bot.discord.tree import describe_error
from bot.errors import BadInput, QuotaExceeded
from bot.imgur import errors as imgur

RESET = datetime(2026, 11, 27, 0, 0, tzinfo=UTC)
STAMP = f"<t:{int(RESET.timestamp())}:R>"


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (QuotaExceeded("guild", RESET), f"allowance for today. Try again {STAMP}."),
        (QuotaExceeded("member", RESET), f"You're going a bit fast. Try again {STAMP}."),
        (QuotaExceeded("guild_upload", RESET), "This server has reached its upload limit"),
        (QuotaExceeded("upload", RESET), "as many uploads as Imgur allows in an hour. Try"),
        (QuotaExceeded("client", None), "budget. Try again later."),
        (imgur.RateLimited("x", scope="ip", resets_at=RESET), f"Try again {STAMP}."),
        (imgur.NotFound("Unable to find an image", status=404), "Imgur has nothing there"),
        (imgur.OverCapacity("over capacity", status=403), "over capacity"),
        (imgur.ServerError("boom", status=500), "isn't answering"),
        (TimeoutError(), "isn't answering"),
        (imgur.BadResponse("<html>", status=200), "couldn't read"),
        (imgur.AuthError("Client-ID invalid", status=403), "credentials"),
        (imgur.UploadRejected("File type invalid"), "refused the upload: File type invalid"),
        (BadInput("tag names are letters and digits"), "tag names are letters and digits"),
        (app_commands.CommandOnCooldown(app_commands.Cooldown(1, 3.0), 2.5), "Slow down"),
        (app_commands.MissingPermissions(["manage_guild"]), "manage guild permission"),
        (app_commands.NoPrivateMessage(), "only works in a server"),
    ],
)
def test_known_errors_become_friendly_words(error, expected):
    message, unexpected = describe_error(error)
    assert expected in message
    assert not unexpected
    assert "Traceback" not in message and len(message) < 300


def test_wrapped_errors_are_unwrapped():
    wrapped = app_commands.CommandInvokeError.__new__(app_commands.CommandInvokeError)
    wrapped.original = QuotaExceeded("guild_upload", RESET)
    message, unexpected = describe_error(wrapped)
    assert "upload limit" in message and not unexpected


def test_unexpected_errors_are_flagged_for_logging():
    assert describe_error(ZeroDivisionError("secret path /etc/x")) == ("", True)


def test_member_input_is_echoed_without_invisible_or_direction_changing_characters():
    from bot.discord.replies import echo

    sneaky = "cats\u202e\u2066gnp.exe\u0007\u200b  **bold**\n`code`"
    shown = echo(sneaky)
    assert "\u202e" not in shown and "\u2066" not in shown and "\u0007" not in shown
    assert "\u200b" not in shown and "\n" not in shown
    assert shown == "catsgnp.exe \\*\\*bold\\*\\* \\`code\\`"
    assert echo("x" * 500, limit=20).endswith("…") and len(echo("x" * 500, limit=20)) == 20


@pytest.mark.parametrize(
    ("builder", "args", "expected"),
    [
        ("account", ("../gallery",), "“../gallery” isn't an Imgur username"),
        ("gallery_tag", ("cats/../../x",), "“cats/../../x” isn't a tag name"),
        ("gallery_search", ("   ",), "That isn't some words to search for."),
        ("subreddit_gallery", ("r\u202eevil",), "“revil” isn't a subreddit name"),
    ],
)
def test_what_imgur_would_refuse_is_said_in_plain_words(builder, args, expected):
    from bot.access import build
    from bot.imgur import sansio

    with pytest.raises(BadInput) as caught:
        build(getattr(sansio, builder), *args)
    text = str(caught.value)
    assert expected in text
    assert "must be" not in text and "got '" not in text and "\u202e" not in text


def test_an_interaction_discord_gave_up_on_is_not_a_bug(caplog):
    """A command acknowledged too late (10062 Unknown interaction): nobody can be told, and
    it is not an error with an id and a traceback, but the owner learns why, once a minute."""
    import logging

    import discord

    from bot.discord import tree

    class Answer:
        status, reason = 404, "Not Found"

    gone = discord.NotFound(Answer(), {"code": 10062, "message": "Unknown interaction"})
    wrapped = app_commands.CommandInvokeError.__new__(app_commands.CommandInvokeError)
    wrapped.original = gone
    tree._gone_warned_at = 0.0
    with caplog.at_level(logging.WARNING, logger="bot.discord.tree"):
        for _ in range(3):
            _message, unexpected = describe_error(wrapped)
            assert not unexpected
    (warning,) = [r.getMessage() for r in caplog.records]
    assert warning.startswith("1 interaction(s) expired before the bot could acknowledge them")
    assert tree.outcome_of(wrapped, unexpected) == "expired"
