"""The whole stack, built into images and started once per run with docker compose through
testcontainers, and helpers to talk to it.

Real draft clients connect from the test process to the gateway's published port. The
images are built offline from the local base image (scripts/prepare-offline), unless
BASE_IMAGE, REDIS_IMAGE and PIP_ARGS say otherwise.

The stack is session-scoped: every module of this directory shares it, so a test that stops
a container starts it again and waits until the stack answers before it ends.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import docker as docker_sdk
import pytest
from docker.models.containers import Container
from testcontainers.compose import DockerCompose

from client import Connection, connect
from tests.waiting import HANG, Hang, until, until_sync, within

ROOT = Path(__file__).resolve().parents[2]
#: The stack's long-running services, each healthy once up.
SERVICES = ["redis", "gateway", "chat", "stocks"]
#: What a stack starts: the services and the one-shot that writes their credentials, named
#: so that `down --volumes` removes its volumes too, Redis's data among them: a stack left
#: behind would give the next run its chat history.
STARTED = ["credentials", *SERVICES]
# What scripts/offline-env sets; an environment that has them already wins.
OFFLINE = {
    "BASE_IMAGE": "wslab/base:bookworm",
    "REDIS_IMAGE": "wslab/base:bookworm",
    "PIP_ARGS": "--no-index --find-links=/wheels",
}

#: Quotes per second of the stack's stock service: enough for a client that stops reading
#: to fall behind within seconds (tests/integration/test_quotes.py).
STOCKS_TICK_RATE = "1000"
#: The gateway's per-address limits, and what the test stack sets them to.
ADDRESS_LIMITS = (
    "WSLAB_MAX_CONNECTIONS_PER_ADDRESS",
    "WSLAB_HANDSHAKE_RATE",
    "WSLAB_HANDSHAKE_BURST",
)
ONE_ADDRESS_FOR_ALL = "100000"

#: Where a gateway is: host and port.
Address = tuple[str, int]
#: A JSON message of the chat or the stocks.
Event = dict[str, Any]
#: Each phase's report of a test, kept on it by :func:`pytest_runtest_makereport`.
REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Iterator[pytest.TestReport]:
    """Keep each phase's report on the test, for a fixture's teardown to know it failed; to
    the report of a test of the stack that failed, add the stack's logs of that moment."""
    report: pytest.TestReport = yield
    item.stash.setdefault(REPORTS, {})[report.when] = report
    fixtures = getattr(item, "funcargs", {})
    if report.failed and "stack" in fixtures:
        report.sections.append(("the stack's logs, at the failure", stack_logs(fixtures)))
    return report


def stack_logs(fixtures: dict[str, Any]) -> str:
    """The last lines each service of the stack logged, and its containers' states."""
    env = fixtures.get("compose_env")
    lines = []
    for command in (["ps", "--all"], ["logs", "--timestamps", "--no-color", "--tail", "200"]):
        completed = subprocess.run(
            ["docker", "compose", *command],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=HANG,
            check=False,
        )
        lines.append(completed.stdout + completed.stderr)
    return "\n".join(lines)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def compose_env(docker: docker_sdk.DockerClient) -> Iterator[dict[str, str]]:
    """The environment compose runs in: offline images, a project name, a free port."""
    env = {
        **{name: os.environ.get(name, value) for name, value in OFFLINE.items()},
        "COMPOSE_PROJECT_NAME": "wslab-test",
        "WSLAB_PORT": str(free_port()),
        "WSLAB_TICK_RATE": STOCKS_TICK_RATE,
        # Every test client reaches the gateway from one address (the Docker bridge's), as
        # if thousands of users shared it; scripts/attacks.py tries the limits themselves.
        **dict.fromkeys(ADDRESS_LIMITS, ONE_ADDRESS_FOR_ALL),
    }
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    yield {**os.environ}
    for name, value in saved.items():
        if value is None:
            del os.environ[name]
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def stack(compose_env: dict[str, str]) -> Iterator[DockerCompose]:
    """redis, gateway, chat and stocks, built and healthy (`up --build --wait`), from a clean
    slate: whatever an interrupted run left behind is removed first.

    A test of the stack that fails shows the services' logs in its report
    (:func:`pytest_runtest_makereport`).
    """
    compose = DockerCompose(ROOT, build=True, wait=True, services=STARTED, quiet_build=True)
    compose.stop()
    with compose:
        yield compose


