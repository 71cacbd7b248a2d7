"""``imgurbot`` as a person runs it: a real process, its words, its exit status.

The environment starts from the test run's own, minus anything that would configure the
bot (``IMGURBOT_*`` and the secrets), plus ``PYTHONPATH`` pointing at this checkout.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SECRETS = ("DISCORD_TOKEN", "IMGUR_CLIENT_ID", "IMGUR_CLIENT_SECRET", "IMGUR_REFRESH_TOKEN")


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("IMGURBOT_") and k not in SECRETS and not k.endswith("_FILE")
    }
    env["PYTHONPATH"] = str(REPO)
    env.update(extra or {})
    return env


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def imgurbot(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 60,
    prefix: tuple[str, ...] = (),
    **popen,
) -> Result:
    """Run ``imgurbot ARGS`` to the end (``python -m bot``, as the console script does).

    ``prefix`` runs it through another command (``unshare ...``); ``popen`` goes to
    ``subprocess.run`` (``user=`` to run it as someone else).
    """
    done = subprocess.run(
        [*prefix, sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        env=clean_env(env),
        cwd=cwd or REPO,
        timeout=timeout,
        **popen,
    )
    return Result(done.returncode, done.stdout, done.stderr)


async def start(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> asyncio.subprocess.Process:
    """Start ``imgurbot ARGS`` without waiting (for tests that serve it fakes meanwhile)."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=clean_env(env), cwd=cwd or REPO,
    )  # fmt: skip


async def finish(proc: asyncio.subprocess.Process, within_s: float = 60) -> Result:
    """Wait for a started process (killing it if it overstays) and collect its words."""
    try:
        async with asyncio.timeout(within_s):
            out, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
        raise AssertionError(f"imgurbot did not end within {within_s}s:\n{err.decode()}") from None
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


async def imgurbot_async(*args: str, **kwargs) -> Result:
    """``imgurbot`` from an async test, whose loop must keep serving the fakes meanwhile."""
    within_s = kwargs.pop("within_s", 60)
    return await finish(await start(*args, **kwargs), within_s)


def assert_failure(result: Result, status: int, *words: str, lines: int = 2) -> None:
    """The process failed the way a person can act on: the status, the words, at most
    ``lines`` lines from the first line of the failure, and no traceback anywhere."""
    assert "Traceback" not in result.output, result.output
    assert result.returncode == status, (result.returncode, result.output)
    for word in words:
        assert word in result.stderr, (word, result.stderr)
    text = result.stderr.splitlines()
    first = next(i for i, line in enumerate(text) if words[0] in line) if words else 0
    assert len(text) - first <= lines, result.stderr


async def read_until(proc: asyncio.subprocess.Process, words: str, within_s: float = 30) -> str:
    """Read the process's log until a line holds ``words``; return everything read."""
    seen = []
    async with asyncio.timeout(within_s):
        while not seen or words not in seen[-1]:
            line = (await proc.stderr.readline()).decode()
            if not line:
                raise AssertionError(f"ended before {words!r}:\n{''.join(seen)}")
            seen.append(line)
    return "".join(seen)


async def stop(proc: asyncio.subprocess.Process) -> tuple[int, str]:
    """SIGTERM, as docker stop and systemctl stop send; the status and the rest of the log."""
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    async with asyncio.timeout(30):
        rest = await proc.stderr.read()
        return await proc.wait(), rest.decode()
