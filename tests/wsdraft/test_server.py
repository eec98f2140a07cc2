"""Tests of wsdraft.server: the opening request, the 101 response, both HELLOs, rejections."""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import pytest

from tests.wsdraft.vectors import CLIENT_HELLO, REQUEST, RESPONSE, SERVER_HELLO, SERVER_NONCE
from wsdraft import (
    SEND_EOF,
    Closed,
    ConnectionLost,
    InvalidHello,
    InvalidRequest,
    Limits,
    LocalProtocolError,
    Opened,
    Protocol,
    RemoteProtocolError,
    Request,
    ServerProtocol,
    State,
)

REQUEST_EVENT = Request(
    resource="/demo",
    host="example.com",
    origin="http://example.com",
    subprotocol="sample",
    headers=(
        ("host", "example.com"),
        ("connection", "Upgrade"),
        ("sec-websocket-nonce", "A23F2BCA452DDE01"),
        ("sec-websocket-protocol", "sample"),
        ("upgrade", "WebSocket"),
        ("origin", "http://example.com"),
        ("sec-websocket-draft", "3"),
    ),
)


def new_server(**options: object) -> ServerProtocol:
    return ServerProtocol(nonce=SERVER_NONCE, **options)  # type: ignore[arg-type]


def accept_with(subprotocol: str | None) -> Callable[[Protocol, object], None]:
    """An application that accepts every request with ``subprotocol``."""

    def react(protocol: Protocol, event: object) -> None:
        if isinstance(event, Request) and protocol.state is State.ACCEPTING:
            assert isinstance(protocol, ServerProtocol)
            protocol.accept(subprotocol)

    return react


def error_response(status: HTTPStatus, reason: str) -> bytes:
    """The exact bytes of an error response with ``reason`` as its body."""
    body = reason.encode() + b"\n"
    return (
        f"HTTP/1.1 {status.value} {status.phrase}\r\n".encode()
        + b"Content-Type: text/plain; charset=utf-8\r\n"
        + f"Content-Length: {len(body)}\r\n".encode()
        + b"Connection: close\r\n"
        + (b"Allow: GET\r\n" if status is HTTPStatus.METHOD_NOT_ALLOWED else b"")
        + b"\r\n"
        + body
    )


def test_the_drafts_example_request_is_205_bytes() -> None:
    assert len(REQUEST) == 205
    assert REQUEST == (
        b"GET /demo HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Nonce: A23F2BCA452DDE01\r\nSec-WebSocket-Protocol: sample\r\n"
        b"Upgrade: WebSocket\r\nOrigin: http://example.com\r\nSec-WebSocket-Draft: 3\r\n\r\n"
    )


def test_server_reports_the_drafts_example_request() -> None:
    server = new_server()
    server.receive_data(REQUEST)
    assert server.events_received() == [REQUEST_EVENT]
    assert server.data_to_send() == []
    assert server.state is State.ACCEPTING
    assert server.request == REQUEST_EVENT


def test_server_accepts_with_the_drafts_198_byte_response_and_26_byte_hello() -> None:
    server = new_server()
    server.receive_data(REQUEST)
    server.events_received()
    server.accept("sample")
    assert server.data_to_send() == [RESPONSE, SERVER_HELLO]
    assert len(RESPONSE) == 198
    assert len(SERVER_HELLO) == 26
    assert server.state is State.HELLO
    assert server.subprotocol == "sample"
    assert server.events_received() == []
    assert not server.close_expected()


def test_server_opens_once_the_client_hello_is_verified() -> None:
    server = new_server()
    server.receive_data(REQUEST)
    server.accept("sample")
    server.data_to_send()
    server.receive_data(CLIENT_HELLO[:17])
    assert server.events_received() == [REQUEST_EVENT]
    assert server.state is State.HELLO
    server.receive_data(CLIENT_HELLO[17:])
    assert server.events_received() == [Opened(subprotocol="sample")]
    assert server.data_to_send() == []
    assert server.state is State.OPEN


