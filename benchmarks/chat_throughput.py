"""The chat service at saturation: CPU per line and lines per second, beside a reference.

    python benchmarks/chat_throughput.py [--members 100] [--lines 20000] [--reference DIR]

A fresh ``redis-server`` and one ``python -m chat_service`` (its rate limit lifted), the
service pinned to CPU 0, Redis and this process to CPU 1. ``--members`` connections join
one room; then ``--lines`` lines, said round the members, are appended to the service's
stream at once, with the fields gateways give them (:data:`bus.APPEND`), and the script
waits until the room's seq counts them all. Printed: the service's CPU time (user +
system) per line, and lines per second of wall time. With ``--reference DIR``, a checkout
of another commit that reads its envelopes from the stream too (``git worktree add
/tmp/before <commit>``), the same run with that checkout's chat service first, and the
ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from machine import cpu_model, load_average
from processes import ROOT, TIMEOUT, cpu_time, pin, redis_server
from redis.asyncio import Redis
from report import markdown_table

import bus

GATEWAY = "gw-bench"
ROOM = "bench"


@dataclass(frozen=True)
class Result:
    checkout: str
    lines: int
    cpu: float
    wall: float

    @property
    def per_line(self) -> float:
        return self.cpu / self.lines

    @property
    def rate(self) -> float:
        return self.lines / self.wall


def entry(kind: str, member: int, seq: int, payload: str | None = None) -> dict[str, bytes | str]:
    """A stream entry as a gateway appends it."""
    now = time.time()
    envelope = bus.Envelope(
        kind="open" if kind == "open" else "message",
        conn=f"{GATEWAY}.{member}",
        seq=seq,
        gateway=GATEWAY,
        path="/chat",
        query=f"nick=m{member}&room={ROOM}",
        payload=payload,
        received_at=now,
        published_at=now,
    )
    return {"conn": envelope.conn, "envelope": envelope.encode()}


async def room_seq(client: Redis) -> int:
    return int(await client.get(f"wslab:chat:{ROOM}:seq") or 0)


async def until_seq(client: Redis, seq: int, process: asyncio.subprocess.Process) -> None:
    async with asyncio.timeout(10 * TIMEOUT):
        while await room_seq(client) < seq:
            if process.returncode is not None:
                raise RuntimeError("the chat service stopped")
            await asyncio.sleep(0.005)


async def measure(checkout: Path, args: argparse.Namespace) -> Result:
    with tempfile.TemporaryFile() as log:
        async with redis_server(None, log) as url, Redis.from_url(url) as client:
            env = {
                **os.environ,
                "REDIS_URL": url,
                "WSLAB_RATE": "1000000",
                "WSLAB_BURST": "1000000",
                "WSLAB_HEALTH_FILE": str(Path(tempfile.gettempdir()) / "wslab-bench-chat"),
                "PYTHONPATH": str(checkout),
            }
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "chat_service", cwd=checkout, env=env, stderr=log
            )
            try:
                pin(process.pid, 0)
                await client.set(bus.gateway_alive_key(GATEWAY), 1, ex=int(10 * TIMEOUT))
                async with asyncio.timeout(TIMEOUT):
                    while not await client.zcard(bus.service_replicas("chat")):
                        await asyncio.sleep(0.05)
                stream = bus.service_stream("chat")
                async with client.pipeline(transaction=False) as pipe:
                    for member in range(args.members):
                        pipe.xadd(stream, entry("open", member, 0))  # type: ignore[arg-type]
                    await pipe.execute()
                await until_seq(client, args.members, process)  # Everyone joined.
                cpu, start = cpu_time(process.pid), time.perf_counter()
                async with client.pipeline(transaction=False) as pipe:
                    for line in range(args.lines):
                        member, seq = line % args.members, 1 + line // args.members
                        say = json.dumps({"type": "say", "text": f"line {line}", "room": ROOM})
                        pipe.xadd(stream, entry("message", member, seq, say))  # type: ignore[arg-type]
                    await pipe.execute()
                await until_seq(client, args.members + args.lines, process)
                wall, cpu = time.perf_counter() - start, cpu_time(process.pid) - cpu
            finally:
                process.terminate()
                await process.wait()
    return Result(str(checkout), args.lines, cpu, wall)


async def main(args: argparse.Namespace) -> None:
    pin(os.getpid(), 1)
    print(f"Command:  python {' '.join(sys.argv)}")
    print(f"Machine:  {cpu_model()}, {os.cpu_count()} CPUs; load {load_average()}")
    checkouts = [Path(args.reference).resolve()] if args.reference else []
    results = [await measure(checkout, args) for checkout in [*checkouts, ROOT]]
    rows = [
        [r.checkout, f"{r.lines:,}", f"{r.per_line * 1e6:.0f}", f"{r.rate:,.0f}"] for r in results
    ]
    print("\n".join(markdown_table(["checkout", "lines", "CPU µs/line", "lines/s"], rows)))
    if len(results) == 2:
        before, after = results
        print(
            f"this checkout / reference: CPU per line {after.per_line / before.per_line:.2f}, "
            f"lines/s {after.rate / before.rate:.2f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--reference", help="another checkout to measure first")
    asyncio.run(main(parser.parse_args()))
