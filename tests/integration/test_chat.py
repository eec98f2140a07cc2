"""The chat against the real stack: `wslab chat` clients in a room, resuming from a seq, the
chat service stopped and started again, the replica handling a talker killed, and a second
gateway on the same bus.

Each test talks in a room of its own, so that presence and history never leak between tests
sharing the session's stack. A test that stops a container starts it again, and waits until
the chat answers, before it ends.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager

import docker as docker_sdk
from docker.models.containers import Container
from testcontainers.compose import DockerCompose

import bus
from client import Connection, connect
from servicekit import ServiceSettings
from servicekit.replicas import partition_of
from tests.integration.conftest import (
    Address,
    Event,
    containers,
    gateway_beside,
    keep_saying,
    next_event,
    open_chat,
    redis_cli,
    until_heard,
    until_status,
    wslab_chat,
)
from tests.waiting import HANG, until, within
from wsdraft import Limits


def messages(events: list[Event]) -> list[Event]:
    return [event for event in events if event["type"] == "message"]


@asynccontextmanager
async def stopped(*replicas: Container) -> AsyncIterator[None]:
    """The containers stopped for the block, and started again at its end whatever happens."""
    for replica in replicas:
        await asyncio.to_thread(replica.stop)
    try:
        yield
    finally:
        for replica in replicas:
            await asyncio.to_thread(replica.start)


async def test_two_wslab_chat_clients_see_each_other_in_seq_order_and_a_latecomer_gets_it(
    gateway: Address,
) -> None:
    room = "cli-room"
    async with wslab_chat(gateway, "alice", room) as alice:
        await alice.next("members", members=["alice"])
        async with wslab_chat(gateway, "bob", room) as bob:
            await bob.next("members", members=["alice", "bob"])
            await alice.next("join", nick="bob")
            await alice.say("hello bob")
            said = [await alice.next("message", text="hello bob")]
            assert await bob.next("message", text="hello bob") == said[0]
            await bob.say("hello alice")
            said.append(await bob.next("message", text="hello alice"))
            assert await alice.next("message", text="hello alice") == said[1]

            assert [(m["room"], m["nick"]) for m in said] == [(room, "alice"), (room, "bob")]
            assert said[1]["seq"] == said[0]["seq"] + 1

            async with open_chat(gateway, "carol", room) as carol:
                history = await next_event(carol, "history", room=room)
                members = await next_event(carol, "members", room=room)
            assert messages(history["events"]) == said
            assert members["members"] == ["alice", "bob", "carol"]

            assert await bob.quit() == (0, "")
        assert await alice.quit() == (0, "")
    # Nothing but the two messages was said, and both saw them alike.
    assert messages(alice.events) == messages(bob.events) == said


async def test_a_client_that_reconnects_with_its_last_seq_gets_exactly_what_it_missed(
    gateway: Address,
) -> None:
    room = "resume-room"
    async with open_chat(gateway, "bob", room) as bob:
        await next_event(bob, "members", room=room)
        async with open_chat(gateway, "alice", room) as alice:
            history = await next_event(alice, "history", room=room)
            await next_event(alice, "members", room=room)
            last_seq = max(event["seq"] for event in history["events"])
        await next_event(bob, "leave", nick="alice")
        said = []
        for text in ("one", "two", "three"):
            await bob.send(text)
            said.append(await next_event(bob, "message", text=text))
        async with open_chat(gateway, "alice", room, since=last_seq) as alice:
            history = await next_event(alice, "history", room=room)
    events = history["events"]
    assert messages(events) == said
    seqs = [event["seq"] for event in events]
    assert seqs == list(range(last_seq + 1, last_seq + 1 + len(events)))
    assert {(e["type"], e["nick"]) for e in events if e["type"] != "message"} <= {
        ("leave", "alice"),
        ("join", "alice"),
    }


async def test_a_message_to_a_stopped_chat_service_is_refused_and_history_survives_a_restart(
    stack: DockerCompose, gateway: Address, docker: docker_sdk.DockerClient
) -> None:
    room = "restart-room"
    chats = containers(stack, docker, "chat")
    async with open_chat(gateway, "alice", room) as alice, open_chat(gateway, "bob", room) as bob:
        # Bob's welcome comes before his join, and another chat replica may handle alice:
        # once she sees him join, he is subscribed and hears her live.
        await next_event(alice, "join", nick="bob")
        await alice.send("before the stop")
        before = await next_event(bob, "message", text="before the stop")
        async with stopped(*chats):
            await alice.send("while stopped")
            error = await next_event(alice, "error")
            assert error["code"] == "unavailable"
        # The service comes back on its own schedule: alice repeats herself until bob hears.
        repeating = asyncio.create_task(keep_saying(alice, "back again"))
        try:
            await next_event(bob, "message", nick="alice", text="back again")
        finally:
            repeating.cancel()
    await until_status(gateway, "/readyz", 200)
    async with open_chat(gateway, "carol", room) as carol:
        history = await next_event(carol, "history", room=room)
    said = messages(history["events"])
    assert before in said
    assert "while stopped" not in [message["text"] for message in said]


async def test_a_message_through_one_gateway_reaches_a_member_on_another(
    stack: DockerCompose,
    gateway: Address,
    docker: docker_sdk.DockerClient,
    compose_env: dict[str, str],
) -> None:
    room = "two-gateways"
    with gateway_beside(docker, compose_env) as other:
        async with open_chat(gateway, "alice", room) as alice:
            await next_event(alice, "members", room=room)
            async with open_chat(other, "bob", room) as bob:
                await next_event(bob, "members", room=room, members=["alice", "bob"])
                await alice.send("hello from gateway one")
                heard = await next_event(bob, "message", text="hello from gateway one")
    assert (heard["room"], heard["nick"]) == (room, "alice")


async def until_shared(
    stack: DockerCompose, docker: docker_sdk.DockerClient, killed: str | None = None
) -> None:
    """Wait until two chat replicas own partitions, neither of them ``killed``: the leases
    of a replica killed a moment ago are still there until they expire."""
    leases = [f"wslab:svc:chat:partition:{partition}" for partition in range(16)]

    def shared() -> bool:
        holders = redis_cli(stack, docker, "MGET", *leases).split()
        owners = {holder for holder in holders if not holder.startswith("@")}  # "@": released
        return len(owners) == 2 and killed not in owners

    await until(
        lambda: asyncio.to_thread(shared), "two live chat replicas to own partitions", interval=0.5
    )


async def say_slowly(ws: Connection, texts: list[str], interval: float) -> None:
    """Say each text in turn, under the chat's rate limit."""
    for text in texts:
        await ws.send(text)
        await asyncio.sleep(interval)


