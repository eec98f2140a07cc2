from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import trustme

from tests.client import draft_server
from tests.client.fake_gateway import FakeGateway
from tests.client.http_proxy import ConnectProxy
from tests.client.threaded import Gateway, in_thread, serving


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def cafile(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture(scope="session")
def server_certfile(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("server") / "server.pem"
    ca.issue_cert("localhost", "127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(path))
    return str(path)


def _server_context(certfile: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile)
    return context


def _port(server: asyncio.Server) -> int:
    port: int = server.sockets[0].getsockname()[1]
    return port


@pytest.fixture
async def server_url() -> AsyncIterator[str]:
    """The URL of an independent draft server (tests/client/draft_server.py)."""
    server = await draft_server.start()
    yield f"ws://127.0.0.1:{_port(server)}"
    server.close()


@pytest.fixture
async def tls_server_url(server_certfile: str) -> AsyncIterator[str]:
    server = await draft_server.start(ssl_context=_server_context(server_certfile))
    yield f"wss://localhost:{_port(server)}"
    server.close()


@pytest.fixture
async def proxy() -> AsyncIterator[ConnectProxy]:
    proxy = ConnectProxy()
    await proxy.start()
    yield proxy
    await proxy.stop()


@pytest.fixture(scope="module")
def threaded_server_port(server_certfile: str) -> Iterator[tuple[int, int]]:
    """Ports of a plain and a TLS draft server running in a thread, for synchronous tests."""
    context = _server_context(server_certfile)
    with serving(draft_server.start, lambda: draft_server.start(ssl_context=context)) as server:
        plain, secure = server.ports
        yield plain, secure


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    """A fake gateway (tests/client/fake_gateway.py) running in a thread."""
    with in_thread(FakeGateway()) as gateway:
        yield gateway
