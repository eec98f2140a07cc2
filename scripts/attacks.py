"""Attacks on a running wslab stack, and what came of each: the table in docs/SECURITY.md.

Usage, from the repository root, against the compose stack::

    python scripts/attacks.py --gateway 127.0.0.1:4502 \\
        --gateway-container "$(docker compose ps -q gateway)"
    python scripts/attacks.py --gateway 127.0.0.1:4502 --gateway-container ... \\
        --token-gateway 127.0.0.1:4503 --token-secret "$WSLAB_TOKEN_SECRET" \\
        --limits-gateway 127.0.0.1:4504

The token rows need a gateway in token mode (``--token-gateway``), the per-address rows one
with low per-address limits that trusts this machine as a proxy (``--limits-gateway``); each
set is left out without its gateway. Each attack is bounded in count and time and talks only
to the gateways given and, through ``docker``, to the compose project's own containers
(``--project``, by default the gateway container's; without either the Redis rows are left
out). They run concurrently; the slowest waits for the gateway's ping deadline (40 s by
default). Printed: a Markdown table, one row per attack with what was seen and whether it
was **refused** (an HTTP status, a close or an error with its reason) or cost a **bounded**
amount; then the gateway's memory before and after (``--gateway-container``, the VmRSS of
its Python process). Exits 1 if any attack was neither refused nor bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from client import connect
from client.tokens import mint
from wsdraft import HandshakeRejected

#: The longest any one attack may take; only a hang reaches it.
BOUND = 90.0

OPEN_GAUGE = "wslab_open_connections{"


@dataclass(frozen=True)
class Outcome:
    """What an attack met: ``seen``, and whether that is a refusal or a bounded cost."""

    seen: str
    held: bool


@dataclass(frozen=True)
class Attack:
    name: str
    run: Callable[[], Awaitable[Outcome]]


# Raw HTTP and frames ----------------------------------------------------------------------


async def exchange(address: tuple[str, int], chunks: Sequence[bytes], pause: float = 0.0) -> bytes:
    """Send ``chunks`` (``pause`` seconds apart) and read until the server closes."""
    reader, writer = await asyncio.open_connection(*address)

    async def send() -> None:
        for chunk in chunks:
            writer.write(chunk)
            await writer.drain()
            if pause:
                await asyncio.sleep(pause)

    sending = asyncio.create_task(send())
    try:
        return await reader.read()
    except ConnectionError:
        return b""
    finally:
        sending.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await sending
        writer.close()


def status_line(response: bytes) -> str:
    head = response.split(b"\r\n", 1)[0].decode("latin-1")
    body = response.partition(b"\r\n\r\n")[2].decode("utf-8", "replace").strip()
    return f"`{head}`" + (f": {body}" if body else "") if head else "closed, no answer"


def upgrade(path: str, *headers: str, version: str = "13", http: str = "1.1") -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/{http}",
        "Host: localhost",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        f"Sec-WebSocket-Version: {version}",
        *headers,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def refused_with(response: bytes, status: int) -> Outcome:
    return Outcome(status_line(response), response.startswith(f"HTTP/1.1 {status} ".encode()))


async def raw_frames(
    address: tuple[str, int], path: str, frames: bytes, held: Sequence[int] = (1002, 1007, 1009)
) -> Outcome:
    """Open an RFC 6455 connection by hand, send ``frames``, report the server's close:
    held if its code is one of ``held``."""
    reader, writer = await asyncio.open_connection(*address)
    try:
        writer.write(upgrade(path))
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            return Outcome(status_line(head), False)
        writer.write(frames)
        data = await reader.read()
    finally:
        writer.close()
    # The server's Close: 0x88, a length, the code and the reason, after any text frames.
    at = data.rfind(b"\x88")
    if at < 0 or len(data) < at + 4:
        return Outcome("closed without a Close frame", True)
    code = int.from_bytes(data[at + 2 : at + 4], "big")
    reason = data[at + 4 : at + 2 + data[at + 1]].decode("utf-8", "replace")
    return Outcome(f"closed {code}: {reason}", code in held)


def client_frame(
    opcode: int, payload: bytes, *, masked: bool = True, length: int | None = None
) -> bytes:
    size = len(payload) if length is None else length
    mask_bit = 0x80 if masked else 0
    if size < 126:
        head = bytes([0x80 | opcode, mask_bit | size])
    else:
        head = bytes([0x80 | opcode, mask_bit | 127]) + size.to_bytes(8, "big")
    if not masked:
        return head + payload
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


# The attacks ------------------------------------------------------------------------------


def http_attacks(gateway: tuple[str, int]) -> list[Attack]:
    big = b"X-Padding: " + b"x" * 60_000
    slow_head = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: yes\r\n"
    body_head = b"POST /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\n"

    async def huge_head_one_write() -> Outcome:
        request = upgrade("/chat").replace(b"\r\n\r\n", b"\r\n" + big + b"\r\n\r\n")
        return refused_with(await exchange(gateway, [request]), 431)

    async def huge_head_in_pieces() -> Outcome:
        request = upgrade("/chat").replace(b"\r\n\r\n", b"\r\n" + big + b"\r\n\r\n")
        pieces = [request[i : i + 1000] for i in range(0, len(request), 1000)]
        return refused_with(await exchange(gateway, pieces), 431)

    async def slowloris_head() -> Outcome:
        began = time.monotonic()
        answer = await exchange(gateway, [bytes([b]) for b in slow_head], pause=1.0)
        seen = f"{status_line(answer)} after {time.monotonic() - began:.0f} s"
        return Outcome(seen, answer.startswith(b"HTTP/1.1 408 "))

    async def slow_body() -> Outcome:
        began = time.monotonic()
        chunks = [body_head, *(b"x" for _ in range(100))]
        answer = await exchange(gateway, chunks, pause=1.0)
        elapsed = time.monotonic() - began
        return Outcome(f"closed after {elapsed:.0f} s ({status_line(answer)})", elapsed < 30)

    async def idle_keep_alive() -> Outcome:
        began = time.monotonic()
        answer = await exchange(gateway, [b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"])
        elapsed = time.monotonic() - began
        return Outcome(f"answered, then closed after {elapsed:.0f} s idle", b"200 OK" in answer)

    async def slow_second_request() -> Outcome:
        began = time.monotonic()
        first = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"
        answer = await exchange(gateway, [first, *(bytes([b]) for b in slow_head)], pause=1.0)
        last = answer[answer.rfind(b"HTTP/1.1 ") :]
        seen = f"first answered; then {status_line(last)} after {time.monotonic() - began:.0f} s"
        return Outcome(seen, last.startswith(b"HTTP/1.1 408 "))

    async def many_idle_connections() -> Outcome:
        began = time.monotonic()
        opened = await asyncio.gather(*(asyncio.open_connection(*gateway) for _ in range(100)))
        closed = await asyncio.gather(*(reader.read() for reader, _ in opened))
        for _, writer in opened:
            writer.close()
        elapsed = time.monotonic() - began
        seen = f"all {len(closed)} closed by the gateway after {elapsed:.0f} s"
        return Outcome(seen, all(data == b"" for data in closed))

    async def http_1_0_upgrade() -> Outcome:
        return refused_with(await exchange(gateway, [upgrade("/chat", http="1.0")]), 505)

    async def unknown_version() -> Outcome:
        return refused_with(await exchange(gateway, [upgrade("/chat", version="8")]), 426)

    async def evil_origin() -> Outcome:
        request = upgrade("/chat", "Origin: http://evil.example")
        return refused_with(await exchange(gateway, [request]), 403)

    async def null_origin() -> Outcome:
        return refused_with(await exchange(gateway, [upgrade("/chat", "Origin: null")]), 403)

    async def unknown_path() -> Outcome:
        return refused_with(await exchange(gateway, [upgrade("/admin")]), 403)

    return [
        Attack("A request head of 60 KB in one write", huge_head_one_write),
        Attack("A request head of 60 KB in 1 KB pieces", huge_head_in_pieces),
        Attack("A request head sent a byte a second (slowloris)", slowloris_head),
        Attack("A request body sent a byte a second", slow_body),
        Attack("An idle keep-alive HTTP connection", idle_keep_alive),
        Attack("A second keep-alive request sent a byte a second", slow_second_request),
        Attack("100 connections that never send a byte", many_idle_connections),
        Attack("A WebSocket upgrade over HTTP/1.0", http_1_0_upgrade),
        Attack("A WebSocket version the gateway does not speak (8)", unknown_version),
        Attack("A page of another site (Origin: http://evil.example)", evil_origin),
        Attack("A sandboxed page or file (Origin: null)", null_origin),
        Attack("A WebSocket to a path that is no route (/admin)", unknown_path),
    ]


def frame_attacks(gateway: tuple[str, int]) -> list[Attack]:
    async def bad_utf8() -> Outcome:
        return await raw_frames(gateway, "/chat", client_frame(0x1, b"caf\xe9"))

    async def huge_length() -> Outcome:
        return await raw_frames(gateway, "/chat", client_frame(0x1, b"", length=2**62))

    async def unmasked() -> Outcome:
        return await raw_frames(gateway, "/chat", client_frame(0x1, b"hi", masked=False))

    return [
        Attack("A text frame that is not UTF-8", bad_utf8),
        Attack("A frame claiming 2^62 bytes", huge_length),
        Attack("An unmasked client frame", unmasked),
    ]


async def chat_errors(url: str, messages: Sequence[str], expected: str) -> list[dict[str, str]]:
    """Send ``messages`` on a new connection to ``url``; the errors it got up to ``expected``.

    Reading stops at the first error coded ``expected``, or when nothing comes for BOUND
    seconds (the attack was not refused): never on a guess of how long an answer takes.
    """
    errors: list[dict[str, str]] = []
    async with ws_connect(url, open_timeout=BOUND) as ws:
        for message in messages:
            await ws.send(message)
        with contextlib.suppress(TimeoutError):
            while not any(error["code"] == expected for error in errors):
                event = json.loads(await asyncio.wait_for(ws.recv(), BOUND))
                if event.get("type") == "error":
                    errors.append(event)
    return errors


def codes(errors: Sequence[dict[str, str]]) -> str:
    counted: dict[str, int] = {}
    for error in errors:
        counted[error["code"]] = counted.get(error["code"], 0) + 1
    return ", ".join(f"{count} x `{code}`" for code, count in counted.items()) or "no error"


def service_attacks(gateway: tuple[str, int]) -> list[Attack]:
    host, port = gateway
    base = f"ws://{host}:{port}"
    run = os.getpid()

    async def expecting(code: str, url: str, messages: Sequence[str]) -> Outcome:
        errors = await chat_errors(url, messages, code)
        return Outcome(codes(errors), any(error["code"] == code for error in errors))

    async def huge_message() -> Outcome:
        return await expecting("too_long", f"{base}/chat?nick=big{run}", ["x" * 2**20])

    async def chat_flood() -> Outcome:
        lines = [json.dumps({"type": "say", "text": f"flood {n}"}) for n in range(100)]
        return await expecting("rate_limited", f"{base}/chat?nick=fl{run}", lines)

    async def stocks_amplification() -> Outcome:
        received = errors = 0
        async with ws_connect(f"{base}/stocks", open_timeout=BOUND) as ws:
            for _ in range(2000):
                await ws.send('{"type": "list"}')
            with contextlib.suppress(TimeoutError):
                for _ in range(2000):  # One answer to each: the list, or an error.
                    message = await asyncio.wait_for(ws.recv(), BOUND)
                    received += len(message)
                    errors += '"rate_limited"' in str(message)
        seen = (
            f"{received / 1024:.0f} KiB back for 2,000 requests ({received / 2000:.0f} B each),"
            f" {errors} x `rate_limited`"
        )
        # Before the limit: 6.9 MB, 3.4 KB a request. Now the answer to most is an error.
        return Outcome(seen, received < 2000 * 200 and errors > 0)

    async def not_json() -> Outcome:
        return await expecting("bad_json", f"{base}/chat?nick=nj{run}", ["{oops"])

    async def bad_room() -> Outcome:
        join = json.dumps({"type": "join", "room": "../../etc"})
        return await expecting("bad_request", f"{base}/chat?nick=br{run}", [join])

    async def many_rooms() -> Outcome:
        joins = [json.dumps({"type": "join", "room": f"r{run}-{n}"}) for n in range(12)]
        return await expecting("too_many_rooms", f"{base}/chat?nick=mr{run}", joins)

    async def taken_nick() -> Outcome:
        url = f"{base}/chat?nick=owner{run}&room=taken-{run}"
        async with ws_connect(url, open_timeout=BOUND) as owner:
            while json.loads(await asyncio.wait_for(owner.recv(), BOUND))["type"] != "members":
                pass  # welcome, the join's history: the nickname is owner's once in the room.
            return await expecting("nick_taken", f"{url}-elsewhere", [])

    async def eavesdrop() -> Outcome:
        request = json.dumps({"type": "history", "room": f"private-{run}"})
        return await expecting("not_member", f"{base}/chat?nick=ev{run}", [request])

    async def private_to_stranger() -> Outcome:
        message = json.dumps({"type": "private", "to": "nobody-here", "text": "psst"})
        return await expecting("no_such_member", f"{base}/chat?nick=pm{run}", [message])

    async def silent_client() -> Outcome:
        # By hand: it reads nothing until the server closes, so no pong ever goes out.
        began = time.monotonic()
        outcome = await raw_frames(gateway, "/stocks", b"", held=(1011,))
        return Outcome(f"{outcome.seen} after {time.monotonic() - began:.0f} s", outcome.held)

    return [
        Attack("A 1 MiB line on /chat (the chat takes 16 KiB)", huge_message),
        Attack("100 chat lines at once", chat_flood),
        Attack("2,000 `list` requests on one /stocks connection", stocks_amplification),
        Attack("A message that starts as JSON and is not", not_json),
        Attack("Joining a room named `../../etc`", bad_room),
        Attack("Joining 12 rooms", many_rooms),
        Attack("Taking a nickname in use, in another room", taken_nick),
        Attack("Reading a room's history without joining it", eavesdrop),
        Attack("A private message to someone not in the room", private_to_stranger),
        Attack("A client that never answers pings", silent_client),
    ]


def token_attacks(gateway: tuple[str, int], secret: str) -> list[Attack]:
    host, port = gateway
    base = f"ws://{host}:{port}/chat"

    async def rejected(headers: list[tuple[str, str]]) -> Outcome:
        try:
            async with connect(f"{base}?nick=alice", proxy=None, headers=headers):
                return Outcome("accepted", False)
        except HandshakeRejected as exc:
            return Outcome(f"`{exc.status}`: {exc.reason}", exc.status in (401, 403))

    def bearer(token: str) -> list[tuple[str, str]]:
        return [("Authorization", f"Bearer {token}")]

    now = time.time()

    async def no_token() -> Outcome:
        return await rejected([])

    async def forged() -> Outcome:
        return await rejected(bearer(mint("alice", "x" * 40, now=now)))

    async def expired() -> Outcome:
        return await rejected(bearer(mint("alice", secret, now=now - 7200)))

    async def unsigned() -> Outcome:
        head = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
        claims = json.dumps({"sub": "alice", "aud": "wslab", "exp": now + 60}).encode()
        body = base64.urlsafe_b64encode(claims).rstrip(b"=").decode()
        return await rejected(bearer(f"{head}.{body}."))

    async def impostor() -> Outcome:
        url = f"{base}?nick=alice&room=impostors-{os.getpid()}"
        async with ws_connect(
            url, additional_headers=bearer(mint("mallory", secret, now=now))
        ) as ws:
            welcome = json.loads(await asyncio.wait_for(ws.recv(), BOUND))
        return Outcome(f"welcomed as `{welcome.get('nick')}`", welcome.get("nick") == "mallory")

    async def forbidden_room() -> Outcome:
        token = mint("eve", secret, now=now, rooms=["team-*"])
        url = f"{base}?room=vault"
        async with ws_connect(url, additional_headers=bearer(token)) as ws:
            events = [json.loads(await asyncio.wait_for(ws.recv(), BOUND)) for _ in range(2)]
        codes_seen = [event.get("code") for event in events if event.get("type") == "error"]
        histories = [event for event in events if event.get("type") == "history"]
        return Outcome(
            f"errors {codes_seen}, {len(histories)} history", codes_seen == ["forbidden"]
        )

    return [
        Attack("Token mode: no token", no_token),
        Attack("Token mode: a token signed with another secret", forged),
        Attack("Token mode: an expired token", expired),
        Attack("Token mode: an unsigned token (`alg: none`)", unsigned),
        Attack("Token mode: asking for someone else's nickname", impostor),
        Attack("Token mode: a room the token does not allow", forbidden_room),
    ]


def address_attacks(gateway: tuple[str, int]) -> list[Attack]:
    """What one address may open, on a gateway that trusts the caller as a proxy
    (``WSLAB_TRUSTED_PROXIES``): each attack names its own address in X-Forwarded-For."""
    host, port = gateway
    url = f"ws://{host}:{port}/stocks"
    most = 2000  # Connections or handshakes tried before the limit is declared absent.

    async def until_refused(forwarded_for: str, hold: bool) -> Outcome:
        """Open connections as ``forwarded_for``, held open or closed at once, until one
        is refused; what refused it, after how many."""
        async with contextlib.AsyncExitStack() as held:
            for opened in range(most):
                headers = {"X-Forwarded-For": forwarded_for}
                try:
                    ws = await held.enter_async_context(
                        ws_connect(url, additional_headers=headers, open_timeout=BOUND)
                    )
                except InvalidStatus as exc:
                    body = (exc.response.body or b"").decode().strip()
                    seen = f"`{exc.response.status_code}`: {body}, after {opened} accepted"
                    return Outcome(seen, exc.response.status_code == 429)
                if not hold:
                    await ws.close()
        return Outcome(f"{most} accepted", False)

    async def held_open() -> Outcome:
        return await until_refused("198.51.100.1", hold=True)

    async def handshakes() -> Outcome:
        return await until_refused("198.51.100.2", hold=False)

    async def forged() -> Outcome:
        # What the client wrote is on the left; the proxy appends the peer it saw.
        return await until_refused("203.0.113.66, 198.51.100.3", hold=True)

    return [
        Attack("Connections held open from one address", held_open),
        Attack("Handshakes from one address, one after another", handshakes),
        Attack("A forged X-Forwarded-For entry, through a trusted proxy", forged),
    ]


def redis_attacks(project: str, gateway: tuple[str, int]) -> list[Attack]:
    def docker(*args: str) -> str:
        done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=BOUND)
        return (done.stdout + done.stderr).strip()

    def container(service: str) -> str:
        labels = [f"com.docker.compose.project={project}", f"com.docker.compose.service={service}"]
        return docker("ps", "-q", *(f"--filter=label={label}" for label in labels)).split()[0]

    async def from_client_network() -> Outcome:
        probe = (
            "import socket\ntry:\n socket.create_connection(('redis', 6379), timeout=5)\n"
            " print('reached')\nexcept OSError as e:\n print('unreachable:', type(e).__name__)"
        )
        seen = await asyncio.to_thread(
            docker, "run", "--rm", "--network", f"{project}_frontend", "wslab/gateway:dev",
            "python", "-c", probe,
        )  # fmt: skip
        return Outcome(seen, seen.startswith("unreachable"))

    async def without_password() -> Outcome:
        redis = await asyncio.to_thread(container, "redis")
        seen = await asyncio.to_thread(
            docker, "exec", redis, "redis-cli", "GET", "wslab:chat:rooms"
        )
        return Outcome(seen, seen.startswith("NOAUTH"))

    async def forged_publish() -> Outcome:
        redis, stocks = await asyncio.gather(
            asyncio.to_thread(container, "redis"), asyncio.to_thread(container, "stocks")
        )
        password = await asyncio.to_thread(docker, "exec", stocks, "cat", "/run/wslab/password")
        seen = await asyncio.to_thread(
            docker, "exec", redis, "redis-cli", "--no-auth-warning", "--user", "stocks",
            "--pass", password, "PUBLISH", "wslab:topic:chat.lobby", "forged",
        )  # fmt: skip
        return Outcome(seen, seen.startswith("NOPERM"))

    async def abandoned_room() -> Outcome:
        host, port = gateway
        room = f"left-behind-{os.getpid()}"
        async with ws_connect(f"ws://{host}:{port}/chat?room={room}", open_timeout=BOUND) as ws:
            while json.loads(await asyncio.wait_for(ws.recv(), BOUND))["type"] != "members":
                pass  # welcome, then the join's history: the room has keys now.
        redis = await asyncio.to_thread(container, "redis")
        login = 'REDISCLI_AUTH="$(cat /run/wslab/admin.password)" redis-cli'
        ttl = f"{login} TTL wslab:chat:{room}:history"
        seen = await asyncio.to_thread(docker, "exec", redis, "sh", "-c", ttl)
        held = seen.isdigit() and int(seen) > 0
        return Outcome(f"its history expires in {seen} s unless the room is used again", held)

    return [
        Attack("A room left behind (its keys in Redis)", abandoned_room),
        Attack("Redis from the client container's network", from_client_network),
        Attack("Redis without a password", without_password),
        Attack("The stock service publishing on a chat topic", forged_publish),
    ]


# Running them -----------------------------------------------------------------------------


def compose_project(container: str) -> str:
    """The compose project ``container`` belongs to."""
    label = '{{index .Config.Labels "com.docker.compose.project"}}'
    done = subprocess.run(
        ["docker", "inspect", "--format", label, container],
        capture_output=True, text=True, timeout=BOUND, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def gateway_rss(container: str) -> int:
    """The resident memory of the gateway's Python process in ``container``, in KiB."""
    read = (
        "import os\nfor pid in os.listdir('/proc'):\n"
        " try:\n  cmd = open(f'/proc/{pid}/cmdline', 'rb').read()\n except OSError:\n  continue\n"
        " if cmd.startswith(b'python') and b'-m\\x00gateway' in cmd:\n"
        "  print([l for l in open(f'/proc/{pid}/status') if l.startswith('VmRSS')][0].split()[1])\n"
        "  break"
    )
    done = subprocess.run(
        ["docker", "exec", container, "python", "-c", read],
        capture_output=True, text=True, timeout=BOUND, check=True,
    )  # fmt: skip
    return int(done.stdout.split()[0])


