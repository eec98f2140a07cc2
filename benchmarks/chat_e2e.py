"""End to end: N draft clients in one chat room, each saying one message per second.

Run it against a running stack::

    docker compose up --build -d
    python benchmarks/chat_e2e.py --url ws://localhost:4502 --clients 50 --duration 20

Every client says ``<client> <number> <send time>`` in the room at ``--rate`` messages per
second, starting at a random phase; the chat service publishes each message once on the
room's topic, and the gateway writes it to every member, the sender included. Each client
measures, for every message it receives, the time from its send to its receipt: all clients
run in this process, so one clock serves both ends. The first ``--warmup`` seconds are left
out. It prints messages delivered per second, the latency percentiles, and how many
deliveries were missing at the end (expected: sends after warm-up times clients).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import time
from dataclasses import dataclass, field

from client import Connection, connect


@dataclass
class Tally:
    """What all clients saw after the warm-up."""

    warmup_end: float
    sent: int = 0
    latencies: list[float] = field(default_factory=list)


async def run_client(
    number: int, url: str, rate: float, stop_at: float, tally: Tally, ready: asyncio.Barrier
) -> None:
    async with connect(f"{url}/chat?nick=bench-{number}") as ws:
        await ready.wait()
        receiver = asyncio.create_task(receive(ws, tally))
        await asyncio.sleep(random.random() / rate)
        count = 0
        while (now := time.perf_counter()) < stop_at:
            count += 1
            await ws.send(json.dumps({"type": "say", "text": f"{number} {count} {now!r}"}))
            if now >= tally.warmup_end:
                tally.sent += 1
            await asyncio.sleep(1 / rate)
        await asyncio.sleep(2.0)  # Let the last messages arrive.
        receiver.cancel()


async def receive(ws: Connection, tally: Tally) -> None:
    async for message in ws:
        event = json.loads(message)
        if event.get("type") != "message" or not event["nick"].startswith("bench-"):
            continue
        sent_at = float(event["text"].split()[2])
        if sent_at >= tally.warmup_end:
            tally.latencies.append(time.perf_counter() - sent_at)


def percentile(values: list[float], fraction: float) -> float:
    return statistics.quantiles(values, n=1000)[int(fraction * 1000) - 1] if values else 0.0


async def main(args: argparse.Namespace) -> None:
    # Connections open during the first seconds; timing starts after them and the warm-up.
    tally = Tally(warmup_end=time.perf_counter() + 5.0 + args.warmup)
    ready = asyncio.Barrier(args.clients)
    stop_at = tally.warmup_end + args.duration
    await asyncio.gather(
        *(
            run_client(number, args.url, args.rate, stop_at, tally, ready)
            for number in range(args.clients)
        )
    )
    measured = args.duration
    delivered = len(tally.latencies)
    expected = tally.sent * args.clients
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}"
    )
    print(f"clients: {args.clients}, rate: {args.rate}/s each, measured: {measured:.0f} s")
    print(
        f"sent: {tally.sent}, delivered: {delivered} of {expected} expected "
        f"({expected - delivered} missing)"
    )
    print(f"delivered per second: {delivered / measured:,.0f}")
    if tally.latencies:
        p50 = percentile(tally.latencies, 0.50) * 1000
        p99 = percentile(tally.latencies, 0.99) * 1000
        print(
            f"latency send→receipt: p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
            f"max {max(tally.latencies) * 1000:.1f} ms"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="ws://localhost:4502", help="the gateway")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rate", type=float, default=1.0, help="messages per second each")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds left out first")
    asyncio.run(main(parser.parse_args()))
