"""RFC 6455 against the real stack: standard WebSocket clients chat with draft clients and
stream quotes, on the gateway's one port; an upgrade in neither protocol is told both.

The RFC 6455 clients are the ``websockets`` library's, as any Python program would use, and
its command line, ``python -m websockets``, as a person would.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from tests.gateway.draft_client import http_exchange
from tests.integration.conftest import ROOT, Address, next_event, open_chat
from tests.waiting import Hang, within

Event = dict[str, Any]


def url(gateway: Address, resource: str) -> str:
    host, port = gateway
    return f"ws://{host}:{port}{resource}"


async def next_of(ws: ClientConnection, kind: str, **fields: object) -> Event:
    """The next message of type ``kind`` with these fields; others are skipped."""
    skipped: list[Event] = []

    async def find() -> Event:
        while True:
            message: Event = json.loads(await ws.recv())
            if message["type"] == kind and fields.items() <= message.items():
                return message
            skipped.append(message)

    try:
        return await within(find(), f"a {kind} message with {fields}")
    except Hang as exc:
        raise Hang(f"{exc}; received meanwhile: {skipped}") from None


async def test_an_rfc6455_client_and_a_draft_client_chat_in_order_with_seq(
    gateway: Address,
) -> None:
    room = "rfc6455-and-draft"
    async with ws_connect(url(gateway, f"/chat?nick=rfc&room={room}")) as rfc:
        assert await next_of(rfc, "welcome") == {"type": "welcome", "nick": "rfc", "room": room}
        async with open_chat(gateway, "draft", room) as draft:
            await next_of(rfc, "join", nick="draft")
            lines = [("rfc", f"from rfc {n}") for n in range(3)]
            lines += [("draft", f"from draft {n}") for n in range(3)]
            for nick, text in lines:
                sender = rfc if nick == "rfc" else draft
                await sender.send(json.dumps({"type": "say", "text": text}))
                # Each line is seen by both before the next is said: one order for all.
                seen_by_rfc = await next_of(rfc, "message", text=text)
                seen_by_draft = await next_event(draft, "message", text=text)
                assert seen_by_rfc == seen_by_draft
                assert seen_by_rfc["nick"] == nick
            history = json.dumps({"type": "history", "room": room})
            await rfc.send(history)
            events = (await next_of(rfc, "history"))["events"]
    said = [event for event in events if event["type"] == "message"]
    assert [(event["nick"], event["text"]) for event in said] == lines
    seqs = [event["seq"] for event in events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))


async def test_an_rfc6455_client_gets_a_snapshot_then_ticks(gateway: Address) -> None:
    async with ws_connect(url(gateway, "/stocks")) as ws:
        await ws.send(json.dumps({"type": "subscribe", "symbols": ["MSFT"]}))
        snapshot = await next_of(ws, "snapshot")
        [msft] = snapshot["quotes"]
        tick = await next_of(ws, "quote", symbol="MSFT")
        assert tick["seq"] > msft["seq"]


async def test_python_m_websockets_can_chat(gateway: Address) -> None:
    room = "python-m-websockets"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "websockets",
        url(gateway, f"/chat?nick=cli&room={room}"),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=ROOT,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    stdout = process.stdout
    try:

        async def line_with(text: str) -> bytes:
            while True:
                line = await stdout.readline()
                assert line, f"python -m websockets ended before printing {text!r}"
                if text.encode() in line:
                    return line

        await within(line_with('"type": "welcome"'), "the welcome")
        process.stdin.write(json.dumps({"type": "say", "text": "hello from the CLI"}).encode())
        process.stdin.write(b"\n")
        await process.stdin.drain()
        said = await within(line_with("hello from the CLI"), "the line said, echoed")
        assert b'"nick": "cli"' in said
    finally:
        process.stdin.close()
        if process.returncode is None:
            process.terminate()
        await within(process.wait(), "python -m websockets to exit")


async def test_an_upgrade_in_neither_protocol_gets_426_naming_both(gateway: Address) -> None:
    host, port = gateway
    request = (
        f"GET /chat HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\n\r\n"
    ).encode()
    response = await http_exchange(host, port, request)
    assert response.status == 426
    assert response.headers["sec-websocket-version"] == "13"
    assert b"RFC 6455" in response.body
    assert b"Sec-WebSocket-Draft" in response.body