async def attempt(attack: Attack) -> Outcome:
    try:
        return await asyncio.wait_for(attack.run(), BOUND)
    except TimeoutError:
        return Outcome(f"no outcome within {BOUND:g} s", False)
    except (ConnectionClosed, InvalidStatus, HandshakeRejected, OSError) as exc:
        return Outcome(f"{type(exc).__name__}: {exc}", False)


async def run(args: argparse.Namespace) -> list[tuple[Attack, Outcome]]:
    host, _, port = args.gateway.rpartition(":")
    gateway = (host, int(port))
    attacks = [*http_attacks(gateway), *frame_attacks(gateway), *service_attacks(gateway)]
    if args.token_gateway:
        token_host, _, token_port = args.token_gateway.rpartition(":")
        attacks += token_attacks((token_host, int(token_port)), args.token_secret)
    project = args.project
    if project is None and args.gateway_container:
        project = compose_project(args.gateway_container)
    if project:
        attacks += redis_attacks(project, gateway)
    if args.limits_gateway:
        limits_host, _, limits_port = args.limits_gateway.rpartition(":")
        attacks += address_attacks((limits_host, int(limits_port)))
    outcomes = await asyncio.gather(*(attempt(attack) for attack in attacks))
    return list(zip(attacks, outcomes, strict=True))


