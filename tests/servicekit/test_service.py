"""The service loop against a real Redis, with the test playing the gateway."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

import bus
from servicekit import ClientError, Context, Handlers, Outbox, Service, ServiceSettings
from tests.servicekit.fake_gateway import FakeGateway, Published, running, serving
from tests.waiting import until, within


class Demo(Handlers):
    """Does what each message says, echoes the others."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.finished = False

    async def on_open(self, ctx: Context) -> None:
        if ctx.conn.id.endswith("crash"):  # As when Redis drops the connection it uses.
            raise RedisConnectionError("Connection reset by peer")
        await ctx.reply({"type": "hello", "path": ctx.conn.path, "nick": ctx.conn.param("nick")})

    async def on_message(self, ctx: Context, text: str) -> None:
        match text:
            case "crash":
                raise RuntimeError("secret internals")
            case "refuse":
                raise ClientError("not today", code="refused")
            case "subscribe":
                await ctx.subscribe("news")
            case "unsubscribe":
                await ctx.unsubscribe("news")
            case "close":
                await ctx.close("bye")
            case "publish":
                assert await ctx.publish("news", {"type": "news", "from": ctx.conn.id}) == 1
            case "count":
                await ctx.reply({"count": await ctx.redis.incr("demo:count")})
            case "slow":
                self.started.set()
                await self.release.wait()
                await ctx.reply("slow done")
                self.finished = True
            case _:
                await ctx.reply(text)

    async def on_close(self, ctx: Context) -> None:
        if ctx.conn.id.endswith("crash"):
            raise RuntimeError("cannot close")
        await ctx.publish("news", {"type": "gone", "conn": ctx.conn.id})


@pytest.fixture
def handlers() -> Demo:
    return Demo()


@pytest.fixture
def service(handlers: Demo, settings: ServiceSettings) -> Service:
    return Service("demo", handlers, settings)


@pytest.fixture
async def gateway(redis_url: str) -> AsyncIterator[FakeGateway]:
    async with FakeGateway(redis_url, "demo") as gateway:
        await gateway.listen("news")
        yield gateway


async def test_an_open_envelope_runs_on_open_with_the_connection(
    service: Service, gateway: FakeGateway
) -> None:
    async with running(service):
        await gateway.open(gateway.conn(1), query="nick=alice", path="/demo")
        assert await gateway.reply(gateway.conn(1)) == {
            "type": "hello",
            "path": "/demo",
            "nick": "alice",
        }


async def test_a_message_envelope_runs_on_message_with_its_text(
    service: Service, gateway: FakeGateway
) -> None:
    async with running(service):
        await gateway.message(gateway.conn(1), '"hi there"')
        assert await gateway.reply(gateway.conn(1)) == "hi there"


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("subscribe", bus.Subscribe(conn="gw-test.1", topic="news")),
        ("unsubscribe", bus.Unsubscribe(conn="gw-test.1", topic="news")),
        ("close", bus.Close(conn="gw-test.1", reason="bye")),
    ],
)
async def test_handlers_send_commands_to_the_connections_gateway(
    service: Service, gateway: FakeGateway, text: str, command: bus.Command
) -> None:
    async with running(service):
        await gateway.message(gateway.conn(1), text)
        assert await gateway.next() == command


async def test_handlers_publish_on_topics(service: Service, gateway: FakeGateway) -> None:
    async with running(service):
        await gateway.message(gateway.conn(1), "publish")
        assert await gateway.published("news") == {"type": "news", "from": "gw-test.1"}
        await gateway.close(gateway.conn(2))
        assert await gateway.published("news") == {"type": "gone", "conn": "gw-test.2"}


async def test_handlers_may_use_redis(service: Service, gateway: FakeGateway) -> None:
    async with running(service):
        for count in (1, 2):
            await gateway.message(gateway.conn(1), '"count"')
            await gateway.message(gateway.conn(1), "count")
            assert await gateway.reply(gateway.conn(1)) == "count"
            assert await gateway.reply(gateway.conn(1)) == {"count": count}


