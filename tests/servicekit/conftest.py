from __future__ import annotations

from pathlib import Path

import pytest

from servicekit import ServiceSettings


@pytest.fixture
def settings(redis_url: str, tmp_path: Path) -> ServiceSettings:
    """Settings for a service on the test Redis, with a quick heartbeat."""
    return ServiceSettings(
        redis_url=redis_url, health_file=str(tmp_path / "healthy"), heartbeat_interval=0.05
    )