def table(results: Sequence[tuple[Attack, Outcome]]) -> str:
    lines = ["| # | attack | outcome | held |", "|---:|---|---|---|"]
    for number, (attack, outcome) in enumerate(results, 1):
        seen = outcome.seen.replace("|", "\\|").replace("\n", " ")
        lines.append(
            f"| {number} | {attack.name} | {seen} | {'yes' if outcome.held else '**no**'} |"
        )
    return "\n".join(lines)


def open_connections(gateway: str) -> float:
    """How many WebSocket connections ``gateway`` (HOST:PORT) has open, by its /metrics."""
    with urllib.request.urlopen(f"http://{gateway}/metrics", timeout=BOUND) as answer:
        lines = answer.read().decode().splitlines()
    return sum(float(line.split()[-1]) for line in lines if line.startswith(OPEN_GAUGE))


def wait_for_closes(gateway: str, open_before: float) -> None:
    """Wait until ``gateway`` has no more connections open than ``open_before``."""
    deadline = time.monotonic() + BOUND
    while (still := open_connections(gateway)) > open_before:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{still:g} connections still open on {gateway} after {BOUND} s")
        time.sleep(0.1)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gateway", required=True, help="HOST:PORT of a gateway (anonymous)")
    parser.add_argument("--token-gateway", help="HOST:PORT of a gateway in token mode")
    parser.add_argument("--token-secret", default=os.environ.get("WSLAB_TOKEN_SECRET", ""))
    parser.add_argument(
        "--limits-gateway",
        help="HOST:PORT of a gateway with low per-address limits that trusts this machine as"
        " a proxy (WSLAB_TRUSTED_PROXIES)",
    )
    parser.add_argument(
        "--project", help="the compose project, for the Redis attacks (default: the gateway's)"
    )
    parser.add_argument("--gateway-container", help="the gateway's container, for its memory")
    args = parser.parse_args(argv)
    before = gateway_rss(args.gateway_container) if args.gateway_container else None
    open_before = open_connections(args.gateway)
    results = asyncio.run(run(args))
    print(table(results))
    if before is not None:
        wait_for_closes(args.gateway, open_before)
        after = gateway_rss(args.gateway_container)
        print(f"\nGateway memory: {before / 1024:.1f} MiB before, {after / 1024:.1f} MiB after"
              f" ({(after - before) / before:+.1%})")  # fmt: skip
    return 0 if all(outcome.held for _, outcome in results) else 1


if __name__ == "__main__":
    sys.exit(main())