async def test_replies_go_to_the_gateway_named_in_the_envelope(
    service: Service, redis_url: str
) -> None:
    async with (
        FakeGateway(redis_url, "demo", id="gw-a") as a,
        FakeGateway(redis_url, "demo", id="gw-b") as b,
        running(service),
    ):
        await b.message(b.conn(1), '"to b"')
        await a.message(a.conn(1), '"to a"')
        assert await a.reply("gw-a.1") == "to a"
        assert await b.reply("gw-b.1") == "to b"


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b"[1, 2]",
        b'{"v": 2, "kind": "open", "conn": "c", "gateway": "g", "path": "/"}',
        b'{"v": 1, "kind": "dance", "conn": "c", "gateway": "gw-test", "path": "/"}',
        b'{"v": 1, "kind": "open", "conn": "c"}',
        b'{"v": 1, "kind": "message", "conn": "c", "gateway": "gw-test", "path": "/",'
        b' "received_at": 1, "published_at": 1}',
        b"\xff\xfe",
    ],
)
async def test_a_malformed_envelope_is_logged_and_dropped(
    service: Service, gateway: FakeGateway, caplog: pytest.LogCaptureFixture, data: bytes
) -> None:
    async with running(service):
        await gateway.append_raw(gateway.conn(9), data)
        await gateway.message(gateway.conn(1), '"still here"')
        assert await gateway.reply(gateway.conn(1)) == "still here"
    [warning] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert warning.getMessage().startswith("! dropped a malformed envelope (")


