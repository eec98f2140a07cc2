"""``wslab replay --copies`` against the real stack: the sample sessions played in 20 copies
at once, each with nicknames of its own, all pass."""

from __future__ import annotations

import asyncio
import json
import sys

from tests.integration.conftest import ROOT, Address
from tests.waiting import within


async def test_twenty_copies_of_the_sample_sessions_all_pass_with_a_latency_per_expectation(
    gateway: Address,
) -> None:
    host, port = gateway
    process = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "client", "replay", "sessions/chat.json", "sessions/quotes.json"],
        *["--url", f"ws://{host}:{port}", "--copies", "20", "--json", "--no-proxy"],
        *["--timeout", "30"],  # for a loaded machine: a healthy stack answers in milliseconds
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    out, err = await within(process.communicate(), "wslab replay --copies to finish")
    assert process.returncode == 0, out.decode() + err.decode()
    chat, quotes = (json.loads(line) for line in out.splitlines())
    assert (chat["session"], chat["passed"], chat["failures"]) == ("two people chatting", 20, [])
    assert [(step["step"], step["met"]) for step in chat["steps"]] == [
        (2, 20),
        (4, 20),
        (5, 20),
        (7, 20),
    ]
    assert (quotes["session"], quotes["passed"], quotes["failures"]) == ("stock quotes", 20, [])