def test_server_handshake_gives_the_same_result_however_the_input_is_split(
    feed_all_ways: Callable[..., Any],
) -> None:
    run = feed_all_ways(lambda: new_server(), REQUEST + CLIENT_HELLO, react=accept_with("sample"))
    assert run.events == [REQUEST_EVENT, Opened(subprotocol="sample")]
    assert run.output == [RESPONSE, SERVER_HELLO]
    assert run.state is State.OPEN


def test_server_opens_at_accept_when_the_client_hello_came_with_the_request() -> None:
    # The 2010 test client (spec §1.3, S3) pipelines a HELLO precomputed for the draft's
    # server nonce, with lower-case names and extra spaces.
    request = (
        b"GET /chat HTTP/1.1\r\n"
        b"Host: host:4502\r\n"
        b"Upgrade:   WebSocket\r\n"
        b"connection: upgrade\r\n"
        b"Origin: http://value:8080/foo/bar\r\n"
        b"Sec-WebSocket-Draft: 3\r\n"
        b"Sec-WebSocket-Nonce: A23F2BCA452DDE01\r\n"
        b"\r\n"
    )
    server = new_server()
    server.receive_data(request + CLIENT_HELLO)
    [event] = server.events_received()
    assert event == Request(
        resource="/chat",
        host="host:4502",
        origin="http://value:8080/foo/bar",
        subprotocol=None,
        headers=(
            ("host", "host:4502"),
            ("upgrade", "WebSocket"),
            ("connection", "upgrade"),
            ("origin", "http://value:8080/foo/bar"),
            ("sec-websocket-draft", "3"),
            ("sec-websocket-nonce", "A23F2BCA452DDE01"),
        ),
    )
    server.accept()
    assert server.data_to_send() == [
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: WebSocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Origin: http://value:8080/foo/bar\r\n"
        b"Sec-WebSocket-Location: ws://host:4502/chat\r\n"
        b"\r\n",
        SERVER_HELLO,
    ]
    assert server.events_received() == [Opened(subprotocol=None)]
    assert server.state is State.OPEN


@pytest.mark.parametrize(
    ("old", "new"),
    [
        pytest.param(b"Sec-WebSocket-Draft: 3\r\n", b"", id="missing-draft-means-3"),
        pytest.param(b"A23F2BCA452DDE01", b"a23f2bca452dde01", id="lower-case-nonce"),
        pytest.param(b"Upgrade: WebSocket", b"Upgrade: websocket", id="lower-case-upgrade"),
        pytest.param(b"Upgrade: WebSocket", b"UPGRADE:\tWEBSOCKET", id="upper-case-upgrade"),
        pytest.param(
            b"Connection: Upgrade", b"Connection: keep-alive, upgrade", id="connection-list"
        ),
        pytest.param(
            b"Connection: Upgrade",
            b"Connection: keep-alive\r\nConnection: Upgrade",
            id="connection-repeated",
        ),
        pytest.param(
            b"Sec-WebSocket-Protocol: sample\r\n", b"Content-Length: 0\r\n", id="empty-body"
        ),
    ],
)
def test_server_accepts_a_lenient_but_valid_request(old: bytes, new: bytes) -> None:
    server = new_server()
    server.receive_data(REQUEST.replace(old, new))
    [event] = server.events_received()
    assert isinstance(event, Request)
    assert server.state is State.ACCEPTING
    server.accept()
    server.receive_data(CLIENT_HELLO)
    assert server.events_received() == [Opened(subprotocol=None)]


def test_server_echoes_the_origin_and_builds_the_location_from_host_and_resource() -> None:
    server = new_server(secure=True)
    server.receive_data(
        REQUEST.replace(b"/demo", b"/chat?room=a")
        .replace(b"Host: example.com", b"Host: Example.com:8443")
        .replace(b"Origin: http://example.com", b"Origin: https://Example.com")
    )
    server.accept()
    response = server.data_to_send()[0]
    assert b"\r\nSec-WebSocket-Origin: https://Example.com\r\n" in response
    assert b"\r\nSec-WebSocket-Location: wss://Example.com:8443/chat?room=a\r\n" in response
    assert b"Sec-WebSocket-Protocol" not in response


