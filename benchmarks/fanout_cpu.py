"""The gateway's CPU time per delivery when quotes come in bursts, for each protocol.

    python benchmarks/fanout_cpu.py [--connections 100] [--bursts 200] [--burst 50]

A fresh ``python -m gateway`` per protocol, pinned to one core, with Redis (a
``redis-server`` the script starts) and the clients on the other. N connections open to
``/stocks``; a stand-in for the stock service subscribes them to one topic, as
benchmarks/idle_memory.py does. Then ``--bursts`` times, ``--burst`` quote messages (the
JSON a client receives, 124 bytes on average) are published in one pipeline, so that they
reach the gateway in a few reads of its bus connection and go to every connection in the
same event-loop turns, as the stock feed's 10 ms batches do; the next burst leaves once
every connection received the last. Printed: the gateway's CPU time (user + system) per
delivery, and what that is in deliveries per second of one core.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import platform
import shlex
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass

from idle_memory import (
    MEASURED,
    TOPIC,
    US,
    Peer,
    cpu_time,
    draft_opener,
    free_port,
    gateway_env,
    pin,
    quote_texts,
    raise_open_files,
    redis_server,
    rfc6455_opener,
    stand_in,
    started,
    wait_open,
    wait_ready,
)
from machine import cpu_model, load_average
from report import markdown_table

from bus import topic_channel
from gateway import Settings

TIMEOUT = 60.0


@dataclass(frozen=True)
class Result:
    protocol: str
    deliveries: int
    cpu: float

    @property
    def per_delivery(self) -> float:
        return self.cpu / self.deliveries


async def measure(protocol: str, args: argparse.Namespace, url: str, core: int) -> Result:
    port = free_port()
    env = gateway_env(port, url, f"gw-fanout-{protocol}")
    base = f"ws://127.0.0.1:{port}/stocks"
    opener = draft_opener(base) if protocol == "draft" else rfc6455_opener(base)
    opened: list[Peer] = []
    texts = quote_texts(args.burst)
    with tempfile.TemporaryFile() as log:
        service = Settings().route_table["/stocks"]
        async with (
            stand_in(url, service) as service_stand_in,
            started([sys.executable, "-m", "gateway"], log, env=env) as gateway,
        ):
            try:
                await wait_ready(port, gateway, log)
                pin(gateway.pid, core)
                peers = await service_stand_in.open_peers(
                    opener, MEASURED, args.connections, opened
                )
                await wait_open(port, protocol, args.connections)
                async with asyncio.timeout(TIMEOUT):
                    while len(service_stand_in.measured) < len(peers):
                        await asyncio.sleep(0.01)
                await service_stand_in.subscribe_measured()
                client, channel = service_stand_in.client, topic_channel(TOPIC)
                async with asyncio.timeout(TIMEOUT):  # Until every subscription is in.
                    while any(peer.received == 0 for peer in peers):
                        await client.publish(channel, '{"type": "probe"}')
                        await asyncio.sleep(0.1)
                await asyncio.sleep(0.5)
                expected = [peer.received for peer in peers]
                before = cpu_time(gateway.pid)
                for _ in range(args.bursts):
                    async with client.pipeline(transaction=False) as pipe:
                        for text in texts:
                            pipe.publish(channel, text)
                        await pipe.execute()
                    expected = [count + len(texts) for count in expected]
                    async with asyncio.timeout(TIMEOUT):
                        while any(
                            peer.received < count
                            for peer, count in zip(peers, expected, strict=True)
                        ):
                            await asyncio.sleep(0.001)
                cpu = cpu_time(gateway.pid) - before
            finally:
                for peer in opened:
                    peer.abort()
    return Result(protocol, args.connections * args.bursts * len(texts), cpu)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--bursts", type=int, default=200)
    parser.add_argument("--burst", type=int, default=50, help="quotes per burst")
    parser.add_argument("--redis-url", default="")
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> None:
    server_core, client_core = 0, 1
    pin(os.getpid(), client_core)
    raise_open_files(args.connections + 100)
    print(f"Command:  python {shlex.join(['benchmarks/fanout_cpu.py', *sys.argv[1:]])}")
    print(f"Machine:  {cpu_model()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    # python -m gateway runs on uvloop whenever it can import it (uvicorn's loop="auto").
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    print(f"Loop:     the gateway's, {loop}")
    print(f"Load avg: {load_average()}")
    with tempfile.TemporaryFile() as log:
        async with redis_server(args.redis_url or None, log) as url:
            results = [await measure(protocol, args, url, server_core) for protocol in WIRES]
    rows = [
        [
            result.protocol,
            f"{result.deliveries:,}",
            f"{result.per_delivery * US:.2f}",
            f"{1 / result.per_delivery:,.0f}",
        ]
        for result in results
    ]
    print()
    columns = ["protocol", "deliveries", "CPU µs/delivery", "deliveries/s per core"]
    print("\n".join(markdown_table(columns, rows)))
    print(f"\nLoad avg at the end: {load_average()}")


WIRES = ("draft", "rfc6455")


def main(argv: Sequence[str] | None = None) -> int:
    asyncio.run(run(parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
