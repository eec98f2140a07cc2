"""The attacks of docs/SECURITY.md against the real stack, as ``scripts/attacks.py`` runs
them (with a token-mode gateway beside the stack's): every one is refused or costs a
bounded amount, and the gateway's memory after them is within 10% of before."""

from __future__ import annotations

import asyncio
import re
import sys

import docker as docker_sdk
from testcontainers.compose import DockerCompose

from tests.integration.conftest import ROOT, TOKEN_SECRET, Address, containers
from tests.waiting import HANG, within


async def test_every_attack_is_refused_or_bounded_and_memory_comes_back(
    stack: DockerCompose,
    gateway: Address,
    token_gateway: Address,
    docker: docker_sdk.DockerClient,
    compose_env: dict[str, str],
) -> None:
    [container] = containers(stack, docker, "gateway")
    process = await asyncio.create_subprocess_exec(
        *[sys.executable, "scripts/attacks.py", "--gateway", "{}:{}".format(*gateway)],
        *["--token-gateway", "{}:{}".format(*token_gateway), "--token-secret", TOKEN_SECRET],
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
    assert len(rows) >= 25, report
    assert all(row.endswith("| yes |") for row in rows), report
    memory = re.search(r"Gateway memory: ([\d.]+) MiB before, ([\d.]+) MiB after", report)
    assert memory is not None, report
    before, after = float(memory[1]), float(memory[2])
    assert after <= 1.1 * before, report
