"""An independent server of the draft, for testing the client against something that is
not our own core: written from docs/PROTOCOL.md's wire format with nothing but asyncio,
hashlib and struct.

It echoes every message, and understands a few text commands::

    fragments:TEXT   replies TEXT in three fragments, with a ping between the first two
    big:N            replies a text message of N 'x' characters
    binary:HEX       replies a binary message holding those bytes
    close:BODY       starts the closing handshake with that body

Paths change the handshake: /forbidden answers 403, /bad-hello sends a wrong digest,
/silent never answers. Run it by hand with ``python tests/client/draft_server.py --port N``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import os
import ssl
import struct

CONTINUATION, CLOSE, PING, PONG, TEXT, BINARY, HELLO = 0, 1, 2, 3, 4, 5, 15


def md5(*parts: bytes) -> bytes:
    return hashlib.md5(b"".join(parts)).digest()


def frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    head = (0x80 if fin else 0) | opcode
    if len(payload) < 126:
        return bytes([head, len(payload)]) + payload
    if len(payload) < 1 << 16:
        return bytes([head, 126]) + struct.pack(">H", len(payload)) + payload
    return bytes([head, 127]) + struct.pack(">Q", len(payload)) + payload


async def read_frame(reader: asyncio.StreamReader) -> tuple[bool, int, bytes]:
    first, second = await reader.readexactly(2)
    length = second & 0x7F
    if length == 126:
        (length,) = struct.unpack(">H", await reader.readexactly(2))
    elif length == 127:
        (length,) = struct.unpack(">Q", await reader.readexactly(8))
    return bool(first & 0x80), first & 0x0F, await reader.readexactly(length)


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        await converse(reader, writer)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def converse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    if await accept(reader, writer) is not None:
        await echo(reader, writer)


async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> str | None:
    """Run the opening handshake; return the request's path once open, None if it failed."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    request_line, *header_lines = head.split("\r\n")[:-2]
    path = request_line.split(" ")[1]
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if path == "/silent":
        await reader.read()
        return None
    if path == "/forbidden":
        body = b"origin not allowed here\n"
        writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 24\r\n\r\n" + body)
        return None
    client_nonce = bytes.fromhex(headers["sec-websocket-nonce"])
    server_nonce = os.urandom(8)
    scheme = "wss" if writer.get_extra_info("sslcontext") else "ws"
    response = [
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: WebSocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Origin: {headers['origin']}",
        f"Sec-WebSocket-Location: {scheme}://{headers['host']}{path}",
    ]
    if "sec-websocket-protocol" in headers:
        response.append(f"Sec-WebSocket-Protocol: {headers['sec-websocket-protocol']}")
    digest = md5(client_nonce, b"WebSocket", server_nonce)
    if path == "/bad-hello":
        digest = bytes(16)
    hello = b"\x8f\x18" + server_nonce + digest
    writer.write(("\r\n".join(response) + "\r\n\r\n").encode() + hello)
    if await reader.readexactly(18) != b"\x8f\x10" + md5(server_nonce, b"WebSocket", client_nonce):
        return None
    return path


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    message_opcode, parts, closing = 0, [], False
    while True:
        fin, opcode, payload = await read_frame(reader)
        if opcode == PING:
            writer.write(frame(PONG, payload))
        elif opcode == CLOSE:
            if not closing:
                writer.write(frame(CLOSE, payload))
                await writer.drain()
            return
        elif opcode in (TEXT, BINARY, CONTINUATION):
            message_opcode = opcode or message_opcode
            parts.append(payload)
            if fin:
                closing = reply(writer, message_opcode, b"".join(parts)) or closing
                parts = []
        await writer.drain()


def reply(writer: asyncio.StreamWriter, opcode: int, data: bytes) -> bool:
    """Answer one message; return True if the answer starts the closing handshake."""
    if opcode == BINARY:
        writer.write(frame(BINARY, data))
        return False
    command, _, argument = data.decode().partition(":")
    if command == "fragments":
        text = argument.encode()
        third = max(len(text) // 3, 1)
        writer.write(frame(TEXT, text[:third], fin=False))
        writer.write(frame(PING, b"between fragments"))
        writer.write(frame(CONTINUATION, text[third : 2 * third], fin=False))
        writer.write(frame(CONTINUATION, text[2 * third :]))
    elif command == "big":
        writer.write(frame(TEXT, b"x" * int(argument)))
    elif command == "binary":
        writer.write(frame(BINARY, bytes.fromhex(argument)))
    elif command == "close":
        writer.write(frame(CLOSE, argument.encode()))
        return True
    else:
        writer.write(frame(TEXT, data))
    return False


async def start(port: int = 0, ssl_context: ssl.SSLContext | None = None) -> asyncio.Server:
    return await asyncio.start_server(handle, "127.0.0.1", port, ssl=ssl_context)


async def serve_forever(port: int, certfile: str | None) -> None:
    context = None
    if certfile is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(certfile)
    server = await start(port, context)
    print(f"listening on {server.sockets[0].getsockname()[1]}", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--certfile", help="PEM with the certificate and key, to serve wss")
    options = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_forever(options.port, options.certfile))
