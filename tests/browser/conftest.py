"""The sandbox in a real browser: Debian's chromium, driven by Playwright.

Each test starts its own sandbox (the emulator, the fake Discord and the real bot, as
``imgurbot sandbox`` does) and its page on a free 127.0.0.1 port, and a headless chromium
that opens it. ``page.step(name)`` keeps a screenshot of each step; when a test fails they
are written under the test's tmp directory (the path is printed with the failure), so CI can
keep them as artefacts.

Playwright never downloads a browser here: it launches the system's chromium. Without one the
tests are skipped with the command that installs it, except under ``CI=true``, where they
fail with it: a CI that cannot run them must not pass quietly.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from bot.sandbox.server import build_app
from bot.sandbox.world import Sandbox

INSTALL = "apt-get install -y chromium fonts-noto-color-emoji fonts-wqy-microhei"
WAIT_MS = 15_000  # how long a step may wait for the bot (a generous bound, not a measure)


def chromium_path() -> str:
    """The system chromium, or the test fails (under CI=true) or skips, saying what to do."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    message = f"the browser tests need Debian's chromium: `{INSTALL}` (or `make system-deps`)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@dataclass
class Served:
    sandbox: Sandbox
    url: str


@pytest.fixture
async def served(tmp_path) -> AsyncIterator[Served]:
    # No per-member cooldown: the tests run commands back to back as no person would.
    async with Sandbox(
        data_dir=tmp_path, overrides={"DISCORD__COOLDOWN_PER_USER_S": "0"}
    ) as sandbox:
        runner = web.AppRunner(build_app(sandbox), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            yield Served(sandbox, f"http://127.0.0.1:{runner.addresses[0][1]}/")
        finally:
            await runner.cleanup()


@dataclass
class Steps:
    page: object
    shots: list[tuple[str, bytes]] = field(default_factory=list)

    async def step(self, name: str) -> None:
        self.shots.append((name, await self.page.screenshot()))

    def save(self, where: Path) -> Path:
        where.mkdir(parents=True, exist_ok=True)
        for i, (name, png) in enumerate(self.shots, 1):
            (where / f"{i:02d}-{name}.png").write_bytes(png)
        return where


@pytest.fixture
async def page(served, request, tmp_path):
    """A chromium page showing the sandbox, connected to its live feed."""
    executable = chromium_path()
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=executable)
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 860})
            page.set_default_timeout(WAIT_MS)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            steps = Steps(page)
            page.steps = steps
            await page.goto(served.url)
            await page.wait_for_selector("#connection.online")
            yield page
            failed = getattr(request.node, "report_call", None)
            if failed is not None and failed.failed:
                await steps.step("failed")
                print(f"screenshots of each step: {steps.save(tmp_path / 'screenshots')}")
            assert not errors, f"the page raised: {errors}"
        finally:
            await browser.close()
