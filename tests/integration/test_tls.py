"""The stack with TLS, as docs/SECURITY.md runs it: ``scripts/make-tls``, then compose with
``docker-compose.tls.yml``. It is a stack of its own (another compose project, another port),
built from the same images, so that the other tests keep their plain-text stack."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from testcontainers.compose import DockerCompose

from tests.integration.conftest import ROOT, STARTED, Address, free_port
from tests.integration.pages import chromium, connect_chat, page_opener, say, shows_message
from tests.waiting import HANG, Hang, within

#: What the tests get: the TLS gateway's address and the CA certificate that signed it.
TLSStack = tuple[Address, Path]


@pytest.fixture(scope="module")
def tls_stack(
    compose_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TLSStack]:
    tls = tmp_path_factory.mktemp("tls")
    env = {
        "COMPOSE_PROJECT_NAME": "wslab-tls-test",
        "WSLAB_PORT": str(free_port()),
        "WSLAB_TLS_DIR": str(tls),
    }
    saved = {name: os.environ[name] for name in env if name in os.environ}
    os.environ.update(env)  # compose reads its variables from the environment.
    try:
        subprocess.run([ROOT / "scripts" / "make-tls"], check=True, capture_output=True)
        files = ["docker-compose.yml", "docker-compose.tls.yml"]
        compose = DockerCompose(
            ROOT, compose_file_name=files, build=True, wait=True, services=STARTED
        )
        compose.stop()  # What an interrupted run left behind.
        with compose:
            yield ("127.0.0.1", int(env["WSLAB_PORT"])), tls / "ca.pem"
    finally:
        for name in env:
            os.environ.pop(name)
        os.environ.update(saved)


async def wslab(*args: str, stdin: bytes = b"") -> tuple[int, str, str]:
    """Run the ``wslab`` command; its exit status, standard output and error."""
    process = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "client", *args],
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        out, err = await within(process.communicate(stdin), f"wslab {args[0]} to exit")
    except Hang as exc:
        process.kill()
        out, err = await process.communicate()
        raise Hang(f"{exc}; it printed {out.decode()!r} and {err.decode()!r}") from None
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_wslab_replays_the_sample_sessions_over_wss_trusting_the_local_ca(
    tls_stack: TLSStack,
) -> None:
    (host, port), ca = tls_stack
    status, out, err = await wslab(
        "replay",
        *["sessions/chat.json", "sessions/quotes.json", "--url", f"wss://{host}:{port}"],
        # Each expectation may wait a third of the whole: a hang shows which one.
        *["--cacert", str(ca), "--no-proxy", "--timeout", str(HANG / 3)],
    )
    assert status == 0, out + err


async def test_wslab_connect_with_cacert_talks_over_wss_and_without_it_is_refused(
    tls_stack: TLSStack,
) -> None:
    (host, port), ca = tls_stack
    url = f"wss://{host}:{port}/stocks"
    status, out, err = await wslab(
        "connect", url, "--cacert", str(ca), "--no-proxy", "--wait", "1", stdin=b"MSFT\n"
    )
    assert status == 0, err
    assert out.startswith('{"type": "subscribed", "symbols": ["MSFT"]}\n'), out
    status, out, err = await wslab("connect", url, "--no-proxy", stdin=b"MSFT\n")
    assert status != 0
    assert "certificate verify failed" in err, err


async def test_the_page_over_https_chats_over_wss(
    tls_stack: TLSStack, request: pytest.FixtureRequest
) -> None:
    (host, port), _ = tls_stack
    # The browser does not know the local CA: it is told to accept the certificate.
    async with (
        chromium() as browser,
        page_opener(
            browser, f"https://{host}:{port}/", request, ignore_https_errors=True
        ) as open_page,
    ):
        page = await open_page()
        assert await page.evaluate("location.protocol") == "https:"
        sockets: list[str] = []
        page.on("websocket", lambda socket: sockets.append(socket.url))
        await connect_chat(page, "tls-page", "secure")
        await say(page, "hello over wss")
        await shows_message(page, "secure", "hello over wss")
    # The ticker's /stocks socket may open before or after the listener is added.
    opened = {url.partition("?")[0] for url in sockets}
    assert f"wss://{host}:{port}/chat" in opened
    assert opened <= {f"wss://{host}:{port}/chat", f"wss://{host}:{port}/stocks"}
