"""What the bot tells Discord about its commands, pinned down.

The synced payload is compared with ``snapshots/commands.json``; after an intended change,
regenerate it with ``IMGURBOT_UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/e2e`` and review
the diff like code.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .helpers import item_id_of

SNAPSHOT = Path(__file__).parent / "snapshots" / "commands.json"
KEEP = ("name", "description", "type", "options", "choices", "required", "min_length",
        "max_length", "min_value", "max_value", "autocomplete", "default_member_permissions",
        "nsfw", "contexts")  # fmt: skip


def essentials(node):
    if isinstance(node, list):
        return [essentials(n) for n in node]
    if isinstance(node, dict):
        return {k: essentials(v) for k, v in sorted(node.items()) if k in KEEP or k == "value"}
    return node


def walk(commands, parents=()):
    for command in commands:
        yield (*parents, command["name"]), command
        yield from walk(
            [o for o in command.get("options", []) if o.get("type") in (1, 2)],
            (*parents, command["name"]),
        )


async def test_synced_commands_match_the_snapshot(world):
    payload = essentials(world.fd.synced_commands(world.guild))
    if os.environ.get("IMGURBOT_UPDATE_SNAPSHOTS"):
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    assert payload == json.loads(SNAPSHOT.read_text())


async def test_every_description_fits_discords_limit(world):
    for path, command in walk(world.fd.synced_commands(world.guild)):
        if len(path) == 1 and command.get("type") in (2, 3):
            continue  # user and message menus have no description (Discord wants it empty)
        assert 1 <= len(command["description"]) <= 100, path
        for option in command.get("options", []):
            assert 1 <= len(option["description"]) <= 100, (*path, option["name"])


async def test_admin_group_is_hidden_from_non_admins_by_default(world):
    commands = {c["name"]: c for c in world.fd.synced_commands(world.guild)}
    assert str(commands["imgur-admin"]["default_member_permissions"]) == "8"  # administrator
    assert commands["imgur"]["default_member_permissions"] is None


async def test_page_buttons_disable_themselves_on_timeout(start_world):
    world = await start_world(DISCORD__PAGINATOR_TIMEOUT_S="0.5")
    record = await world.run("imgur", "frontpage")
    message = record.original
    first = item_id_of(message)

    def all_disabled(_):
        turning = [b for b in message.buttons if b.get("label") != "Open on Imgur"]
        return turning and all(b.get("disabled") for b in turning)

    await record.wait_until(all_disabled, timeout=10)
    link = next(b for b in message.buttons if b.get("label") == "Open on Imgur")
    assert not link.get("disabled")  # the link still works
    assert item_id_of(message) == first
