"""Stock quotes against the real stack: `wslab quotes --json`, prices that are the seeded
simulation's, a snapshot before the ticks, `GET /api/quotes`, and a slow subscriber that
gets the latest prices without holding up a fast one.

The stack's stock service ticks at ``STOCKS_TICK_RATE`` (conftest.py), fast enough for a
client that stops reading to fall behind within seconds.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import docker as docker_sdk
from testcontainers.compose import DockerCompose

from client import Connection, connect
from stock_service.market import Market
from stock_service.messages import Quote
from stock_service.stocks import STOCKS
from tests.gateway.draft_client import PING, PONG, TEXT, DraftClient, frame
from tests.gateway.draft_client import connect_socket as connect_slowly
from tests.integration.conftest import ROOT, Address, containers, network
from tests.waiting import HANG, within

Message = dict[str, Any]
CONFLATED = "wslab_conflated_messages_total"
#: Held quotes replaced before the slow client reads: 5 per symbol, so that (at uniformly
#: random symbols) a symbol is missed with odds of (59/60)**300, about 1 in 150.
REPLACED = 5 * len(STOCKS)


def get_json(gateway: Address, path: str) -> Any:
    host, port = gateway
    with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=HANG) as response:
        return json.load(response)


def metric(gateway: Address, name: str) -> float:
    """The value of a metric without labels on the gateway's /metrics."""
    host, port = gateway
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=HANG) as response:
        text = response.read().decode()
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert found, f"{name} not in /metrics"
    return float(found.group(1))


@asynccontextmanager
async def subscribed(gateway: Address, *symbols: str) -> AsyncIterator[Connection]:
    """A /stocks connection that asked for ``symbols``."""
    host, port = gateway
    async with connect(f"ws://{host}:{port}/stocks", proxy=None) as ws:
        await ws.send(json.dumps({"type": "subscribe", "symbols": list(symbols)}))
        yield ws


async def receive(ws: Connection) -> Message:
    message: Message = json.loads(await within(ws.recv(), "a message on /stocks"))
    return message


async def test_wslab_quotes_json_prints_a_snapshot_then_ticks_of_its_symbols_in_seq_order(
    gateway: Address,
) -> None:
    host, port = gateway
    process = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "client", "quotes", "--json", "--no-proxy"],
        *[f"ws://{host}:{port}", "MSFT", "AAPL"],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        stdout = process.stdout
        lines = [await within(stdout.readline(), "a line of wslab quotes") for _ in range(41)]
    finally:
        process.kill()
        await process.communicate()
    snapshot, *ticks = [json.loads(line) for line in lines]
    assert snapshot["type"] == "snapshot"
    last = {quote["symbol"]: quote["seq"] for quote in snapshot["quotes"]}
    assert sorted(last) == ["AAPL", "MSFT"]
    for tick in ticks:
        assert (tick["type"], tick["symbol"] in last) == ("quote", True)
        assert tick["seq"] > last[tick["symbol"]]
        last[tick["symbol"]] = tick["seq"]


async def test_the_prices_are_those_the_seed_gives(gateway: Address) -> None:
    async with subscribed(gateway, "*") as ws:
        received: list[Message] = []
        while len(received) < 200:
            message = await receive(ws)
            if message["type"] == "quote":
                received.append(message)
    # The service's market, run here from the same seed (2010, the default): each symbol's
    # n-th tick is its quote with seq n.
    market = Market(STOCKS, seed=2010)
    ticks: dict[str, list[float]] = {stock.symbol: [] for stock in STOCKS}
    while any(len(ticks[quote["symbol"]]) < quote["seq"] for quote in received):
        tick = market.tick()
        ticks[tick.symbol].append(tick.price)
    stocks = {stock.symbol: stock for stock in STOCKS}
    for quote in received:
        symbol, seq = quote["symbol"], quote["seq"]
        expected = Quote.of(stocks[symbol], ticks[symbol][seq - 1], seq, quote["ts"])
        assert quote == {"type": "quote", **expected.fields()}


async def test_a_subscriber_gets_a_snapshot_before_any_tick_then_only_newer_ticks(
    gateway: Address,
) -> None:
    async with subscribed(gateway, "IBM", "ORCL") as ws:
        messages = [await receive(ws) for _ in range(12)]
    kinds = [message["type"] for message in messages if message["type"] != "subscribed"]
    assert kinds[0] == "snapshot"
    assert set(kinds[1:]) == {"quote"}
    snapshot = next(message for message in messages if message["type"] == "snapshot")
    last = {quote["symbol"]: quote["seq"] for quote in snapshot["quotes"]}
    assert sorted(last) == ["IBM", "ORCL"]
    for quote in (message for message in messages if message["type"] == "quote"):
        assert quote["seq"] > last[quote["symbol"]]
        last[quote["symbol"]] = quote["seq"]