def test_server_echoes_an_origin_with_non_ascii_bytes_byte_for_byte() -> None:
    server = new_server()
    server.receive_data(REQUEST.replace(b"http://example.com", b"http://caf\xe9.example"))
    [request] = server.events_received()
    assert isinstance(request, Request)
    assert request.origin == "http://caf\u00e9.example"
    server.accept()
    response = server.data_to_send()[0]
    assert b"\r\nSec-WebSocket-Origin: http://caf\xe9.example\r\n" in response


def test_server_accepts_an_allowed_origin() -> None:
    server = new_server(origins=["http://other.com", "http://example.com"])
    server.receive_data(REQUEST)
    assert server.events_received() == [REQUEST_EVENT]


def test_server_draws_a_random_nonce_by_default() -> None:
    first, second = ServerProtocol(), ServerProtocol()
    assert len(first.nonce) == 8
    assert first.nonce != second.nonce


def test_server_rejects_a_request_with_the_applications_status_and_headers() -> None:
    server = new_server()
    server.receive_data(REQUEST)
    server.events_received()
    server.reject(HTTPStatus.SERVICE_UNAVAILABLE, "server full", [("Retry-After", "30")])
    assert server.data_to_send() == [
        b"HTTP/1.1 503 Service Unavailable\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Length: 12\r\n"
        b"Connection: close\r\n"
        b"Retry-After: 30\r\n"
        b"\r\n"
        b"server full\n",
        SEND_EOF,
    ]
    assert server.events_received() == [Closed(body=b"", error=None)]
    assert server.state is State.CLOSED
    assert server.close_expected()


@pytest.mark.parametrize(
    ("status", "reason", "response"),
    [
        pytest.param(
            405,
            "no",
            b"HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain; charset=utf-8\r\n"
            b"Content-Length: 3\r\nConnection: close\r\nAllow: GET\r\n\r\nno\n",
            id="405-adds-allow",
        ),
        pytest.param(
            403,
            "",
            b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain; charset=utf-8\r\n"
            b"Content-Length: 10\r\nConnection: close\r\n\r\nForbidden\n",
            id="empty-reason-sends-the-phrase",
        ),
        pytest.param(
            HTTPStatus.TOO_MANY_REQUESTS,
            "slow down\r\nX-Injected: yes",
            b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain; charset=utf-8\r\n"
            b"Content-Length: 10\r\nConnection: close\r\n\r\nslow down\n",
            id="only-the-first-line",
        ),
    ],
)
def test_server_reject_sends_one_line_of_reason(status: int, reason: str, response: bytes) -> None:
    server = new_server()
    server.receive_data(REQUEST)
    server.reject(status, reason)
    assert server.data_to_send() == [response, SEND_EOF]


def test_server_refuses_to_accept_before_a_request_arrived() -> None:
    server = new_server()
    with pytest.raises(LocalProtocolError) as exc_info:
        server.accept()
    assert str(exc_info.value) == (
        "cannot proceed when the request was accepted in state CONNECTING"
    )
    assert server.state is State.CONNECTING
    assert server.data_to_send() == []


def test_server_refuses_to_accept_twice() -> None:
    server = new_server()
    server.receive_data(REQUEST)
    server.accept("sample")
    server.data_to_send()
    with pytest.raises(LocalProtocolError) as exc_info:
        server.accept("sample")
    assert str(exc_info.value) == "cannot proceed when the request was accepted in state HELLO"
    assert server.data_to_send() == []


def test_server_refuses_to_accept_after_the_client_left() -> None:
    server = new_server()
    server.receive_data(REQUEST)
    server.receive_eof()
    with pytest.raises(LocalProtocolError) as exc_info:
        server.accept()
    assert str(exc_info.value) == "cannot proceed when the request was accepted in state CLOSED"


