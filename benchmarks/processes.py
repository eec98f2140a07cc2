"""What the benchmarks share about processes: starting, pinning and reading them, and Redis.

Linux only: memory and CPU time are read from ``/proc``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import resource
import shutil
import socket
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import redis
from redis.asyncio import Redis

__all__ = [
    "KIB",
    "MIB",
    "ROOT",
    "TIMEOUT",
    "Memory",
    "busy",
    "core_times",
    "cpu_time",
    "free_port",
    "gateway_env",
    "http_get",
    "memory",
    "metric",
    "open_connections",
    "pin",
    "raise_open_files",
    "redis_server",
    "started",
    "tail",
    "wait_open",
    "wait_ready",
]

ROOT = Path(__file__).resolve().parent.parent
#: Seconds any one step (starting a process, opening or closing the connections) may take.
TIMEOUT = 60.0
KIB = 1024
MIB = 1024 * 1024


@dataclass(frozen=True)
class Memory:
    """A process's resident memory, in bytes."""

    rss: int
    anon: int

    def __sub__(self, other: Memory) -> Memory:
        return Memory(self.rss - other.rss, self.anon - other.anon)


def memory(pid: int) -> Memory:
    """``VmRSS`` and ``RssAnon`` of ``/proc/<pid>/status``."""
    fields: dict[str, int] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon"):
                fields[key] = int(value.split()[0]) * KIB
    return Memory(fields["VmRSS"], fields["RssAnon"])


def cpu_time(pid: int) -> float:
    """The user and system CPU time of ``pid``, in seconds (``/proc/<pid>/stat``)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rpartition(")")[2].split()
    # After the command: state (field 3), ... utime (14) and stime (15).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def core_times() -> list[tuple[int, int]]:
    """Each CPU's busy and total jiffies since boot (``/proc/stat``)."""
    times = []
    with open("/proc/stat", encoding="ascii") as stat:
        for line in stat:
            name, *fields = line.split()
            if name.startswith("cpu") and name != "cpu":
                values = [int(value) for value in fields]
                idle = values[3] + values[4]  # idle and iowait
                times.append((sum(values) - idle, sum(values)))
    return times


def busy(before: list[tuple[int, int]], after: list[tuple[int, int]]) -> tuple[float, ...]:
    """How busy each CPU was between two :func:`core_times`, as shares of its time."""
    return tuple(
        (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0
        for (b0, t0), (b1, t1) in zip(before, after, strict=True)
    )


def pin(pid: int, core: int) -> None:
    """Pin every thread of ``pid`` to ``core``."""
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(int(task), {core})


def raise_open_files(needed: int) -> int:
    """Raise this process's RLIMIT_NOFILE (inherited by what it starts) to ``needed``.

    Raises:
        RuntimeError: the hard limit is lower and cannot be raised.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return soft
    if hard != resource.RLIM_INFINITY and hard < needed:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (needed, needed))
        except (ValueError, OSError) as exc:
            msg = f"RLIMIT_NOFILE's hard limit is {hard}; {needed} are needed"
            raise RuntimeError(msg) from exc
        return needed
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    return needed


def free_port() -> int:
    """A TCP port free on the loopback interface now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def started(
    command: Sequence[str],
    log: IO[bytes],
    *,
    env: dict[str, str] | None = None,
    stdio: bool = False,
) -> AsyncIterator[asyncio.subprocess.Process]:
    """Run ``command`` until the block ends, its output to ``log``; then end it.

    With ``stdio``, its stdin and stdout are pipes (the reference server's commands).
    """
    pipe = asyncio.subprocess.PIPE if stdio else asyncio.subprocess.DEVNULL
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=ROOT,
        env=env,
        stdin=pipe,
        stdout=pipe if stdio else log,
        stderr=log,
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                async with asyncio.timeout(10):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()


def tail(log: IO[bytes], lines: int = 20) -> str:
    """The last lines written to ``log``."""
    log.flush()
    log.seek(0)
    return "\n".join(log.read().decode(errors="replace").splitlines()[-lines:])


@asynccontextmanager
async def redis_server(url: str | None, log: IO[bytes]) -> AsyncIterator[str]:
    """``url``, or the URL of a ``redis-server`` started on a free loopback port."""
    if url:
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed: pass --redis-url")
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    command += ["--appendonly", "no", "--maxclients", "1000", "--loglevel", "warning"]
    async with started(command, log) as process:
        url = f"redis://127.0.0.1:{port}/0"
        async with Redis.from_url(url) as client, asyncio.timeout(TIMEOUT):
            while True:
                if process.returncode is not None:
                    raise RuntimeError(f"redis-server stopped:\n{tail(log)}")
                with contextlib.suppress(redis.RedisError):
                    await client.ping()
                    break
                await asyncio.sleep(0.05)
        yield url


def http_get(url: str) -> tuple[int, str]:
    """The status and body of a GET (blocking: run it in a thread)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


async def wait_ready(port: int, process: asyncio.subprocess.Process, log: IO[bytes]) -> None:
    """Wait until the gateway on ``port`` answers /readyz with 200."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            if process.returncode is not None:
                raise RuntimeError(f"the gateway stopped:\n{tail(log)}")
            with contextlib.suppress(OSError):
                status, _ = await asyncio.to_thread(http_get, f"http://127.0.0.1:{port}/readyz")
                if status == 200:
                    return
            await asyncio.sleep(0.1)


async def metric(port: int, name: str, labels: str = "") -> int:
    """The sum of the gateway's samples of ``name`` whose labels contain ``labels``."""
    _, body = await asyncio.to_thread(http_get, f"http://127.0.0.1:{port}/metrics")
    pattern = rf"^{name}(?:{{([^}}]*)}})? ([0-9.e+]+)$"
    return round(
        sum(
            float(value)
            for found, value in re.findall(pattern, body, re.MULTILINE)
            if labels in found
        )
    )


async def open_connections(port: int, protocol: str) -> int:
    """The gateway's ``wslab_open_connections{protocol=...}``."""
    return await metric(port, "wslab_open_connections", f'protocol="{protocol}"')


async def wait_open(port: int, protocol: str, count: int) -> None:
    """Wait until the gateway counts ``count`` open connections of ``protocol``."""
    async with asyncio.timeout(TIMEOUT):
        while (now := await open_connections(port, protocol)) != count:
            await asyncio.sleep(0.2 if abs(now - count) > 10 else 0.05)


def gateway_env(port: int, url: str, gateway_id: str) -> dict[str, str]:
    """The environment of a ``python -m gateway`` on loopback ``port`` with Redis at ``url``.

    Every load generator connects from loopback: one address may open as many connections,
    as fast, as the whole gateway allows."""
    return dict(
        os.environ,
        WSLAB_HOST="127.0.0.1",
        WSLAB_PORT=str(port),
        REDIS_URL=url,
        WSLAB_GATEWAY_ID=gateway_id,
        WSLAB_LOG_LEVEL="WARNING",
        WSLAB_MAX_CONNECTIONS_PER_ADDRESS="1000000",
        WSLAB_HANDSHAKE_RATE="1000000",
        WSLAB_HANDSHAKE_BURST="1000000",
    )
