"""Tests of gateway.health: the gateway image's health check."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gateway.health import health_url
from tests.gateway.process import free_port
from tests.waiting import HANG

HEALTH = Path(__file__).parents[2] / "gateway" / "health.py"


def test_the_health_check_asks_http_on_the_gateway_s_port() -> None:
    assert health_url({}) == "http://127.0.0.1:4502/healthz"
    assert health_url({"WSLAB_PORT": "8443"}) == "http://127.0.0.1:8443/healthz"


def test_the_health_check_asks_https_when_the_gateway_serves_tls() -> None:
    environ = {"WSLAB_TLS_CERT": "/run/secrets/tls_cert", "WSLAB_PORT": "4502"}
    assert health_url(environ) == "https://127.0.0.1:4502/healthz"


def test_the_health_check_fails_saying_why_when_nothing_answers() -> None:
    port = free_port()
    done = subprocess.run(
        [sys.executable, "-I", str(HEALTH)],
        env={"WSLAB_PORT": str(port)},
        capture_output=True,
        text=True,
        timeout=HANG,
    )
    assert done.returncode == 1
    assert done.stdout.startswith(f"http://127.0.0.1:{port}/healthz: <urlopen error")
