"""The API docs pages, Swagger UI at ``/docs`` and ReDoc at ``/redoc``, served offline.

FastAPI's own pages load their JavaScript, CSS and favicon from a CDN (and ReDoc's fonts
from Google), so they stay blank where the browser reaches no CDN. Here the gateway serves
the same pages with those files itself, under :data:`ASSETS_URL`. The files are
swagger-ui-dist 5 and ReDoc 2, the majors FastAPI's pages use, as the ``fastapi-offline``
package ships them in its ``static`` folder (Swagger UI: Apache 2.0; ReDoc and FastAPI's
favicon: MIT): upgrading that package upgrades them.

Build the app with ``docs_url=None, redoc_url=None``, so that FastAPI adds no CDN pages of its
own, then call :func:`serve_docs_offline`. This mirrors FastAPI's own pages
(``FastAPI.setup``): the app's title, ``openapi_url``, ``swagger_ui_oauth2_redirect_url``,
``swagger_ui_init_oauth`` and ``swagger_ui_parameters`` apply, and so does the request's
``root_path`` behind a proxy.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import HTMLResponse

__all__ = ["ASSETS", "ASSETS_URL", "serve_docs_offline"]

ASSETS_URL = "/docs-assets"
"""Where the pages' files are served: ``ASSETS_URL + "/" + name`` for each of :data:`ASSETS`."""

ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")
"""The files the pages load, from ``fastapi_offline/static``."""

_PACKAGE = ("fastapi_offline", "static")


def serve_docs_offline(
    app: FastAPI, *, docs_url: str | None = "/docs", redoc_url: str | None = "/redoc"
) -> None:
    """Serve Swagger UI at ``docs_url`` and ReDoc at ``redoc_url`` (None: not served), with
    the files they load, and Swagger UI's OAuth2 redirect page, all from ``app`` itself.

    ``app`` must have been built with ``docs_url=None, redoc_url=None``: FastAPI's own pages,
    which load from a CDN, would otherwise answer first. Without an ``openapi_url`` there
    is no schema to show, and so nothing is served.
    """
    if app.docs_url is not None or app.redoc_url is not None:
        raise ValueError(
            "build the app with docs_url=None and redoc_url=None: FastAPI's own docs pages"
            " load from a CDN and would answer before the offline ones"
        )
    openapi_url = app.openapi_url
    if openapi_url is None:
        return
    # Fails here, at startup, if fastapi-offline is missing or lacks its static folder.
    app.mount(ASSETS_URL, StaticFiles(packages=[_PACKAGE]), name="docs-assets")
    oauth2_redirect_url = app.swagger_ui_oauth2_redirect_url

    if docs_url is not None:

        async def swagger_ui_html(request: Request) -> HTMLResponse:
            root = _root_path(request)
            return get_swagger_ui_html(
                openapi_url=root + openapi_url,
                title=f"{app.title} - Swagger UI",
                swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
                swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
                swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
                oauth2_redirect_url=oauth2_redirect_url and root + oauth2_redirect_url,
                init_oauth=app.swagger_ui_init_oauth,
                swagger_ui_parameters=app.swagger_ui_parameters,
            )

        app.add_route(docs_url, swagger_ui_html, include_in_schema=False)
        if oauth2_redirect_url:

            async def swagger_ui_redirect(request: Request) -> HTMLResponse:
                return get_swagger_ui_oauth2_redirect_html()

            app.add_route(oauth2_redirect_url, swagger_ui_redirect, include_in_schema=False)

    if redoc_url is not None:

        async def redoc_html(request: Request) -> HTMLResponse:
            root = _root_path(request)
            return get_redoc_html(
                openapi_url=root + openapi_url,
                title=f"{app.title} - ReDoc",
                redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
                redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
                with_google_fonts=False,
            )

        app.add_route(redoc_url, redoc_html, include_in_schema=False)


def _root_path(request: Request) -> str:
    """The prefix a proxy serves the app under, as FastAPI's own docs pages take it."""
    root: str = request.scope.get("root_path", "")
    return root.rstrip("/")
