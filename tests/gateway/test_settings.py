"""Tests of gateway.settings: reading the gateway's environment variables."""

from __future__ import annotations

import re

import pytest

from gateway.settings import ENVIRONMENT, Settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Start each test with none of the gateway's variables set."""
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_without_variables_the_settings_are_the_defaults() -> None:
    settings = Settings.from_env()
    assert re.fullmatch(r"gw-[0-9a-f]{8}", settings.gateway_id)
    assert settings == Settings(
        host="0.0.0.0",
        port=4502,
        redis_url="redis://localhost:6379/0",
        gateway_id=settings.gateway_id,
        routes={"/chat": "chat", "/stocks": "stocks"},
        origins=None,
        max_connections=10_000,
        max_message_size=1_048_576,
        ready_timeout=1.0,
    )


def test_the_defaults_shown_by_help_are_the_defaults_of_settings() -> None:
    settings = Settings(gateway_id="gw-x")
    shown = {name: default for name, (default, _) in ENVIRONMENT.items()}
    assert shown == {
        "WSLAB_HOST": settings.host,
        "WSLAB_PORT": str(settings.port),
        "REDIS_URL": settings.redis_url,
        "WSLAB_GATEWAY_ID": "gw-<random>",
        "WSLAB_ROUTES": ",".join(f"{path}={name}" for path, name in settings.routes.items()),
        "WSLAB_ORIGINS": "",
        "WSLAB_MAX_CONNECTIONS": str(settings.max_connections),
        "WSLAB_MAX_MESSAGE_SIZE": str(settings.max_message_size),
        "WSLAB_READY_TIMEOUT": str(settings.ready_timeout),
    }


def test_each_variable_sets_its_setting(clean_environment: pytest.MonkeyPatch) -> None:
    variables = {
        "WSLAB_HOST": "127.0.0.1",
        "WSLAB_PORT": "8080",
        "REDIS_URL": "redis://redis:6379/1",
        "WSLAB_GATEWAY_ID": "gw-east-1",
        "WSLAB_ROUTES": "/talk=chat,/quotes=stocks",
        "WSLAB_ORIGINS": "http://a.example,https://b.example:8443",
        "WSLAB_MAX_CONNECTIONS": "5",
        "WSLAB_MAX_MESSAGE_SIZE": "4096",
        "WSLAB_READY_TIMEOUT": "0.25",
    }
    for name, value in variables.items():
        clean_environment.setenv(name, value)
    assert Settings.from_env() == Settings(
        host="127.0.0.1",
        port=8080,
        redis_url="redis://redis:6379/1",
        gateway_id="gw-east-1",
        routes={"/talk": "chat", "/quotes": "stocks"},
        origins=frozenset({"http://a.example", "https://b.example:8443"}),
        max_connections=5,
        max_message_size=4096,
        ready_timeout=0.25,
    )


def test_each_gateway_gets_a_random_id_when_none_is_set(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    clean_environment.setenv("WSLAB_GATEWAY_ID", "")
    first, second = Settings.from_env(), Settings.from_env()
    assert re.fullmatch(r"gw-[0-9a-f]{8}", first.gateway_id)
    assert first.gateway_id != second.gateway_id


@pytest.mark.parametrize(
    ("value", "routes"),
    [
        ("/chat=chat", {"/chat": "chat"}),
        (" /chat=chat , /stocks=stocks ", {"/chat": "chat", "/stocks": "stocks"}),
        ("/chat = chat", {"/chat": "chat"}),
        ("/a/b=svc-1", {"/a/b": "svc-1"}),
        ("/chat=chat,/chat=other", {"/chat": "other"}),
    ],
)
def test_routes_are_path_service_pairs(
    clean_environment: pytest.MonkeyPatch, value: str, routes: dict[str, str]
) -> None:
    clean_environment.setenv("WSLAB_ROUTES", value)
    assert Settings.from_env().routes == routes


@pytest.mark.parametrize(
    ("value", "pair"),
    [
        ("chat=chat", "chat=chat"),
        ("/chat", "/chat"),
        ("/chat=", "/chat="),
        ("=chat", "=chat"),
        ("", ""),
        ("/chat=chat,", ""),
    ],
)
def test_a_route_that_is_not_a_pair_is_an_error(
    clean_environment: pytest.MonkeyPatch, value: str, pair: str
) -> None:
    clean_environment.setenv("WSLAB_ROUTES", value)
    with pytest.raises(ValueError) as excinfo:
        Settings.from_env()
    assert str(excinfo.value) == f"WSLAB_ROUTES: {pair!r} is not PATH=SERVICE"


@pytest.mark.parametrize(
    ("value", "origins"),
    [
        ("", None),
        ("http://a.example", frozenset({"http://a.example"})),
        (" http://a.example , http://b.example ", frozenset({"http://a.example", "http://b.example"})),
        ("http://a.example, ,http://b.example,", frozenset({"http://a.example", "http://b.example"})),
        (" , ", None),
    ],
)  # fmt: skip
def test_origins_are_a_comma_separated_set_and_empty_means_any(
    clean_environment: pytest.MonkeyPatch, value: str, origins: frozenset[str] | None
) -> None:
    clean_environment.setenv("WSLAB_ORIGINS", value)
    assert Settings.from_env().origins == origins


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("WSLAB_PORT", "http", "invalid literal for int() with base 10: 'http'"),
        ("WSLAB_MAX_CONNECTIONS", "lots", "invalid literal for int() with base 10: 'lots'"),
        ("WSLAB_MAX_MESSAGE_SIZE", "1.5", "invalid literal for int() with base 10: '1.5'"),
        ("WSLAB_READY_TIMEOUT", "soon", "could not convert string to float: 'soon'"),
    ],
)
def test_a_number_that_does_not_parse_is_an_error(
    clean_environment: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    clean_environment.setenv(name, value)
    with pytest.raises(ValueError) as excinfo:
        Settings.from_env()
    assert str(excinfo.value) == message
