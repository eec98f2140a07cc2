"""The two stacks benchmarks/side_by_side.py compares, started and pinned.

- **wslab**: ``python -m gateway`` (uvloop and the gateway's h11 ``HTTPProtocol``, as it
  runs in production), or benchmarks/gateway_variant.py for another loop or httptools;
  with ``python -m chat_service`` (its rate limit raised) and ``python -m stock_service``
  (its own feed slowed to almost nothing: the benchmark publishes the quotes).
- **conventional**: benchmarks/conventional_app.py on uvicorn.

Each run gets a fresh ``redis-server``. The server under test is pinned to one core, and
everything else (Redis, the services, this process with the load generator) to the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from processes import (
    ROOT,
    TIMEOUT,
    free_port,
    gateway_env,
    http_get,
    pin,
    redis_server,
    started,
    tail,
    wait_ready,
)
from redis.asyncio import Redis

from bus import topic_channel
from stock_service import topic

HERE = Path(__file__).resolve().parent
#: The core of the server under test, and the core of everything else.
SERVER_CORE, OTHER_CORE = 0, 1


@dataclass(frozen=True)
class Server:
    """A server under test: which stack, on which event loop, with which HTTP parser."""

    stack: str  # "wslab" or "conventional"
    loop: str = "uvloop"  # "uvloop" or "asyncio"
    http: str = ""  # "h11" or "httptools"; empty: the stack's own choice

    @property
    def parser(self) -> str:
        """The HTTP parser: the gateway's h11 protocol, uvicorn[standard]'s httptools."""
        return self.http or ("h11" if self.stack == "wslab" else "httptools")

    @property
    def label(self) -> str:
        return f"{self.stack} ({self.loop}, {self.parser})"

    def command(self, port: int) -> list[str]:
        if self.stack == "conventional":
            script = str(HERE / "conventional_app.py")
            options = ["--port", str(port), "--loop", self.loop, "--http", self.parser]
            return [sys.executable, script, *options]
        if (self.loop, self.parser) == ("uvloop", "h11"):
            return [sys.executable, "-m", "gateway"]  # uvicorn's "auto" loop is uvloop here
        variant = str(HERE / "gateway_variant.py")
        return [sys.executable, variant, "--loop", self.loop, "--http", self.parser]

    def env(self, port: int, redis_url: str) -> dict[str, str]:
        env = gateway_env(port, redis_url, f"gw-side-{port}")
        env["WSLAB_MAX_CONNECTIONS"] = "30000"
        # The conventional app queues for a client without a bound; the gateway closes one
        # more than 1 MiB behind, which a sink of 1,000 members' joins can be while the load
        # generator shares its core with the chat service. Measured, not closed.
        env["WSLAB_MAX_WRITE_BUFFER"] = str(64 * 2**20)
        return env

    def quote_channel(self, symbol: str) -> str:
        """The Redis channel a quote of ``symbol`` is published on, to reach clients."""
        if self.stack == "conventional":
            return f"quotes.{symbol}"
        channel: str = topic_channel(topic(symbol))
        return channel


@dataclass(frozen=True)
class Running:
    """A server started, with its Redis."""

    server: Server
    pid: int
    port: int
    redis_url: str
    #: The processes of the other core: Redis and the services.
    helpers: tuple[int, ...] = ()


def service_env(redis_url: str, health: Path, **extra: str) -> dict[str, str]:
    """The environment of a wslab service: Redis, a heartbeat file, quiet logs."""
    env = dict(os.environ, REDIS_URL=redis_url, WSLAB_LOG_LEVEL="WARNING")
    env["WSLAB_HEALTH_FILE"] = str(health)
    return env | extra


async def wait_healthy(health: Path, process: asyncio.subprocess.Process, log: IO[bytes]) -> None:
    """Wait until a service's heartbeat file exists: it listens on the bus."""
    async with asyncio.timeout(TIMEOUT):
        while not health.exists():
            if process.returncode is not None:
                raise RuntimeError(f"a service stopped:\n{tail(log)}")
            await asyncio.sleep(0.05)


async def wait_serving(port: int, process: asyncio.subprocess.Process, log: IO[bytes]) -> None:
    """Wait until the conventional app answers HTTP."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            if process.returncode is not None:
                raise RuntimeError(f"the server stopped:\n{tail(log)}")
            with contextlib.suppress(OSError):
                status, _ = await asyncio.to_thread(
                    http_get, f"http://127.0.0.1:{port}/openapi.json"
                )
                if status == 200:
                    return
            await asyncio.sleep(0.1)


@asynccontextmanager
async def running(server: Server, log: IO[bytes]) -> AsyncIterator[Running]:
    """Redis, the services a wslab gateway needs, and ``server``, until the block ends."""
    async with AsyncExitStack() as stack:
        url = await stack.enter_async_context(redis_server(None, log))
        async with Redis.from_url(url) as client:
            helpers = [int((await client.info("server"))["process_id"])]
        if server.stack == "wslab":
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="side-")))
            services = {
                "chat_service": {"WSLAB_RATE": "1000000", "WSLAB_BURST": "1000000"},
                "stock_service": {"WSLAB_TICK_RATE": "0.01"},
            }
            for module, extra in services.items():
                health = folder / module
                env = service_env(url, health, **extra)
                command = [sys.executable, "-m", module]
                process = await stack.enter_async_context(started(command, log, env=env))
                await wait_healthy(health, process, log)
                helpers.append(process.pid)
        port = free_port()
        command = server.command(port)
        process = await stack.enter_async_context(started(command, log, env=server.env(port, url)))
        pin(process.pid, SERVER_CORE)
        if server.stack == "wslab":
            await wait_ready(port, process, log)
        else:
            await wait_serving(port, process, log)
        pin(process.pid, SERVER_CORE)  # Any thread started meanwhile.
        yield Running(server, process.pid, port, url, tuple(helpers))


__all__ = ["OTHER_CORE", "ROOT", "SERVER_CORE", "Running", "Server", "running"]
