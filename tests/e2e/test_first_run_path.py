"""The whole first run, as the README tells a new admin to do it, against the fake Discord.

A fresh checkout of this tree; ``cp .env.example .env`` and the two secrets written into it;
``make run``: the invite link is logged, the commands are synced globally and answer in a
server; stopped and started again with ``make run``, the bot syncs nothing and logs the
invite link again.

Offline stand-in: ``make run`` first installs the project into ``.venv`` from PyPI, which
tests cannot reach. The test builds that ``.venv`` itself (a fresh virtualenv whose
``imgurbot`` runs the checkout, with the dependencies of the test run's own environment)
and marks it installed, so the Makefile's own ``run`` recipe runs unchanged.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sysconfig
import venv
from pathlib import Path

from processes import REPO, read_until

from fakes.discord import FakeDiscord
from fakes.imgur.app import Emulator, EmulatorConfig

from .conftest import CLIENT_ID, TOKEN


def fresh_checkout(target: Path) -> Path:
    """The files a clone of this tree would have (tracked or new, never ignored ones)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def install_offline(checkout: Path) -> None:
    """What ``make install`` leaves behind, without PyPI: .venv with imgurbot, stamped."""
    env_dir = checkout / ".venv"
    venv.EnvBuilder(with_pip=False, symlinks=True).create(env_dir)
    site = next(env_dir.glob("lib/python*/site-packages"))
    dependencies = sysconfig.get_paths()["purelib"]
    (site / "imgurbot-checkout.pth").write_text(f"{checkout}\n{dependencies}\n")
    script = env_dir / "bin" / "imgurbot"
    script.write_text(
        f"#!{env_dir / 'bin' / 'python'}\nimport sys\nfrom bot.cli import main\nsys.exit(main())\n"
    )
    script.chmod(0o755)
    (env_dir / ".installed").touch()


def write_env_file(checkout: Path, fd: FakeDiscord, emu: Emulator) -> None:
    """README: cp .env.example .env, put DISCORD_TOKEN and IMGUR_CLIENT_ID in it. The last
    lines point the bot at this test's Discord and Imgur, as any setting may be given."""
    text = (checkout / ".env.example").read_text()
    text = text.replace("DISCORD_TOKEN=\n", f"DISCORD_TOKEN={TOKEN}\n")
    text = text.replace("IMGUR_CLIENT_ID=\n", f"IMGUR_CLIENT_ID={CLIENT_ID}\n")
    assert TOKEN in text and CLIENT_ID in text, "the README's .env.example lines changed"
    text += (
        f"IMGURBOT_DISCORD__API_BASE_URL={fd.rest_url}\n"
        f"IMGURBOT_DISCORD__GATEWAY_URL={fd.gateway_url}\n"
        f"IMGURBOT_IMGUR__API_BASE_URL={emu.base_url}\n"
    )
    (checkout / ".env").write_text(text)


def shell_env() -> dict[str, str]:
    """A login shell's environment: nothing of the test run's Python or imgurbot settings."""
    keep = ("PATH", "HOME", "LANG", "TERM")
    return {k: os.environ[k] for k in keep if k in os.environ}


async def make_run(checkout: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        "make", "run", cwd=checkout, env=shell_env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


def child_of(pid: int) -> int:
    """The one process ``pid`` started: the recipe execs the bot in place of its shell."""
    (child,) = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return int(child)


async def stop_make_run(make: asyncio.subprocess.Process) -> tuple[int, str, str]:
    """SIGTERM to the bot that ``make run`` started (as systemctl stop would send it)."""
    os.kill(child_of(make.pid), signal.SIGTERM)
    async with asyncio.timeout(30):
        out, err = await make.communicate()
    assert make.returncode is not None
    return make.returncode, out.decode(), err.decode()


async def test_fresh_clone_make_run_commands_answer_restart_without_resync(tmp_path):
    checkout = fresh_checkout(tmp_path / "imgurbot")
    install_offline(checkout)
    async with FakeDiscord(token=TOKEN) as fd, Emulator(EmulatorConfig(seed=3)) as emu:
        guild = fd.add_guild("my server")
        channel = fd.add_channel(guild, "general")
        write_env_file(checkout, fd, emu)
        global_syncs = f"/applications/{fd.application_id}/commands"

        make = await make_run(checkout)
        try:
            first = await read_until(make, "commands globally (may take a minute to show)")
            await fd.wait_until_ready(timeout=30)
            record = await fd.slash("imgur", "frontpage", channel=channel)
            await record.wait_done(timeout=15)
            assert not record.original.ephemeral and record.original.embed["title"]
        finally:
            code, out, rest = await stop_make_run(make)
        first += rest
        assert code == 0, first
        assert "created config.toml from config.example.toml" in out
        assert "reading .env" in out
        assert "invite the bot to a server" in first
        assert f"client_id={fd.application_id}" in first
        assert "finishing in-flight commands" in first
        assert len(fd.requests("PUT", global_syncs)) == 1

        make = await make_run(checkout)
        try:
            second = await read_until(make, "commands unchanged since the last sync globally")
        finally:
            code, out, rest = await stop_make_run(make)
        second += rest
        assert code == 0, second
        assert "created config.toml" not in out  # the admin's config.toml is left alone
        assert "invite the bot to a server" in second
        assert len(fd.requests("PUT", global_syncs)) == 1  # nothing spent on the restart

    everything = first + second
    assert "Traceback" not in everything
    assert TOKEN not in everything
    assert "PyNaCl" not in everything and "voice will NOT" not in everything
    assert (checkout / "data" / "imgurbot.db").exists()
