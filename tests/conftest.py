"""Fixtures shared by every suite: Docker, and a real Redis in a container.

Tests that need Docker use the ``docker`` fixture. Without Docker they skip, unless
``WSLAB_REQUIRE_DOCKER=1`` (set by scripts/test in CI), which turns the skip into a failure:
a container test never skips silently in CI.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import docker as docker_sdk
import pytest

# Ryuk, testcontainers' reaper, is an image we cannot pull here; every fixture cleans up.
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

from testcontainers.community.redis import RedisContainer

#: The image Redis runs from: scripts/build-base-image makes it from Debian packages.
REDIS_IMAGE = os.environ.get("WSLAB_REDIS_IMAGE", "wslab/base:bookworm")
REDIS_COMMAND = "redis-server --protected-mode no --save '' --appendonly no"


@pytest.fixture(scope="session")
def docker() -> docker_sdk.DockerClient:
    """A Docker client; skips (or fails under WSLAB_REQUIRE_DOCKER=1) without Docker."""
    try:
        client = docker_sdk.from_env()
        client.ping()
    except docker_sdk.errors.DockerException as exc:
        message = f"Docker is unavailable: {exc}"
        if os.environ.get("WSLAB_REQUIRE_DOCKER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return client


@pytest.fixture(scope="session")
def redis_container(docker: docker_sdk.DockerClient) -> Iterator[RedisContainer]:
    """One Redis for the session, from the local image (never pulled)."""
    try:
        docker.images.get(REDIS_IMAGE)
    except docker_sdk.errors.ImageNotFound:
        pytest.fail(f"image {REDIS_IMAGE} is missing: run scripts/prepare-offline first")
    with RedisContainer(REDIS_IMAGE).with_command(REDIS_COMMAND) as container:
        yield container


@pytest.fixture
def redis_url(redis_container: RedisContainer) -> str:
    """The URL of the session's Redis, emptied before each test."""
    redis_container.get_client().flushall()
    host = redis_container.get_container_host_ip()
    port = redis_container.get_exposed_port(redis_container.port)
    return f"redis://{host}:{port}/0"


@pytest.fixture
def unreachable_redis_url() -> str:
    """A Redis URL on a loopback port where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"