async def heard_once_in_order(alice: Connection, bob: Connection, texts: list[str]) -> None:
    """Bob hears alice's ``texts`` once each, in order, with consecutive seq; alice hears
    them too, and no error on the way.

    Start it before alice talks: both keep reading while she does. A client that stops
    reading (its queue full) answers no ping, and the gateway closes it 40 s later, however
    long the test takes to talk and cut.
    """

    async def own_lines() -> list[Event]:  # Until alice hears her last line.
        own: list[Event] = []
        while not own or own[-1].get("text") != texts[-1]:
            own.append(json.loads(await within(alice.recv(), "alice to hear her own lines")))
        return own

    async def bob_hears() -> list[Event]:
        return [await next_event(bob, "message", nick="alice") for _ in texts]

    heard, own = await asyncio.gather(bob_hears(), own_lines())
    assert [event["text"] for event in heard] == texts
    first = heard[0]["seq"]
    assert [event["seq"] for event in heard] == list(range(first, first + len(texts)))
    assert [event for event in own if event["type"] == "error"] == []


async def owner(
    stack: DockerCompose, docker: docker_sdk.DockerClient, room: str, nick: str
) -> tuple[Container, str]:
    """The chat replica handling ``nick``'s connection in ``room`` now: its container, and
    its id as a replica."""
    member = json.loads(redis_cli(stack, docker, "HGET", f"wslab:chat:{room}:members", nick))
    lease = f"wslab:svc:chat:partition:{partition_of(member['conn'], ServiceSettings().partitions)}"

    async def holder() -> str:
        # Missing, or "@" and a time once released, until another replica takes it.
        while not (replica := redis_cli(stack, docker, "GET", lease).strip()) or replica[0] == "@":
            await asyncio.sleep(0.2)
        return replica

    replica = await within(holder(), f"a chat replica to hold {nick}'s partition")
    # A replica's id is its host name, the container's short id, and a suffix.
    container = next(
        chat
        for chat in containers(stack, docker, "chat")
        if replica.startswith(chat.attrs["Config"]["Hostname"] + "-")
    )
    return container, replica


async def test_killing_the_chat_replica_of_a_talker_twice_loses_and_repeats_nothing(
    stack: DockerCompose, gateway: Address, docker: docker_sdk.DockerClient
) -> None:
    room = "replica-room"
    assert len(containers(stack, docker, "chat")) == 2
    await until_shared(stack, docker)
    texts = [f"line {n}" for n in range(80)]
    async with open_chat(gateway, "alice", room) as alice, open_chat(gateway, "bob", room) as bob:
        await next_event(bob, "members", room=room, members=["alice", "bob"])
        listening = asyncio.create_task(heard_once_in_order(alice, bob, texts))
        talking = asyncio.create_task(say_slowly(alice, texts, interval=0.25))
        try:
            for _ in range(2):  # SIGKILL: no goodbye; then it restarts, as a new replica.
                await asyncio.sleep(2)
                handling, replica = await owner(stack, docker, room, "alice")
                await asyncio.to_thread(handling.kill)
                await asyncio.to_thread(handling.start)
                await until_shared(stack, docker, killed=replica)
            await talking
            await listening
        finally:
            talking.cancel()
            listening.cancel()


