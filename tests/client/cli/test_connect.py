"""``wslab connect`` against the independent draft server (tests/client/draft_server.py)."""

from __future__ import annotations

import subprocess

import pytest

from client.cli import ExitStatus
from tests.client.cli.running import Result, installed_wslab, pipeline, wslab
from tests.waiting import HANG


@pytest.fixture
def url(threaded_server_port: tuple[int, int]) -> str:
    return f"ws://127.0.0.1:{threaded_server_port[0]}"


@pytest.fixture
def tls_url(threaded_server_port: tuple[int, int]) -> str:
    return f"wss://localhost:{threaded_server_port[1]}"


def test_connect_sends_each_line_and_prints_each_reply_on_one_line(url: str) -> None:
    result = wslab(
        "connect",
        f"{url}/echo",
        stdin="Hello\nfragments:split in three\nbig:70000\nbinary:00ff10\n",
    )
    assert result == Result(
        ExitStatus.SUCCESS,
        f"Hello\nsplit in three\n{'x' * 70000}\n[binary 3 bytes] 00ff10\n",
        "",
    )


def test_connect_sends_lines_as_binary_messages_with_binary(url: str) -> None:
    result = wslab("connect", "--binary", f"{url}/echo", stdin="AB\n")
    assert result.stdout == "[binary 2 bytes] 4142\n"
    assert result.status == ExitStatus.SUCCESS


def test_connect_exits_0_when_the_server_closes_cleanly(url: str) -> None:
    result = wslab("connect", f"{url}/echo", stdin="one\nclose:bye\nnever sent\n")
    assert result.status == ExitStatus.SUCCESS
    assert result.stdout.splitlines()[0] == "one"


def test_connect_works_over_wss_with_a_custom_ca(tls_url: str, cafile: str) -> None:
    result = wslab("connect", "--cacert", cafile, f"{tls_url}/echo", stdin="secure\n")
    assert (result.status, result.stdout) == (ExitStatus.SUCCESS, "secure\n")


def test_connect_works_over_wss_in_insecure_mode(tls_url: str) -> None:
    result = wslab("connect", "--insecure", f"{tls_url}/echo", stdin="unverified\n")
    assert (result.status, result.stdout) == (ExitStatus.SUCCESS, "unverified\n")


@pytest.mark.parametrize(
    ("path", "options", "status", "message"),
    [
        (
            "/forbidden",
            [],
            ExitStatus.HANDSHAKE_FAILED,
            "wslab: server rejected the handshake with 403: origin not allowed here\n",
        ),
        (
            "/bad-hello",
            [],
            ExitStatus.HANDSHAKE_FAILED,
            "wslab: invalid handshake: the server HELLO digest is wrong\n",
        ),
        (
            "/silent",
            ["--timeout", "0.3"],
            ExitStatus.TIMEOUT,
            "wslab: timed out after 0.3 s opening ws://127.0.0.1:{port}/silent\n",
        ),
        (
            "/a:b",
            [],
            ExitStatus.USAGE,
            "wslab: ws://127.0.0.1:{port}/a:b is not a valid WebSocket URL: invalid resource "
            "name: it must not contain ':', spaces or control characters, even %-encoded\n",
        ),
    ],
    ids=["rejected", "bad-hello", "timeout", "bad-url"],
)
def test_connect_reports_failures_in_one_line_with_an_exit_status(
    url: str, path: str, options: list[str], status: ExitStatus, message: str
) -> None:
    result = wslab("connect", *options, f"{url}{path}", stdin="hi\n")
    port = url.rpartition(":")[2]
    assert (result.status, result.stdout, result.stderr) == (
        status,
        "",
        message.format(port=port),
    )


def test_connect_reports_an_unreachable_server() -> None:
    result = wslab("connect", "--no-proxy", "ws://127.0.0.1:1/", stdin="hi\n")
    assert result.status == ExitStatus.CONNECT_FAILED
    assert result.stderr.startswith("wslab: cannot connect to ws://127.0.0.1:1/: ")


def test_connect_reports_a_certificate_it_cannot_verify(tls_url: str) -> None:
    result = wslab("connect", f"{tls_url}/echo", stdin="hi\n")
    assert result.status == ExitStatus.CONNECT_FAILED
    assert result.stderr.startswith("wslab: TLS failed: [SSL: CERTIFICATE_VERIFY_FAILED]")


def test_wslab_console_script_round_trips_lines_in_a_pipe(url: str) -> None:
    completed = subprocess.run(
        [installed_wslab(), "connect", f"{url}/echo"],
        input="first\nbig:70000\nbinary:cafe\n",
        capture_output=True,
        text=True,
        timeout=HANG,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == f"first\n{'x' * 70000}\n[binary 2 bytes] cafe\n"


def test_wslab_exits_1_quietly_when_the_reader_of_its_output_is_gone(url: str) -> None:
    result = pipeline(f"connect --no-proxy {url}/echo < <(yes hello) | head -n 2")
    assert result == Result(ExitStatus.ERROR, "hello\nhello\n", "")
