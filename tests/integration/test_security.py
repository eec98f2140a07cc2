"""The attacks of docs/SECURITY.md against the real stack, as ``scripts/attacks.py`` runs
them (with a token-mode gateway and a gateway of low per-address limits beside the
stack's): every one is refused or costs a bounded amount, and the gateway's memory after
them is within 10% of before."""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Iterator

import docker as docker_sdk
import pytest
from testcontainers.compose import DockerCompose

from tests.integration.conftest import ROOT, TOKEN_SECRET, Address, containers, gateway_beside
from tests.waiting import HANG, within

#: What one address may open on the limits gateway; the attacks find the limits themselves.
LOW_LIMITS = {
    "WSLAB_MAX_CONNECTIONS_PER_ADDRESS": "20",
    "WSLAB_HANDSHAKE_RATE": "5",
    "WSLAB_HANDSHAKE_BURST": "40",
    # The attacks play the proxy: their connections come through the Docker bridge.
    "WSLAB_TRUSTED_PROXIES": "127.0.0.0/8,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16",
}


@pytest.fixture
def limits_gateway(
    stack: DockerCompose, docker: docker_sdk.DockerClient, compose_env: dict[str, str]
) -> Iterator[Address]:
    with gateway_beside(docker, compose_env, WSLAB_GATEWAY_ID="gw-limits", **LOW_LIMITS) as gw:
        yield gw


async def test_every_attack_is_refused_or_bounded_and_memory_comes_back(
    stack: DockerCompose,
    gateway: Address,
    token_gateway: Address,
    limits_gateway: Address,
    docker: docker_sdk.DockerClient,
    compose_env: dict[str, str],
) -> None:
    [container] = containers(stack, docker, "gateway")
    process = await asyncio.create_subprocess_exec(
        *[sys.executable, "scripts/attacks.py", "--gateway", "{}:{}".format(*gateway)],
        *["--token-gateway", "{}:{}".format(*token_gateway), "--token-secret", TOKEN_SECRET],
        *["--limits-gateway", "{}:{}".format(*limits_gateway)],
        *["--project", compose_env["COMPOSE_PROJECT_NAME"], "--gateway-container", container.id],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    # The slowest attack waits for the ping deadline (40 s), and all run at once.
    out, err = await within(process.communicate(), "the attacks to end", 3 * HANG)
    report = out.decode()
    print(report)  # The table of docs/SECURITY.md, as this run saw it (pytest -s).
    assert process.returncode == 0, report + err.decode()
    rows = [line for line in report.splitlines() if re.match(r"\| \d+ \|", line)]
    assert len(rows) >= 38, report  # Those of docs/SECURITY.md, every set included.
    assert all(row.endswith("| yes |") for row in rows), report
    memory = re.search(r"Gateway memory: ([\d.]+) MiB before, ([\d.]+) MiB after", report)
    assert memory is not None, report
    before, after = float(memory[1]), float(memory[2])
    assert after <= 1.1 * before, report
