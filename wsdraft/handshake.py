"""The draft's opening handshake: nonces, HELLO frames and the header rules both sides share.

The HTTP exchange is a GET with ``Upgrade: WebSocket`` answered by ``101 Switching
Protocols``; then the server sends its HELLO and the client answers with its own::

    server HELLO  8F 18 | server nonce (8) | MD5(client nonce ‖ "WebSocket" ‖ server nonce)
    client HELLO  8F 10 | MD5(server nonce ‖ "WebSocket" ‖ client nonce)

Nonces are hashed as their 8 raw octets, not their hex text (the draft's "41 octets" is an
erratum: its own example digests only come out with 8 + 9 + 8 = 25 octets).
"""

from __future__ import annotations

import hashlib
import re
import secrets

from .exceptions import LocalProtocolError

__all__ = [
    "CLIENT_HELLO_HEAD",
    "CLIENT_HELLO_SIZE",
    "DRAFT_VERSION",
    "NONCE_SIZE",
    "SERVER_HELLO_HEAD",
    "SERVER_HELLO_SIZE",
    "client_digest",
    "client_hello",
    "format_nonce",
    "header_tokens",
    "invalid_resource",
    "new_nonce",
    "nonce_or_new",
    "parse_nonce",
    "server_digest",
    "server_hello",
    "valid_subprotocol",
]

#: The value of ``Sec-WebSocket-Draft`` (client step 15: hybi-03 sent 2).
DRAFT_VERSION = "3"
NONCE_SIZE = 8
SERVER_HELLO_HEAD = b"\x8f\x18"  # FIN | HELLO, length 24
SERVER_HELLO_SIZE = 26
CLIENT_HELLO_HEAD = b"\x8f\x10"  # FIN | HELLO, length 16
CLIENT_HELLO_SIZE = 18

_MAGIC = b"WebSocket"
_NONCE = re.compile(r"[0-9A-Fa-f]{16}")
# "The resource name must not contain ':', whitespace or any character <= U+0020, in
# explicit or %-encoded form." DEL (0x7F) is a control character too.
_FORBIDDEN_IN_RESOURCE = re.compile(r"[\x00-\x20:\x7f]|%(?:[01][0-9A-Fa-f]|20|3[Aa]|7[Ff])")
# "Subprotocol names are restricted to A-Z, a-z, 0-9, '/', '_' and '-'."
_SUBPROTOCOL = re.compile(r"[A-Za-z0-9/_-]+")


def new_nonce() -> bytes:
    """Return 8 random octets from the operating system's CSPRNG."""
    return secrets.token_bytes(NONCE_SIZE)


def nonce_or_new(nonce: bytes | None) -> bytes:
    """Return ``nonce`` (a pinned nonce, for tests), or a new random one if None.

    Raises:
        LocalProtocolError: ``nonce`` is not 8 octets.
    """
    if nonce is None:
        return new_nonce()
    if len(nonce) != NONCE_SIZE:
        msg = f"a nonce has {NONCE_SIZE} octets, not {len(nonce)}"
        raise LocalProtocolError(msg)
    return nonce


def format_nonce(nonce: bytes) -> str:
    """Return the nonce as the 16 upper-case hex digits a client must send."""
    return nonce.hex().upper()


def parse_nonce(value: str) -> bytes | None:
    """Decode a ``Sec-WebSocket-Nonce`` value; None unless it is exactly 16 hex digits.

    Lower-case digits are accepted, although a client must send upper case.
    """
    return bytes.fromhex(value) if _NONCE.fullmatch(value) else None


def server_digest(client_nonce: bytes, server_nonce: bytes) -> bytes:
    """MD5(client nonce ‖ "WebSocket" ‖ server nonce): what the server HELLO carries."""
    return hashlib.md5(client_nonce + _MAGIC + server_nonce, usedforsecurity=False).digest()


def client_digest(client_nonce: bytes, server_nonce: bytes) -> bytes:
    """MD5(server nonce ‖ "WebSocket" ‖ client nonce): what the client HELLO carries."""
    return hashlib.md5(server_nonce + _MAGIC + client_nonce, usedforsecurity=False).digest()


def server_hello(client_nonce: bytes, server_nonce: bytes) -> bytes:
    """Return the 26 bytes of the server HELLO."""
    return SERVER_HELLO_HEAD + server_nonce + server_digest(client_nonce, server_nonce)


def client_hello(client_nonce: bytes, server_nonce: bytes) -> bytes:
    """Return the 18 bytes of the client HELLO."""
    return CLIENT_HELLO_HEAD + client_digest(client_nonce, server_nonce)


def invalid_resource(resource: str) -> str | None:
    """Say what is wrong with a resource name (path and query), or None if it is valid."""
    if not resource.startswith("/"):
        return "it must start with '/'"
    if _FORBIDDEN_IN_RESOURCE.search(resource):
        return "it must not contain ':', spaces or control characters, even %-encoded"
    return None


def valid_subprotocol(name: str) -> bool:
    """Tell whether a subprotocol name uses only the characters the draft allows."""
    return _SUBPROTOCOL.fullmatch(name) is not None


def header_tokens(value: str) -> set[str]:
    """Split a comma-separated header value into lower-case tokens."""
    return {token.strip().lower() for token in value.split(",")}