@pytest.fixture(scope="session")
def gateway(stack: DockerCompose, compose_env: dict[str, str]) -> Address:
    return "127.0.0.1", int(compose_env["WSLAB_PORT"])


def network(compose_env: dict[str, str], name: str) -> str:
    """The Docker name of one of the stack's networks: ``backend`` (Redis's) or
    ``frontend`` (the clients')."""
    return f"{compose_env['COMPOSE_PROJECT_NAME']}_{name}"


@contextmanager
def gateway_beside(
    docker: docker_sdk.DockerClient, compose_env: dict[str, str], **environment: str
) -> Iterator[Address]:
    """Another gateway beside the stack's, as compose runs its own: on both networks, with
    the gateway's Redis credentials, its port published on loopback; ready when it yields.
    ``environment``: more settings."""
    port = free_port()
    project = compose_env["COMPOSE_PROJECT_NAME"]
    container = docker.containers.run(
        "wslab/gateway:dev",
        detach=True,
        network=network(compose_env, "frontend"),
        environment={"REDIS_URL_FILE": "/run/wslab/redis-url", **environment},
        volumes={f"{project}_gateway-credentials": {"bind": "/run/wslab", "mode": "ro"}},
        ports={"4502/tcp": ("127.0.0.1", port)},
    )
    address = ("127.0.0.1", port)
    try:
        docker.networks.get(network(compose_env, "backend")).connect(container)

        def ready() -> bool:
            try:
                return get_status(address, "/readyz") == 200
            except OSError:
                return False

        until_sync(ready, "the other gateway to be ready")
        yield address
    finally:
        # Seen with pytest -s, or in CI's output when a test after it failed.
        print(f"\n--- the gateway beside the stack ({environment.get('WSLAB_GATEWAY_ID')}) ---")
        print(container.logs(tail=40).decode(errors="replace"))
        container.remove(force=True)


#: What the token-mode gateway beside the stack signs its tokens with.
TOKEN_SECRET = "the-integration-tests-signing-secret-0123456789"


@pytest.fixture(scope="session")
def token_gateway(
    stack: DockerCompose, docker: docker_sdk.DockerClient, compose_env: dict[str, str]
) -> Iterator[Address]:
    """A gateway in token mode beside the stack's (docs/SECURITY.md, "Tokens")."""
    settings = {"WSLAB_AUTH": "token", "WSLAB_TOKEN_SECRET": TOKEN_SECRET}
    with gateway_beside(docker, compose_env, WSLAB_GATEWAY_ID="gw-tokens", **settings) as address:
        yield address


def run_in(container: Container, *command: str) -> tuple[int, str]:
    """Run ``command`` in ``container``: its exit status and output, stripped.

    Through the docker command, not docker-py's ``exec_run``: that one now and then returns
    no output at all from a short command on a busy machine (docker/docker-py#2042).
    """
    completed = subprocess.run(
        ["docker", "exec", container.id, *command],
        capture_output=True,
        text=True,
        timeout=HANG,
        check=False,
    )
    return completed.returncode, (completed.stdout + completed.stderr).strip()


def redis_cli(stack: DockerCompose, docker: docker_sdk.DockerClient, *args: str) -> str:
    """What ``redis-cli`` prints for ``args`` in the stack's Redis, as its operator."""
    [redis] = containers(stack, docker, "redis")
    login = 'REDISCLI_AUTH="$(cat /run/wslab/admin.password)" exec redis-cli --raw "$@"'
    code, output = run_in(redis, "sh", "-c", login, "-", *args)
    assert code == 0, output
    return output


@pytest.fixture(autouse=True)
def nicknames_freed(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test of the stack, wait until the chat has freed every nickname: one is a
    live connection's in every room (docs/MESSAGES.md), and the next test may ask for the
    same one before the chat has handled the last test's closes."""
    yield
    if "stack" in request.fixturenames:
        stack, docker = request.getfixturevalue("stack"), request.getfixturevalue("docker")

        def freed() -> bool:
            return redis_cli(stack, docker, "HLEN", "wslab:chat:nicks").strip() == "0"

        until_sync(freed, "the chat to free every nickname", interval=0.2)


def containers(
    stack: DockerCompose, docker: docker_sdk.DockerClient, service: str
) -> list[Container]:
    """The containers of a service, one per replica."""
    return [
        docker.containers.get(container.ID)
        for container in stack.get_containers()
        if container.Service == service
    ]


def get_status(gateway: Address, path: str) -> int:
    """The HTTP status of GET ``path`` on the gateway."""
    host, port = gateway
    try:
        with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=HANG) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code


