"""The Temporal Web UI bundled with the dev server, in headless Chromium (Debian's
/usr/bin/chromium driven by playwright), shows an encrypted workflow input only through the
codec server, and only to an operator logged in to it.

The dev server's UI cannot be told to send credentials (`temporal server start-dev` has
only --ui-codec-endpoint; its settings say IncludeCredentials false), so the operator does
what README "Codec server" says: log in at the codec server's /login, then in the UI's
Codec Server settings use this browser's setting with "include cross-origin credentials"
(the test writes the same three localStorage entries that dialog writes)."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from playwright.async_api import Page

from tests.conftest import _binary
from tests.test_codec_server import CANARY, OPS_TOKEN, codec_settings, serving, start_encrypted
from tests.test_review_web_browser import chromium

WITHOUT = "/tmp/codec-ui-without.png"
WITH = "/tmp/codec-ui-with.png"
NOT_LOGGED_IN = "/tmp/codec-ui-not-logged-in.png"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DevServer:
    def __init__(self, port: int, ui_port: int) -> None:
        self.address = f"127.0.0.1:{port}"
        self.ui = f"http://127.0.0.1:{ui_port}"


@asynccontextmanager
async def dev_server_with_ui() -> AsyncIterator[DevServer]:
    """`temporal server start-dev` with its Web UI, on free ports, in memory."""
    port, ui_port = free_port(), free_port()
    proc = subprocess.Popen(
        [
            _binary("temporal"),
            "server",
            "start-dev",
            "--ip",
            "127.0.0.1",
            "--port",
            str(port),
            "--ui-port",
            str(ui_port),
            "--log-level",
            "error",
            "--ui-disable-news-fetch",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    try:
        server = DevServer(port, ui_port)
        for _ in range(300):
            if proc.poll() is not None:
                pytest.fail(f"temporal server start-dev exited with {proc.returncode}")
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", ui_port)
                writer.close()
                break
            except OSError:
                await asyncio.sleep(0.1)
        yield server
    finally:
        proc.terminate()
        proc.wait(timeout=20)


class Env:  # what start_encrypted needs of the `env` fixture
    def __init__(self, client) -> None:
        self.client = client


async def page_text(page: Page) -> str:
    return await page.content() + await page.inner_text("body")


async def wait_for_text(page: Page, text: str, seconds: float = 20.0) -> bool:
    for _ in range(int(seconds * 4)):
        if text in await page_text(page):
            return True
        await asyncio.sleep(0.25)
    return False


async def test_the_web_ui_shows_the_input_only_through_the_codec_server(tmp_path):
    from temporalio.client import Client

    async with dev_server_with_ui() as dev:
        s = codec_settings(tmp_path, codec_cors_origins=[dev.ui])
        for _ in range(100):
            try:
                plain_client = await Client.connect(dev.address)
                break
            except RuntimeError:
                await asyncio.sleep(0.2)
        workflow_id = await start_encrypted(Env(plain_client), s, f"refund for {CANARY}")
        run = plain_client.get_workflow_handle(workflow_id)
        run_id = (await run.describe()).run_id
        workflow_page = f"{dev.ui}/namespaces/default/workflows/{workflow_id}/{run_id}/history"
        async with serving(s) as codec, chromium() as browser:
            context = await browser.new_context(viewport={"width": 1400, "height": 1000})
            page = await context.new_page()

            # 1. no codec server configured: the page shows ciphertext only
            await page.goto(workflow_page)
            await page.wait_for_selector(f"text={workflow_id}", timeout=30_000)
            await asyncio.sleep(2)  # the UI polls: never network-idle
            assert not await wait_for_text(page, CANARY, seconds=3)
            await page.screenshot(path=WITHOUT, full_page=True)

            # 2. the UI pointed at the codec server, with credentials, but not logged in: 401
            settings = {
                "endpoint": codec,
                "includeCredentials": True,
                "passAccessToken": False,
                "overrideRemoteCodecConfiguration": True,
            }
            await page.evaluate(
                "s => { for (const [k, v] of Object.entries(s)) "
                "localStorage.setItem(k, JSON.stringify(v)); }",
                settings,
            )
            refused: list[int] = []
            page.on(
                "response",
                lambda r: refused.append(r.status) if r.url.startswith(codec + "/decode") else None,
            )
            await page.goto(workflow_page)
            await page.wait_for_selector(f"text={workflow_id}", timeout=30_000)
            await asyncio.sleep(2)  # the UI polls: never network-idle
            assert not await wait_for_text(page, CANARY, seconds=3)
            assert refused and set(refused) == {401}, refused
            await page.screenshot(path=NOT_LOGGED_IN, full_page=True)

            # 3. the operator logs in at the codec server; the UI now shows the input
            login = await context.new_page()
            await login.goto(f"{codec}/login")
            await login.fill("#token", OPS_TOKEN)
            await login.click("button:has-text('Log in')")
            await login.wait_for_selector("text=Logged in as")
            await login.close()
            refused.clear()
            await page.goto(workflow_page)
            assert await wait_for_text(page, CANARY, seconds=30), refused
            assert 200 in refused
            await page.screenshot(path=WITH, full_page=True)
            cookies = await context.cookies()
            (session,) = [c for c in cookies if c["name"] == "aiflow_codec_session"]
            assert (session["httpOnly"], session["sameSite"]) == (True, "Strict")
            assert OPS_TOKEN not in json.dumps(cookies)
