"""Tests of gateway.wire: which protocol a request's head chooses."""

from __future__ import annotations

import pytest

from gateway.wire import UPGRADE_REQUIRED, WIRES, choose


def head(*headers: str) -> bytes:
    lines = ["GET /chat HTTP/1.1", "Host: localhost", "Upgrade: websocket", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@pytest.mark.parametrize(
    ("headers", "protocol"),
    [
        pytest.param(("Sec-WebSocket-Version: 13",), "rfc6455", id="version 13"),
        pytest.param(("sec-websocket-version:13",), "rfc6455", id="any case, no space"),
        pytest.param(("Sec-WebSocket-Draft: 3",), "draft", id="draft"),
        pytest.param(("Sec-WebSocket-Draft: 2",), "draft", id="another draft: its own 400"),
        pytest.param(("Sec-WebSocket-Draft: 3", "Sec-WebSocket-Version: 13"), "rfc6455", id="both"),
        pytest.param((), UPGRADE_REQUIRED, id="neither"),
        pytest.param(("Sec-WebSocket-Version: 8",), UPGRADE_REQUIRED, id="version 8"),
        pytest.param(("Sec-WebSocket-Version: 13, 8",), UPGRADE_REQUIRED, id="a list"),
    ],
)
def test_the_headers_choose_the_protocol(headers: tuple[str, ...], protocol: str) -> None:
    assert choose(head(*headers)) == protocol


def test_every_choice_is_in_the_registry() -> None:
    assert set(WIRES) == {"rfc6455", "draft", UPGRADE_REQUIRED}
