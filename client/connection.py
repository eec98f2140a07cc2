"""An asyncio client for the draft: ``async with connect(url) as ws: ...``.

This module is the I/O half of the client. It moves bytes between an asyncio stream and a
:class:`wsdraft.ClientProtocol` and turns the core's events into awaitable results; every
protocol decision is the core's.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import ssl
from collections.abc import AsyncIterator, Generator, Sequence
from types import TracebackType
from typing import Any

from wsdraft import (
    BinaryMessage,
    ClientProtocol,
    Closed,
    Event,
    Limits,
    Opened,
    Ping,
    Pong,
    Request,
    State,
    TextMessage,
    parse_uri,
)

from .exceptions import ConnectionClosed
from .network import ProxySetting, open_stream, proxy_for

__all__ = ["Connection", "connect"]

_READ_SIZE = 2**16
Message = str | bytes


class Connection:
    """An open connection. Get one from :class:`connect`.

    Messages are buffered up to ``max_queue``; then the connection stops reading from the
    network until :meth:`recv` catches up, so a slow reader slows the sender down instead
    of growing memory.
    """

    def __init__(
        self,
        protocol: ClientProtocol,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        max_queue: int,
    ) -> None:
        self.protocol = protocol
        self._reader = reader
        self._writer = writer
        self._max_queue = max_queue
        loop = asyncio.get_running_loop()
        self._opened: asyncio.Future[None] = loop.create_future()
        self._closed: asyncio.Future[Closed] = loop.create_future()
        # Received messages, then None once the connection is closed.
        self._messages: asyncio.Queue[Message | None] = asyncio.Queue()
        self._drained = asyncio.Event()
        self._paused = False
        self._pings: dict[bytes, asyncio.Future[None]] = {}
        self._write()
        self._reading = asyncio.create_task(self._read())

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the server selected, if any."""
        return self.protocol.subprotocol

    @property
    def reading_paused(self) -> bool:
        """True while reading from the network waits for :meth:`recv`, ``max_queue``
        messages being buffered."""
        return self._paused

    async def send(self, message: Message) -> None:
        """Send a text (``str``) or binary (``bytes``) message.

        Raises:
            ConnectionClosed: the connection is closed.
        """
        self._raise_if_closed()
        if isinstance(message, str):
            self.protocol.send_text(message)
        else:
            self.protocol.send_binary(message)
        self._write()
        with contextlib.suppress(ConnectionError):
            await self._writer.drain()  # The reader reports the lost connection.

    async def recv(self) -> Message:
        """Return the next message: ``str`` for text, ``bytes`` for binary.

        Raises:
            ConnectionClosed: the connection is closed and every message was read.
        """
        message = await self._messages.get()
        if message is None:
            self._messages.put_nowait(None)  # for the next caller
            raise ConnectionClosed(self._closed.result())
        self._drained.set()
        return message

    async def __aiter__(self) -> AsyncIterator[Message]:
        """Yield messages until the connection closes; raise if it failed."""
        try:
            while True:
                yield await self.recv()
        except ConnectionClosed as exc:
            if not exc.clean:
                raise

    async def ping(self, data: bytes | None = None) -> float:
        """Send a ping and wait for its pong; return the round trip in seconds.

        Args:
            data: the ping's payload, at most 125 bytes; 4 random bytes by default.

        Raises:
            ConnectionClosed: the connection closed before the pong came.
        """
        self._raise_if_closed()
        data = secrets.token_bytes(4) if data is None else data
        loop = asyncio.get_running_loop()
        pong = self._pings[data] = loop.create_future()
        self.protocol.send_ping(data)
        self._write()
        start = loop.time()
        await self._until(pong)
        return loop.time() - start

    async def close(self, body: bytes = b"") -> Closed:
        """Close the connection and return how it ended.

        It sends a Close carrying ``body`` unless the connection already ended, waits up to
        ``close_timeout`` for the closing handshake, then drops the connection.
        """
        if self.protocol.state is State.OPEN:
            self.protocol.send_close(body)
            self._write()
            self._drained.set()  # Stop holding back the reader: the echo must get through.
        try:
            async with asyncio.timeout(self.protocol.limits.close_timeout):
                await asyncio.shield(self._reading)
        except TimeoutError:
            self.abort()
            await self._reading
        return self._closed.result()

    async def wait_closed(self) -> Closed:
        """Wait until the connection ends, and return how it ended."""
        return await asyncio.shield(self._closed)

    def abort(self) -> None:
        """Drop the TCP connection at once, without a closing handshake."""
        self._writer.transport.abort()

    async def _wait_open(self) -> None:
        """Wait for the HELLO exchange; raise the core's error if the handshake failed."""
        await self._until(self._opened)

    async def _until(self, future: asyncio.Future[None]) -> None:
        """Wait for ``future``; raise the reason if the connection ends first."""
        await asyncio.wait((future, self._closed), return_when=asyncio.FIRST_COMPLETED)
        if future.done():
            return
        closed = self._closed.result()
        if not self._opened.done() and closed.error is not None:
            raise closed.error
        raise ConnectionClosed(closed)

    def _raise_if_closed(self) -> None:
        if self._closed.done():
            raise ConnectionClosed(self._closed.result())

    def _write(self) -> None:
        for data in self.protocol.data_to_send():
            if data:
                self._writer.write(data)
            else:
                self._writer.close()

    async def _read(self) -> None:
        try:
            await self._read_until_closed()
        finally:
            # Cancelled, as every task is when the program ends on Ctrl-C, the reader still
            # ends the connection, or whoever waits for it (wait_closed, recv) waits for ever.
            if not self._closed.done():
                self.protocol.receive_eof()
                for event in self.protocol.events_received():
                    self._handle(event)

    async def _read_until_closed(self) -> None:
        protocol = self.protocol
        while protocol.state is not State.CLOSED:
            while self._messages.qsize() >= self._max_queue and protocol.state is State.OPEN:
                self._paused = True
                self._drained.clear()
                await self._drained.wait()
            self._paused = False
            try:
                data = await self._reader.read(_READ_SIZE)
            except OSError:
                data = b""
            if data:
                protocol.receive_data(data)
            else:
                protocol.receive_eof()
            self._write()
            for event in protocol.events_received():
                self._handle(event)
        await self._close_transport()

    def _handle(self, event: Event) -> None:
        match event:
            case Opened():
                self._opened.set_result(None)
            case TextMessage(data) | BinaryMessage(data):
                self._messages.put_nowait(data)
            case Pong(data):
                pong = self._pings.pop(data, None)
                if pong is not None:
                    pong.set_result(None)
            case Closed():
                self._closed.set_result(event)
                self._messages.put_nowait(None)
            case Ping() | Request():
                pass  # The core answered the ping; a client never receives a request.

    async def _close_transport(self) -> None:
        # After a clean close the server closes TCP first; give it close_timeout to do so.
        try:
            if not self._writer.is_closing():
                with contextlib.suppress(TimeoutError, OSError):
                    async with asyncio.timeout(self.protocol.limits.close_timeout):
                        while await self._reader.read(_READ_SIZE):
                            pass
        finally:  # even if cancelled meanwhile, as when the program ends after wait_closed
            self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()


