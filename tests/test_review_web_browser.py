"""The review page end to end in a real browser: uvicorn serves it on 127.0.0.1, headless
Chromium (Debian's /usr/bin/chromium, driven by playwright; nothing downloaded) logs in,
opens the queue, edits a review and saves it; the run ends with the reviewer's answer.
Screenshots go to tests/artifacts/ for a person to look at."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright
from playwright.async_api import Error as PlaywrightError

from contracts import Outcome, ReviewAction, ReviewDecision
from starter import reviews
from starter.review_web import bound_port, build_server
from tests.conftest import running_worker
from tests.test_review_web import ANA_TOKEN, HOSTILE, open_review, web_settings

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
NEW_REPLY = (
    "Hello Maria,\n\nThe duplicate charge is refunded; expect it in 3-5 days.\n\nBest regards"
)


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """Headless Chromium from Debian's package; a clear failure when it cannot start."""
    async with async_playwright() as pw:
        try:
            browser = await pw.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"], timeout=60_000
            )
        except PlaywrightError as err:
            pytest.fail(
                f"cannot launch {CHROMIUM} (apt-get install chromium, or run "
                f"scripts/test-prereqs.sh as root): {err.message.splitlines()[0]}"
            )
        try:
            yield browser
        finally:
            await browser.close()


@asynccontextmanager
async def serving(settings, client) -> AsyncIterator[str]:
    """The page under uvicorn on an ephemeral port of 127.0.0.1; yields its base URL."""
    server = build_server(settings, client, host="127.0.0.1", port=0)
    task = asyncio.create_task(server.serve())
    for _ in range(100):
        if server.started or task.done():
            break
        await asyncio.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{bound_port(server)}"
    finally:
        server.should_exit = True
        await task


async def test_a_reviewer_edits_a_review_in_chromium(env, settings):
    s = web_settings(settings)
    ARTIFACTS.mkdir(exist_ok=True)
    async with running_worker(env.client, s):
        handle, tid = await open_review(env.client, s)
        hostile, hostile_tid = await open_review(env.client, s, **HOSTILE)
        async with serving(s, env.client) as base, chromium() as browser:
            page = await browser.new_page(viewport={"width": 1360, "height": 900})
            dialogs: list[str] = []  # an alert() here would mean ticket text ran as script
            page.on("dialog", lambda d: dialogs.append(d.message))
            await page.goto(f"{base}/queue")
            assert page.url == f"{base}/login?next=/queue"
            await page.fill("#token", ANA_TOKEN)
            await page.click("button:has-text('Log in')")
            await page.wait_for_url(f"{base}/queue")
            for _ in range(50):  # Temporal visibility lists new runs within moments
                if await page.locator(f"a:text-is('{hostile_tid}')").count():
                    break
                await page.reload()
            assert (
                await page.inner_text("header")
                == "aiflow review\nQueue\nSigned in as ana@example.com\nLog out"
            )
            await page.screenshot(path=ARTIFACTS / "review-queue.png", full_page=True)
            hostile_row = await page.inner_text(f"tr:has(a:text-is('{hostile_tid}')) td.subject")

            await page.click(f"a:text-is('{tid}')")
            await page.wait_for_url(f"{base}/review/{tid}")
            await page.select_option("#category", "shipping")
            await page.fill("#reply", NEW_REPLY)
            await page.screenshot(path=ARTIFACTS / "review-detail.png", full_page=True)
            await page.click("button:has-text('Reject')")  # without a reason: refused
            await page.wait_for_selector("p.alert")
            refusal = await page.inner_text("p.alert")
            kept = (await page.input_value("#category"), await page.input_value("#reply"))
            await page.screenshot(path=ARTIFACTS / "review-refused.png", full_page=True)
            await page.click("button:has-text('Save changes')")
            await page.wait_for_selector("h1.ok")
            confirmation = await page.inner_text("h1")
            final_reply = await page.inner_text("pre.text")
            await page.screenshot(path=ARTIFACTS / "review-done.png", full_page=True)

            await page.goto(f"{base}/review/{hostile_tid}")
            hostile_body = await page.inner_text("#ticket-body")
            await page.screenshot(path=ARTIFACTS / "review-hostile.png", full_page=True)
        result = await handle.result()
        reject = ReviewDecision(action=ReviewAction.REJECT, reviewer="test", reason="test")
        await reviews.decide(env.client, hostile_tid, reject)
        await hostile.result()
    assert refusal == "The run refused this decision: reject needs a reason"
    assert kept == ("shipping", NEW_REPLY)
    assert (confirmation, final_reply) == ("Changes saved", NEW_REPLY)
    assert (result.outcome, result.reply, result.category) == (
        Outcome.EDITED,
        NEW_REPLY,
        "shipping",
    )
    assert result.steps[-2].details["reviewer"] == "ana@example.com"
    assert hostile_row == HOSTILE["subject"]
    assert hostile_body == HOSTILE["body"]
    assert dialogs == []
