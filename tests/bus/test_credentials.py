"""Tests of bus.credentials: each role's ACL rules, loaded into a real Redis, let it do its
work and nothing else; the files compose gives the containers."""

from __future__ import annotations

import stat
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import redis.asyncio as redis
from redis.exceptions import NoPermissionError

import bus
from bus.credentials import ADMIN, ROLES, acl_file, main

PASSWORD = "a-password-for-the-tests"

Login = Callable[[str], redis.Redis]


@pytest.fixture
async def login(redis_url: str) -> AsyncIterator[Login]:
    """Clients logged in as a role whose rules are loaded (ACL SETUSER) into the session's
    Redis, as its ACL file would load them; the users are deleted afterwards."""
    admin = redis.Redis.from_url(redis_url)
    clients: list[redis.Redis] = []

    def as_role(name: str) -> redis.Redis:
        client = redis.Redis.from_url(redis_url, username=name, password=PASSWORD)
        clients.append(client)
        return client

    for name, role in ROLES.items():
        await admin.execute_command("ACL", "SETUSER", name, *role.rules(PASSWORD).split())
    yield as_role
    for client in clients:
        await client.aclose()
    await admin.execute_command("ACL", "DELUSER", *ROLES)
    await admin.aclose()


async def test_each_role_may_do_its_work(login: Login) -> None:
    gateway, chat, stocks = login("gateway"), login("chat"), login("stocks")
    # The gateway appends as it does, with its script; a chat replica is registered.
    await chat.zadd(bus.service_replicas("chat"), {"replica-1": time.time() + 60})
    keys = [bus.service_stream("chat"), bus.service_replicas("chat")]
    appended = await gateway.eval(bus.APPEND, 2, *keys, "gw-1.1", "{}", 100)
    assert appended == bus.Appended.APPENDED
    await gateway.set("wslab:gw:gw-1:alive", 1, ex=5)
    assert await gateway.hgetall("wslab:stocks:quotes") == {}
    assert await gateway.publish("wslab:gw:gw-1", "canary") == 0
    await chat.rpush("wslab:chat:lobby:history", "{}")
    assert await chat.publish("wslab:topic:chat.lobby", "{}") == 0
    assert await chat.publish(bus.command_channel("gw-1", "chat"), "{}") == 0
    assert await chat.exists("wslab:gw:gw-1:alive") == 1
    await stocks.hset("wslab:stocks:quotes", "MSFT", "{}")
    assert await stocks.publish("wslab:topic:quotes.MSFT", "{}") == 0
    assert await stocks.publish(bus.command_channel("gw-1", "stocks"), "{}") == 0
    assert await stocks.eval("return redis.call('HLEN', KEYS[1])", 1, "wslab:stocks:quotes") == 1


@pytest.mark.parametrize(
    ("name", "attempt"),
    [
        ("stocks", lambda r: r.publish("wslab:topic:chat.lobby", "forged")),
        ("stocks", lambda r: r.publish(bus.command_channel("gw-1", "chat"), "forged")),
        ("chat", lambda r: r.publish(bus.gateway_channel("gw-1"), "forged")),
        ("stocks", lambda r: r.rpush("wslab:chat:lobby:history", "forged")),
        ("chat", lambda r: r.hset("wslab:stocks:quotes", "MSFT", "forged")),
        ("chat", lambda r: r.set("wslab:gw:gw-1:alive", 1)),
        ("gateway", lambda r: r.publish("wslab:topic-other", "x")),
        ("gateway", lambda r: r.hset("wslab:stocks:quotes", "MSFT", "forged")),
        ("gateway", lambda r: r.get("wslab:chat:conn:gw-1.1:nick")),
        ("gateway", lambda r: r.flushall()),
        ("chat", lambda r: r.config_get("maxmemory")),
        ("chat", lambda r: r.keys("*")),
        ("stocks", lambda r: r.script_flush()),
        ("stocks", lambda r: r.client_kill_filter(_type="pubsub")),
        ("stocks", lambda r: r.eval("return redis.call('DEL', KEYS[1])", 1, "wslab:chat:rooms")),
    ],
    ids=[
        "stocks publishes on a chat topic",
        "stocks sends the chat's commands",
        "chat publishes on a gateway's own channel",
        "stocks writes the chat's history",
        "chat writes the quotes",
        "chat forges a gateway's alive key",
        "gateway publishes outside its channels",
        "gateway writes the quotes",
        "gateway reads the chat's state",
        "FLUSHALL",
        "CONFIG",
        "KEYS",
        "SCRIPT FLUSH",
        "CLIENT KILL",
        "a script reaching another's keys",
    ],
)
async def test_redis_refuses_what_is_outside_a_role_s_acl(
    login: Login, name: str, attempt: Callable[[redis.Redis], object]
) -> None:
    with pytest.raises(NoPermissionError):
        await attempt(login(name))  # type: ignore[misc]


def test_the_operator_is_the_default_user_with_a_password_and_every_right() -> None:
    passwords = {ADMIN: "operator-password", **dict.fromkeys(ROLES, PASSWORD)}
    first = acl_file(passwords).splitlines()[0]
    assert first == "user default on >operator-password ~* &* +@all"


def test_the_files_keep_their_passwords_and_each_role_gets_its_url(tmp_path: Path) -> None:
    assert main([str(tmp_path), "--host", "redis"]) == 0
    acl = (tmp_path / "redis" / "users.acl").read_text()
    chat_url = (tmp_path / "chat" / "redis-url").read_text()
    password = (tmp_path / "chat" / "password").read_text().strip()
    assert chat_url == f"redis://chat:{password}@redis:6379/0\n"
    assert f"user chat on >{password} " in acl
    assert stat.S_IMODE((tmp_path / "redis" / "users.acl").stat().st_mode) == 0o600
    assert main([str(tmp_path)]) == 0  # A restart keeps the passwords.
    assert (tmp_path / "chat" / "redis-url").read_text() == chat_url
    assert (tmp_path / "redis" / "users.acl").read_text() == acl


def test_redis_s_files_and_data_are_given_to_its_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    (data / "appendonlydir").mkdir(parents=True)
    (data / "appendonlydir" / "appendonly.aof.1.incr.aof").write_text("")
    given: list[tuple[str, int, int]] = []
    monkeypatch.setattr(
        "bus.credentials.os.chown",
        lambda path, uid, gid, **_: given.append((str(path), uid, gid)),
    )
    root = tmp_path / "credentials"
    assert main([str(root), "--redis-owner", "999:999", "--chown", str(data)]) == 0
    owned = {path for path, uid, gid in given if (uid, gid) == (999, 999)}
    assert owned == {
        str(root / "redis" / "users.acl"),
        str(root / "redis" / "admin.password"),
        str(data),
        str(data / "appendonlydir"),
        str(data / "appendonlydir" / "appendonly.aof.1.incr.aof"),
    }