@pytest.mark.parametrize("requested", [b"sample", None])
def test_server_refuses_to_accept_a_subprotocol_the_client_did_not_ask_for(
    requested: bytes | None,
) -> None:
    request = REQUEST
    if requested is None:
        request = REQUEST.replace(b"Sec-WebSocket-Protocol: sample\r\n", b"")
    server = new_server()
    server.receive_data(request)
    with pytest.raises(LocalProtocolError) as exc_info:
        server.accept("chat")
    assert str(exc_info.value) == "the client did not ask for subprotocol 'chat'"
    # Nothing happened: the application may still answer the request.
    assert server.state is State.ACCEPTING
    assert server.data_to_send() == []
    server.accept(None if requested is None else "sample")
    assert server.state is State.HELLO


@pytest.mark.parametrize(
    ("prepare", "state"),
    [
        pytest.param(lambda server: None, "CONNECTING", id="connecting"),
        pytest.param(lambda server: server.accept(), "HELLO", id="hello"),
        pytest.param(lambda server: server.reject(503, "full"), "CLOSED", id="closed"),
    ],
)
def test_server_refuses_to_reject_unless_a_request_is_waiting(
    prepare: Callable[[ServerProtocol], None], state: str
) -> None:
    server = new_server()
    if state != "CONNECTING":
        server.receive_data(REQUEST)
    prepare(server)
    server.data_to_send()
    with pytest.raises(LocalProtocolError) as exc_info:
        server.reject(400, "no")
    assert str(exc_info.value) == f"cannot reject in state {state}"
    assert server.data_to_send() == []


def test_server_refuses_to_send_before_the_client_hello() -> None:
    server = new_server()
    server.receive_data(REQUEST)
    server.accept()
    with pytest.raises(LocalProtocolError) as exc_info:
        server.send_text("too early")
    assert str(exc_info.value) == "cannot send a message in state HELLO"


def test_server_holds_a_pipelined_client_hello_until_it_accepts(
    feed_all_ways: Callable[..., Any],
) -> None:
    run = feed_all_ways(lambda: new_server(), REQUEST + CLIENT_HELLO)
    assert run.events == [REQUEST_EVENT]
    assert run.output == []
    assert run.state is State.ACCEPTING


def test_server_fails_on_data_before_its_hello(feed_all_ways: Callable[..., Any]) -> None:
    # One byte more than a client HELLO: the client cannot know our nonce yet.
    run = feed_all_ways(lambda: new_server(), REQUEST + CLIENT_HELLO + b"\x84")
    assert run.events[0] == REQUEST_EVENT
    reason = "data received before the server HELLO"
    run.assert_failed(InvalidHello, reason, sent=[error_response(HTTPStatus.BAD_REQUEST, reason)])


@pytest.mark.parametrize(
    ("hello", "message"),
    [
        pytest.param(
            CLIENT_HELLO[:-1] + b"\x00", "the client HELLO digest is wrong", id="bad-digest"
        ),
        pytest.param(b"\x8f\x10" + bytes(16), "the client HELLO digest is wrong", id="zero-digest"),
        pytest.param(
            b"\x84\x05Hello",
            "expected a HELLO frame starting 8f 10, got 84 05",
            id="message-before-hello",
        ),
        pytest.param(
            SERVER_HELLO[:18],
            "expected a HELLO frame starting 8f 10, got 8f 18",
            id="server-hello",
        ),
        pytest.param(
            b"\x0f\x10" + CLIENT_HELLO[2:],
            "expected a HELLO frame starting 8f 10, got 0f 10",
            id="hello-without-fin",
        ),
        pytest.param(b"\x81\x00", "expected a HELLO frame starting 8f 10, got 81 00", id="close"),
        pytest.param(b"\x00", "expected a HELLO frame starting 8f 10, got 00", id="first-byte"),
    ],
)
def test_server_fails_on_a_bad_client_hello(
    feed_all_ways: Callable[..., Any], hello: bytes, message: str
) -> None:
    # A wrong first byte fails at once, so the message may quote one byte or two.
    run = feed_all_ways(
        lambda: new_server(), REQUEST + hello, react=accept_with("sample"), exact_errors=False
    )
    assert run.events[:-1] == [REQUEST_EVENT]
    # Before the connection is open the draft says to just close TCP (spec §4.9).
    run.assert_failed(InvalidHello, message, sent=[RESPONSE, SERVER_HELLO])


