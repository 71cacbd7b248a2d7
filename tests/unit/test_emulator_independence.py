"""The emulator stands alone: nothing under ``fakes/`` needs the bot, time included."""

from __future__ import annotations

import ast
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.clock import FakeClock
from fakes.imgur.accounting import Accounting, Caller
from fakes.imgur.clock import Clock, ManualClock
from fakes.imgur.config import EmulatorConfig

REPO = Path(__file__).resolve().parents[2]


def bot_imports(path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "bot"]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "bot":
            found.append(node.module)
    return found


def test_no_module_under_fakes_imports_the_bot():
    offenders = {
        str(path.relative_to(REPO)): names
        for path in sorted((REPO / "fakes").rglob("*.py"))
        if (names := bot_imports(path))
    }
    assert offenders == {}


def test_the_emulator_and_its_command_line_load_without_the_bot_package():
    # sys.modules["bot"] = None makes any "import bot..." fail, as if it were not installed.
    code = (
        "import sys; sys.modules['bot'] = None\n"
        "from fakes.imgur import Emulator, EmulatorConfig, make_app\n"
        "from fakes.imgur.__main__ import parse_args\n"
        "assert parse_args(['--fake-clock']).fake_clock\n"
        "make_app(EmulatorConfig(item_count=50))\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr


def test_manual_clock_stands_still_until_advanced():
    clock = ManualClock(datetime(2026, 3, 1, tzinfo=UTC))
    before = (clock.now(), clock.monotonic())
    assert (clock.now(), clock.monotonic()) == before  # reading it moves nothing
    clock.advance(90)
    assert clock.now() == datetime(2026, 3, 1, 0, 1, 30, tzinfo=UTC)
    assert clock.monotonic() == before[1] + 90
    with pytest.raises(ValueError):
        clock.advance(-1)
    with pytest.raises(ValueError):
        ManualClock(datetime(2026, 3, 1))  # naive: refused


@pytest.mark.parametrize("clock", [ManualClock(), FakeClock()], ids=["ManualClock", "FakeClock"])
def test_any_clock_with_now_and_monotonic_drives_the_accounting(clock):
    assert isinstance(clock, Clock)
    books = Accounting(EmulatorConfig(clock=clock, client_daily_limit=1))
    me = Caller("client", "10.0.0.1")
    assert books.admit(me, is_post=False, is_upload=False).refused is None
    assert books.admit(me, is_post=False, is_upload=False).refused == "client"
    clock.advance(86_400)
    assert books.admit(me, is_post=False, is_upload=False).refused is None
