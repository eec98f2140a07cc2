"""Tests of gateway.liveness: when a connection is pinged and when it is closed, by the
clock given; and the real gateway doing it to a client that never answers."""

from __future__ import annotations

import pytest

from gateway import create_app
from gateway.liveness import Step, next_step
from tests.gateway.draft_client import CLOSE, PING, PONG, DraftClient, Frame
from tests.gateway.metrics import sample
from tests.gateway.server import run_server
from tests.gateway.test_app import settings, wait_ready
from tests.waiting import HANG

RULE = {"interval": 20.0, "timeout": 10.0}


@pytest.mark.parametrize(
    ("now", "heard", "pinged", "step"),
    [
        (119.0, 100.0, None, Step.WAIT),  # quiet for 19 s
        (120.0, 100.0, None, Step.PING),  # quiet for 20 s
        (125.0, 100.0, 120.0, Step.WAIT),  # a ping waits for 5 s
        (130.0, 100.0, 120.0, Step.CLOSE),  # no answer in 10 s
        (130.0, 129.0, None, Step.WAIT),  # heard from: the ping was answered
    ],
)
def test_a_quiet_connection_is_pinged_then_closed_if_it_does_not_answer(
    now: float, heard: float, pinged: float | None, step: Step
) -> None:
    assert next_step(now, heard, pinged, **RULE) is step


async def test_the_gateway_closes_a_client_that_does_not_answer_its_pings(
    redis_url: str,
) -> None:
    app = create_app(settings(redis_url, ping_interval=0.2, ping_timeout=0.2))
    before = sample("wslab_ping_timeouts_total")
    async with run_server(app) as server:
        await wait_ready(server)
        # A raw draft client: it reads what comes and answers nothing.
        silent = await DraftClient.connect(server.host, server.port, "/stocks")
        frames = [await silent.recv_frame()]
        while frames[-1].opcode != CLOSE:
            frames.append(await silent.recv_frame())
        frame = frames[-1]
        assert PING in [frame.opcode for frame in frames]
        assert frame == Frame(True, CLOSE, b"no answer to a ping in time")
        await silent.aclose()
    assert sample("wslab_ping_timeouts_total") == before + 1


async def test_a_client_that_answers_its_pings_stays_open(redis_url: str) -> None:
    # Pinged after 0.1 s of quiet; closed only if a ping went unanswered as long as a hang.
    app = create_app(settings(redis_url, ping_interval=0.1, ping_timeout=HANG))
    before = sample("wslab_ping_timeouts_total")
    async with run_server(app) as server:
        await wait_ready(server)
        client = await DraftClient.connect(server.host, server.port, "/stocks")
        # The gateway pings a client only once its last ping was answered: each ping after
        # the first says that the answer to the one before was heard.
        pings = 0
        while pings < 5:
            frame = await client.recv_frame()
            assert frame.opcode != CLOSE, frame  # An "unavailable" may come: no stocks service.
            if frame.opcode == PING:
                pings += 1
                await client.send(PONG)
        await client.aclose()
    assert sample("wslab_ping_timeouts_total") == before