async def test_a_failing_handler_is_answered_with_bad_request_without_details(
    service: Service, gateway: FakeGateway, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(service):
        await gateway.message(gateway.conn(1), "crash")
        assert await gateway.reply(gateway.conn(1)) == {
            "type": "error",
            "code": "bad_request",
            "message": "the service could not handle this",
        }
        await gateway.message(gateway.conn(1), '"still here"')
        assert await gateway.reply(gateway.conn(1)) == "still here"
    [error] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert error.getMessage() == "! message handler failed for gw-test.1"
    assert error.exc_info is not None
    assert str(error.exc_info[1]) == "secret internals"


async def test_a_failing_open_handler_closes_the_connection_for_its_client_to_connect_again(
    service: Service, gateway: FakeGateway, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(service):
        await gateway.open("gw-test.crash")
        assert await gateway.next() == bus.Close(
            conn="gw-test.crash",
            reason="the service could not open this connection; connect again",
        )
        await gateway.message(gateway.conn(1), '"still here"')
        assert await gateway.reply(gateway.conn(1)) == "still here"
    [error] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert error.getMessage() == "! open handler failed for gw-test.crash"


async def test_a_client_error_is_answered_with_its_code_and_message(
    service: Service, gateway: FakeGateway
) -> None:
    async with running(service):
        await gateway.message(gateway.conn(1), "refuse")
        assert await gateway.reply(gateway.conn(1)) == {
            "type": "error",
            "code": "refused",
            "message": "not today",
        }


async def test_a_binary_message_is_answered_with_bad_request(
    service: Service, gateway: FakeGateway
) -> None:
    async with running(service):
        payload = base64.b64encode(b"\x00\x01").decode()
        await gateway.message(gateway.conn(1), payload, binary=True)
        assert await gateway.reply(gateway.conn(1)) == {
            "type": "error",
            "code": "bad_request",
            "message": "binary messages are not supported",
        }


async def test_a_failing_close_handler_is_logged_and_answered_to_nobody(
    service: Service, gateway: FakeGateway, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(service):
        await gateway.close("gw-test.crash")
        await gateway.message(gateway.conn(1), '"next"')
        assert await gateway.reply(gateway.conn(1)) == "next"
    [error] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert error.getMessage() == "! close handler failed for gw-test.crash"


async def test_the_default_handlers_refuse_messages(
    settings: ServiceSettings, gateway: FakeGateway
) -> None:
    async with running(Service("demo", Handlers(), settings)):
        await gateway.open(gateway.conn(1))
        await gateway.message(gateway.conn(1), "hello")
        assert await gateway.reply(gateway.conn(1)) == {
            "type": "error",
            "code": "bad_request",
            "message": "this service accepts no messages",
        }


async def test_stopping_lets_the_current_message_finish(
    service: Service, handlers: Demo, gateway: FakeGateway
) -> None:
    task = asyncio.create_task(service.run())
    await serving(service, task)
    await gateway.message(gateway.conn(1), "slow")
    await within(handlers.started.wait(), "the slow handler to start")
    service.stop()
    await asyncio.sleep(0.1)  # A chance to cancel the handler, if stop() were to do that.
    handlers.release.set()
    await within(task, "the service to stop")
    assert handlers.finished
    assert await gateway.next() == bus.Send(conn="gw-test.1", payload="slow done")


async def test_the_connections_of_a_batch_are_handled_together_each_in_order(
    service: Service, handlers: Demo, gateway: FakeGateway
) -> None:
    async with running(service):
        async with gateway.together():
            await gateway.message(gateway.conn(1), "slow")
            await gateway.message(gateway.conn(1), "after slow")
            await gateway.message(gateway.conn(2), "meanwhile")
        conn1, conn2 = gateway.conn(1), gateway.conn(2)
        try:
            await within(handlers.started.wait(), "the slow handler to start")
            # While connection 1 waits in its handler, connection 2 is answered...
            assert await gateway.next() == bus.Send(conn=conn2, payload="meanwhile")
        finally:
            handlers.release.set()
        # ... and connection 1's next message waits for its first.
        assert await gateway.next() == bus.Send(conn=conn1, payload="slow done")
        assert await gateway.next() == bus.Send(conn=conn1, payload="after slow")


async def test_a_batch_of_more_connections_than_redis_connections_waits_for_them_not_fails(
    settings: ServiceSettings, handlers: Demo, gateway: FakeGateway
) -> None:
    # Each handler takes a pooled connection: redis-py's own pool fails past its cap.
    narrow = dataclasses.replace(settings, batch=200, redis_connections=3)
    async with running(Service("demo", handlers, narrow)):
        async with gateway.together():
            for n in range(200):
                await gateway.message(gateway.conn(n), "count")
        replies = [await gateway.next() for _ in range(200)]
    sends = [reply for reply in replies if isinstance(reply, bus.Send)]
    assert sorted(json.loads(send.payload)["count"] for send in sends) == list(range(1, 201))


async def test_a_stopped_service_ignores_envelopes(
    service: Service, handlers: Demo, gateway: FakeGateway
) -> None:
    service.stop()
    await within(service.run(), "the stopped service to return")
    assert not Path(service.settings.health_file).exists()


async def test_the_heartbeat_file_is_fresh_while_running_and_removed_after(
    service: Service, settings: ServiceSettings
) -> None:
    path = Path(settings.health_file)
    async with running(service):
        await until(path.exists, "the heartbeat file")
    assert not path.exists()


class Failing(Handlers):
    async def background(self, outbox: Outbox) -> None:
        await outbox.publish("news", {"type": "last words"})
        raise RuntimeError("feed broke")


async def test_a_failing_background_stops_the_service_with_its_exception(
    settings: ServiceSettings, gateway: FakeGateway, caplog: pytest.LogCaptureFixture
) -> None:
    service = Service("demo", Failing(), settings)
    with pytest.raises(RuntimeError, match="feed broke"):
        await within(service.run(), "the failing service to stop")
    assert await gateway.next() == Published("news", {"type": "last words"})
    assert any(r.getMessage() == "! demo service failed" for r in caplog.records)
    assert not Path(settings.health_file).exists()


async def test_a_background_that_returns_does_not_stop_the_service(
    settings: ServiceSettings, gateway: FakeGateway
) -> None:
    class Once(Demo):
        async def background(self, outbox: Outbox) -> None:
            await outbox.publish("news", {"type": "once"})

    async with running(Service("demo", Once(), settings)):
        assert await gateway.published("news") == {"type": "once"}
        await gateway.message(gateway.conn(1), '"alive"')
        assert await gateway.reply(gateway.conn(1)) == "alive"


async def test_the_service_uses_the_redis_of_its_settings(redis_url: str, tmp_path: Path) -> None:
    settings = ServiceSettings(redis_url=redis_url, health_file=str(tmp_path / "h"))
    async with Redis.from_url(redis_url) as client:
        await client.set("marker", "here")
    service = Service("demo", Handlers(), settings)
    try:
        assert await service.redis.get("marker") == b"here"
    finally:
        await service.redis.aclose()