@pytest.mark.parametrize(
    ("data", "accept"),
    [
        pytest.param(b"", False, id="connecting"),
        pytest.param(REQUEST[:100], False, id="partial-request"),
        pytest.param(REQUEST, False, id="accepting"),
        pytest.param(REQUEST + CLIENT_HELLO[:5], True, id="hello"),
    ],
)
def test_server_reports_a_connection_lost_during_the_opening_handshake(
    run: Callable[..., Any], data: bytes, accept: bool
) -> None:
    result = run(
        lambda: new_server(),
        [data] if data else [],
        eof=True,
        react=accept_with(None) if accept else None,
    )
    sent = [RESPONSE.replace(b"Sec-WebSocket-Protocol: sample\r\n", b""), SERVER_HELLO]
    result.assert_failed(
        ConnectionLost,
        "the connection closed during the opening handshake",
        sent=sent if accept else [],
    )


def test_server_ignores_empty_data() -> None:
    server = new_server()
    server.receive_data(b"")
    server.receive_data(REQUEST)
    assert server.events_received() == [REQUEST_EVENT]


BAD = HTTPStatus.BAD_REQUEST
NO_ORIGIN = REQUEST.replace(b"Origin: http://example.com\r\n", b"")
RESOURCE = (
    "invalid resource name: it must not contain ':', spaces or control characters, even %-encoded"
)
SUBPROTOCOL = "Sec-WebSocket-Protocol may only use A-Z a-z 0-9 / _ -"
NONCE = "Sec-WebSocket-Nonce must be 16 hex digits"
INCOMPLETE_HEAD = REQUEST[:-2] + b"X-Padding: " + b"a" * 1100


def replace(old: bytes, new: bytes) -> bytes:
    assert old in REQUEST
    return REQUEST.replace(old, new)


