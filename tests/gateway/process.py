"""Run ``python -m gateway`` as its own process, as the image runs it, for the tests that
need the real command: its event loop choice, its TLS options."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from tests.waiting import within


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class GatewayProcess:
    """A running ``python -m gateway``: its port and what it logged while starting."""

    port: int
    lines: list[bytes] = field(default_factory=list)


@asynccontextmanager
async def gateway_process(
    redis_url: str, env: Mapping[str, str] | None = None
) -> AsyncIterator[GatewayProcess]:
    """``python -m gateway`` on a free loopback port with ``env`` added to the environment,
    until the block ends."""
    running = GatewayProcess(free_port())
    process = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "gateway", "--host", "127.0.0.1", "--port", str(running.port)],
        env={**os.environ, "REDIS_URL": redis_url, **(env or {})},
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    stderr = process.stderr

    async def started() -> None:
        while b"Uvicorn running on" not in (line := await stderr.readline()):
            assert line, f"the gateway exited: {b''.join(running.lines).decode()}"
            running.lines.append(line)

    try:
        await within(started(), "python -m gateway to start")
        yield running
    finally:
        process.terminate()
        await within(process.communicate(), "python -m gateway to stop")
