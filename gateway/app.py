"""The gateway's FastAPI application: WebSocket endpoints, health, readiness, metrics, quotes."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Query, Response
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import RedisError
from starlette.routing import WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from bus import cancel_and_wait, redis_client
from wsdraft import Limits

from .addresses import AddressLimits
from .connection import OUTBOX, RECEIVED_AT, SETTINGS, Connection, ConnectionSettings
from .docs import serve_docs_offline
from .hub import Hub
from .liveness import keep_alive
from .quotes import UNAVAILABLE, Quotes, Unavailable, parse_symbols, read_quotes
from .settings import Settings
from .tokens import Authentication, Identity, TokenRefused, without_token

__all__ = ["create_app"]

logger = logging.getLogger("wslab.gateway")

#: The web chat and stock ticker page and its files (docs/BROWSER.md).
STATIC = Path(__file__).parent / "static"


def create_app(settings: Settings) -> FastAPI:
    """Build the gateway for ``settings``; run it with uvicorn and ``ws=Connection``
    (``python -m gateway`` does)."""
    limits = Limits(
        max_header_size=settings.max_header_size,
        max_message_size=settings.max_message_size,
        handshake_timeout=settings.request_timeout,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        # Named, so that CLIENT LIST tells the gateways' connections from the services';
        # concurrent requests past the pool's size wait for a connection, not fail.
        client = redis_client(
            settings.redis_url, name="wslab-gateway", max_connections=settings.redis_connections
        )
        hub = Hub(
            client,
            settings.gateway_id,
            set(settings.route_table.values()),
            ready_timeout=settings.ready_timeout,
            max_backlog=settings.max_backlog,
        )
        await hub.start()
        loop = type(asyncio.get_running_loop())
        logger.info("= gateway %s started on %s.%s", hub.gateway_id, loop.__module__, loop.__name__)
        app.state.hub = hub
        app.state.redis = client
        connections = ConnectionSettings(
            limits=limits,
            origins=settings.origin_policy,
            max_connections=settings.max_connections,
            slow_write_buffer=settings.slow_write_buffer,
            max_write_buffer=settings.max_write_buffer,
            overloaded=lambda: hub.overloaded,
            ping_interval=settings.ping_interval,
            ping_timeout=settings.ping_timeout,
        )
        pinging = asyncio.create_task(
            keep_alive(
                lambda: (c for c in connections.live if isinstance(c, Connection)),
                connections.clock,
                every=min(settings.ping_interval, settings.ping_timeout) / 4,
            )
        )
        try:
            yield {SETTINGS: connections}
        finally:
            await cancel_and_wait({pinging})
            await hub.stop()
            await client.aclose()

    app = FastAPI(
        title="wslab gateway",
        summary="Terminates WebSocket (RFC 6455 and the 2010 GET+Upgrade+HELLO draft) and"
        " relays over Redis.",
        lifespan=lifespan,
        docs_url=None,  # served by serve_docs_offline, without a CDN
        redoc_url=None,
    )
    serve_docs_offline(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        """The web chat and the stock ticker."""
        return FileResponse(STATIC / "index.html")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Alive: the process answers HTTP."""
        return {"status": "ok"}

    @app.get("/readyz", responses={503: {"description": "Redis pub/sub is not working"}})
    async def readyz() -> JSONResponse:
        """Ready: a canary went through Redis pub/sub and back within the deadline."""
        hub: Hub = app.state.hub
        if await hub.ready():
            return JSONResponse({"status": "ready"})
        return JSONResponse(
            {"status": "not ready", "reason": "no round trip through Redis pub/sub"},
            status_code=503,
        )

    @app.get("/metrics")
    async def metrics() -> Response:
        """Prometheus metrics: connections, handshakes, messages, bytes, Redis round trip."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get(
        "/api/quotes",
        summary="Latest stock quotes",
        response_description="The latest quotes",
        responses={503: {"model": Unavailable, "description": "Redis is down or too slow"}},
    )
    async def quotes(
        # A default rather than Annotated: the description depends on the settings, and
        # annotations are evaluated at module level.
        symbols: str | None = Query(
            None,
            description="Comma-separated ticker symbols, in any case; duplicates count once."
            f" At most {settings.max_quote_symbols} (422 beyond). Without it: every symbol"
            " quoted.",
            openapi_examples={"two symbols": {"value": "MSFT,AAPL"}},
        ),
    ) -> Quotes:
        """The latest quote of each symbol asked, as the stock service last published it
        on `quotes.<SYMBOL>`, in the order asked; without `symbols`, of every symbol, by
        symbol. A symbol without a quote (not quoted, or not yet) is listed in `unknown`.
        """
        asked = None if symbols is None else parse_symbols(symbols, settings.max_quote_symbols)
        try:
            async with asyncio.timeout(settings.quotes_timeout):
                return await read_quotes(app.state.redis, asked)
        except (TimeoutError, RedisError) as exc:
            logger.warning("! cannot read the quotes: %s", exc or "timed out")
            raise HTTPException(503, UNAVAILABLE) from None

    max_sizes, authentication = settings.route_max_sizes, settings.authentication
    for path, service in settings.route_table.items():
        relay = Relay(service, max_sizes[path], authentication)
        app.router.routes.append(WebSocketRoute(path, relay, name=service))
    if settings.echo_path:
        echo = Echo(authentication)
        app.router.routes.append(WebSocketRoute(settings.echo_path, echo, name="echo"))
    app.add_middleware(PerAddress, limits=settings.address_limits)
    return app


class PerAddress:
    """ASGI middleware: each WebSocket connection counts against its client address's
    limits (:class:`gateway.addresses.AddressLimits`) while it lasts; one over them is
    refused with ``429`` and the reason. The address is the scope's client, which
    uvicorn takes from ``X-Forwarded-For`` only for a trusted proxy."""

    def __init__(
        self, app: ASGIApp, limits: AddressLimits, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.app = app
        self.limits = limits
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        address = scope["client"][0] if scope.get("client") else "unknown"
        refusal = self.limits.admit(address, self.clock())
        if refusal is not None:
            await receive()  # websocket.connect
            await deny(send, 429, refusal, [(b"retry-after", b"1")])
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.limits.release(address)


class Relay:
    """The ASGI application of one route: relays a client's messages to ``service``; one
    longer than ``max_size`` bytes is refused with ``too_long`` before anything is published.
    ``authentication`` says who may connect: a refused token is answered with its status
    and reason (docs/SECURITY.md, "Tokens"), and a verified identity travels with every
    envelope. The token itself never leaves the gateway.

    A plain ASGI application rather than a FastAPI endpoint: a connection lives as long as
    its client, and FastAPI's endpoint machinery (its exit stacks, the WebSocket object)
    would stay in memory with each (docs/PERFORMANCE.md, "Idle connections").
    """

    def __init__(
        self, service: str, max_size: int, authentication: Authentication | None = None
    ) -> None:
        self.service = service
        self.max_size = max_size
        self.authentication = authentication or Authentication()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hub: Hub = scope["app"].state.hub
        try:
            identity = await accept(self.authentication, scope, receive, send)
        except TokenRefused:
            return
        outbox = scope["extensions"][OUTBOX]
        query = without_token(scope["query_string"].decode("latin-1"))
        link = await hub.open(self.service, scope["path"], query, outbox, identity)
        try:
            while (message := await receive())["type"] != "websocket.disconnect":
                text: str | None = message.get("text")
                data: str | bytes
                if text is None:
                    data = message["bytes"]
                    size = len(data)
                else:
                    # n characters are n to 4n bytes: encode only when they may be too many.
                    data = text
                    size = len(text) if 4 * len(text) <= self.max_size else len(text.encode())
                if size > self.max_size:
                    problem = f"a message here is at most {self.max_size} bytes, not {size}"
                    hub.refuse(link, "too_long", problem)
                else:
                    await hub.forward(link, data, message[RECEIVED_AT])
        finally:
            await hub.close(link)


class Echo:
    """The ASGI application of the echo path (``WSLAB_ECHO_PATH``): sends each message
    back as it came, text as text and binary as binary, from the gateway itself; no
    service, no Redis. ``authentication`` says who may connect, as on a route.

    Everything else is a route's: the connection layer checks the origin, the size of
    each message (1009 beyond ``WSLAB_MAX_MESSAGE_SIZE``), frames and UTF-8 and pings the
    client, and :class:`PerAddress` counts the connection. A send waits while the client
    is slow, so a client that does not read its echoes is no longer read either, and its
    unanswered ping closes it.
    """

    def __init__(self, authentication: Authentication | None = None) -> None:
        self.authentication = authentication or Authentication()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await accept(self.authentication, scope, receive, send)
        except TokenRefused:
            return
        while (message := await receive())["type"] != "websocket.disconnect":
            text: str | None = message.get("text")
            if text is None:
                await send({"type": "websocket.send", "bytes": message["bytes"]})
            else:
                await send({"type": "websocket.send", "text": text})


async def accept(
    authentication: Authentication, scope: Scope, receive: Receive, send: Send
) -> Identity | None:
    """Take the client's ``websocket.connect`` and accept it: who its token says it is
    (None: anonymous).

    Raises:
        TokenRefused: its token is refused; the refusal, its status and reason, is sent.
    """
    await receive()  # websocket.connect
    query = scope["query_string"].decode("latin-1")
    try:
        identity = authentication.identify(scope["headers"], query, time.time())
    except TokenRefused as refused:
        await deny(send, refused.status, refused.reason, [(b"www-authenticate", b"Bearer")])
        raise
    await send({"type": "websocket.accept"})
    return identity


async def deny(
    send: Send, status: int, reason: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """Refuse a WebSocket handshake with ``status`` and ``reason`` (ASGI's
    ``websocket.http.response`` extension)."""
    await send(
        {"type": "websocket.http.response.start", "status": status, "headers": headers or []}
    )
    await send({"type": "websocket.http.response.body", "body": reason.encode()})
