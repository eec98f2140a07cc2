"""The page at ``/`` in a real browser against the real stack: Debian's Chromium, driven by
Playwright, chats with other pages and with ``wslab chat`` (RFC 6455 and the draft in one
room), resumes after the gateway restarts, and shows live quotes.

Playwright's own browser download cannot work offline, so it drives the ``chromium`` that
scripts/test installs. When a test fails, a screenshot of each of its pages is saved in
``test-results/`` (its path is in the failure's report).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable

import docker as docker_sdk
import pytest
from playwright.async_api import Browser, Page, async_playwright
from testcontainers.compose import DockerCompose

from tests.integration.conftest import (
    REPORTS,
    ROOT,
    Address,
    containers,
    next_event,
    open_chat,
    until_status,
    wslab_chat,
)
from tests.waiting import HANG, until, within

#: Where failing tests leave their screenshots.
RESULTS = ROOT / "test-results"
#: Playwright waits this long (in ms) for what a test expects: only a hang reaches it.
PATIENCE = HANG * 1000

OpenPage = Callable[[], Awaitable[Page]]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Chromium, headless; skips without it (fails under WSLAB_REQUIRE_DOCKER=1)."""
    chromium = os.environ.get("WSLAB_CHROMIUM") or shutil.which("chromium")
    if chromium is None:
        message = "chromium is not installed: scripts/test installs it"
        if os.environ.get("WSLAB_REQUIRE_DOCKER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium)
        yield browser
        await browser.close()


@pytest.fixture
async def open_page(
    browser: Browser, gateway: Address, request: pytest.FixtureRequest
) -> AsyncIterator[OpenPage]:
    """Opens the page in a browser context of its own (no shared storage); screenshots every
    page it opened if the test failed."""
    host, port = gateway
    pages: list[Page] = []

    async def open_one() -> Page:
        context = await browser.new_context(viewport={"width": 1200, "height": 800})
        page = await context.new_page()
        page.set_default_timeout(PATIENCE)
        await page.goto(f"http://{host}:{port}/")
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


async def test_two_pages_and_wslab_chat_talk_in_one_room_in_order(
    open_page: OpenPage, gateway: Address
) -> None:
    room = "browsers"
    ann, ben = await open_page(), await open_page()
    await connect_chat(ann, "ann", room)
    await connect_chat(ben, "ben", room)
    async with wslab_chat(gateway, "cli", room) as cli:
        await cli.next("members", room=room)
        lines = [("ann", "hello from a page"), ("cli", "hello from wslab chat")]
        lines += [("ben", "hello from another page"), ("cli", "and back to the pages")]
        for nick, text in lines:
            if nick == "cli":
                await cli.say(text)
            else:
                await say(ann if nick == "ann" else ben, text)
            # Everyone sees each line before the next is said: one order for all.
            event = await cli.next("message", text=text)
            assert event["nick"] == nick
            for page in (ann, ben):
                await shows_message(page, room, text)
    for page in (ann, ben):
        events = [event for event in await room_events(page, room) if event["type"] == "message"]
        assert said(events) == lines
        # The seq the pages show is the one wslab chat printed.
        printed = {
            event["text"]: event["seq"] for event in cli.events if event["type"] == "message"
        }
        assert [int(event["seq"]) for event in events] == [printed[text] for _, text in lines]
        assert {event["kind"] for event in events} == {"live"}


async def test_a_late_page_gets_the_history_and_resumes_after_the_gateway_restarts(
    open_page: OpenPage,
    gateway: Address,
    stack: DockerCompose,
    docker: docker_sdk.DockerClient,
) -> None:
    room = "resume"
    early = await open_page()
    await connect_chat(early, "early", room)
    for text in ("first", "second"):
        await say(early, text)
        await shows_message(early, room, text)

    late = await open_page()
    await connect_chat(late, "late", room)
    await shows_message(late, room, "second")
    history = [event for event in await room_events(late, room) if event["type"] == "message"]
    assert said(history) == [("early", "first"), ("early", "second")]
    assert {event["kind"] for event in history} == {"history"}

    [container] = containers(stack, docker, "gateway")
    await within(asyncio.to_thread(container.restart), "the gateway to restart")
    try:
        await late.locator("#chat-status", has_text=re.compile("reconnecting…")).wait_for()
        await until_status(gateway, "/readyz", 200)
        # Said as soon as the gateway is back: before or after the page reconnects.
        async with open_chat(gateway, "python", room) as python:
            for n in range(3):
                await python.send(f"while the page was away {n}")
            await next_event(python, "message", text="while the page was away 2")
        await late.locator("#chat-status[data-state=open]").wait_for()
        await say(late, "back")
        await shows_message(late, room, "back")
    finally:
        await until_status(gateway, "/readyz", 200)
    events = await room_events(late, room)
    seqs = [int(event["seq"]) for event in events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "a seq is missing or shown twice"
    texts = [text for _, text in said(events)]
    assert texts[:2] == ["first", "second"]
    assert [text for text in texts if text.startswith("while")] == [
        f"while the page was away {n}" for n in range(3)
    ]
    assert texts[-1] == "back"


async def test_the_ticker_shows_the_snapshot_then_live_quotes(open_page: OpenPage) -> None:
    page = await open_page()
    row = page.locator('#quotes tbody tr[data-symbol="MSFT"]')
    await row.wait_for()
    await until(lambda: _seq(page), "the snapshot's MSFT row to have a seq")
    first = await _seq(page)
    await until(lambda: _later(page, first), "a live MSFT quote after the snapshot")
    assert re.search(r"\d", await row.locator(".price").text_content() or "")


async def _seq(page: Page) -> int:
    value = await page.get_attribute('#quotes tbody tr[data-symbol="MSFT"]', "data-seq")
    return int(value or 0)


async def _later(page: Page, seq: int) -> bool:
    return await _seq(page) > seq


async def test_an_oversized_message_shows_the_too_long_error(open_page: OpenPage) -> None:
    page = await open_page()
    await connect_chat(page, "verbose", "too-long")
    await say(page, "x" * 2_001)
    error = page.locator("#chat-errors li[data-code=too_long]")
    await error.wait_for()
    assert "too long" in (await error.locator(".text").text_content() or "")
