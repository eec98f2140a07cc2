"""Tests of gateway.addresses: what one client address may open, by the clock given, and
which address that is behind a proxy, as ``python -m gateway`` runs it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import InvalidStatus

from gateway.addresses import AddressLimits, parse_networks
from tests.gateway.process import gateway_process
from tests.waiting import HANG

NOW = 1000.0


def test_an_address_over_its_connections_is_refused_and_others_are_not() -> None:
    limits = AddressLimits(max_connections=2)
    assert limits.admit("10.0.0.1", NOW) is None
    assert limits.admit("10.0.0.1", NOW) is None
    assert limits.admit("10.0.0.1", NOW) == "too many connections from 10.0.0.1 (at most 2)"
    assert limits.admit("10.0.0.2", NOW) is None
    limits.release("10.0.0.1")
    assert limits.admit("10.0.0.1", NOW) is None  # One ended: room for one more.
    assert limits.open == {"10.0.0.1": 2, "10.0.0.2": 1}


def test_handshakes_past_the_burst_wait_for_the_rate_by_the_clock_given() -> None:
    limits = AddressLimits(handshake_rate=2.0, handshake_burst=3)
    assert [limits.admit("10.0.0.1", NOW) for _ in range(3)] == [None, None, None]
    refused = "too many handshakes from 10.0.0.1 (at most 2 a second)"
    assert limits.admit("10.0.0.1", NOW) == refused
    assert limits.admit("10.0.0.2", NOW) is None  # Another address has its own bucket.
    assert limits.admit("10.0.0.1", NOW + 0.5) is None  # One handshake back in 0.5 s.
    assert limits.admit("10.0.0.1", NOW + 0.5) == refused


def test_a_refused_handshake_holds_no_connection() -> None:
    limits = AddressLimits(handshake_rate=1.0, handshake_burst=1)
    assert limits.admit("10.0.0.1", NOW) is None
    assert limits.admit("10.0.0.1", NOW) is not None
    limits.release("10.0.0.1")
    assert limits.open == {}


def test_the_buckets_of_addresses_gone_quiet_are_dropped_as_new_ones_come() -> None:
    limits = AddressLimits(handshake_rate=10.0, handshake_burst=10)
    for n in range(1024):
        address = f"10.0.{n // 256}.{n % 256}"
        assert limits.admit(address, NOW) is None
        limits.release(address)
    assert len(limits.buckets) == 1024
    # A second later every bucket has refilled: as good as none, dropped at the next sweep.
    assert limits.admit("10.9.9.9", NOW + 1) is None
    assert list(limits.buckets) == ["10.9.9.9"]


def test_trusted_proxies_are_addresses_networks_or_any() -> None:
    assert parse_networks(" 10.0.0.1, 172.16.0.0/12 ,::1,*") == [
        "10.0.0.1",
        "172.16.0.0/12",
        "::1",
        "*",
    ]
    assert parse_networks("") == []
    with pytest.raises(ValueError, match=r"'proxy\.example' is not an address or a network"):
        parse_networks("10.0.0.1,proxy.example")


# As python -m gateway runs: X-Forwarded-For names the client only from a trusted proxy.


@asynccontextmanager
async def opened(port: int, forwarded_for: str) -> AsyncIterator[ClientConnection]:
    headers = {"X-Forwarded-For": forwarded_for}
    url = f"ws://127.0.0.1:{port}/chat"
    async with ws_connect(url, additional_headers=headers, open_timeout=HANG) as ws:
        yield ws


async def refusal(port: int, forwarded_for: str) -> tuple[int, bytes]:
    with pytest.raises(InvalidStatus) as excinfo:
        async with opened(port, forwarded_for):
            pass
    response = excinfo.value.response
    return response.status_code, response.body or b""


async def test_behind_a_trusted_proxy_each_forwarded_address_has_its_own_limits(
    redis_url: str,
) -> None:
    env = {"WSLAB_MAX_CONNECTIONS_PER_ADDRESS": "1", "WSLAB_TRUSTED_PROXIES": "127.0.0.1"}
    async with gateway_process(redis_url, env) as gateway, AsyncExitStack() as held:
        await held.enter_async_context(opened(gateway.port, "203.0.113.1"))
        # The proxy appends the peer it saw; the client's own claims come before.
        await held.enter_async_context(opened(gateway.port, "203.0.113.1, 203.0.113.2"))
        assert await refusal(gateway.port, "198.51.100.7, 203.0.113.1") == (
            429,
            b"too many connections from 203.0.113.1 (at most 1)\n",
        )


async def test_without_a_trusted_proxy_x_forwarded_for_changes_nothing(redis_url: str) -> None:
    env = {"WSLAB_MAX_CONNECTIONS_PER_ADDRESS": "1"}
    async with gateway_process(redis_url, env) as gateway, opened(gateway.port, "203.0.113.1"):
        assert await refusal(gateway.port, "203.0.113.2") == (
            429,
            b"too many connections from 127.0.0.1 (at most 1)\n",
        )
