"""The whole stack, built into images and started with docker compose through testcontainers
(the fixtures are in conftest.py): health, handshakes, chat, quotes, and a Redis restart.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess

import docker as docker_sdk
from testcontainers.compose import DockerCompose

from client import connect
from tests.gateway.draft_client import TEXT, DraftClient, frame, http_exchange, opening_request
from tests.integration.conftest import (
    ROOT,
    SERVICES,
    get_status,
    keep_saying,
    next_event,
    open_chat,
    until_status,
)
from tests.waiting import until_sync


def test_compose_brings_every_service_to_healthy(stack: DockerCompose) -> None:
    # A replica that an earlier test restarted is "starting" until its first check passes.
    def health() -> dict[str, str]:
        return {container.Service: container.Health for container in stack.get_containers()}

    healthy = dict.fromkeys(SERVICES, "healthy")
    until_sync(lambda: health() == healthy, "every service to be healthy", interval=1)


def test_the_gateway_answers_health_readiness_and_metrics(gateway: tuple[str, int]) -> None:
    assert get_status(gateway, "/healthz") == 200
    assert get_status(gateway, "/readyz") == 200
    assert get_status(gateway, "/metrics") == 200


async def test_an_independent_draft_client_completes_the_handshake_on_both_paths(
    gateway: tuple[str, int],
) -> None:
    host, port = gateway
    async with await DraftClient.connect(host, port, "/chat?nick=indie") as chat:
        welcome = json.loads(await chat.recv_text())
        assert welcome == {"type": "welcome", "nick": "indie", "room": "lobby"}
    async with await DraftClient.connect(host, port, "/stocks") as stocks:
        await stocks.send(TEXT, b"MSFT")
        assert json.loads(await stocks.recv_text()) == {"type": "subscribed", "symbols": ["MSFT"]}


async def test_the_gateway_rejects_a_bad_handshake_with_its_status_and_reason(
    gateway: tuple[str, int],
) -> None:
    host, port = gateway
    request = opening_request("/chat", f"{host}:{port}", os.urandom(8), headers={"Origin": None})
    response = await http_exchange(host, port, request)
    assert (response.status, response.body) == (400, b"missing Origin header\n")


async def test_the_gateway_closes_a_connection_that_sends_a_bad_frame(
    gateway: tuple[str, int],
) -> None:
    host, port = gateway
    async with await DraftClient.connect(host, port, "/chat") as client:
        await client.send_raw(frame(0x6))
        # The chat's welcome may come first: the Close frame with the reason ends the stream.
        assert (await client.read_to_eof()).endswith(frame(0x1, b"reserved opcode 0x6"))


async def test_a_chat_line_reaches_another_client_with_the_senders_nick(
    gateway: tuple[str, int],
) -> None:
    async with open_chat(gateway, "alice") as alice, open_chat(gateway, "bob") as bob:
        await next_event(alice, "join", nick="bob")  # He hears her live from now on.
        await alice.send("hello bob")
        heard = await next_event(bob, "message", nick="alice")
        assert (heard["room"], heard["text"]) == ("lobby", "hello bob")


async def test_a_quote_subscriber_gets_only_its_symbols(gateway: tuple[str, int]) -> None:
    host, port = gateway
    async with connect(f"ws://{host}:{port}/stocks", proxy=None) as ws:
        await ws.send(json.dumps({"type": "subscribe", "symbols": ["MSFT", "AAPL"]}))
        subscribed = await next_event(ws, "subscribed")
        assert subscribed == {"type": "subscribed", "symbols": ["AAPL", "MSFT"]}
        quotes = [await next_event(ws, "quote") for _ in range(10)]
    assert {quote["symbol"] for quote in quotes} <= {"MSFT", "AAPL"}


def test_the_client_container_replays_the_sample_sessions(compose_env: dict[str, str]) -> None:
    completed = subprocess.run(
        ["docker", "compose", "run", "--rm", "--build", "client"],
        cwd=ROOT,
        env=compose_env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "PASS  two people chatting" in completed.stdout
    assert "PASS  stock quotes" in completed.stdout


async def test_readiness_follows_redis_and_chat_works_again_after_it_returns(
    stack: DockerCompose, gateway: tuple[str, int], docker: docker_sdk.DockerClient
) -> None:
    redis = docker.containers.get(stack.get_container("redis").ID)
    async with open_chat(gateway, "alice") as alice, open_chat(gateway, "bob") as bob:
        await next_event(alice, "join", nick="bob")  # He hears her live from now on.
        await alice.send("before the restart")
        before = await next_event(bob, "message", nick="alice", text="before the restart")
        await asyncio.to_thread(redis.stop)
        await until_status(gateway, "/readyz", 503)
        await asyncio.to_thread(redis.start)
        await until_status(gateway, "/readyz", 200)
        # The chat service reconnects on its own schedule: alice repeats herself, as a
        # person told "unavailable" would, until bob hears her.
        repeating = asyncio.create_task(keep_saying(alice, "back again"))
        try:
            after = await next_event(bob, "message", nick="alice", text="back again")
        finally:
            repeating.cancel()
    # Redis kept its append-only file: the room's seq went on, and a client that joins now
    # finds the message from before the restart in the history.
    assert isinstance(before["seq"], int)
    assert isinstance(after["seq"], int)
    assert after["seq"] > before["seq"]
    async with open_chat(gateway, "carol") as carol:
        history = await next_event(carol, "history")
    assert before in history["events"]
