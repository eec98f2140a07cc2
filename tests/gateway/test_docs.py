"""Tests of gateway.docs: the API docs pages load everything from the gateway itself.

The apps are called in process through httpx's ASGI transport, which runs no lifespan: the
gateway's pages need no Redis.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from gateway import Settings, create_app
from gateway.docs import ASSETS, ASSETS_URL, serve_docs_offline

#: The content type expected of each kind of file: Python's mimetypes names JavaScript
#: text/javascript or application/javascript, depending on the system's mime.types.
CONTENT_TYPES = {
    ".js": ("text/javascript", "application/javascript"),
    ".css": ("text/css",),
    ".png": ("image/png",),
}

#: What a page loads: an src or href attribute, or the ``url`` Swagger UI fetches the spec from.
LOADED = re.compile(r"""(?:src|href)="([^"]*)"|url: '([^']*)'""")


@pytest.fixture
async def gateway(unreachable_redis_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the gateway as create_app builds it."""
    app = create_app(Settings(redis_url=unreachable_redis_url, gateway_id="gw-docs"))
    async with client_of(app) as http:
        yield http


def client_of(app: FastAPI, root_path: str = "") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, root_path=root_path)
    return httpx.AsyncClient(transport=transport, base_url="http://gateway")


def offline_app(**kwargs: Any) -> FastAPI:
    """A bare app with the offline docs pages."""
    app = FastAPI(title="offline", docs_url=None, redoc_url=None, **kwargs)
    serve_docs_offline(app)
    return app


def loaded(page: str) -> list[str]:
    """The URLs ``page`` loads: its src and href attributes, and Swagger UI's spec URL."""
    return [attribute or spec for attribute, spec in LOADED.findall(page)]


async def get_page(http: httpx.AsyncClient, path: str) -> str:
    response = await http.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    return response.text


def assert_local(page: str) -> None:
    """Assert that ``page`` names no other host: every URL it loads is a path of the app."""
    assert "://" not in page
    for url in loaded(page):
        assert url.startswith("/")
        assert not url.startswith("//")


# The gateway's pages.


async def test_docs_shows_swagger_ui_from_the_gateways_own_files(
    gateway: httpx.AsyncClient,
) -> None:
    page = await get_page(gateway, "/docs")
    assert_local(page)
    assert set(loaded(page)) == {
        f"{ASSETS_URL}/swagger-ui.css",
        f"{ASSETS_URL}/swagger-ui-bundle.js",
        f"{ASSETS_URL}/favicon.png",
        "/openapi.json",
    }
    assert "<title>wslab gateway - Swagger UI</title>" in page


async def test_redoc_shows_redoc_from_the_gateways_own_files_without_google_fonts(
    gateway: httpx.AsyncClient,
) -> None:
    page = await get_page(gateway, "/redoc")
    assert_local(page)
    assert set(loaded(page)) == {
        f"{ASSETS_URL}/redoc.standalone.js",
        f"{ASSETS_URL}/favicon.png",
    }
    assert '<redoc spec-url="/openapi.json"></redoc>' in page
    assert "fonts.googleapis.com" not in page


async def test_every_file_the_docs_pages_load_answers_200_with_its_content_type(
    gateway: httpx.AsyncClient,
) -> None:
    urls = set()
    for path in ("/docs", "/redoc"):
        urls.update(loaded(await get_page(gateway, path)))
    urls.discard("/openapi.json")
    assert urls == {f"{ASSETS_URL}/{name}" for name in ASSETS}
    for url in sorted(urls):
        response = await gateway.get(url)
        assert response.status_code == 200, url
        content_type = response.headers["content-type"].partition(";")[0]
        assert content_type in CONTENT_TYPES[url[url.rindex(".") :]], url
        assert len(response.content) > 1000, url


async def test_the_files_are_swagger_ui_5_and_redoc_2(gateway: httpx.AsyncClient) -> None:
    """The majors FastAPI's own pages load from the CDN, which its page code is written for."""
    swagger = (await gateway.get(f"{ASSETS_URL}/swagger-ui-bundle.js")).text
    assert re.search(r'PACKAGE_VERSION:"5\.\d+\.\d+"', swagger)
    redoc = (await gateway.get(f"{ASSETS_URL}/redoc.standalone.js")).text
    assert re.search(r'ReDoc Version: ","2\.\d+\.\d+"', redoc)
    css = (await gateway.get(f"{ASSETS_URL}/swagger-ui.css")).text
    assert css.startswith(".swagger-ui")


async def test_the_swagger_ui_oauth2_redirect_page_is_served_locally(
    gateway: httpx.AsyncClient,
) -> None:
    page = await get_page(gateway, "/docs/oauth2-redirect")
    assert "oauth2" in page
    assert loaded(page) == []


async def test_the_openapi_schema_the_pages_show_answers_without_the_docs_pages(
    gateway: httpx.AsyncClient,
) -> None:
    response = await gateway.get("/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/quotes" in paths
    assert not {"/docs", "/redoc", "/docs/oauth2-redirect"} & set(paths)
    assert not any(path.startswith(ASSETS_URL) for path in paths)


async def test_an_unknown_asset_answers_404(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get(f"{ASSETS_URL}/swagger-ui.js")
    assert response.status_code == 404


# serve_docs_offline on other apps.


async def test_behind_a_proxy_the_pages_load_everything_under_the_root_path() -> None:
    async with client_of(offline_app(), root_path="/gw") as http:
        swagger = await get_page(http, "/gw/docs")
        redoc = await get_page(http, "/gw/redoc")
        assert all(url.startswith("/gw/") for url in loaded(swagger) + loaded(redoc))
        assert "window.location.origin + '/gw/docs/oauth2-redirect'" in swagger
        assert '<redoc spec-url="/gw/openapi.json"></redoc>' in redoc
        for url in loaded(swagger) + loaded(redoc):
            assert (await http.get(url)).status_code == 200, url


async def test_the_pages_take_the_swagger_ui_parameters_and_oauth2_redirect_of_the_app() -> None:
    app = offline_app(
        swagger_ui_parameters={"docExpansion": "none"},
        swagger_ui_oauth2_redirect_url="/auth/back",
    )
    async with client_of(app) as http:
        page = await get_page(http, "/docs")
        assert '"docExpansion": "none"' in page
        assert "window.location.origin + '/auth/back'" in page
        await get_page(http, "/auth/back")
        assert (await http.get("/docs/oauth2-redirect")).status_code == 404


async def test_a_page_given_none_is_not_served() -> None:
    app = FastAPI(docs_url=None, redoc_url=None)
    serve_docs_offline(app, redoc_url=None)
    async with client_of(app) as http:
        await get_page(http, "/docs")
        assert (await http.get("/redoc")).status_code == 404


async def test_without_an_openapi_schema_nothing_is_served() -> None:
    app = offline_app(openapi_url=None)
    async with client_of(app) as http:
        for path in ("/docs", "/redoc", "/docs/oauth2-redirect", f"{ASSETS_URL}/favicon.png"):
            assert (await http.get(path)).status_code == 404, path


@pytest.mark.parametrize("pages", [{}, {"docs_url": None}, {"redoc_url": None}])
def test_an_app_with_fastapis_own_cdn_pages_is_refused(pages: dict[str, Any]) -> None:
    app = FastAPI(**pages)
    with pytest.raises(ValueError, match="docs_url=None and redoc_url=None"):
        serve_docs_offline(app)
