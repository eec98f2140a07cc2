"""An independent client of the draft, for testing the gateway against something that is not
our own core: written from docs/PROTOCOL.md's wire format with asyncio streams, hashlib and
struct, and no wsdraft (tests/client/draft_server.py is its counterpart on the server side).

::

    async with await DraftClient.connect(host, port, "/echo") as client:
        await client.send(TEXT, b"hello")
        assert await client.recv_message() == (TEXT, b"hello")
        assert await client.close(b"bye") == b"bye"

Tests that break the handshake on purpose use the pieces: :func:`opening_request` builds any
request, :func:`http_exchange` sends raw bytes and returns the HTTP response,
:meth:`DraftClient.open` stops before the client HELLO, :func:`frame` encodes any frame,
reserved bits and opcodes included, and :func:`connect_socket` leaves a handshake done on a
raw socket that the test reads only if it wants to.

Every wait is bounded by :data:`tests.waiting.HANG`, and says what it waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import socket
import struct
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import TracebackType

from tests.waiting import within

CONTINUATION, CLOSE, PING, PONG, TEXT, BINARY, HELLO = 0, 1, 2, 3, 4, 5, 15
#: The Origin sent unless a test says otherwise.
ORIGIN = "http://localhost"

SERVER_HELLO_SIZE = 2 + 8 + 16  # 8F 18 | server nonce | digest
_HEAD_END = b"\r\n\r\n"


class ProtocolViolation(Exception):
    """The server broke the draft."""


def md5(*parts: bytes) -> bytes:
    return hashlib.md5(b"".join(parts)).digest()


def client_hello(client_nonce: bytes, server_nonce: bytes) -> bytes:
    """The client HELLO: ``8F 10 | MD5(server nonce ‖ "WebSocket" ‖ client nonce)``."""
    return b"\x8f\x10" + md5(server_nonce, b"WebSocket", client_nonce)


def check_server_hello(hello: bytes, client_nonce: bytes) -> bytes:
    """Verify the server HELLO; return the server nonce."""
    if hello[:2] != b"\x8f\x18" or len(hello) != SERVER_HELLO_SIZE:
        msg = f"not a server HELLO: {hello.hex(' ')}"
        raise ProtocolViolation(msg)
    server_nonce, digest = hello[2:10], hello[10:]
    if digest != md5(client_nonce, b"WebSocket", server_nonce):
        raise ProtocolViolation("wrong digest in the server HELLO")
    return server_nonce


def frame(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0) -> bytes:
    """Encode a frame, with the shortest length.

    Args:
        rsv: the reserved bits as a 4-bit number RSV1 RSV2 RSV3 RSV4 (0b1000 is RSV1); they
            must be 0 in a valid frame.
    """
    head = (0x80 if fin else 0) | (rsv >> 1) << 4 | opcode
    rsv4 = 0x80 if rsv & 1 else 0
    if len(payload) < 126:
        return bytes([head, rsv4 | len(payload)]) + payload
    if len(payload) < 1 << 16:
        return bytes([head, rsv4 | 126]) + struct.pack(">H", len(payload)) + payload
    return bytes([head, rsv4 | 127]) + struct.pack(">Q", len(payload)) + payload


def opening_request(
    resource: str,
    host: str,
    nonce: bytes,
    *,
    method: str = "GET",
    headers: Mapping[str, str | None] | None = None,
) -> bytes:
    """Build an opening request, headers in the draft example's order.

    Args:
        headers: headers to change; a value of None leaves that header out.
    """
    fields: dict[str, str | None] = {
        "Host": host,
        "Connection": "Upgrade",
        "Sec-WebSocket-Nonce": nonce.hex().upper(),
        "Upgrade": "WebSocket",
        "Origin": ORIGIN,
        "Sec-WebSocket-Draft": "3",
    }
    fields.update(headers or {})
    lines = [f"{method} {resource} HTTP/1.1"]
    lines += [f"{name}: {value}" for name, value in fields.items() if value is not None]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@dataclass(frozen=True)
class Response:
    """An HTTP response: its status line, its headers (names lower-cased) and its body."""

    status: int
    reason: str
    headers: dict[str, str]
    body: bytes = b""


def parse_head(head: bytes) -> Response:
    """Parse a response head, up to and including the blank line."""
    status_line, *lines = head.decode("latin-1").split("\r\n")[:-2]
    version, status, reason = status_line.split(" ", 2)
    if version != "HTTP/1.1":
        msg = f"not an HTTP/1.1 response: {status_line!r}"
        raise ProtocolViolation(msg)
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Response(int(status), reason, headers)


async def http_exchange(host: str, port: int, data: bytes) -> Response:
    """Send ``data`` on a new connection; return the response, with the body read to EOF.

    Reading to EOF also checks that the server closes the connection after answering.
    """

    async def exchange() -> Response:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(data)
            response = parse_head(await reader.readuntil(_HEAD_END))
            return replace(response, body=await reader.read())
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    return await within(exchange(), "an HTTP response and the server's EOF")


@dataclass(frozen=True)
class Frame:
    fin: bool
    opcode: int
    payload: bytes


class DraftClient:
    """A connection after the opening handshake; get one from :meth:`connect` or :meth:`open`.

    Attributes:
        response: the server's 101 response.
        client_nonce, server_nonce: the nonces of the HELLO exchange.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        response: Response,
        client_nonce: bytes,
        server_nonce: bytes,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.response = response
        self.client_nonce = client_nonce
        self.server_nonce = server_nonce

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        resource: str = "/",
        *,
        headers: Mapping[str, str | None] | None = None,
    ) -> DraftClient:
        """Open a connection and complete the handshake, both HELLOs included."""
        client = await cls.open(host, port, resource, headers=headers)
        await client.send_raw(client_hello(client.client_nonce, client.server_nonce))
        return client

    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        resource: str = "/",
        *,
        headers: Mapping[str, str | None] | None = None,
    ) -> DraftClient:
        """Send the request, check the 101 and the server HELLO, and send nothing more."""
        nonce = os.urandom(8)
        request = opening_request(resource, f"{host}:{port}", nonce, headers=headers)

        async def handshake() -> DraftClient:
            reader, writer = await asyncio.open_connection(host, port)
            try:
                writer.write(request)
                response = parse_head(await reader.readuntil(_HEAD_END))
                origin = (headers or {}).get("Origin", ORIGIN) or ""
                check_switch(response, f"ws://{host}:{port}{resource}", origin)
                server_nonce = check_server_hello(
                    await reader.readexactly(SERVER_HELLO_SIZE), nonce
                )
            except BaseException:
                writer.close()
                raise
            return cls(reader, writer, response, nonce, server_nonce)

        return await within(handshake(), f"the 101 and the server HELLO for {resource}")

    async def __aenter__(self) -> DraftClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def send_raw(self, data: bytes) -> None:
        """Write bytes as they are."""
        self.writer.write(data)
        await within(self.writer.drain(), "the server to read what the client sent")

    async def send(self, opcode: int, payload: bytes = b"", *, fin: bool = True) -> None:
        """Send one frame."""
        await self.send_raw(frame(opcode, payload, fin=fin))

    async def recv_frame(self) -> Frame:
        """Read the next frame; the server never sets reserved bits."""
        return await within(self._read_frame(), "a frame from the server")

    async def _read_frame(self) -> Frame:
        first, second = await self.reader.readexactly(2)
        if first & 0x70 or second & 0x80:
            msg = f"reserved bits set in {bytes([first, second]).hex(' ')}"
            raise ProtocolViolation(msg)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack(">H", await self.reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack(">Q", await self.reader.readexactly(8))
        payload = await self.reader.readexactly(length)
        return Frame(bool(first & 0x80), first & 0x0F, payload)

    async def recv_message(self) -> tuple[int, bytes]:
        """Read the next message, reassembled: its opcode (TEXT or BINARY) and its payload."""
        first = await self.recv_frame()
        if first.opcode not in (TEXT, BINARY):
            msg = f"expected a message, got opcode 0x{first.opcode:X}: {first.payload!r}"
            raise ProtocolViolation(msg)
        parts = [first.payload]
        fin = first.fin
        while not fin:
            fragment = await self.recv_frame()
            if fragment.opcode != CONTINUATION:
                msg = f"expected a continuation, got opcode 0x{fragment.opcode:X}"
                raise ProtocolViolation(msg)
            parts.append(fragment.payload)
            fin = fragment.fin
        return first.opcode, b"".join(parts)

    async def recv_text(self) -> str:
        """Read the next message, which must be text."""
        opcode, payload = await self.recv_message()
        if opcode != TEXT:
            raise ProtocolViolation("expected a text message")
        return payload.decode()

    async def read_to_eof(self) -> bytes:
        """Read everything until the server closes the connection; return it."""
        return await within(self.reader.read(), "the server to close the connection")

    async def close(self, body: bytes = b"") -> bytes:
        """Run the closing handshake: send a Close, read the echo, then the server's EOF.

        Returns:
            the body of the server's Close.
        """
        await self.send(CLOSE, body)
        echo = await self.recv_frame()
        if echo.opcode != CLOSE:
            msg = f"expected a Close, got opcode 0x{echo.opcode:X}"
            raise ProtocolViolation(msg)
        if await self.read_to_eof():
            raise ProtocolViolation("data after the Close")
        await self.aclose()
        return echo.payload

    async def aclose(self) -> None:
        """Close the TCP connection, without a closing handshake if none took place."""
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


def check_switch(response: Response, location: str, origin: str) -> None:
    """Check a 101 response to a request for ``location`` from ``origin``."""
    if response.status != 101:
        msg = f"expected 101, got {response.status} {response.reason}"
        raise ProtocolViolation(msg)
    expected = {
        "upgrade": "WebSocket",
        "connection": "Upgrade",
        "sec-websocket-origin": origin,
        "sec-websocket-location": location,
    }
    for name, value in expected.items():
        if response.headers.get(name, "").lower() != value.lower():
            msg = f"{name}: expected {value!r}, got {response.headers.get(name)!r}"
            raise ProtocolViolation(msg)


@dataclass
class RawConnection:
    """A handshake done on a raw socket that nothing reads: see :func:`connect_socket`."""

    sock: socket.socket
    response: Response
    client_nonce: bytes
    server_nonce: bytes

    async def start_reading(self) -> DraftClient:
        """Read and write the socket with asyncio streams from now on, as a DraftClient."""
        reader, writer = await asyncio.open_connection(sock=self.sock)
        return DraftClient(reader, writer, self.response, self.client_nonce, self.server_nonce)

    def close(self) -> None:
        """Close the socket, unless :meth:`start_reading` handed it over."""
        self.sock.close()


async def connect_socket(
    host: str, port: int, resource: str, *, receive_buffer: int
) -> RawConnection:
    """Complete a handshake on a raw non-blocking socket, and return it.

    Nothing reads from the socket afterwards unless the caller does: a client that never
    reads, until :meth:`RawConnection.start_reading`. ``receive_buffer`` sets SO_RCVBUF
    before connecting, so that the kernel's buffer and the TCP window stay small.
    """
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.setblocking(False)
    nonce = os.urandom(8)
    request = opening_request(resource, f"{host}:{port}", nonce)

    async def handshake() -> bytes:
        await loop.sock_connect(sock, (host, port))
        await loop.sock_sendall(sock, request)
        received = b""
        while _HEAD_END not in received or (
            len(received) < received.index(_HEAD_END) + len(_HEAD_END) + SERVER_HELLO_SIZE
        ):
            data = await loop.sock_recv(sock, 4096)
            if not data:
                raise ProtocolViolation("the server closed during the handshake")
            received += data
        return received

    try:
        received = await within(handshake(), f"the 101 and the server HELLO for {resource}")
        end = received.index(_HEAD_END) + len(_HEAD_END)
        response = parse_head(received[:end])
        check_switch(response, f"ws://{host}:{port}{resource}", ORIGIN)
        server_nonce = check_server_hello(received[end : end + SERVER_HELLO_SIZE], nonce)
        await loop.sock_sendall(sock, client_hello(nonce, server_nonce))
    except BaseException:
        sock.close()
        raise
    return RawConnection(sock, response, nonce, server_nonce)
