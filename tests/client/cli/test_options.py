"""Opening a connection from the command line (client/cli/options.py): what a user reads
when it cannot open, through ``wslab connect``."""

from __future__ import annotations

from client.cli import ExitStatus
from tests.client.cli.answering import PAGE, REFUSAL, answering
from tests.client.cli.running import Result, wslab


def test_a_server_answering_a_page_is_said_not_to_be_a_websocket_endpoint() -> None:
    with answering(PAGE) as url:
        result = wslab("connect", "--no-proxy", f"{url}/", stdin="hi\n")
    message = f"wslab: {url}/ is not a WebSocket endpoint: the server answered 200 OK\n"
    assert result == Result(ExitStatus.HANDSHAKE_FAILED, "", message)


def test_a_refusal_says_the_status_and_what_the_server_said() -> None:
    with answering(REFUSAL) as url:
        result = wslab("connect", "--no-proxy", f"{url}/nowhere", stdin="hi\n")
    message = "wslab: server rejected the handshake with 403: the server refused the connection\n"
    assert result == Result(ExitStatus.HANDSHAKE_FAILED, "", message)
