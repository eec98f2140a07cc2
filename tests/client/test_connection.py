from __future__ import annotations

import ssl

import pytest

from client import ConnectionClosed, connect, make_ssl_context
from tests.client.http_proxy import ConnectProxy
from tests.waiting import HANG, until
from wsdraft import HandshakeRejected, InvalidHello, Limits


async def test_client_sends_text_and_receives_the_echo(server_url: str) -> None:
    async with connect(f"{server_url}/echo") as ws:
        await ws.send("Hello")
        assert await ws.recv() == "Hello"


async def test_client_sends_binary_and_receives_the_echo(server_url: str) -> None:
    data = bytes(range(256)) * 3
    async with connect(f"{server_url}/echo") as ws:
        await ws.send(data)
        assert await ws.recv() == data


async def test_client_receives_a_binary_message_from_the_server(server_url: str) -> None:
    async with connect(f"{server_url}/echo") as ws:
        await ws.send("binary:00ff7f80")
        assert await ws.recv() == b"\x00\xff\x7f\x80"


async def test_client_reassembles_fragments_with_a_ping_between_them(server_url: str) -> None:
    text = "fragmented reply, déjà vu 🎉"
    async with connect(f"{server_url}/echo") as ws:
        await ws.send(f"fragments:{text}")
        assert await ws.recv() == text
        await ws.send("still open")
        assert await ws.recv() == "still open"


async def test_client_sends_and_receives_70000_byte_messages(server_url: str) -> None:
    async with connect(f"{server_url}/echo") as ws:
        await ws.send("big:70000")
        assert await ws.recv() == "x" * 70_000
        payload = "é" * 35_000
        await ws.send(payload)
        assert await ws.recv() == payload


async def test_ping_waits_for_the_pong_and_returns_the_round_trip(server_url: str) -> None:
    async with connect(f"{server_url}/echo") as ws:
        assert 0 <= await ws.ping(b"are you there") < HANG


async def test_close_is_clean_and_recv_afterwards_raises(server_url: str) -> None:
    ws = await connect(f"{server_url}/echo")
    closed = await ws.close(b"bye")
    assert closed.clean
    assert closed.body == b"bye"
    with pytest.raises(ConnectionClosed, match="connection closed: bye"):
        await ws.recv()
    with pytest.raises(ConnectionClosed):
        await ws.send("too late")


async def test_iteration_ends_when_the_server_closes_cleanly(server_url: str) -> None:
    async with connect(f"{server_url}/echo") as ws:
        await ws.send("one")
        await ws.send("close:done")
        received = [message async for message in ws]
        assert received == ["one"]
        closed = await ws.wait_closed()
    assert closed.clean
    assert closed.body == b"done"


async def test_subprotocol_is_requested_and_confirmed(server_url: str) -> None:
    async with connect(f"{server_url}/echo", subprotocol="chat/1") as ws:
        assert ws.subprotocol == "chat/1"


async def test_rejected_handshake_carries_the_status_and_the_servers_reason(
    server_url: str,
) -> None:
    with pytest.raises(HandshakeRejected) as info:
        await connect(f"{server_url}/forbidden")
    assert info.value.status == 403
    assert info.value.reason == "origin not allowed here"
    assert str(info.value) == "server rejected the handshake with 403: origin not allowed here"


async def test_wrong_server_hello_digest_fails_the_handshake(server_url: str) -> None:
    with pytest.raises(InvalidHello, match="the server HELLO digest is wrong"):
        await connect(f"{server_url}/bad-hello")


async def test_a_silent_server_makes_connect_time_out(server_url: str) -> None:
    with pytest.raises(TimeoutError, match=r"timed out after 0.2 s opening ws://127\.0\.0\.1"):
        await connect(f"{server_url}/silent", limits=Limits(handshake_timeout=0.2))


async def test_a_timeout_names_the_url_as_given_not_normalised(server_url: str) -> None:
    url = f"{server_url.replace('127.0.0.1', 'LOCALHOST')}/silent"  # location: lower case
    with pytest.raises(TimeoutError) as info:
        await connect(url, limits=Limits(handshake_timeout=0.2))
    assert str(info.value) == f"timed out after 0.2 s opening {url}"


async def test_a_refused_connection_raises_os_error() -> None:
    with pytest.raises(OSError, match="Connect call failed"):
        await connect("ws://127.0.0.1:1/", proxy=None)


async def test_wss_verifies_the_server_against_a_custom_ca(
    tls_server_url: str, cafile: str
) -> None:
    async with connect(f"{tls_server_url}/echo", ssl=make_ssl_context(cafile=cafile)) as ws:
        await ws.send("secret")
        assert await ws.recv() == "secret"


async def test_wss_refuses_a_server_signed_by_an_unknown_ca(tls_server_url: str) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        await connect(f"{tls_server_url}/echo")


async def test_wss_insecure_mode_skips_verification(tls_server_url: str) -> None:
    async with connect(f"{tls_server_url}/echo", ssl=make_ssl_context(insecure=True)) as ws:
        await ws.send("trusting")
        assert await ws.recv() == "trusting"


async def test_connection_goes_through_an_explicit_http_proxy(
    server_url: str, proxy: ConnectProxy
) -> None:
    async with connect(f"{server_url}/echo", proxy=proxy.url) as ws:
        await ws.send("via proxy")
        assert await ws.recv() == "via proxy"
    assert proxy.targets == [server_url.removeprefix("ws://")]


async def test_connection_uses_the_http_proxy_from_the_environment(
    server_url: str, proxy: ConnectProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    async with connect(f"{server_url}/echo") as ws:
        await ws.send("via env proxy")
        assert await ws.recv() == "via env proxy"
    assert len(proxy.targets) == 1


async def test_wss_goes_through_the_proxy_with_tls_end_to_end(
    tls_server_url: str, cafile: str, proxy: ConnectProxy
) -> None:
    context = make_ssl_context(cafile=cafile)
    async with connect(f"{tls_server_url}/echo", proxy=proxy.url, ssl=context) as ws:
        await ws.send("tunnelled")
        assert await ws.recv() == "tunnelled"
    assert proxy.targets == [tls_server_url.removeprefix("wss://")]


async def test_a_slow_reader_pauses_reading_and_still_gets_every_message(
    server_url: str,
) -> None:
    messages = [f"{number:04}" * 250 for number in range(200)]  # 1000 bytes each
    async with connect(f"{server_url}/echo", max_queue=2) as ws:
        for message in messages:
            await ws.send(message)
        await until(lambda: ws.reading_paused, "the connection to stop reading")
        # Reading stops once 2 are queued; one 64 KiB read holds at most 65 more.
        assert ws._messages.qsize() <= 2 + 65
        assert [await ws.recv() for _ in messages] == messages
