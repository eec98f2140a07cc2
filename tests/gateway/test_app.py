"""Tests of gateway.app: the whole gateway, in process, on a real Redis.

Services are played by tests/gateway/service.py's :class:`FakeService`; clients are the
independent draft client.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx
import jwt
import pytest
import redis.asyncio as redis
from prometheus_client import CONTENT_TYPE_LATEST
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bus import QUOTES_KEY, Close, Envelope, Send, Subscribe, topic_channel
from gateway import Settings, create_app
from gateway.connection import Connection
from gateway.hub import Hub
from gateway.outbox import Outbox
from tests.gateway.draft_client import (
    BINARY,
    CLOSE,
    PING,
    TEXT,
    DraftClient,
    Frame,
    connect_socket,
    frame,
    http_exchange,
    opening_request,
)
from tests.gateway.metrics import handshakes, sample
from tests.gateway.server import RunningServer, run_server, shrink_send_buffer
from tests.gateway.service import FakeService, wait_subscribers
from tests.waiting import HANG, until, within
from wsdraft import State

GATEWAY = "gw-app"


def settings(redis_url: str, **changes: Any) -> Settings:
    """The gateway's settings for a test: Redis's answers may take as long as a hang."""
    timeouts = {"ready_timeout": HANG, "quotes_timeout": HANG}
    return Settings(redis_url=redis_url, gateway_id=GATEWAY, **{**timeouts, **changes})


@asynccontextmanager
async def http_client(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=server.url("", scheme="http"), trust_env=False, timeout=HANG
    ) as http:
        yield http


async def wait_ready(server: RunningServer) -> None:
    """Wait for /readyz to answer 200: the hub subscribes just after startup."""

    async with http_client(server) as http:

        async def ready() -> bool:
            return (await http.get("/readyz")).status_code == 200

        await until(ready, "/readyz to answer 200")


@pytest.fixture
async def server(redis_url: str) -> AsyncIterator[RunningServer]:
    """The gateway with its default routes, ready."""
    app = create_app(settings(redis_url))
    async with run_server(app) as server:
        await wait_ready(server)
        yield server


async def connect(server: RunningServer, resource: str) -> DraftClient:
    return await DraftClient.connect(server.host, server.port, resource)


def untimed(envelope: Envelope) -> Envelope:
    """The envelope with its times zeroed, to compare the rest exactly."""
    return replace(envelope, received_at=0, published_at=0)


def expected(**fields: Any) -> Envelope:
    """An envelope from this gateway, times zeroed."""
    return Envelope(gateway=GATEWAY, received_at=0, published_at=0, **fields)


# HTTP endpoints.


async def test_healthz_answers_200(server: RunningServer) -> None:
    async with http_client(server) as http:
        response = await http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_answers_200_once_a_canary_went_through_redis(
    server: RunningServer,
) -> None:
    async with http_client(server) as http:
        response = await http.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


async def test_metrics_lists_the_wslab_metrics(server: RunningServer) -> None:
    async with await connect(server, "/chat") as client:
        await client.recv_text()  # the gateway's answer: no chat service
        await client.close()
    async with http_client(server) as http:
        response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == CONTENT_TYPE_LATEST
    types = {
        "wslab_open_connections": "gauge",
        "wslab_handshakes_total": "counter",
        "wslab_messages_in_total": "counter",
        "wslab_messages_out_total": "counter",
        "wslab_bytes_in_total": "counter",
        "wslab_bytes_out_total": "counter",
        "wslab_undelivered_total": "counter",
        "wslab_slow_closes_total": "counter",
        "wslab_conflated_messages_total": "counter",
        "wslab_redis_round_trip_seconds": "histogram",
    }
    lines = response.text.splitlines()
    for name, kind in types.items():
        assert f"# TYPE {name} {kind}" in lines
    assert any(
        line.startswith('wslab_handshakes_total{outcome="accepted",protocol="draft",reason="ok"} ')
        for line in lines
    )
    assert any(line.startswith('wslab_open_connections{protocol="draft"} ') for line in lines)
    assert any(line.startswith('wslab_undelivered_total{reason="unavailable"} ') for line in lines)


async def test_with_redis_unreachable_readyz_answers_503_and_clients_get_bus_down(
    unreachable_redis_url: str,
) -> None:
    app = create_app(settings(unreachable_redis_url))
    async with run_server(app) as server:
        async with http_client(server) as http:
            response = await http.get("/readyz")
        assert response.status_code == 503
        assert response.json() == {
            "status": "not ready",
            "reason": "no round trip through Redis pub/sub",
        }
        async with await connect(server, "/chat") as client:
            assert json.loads(await client.recv_text()) == {
                "type": "error",
                "code": "bus_down",
                "message": "the message bus is unreachable; try again later",
            }
            await client.close()


# GET /api/quotes


def stored_quote(symbol: str, price: float, seq: int) -> dict[str, Any]:
    """A quote as the stock service keeps it in ``QUOTES_KEY``."""
    return {
        "type": "quote",
        "symbol": symbol,
        "price": price,
        "change": 0.12,
        "change_pct": 0.43,
        "seq": seq,
        "ts": 1732492800.1,
    }


MSFT = stored_quote("MSFT", 27.91, 17)
AAPL = stored_quote("AAPL", 322.56, 16)
IBM = stored_quote("IBM", 146.76, 18)


@pytest.fixture
async def quotes(client: redis.Redis) -> None:
    """The stock service's latest quotes of MSFT, AAPL and IBM, in Redis."""
    stored = {quote["symbol"]: json.dumps(quote) for quote in (MSFT, AAPL, IBM)}
    await client.hset(QUOTES_KEY, mapping=stored)