def kill_connections(stack: DockerCompose, docker: docker_sdk.DockerClient, name: str) -> int:
    """Kill the Redis connections named ``name`` (CLIENT KILL); return how many there were."""
    listed = redis_cli(stack, docker, "CLIENT", "LIST").splitlines()
    ids = [
        fields["id"]
        for fields in (dict(pair.split("=", 1) for pair in line.split()) for line in listed)
        if fields.get("name") == name
    ]
    for id in ids:
        redis_cli(stack, docker, "CLIENT", "KILL", "ID", id)
    return len(ids)


async def test_cutting_the_chat_replicas_redis_connections_mid_stream_loses_nothing(
    stack: DockerCompose, gateway: Address, docker: docker_sdk.DockerClient
) -> None:
    # As when Redis drops a replica past its output-buffer limit, or the network blinks:
    # what the gateway appended while a replica was away waits for it in the stream.
    room = "cut-room"
    texts = [f"line {n}" for n in range(40)]
    cuts = 0
    async with open_chat(gateway, "alice", room) as alice, open_chat(gateway, "bob", room) as bob:
        await next_event(bob, "members", room=room, members=["alice", "bob"])
        listening = asyncio.create_task(heard_once_in_order(alice, bob, texts))
        try:
            # Ten rounds: a few lines, then the cut, while those lines are on their way.
            for start in range(0, len(texts), 4):
                await say_slowly(alice, texts[start : start + 4], interval=0.25)
                cuts += await asyncio.to_thread(kill_connections, stack, docker, "wslab-chat")
            await listening
        finally:
            listening.cancel()
    assert cuts > 0


async def test_a_burst_of_a_thousand_clients_talking_at_once_gets_no_bus_down_and_leaves_no_ghost(
    gateway: Address,
) -> None:
    # Each client in a room of its own: the burst is of connections and lines, not fan-out.
    count = 1_000
    host, port = gateway
    patient = Limits(handshake_timeout=HANG, close_timeout=HANG)
    joined: list[int] = []
    go = asyncio.Event()

    async def one(number: int) -> None:
        url = f"ws://{host}:{port}/chat?nick=b{number}&room=burst-{number}"
        async with connect(url, proxy=None, limits=patient) as ws:

            async def next_of(kind: str, **fields: object) -> Event:
                """The next event of ``kind`` with ``fields``; none may be an error."""
                while True:
                    event = json.loads(await ws.recv())
                    assert event["type"] != "error", f"client {number} got {event}"
                    if event["type"] == kind and fields.items() <= event.items():
                        return event

            await next_of("members")
            await until_heard(ws, f"probe {number}")  # A second probe may still come.
            joined.append(number)
            await go.wait()
            await ws.send(f"line {number}")
            await next_of("message", text=f"line {number}")

    clients = [asyncio.create_task(one(number)) for number in range(count)]
    try:
        await until(
            lambda: len(joined) == count or any(client.done() for client in clients),
            f"{count} clients to join their rooms",
        )
        go.set()  # Everyone talks in the same instant.
        await within(asyncio.gather(*clients), f"{count} lines to be said")
    finally:
        await bus.cancel_and_wait(set(clients))

    async def burst_rooms() -> list[object]:
        async with open_chat(gateway, "counter", "burst-count") as ws:
            await ws.send(json.dumps({"type": "rooms"}))
            rooms = (await next_event(ws, "rooms"))["rooms"]
        assert isinstance(rooms, list)
        return [room for room in rooms if room["room"].startswith("burst-")]

    # Every close reached the chat: no member is left behind (the sweeper is not needed).
    await until(lambda: _only_counter(burst_rooms()), "the burst's members to leave their rooms")


async def _only_counter(rooms: Awaitable[list[object]]) -> bool:
    return await rooms == [{"room": "burst-count", "members": 1}]


async def test_a_flood_of_one_mebibyte_lines_is_refused_and_costs_a_talker_nothing(
    gateway: Address,
) -> None:
    host, port = gateway
    flood = "x" * (2**20 - 64)  # Under the gateway's 1 MiB frame limit, over /chat's 16 KiB.

    async def flooder(number: int) -> int:
        url = f"ws://{host}:{port}/chat?nick=flood{number}&room=flooded"
        refused = 0
        async with connect(url, proxy=None) as ws:
            for _ in range(10):
                await ws.send(flood)
            while refused < 10:
                event = json.loads(await ws.recv())
                refused += event.get("code") == "too_long"
        return refused

    async with open_chat(gateway, "talker", "flooded") as talker:
        await until_heard(talker, "can you hear me?")
        flooders = [asyncio.create_task(flooder(number)) for number in range(4)]
        try:
            # Within what the chat's burst (10) has left, however the lines are spaced:
            # each must be said while the floods go through the same gateway.
            for n in range(5):
                await talker.send(f"line {n}")
                await next_event(talker, "message", text=f"line {n}")
            assert await within(asyncio.gather(*flooders), "the floods to be refused") == [10] * 4
        finally:
            await bus.cancel_and_wait(set(flooders))
