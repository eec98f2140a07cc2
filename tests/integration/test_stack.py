"""The whole stack, built into images and started with docker compose through testcontainers.

Real draft clients connect from the test process to the gateway's published port. The
images are built offline from the local base image (scripts/prepare-offline), unless
BASE_IMAGE, REDIS_IMAGE and PIP_ARGS say otherwise.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import docker as docker_sdk
import pytest
from testcontainers.compose import DockerCompose

from client import Connection, connect
from tests.gateway.draft_client import TEXT, DraftClient, frame, http_exchange, opening_request

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ["redis", "gateway", "chat", "stocks"]
# What scripts/offline-env sets; an environment that has them already wins.
OFFLINE = {
    "BASE_IMAGE": "wslab/base:bookworm",
    "REDIS_IMAGE": "wslab/base:bookworm",
    "PIP_ARGS": "--no-index --find-links=/wheels",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def compose_env(docker: docker_sdk.DockerClient) -> Iterator[dict[str, str]]:
    """The environment compose runs in: offline images, a project name, a free port."""
    env = {
        **{name: os.environ.get(name, value) for name, value in OFFLINE.items()},
        "COMPOSE_PROJECT_NAME": "wslab-test",
        "WSLAB_PORT": str(_free_port()),
    }
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    yield {**os.environ}
    for name, value in saved.items():
        if value is None:
            del os.environ[name]
        else:
            os.environ[name] = value


@pytest.fixture(scope="module")
def stack(compose_env: dict[str, str]) -> Iterator[DockerCompose]:
    """redis, gateway, chat and stocks, built and healthy (`up --build --wait`)."""
    compose = DockerCompose(ROOT, build=True, wait=True, services=SERVICES, quiet_build=True)
    with compose:
        yield compose


@pytest.fixture(scope="module")
def gateway(stack: DockerCompose, compose_env: dict[str, str]) -> tuple[str, int]:
    return "127.0.0.1", int(compose_env["WSLAB_PORT"])


def _get(gateway: tuple[str, int], path: str) -> int:
    host, port = gateway
    try:
        with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=5) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code


async def _until_status(gateway: tuple[str, int], path: str, status: int) -> None:
    async with asyncio.timeout(60):
        while await asyncio.to_thread(_get, gateway, path) != status:
            await asyncio.sleep(0.5)


@asynccontextmanager
async def _chat(gateway: tuple[str, int], nick: str) -> AsyncIterator[Connection]:
    host, port = gateway
    async with connect(f"ws://{host}:{port}/chat?nick={nick}", proxy=None) as ws:
        assert await _next(ws, "welcome") == {"type": "welcome", "nick": nick, "room": "lobby"}
        yield ws


async def _next(
    ws: Connection, kind: str, timeout: float = 20, **fields: object
) -> dict[str, object]:
    """The next message of type ``kind`` with these fields; others are skipped."""
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == kind and fields.items() <= message.items():
                return message  # type: ignore[no-any-return]


def test_compose_brings_every_service_to_healthy(stack: DockerCompose) -> None:
    health = {container.Service: container.Health for container in stack.get_containers()}
    assert health == dict.fromkeys(SERVICES, "healthy")


def test_the_gateway_answers_health_readiness_and_metrics(gateway: tuple[str, int]) -> None:
    assert _get(gateway, "/healthz") == 200
    assert _get(gateway, "/readyz") == 200
    assert _get(gateway, "/metrics") == 200


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
        assert await client.read_to_eof() == frame(0x1, b"reserved opcode 0x6")


async def test_a_chat_line_reaches_another_client_with_the_senders_nick(
    gateway: tuple[str, int],
) -> None:
    async with _chat(gateway, "alice") as alice, _chat(gateway, "bob") as bob:
        await alice.send("hello bob")
        heard = await _next(bob, "message", nick="alice")
        assert (heard["room"], heard["text"]) == ("lobby", "hello bob")


async def test_a_quote_subscriber_gets_only_its_symbols(gateway: tuple[str, int]) -> None:
    host, port = gateway
    async with connect(f"ws://{host}:{port}/stocks", proxy=None) as ws:
        await ws.send(json.dumps({"type": "subscribe", "symbols": ["MSFT", "AAPL"]}))
        assert await _next(ws, "subscribed") == {"type": "subscribed", "symbols": ["AAPL", "MSFT"]}
        quotes = [await _next(ws, "quote") for _ in range(10)]
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
    async with _chat(gateway, "alice") as alice, _chat(gateway, "bob") as bob:
        await asyncio.to_thread(redis.stop)
        await _until_status(gateway, "/readyz", 503)
        await asyncio.to_thread(redis.start)
        await _until_status(gateway, "/readyz", 200)
        # The chat service reconnects on its own schedule: alice repeats herself, as a
        # person told "unavailable" would, until bob hears her.
        repeating = asyncio.create_task(_keep_saying(alice, "back again"))
        try:
            await _next(bob, "message", timeout=60, nick="alice", text="back again")
        finally:
            repeating.cancel()


async def _keep_saying(ws: Connection, text: str) -> None:
    while True:
        await ws.send(text)
        await asyncio.sleep(1)