# Bad requests: each is answered with its HTTP status and a one-line reason, then closed.
@pytest.mark.parametrize(
    ("data", "status", "reason", "options"),
    [
        pytest.param(
            replace(b"GET", b"POST"),
            HTTPStatus.METHOD_NOT_ALLOWED,
            "POST is not allowed, use GET",
            {},
            id="post",
        ),
        pytest.param(
            replace(b"GET", b"WEBSOCKET"),
            HTTPStatus.METHOD_NOT_ALLOWED,
            "WEBSOCKET is not allowed, use GET",
            {},
            id="resins-method",
        ),
        pytest.param(
            replace(b"HTTP/1.1", b"HTTP/1.0"),
            HTTPStatus.HTTP_VERSION_NOT_SUPPORTED,
            "HTTP/1.0 is not supported, use 1.1",
            {},
            id="http-1.0",
        ),
        pytest.param(
            b"HELLO THERE\r\n\r\n",
            BAD,
            "illegal request line: bytearray(b'HELLO THERE')",
            {},
            id="garbage-request-line",
        ),
        pytest.param(
            replace(b"HTTP/1.1", b"http/1.1"),
            BAD,
            "illegal request line: bytearray(b'GET /demo http/1.1')",
            {},
            id="lower-case-version",
        ),
        pytest.param(
            replace(b"Origin: http://example.com", b"Origin http://example.com"),
            BAD,
            "illegal header line: bytearray(b'Origin http://example.com')",
            {},
            id="header-without-colon",
        ),
        pytest.param(
            replace(b"Host: example.com\r\n", b""),
            BAD,
            "Missing mandatory Host: header",
            {},
            id="missing-host",
        ),
        pytest.param(
            replace(b"Host: example.com\r\n", b"Host: example.com\r\nHost: example.org\r\n"),
            BAD,
            "Found multiple Host: headers",
            {},
            id="duplicate-host",
        ),
        pytest.param(NO_ORIGIN, BAD, "missing Origin header", {}, id="missing-origin"),
        pytest.param(
            REQUEST,
            HTTPStatus.FORBIDDEN,
            "origin http://example.com is not allowed",
            {"origins": ["http://example.org"]},
            id="origin-not-allowed",
        ),
        pytest.param(
            NO_ORIGIN,
            BAD,
            "missing Origin header",
            {"origins": ["http://example.com"]},
            id="missing-origin-with-allowed-origins",
        ),
        pytest.param(
            replace(b"Sec-WebSocket-Nonce: A23F2BCA452DDE01\r\n", b""),
            BAD,
            "missing Sec-WebSocket-Nonce header",
            {},
            id="missing-nonce",
        ),
        pytest.param(
            replace(b"A23F2BCA452DDE01", b"A23F2BCA452DDE0"), BAD, NONCE, {}, id="nonce-15"
        ),
        pytest.param(
            replace(b"A23F2BCA452DDE01", b"A23F2BCA452DDE012"), BAD, NONCE, {}, id="nonce-17"
        ),
        pytest.param(
            replace(b"A23F2BCA452DDE01", b"G23F2BCA452DDE01"), BAD, NONCE, {}, id="nonce-not-hex"
        ),
        pytest.param(
            replace(b"A23F2BCA452DDE01", b"ojMrykUt3gE="), BAD, NONCE, {}, id="nonce-base64"
        ),
        pytest.param(replace(b"/demo", b"/de:mo"), BAD, RESOURCE, {}, id="resource-colon"),
        pytest.param(replace(b"/demo", b"/de%20mo"), BAD, RESOURCE, {}, id="resource-space"),
        pytest.param(
            replace(b"/demo", b"/de%3amo"), BAD, RESOURCE, {}, id="resource-encoded-colon"
        ),
        pytest.param(replace(b"/demo", b"/de%0Amo"), BAD, RESOURCE, {}, id="resource-encoded-lf"),
        pytest.param(replace(b"/demo", b"/de%7fmo"), BAD, RESOURCE, {}, id="resource-encoded-del"),
        pytest.param(
            replace(b"/demo", b"/demo?at=12:00"), BAD, RESOURCE, {}, id="resource-colon-in-query"
        ),
        pytest.param(
            replace(b"/demo", b"http://example.com/demo"),
            BAD,
            "invalid resource name: it must start with '/'",
            {},
            id="resource-absolute-form",
        ),
        pytest.param(
            replace(b"/demo", b"*"),
            BAD,
            "invalid resource name: it must start with '/'",
            {},
            id="resource-asterisk",
        ),
        pytest.param(
            replace(b"Protocol: sample", b"Protocol: sample, chat"),
            BAD,
            SUBPROTOCOL,
            {},
            id="subprotocol-list",
        ),
        pytest.param(
            replace(b"Protocol: sample", b"Protocol: sam.ple"),
            BAD,
            SUBPROTOCOL,
            {},
            id="subprotocol-dot",
        ),
        pytest.param(
            replace(b"Protocol: sample", b"Protocol: "),
            BAD,
            SUBPROTOCOL,
            {},
            id="subprotocol-empty",
        ),
        pytest.param(
            replace(b"Upgrade: WebSocket", b"Upgrade: websockets"),
            BAD,
            "the Upgrade header must be WebSocket",
            {},
            id="wrong-upgrade",
        ),
        pytest.param(
            replace(b"Upgrade: WebSocket\r\n", b""),
            BAD,
            "the Upgrade header must be WebSocket",
            {},
            id="missing-upgrade",
        ),
        pytest.param(
            replace(b"Connection: Upgrade\r\n", b""),
            BAD,
            "the Connection header must contain Upgrade",
            {},
            id="missing-connection",
        ),
        pytest.param(
            replace(b"Connection: Upgrade", b"Connection: keep-alive"),
            BAD,
            "the Connection header must contain Upgrade",
            {},
            id="connection-without-upgrade",
        ),
        pytest.param(
            replace(b"Draft: 3", b"Draft: 2"),
            BAD,
            "Sec-WebSocket-Draft 2 is not supported, use 3",
            {},
            id="draft-2",
        ),
        pytest.param(
            replace(b"Draft: 3", b"Draft: 4"),
            BAD,
            "Sec-WebSocket-Draft 4 is not supported, use 3",
            {},
            id="draft-4",
        ),
        pytest.param(
            replace(b"Origin: http://example.com\r\n", b"Origin: a\r\nOrigin: b\r\n"),
            BAD,
            "duplicate origin header",
            {},
            id="duplicate-origin",
        ),
        pytest.param(
            replace(b"Draft: 3\r\n", b"Draft: 3\r\nSec-WebSocket-Nonce: A23F2BCA452DDE01\r\n"),
            BAD,
            "duplicate sec-websocket-nonce header",
            {},
            id="duplicate-nonce",
        ),
        pytest.param(
            replace(b"Draft: 3\r\n", b"Draft: 3\r\nsec-websocket-protocol: sample\r\n"),
            BAD,
            "duplicate sec-websocket-protocol header",
            {},
            id="duplicate-subprotocol",
        ),
        pytest.param(
            replace(b"Draft: 3\r\n", b"Draft: 3\r\nContent-Length: 5\r\n") + b"hello",
            BAD,
            "an opening request has no body",
            {},
            id="body",
        ),
        pytest.param(
            replace(b"Draft: 3\r\n", b"Draft: 3\r\nTransfer-Encoding: chunked\r\n") + b"0\r\n\r\n",
            BAD,
            "an opening request has no body",
            {},
            id="chunked-body",
        ),
        pytest.param(
            replace(b"Draft: 3\r\n", b"Draft: 3\r\nContent-Length: five\r\n"),
            BAD,
            "bad Content-Length",
            {},
            id="bad-content-length",
        ),
        pytest.param(
            INCOMPLETE_HEAD,
            HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
            "Receive buffer too long",
            {"limits": Limits(max_header_size=1024)},
            id="header-too-big",
        ),
        pytest.param(
            b"GET /" + b"a" * 1100,
            HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
            "Receive buffer too long",
            {"limits": Limits(max_header_size=1024)},
            id="request-line-too-big",
        ),
    ],
)
def test_server_rejects_a_bad_request_with_status_and_reason(
    feed_all_ways: Callable[..., Any],
    data: bytes,
    status: HTTPStatus,
    reason: str,
    options: dict[str, object],
) -> None:
    run = feed_all_ways(lambda: new_server(**options), data)
    response = error_response(status, reason)
    assert response.startswith(f"HTTP/1.1 {status.value} ".encode())
    assert response.endswith(f"\r\n\r\n{reason}\n".encode())
    run.assert_failed(InvalidRequest, f"{status.value} {status.phrase}: {reason}", sent=[response])
    [closed] = run.events
    assert isinstance(closed, Closed)
    assert isinstance(closed.error, InvalidRequest)
    assert closed.error.status is status
    assert closed.error.reason == reason
    assert closed.body == b""


def test_server_ignores_everything_after_failing() -> None:
    server = new_server()
    server.receive_data(replace(b"GET", b"PUT"))
    server.events_received()
    server.data_to_send()
    server.receive_data(REQUEST)
    server.receive_eof()
    assert server.events_received() == []
    assert server.data_to_send() == []
    assert server.state is State.CLOSED
    assert isinstance(server.error, RemoteProtocolError)
