"""What the bot relies on in discord.py beyond its public API, pinned so an upgrade that
changes it fails here rather than in production."""

from __future__ import annotations

import inspect

import discord
from discord import app_commands

from bot.discord.tree import CHECKED_AGAINST_DISCORD_PY, ImgurTree


def test_the_private_command_tree_call_keeps_the_signature_we_wrap() -> None:
    signature = inspect.signature(app_commands.CommandTree._call)
    assert [(p.name, p.kind) for p in signature.parameters.values()] == [
        ("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        ("interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD),
    ], f"CommandTree._call changed (checked against {CHECKED_AGAINST_DISCORD_PY}); see tree.py"
    assert inspect.iscoroutinefunction(app_commands.CommandTree._call)
    assert ImgurTree._call is not app_commands.CommandTree._call


def test_the_checked_version_is_the_major_minor_installed() -> None:
    installed = discord.__version__.split(".")[:2]
    assert CHECKED_AGAINST_DISCORD_PY.split(".")[:2] == installed, (
        f"discord.py {discord.__version__} is installed; re-check ImgurTree._call against it "
        "and update CHECKED_AGAINST_DISCORD_PY"
    )
