"""The page at ``/`` in a real browser against the real stack (tests/integration/pages.py):
it chats with other pages and with ``wslab chat`` (RFC 6455 and the draft in one room),
resumes after the gateway restarts, and shows live quotes."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import docker as docker_sdk
import pytest
from playwright.async_api import Browser, Page
from testcontainers.compose import DockerCompose

from tests.integration.conftest import (
    Address,
    containers,
    next_event,
    open_chat,
    until_status,
    wslab_chat,
)
from tests.integration.pages import (
    OpenPage,
    chromium,
    connect_chat,
    page_opener,
    room_events,
    said,
    say,
    shows_message,
)
from tests.waiting import until, within


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as browser:
        yield browser


@pytest.fixture
async def open_page(
    browser: Browser, gateway: Address, request: pytest.FixtureRequest
) -> AsyncIterator[OpenPage]:
    host, port = gateway
    async with page_opener(browser, f"http://{host}:{port}/", request) as open_one:
        yield open_one


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
