"""Tests of the page at ``/``: served by the gateway with every file it loads, none from
elsewhere (the browser tests in tests/integration/test_browser.py run it for real)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from gateway import Settings, create_app
from gateway.app import STATIC

#: What a page or a module loads: src and href attributes, and ES module imports.
LOADED = re.compile(r"""(?:src|href)="([^"#]+)"|\bfrom\s+"([^"]+)"|\bimport\s+"([^"]+)\"""")


@pytest.fixture
async def http(unreachable_redis_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(redis_url=unreachable_redis_url, gateway_id="gw-page"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield client


def loaded(text: str) -> set[str]:
    return {next(url for url in found if url) for found in LOADED.findall(text)}


async def test_the_page_is_served_at_the_root(http: httpx.AsyncClient) -> None:
    response = await http.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "<title>" in response.text


async def test_every_file_the_page_loads_is_served_by_the_gateway(
    http: httpx.AsyncClient,
) -> None:
    page = (await http.get("/")).text
    wanted = {url for url in loaded(page) if url.startswith("/static/")}
    assert wanted, "the page loads nothing from /static/"
    for module in sorted(STATIC.glob("*.js")):
        wanted |= {f"/static/{url.removeprefix('./')}" for url in loaded(module.read_text())}
    for url in sorted(wanted):
        response = await http.get(url)
        assert response.status_code == 200, url


async def test_nothing_is_loaded_from_another_host() -> None:
    for path in sorted(STATIC.iterdir()):
        for url in loaded(path.read_text()):
            assert "://" not in url, f"{path.name} loads {url}"
            assert not url.startswith("//"), f"{path.name} loads {url}"
