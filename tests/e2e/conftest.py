"""Browser tests: the real service in a subprocess (uvicorn, as `family-hotline serve` runs it) on the test
database with the demo roster, driven by Debian's Chromium through Playwright's Python client."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from app.demo import DEMO_PASSWORD, seed_demo
from core.settings import Settings
from tests.ports import free_port

# What a parent's phone looks like to the site: a mid-size Android phone, touch, Chinese locale.
PHONE = {
    "viewport": {"width": 393, "height": 851},
    "device_scale_factor": 2.75,
    "is_mobile": True,
    "has_touch": True,
    "locale": "zh-CN",
    "user_agent": (
        "Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.0.0 Mobile Safari/537.36"
    ),
}
# What a hotline operator or coordinator works on: an office desktop screen, Chinese locale.
DESKTOP = {"viewport": {"width": 1366, "height": 768}, "locale": "zh-CN"}
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    path = os.environ.get("FH_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("Chromium is not installed: ./scripts/test installs Debian's chromium package")
    return path


@dataclass
class LiveServer:
    base_url: str
    settings: Settings


@pytest.fixture
async def live_server(settings: Settings, tmp_path: Path) -> AsyncIterator[LiveServer]:
    async with serve_live(settings, tmp_path) as server:
        yield server


@asynccontextmanager
async def serve_live(
    settings: Settings, tmp_path: Path, extra_env: dict[str, str] | None = None
) -> AsyncIterator[LiveServer]:
    """The service on a free port with the demo roster; `extra_env` adds FH_ variables (e.g. Twilio's)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    served = settings.with_overrides(public_base_url=base)
    await seed_demo(served)
    env = {
        **os.environ,
        "FH_DATABASE_URL": served.database_url,
        "FH_SECRET_KEY": served.secret_key,
        "FH_DATA_KEY": served.data_key,
        "FH_DATA_DIR": str(tmp_path),
        "FH_PUBLIC_BASE_URL": base,
        "FH_SMS_BACKEND": "console",
        "FH_REQUIRE_2FA": "0",
        **(extra_env or {}),
    }
    env.pop("FH_REDIS_URL", None)
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)], env=env, stdout=log, stderr=log
    )
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(150):
                try:
                    if (await client.get(f"{base}/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None:
                    pytest.fail("server exited: " + (tmp_path / "server.log").read_text()[-3000:])
                await asyncio.sleep(0.1)
            else:
                pytest.fail("server did not start in 15 s")
        yield LiveServer(base_url=base, settings=served)
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        yield browser
        await browser.close()


@pytest.fixture
async def phone(browser: Browser) -> AsyncIterator[BrowserContext]:
    context = await browser.new_context(**PHONE)
    yield context
    await context.close()


@pytest.fixture
async def desktop(browser: Browser) -> AsyncIterator[BrowserContext]:
    context = await browser.new_context(**DESKTOP)
    yield context
    await context.close()


async def staff_login(
    page: Page, server: LiveServer, username: str, password: str = DEMO_PASSWORD, *, open_form: bool = True
) -> None:
    """Log in through the /login form as a person would (open_form=False: on the login page already, e.g.
    after being sent there); returns once the browser has left the login page."""
    if open_form:
        await page.goto(f"{server.base_url}/login")
    await page.get_by_label("用户名").fill(username)
    await page.get_by_label("密码").fill(password)
    await page.get_by_role("button", name="登录", exact=True).click()
    await expect(page).not_to_have_url(re.compile(r"/login(\?|$)"))


async def screenshot(page: Page, name: str) -> None:
    """A full-page screenshot into $FH_E2E_SCREENSHOTS when set, for a person to look at; else nothing."""
    directory = os.environ.get("FH_E2E_SCREENSHOTS")
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(Path(directory) / f"{name}.png"), full_page=True)