@pytest.mark.usefixtures("quotes")
async def test_quotes_asked_at_once_past_the_redis_connections_wait_for_one_not_fail(
    redis_url: str,
) -> None:
    # redis-py's own pool refuses a connection past its cap, 100: these got 503s.
    app = create_app(settings(redis_url, redis_connections=3))
    count = 300
    async with run_server(app) as server:
        await wait_ready(server)
        async with httpx.AsyncClient(
            base_url=server.url("", scheme="http"),
            trust_env=False,
            timeout=HANG,
            limits=httpx.Limits(max_connections=count),
        ) as http:
            asked = [http.get("/api/quotes", params={"symbols": "MSFT"}) for _ in range(count)]
            responses = await asyncio.gather(*asked)
    assert [response.status_code for response in responses] == [200] * count
    assert {response.json()["quotes"][0]["symbol"] for response in responses} == {"MSFT"}


@pytest.mark.usefixtures("quotes")
async def test_quotes_answers_the_quotes_of_the_symbols_asked_in_their_order(
    server: RunningServer,
) -> None:
    async with http_client(server) as http:
        response = await http.get("/api/quotes", params={"symbols": "MSFT,AAPL"})
    assert response.status_code == 200
    assert response.json() == {"quotes": [MSFT, AAPL], "unknown": []}


@pytest.mark.usefixtures("quotes")
async def test_quotes_takes_symbols_in_any_case_with_spaces_and_duplicates(
    server: RunningServer,
) -> None:
    async with http_client(server) as http:
        response = await http.get("/api/quotes", params={"symbols": " ibm,msft , IBM,,Msft"})
    assert response.status_code == 200
    assert response.json() == {"quotes": [IBM, MSFT], "unknown": []}


@pytest.mark.usefixtures("quotes")
async def test_quotes_without_symbols_answers_every_quote_by_symbol(
    server: RunningServer,
) -> None:
    async with http_client(server) as http:
        response = await http.get("/api/quotes")
    assert response.status_code == 200
    assert response.json() == {"quotes": [AAPL, IBM, MSFT], "unknown": []}


@pytest.mark.usefixtures("quotes")
async def test_quotes_lists_the_symbols_without_a_quote_as_unknown(server: RunningServer) -> None:
    async with http_client(server) as http:
        response = await http.get("/api/quotes", params={"symbols": "XYZ,MSFT,nope"})
    assert response.status_code == 200
    assert response.json() == {"quotes": [MSFT], "unknown": ["XYZ", "NOPE"]}


@pytest.mark.parametrize("symbols", ["", " , "])
@pytest.mark.usefixtures("quotes")
async def test_quotes_with_no_symbol_in_symbols_answers_none(
    server: RunningServer, symbols: str
) -> None:
    async with http_client(server) as http:
        response = await http.get("/api/quotes", params={"symbols": symbols})
    assert response.status_code == 200
    assert response.json() == {"quotes": [], "unknown": []}


async def test_quotes_before_any_quote_answers_none(server: RunningServer) -> None:
    async with http_client(server) as http:
        every = await http.get("/api/quotes")
        some = await http.get("/api/quotes", params={"symbols": "MSFT"})
    assert every.json() == {"quotes": [], "unknown": []}
    assert some.json() == {"quotes": [], "unknown": ["MSFT"]}


async def test_quotes_refuses_more_symbols_than_the_maximum_with_422(redis_url: str) -> None:
    app = create_app(settings(redis_url, max_quote_symbols=3))
    async with run_server(app) as server, http_client(server) as http:
        ok = await http.get("/api/quotes", params={"symbols": "A,B,C,a,b,c"})
        refused = await http.get("/api/quotes", params={"symbols": "A,B,C,D"})
    assert ok.status_code == 200
    assert refused.status_code == 422
    assert refused.json() == {
        "detail": [
            {
                "type": "too_many_symbols",
                "loc": ["query", "symbols"],
                "msg": "at most 3 symbols at once, not 4",
                "input": "A,B,C,D",
            }
        ]
    }


