"""Tests of gateway.settings: the gateway's environment variables, options and ``--help``."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bus.settings import load_settings
from gateway.addresses import AddressLimits
from gateway.origins import DEVELOPMENT, OriginPolicy
from gateway.settings import Settings
from tests.waiting import HANG

ROOT = Path(__file__).parents[2]  # the repository, where the gateway package is

#: Every variable the gateway reads: its default as --help shows it, and its meaning.
VARIABLES = {
    "WSLAB_HOST": ("0.0.0.0", "address to listen on"),
    "WSLAB_PORT": ("4502", "port for HTTP and WebSocket (4502: the 2010 demo's)"),
    "WSLAB_TLS_CERT": (
        "''",
        "PEM file of the certificate chain served over TLS (https, wss); empty: no TLS",
    ),
    "WSLAB_TLS_KEY": ("''", "PEM file of the private key of WSLAB_TLS_CERT; empty: in it"),
    "REDIS_URL": ("redis://localhost:6379/0", "the Redis server of the bus"),
    "WSLAB_GATEWAY_ID": ("''", "this gateway's id on the bus; empty: gw-<8 random hex digits>"),
    "WSLAB_AUTH": (
        "anonymous",
        "anonymous: anyone may connect (a token presented is checked); token: only clients with"
        " a good token",
    ),
    "WSLAB_TOKEN_SECRET": ("''", "the secret tokens are signed with (HS256); empty: none"),
    "WSLAB_TOKEN_AUDIENCE": ("wslab", "the audience (aud) a token must name"),
    "WSLAB_ROUTES": (
        "/chat=chat:16384,/stocks=stocks:4096",
        "PATH=SERVICE[:BYTES] pairs served; BYTES: the largest message the service accepts"
        " (default: WSLAB_MAX_MESSAGE_SIZE)",
    ),
    "WSLAB_ECHO_PATH": (
        "/echo",
        "path where the gateway itself sends each message back, text as text and binary as"
        " binary, with no service; empty: none",
    ),
    "WSLAB_ORIGINS": (
        "http://localhost:*,https://localhost:*,http://127.0.0.1:*,https://127.0.0.1:*,"
        "http://[::1]:*,https://[::1]:*",
        "comma-separated origins whose pages may connect, besides the gateway's own: a port of"
        " * is any port, * is any origin, empty is the gateway's own only",
    ),
    "WSLAB_MAX_CONNECTIONS": (
        "10000",
        "open connections, HTTP and WebSocket, beyond which a new one gets 503",
    ),
    "WSLAB_MAX_CONNECTIONS_PER_ADDRESS": (
        "1000",
        "WebSocket connections one client address may hold open; beyond: 429",
    ),
    "WSLAB_HANDSHAKE_RATE": (
        "100.0",
        "WebSocket handshakes a second one client address may make on average; beyond: 429",
    ),
    "WSLAB_HANDSHAKE_BURST": (
        "1000",
        "WebSocket handshakes one client address may make at once",
    ),
    "WSLAB_TRUSTED_PROXIES": (
        "''",
        "comma-separated addresses or networks of proxies whose X-Forwarded-For names the"
        " client; * is any, empty is none",
    ),
    "WSLAB_MAX_HEADER_SIZE": ("16384", "largest request head, bytes; beyond: 431"),
    "WSLAB_REQUEST_TIMEOUT": (
        "10.0",
        "seconds for a whole request (head and body) or a WebSocket opening handshake to arrive;"
        " beyond: 408 or closed",
    ),
    "WSLAB_PING_INTERVAL": ("20.0", "seconds a WebSocket client may be quiet before a ping"),
    "WSLAB_PING_TIMEOUT": (
        "20.0",
        "seconds a ping may go unanswered before the client is closed (1011)",
    ),
    "WSLAB_KEEPALIVE_TIMEOUT": ("5", "seconds an idle HTTP keep-alive connection is kept"),
    "WSLAB_MAX_MESSAGE_SIZE": ("1048576", "largest message accepted from a client, bytes"),
    "WSLAB_SLOW_WRITE_BUFFER": (
        "65536",
        "bytes waiting to be sent to a client beyond which it is slow: its conflated topics keep"
        " only their latest message",
    ),
    "WSLAB_MAX_WRITE_BUFFER": (
        "1048576",
        "bytes waiting to be sent to a client beyond which it is closed as too slow",
    ),
    "WSLAB_REDIS_CONNECTIONS": ("50", "the most Redis connections; requests wait for one beyond"),
    "WSLAB_MAX_BACKLOG": (
        "200000",
        "entries a service's stream may hold before clients' messages get overloaded",
    ),
    "WSLAB_READY_TIMEOUT": ("1.0", "seconds /readyz waits for its canary through Redis"),
    "WSLAB_MAX_QUOTE_SYMBOLS": ("100", "symbols one GET /api/quotes may ask for"),
    "WSLAB_QUOTES_TIMEOUT": ("1.0", "seconds GET /api/quotes waits for Redis before a 503"),
    "WSLAB_LOG_LEVEL": ("INFO", "DEBUG, INFO, WARNING or ERROR"),
}


def load(environ: dict[str, str], argv: list[str] | None = None) -> Settings:
    return load_settings(Settings, [] if argv is None else argv, environ=environ)


def test_every_setting_has_its_variable() -> None:
    variables = [field.metadata["env"] for field in dataclasses.fields(Settings)]
    assert variables == list(VARIABLES)


def test_without_variables_the_settings_are_the_defaults() -> None:
    settings = load({})
    assert re.fullmatch(r"gw-[0-9a-f]{8}", settings.gateway_id)
    assert settings == Settings(
        host="0.0.0.0",
        port=4502,
        redis_url="redis://localhost:6379/0",
        gateway_id=settings.gateway_id,
        auth="anonymous",
        token_secret="",
        token_audience="wslab",
        routes="/chat=chat:16384,/stocks=stocks:4096",
        echo_path="/echo",
        origins=",".join(DEVELOPMENT),
        max_connections=10_000,
        max_connections_per_address=1000,
        handshake_rate=100.0,
        handshake_burst=1000,
        trusted_proxies="",
        max_header_size=16_384,
        request_timeout=10.0,
        ping_interval=20.0,
        ping_timeout=20.0,
        keepalive_timeout=5,
        max_message_size=1_048_576,
        slow_write_buffer=65_536,
        max_write_buffer=1_048_576,
        ready_timeout=1.0,
        max_quote_symbols=100,
        quotes_timeout=1.0,
        log_level="INFO",
    )
    assert settings.route_table == {"/chat": "chat", "/stocks": "stocks"}
    assert settings.route_max_sizes == {"/chat": 16_384, "/stocks": 4096}
    assert settings.origin_policy == OriginPolicy(DEVELOPMENT)
    assert settings.proxies == []


def test_each_variable_sets_its_setting() -> None:
    environ = {
        "WSLAB_HOST": "127.0.0.1",
        "WSLAB_PORT": "8080",
        "WSLAB_TLS_CERT": "/run/tls/gateway.pem",
        "WSLAB_TLS_KEY": "/run/tls/gateway-key.pem",
        "REDIS_URL": "redis://redis:6379/1",
        "WSLAB_GATEWAY_ID": "gw-east-1",
        "WSLAB_AUTH": "token",
        "WSLAB_TOKEN_SECRET": "s3cret",
        "WSLAB_TOKEN_AUDIENCE": "east",
        "WSLAB_ROUTES": "/talk=chat,/quotes=stocks",
        "WSLAB_ECHO_PATH": "/echo/v2",
        "WSLAB_ORIGINS": "http://a.example,https://b.example:8443",
        "WSLAB_MAX_CONNECTIONS": "5",
        "WSLAB_MAX_CONNECTIONS_PER_ADDRESS": "3",
        "WSLAB_HANDSHAKE_RATE": "2.5",
        "WSLAB_HANDSHAKE_BURST": "4",
        "WSLAB_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.1",
        "WSLAB_MAX_HEADER_SIZE": "8192",
        "WSLAB_REQUEST_TIMEOUT": "2.5",
        "WSLAB_PING_INTERVAL": "30",
        "WSLAB_PING_TIMEOUT": "15",
        "WSLAB_KEEPALIVE_TIMEOUT": "30",
        "WSLAB_MAX_MESSAGE_SIZE": "4096",
        "WSLAB_SLOW_WRITE_BUFFER": "8192",
        "WSLAB_MAX_WRITE_BUFFER": "32768",
        "WSLAB_READY_TIMEOUT": "0.25",
        "WSLAB_MAX_QUOTE_SYMBOLS": "20",
        "WSLAB_QUOTES_TIMEOUT": "0.5",
        "WSLAB_LOG_LEVEL": "DEBUG",
    }
    settings = load(environ)
    assert settings == Settings(
        host="127.0.0.1",
        port=8080,
        tls_cert="/run/tls/gateway.pem",
        tls_key="/run/tls/gateway-key.pem",
        redis_url="redis://redis:6379/1",
        gateway_id="gw-east-1",
        auth="token",
        token_secret="s3cret",
        token_audience="east",
        routes="/talk=chat,/quotes=stocks",
        echo_path="/echo/v2",
        origins="http://a.example,https://b.example:8443",
        max_connections=5,
        max_connections_per_address=3,
        handshake_rate=2.5,
        handshake_burst=4,
        trusted_proxies="10.0.0.0/8, 192.0.2.1",
        max_header_size=8192,
        request_timeout=2.5,
        ping_interval=30.0,
        ping_timeout=15.0,
        keepalive_timeout=30,
        max_message_size=4096,
        slow_write_buffer=8192,
        max_write_buffer=32768,
        ready_timeout=0.25,
        max_quote_symbols=20,
        quotes_timeout=0.5,
        log_level="DEBUG",
    )
    assert settings.route_table == {"/talk": "chat", "/quotes": "stocks"}
    assert settings.origin_policy == OriginPolicy(("http://a.example", "https://b.example:8443"))
    assert settings.proxies == ["10.0.0.0/8", "192.0.2.1"]
    assert settings.address_limits == AddressLimits(3, 2.5, 4)


def test_a_trusted_proxy_that_is_no_address_is_refused() -> None:
    with pytest.raises(ValueError, match="WSLAB_TRUSTED_PROXIES: 'proxy' is not an address"):
        Settings(trusted_proxies="10.0.0.1,proxy")


def test_a_tls_key_without_its_certificate_is_refused() -> None:
    with pytest.raises(ValueError, match="WSLAB_TLS_KEY is set without WSLAB_TLS_CERT"):
        Settings(tls_key="/run/tls/gateway-key.pem")


def test_token_mode_needs_a_secret_which_may_come_from_a_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="WSLAB_AUTH=token needs WSLAB_TOKEN_SECRET"):
        Settings(auth="token")
    secret = tmp_path / "secret"
    secret.write_text("from-a-file\n")
    settings = load({"WSLAB_AUTH": "token", "WSLAB_TOKEN_SECRET_FILE": str(secret)})
    assert settings.token_secret == "from-a-file"
    assert settings.authentication.required
    with pytest.raises(ValueError, match="WSLAB_AUTH must be one of anonymous, token"):
        Settings(auth="password")


def test_options_override_the_variables() -> None:
    argv = ["--port", "9000", "--routes", "/talk=chat", "--gateway-id", "gw-cli"]
    settings = load({"WSLAB_PORT": "8080", "WSLAB_ROUTES": "/chat=chat"}, argv)
    assert (settings.port, settings.route_table, settings.gateway_id) == (
        9000,
        {"/talk": "chat"},
        "gw-cli",
    )


@pytest.mark.parametrize("environ", [{}, {"WSLAB_GATEWAY_ID": ""}])
def test_each_gateway_gets_a_random_id_when_none_is_set(environ: dict[str, str]) -> None:
    first, second = load(environ), load(environ)
    assert re.fullmatch(r"gw-[0-9a-f]{8}", first.gateway_id)
    assert first.gateway_id != second.gateway_id
    assert re.fullmatch(r"gw-[0-9a-f]{8}", Settings().gateway_id)


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
def test_routes_are_path_service_pairs(value: str, routes: dict[str, str]) -> None:
    assert load({"WSLAB_ROUTES": value}).route_table == routes


@pytest.mark.parametrize(
    ("value", "sizes"),
    [
        ("/chat=chat:100", {"/chat": 100}),
        ("/chat = chat : 100, /stocks=stocks", {"/chat": 100, "/stocks": 1000}),
        ("/big=big:5000", {"/big": 1000}),
    ],
)
def test_a_route_may_set_its_largest_message_up_to_the_gateway_s(
    value: str, sizes: dict[str, int]
) -> None:
    settings = load({"WSLAB_ROUTES": value, "WSLAB_MAX_MESSAGE_SIZE": "1000"})
    assert settings.route_max_sizes == sizes


@pytest.mark.parametrize("value", ["/chat=chat:", "/chat=chat:0", "/chat=chat:big"])
def test_a_route_size_that_is_not_a_positive_number_is_an_error(value: str) -> None:
    with pytest.raises(ValueError, match="BYTES must be a positive number"):
        Settings(routes=value)


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
def test_a_route_that_is_not_a_pair_is_an_error(value: str, pair: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        Settings(routes=value)
    assert str(excinfo.value) == f"WSLAB_ROUTES: {pair!r} is not PATH=SERVICE[:BYTES]"


def test_an_empty_echo_path_turns_the_echo_off() -> None:
    assert load({"WSLAB_ECHO_PATH": ""}).echo_path == ""


@pytest.mark.parametrize("value", ["echo", "/echo?x=1", "/echo#top", "/echo/{name}", "/ echo"])
def test_an_echo_path_that_is_no_plain_path_is_an_error(value: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        Settings(echo_path=value)
    assert str(excinfo.value) == f"WSLAB_ECHO_PATH: {value!r} is not a path (/NAME)"


def test_an_echo_path_that_is_a_route_is_an_error() -> None:
    with pytest.raises(ValueError) as excinfo:
        Settings(routes="/chat=chat,/echo=echo-service", echo_path="/echo")
    assert str(excinfo.value) == "WSLAB_ECHO_PATH: /echo is a route of WSLAB_ROUTES already"
    assert Settings(routes="/chat=chat,/echo=echo-service", echo_path="").echo_path == ""


@pytest.mark.parametrize(
    ("value", "patterns"),
    [
        ("", ()),
        (" http://a.example , http://b.example ", ("http://a.example", "http://b.example")),
        ("http://a.example, ,http://b.example,", ("http://a.example", "http://b.example")),
        (" , ", ()),
        ("*", ("*",)),
    ],
)
def test_origins_are_a_comma_separated_list_and_empty_means_the_gateway_s_own_only(
    value: str, patterns: tuple[str, ...]
) -> None:
    assert load({"WSLAB_ORIGINS": value}).origin_policy == OriginPolicy(patterns)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("WSLAB_PORT", "http", "WSLAB_PORT: invalid int value: 'http'"),
        ("WSLAB_MAX_CONNECTIONS", "lots", "WSLAB_MAX_CONNECTIONS: invalid int value: 'lots'"),
        ("WSLAB_MAX_MESSAGE_SIZE", "1.5", "WSLAB_MAX_MESSAGE_SIZE: invalid int value: '1.5'"),
        ("WSLAB_READY_TIMEOUT", "soon", "WSLAB_READY_TIMEOUT: invalid float value: 'soon'"),
        ("WSLAB_ROUTES", "/chat", "WSLAB_ROUTES: '/chat' is not PATH=SERVICE[:BYTES]"),
        ("WSLAB_ECHO_PATH", "echo", "WSLAB_ECHO_PATH: 'echo' is not a path (/NAME)"),
        ("WSLAB_PORT", "0", "WSLAB_PORT must be positive, not 0"),
        (
            "WSLAB_ORIGINS",
            "evil.example",
            "WSLAB_ORIGINS: 'evil.example' is not an origin (scheme://host[:port], port may be *)",
        ),
    ],
)
def test_a_bad_variable_is_a_usage_error_naming_it(
    name: str, value: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc_info:
        load({name: value})
    assert exc_info.value.code == 2
    assert capsys.readouterr().err.endswith(f" error: {message}\n")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("port", 0),
        ("max_connections", -1),
        ("max_message_size", 0),
        ("slow_write_buffer", 0),
        ("max_write_buffer", -1),
        ("ready_timeout", 0.0),
        ("max_quote_symbols", 0),
        ("quotes_timeout", -0.5),
    ],
)
def test_numbers_must_be_positive(name: str, value: float) -> None:
    env = {field.name: field.metadata["env"] for field in dataclasses.fields(Settings)}[name]
    with pytest.raises(ValueError) as excinfo:
        Settings(**{name: value})
    assert str(excinfo.value) == f"{env} must be positive, not {value}"


@pytest.mark.parametrize("slow", [32768, 65536])
def test_the_slow_write_buffer_must_be_below_the_max_write_buffer(slow: int) -> None:
    with pytest.raises(ValueError) as excinfo:
        Settings(slow_write_buffer=slow, max_write_buffer=32768)
    assert str(excinfo.value) == (
        f"WSLAB_SLOW_WRITE_BUFFER ({slow}) must be below WSLAB_MAX_WRITE_BUFFER (32768)"
    )


def test_the_log_level_is_one_of_four() -> None:
    with pytest.raises(ValueError) as excinfo:
        Settings(log_level="LOUD")
    assert str(excinfo.value) == "WSLAB_LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR"


# python -m gateway


def run_gateway(*args: str, **environ: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m gateway`` with none of the gateway's variables but ``environ``."""
    env = {name: value for name, value in os.environ.items() if name not in VARIABLES}
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        cwd=ROOT,
        env={**env, **environ},
        capture_output=True,
        text=True,
        timeout=HANG,
        check=False,
    )


def test_python_m_gateway_help_lists_every_variable_with_its_default() -> None:
    result = run_gateway("--help")
    assert result.returncode == 0
    assert result.stderr == ""
    assert result.stdout.startswith("usage: python -m gateway [-h]")
    # argparse wraps lines, and a long default in the middle of a word.
    out = "".join(result.stdout.split())
    for name, (default, meaning) in VARIABLES.items():
        assert "".join(f"{meaning} (env {name}, default {default})".split()) in out


def test_python_m_gateway_exits_with_status_2_on_a_bad_variable() -> None:
    result = run_gateway(WSLAB_MAX_CONNECTIONS="lots")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.endswith(
        "python -m gateway: error: WSLAB_MAX_CONNECTIONS: invalid int value: 'lots'\n"
    )