async def test_get_api_quotes_returns_the_latest_quotes_in_the_order_asked(
    gateway: Address,
) -> None:
    answer = await asyncio.to_thread(get_json, gateway, "/api/quotes?symbols=MSFT,AAPL,NOPE")
    assert [quote["symbol"] for quote in answer["quotes"]] == ["MSFT", "AAPL"]
    assert answer["unknown"] == ["NOPE"]
    async with subscribed(gateway, "MSFT") as ws:
        while (message := await receive(ws))["type"] != "quote":
            pass
    later = await asyncio.to_thread(get_json, gateway, "/api/quotes?symbols=MSFT")
    assert later["quotes"][0]["seq"] >= message["seq"]
    everything = await asyncio.to_thread(get_json, gateway, "/api/quotes")
    assert len(everything["quotes"]) == len(STOCKS)


async def keep_heard(client: DraftClient) -> None:
    """Ping the gateway every few seconds, until cancelled. A client the gateway hears from
    is never pinged, so never closed for a pong it cannot send while it reads nothing,
    however long the machine takes."""
    while True:
        await client.send(PING)
        await asyncio.sleep(5)


async def next_text(client: DraftClient) -> str:
    """The next text message, one frame, past the pongs that :func:`keep_heard` brings."""
    received = await client.recv_frame()
    while received.opcode == PONG:
        received = await client.recv_frame()
    assert (received.fin, received.opcode) == (True, TEXT), received
    return received.payload.decode()


async def test_a_slow_subscriber_gets_the_latest_prices_and_a_fast_one_gets_every_tick(
    stack: DockerCompose,
    gateway: Address,
    docker: docker_sdk.DockerClient,
    compose_env: dict[str, str],
) -> None:
    # The slow client talks to the gateway's container directly: Docker's port proxy, in
    # between, would hold megabytes of old quotes of its own.
    [container] = containers(stack, docker, "gateway")
    frontend = container.attrs["NetworkSettings"]["Networks"][network(compose_env, "frontend")]
    conflated = await asyncio.to_thread(metric, gateway, CONFLATED)
    slow = await connect_slowly(frontend["IPAddress"], 4502, "/stocks", receive_buffer=4096)
    subscribe = json.dumps({"type": "subscribe", "symbols": ["*"]}).encode()
    try:
        await asyncio.get_running_loop().sock_sendall(slow.sock, frame(TEXT, subscribe))
    except OSError:
        slow.close()
        raise
    client = await slow.start_reading()
    pinging = asyncio.create_task(keep_heard(client))
    try:
        async with subscribed(gateway, "*") as fast:
            # The slow client reads nothing until the gateway holds quotes back from it;
            # meanwhile the fast one reads every tick: none skipped between two of a symbol
            # (after the snapshot, the gateway's first subscriber to a symbol may miss the
            # ticks sent before its SUBSCRIBE took effect).
            # A fast client that the machine stalls is held up by Docker's port proxy, whose
            # buffers take seconds of quotes, long before the gateway would conflate for it.
            # The slow one stays unread until the gateway has replaced held quotes REPLACED
            # times: ticks pick symbols uniformly at random, so nearly every symbol by then,
            # however long the machine took to get there.
            last: dict[str, int] = {}
            skipped = 0

            async def read_fast_until_conflated() -> None:
                nonlocal skipped
                while await asyncio.to_thread(metric, gateway, CONFLATED) < conflated + REPLACED:
                    for _ in range(500):
                        message = await receive(fast)
                        if message["type"] == "quote":
                            symbol, seq = message["symbol"], message["seq"]
                            skipped += symbol in last and seq != last[symbol] + 1
                            last[symbol] = seq

            await within(read_fast_until_conflated(), "the gateway to conflate for the slow one")
        assert skipped == 0
        assert len(last) == len(STOCKS)
        # The slow client catches up, then gets the latest quote of each symbol: its seq
        # jumps over the ticks it did not need.
        seen: dict[str, int] = {}
        jumped: set[str] = set()

        async def read_slow_until_jumps() -> None:
            while len(jumped) < len(STOCKS) // 2:
                message = json.loads(await next_text(client))
                ticks = {"snapshot": message.get("quotes"), "quote": [message]}
                for quote in ticks.get(message["type"]) or []:
                    symbol, seq = quote["symbol"], quote["seq"]
                    if seq > seen.get(symbol, seq - 1) + 1:
                        jumped.add(symbol)
                    seen[symbol] = seq

        await within(read_slow_until_jumps(), "the slow client's seq to jump for half the symbols")
    finally:
        pinging.cancel()
        await client.aclose()
