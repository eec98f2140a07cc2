"""Least-privilege Redis in the compose stack (docs/SECURITY.md, "Redis"): Redis runs as an
unprivileged user, refuses what is outside a role's ACL and clients without a password, and
cannot be reached from the client's network."""

from __future__ import annotations

import docker as docker_sdk
from testcontainers.compose import DockerCompose

from tests.integration.conftest import containers, network, run_in


def test_redis_runs_as_an_unprivileged_user(
    stack: DockerCompose, docker: docker_sdk.DockerClient
) -> None:
    [redis] = containers(stack, docker, "redis")
    assert run_in(redis, "id", "-u") == (0, "999")


def test_redis_refuses_a_command_or_channel_outside_a_role_s_acl(
    stack: DockerCompose, docker: docker_sdk.DockerClient
) -> None:
    [redis] = containers(stack, docker, "redis")
    [stocks] = containers(stack, docker, "stocks")
    # The stocks service's own password, from the only container that has it.
    code, password = run_in(stocks, "cat", "/run/wslab/password")
    assert code == 0
    login = ["redis-cli", "--no-auth-warning", "--user", "stocks", "--pass", password]
    attempts = {
        ("PUBLISH", "wslab:topic:chat.lobby", "forged"): "access one of the channels",
        ("PUBLISH", "wslab:gw:any-gateway:chat", "forged"): "access one of the channels",
        ("RPUSH", "wslab:chat:lobby:history", "forged"): "access one of the keys",
        ("FLUSHALL",): "run the 'flushall' command",
        ("CONFIG", "SET", "maxmemory", "1"): "run the 'config|set' command",
    }
    for attempt, refusal in attempts.items():
        code, answer = run_in(redis, *login, *attempt)
        assert code == 0
        assert answer.startswith(f"NOPERM this user has no permissions to {refusal}"), answer
    # Its own work is allowed: the answer is how many gateways heard it.
    code, heard = run_in(redis, *login, "PUBLISH", "wslab:topic:quotes.MSFT", "{}")
    assert code == 0
    assert heard.isdigit(), heard
    # Without a password, nothing.
    for command in (["PING"], ["GET", "wslab:chat:rooms"]):
        code, answer = run_in(redis, "redis-cli", *command)
        assert answer.startswith("NOAUTH Authentication required"), answer


def test_the_client_s_network_does_not_reach_redis(
    stack: DockerCompose, docker: docker_sdk.DockerClient, compose_env: dict[str, str]
) -> None:
    probe = (
        "import socket\n"
        "try:\n"
        "    socket.create_connection(('redis', 6379), timeout=5)\n"
        "except OSError as exc:\n"
        "    print('unreachable:', type(exc).__name__)\n"
        "else:\n"
        "    print('reached')\n"
    )
    output = docker.containers.run(
        "wslab/gateway:dev",  # Built by every run of the stack, unlike the client's.
        ["python", "-c", probe],
        network=network(compose_env, "frontend"),
        remove=True,
    )
    assert output.decode().startswith("unreachable:")
