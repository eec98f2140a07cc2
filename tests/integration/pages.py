"""The page at ``/`` in a real browser, for the tests: Debian's Chromium driven by
Playwright, and what a person does on the page.

Playwright's own browser download cannot work offline, so this drives the ``chromium`` that
scripts/test installs. When a test fails, a screenshot of each of its pages is saved in
``test-results/`` (its path is in the failure's report).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.integration.conftest import REPORTS, ROOT
from tests.waiting import HANG, until

#: Where failing tests leave their screenshots.
RESULTS = ROOT / "test-results"
#: Playwright waits this long (in ms) for what a test expects: only a hang reaches it.
PATIENCE = HANG * 1000

OpenPage = Callable[[], Awaitable[Page]]


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """Chromium, headless; skips without it (fails under WSLAB_REQUIRE_DOCKER=1)."""
    executable = os.environ.get("WSLAB_CHROMIUM") or shutil.which("chromium")
    if executable is None:
        message = "chromium is not installed: scripts/test installs it"
        if os.environ.get("WSLAB_REQUIRE_DOCKER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable)
        yield browser
        await browser.close()


@asynccontextmanager
async def page_opener(
    browser: Browser, url: str, request: pytest.FixtureRequest, **context: Any
) -> AsyncIterator[OpenPage]:
    """Opens ``url`` in a browser context of its own (no shared storage; ``context``: more
    options for it); screenshots every page it opened if the test failed."""
    pages: list[Page] = []

    async def open_one() -> Page:
        options = {"viewport": {"width": 1200, "height": 800}, **context}
        page = await (await browser.new_context(**options)).new_page()
        page.set_default_timeout(PATIENCE)
        await page.goto(url)
        pages.append(page)
        return page

    yield open_one
    report = request.node.stash.get(REPORTS, {}).get("call")
    if report is not None and report.failed:
        RESULTS.mkdir(exist_ok=True)
        for number, page in enumerate(pages):
            path = RESULTS / f"{request.node.name}-{number}.png"
            await page.screenshot(path=path, full_page=True)
            report.sections.append(("screenshot", str(path)))
    for page in pages:
        await page.context.close()


async def connect_chat(page: Page, nick: str, room: str) -> None:
    await page.fill("#nick", nick)
    await page.fill("#first-room", room)
    await page.click("#connect")
    await page.locator("#chat-status[data-state=open]").wait_for()


async def say(page: Page, text: str) -> None:
    await page.fill("#say", text)
    await page.press("#say", "Enter")


async def room_events(page: Page, room: str) -> list[dict[str, str]]:
    """The room's numbered events on the page, as shown: seq, kind, type, nick, text."""
    events: list[dict[str, str]] = await page.eval_on_selector_all(
        f'#messages ol[data-room="{room}"] li[data-seq]',
        """items => items.map(item => ({
            seq: item.dataset.seq,
            kind: item.dataset.kind,
            type: item.dataset.type,
            nick: item.dataset.nick,
            text: item.querySelector(".text")?.textContent ?? "",
        }))""",
    )
    return events


def said(events: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(event["nick"], event["text"]) for event in events if event["type"] == "message"]


async def shows_message(page: Page, room: str, text: str) -> None:
    await until(lambda: _has_text(page, room, text), f"the page to show {text!r} in {room}")


async def _has_text(page: Page, room: str, text: str) -> bool:
    return any(event["text"] == text for event in await room_events(page, room))