async def until_status(gateway: Address, path: str, status: int) -> None:
    """Poll GET ``path`` until it answers ``status`` (a refused connection is not one)."""

    def answers() -> bool:
        try:
            return get_status(gateway, path) == status
        except OSError:  # not listening yet, or reset while starting
            return False

    await until(lambda: asyncio.to_thread(answers), f"GET {path} to answer {status}", interval=0.5)


@asynccontextmanager
async def open_chat(
    gateway: Address, nick: str, room: str = "lobby", since: int | None = None
) -> AsyncIterator[Connection]:
    """A chat connection as ``nick`` in ``room``, its ``welcome`` checked and consumed."""
    host, port = gateway
    query = f"nick={nick}" + ("" if room == "lobby" else f"&room={room}")
    if since is not None:
        query += f"&since={since}"
    async with connect(f"ws://{host}:{port}/chat?{query}", proxy=None) as ws:
        assert await next_event(ws, "welcome") == {"type": "welcome", "nick": nick, "room": room}
        yield ws


async def next_event(
    ws: Connection, kind: str, timeout: float = HANG, **fields: object
) -> dict[str, object]:
    """The next message of type ``kind`` with these fields; others are skipped."""
    skipped: list[object] = []

    async def find() -> dict[str, object]:
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == kind and fields.items() <= message.items():
                return message  # type: ignore[no-any-return]
            skipped.append(message)

    try:
        return await within(find(), f"a {kind} message with {fields}", timeout)
    except Hang as exc:
        raise Hang(f"{exc}; received meanwhile: {skipped}") from None


async def until_heard(ws: Connection, text: str) -> None:
    """Say ``text`` every second until it comes back live.

    The gateway subscribes to a room's channel when its first member there joins, and
    misses what is published before that takes effect (docs/BUS.md, "Delivery"): once a
    line comes back, ``ws`` hears the room live.
    """
    saying = asyncio.create_task(keep_saying(ws, text))
    try:
        await next_event(ws, "message", text=text)
    finally:
        saying.cancel()
        await asyncio.gather(saying, return_exceptions=True)


async def keep_saying(ws: Connection, text: str) -> None:
    """Say ``text`` every second, as a person told "unavailable" would, until cancelled."""
    while True:
        await ws.send(text)
        await asyncio.sleep(1)


class ChatProcess:
    """``wslab chat --json`` in a subprocess: lines go to its stdin, events come from its
    stdout, one JSON object a line."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.events: list[Event] = []

    async def say(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")
        await self.process.stdin.drain()

    async def next(self, kind: str, **fields: object) -> Event:
        """The next event of type ``kind`` with these fields; every event is kept in order."""
        assert self.process.stdout is not None
        stdout = self.process.stdout

        async def find() -> Event:
            while True:
                line = await stdout.readline()
                assert line, f"wslab chat ended while waiting for {kind} {fields}"
                event: Event = json.loads(line)
                self.events.append(event)
                if event["type"] == kind and fields.items() <= event.items():
                    return event

        return await within(find(), f"wslab chat to print a {kind} event with {fields}")

    async def quit(self) -> tuple[int, str]:
        """Close stdin (Ctrl-D): the exit status and what it wrote on standard error."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        out, err = await within(self.process.communicate(), "wslab chat to exit after Ctrl-D")
        self.events += [json.loads(line) for line in out.splitlines()]
        assert self.process.returncode is not None
        return self.process.returncode, err.decode()


@asynccontextmanager
async def wslab_chat(gateway: Address, nick: str, room: str) -> AsyncIterator[ChatProcess]:
    host, port = gateway
    process = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "client", "chat", f"ws://{host}:{port}"],
        *["--nick", nick, "--room", room, "--json", "--no-proxy"],
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        yield ChatProcess(process)
    finally:
        if process.returncode is None:
            process.kill()
            await process.communicate()