class connect:
    """Open a connection: ``async with connect(url) as ws`` or ``ws = await connect(url)``.

    Args:
        url: a ``ws://`` or ``wss://`` URL.
        origin: the ``Origin`` header; the URL's http(s) origin by default.
        subprotocol: the subprotocol to ask for.
        proxy: a proxy URL (``http://host:port`` for HTTP CONNECT, or ``socks5://``); True
            (the default) reads ``HTTP_PROXY``, ``HTTPS_PROXY`` and ``NO_PROXY``; None
            connects directly.
        ssl: the TLS context for ``wss://``; see :func:`client.network.make_ssl_context`.
        limits: sizes and timeouts; ``handshake_timeout`` bounds everything up to the
            open connection (TCP, proxy, TLS, HTTP and HELLOs).
        max_queue: received messages buffered before reading pauses.
        headers: more request headers, for example ``[("Authorization", "Bearer ...")]``.

    Raises:
        InvalidURI: ``url`` is not a WebSocket URL.
        HandshakeRejected: the server answered with an HTTP error; it has the status and
            the server's reason.
        InvalidResponse, InvalidHello: the server does not speak the draft correctly.
        TimeoutError: the connection did not open within ``handshake_timeout``.
        OSError: the server or proxy cannot be reached, or TLS failed.
    """

    def __init__(
        self,
        url: str,
        *,
        origin: str | None = None,
        subprotocol: str | None = None,
        proxy: ProxySetting = True,
        ssl: ssl.SSLContext | None = None,
        limits: Limits | None = None,
        max_queue: int = 16,
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.url = url  # as given, for messages: uri.location is normalised
        self.uri = parse_uri(url)
        self.headers = tuple(headers)
        self.origin = origin
        self.subprotocol = subprotocol
        self.proxy = proxy_for(self.uri, proxy)
        self.ssl = ssl
        self.limits = limits or Limits()
        self.max_queue = max_queue
        self._connection: Connection | None = None

    def __await__(self) -> Generator[Any, None, Connection]:
        return self._open().__await__()

    async def __aenter__(self) -> Connection:
        self._connection = await self._open()
        return self._connection

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._connection is not None
        await self._connection.close()

    async def _open(self) -> Connection:
        protocol = ClientProtocol(
            self.uri,
            origin=self.origin,
            subprotocol=self.subprotocol,
            limits=self.limits,
            headers=self.headers,
        )
        timeout = self.limits.handshake_timeout
        connection = None
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await open_stream(self.uri, proxy=self.proxy, ssl_context=self.ssl)
                connection = Connection(protocol, reader, writer, max_queue=self.max_queue)
                await connection._wait_open()
        except TimeoutError:
            msg = f"timed out after {timeout:g} s opening {self.url}"
            raise TimeoutError(msg) from None
        finally:
            if connection is not None and protocol.state is not State.OPEN:
                connection.abort()
                await connection.wait_closed()
        return connection
