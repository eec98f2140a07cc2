"""The gateway under uvloop: ``python -m gateway`` takes uvloop whenever it is installed
(uvicorn's ``loop="auto"``), as it is in the test environment, so this runs the real
command and talks to it in both protocols."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import connect as ws_connect

from client import connect
from tests.gateway.process import GatewayProcess, gateway_process
from tests.waiting import within


@pytest.fixture
async def gateway(redis_url: str) -> AsyncIterator[GatewayProcess]:
    async with gateway_process(redis_url, {"WSLAB_GATEWAY_ID": "gw-uvloop"}) as running:
        yield running


async def test_the_gateway_runs_on_uvloop_and_serves_both_protocols(
    gateway: GatewayProcess,
) -> None:
    port, lines = gateway.port, gateway.lines
    assert any(b"started on uvloop" in line for line in lines), lines
    # No chat service runs: the gateway itself answers that nobody received the message.
    async with connect(f"ws://127.0.0.1:{port}/chat", proxy=None) as draft:
        error = json.loads(await within(draft.recv(), "the draft client's error"))
    assert error["code"] == "unavailable"
    async with ws_connect(f"ws://127.0.0.1:{port}/chat") as rfc:
        error = json.loads(await within(rfc.recv(), "the RFC 6455 client's error"))
    assert error["code"] == "unavailable"
