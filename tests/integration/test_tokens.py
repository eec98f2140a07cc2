"""Token mode against the real stack (docs/SECURITY.md, "Tokens"): a gateway with
``WSLAB_AUTH=token``, started beside the stack's own on its network, in front of the same
Redis and chat service."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import pytest

from client import connect
from client.tokens import mint
from tests.integration.conftest import (
    ROOT,
    TOKEN_SECRET,
    Address,
    Event,
    next_event,
)
from tests.integration.pages import (
    chromium,
    connect_chat,
    page_opener,
    room_events,
    said,
    say,
    shows_message,
)
from tests.waiting import HANG, within
from wsdraft import HandshakeRejected


def token(user: str, **options: Any) -> str:
    return mint(user, TOKEN_SECRET, now=time.time(), **options)


def url(gateway: Address, query: str) -> str:
    host, port = gateway
    return f"ws://{host}:{port}/chat?{query}"


def bearer(value: str) -> list[tuple[str, str]]:
    return [("Authorization", f"Bearer {value}")]


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ([], "a token is required"),
        (bearer(mint("alice", TOKEN_SECRET, now=time.time() - 7200)), "the token has expired"),
        (bearer(mint("alice", "a-forger-s-own-secret-of-enough-length", now=time.time())),
         "the token is invalid"),
        (bearer(mint("alice", TOKEN_SECRET, now=time.time(), audience="elsewhere")),
         "the token is not for this gateway"),
    ],
    ids=["missing", "expired", "forged", "other audience"],
)  # fmt: skip
async def test_a_missing_expired_or_forged_token_is_refused_with_401_and_its_reason(
    token_gateway: Address, headers: list[tuple[str, str]], reason: str
) -> None:
    with pytest.raises(HandshakeRejected) as excinfo:
        await connect(url(token_gateway, "nick=alice"), proxy=None, headers=headers)
    assert (excinfo.value.status, excinfo.value.reason) == (401, reason)


async def test_wslab_connect_with_token_chats_as_the_token_s_user(
    token_gateway: Address,
) -> None:
    line = json.dumps({"type": "say", "text": "hello with a token"}) + "\n"
    process = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "client", "connect", url(token_gateway, "room=cli-tokens")],
        *["--token", token("cleo"), "--no-proxy", "--wait", str(HANG)],
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    assert process.stdin is not None
    stdout = process.stdout
    assert stdout is not None
    process.stdin.write(line.encode())
    await process.stdin.drain()
    printed: list[Event] = []

    async def said() -> None:
        while not any(event.get("text") == "hello with a token" for event in printed):
            printed.append(json.loads(await stdout.readline()))

    await within(said(), "wslab connect to print the line it said")
    process.kill()
    await process.communicate()
    assert printed[0] == {"type": "welcome", "nick": "cleo", "room": "cli-tokens"}
    assert [event["nick"] for event in printed if event.get("type") == "message"] == ["cleo"]


async def test_nobody_can_speak_as_a_token_holder(token_gateway: Address) -> None:
    room = "impostors"
    ada_url = url(token_gateway, f"room={room}")
    async with connect(ada_url, proxy=None, headers=bearer(token("ada"))) as ada:
        assert (await next_event(ada, "welcome"))["nick"] == "ada"
        # Mallory's own token, asking for ada's nickname: the token decides.
        mallory_url = url(token_gateway, f"nick=ada&room={room}")
        async with connect(mallory_url, proxy=None, headers=bearer(token("mallory"))) as mallory:
            assert (await next_event(mallory, "welcome"))["nick"] == "mallory"
            await mallory.send(json.dumps({"type": "say", "text": "I am ada"}))
            heard = await next_event(ada, "message", text="I am ada")
    assert heard["nick"] == "mallory"


async def test_an_anonymous_client_cannot_take_a_token_holder_s_nickname(
    gateway: Address, token_gateway: Address
) -> None:
    async with connect(
        url(token_gateway, "room=reserved"), proxy=None, headers=bearer(token("tom"))
    ) as tom:
        await next_event(tom, "members")
    # The anonymous gateway, the same chat: in any room, with tom gone or not.
    async with connect(url(gateway, "nick=tom&room=elsewhere"), proxy=None) as anonymous:
        assert (await next_event(anonymous, "welcome"))["nick"] == "tom"
        refused = await next_event(anonymous, "error")
    assert refused == {
        "type": "error",
        "code": "nick_taken",
        "message": "'tom' is reserved for its token's holder",
    }


async def test_a_room_the_token_does_not_allow_is_refused_with_no_history(
    token_gateway: Address,
) -> None:
    secret = "the vault code is 1234"
    async with connect(
        url(token_gateway, "room=vault"), proxy=None, headers=bearer(token("bea"))
    ) as bea:
        await next_event(bea, "members")
        await bea.send(json.dumps({"type": "say", "text": secret}))
        await next_event(bea, "message", text=secret)
    eve_token = token("eve", rooms=["team-*"])
    received: list[str] = []  # Everything eve gets, to look for the secret in.
    async with connect(
        url(token_gateway, "room=vault"), proxy=None, headers=bearer(eve_token)
    ) as eve:

        async def next_for_eve(kind: str, **fields: object) -> Event:
            async def find() -> Event:
                while True:
                    text = await eve.recv()
                    assert isinstance(text, str)
                    received.append(text)
                    event: Event = json.loads(text)
                    if event["type"] == kind and fields.items() <= event.items():
                        return event

            return await within(find(), f"a {kind} message for eve with {fields}")

        assert (await next_for_eve("welcome"))["nick"] == "eve"
        refused = await next_for_eve("error")
        assert (refused["code"], refused["message"]) == (
            "forbidden",
            "your token does not let you into 'vault'",
        )
        for request in ({"type": "join", "room": "vault"}, {"type": "history", "room": "vault"}):
            await eve.send(json.dumps(request))
            assert (await next_for_eve("error"))["code"] in ("forbidden", "not_member")
        await eve.send(json.dumps({"type": "join", "room": "team-blue"}))
        members = await next_for_eve("members", room="team-blue")
        assert members["members"] == ["eve"]
    assert not any(secret in text for text in received)


async def test_the_page_passes_its_token_on_and_chats_as_the_token_s_user(
    token_gateway: Address, request: pytest.FixtureRequest
) -> None:
    host, port = token_gateway
    page_url = f"http://{host}:{port}/?token={token('dana')}"
    async with chromium() as browser, page_opener(browser, page_url, request) as open_page:
        page = await open_page()
        await connect_chat(page, "someone-else", "page-tokens")
        await say(page, "hello from a page with a token")
        await shows_message(page, "page-tokens", "hello from a page with a token")
        events = await room_events(page, "page-tokens")
    assert said(events) == [("dana", "hello from a page with a token")]
