"""Tests of wsdraft.client: the opening request, the checks of the 101 response and HELLO."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.wsdraft.vectors import CLIENT_HELLO, CLIENT_NONCE, REQUEST, RESPONSE, SERVER_HELLO
from wsdraft import (
    SEND_EOF,
    BinaryMessage,
    ClientProtocol,
    ConnectionLost,
    HandshakeRejected,
    InvalidHello,
    InvalidResponse,
    InvalidURI,
    LocalProtocolError,
    Opened,
    Ping,
    RemoteProtocolError,
    State,
    TextMessage,
    parse_uri,
)
from wsdraft import handshake as handshake_module


def new_client(subprotocol: str | None = "sample", **options: object) -> ClientProtocol:
    return ClientProtocol(
        "ws://example.com/demo",
        origin="http://example.com",
        subprotocol=subprotocol,
        nonce=CLIENT_NONCE,
        **options,  # type: ignore[arg-type]
    )


def test_client_sends_the_drafts_205_byte_request() -> None:
    client = new_client()
    assert client.data_to_send() == [REQUEST]
    assert len(REQUEST) == 205
    assert client.events_received() == []
    assert client.state is State.CONNECTING
    assert not client.close_expected()


def test_client_answers_the_drafts_server_hello_with_the_18_byte_client_hello() -> None:
    client = new_client()
    client.data_to_send()
    client.receive_data(RESPONSE)
    assert client.state is State.HELLO
    assert client.events_received() == []
    assert client.data_to_send() == []
    client.receive_data(SERVER_HELLO)
    assert client.data_to_send() == [CLIENT_HELLO]
    assert len(CLIENT_HELLO) == 18
    assert client.events_received() == [Opened(subprotocol="sample")]
    assert client.state is State.OPEN
    assert client.subprotocol == "sample"


def test_client_handshake_and_first_frames_give_the_same_result_however_split(
    feed_all_ways: Callable[..., Any],
) -> None:
    data = (
        RESPONSE
        + SERVER_HELLO
        + b"\x84\x05Hello"
        + b"\x04\x03Hel"
        + b"\x82\x05Hello"
        + b"\x80\x02lo"
        + b"\x85\x7e\x01\x00"
        + bytes(range(256))
    )
    run = feed_all_ways(new_client, data)
    assert run.events == [
        Opened(subprotocol="sample"),
        TextMessage("Hello"),
        Ping(b"Hello"),
        TextMessage("Hello"),
        BinaryMessage(bytes(range(256))),
    ]
    assert run.output == [CLIENT_HELLO, b"\x83\x05Hello"]
    assert run.state is State.OPEN


@pytest.mark.parametrize(
    ("uri", "options", "head"),
    [
        pytest.param(
            "ws://example.com/demo",
            {},
            b"GET /demo HTTP/1.1\r\nHost: example.com\r\n",
            id="default-port",
        ),
        pytest.param(
            "ws://example.com:8080/chat?room=a",
            {},
            b"GET /chat?room=a HTTP/1.1\r\nHost: example.com:8080\r\n",
            id="port-and-query",
        ),
        pytest.param(
            "wss://[::1]:4443/",
            {},
            b"GET / HTTP/1.1\r\nHost: [::1]:4443\r\n",
            id="ipv6",
        ),
    ],
)
def test_client_sends_the_resource_and_host_of_its_url(
    uri: str, options: dict[str, object], head: bytes
) -> None:
    [request] = ClientProtocol(uri, nonce=CLIENT_NONCE).data_to_send()
    assert request.startswith(head)


@pytest.mark.parametrize(
    ("uri", "origin"),
    [
        ("ws://example.com/demo", b"Origin: http://example.com\r\n"),
        ("ws://example.com:8080/", b"Origin: http://example.com:8080\r\n"),
        ("wss://example.com/", b"Origin: https://example.com\r\n"),
    ],
)
def test_client_sends_its_urls_origin_by_default(uri: str, origin: bytes) -> None:
    [request] = ClientProtocol(uri).data_to_send()
    assert origin in request


def test_client_without_subprotocol_sends_no_protocol_header() -> None:
    [request] = new_client(subprotocol=None).data_to_send()
    assert request == REQUEST.replace(b"Sec-WebSocket-Protocol: sample\r\n", b"")


def test_client_accepts_a_parsed_url() -> None:
    client = ClientProtocol(parse_uri("ws://example.com/demo"), nonce=CLIENT_NONCE)
    assert client.uri == parse_uri("ws://example.com/demo")
    assert client.origin == "http://example.com"


def test_client_takes_its_nonce_from_secrets_token_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(handshake_module.secrets, "token_bytes", lambda size: CLIENT_NONCE)
    client = ClientProtocol("ws://example.com/demo", subprotocol="sample")
    assert client.nonce == CLIENT_NONCE
    assert client.data_to_send() == [REQUEST]


def test_client_draws_a_random_nonce_by_default() -> None:
    first = ClientProtocol("ws://example.com/")
    second = ClientProtocol("ws://example.com/")
    assert len(first.nonce) == 8
    assert first.nonce != second.nonce


@pytest.mark.parametrize(
    ("response", "subprotocol"),
    [
        pytest.param(RESPONSE, "sample", id="drafts-example"),
        pytest.param(
            RESPONSE.replace(b"Sec-WebSocket-Protocol: sample\r\n", b""),
            None,
            id="server-chose-no-subprotocol",
        ),
        pytest.param(
            RESPONSE.lower().replace(b"http/1.1 101 switching protocols", b"HTTP/1.1 101 OK"),
            "sample",
            id="lower-case-headers-and-other-phrase",
        ),
        pytest.param(
            RESPONSE.replace(b"Connection: Upgrade", b"Connection: keep-alive, Upgrade"),
            "sample",
            id="connection-list",
        ),
        pytest.param(
            RESPONSE.replace(b"ws://example.com/demo", b"WS://EXAMPLE.COM/demo"),
            "sample",
            id="location-case",
        ),
        pytest.param(
            b"HTTP/1.1 100 Continue\r\n\r\n" + RESPONSE,
            "sample",
            id="after-100-continue",
        ),
    ],
)
def test_client_accepts_a_valid_response(response: bytes, subprotocol: str | None) -> None:
    client = new_client()
    client.receive_data(response + SERVER_HELLO)
    assert client.events_received() == [Opened(subprotocol=subprotocol)]
    assert client.subprotocol == subprotocol
    assert client.state is State.OPEN


def test_client_ignores_empty_data() -> None:
    client = new_client()
    client.receive_data(b"")
    client.receive_data(RESPONSE + SERVER_HELLO)
    assert client.events_received() == [Opened(subprotocol="sample")]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param(
            {"subprotocol": "a b"},
            "invalid subprotocol 'a b': use only A-Z a-z 0-9 / _ -",
            id="subprotocol-space",
        ),
        pytest.param(
            {"subprotocol": "sample\r\nX-Injected: yes"},
            "invalid subprotocol 'sample\\r\\nX-Injected: yes': use only A-Z a-z 0-9 / _ -",
            id="subprotocol-header-injection",
        ),
        pytest.param(
            {"subprotocol": ""},
            "invalid subprotocol '': use only A-Z a-z 0-9 / _ -",
            id="subprotocol-empty",
        ),
        pytest.param({"nonce": b"1234567"}, "a nonce has 8 octets, not 7", id="nonce-7-octets"),
        pytest.param({"nonce": b"123456789"}, "a nonce has 8 octets, not 9", id="nonce-9-octets"),
        pytest.param(
            {"origin": "http://example.com\r\nX-Injected: yes"},
            "cannot send this request: Illegal header value b'http://example.com\\r\\n"
            "X-Injected: yes'",
            id="origin-header-injection",
        ),
    ],
)
def test_client_refuses_options_it_cannot_send(options: dict[str, object], message: str) -> None:
    with pytest.raises(LocalProtocolError) as exc_info:
        ClientProtocol("ws://example.com/demo", **options)  # type: ignore[arg-type]
    assert str(exc_info.value) == message


def test_client_refuses_an_invalid_url() -> None:
    with pytest.raises(InvalidURI) as exc_info:
        ClientProtocol("ws://example.com/a:b")
    assert str(exc_info.value) == (
        "ws://example.com/a:b is not a valid WebSocket URL: invalid resource name: "
        "it must not contain ':', spaces or control characters, even %-encoded"
    )


def test_client_refuses_to_send_before_the_connection_is_open() -> None:
    client = new_client()
    for action, call in [
        ("send a message", lambda: client.send_text("hi")),
        ("send a message", lambda: client.send_binary(b"hi")),
        ("send a ping", lambda: client.send_ping()),
        ("close", lambda: client.send_close()),
    ]:
        with pytest.raises(LocalProtocolError) as exc_info:
            call()
        assert str(exc_info.value) == f"cannot {action} in state CONNECTING"
    client.receive_data(RESPONSE)
    with pytest.raises(LocalProtocolError) as exc_info:
        client.send_text("hi")
    assert str(exc_info.value) == "cannot send a message in state HELLO"


def rejected(status_line: bytes, body: bytes, *headers: bytes) -> bytes:
    """An error response with a Content-Length body."""
    head = [status_line, *headers, b"Content-Length: %d" % len(body)]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


# Bad responses: the client fails with this error and closes the transport.
@pytest.mark.parametrize(
    ("data", "eof", "error_type", "message"),
    [
        pytest.param(
            rejected(b"HTTP/1.1 403 Forbidden", b"origin http://example.com is not allowed\n"),
            False,
            HandshakeRejected,
            "server rejected the handshake with 403: origin http://example.com is not allowed",
            id="403-with-reason",
        ),
        pytest.param(
            b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 30\r\n\r\nfull, retry later\r\n",
            True,
            HandshakeRejected,
            "server rejected the handshake with 503: full, retry later",
            id="close-delimited-body",
        ),
        pytest.param(
            rejected(b"HTTP/1.1 404 Not Found", b""),
            False,
            HandshakeRejected,
            "server rejected the handshake with 404: Not Found",
            id="empty-body-gives-the-phrase",
        ),
        pytest.param(
            rejected(b"HTTP/1.1 400 Bad Request", b"\r\n  first line\nsecond line\n"),
            False,
            HandshakeRejected,
            "server rejected the handshake with 400: first line",
            id="first-line-of-body",
        ),
        pytest.param(
            b"HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\noops!\r\n0\r\n\r\n",
            False,
            HandshakeRejected,
            "server rejected the handshake with 500: oops!",
            id="chunked-body",
        ),
        pytest.param(
            rejected(b"HTTP/1.1 403 Forbidden", b"\xff\xfeno"),
            False,
            HandshakeRejected,
            "server rejected the handshake with 403: \ufffd\ufffdno",
            id="body-not-utf-8",
        ),
        pytest.param(
            rejected(b"HTTP/1.1 403 Forbidden", b"x" * 2000),
            False,
            HandshakeRejected,
            "server rejected the handshake with 403: " + "x" * 1024,
            id="reason-cut-at-1024-bytes",
        ),
        pytest.param(
            rejected(b"HTTP/1.1 200 OK", b"<html>"),
            False,
            HandshakeRejected,
            "server rejected the handshake with 200: <html>",
            id="200",
        ),
        pytest.param(
            b"HTTP/1.1 403 Forbidden\r\nContent-Length: 10\r\n\r\nabc",
            True,
            InvalidResponse,
            "malformed HTTP response: peer closed connection without sending complete "
            "message body (received 3 bytes, expected 10)",
            id="truncated-body",
        ),
        pytest.param(
            b"garbage\r\n\r\n",
            False,
            InvalidResponse,
            "malformed HTTP response: illegal status line: bytearray(b'garbage')",
            id="garbage-status-line",
        ),
        pytest.param(
            RESPONSE.replace(b"Upgrade: WebSocket", b"Upgrade: websockets"),
            False,
            InvalidResponse,
            "the Upgrade header is not WebSocket",
            id="wrong-upgrade",
        ),
        pytest.param(
            RESPONSE.replace(b"Upgrade: WebSocket\r\n", b""),
            False,
            InvalidResponse,
            "the Upgrade header is not WebSocket",
            id="missing-upgrade",
        ),
        pytest.param(
            RESPONSE.replace(b"Connection: Upgrade\r\n", b""),
            False,
            InvalidResponse,
            "the Connection header does not contain Upgrade",
            id="missing-connection",
        ),
        pytest.param(
            RESPONSE.replace(b"Origin: http://example.com", b"Origin: http://evil.com"),
            False,
            InvalidResponse,
            "Sec-WebSocket-Origin is 'http://evil.com', expected 'http://example.com'",
            id="wrong-origin",
        ),
        pytest.param(
            RESPONSE.replace(b"Sec-WebSocket-Origin: http://example.com\r\n", b""),
            False,
            InvalidResponse,
            "Sec-WebSocket-Origin is None, expected 'http://example.com'",
            id="missing-origin",
        ),
        pytest.param(
            RESPONSE.replace(b"\r\n\r\n", b"\r\nSec-WebSocket-Origin: http://example.com\r\n\r\n"),
            False,
            InvalidResponse,
            "duplicate Sec-WebSocket-Origin header",
            id="duplicate-origin",
        ),
        pytest.param(
            RESPONSE.replace(b"ws://example.com/demo", b"ws://example.com/other"),
            False,
            InvalidResponse,
            "Sec-WebSocket-Location is 'ws://example.com/other', expected 'ws://example.com/demo'",
            id="wrong-location",
        ),
        pytest.param(
            RESPONSE.replace(b"ws://example.com/demo", b"wss://example.com/demo"),
            False,
            InvalidResponse,
            "Sec-WebSocket-Location is 'wss://example.com/demo', expected 'ws://example.com/demo'",
            id="location-with-other-scheme",
        ),
        pytest.param(
            RESPONSE.replace(b"Sec-WebSocket-Location: ws://example.com/demo\r\n", b""),
            False,
            InvalidResponse,
            "Sec-WebSocket-Location is None, expected 'ws://example.com/demo'",
            id="missing-location",
        ),
        pytest.param(
            RESPONSE.replace(b"Protocol: sample", b"Protocol: chat"),
            False,
            InvalidResponse,
            "the server chose subprotocol 'chat', which was not requested",
            id="other-subprotocol",
        ),
        pytest.param(
            RESPONSE + SERVER_HELLO[:1] + b"\x10" + SERVER_HELLO[2:18],
            False,
            InvalidHello,
            "expected a HELLO frame starting 8f 18, got 8f 10",
            id="client-hello-head",
        ),
        pytest.param(
            RESPONSE + SERVER_HELLO[:-1] + bytes([SERVER_HELLO[-1] ^ 1]),
            False,
            InvalidHello,
            "the server HELLO digest is wrong",
            id="bad-hello-digest",
        ),
        pytest.param(
            RESPONSE + SERVER_HELLO[:2] + bytes(8) + SERVER_HELLO[10:],
            False,
            InvalidHello,
            "the server HELLO digest is wrong",
            id="hello-digest-for-another-nonce",
        ),
        pytest.param(
            RESPONSE[:50],
            True,
            ConnectionLost,
            "the connection closed during the opening handshake",
            id="eof-in-response",
        ),
        pytest.param(
            RESPONSE + SERVER_HELLO[:25],
            True,
            ConnectionLost,
            "the connection closed during the opening handshake",
            id="eof-in-hello",
        ),
    ],
)
def test_client_fails_on_a_bad_response(
    feed_all_ways: Callable[..., Any],
    data: bytes,
    eof: bool,
    error_type: type[RemoteProtocolError],
    message: str,
) -> None:
    run = feed_all_ways(new_client, data, eof=eof)
    assert len(run.events) == 1
    # Before the HELLOs are exchanged the client just closes the transport.
    run.assert_failed(error_type, message, sent=[])


def test_client_that_asked_for_no_subprotocol_refuses_one(
    feed_all_ways: Callable[..., Any],
) -> None:
    run = feed_all_ways(lambda: new_client(subprotocol=None), RESPONSE + SERVER_HELLO)
    run.assert_failed(
        InvalidResponse,
        "the server chose subprotocol 'sample', which was not requested",
        sent=[],
    )


def test_client_keeps_the_status_and_reason_of_a_rejection() -> None:
    client = new_client()
    client.receive_data(rejected(b"HTTP/1.1 403 Forbidden", b"origin not allowed\n"))
    [closed] = client.events_received()
    assert isinstance(closed.error, HandshakeRejected)
    assert (closed.error.status, closed.error.reason) == (403, "origin not allowed")


def test_client_waits_for_the_end_of_a_close_delimited_rejection() -> None:
    client = new_client()
    client.receive_data(b"HTTP/1.1 503 Service Unavailable\r\n\r\nfull")
    assert client.events_received() == []
    assert client.state is State.CONNECTING
    client.receive_eof()
    [closed] = client.events_received()
    assert str(closed.error) == "server rejected the handshake with 503: full"


def test_client_ignores_the_transport_closing_after_a_rejection() -> None:
    client = new_client()
    client.data_to_send()
    client.receive_data(rejected(b"HTTP/1.1 403 Forbidden", b"no\n"))
    [closed] = client.events_received()
    assert str(closed.error) == "server rejected the handshake with 403: no"
    assert client.data_to_send() == [SEND_EOF]
    client.receive_eof()
    assert client.events_received() == []
    assert client.data_to_send() == []


@pytest.mark.parametrize(
    ("hello", "message"),
    [
        pytest.param(b"\x84\x05Hello", "got 84", id="message-before-hello"),
        pytest.param(b"\x0f\x18", "got 0f", id="hello-without-fin"),
        pytest.param(b"\x81\x00", "got 81", id="close-before-hello"),
    ],
)
def test_client_fails_at_once_on_a_wrong_first_hello_byte(
    feed_all_ways: Callable[..., Any], hello: bytes, message: str
) -> None:
    # The message quotes the one or two bytes received, depending on how they arrived.
    run = feed_all_ways(new_client, RESPONSE + hello, exact_errors=False)
    run.assert_failed(
        InvalidHello, f"expected a HELLO frame starting 8f 18, {message} {hello[1]:02x}", sent=[]
    )
    client = new_client()
    client.receive_data(RESPONSE + hello[:1])
    [closed] = client.events_received()
    assert str(closed.error) == f"expected a HELLO frame starting 8f 18, {message}"


def test_client_sends_more_headers_after_the_draft_s() -> None:
    client = new_client(headers=[("Authorization", "Bearer abc.def.ghi")])
    [request] = client.data_to_send()
    assert request == REQUEST.replace(
        b"\r\n\r\n", b"\r\nAuthorization: Bearer abc.def.ghi\r\n\r\n", 1
    )


def test_client_refuses_a_header_it_cannot_send() -> None:
    with pytest.raises(LocalProtocolError, match="cannot send this request"):
        new_client(headers=[("Authorization", "Bearer a\r\nInjected: yes")])
