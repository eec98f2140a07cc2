"""Tests of wsdraft.exceptions: the documented hierarchy and the messages."""

from __future__ import annotations

import pickle
from http import HTTPStatus

import pytest

from wsdraft import (
    ConnectionLost,
    FramingError,
    HandshakeRejected,
    InvalidHello,
    InvalidRequest,
    InvalidResponse,
    InvalidURI,
    LocalProtocolError,
    PayloadTooBig,
    ProtocolError,
    RemoteProtocolError,
)


@pytest.mark.parametrize(
    ("exception", "parents"),
    [
        (ProtocolError, (Exception,)),
        (LocalProtocolError, (ProtocolError, RuntimeError)),
        (InvalidURI, (ProtocolError, ValueError)),
        (RemoteProtocolError, (ProtocolError,)),
        (InvalidRequest, (RemoteProtocolError,)),
        (HandshakeRejected, (RemoteProtocolError,)),
        (InvalidResponse, (RemoteProtocolError,)),
        (InvalidHello, (RemoteProtocolError,)),
        (FramingError, (RemoteProtocolError,)),
        (PayloadTooBig, (RemoteProtocolError,)),
        (ConnectionLost, (RemoteProtocolError,)),
    ],
    ids=lambda value: getattr(value, "__name__", None),
)
def test_exceptions_follow_the_documented_hierarchy(
    exception: type[Exception], parents: tuple[type[Exception], ...]
) -> None:
    assert exception.__bases__ == parents


def test_local_and_remote_errors_are_distinct() -> None:
    assert not issubclass(LocalProtocolError, RemoteProtocolError)
    assert not issubclass(RemoteProtocolError, LocalProtocolError)
    assert not issubclass(InvalidURI, RemoteProtocolError)


@pytest.mark.parametrize(
    ("exception", "text", "fields"),
    [
        pytest.param(
            InvalidURI("http://h/", "the scheme must be ws or wss"),
            "http://h/ is not a valid WebSocket URL: the scheme must be ws or wss",
            {"uri": "http://h/", "problem": "the scheme must be ws or wss"},
            id="invalid-uri",
        ),
        pytest.param(
            InvalidRequest(HTTPStatus.BAD_REQUEST, "missing Origin header"),
            "400 Bad Request: missing Origin header",
            {"status": HTTPStatus.BAD_REQUEST, "reason": "missing Origin header"},
            id="invalid-request",
        ),
        pytest.param(
            HandshakeRejected(503, "full"),
            "server rejected the handshake with 503: full",
            {"status": 503, "reason": "full"},
            id="handshake-rejected",
        ),
        pytest.param(
            PayloadTooBig("message", 11, 10),
            "message of 11 bytes exceeds the limit of 10 bytes",
            {"what": "message", "size": 11, "limit": 10},
            id="payload-too-big",
        ),
        pytest.param(
            FramingError("reserved opcode 0x6"), "reserved opcode 0x6", {}, id="framing-error"
        ),
    ],
)
def test_exceptions_keep_their_fields_and_compute_their_message(
    exception: ProtocolError, text: str, fields: dict[str, object]
) -> None:
    assert str(exception) == text
    for name, value in fields.items():
        assert getattr(exception, name) == value
    copy = pickle.loads(pickle.dumps(exception))
    assert type(copy) is type(exception)
    assert str(copy) == text
