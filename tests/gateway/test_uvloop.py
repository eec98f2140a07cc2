"""The gateway under uvloop: ``python -m gateway`` takes uvloop whenever it is installed
(uvicorn's ``loop="auto"``), as it is in the test environment, so this runs the real
command and talks to it in both protocols."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import connect as ws_connect

from client import connect
from tests.waiting import within


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
async def gateway(redis_url: str) -> AsyncIterator[tuple[int, list[bytes]]]:
    """``python -m gateway`` on a free port; its port and the lines it logged so far."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "gateway", "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, "REDIS_URL": redis_url, "WSLAB_GATEWAY_ID": "gw-uvloop"},
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    stderr = process.stderr
    lines: list[bytes] = []

    async def started() -> None:
        while b"Uvicorn running on" not in (line := await stderr.readline()):
            assert line, f"the gateway exited: {b''.join(lines).decode()}"
            lines.append(line)

    try:
        await within(started(), "python -m gateway to start")
        yield port, lines
    finally:
        process.terminate()
        await within(process.communicate(), "python -m gateway to stop")


async def test_the_gateway_runs_on_uvloop_and_serves_both_protocols(
    gateway: tuple[int, list[bytes]],
) -> None:
    port, lines = gateway
    assert any(b"started on uvloop" in line for line in lines), lines
    # No chat service runs: the gateway itself answers that nobody received the message.
    async with connect(f"ws://127.0.0.1:{port}/chat", proxy=None) as draft:
        error = json.loads(await within(draft.recv(), "the draft client's error"))
    assert error["code"] == "unavailable"
    async with ws_connect(f"ws://127.0.0.1:{port}/chat") as rfc:
        error = json.loads(await within(rfc.recv(), "the RFC 6455 client's error"))
    assert error["code"] == "unavailable"
