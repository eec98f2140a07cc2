"""``wslab connect`` against the independent draft server (tests/client/draft_server.py)."""

from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path

import pytest

from client.cli import Environment, ExitStatus, connect, main
from tests.client.cli.running import Result, installed_wslab, pipeline, wslab
from tests.client.threaded import Gateway
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
        "--wait",
        "0",
        f"{url}/echo",
        stdin="Hello\nfragments:split in three\nbig:70000\nbinary:00ff10\n",
    )
    assert result == Result(
        ExitStatus.SUCCESS,
        f"Hello\nsplit in three\n{'x' * 70000}\n[binary 3 bytes] 00ff10\n",
        "",
    )


def test_connect_exits_0_when_the_server_closes_cleanly(url: str) -> None:
    result = wslab("connect", f"{url}/echo", stdin="one\nclose:\nnever sent\n")
    assert (result.status, result.stderr) == (ExitStatus.SUCCESS, "")
    assert result.stdout.splitlines()[0] == "one"


def test_connect_works_over_wss_with_a_custom_ca(tls_url: str, cafile: str) -> None:
    result = wslab(
        "connect", "--wait", "0", "--cacert", cafile, f"{tls_url}/echo", stdin="secure\n"
    )
    assert (result.status, result.stdout) == (ExitStatus.SUCCESS, "secure\n")


def test_connect_works_over_wss_in_insecure_mode(tls_url: str) -> None:
    result = wslab("connect", "--wait", "0", "--insecure", f"{tls_url}/echo", stdin="unverified\n")
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
        [installed_wslab(), "connect", "--wait", "0", f"{url}/echo"],
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


def test_a_line_that_is_not_utf_8_is_said_with_its_number_and_the_lines_after_it_are_sent(
    url: str,
) -> None:
    result = wslab("connect", "--wait", "0", f"{url}/echo", stdin=b"caf\xe9\nafter\n")
    assert result == Result(
        ExitStatus.ERROR,
        "after\n",
        "wslab: line 1 not sent: not UTF-8 (byte 4 is 0xe9); --binary sends bytes\n",
    )


def test_wslab_connect_in_a_pipe_says_a_line_that_is_not_utf_8_without_a_traceback(
    url: str,
) -> None:
    result = pipeline(f"connect --no-proxy --wait 0 {url}/echo < <(printf 'caf\\xe9\\nok\\n')")
    assert result == Result(
        ExitStatus.ERROR,
        "ok\n",
        "wslab: line 1 not sent: not UTF-8 (byte 4 is 0xe9); --binary sends bytes\n",
    )


def test_a_line_over_the_message_limit_is_said_with_its_size_and_the_lines_after_it_are_sent(
    url: str,
) -> None:
    line = "x" * (2**20 + 1)
    result = wslab("connect", "--wait", "0", f"{url}/echo", stdin=f"before\n{line}\nafter\n")
    assert result == Result(
        ExitStatus.ERROR,
        "before\nafter\n",
        "wslab: line 2 not sent: message of 1048577 bytes exceeds the limit of 1048576 bytes\n",
    )


def echoed_bytes(stdout: str) -> tuple[list[int], bytes]:
    """The sizes of the binary messages ``wslab connect`` printed, and their bytes."""
    sizes, data = [], b""
    for line in stdout.splitlines():
        head, _, hex_bytes = line.partition("] ")
        sizes.append(int(head.removeprefix("[binary ").removesuffix(" bytes")))
        data += bytes.fromhex(hex_bytes)
    return sizes, data


def test_binary_sends_any_bytes_of_standard_input_in_messages_of_64_kib(url: str) -> None:
    data = bytes(range(256)) * 600  # every byte, newlines among them: 153,600 bytes
    result = wslab("connect", "--binary", "--wait", "0", f"{url}/echo", stdin=data)
    assert (result.status, result.stderr) == (ExitStatus.SUCCESS, "")
    assert echoed_bytes(result.stdout) == ([65536, 65536, 22528], data)


def test_wslab_connect_binary_sends_a_file_of_random_bytes_as_it_is(
    url: str, tmp_path: Path
) -> None:
    path = tmp_path / "random.bin"
    path.write_bytes(os.urandom(200_000))
    result = pipeline(f"connect --no-proxy --binary --wait 0 {url}/echo < {path}")
    assert (result.status, result.stderr) == (ExitStatus.SUCCESS, "")
    sizes, data = echoed_bytes(result.stdout)
    assert data == path.read_bytes()
    assert max(sizes) <= 65536


def test_after_standard_input_ends_connect_prints_what_comes_until_the_server_closes(
    gateway: Gateway,
) -> None:
    gateway.fake.quote_limit = 3  # then the gateway closes the connection
    subscribe = '{"type": "subscribe", "symbols": ["MSFT"]}\n'
    result = wslab("connect", "--wait", str(HANG), f"{gateway.url}/stocks", stdin=subscribe)
    assert (result.status, result.stderr) == (ExitStatus.SUCCESS, "")
    kinds = [json.loads(line)["type"] for line in result.stdout.splitlines()]
    assert kinds == ["subscribed", "snapshot", "quote", "quote", "quote"]


def test_wait_bounds_how_long_connect_waits_for_the_server_to_close(url: str) -> None:
    # The echo never closes by itself: connect closes once the wait is over.
    result = wslab("connect", "--wait", "0.01", f"{url}/echo")
    assert result == Result(ExitStatus.SUCCESS, "", "")


def test_in_a_pipe_connect_closes_itself_after_the_default_wait(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connect, "DEFAULT_WAIT", 0.01)
    assert wslab("connect", f"{url}/echo") == Result(ExitStatus.SUCCESS, "", "")


class TypedBytes(io.BytesIO):
    """Standard input as a terminal, where what was typed is these bytes."""

    def isatty(self) -> bool:
        return True


def test_at_a_terminal_ctrl_d_closes_at_once_without_waiting_for_the_server(url: str) -> None:
    stdin = io.TextIOWrapper(TypedBytes(b"typed\n"), encoding="utf-8")
    stdout, stderr = io.StringIO(), io.StringIO()
    # The echo never closes by itself: without --wait, only the terminal says when to.
    status = main(["connect", f"{url}/echo"], Environment(stdin, stdout, stderr))
    assert (status, stdout.getvalue()) == (ExitStatus.SUCCESS, "typed\n")
    assert stderr.getvalue() == f"connected to {url}/echo; Ctrl-D closes\n"


def test_a_close_the_server_starts_with_a_reason_is_said_and_exits_1(url: str) -> None:
    result = wslab("connect", f"{url}/echo", stdin="one\nclose:too big\nnever sent\n")
    assert result == Result(
        ExitStatus.ERROR, "one\n", "wslab: the server closed the connection: too big\n"
    )
