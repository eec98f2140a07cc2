"""The gateway over TLS: ``python -m gateway`` with ``WSLAB_TLS_CERT`` and ``WSLAB_TLS_KEY``
serves https and both WebSocket protocols as ``wss://``, and nothing in plain text."""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trustme
from websockets.asyncio.client import connect as ws_connect

from client import connect, make_ssl_context
from tests.gateway.process import GatewayProcess, gateway_process
from tests.waiting import within

#: The gateway image's health check, run as the image runs it.
HEALTH = Path(__file__).parents[2] / "gateway" / "health.py"


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def trusting(ca: trustme.CA, tmp_path: Path) -> ssl.SSLContext:
    """A client's TLS context that trusts the test CA, as ``wslab --cacert`` makes it."""
    cafile = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(cafile)
    return make_ssl_context(cafile=str(cafile))


@pytest.fixture
async def gateway(redis_url: str, ca: trustme.CA, tmp_path: Path) -> AsyncIterator[GatewayProcess]:
    """The gateway serving a certificate for 127.0.0.1 from the test CA, key apart."""
    cert = ca.issue_cert("127.0.0.1", "localhost")
    chain, key = tmp_path / "gateway.pem", tmp_path / "gateway-key.pem"
    chain.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    cert.private_key_pem.write_to_path(key)
    env = {"WSLAB_TLS_CERT": str(chain), "WSLAB_TLS_KEY": str(key)}
    async with gateway_process(redis_url, env) as running:
        yield running


async def test_the_draft_and_rfc_6455_are_served_as_wss(
    gateway: GatewayProcess, trusting: ssl.SSLContext
) -> None:
    # No chat service runs: the gateway itself answers that nobody received the message.
    url = f"wss://127.0.0.1:{gateway.port}/chat"
    async with connect(url, ssl=trusting, proxy=None) as draft:
        error = json.loads(await within(draft.recv(), "the draft client's error"))
    assert error["code"] == "unavailable"
    async with ws_connect(url, ssl=trusting) as rfc:
        error = json.loads(await within(rfc.recv(), "the RFC 6455 client's error"))
    assert error["code"] == "unavailable"


async def test_https_serves_the_health_check(
    gateway: GatewayProcess, trusting: ssl.SSLContext
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port, ssl=trusting)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    response = await within(reader.read(), "the answer to GET /healthz over https")
    writer.close()
    assert response.startswith(b"HTTP/1.1 200 OK\r\n")
    assert response.endswith(b'{"status":"ok"}')


async def test_a_client_that_does_not_trust_the_certificate_is_not_connected(
    gateway: GatewayProcess,
) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        async with connect(f"wss://127.0.0.1:{gateway.port}/chat", proxy=None):
            pass


async def test_nothing_is_served_in_plain_text_on_the_tls_port(gateway: GatewayProcess) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    response = await within(reader.read(), "the TLS port's answer to plain HTTP")
    writer.close()
    assert not response.startswith(b"HTTP/1.1 200")


async def test_the_container_health_check_asks_over_tls_when_it_is_on(
    gateway: GatewayProcess,
) -> None:
    env = {**os.environ, "WSLAB_PORT": str(gateway.port), "WSLAB_TLS_CERT": "/run/any.pem"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-I", str(HEALTH), env=env, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await within(process.communicate(), "the health check")
    assert process.returncode == 0, out
    assert out.decode() == f"https://127.0.0.1:{gateway.port}/healthz: 200\n"