async def test_an_invalid_stored_quote_is_logged_and_its_symbol_is_unknown(
    server: RunningServer, client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    await client.hset(QUOTES_KEY, mapping={"MSFT": json.dumps(MSFT), "IBM": "27.91"})
    async with http_client(server) as http:
        with caplog.at_level(logging.WARNING, logger="wslab.gateway"):
            response = await http.get("/api/quotes", params={"symbols": "IBM,MSFT"})
    assert response.json() == {"quotes": [MSFT], "unknown": ["IBM"]}
    (record,) = [record for record in caplog.records if record.name == "wslab.gateway"]
    assert record.getMessage().startswith("! ignored the quote of IBM, which is invalid: ")


async def test_quotes_with_redis_unreachable_answers_503(unreachable_redis_url: str) -> None:
    app = create_app(settings(unreachable_redis_url))
    async with run_server(app) as server, http_client(server) as http:
        response = await http.get("/api/quotes", params={"symbols": "MSFT"})
    assert response.status_code == 503
    assert response.json() == {"detail": "the quotes cannot be read: Redis is unreachable"}


async def test_quotes_with_redis_not_answering_answers_503_at_the_timeout() -> None:
    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the gateway gives up
        writer.close()

    async with await asyncio.start_server(never_answer, "127.0.0.1", 0) as silent:
        port = silent.sockets[0].getsockname()[1]
        app = create_app(settings(f"redis://127.0.0.1:{port}/0", quotes_timeout=0.2))
        async with run_server(app) as server, http_client(server) as http:
            response = await http.get("/api/quotes")
    assert response.status_code == 503
    assert response.json() == {"detail": "the quotes cannot be read: Redis is unreachable"}


async def test_the_openapi_page_documents_quotes_and_its_parameter(server: RunningServer) -> None:
    async with http_client(server) as http:
        docs = await http.get("/docs")
        openapi = (await http.get("/openapi.json")).json()
    assert docs.status_code == 200
    operation = openapi["paths"]["/api/quotes"]["get"]
    assert operation["summary"] == "Latest stock quotes"
    assert operation["description"].startswith("The latest quote of each symbol asked")
    (parameter,) = operation["parameters"]
    assert parameter["name"] == "symbols"
    assert parameter["in"] == "query"
    assert parameter["required"] is False
    assert parameter["description"].startswith("Comma-separated ticker symbols")
    assert "At most 100 " in parameter["description"]
    assert parameter["examples"] == {"two symbols": {"value": "MSFT,AAPL"}}
    responses = operation["responses"]
    assert responses["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Quotes"
    }
    assert responses["503"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Unavailable"
    }
    assert "422" in responses
    schemas = openapi["components"]["schemas"]
    assert schemas["Quotes"]["required"] == ["quotes", "unknown"]
    assert list(schemas["Quote"]["properties"]) == list(MSFT)
    assert schemas["Quote"]["required"] == list(MSFT)
    # Every field is described; the OpenAPI page composes an example from theirs.
    example = {
        name: field.get("const") or field["examples"][0]
        for name, field in schemas["Quote"]["properties"].items()
    }
    assert example == MSFT
    assert all(field["description"] for field in schemas["Quote"]["properties"].values())
    assert schemas["Unavailable"]["properties"]["detail"]["examples"] == [
        "the quotes cannot be read: Redis is unreachable"
    ]


# Draft endpoints and the bus.


@pytest.mark.parametrize("path", ["/chat", "/stocks"])
async def test_an_independent_draft_client_completes_the_handshake(
    server: RunningServer, path: str
) -> None:
    async with await connect(server, path) as drafter:
        assert drafter.response.status == 101
        assert drafter.response.headers == {
            "upgrade": "WebSocket",
            "connection": "Upgrade",
            "sec-websocket-origin": "http://localhost",
            "sec-websocket-location": f"ws://{server.host}:{server.port}{path}",
        }
        assert json.loads(await drafter.recv_text())["code"] == "unavailable"
        assert await drafter.close(b"bye") == b"bye"


async def test_a_client_at_chat_without_a_chat_service_gets_unavailable_errors(
    server: RunningServer,
) -> None:
    async with await connect(server, "/chat") as client:
        assert json.loads(await client.recv_text()) == {
            "type": "error",
            "code": "unavailable",
            "message": "the chat service is not running; try again later",
        }
        await client.send(TEXT, b"hello everyone")
        assert json.loads(await client.recv_text()) == {
            "type": "error",
            "code": "unavailable",
            "message": "the chat service is not running; your message was not delivered",
        }
        await client.close()


async def test_a_client_message_reaches_the_service_and_its_send_reaches_the_client(
    server: RunningServer, client: redis.Redis
) -> None:
    async with FakeService(client, "chat") as service:
        async with await connect(server, "/chat?nick=alice") as alice:
            opened = await service.next_envelope()
            assert untimed(opened) == expected(
                kind="open", conn="gw-app.1", seq=0, path="/chat", query="nick=alice"
            )

            await alice.send(TEXT, b"hello everyone")
            message = await service.next_envelope()
            assert untimed(message) == expected(
                kind="message",
                conn="gw-app.1",
                seq=1,
                path="/chat",
                query="nick=alice",
                payload="hello everyone",
            )
            assert message.received_at <= message.published_at

            await alice.send(BINARY, b"\x00\xff")
            message = await service.next_envelope()
            assert untimed(message) == expected(
                kind="message",
                conn="gw-app.1",
                seq=2,
                path="/chat",
                query="nick=alice",
                payload="AP8=",
                binary=True,
            )

            welcome = json.dumps({"type": "welcome", "nick": "alice", "room": "lobby"})
            await service.command(GATEWAY, Send(conn=opened.conn, payload=welcome))
            assert await alice.recv_message() == (TEXT, welcome.encode())
            data = base64.b64encode(b"\x01\x02").decode()
            await service.command(GATEWAY, Send(conn=opened.conn, payload=data, binary=True))
            assert await alice.recv_message() == (BINARY, b"\x01\x02")

            await alice.close()
        closed = await service.next_envelope()
        assert untimed(closed) == expected(
            kind="close", conn="gw-app.1", seq=3, path="/chat", query="nick=alice"
        )


async def test_a_topic_publish_reaches_every_subscribed_client(
    server: RunningServer, client: redis.Redis
) -> None:
    async with FakeService(client, "chat") as service:
        alice = await connect(server, "/chat?nick=alice")
        bob = await connect(server, "/chat?nick=bob")
        for drafter in (alice, bob):
            conn = (await service.next_envelope()).conn
            await service.command(GATEWAY, Subscribe(conn=conn, topic="chat.lobby"))
            # Commands run in order: once this arrives, the subscription is in place.
            await service.command(GATEWAY, Send(conn=conn, payload="subscribed"))
            assert await drafter.recv_text() == "subscribed"
        await wait_subscribers(client, topic_channel("chat.lobby"), 1)

        join = json.dumps({"type": "join", "room": "lobby", "nick": "bob", "seq": 2, "ts": 1.5})
        assert await client.publish(topic_channel("chat.lobby"), join) == 1
        assert await alice.recv_text() == join
        assert await bob.recv_text() == join
        await alice.close()
        await bob.close()
        assert (await service.next_envelope()).kind == "close"
        assert (await service.next_envelope()).kind == "close"
    await wait_subscribers(client, topic_channel("chat.lobby"), 0)


async def test_a_close_command_closes_the_client_with_its_reason(
    server: RunningServer, client: redis.Redis
) -> None:
    async with FakeService(client, "chat") as service:
        drafter = await connect(server, "/chat")
        conn = (await service.next_envelope()).conn
        await service.command(GATEWAY, Close(conn=conn, reason="kicked by the moderator"))
        assert await drafter.recv_frame() == Frame(True, CLOSE, b"kicked by the moderator")
        await drafter.send(CLOSE, b"kicked by the moderator")
        assert await drafter.read_to_eof() == b""
        await drafter.aclose()
        assert (await service.next_envelope()).kind == "close"


async def test_stocks_is_routed_to_the_stocks_service(
    server: RunningServer, client: redis.Redis
) -> None:
    async with FakeService(client, "stocks") as stocks, await connect(server, "/stocks") as drafter:
        opened = await stocks.next_envelope()
        assert untimed(opened) == expected(kind="open", conn="gw-app.1", seq=0, path="/stocks")
        await drafter.send(TEXT, b"MSFT AAPL")
        message = await stocks.next_envelope()
        assert untimed(message) == expected(
            kind="message", conn="gw-app.1", seq=1, path="/stocks", payload="MSFT AAPL"
        )
        await drafter.close()


async def test_a_path_with_no_route_is_refused(server: RunningServer) -> None:
    request = opening_request("/nowhere", f"{server.host}:{server.port}", os.urandom(8))
    response = await http_exchange(server.host, server.port, request)
    assert response.status == 403
    assert response.body == b"the server refused the connection\n"


# The echo path (WSLAB_ECHO_PATH): the gateway's own, without a service.


async def test_the_echo_path_sends_each_draft_message_back_as_it_came(
    server: RunningServer,
) -> None:
    async with await connect(server, "/echo") as drafter:
        for opcode, payload in [
            (TEXT, "héllo".encode()),
            (BINARY, b"\x00\xff\x10"),
            (TEXT, b""),
            (BINARY, bytes(range(256)) * 400),  # 100 KiB
        ]:
            await drafter.send(opcode, payload)
            assert await drafter.recv_message() == (opcode, payload)
        assert await drafter.close(b"bye") == b"bye"


async def test_the_echo_path_sends_each_rfc6455_message_back_as_it_came(
    server: RunningServer,
) -> None:
    async with ws_connect(server.url("/echo"), open_timeout=HANG) as ws:
        for message in ["héllo", b"\x00\xff\x10", "", bytes(range(256)) * 400]:
            await ws.send(message)
            assert await within(ws.recv(), f"the echo of {message[:10]!r}") == message


async def test_the_echo_path_needs_no_service_nor_redis(unreachable_redis_url: str) -> None:
    app = create_app(settings(unreachable_redis_url))
    async with run_server(app) as server, await connect(server, "/echo") as drafter:
        await drafter.send(TEXT, b"hello")
        assert await drafter.recv_message() == (TEXT, b"hello")
        await drafter.close()


@pytest.mark.parametrize(("echo_path", "served"), [("/back", "/back"), ("", None)])
async def test_the_echo_path_is_a_setting_and_empty_turns_it_off(
    redis_url: str, echo_path: str, served: str | None
) -> None:
    app = create_app(settings(redis_url, echo_path=echo_path))
    async with run_server(app) as server:
        host = f"{server.host}:{server.port}"
        response = await http_exchange(
            server.host, server.port, opening_request("/echo", host, os.urandom(8))
        )
        assert (response.status, response.body) == (403, b"the server refused the connection\n")
        if served is not None:
            async with ws_connect(server.url(served), open_timeout=HANG) as ws:
                await ws.send("hello")
                assert await within(ws.recv(), "the echo") == "hello"


async def test_the_echo_path_has_the_origins_and_message_size_of_a_route(redis_url: str) -> None:
    app = create_app(settings(redis_url, origins="http://good.example", max_message_size=1000))
    async with run_server(app) as server:
        host = f"{server.host}:{server.port}"
        evil = opening_request(
            "/echo", host, os.urandom(8), headers={"Origin": "http://evil.example"}
        )
        response = await http_exchange(server.host, server.port, evil)
        assert (response.status, response.body) == (
            403,
            b"origin http://evil.example is not allowed\n",
        )

        good = {"Origin": "http://good.example"}
        drafter = await DraftClient.connect(server.host, server.port, "/echo", headers=good)
        await drafter.send(TEXT, b"x" * 1000)
        assert await drafter.recv_message() == (TEXT, b"x" * 1000)
        await drafter.send(TEXT, b"x" * 1001)
        expected = b"message of 1001 bytes exceeds the limit of 1000 bytes"
        assert await drafter.recv_frame() == Frame(True, CLOSE, expected)
        assert await drafter.read_to_eof() == b""
        await drafter.aclose()

        async with ws_connect(server.url("/echo"), origin=good["Origin"], open_timeout=HANG) as ws:
            await ws.send(b"x" * 1001)
            with pytest.raises(ConnectionClosed) as excinfo:
                await within(ws.recv(), "the Close")
        assert excinfo.value.rcvd is not None
        assert excinfo.value.rcvd.code == 1009


async def test_an_echo_client_that_does_not_read_is_no_longer_read_then_closed(
    redis_url: str,
) -> None:
    # Anything a client sends counts as an answer to a ping: only a gateway that stopped
    # reading this client, which sends all along, can time its ping out.
    app = create_app(settings(redis_url, ping_interval=0.2, ping_timeout=0.2))
    before = sample("wslab_ping_timeouts_total")
    async with run_server(app) as server:
        raw = await connect_socket(server.host, server.port, "/echo", receive_buffer=4096)
        loop = asyncio.get_running_loop()
        message = frame(TEXT, b"x" * 16384)

        async def send_forever() -> None:
            while True:
                await loop.sock_sendall(raw.sock, message)

        with pytest.raises(ConnectionError):  # reset when the gateway drops it
            await within(send_forever(), "the gateway to drop a client that does not read")
        raw.close()
    assert sample("wslab_ping_timeouts_total") == before + 1


async def test_the_echo_path_counts_against_an_address_s_connections(redis_url: str) -> None:
    app = create_app(settings(redis_url, max_connections_per_address=1))
    async with run_server(app) as server:
        host = f"{server.host}:{server.port}"
        async with await connect(server, "/echo") as first:
            request = opening_request("/echo", host, os.urandom(8))
            response = await http_exchange(server.host, server.port, request)
            assert (response.status, response.body) == (
                429,
                b"too many connections from 127.0.0.1 (at most 1)\n",
            )
            await first.close()


async def test_the_echo_path_closes_a_client_that_does_not_answer_its_pings(
    redis_url: str,
) -> None:
    app = create_app(settings(redis_url, ping_interval=0.2, ping_timeout=0.2))
    async with run_server(app) as server:
        # A raw draft client: it reads what comes and answers nothing.
        silent = await connect(server, "/echo")
        frames = [await silent.recv_frame()]
        while frames[-1].opcode != CLOSE:
            frames.append(await silent.recv_frame())
        assert PING in [frame.opcode for frame in frames]
        assert frames[-1] == Frame(True, CLOSE, b"no answer to a ping in time")
        await silent.aclose()


# Slow clients: conflated topics and the others.


@pytest.fixture
async def slow_server(redis_url: str) -> AsyncIterator[tuple[RunningServer, Hub]]:
    """The gateway, and its hub, where 4 KiB waiting make a client slow, and 16 KiB too slow."""
    app = create_app(settings(redis_url, slow_write_buffer=4096, max_write_buffer=16384))
    async with run_server(app) as server:
        await wait_ready(server)
        yield server, app.state.hub


def outbox_of(hub: Hub, conn: str) -> Outbox:
    """The outbox of one of the gateway's connections."""
    return hub.links[conn].outbox


def connection_of(outbox: Outbox) -> Connection:
    """The connection an outbox writes to."""
    connection = outbox.writer
    assert isinstance(connection, Connection)
    return connection


SYMBOLS = ("AAPL", "IBM", "MSFT")
QUOTES = [topic_channel(f"quotes.{symbol}") for symbol in SYMBOLS]


def quote(symbol: str, seq: int) -> str:
    """A quote as the stock service publishes it."""
    message = {"type": "quote", "symbol": symbol, "price": 27.91, "seq": seq, "ts": 1.5 + seq}
    return json.dumps(message)


async def test_a_slow_client_catches_up_with_the_latest_quotes_while_a_fast_one_gets_them_all(
    slow_server: tuple[RunningServer, Hub], client: redis.Redis
) -> None:
    server, hub = slow_server
    async with FakeService(client, "stocks") as stocks:
        fast = await connect(server, "/stocks")
        fast_conn = (await stocks.next_envelope()).conn
        raw = await connect_socket(server.host, server.port, "/stocks", receive_buffer=4096)
        slow_conn = (await stocks.next_envelope()).conn
        for conn in (fast_conn, slow_conn):
            for symbol in SYMBOLS:
                topic = f"quotes.{symbol}"
                await stocks.command(GATEWAY, Subscribe(conn=conn, topic=topic, conflate=True))
        # Commands run in order: once this arrives, every subscription is in place.
        await stocks.command(GATEWAY, Send(conn=fast_conn, payload="subscribed"))
        assert await fast.recv_text() == "subscribed"
        for channel in QUOTES:
            await wait_subscribers(client, channel, 1)
        outbox = outbox_of(hub, slow_conn)
        connection = connection_of(outbox)
        shrink_send_buffer(connection.transport)
        before = sample("wslab_conflated_messages_total")

        def conflated() -> float:
            """Quotes not sent to the slow client so far: newer ones replaced them."""
            return sample("wslab_conflated_messages_total") - before

        async def publish(seq: int) -> None:
            """Publish a quote of each symbol; the fast client reads each one."""
            for symbol, channel in zip(SYMBOLS, QUOTES, strict=True):
                assert await client.publish(channel, quote(symbol, seq)) == 1
            for symbol in SYMBOLS:
                assert await fast.recv_text() == quote(symbol, seq)

        # The kernel may take a little more now and then, and the client catch up for a
        # moment: publish until the client is slow and has missed 20 quotes of each symbol.
        last = 0

        async def until_slow() -> None:
            nonlocal last
            while len(outbox.held) < len(SYMBOLS) or conflated() < 20 * len(SYMBOLS):
                last += 1
                await publish(last)

        await within(until_slow(), "the slow client to miss 20 quotes of each symbol")
        # One quote held per symbol, whatever the number published: its last.
        held = {
            channel: b"".join(message.framed(connection.framing))
            for channel, message in outbox.held.items()
        }
        assert held == {
            channel: frame(TEXT, quote(symbol, last).encode())
            for symbol, channel in zip(SYMBOLS, QUOTES, strict=True)
        }

        slow = await raw.start_reading()
        received: list[str] = []
        pending = set(SYMBOLS)
        while pending:
            received.append(await slow.recv_text())
            message = json.loads(received[-1])
            if message["seq"] == last:
                pending.remove(message["symbol"])
        # The held quotes come last, and each symbol's quotes in order.
        assert sorted(received[-len(SYMBOLS) :]) == [quote(symbol, last) for symbol in SYMBOLS]
        messages = [json.loads(text) for text in received]
        for symbol in SYMBOLS:
            seqs = [message["seq"] for message in messages if message["symbol"] == symbol]
            assert seqs == sorted(set(seqs))
        # Each quote published was either sent to the slow client or replaced by a newer one.
        assert len(received) + conflated() == last * len(SYMBOLS)
        assert outbox.held == {}

        for drafter in (fast, slow):
            await drafter.close()
            assert (await stocks.next_envelope()).kind == "close"


async def test_a_slow_client_of_a_topic_without_conflation_is_closed_as_too_slow(
    slow_server: tuple[RunningServer, Hub], client: redis.Redis
) -> None:
    server, hub = slow_server
    lobby = topic_channel("chat.lobby")
    async with FakeService(client, "chat") as chat:
        fast = await connect(server, "/chat")
        fast_conn = (await chat.next_envelope()).conn
        raw = await connect_socket(server.host, server.port, "/chat", receive_buffer=4096)
        slow_conn = (await chat.next_envelope()).conn
        for conn in (fast_conn, slow_conn):
            await chat.command(GATEWAY, Subscribe(conn=conn, topic="chat.lobby"))
        await chat.command(GATEWAY, Send(conn=fast_conn, payload="subscribed"))
        assert await fast.recv_text() == "subscribed"
        await wait_subscribers(client, lobby, 1)
        outbox = outbox_of(hub, slow_conn)
        connection = connection_of(outbox)
        shrink_send_buffer(connection.transport)
        before = sample("wslab_slow_closes_total")

        said: list[str] = []

        async def until_closed() -> None:
            while connection.state is State.OPEN:
                said.append(json.dumps({"type": "say", "seq": len(said) + 1, "text": "x" * 1000}))
                assert await client.publish(lobby, said[-1]) == 1
                assert await fast.recv_text() == said[-1]

        await within(until_closed(), "the slow client to be closed as too slow")
        assert sample("wslab_slow_closes_total") == before + 1
        assert outbox.held == {}

        slow = await raw.start_reading()
        received: list[str] = []
        while (got := await slow.recv_frame()).opcode != CLOSE:
            received.append(got.payload.decode())
        assert got.payload == b"too slow: messages are piling up"
        assert received == said[: len(received)]
        await slow.send(CLOSE, got.payload)
        assert await slow.read_to_eof() == b""
        await slow.aclose()
        assert (await chat.next_envelope()).kind == "close"
        await fast.close()
        assert (await chat.next_envelope()).kind == "close"


# Settings reach the connection layer.


async def test_the_settings_set_routes_origins_and_the_message_size(
    redis_url: str, client: redis.Redis
) -> None:
    app = create_app(
        settings(
            redis_url, routes="/talk=chat", origins="http://good.example", max_message_size=1000
        )
    )
    async with run_server(app) as server, FakeService(client, "chat") as service:
        await wait_ready(server)
        host = f"{server.host}:{server.port}"
        evil = opening_request(
            "/talk", host, os.urandom(8), headers={"Origin": "http://evil.example"}
        )
        response = await http_exchange(server.host, server.port, evil)
        assert response.status == 403
        assert response.body == b"origin http://evil.example is not allowed\n"

        good = {"Origin": "http://good.example"}
        drafter = await DraftClient.connect(server.host, server.port, "/talk", headers=good)
        assert (await service.next_envelope()).path == "/talk"
        await drafter.send(TEXT, b"x" * 1001)
        expected = b"message of 1001 bytes exceeds the limit of 1000 bytes"
        assert await drafter.recv_frame() == Frame(True, CLOSE, expected)
        assert await drafter.read_to_eof() == b""
        await drafter.aclose()
        assert (await service.next_envelope()).kind == "close"


async def test_a_message_longer_than_its_route_allows_is_refused_before_publishing(
    redis_url: str, client: redis.Redis
) -> None:
    app = create_app(settings(redis_url, routes="/talk=chat:100"))
    async with run_server(app) as server, FakeService(client, "chat") as service:
        await wait_ready(server)
        talker = await connect(server, "/talk")
        assert (await service.next_envelope()).kind == "open"
        await talker.send(TEXT, "é".encode() * 51)  # 51 characters, 102 bytes
        assert json.loads(await talker.recv_text()) == {
            "type": "error",
            "code": "too_long",
            "message": "a message here is at most 100 bytes, not 102; your message was not"
            " delivered",
        }
        await talker.send(TEXT, b"x" * 100)
        envelope = await service.next_envelope()
        assert (envelope.kind, envelope.payload) == ("message", "x" * 100)
        await talker.close()
        assert (await service.next_envelope()).kind == "close"


async def test_the_settings_set_the_largest_head_and_the_request_deadline(redis_url: str) -> None:
    app = create_app(settings(redis_url, max_header_size=2048, request_timeout=0.5))
    async with run_server(app) as server:
        host = f"{server.host}:{server.port}"
        big = opening_request("/chat", host, os.urandom(8), headers={"X-Padding": "x" * 2048})
        response = await http_exchange(server.host, server.port, big)
        assert (response.status, response.body) == (431, b"the request head is over 2048 bytes\n")
        half = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n"
        response = await http_exchange(server.host, server.port, half)
        assert (response.status, response.body) == (408, b"the request did not arrive in time\n")


async def test_connections_beyond_the_maximum_get_503(redis_url: str) -> None:
    async with run_server(create_app(settings(redis_url, max_connections=1))) as server:
        first = await connect(server, "/chat")
        await first.recv_text()  # unavailable: no service
        request = opening_request("/chat", f"{server.host}:{server.port}", os.urandom(8))
        response = await http_exchange(server.host, server.port, request)
        assert response.status == 503
        assert response.headers["retry-after"] == "5"
        assert response.body == b"the server is full (1 connections)\n"
        await first.close()


async def test_an_address_over_its_handshake_rate_gets_429_with_the_reason_over_both_protocols(
    redis_url: str,
) -> None:
    app = create_app(settings(redis_url, handshake_rate=0.001, handshake_burst=2))
    async with run_server(app) as server:
        before = handshakes("rejected", "429"), handshakes("rejected", "429", "rfc6455")
        first = await connect(server, "/chat")
        async with ws_connect(server.url("/chat"), open_timeout=HANG):
            request = opening_request("/chat", f"{server.host}:{server.port}", os.urandom(8))
            response = await http_exchange(server.host, server.port, request)
            assert response.status == 429
            assert response.headers["retry-after"] == "1"
            reason = b"too many handshakes from 127.0.0.1 (at most 0.001 a second)\n"
            assert response.body == reason
            with pytest.raises(InvalidStatus) as excinfo:
                await ws_connect(server.url("/chat"), open_timeout=HANG)
            assert excinfo.value.response.status_code == 429
        await first.recv_text()  # unavailable: no service
        await first.close()
        after = handshakes("rejected", "429"), handshakes("rejected", "429", "rfc6455")
        assert after == (before[0] + 1, before[1] + 1)


# Tokens (docs/SECURITY.md, "Tokens").

SECRET = "a-secret-for-the-tests-of-thirty-two-bytes-or-more"


def token(**claims: Any) -> str:
    return jwt.encode({"sub": "alice", "aud": "wslab", "exp": time.time() + 60, **claims}, SECRET)


async def test_in_token_mode_a_connection_without_a_good_token_is_refused_with_401(
    redis_url: str,
) -> None:
    app = create_app(settings(redis_url, auth="token", token_secret=SECRET))
    async with run_server(app) as server:
        await wait_ready(server)
        host = f"{server.host}:{server.port}"
        before = handshakes("rejected", "401")
        for query, reason in [
            ("", b"a token is required\n"),
            (f"?token={token(exp=time.time() - 3600)}", b"the token has expired\n"),
            (f"?token={token()}x", b"the token is invalid\n"),
        ]:
            request = opening_request(f"/chat{query}", host, os.urandom(8))
            response = await http_exchange(server.host, server.port, request)
            assert (response.status, response.body) == (401, reason)
            assert response.headers["www-authenticate"] == "Bearer"
        assert handshakes("rejected", "401") == before + 3
        with pytest.raises(InvalidStatus) as excinfo:
            await ws_connect(server.url("/chat"), open_timeout=HANG)
        assert excinfo.value.response.status_code == 401
        assert excinfo.value.response.body == b"a token is required\n"


async def test_a_verified_identity_travels_in_every_envelope_and_the_token_does_not(
    redis_url: str, client: redis.Redis
) -> None:
    app = create_app(settings(redis_url, auth="token", token_secret=SECRET))
    async with run_server(app) as server, FakeService(client, "chat") as service:
        await wait_ready(server)
        rooms = ["team-*"]
        drafter = await connect(server, f"/chat?nick=mallory&token={token(rooms=rooms)}")
        opened = await service.next_envelope()
        assert (opened.kind, opened.user, opened.rooms, opened.query) == (
            "open",
            "alice",
            rooms,
            "nick=mallory",
        )
        await drafter.send(TEXT, b"hello")
        said = await service.next_envelope()
        assert (said.kind, said.user, said.rooms) == ("message", "alice", rooms)
        await drafter.close()
        assert (await service.next_envelope()).user == "alice"
        headers = {"Authorization": f"Bearer {token(sub='bob')}"}
        async with ws_connect(server.url("/chat"), additional_headers=headers, open_timeout=HANG):
            opened = await service.next_envelope()
        assert (opened.user, opened.rooms) == ("bob", None)


async def test_in_anonymous_mode_envelopes_say_no_user(redis_url: str, client: redis.Redis) -> None:
    app = create_app(settings(redis_url))
    async with run_server(app) as server, FakeService(client, "chat") as service:
        await wait_ready(server)
        drafter = await connect(server, "/chat?nick=carol")
        opened = await service.next_envelope()
        assert (opened.user, opened.rooms, opened.query) == (None, None, "nick=carol")
        await drafter.close()


async def test_in_token_mode_the_echo_path_needs_a_good_token_too(redis_url: str) -> None:
    app = create_app(settings(redis_url, auth="token", token_secret=SECRET))
    async with run_server(app) as server:
        host = f"{server.host}:{server.port}"
        request = opening_request("/echo", host, os.urandom(8))
        response = await http_exchange(server.host, server.port, request)
        assert (response.status, response.body) == (401, b"a token is required\n")
        assert response.headers["www-authenticate"] == "Bearer"
        async with await connect(server, f"/echo?token={token()}") as drafter:
            await drafter.send(TEXT, b"hello")
            assert await drafter.recv_message() == (TEXT, b"hello")
            await drafter.close()
