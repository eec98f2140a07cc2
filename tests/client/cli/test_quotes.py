"""``wslab quotes`` end to end against the fake gateway (tests/client/fake_gateway.py): in
process in a pipe, and as the installed command in a pipe and after Ctrl-C."""

from __future__ import annotations

import contextlib
import io
import json
import re
import signal
import subprocess
import threading
from collections.abc import Iterator
from typing import IO

import pytest

from client.cli import Environment, ExitStatus, main
from client.cli.quotes import LiveTable
from client.quotes import Board
from tests.client.cli.answering import REFUSAL, answering
from tests.client.cli.running import Result, installed_wslab, pipeline, wslab
from tests.client.fake_gateway import UNAVAILABLE
from tests.client.threaded import Gateway
from tests.waiting import HANG, Hang, until_sync


def test_quotes_json_prints_a_snapshot_then_ticks_of_the_symbols_asked_with_increasing_seq(
    gateway: Gateway,
) -> None:
    gateway.fake.quote_limit = 6  # then the gateway closes the connection
    result = wslab("quotes", "--json", "--no-reconnect", gateway.url, "MSFT", "aapl")
    assert (result.status, result.stderr) == (ExitStatus.SUCCESS, "")
    lines = result.stdout.splitlines()
    messages = [json.loads(line) for line in lines]
    assert [json.dumps(message) for message in messages] == lines  # as the gateway sent them
    assert [message["type"] for message in messages] == ["snapshot"] + ["quote"] * 6
    seqs: dict[str, list[int]] = {}
    for quote in messages[0]["quotes"] + messages[1:]:
        seqs.setdefault(quote["symbol"], []).append(quote["seq"])
    assert seqs == {"MSFT": [1, 2, 3, 4], "AAPL": [1, 2, 3, 4]}
    assert gateway.fake.stock_requests == [{"type": "subscribe", "symbols": ["MSFT", "AAPL"]}]


def test_quotes_in_a_pipe_prints_a_line_per_quote_after_the_snapshot(gateway: Gateway) -> None:
    gateway.fake.quote_limit = 6
    result = wslab("quotes", "--no-reconnect", f"{gateway.url}/stocks", "MSFT", "AAPL")
    assert result == Result(
        ExitStatus.SUCCESS,
        "MSFT       27.91    +0.00   +0.00%  -  seq 1\n"
        "AAPL      322.56    +0.00   +0.00%  -  seq 1\n"
        "AAPL      322.56    +0.00   +0.00%  =  seq 2\n"
        "MSFT       27.91    +0.00   +0.00%  =  seq 2\n"
        "AAPL      322.63    +0.07   +0.02%  ▲  seq 3\n"
        "MSFT       27.98    +0.07   +0.25%  ▲  seq 3\n"
        "AAPL      322.75    +0.19   +0.06%  ▲  seq 4\n"
        "MSFT       28.10    +0.19   +0.68%  ▲  seq 4\n",
        "",
    )


@pytest.mark.parametrize(
    ("option", "encoding"),
    [("--ascii", "utf-8"), ("--no-reconnect", "ascii")],
    ids=["asked", "ascii-output"],
)
def test_quotes_shows_arrows_in_ascii_when_asked_or_when_the_output_needs_it(
    gateway: Gateway, option: str, encoding: str
) -> None:
    gateway.fake.quote_limit = 2
    stdout = io.TextIOWrapper(io.BytesIO(), encoding=encoding)
    env = Environment(stdin=io.StringIO(), stdout=stdout, stderr=io.StringIO())
    assert main(["quotes", "--no-reconnect", option, gateway.url, "MSFT"], env) == 0
    stdout.seek(0)
    assert stdout.read().splitlines()[-1] == "MSFT       27.98    +0.07   +0.25%  ^  seq 3"


def test_quotes_all_subscribes_to_every_symbol(gateway: Gateway) -> None:
    gateway.fake.quote_limit = 1
    result = wslab("quotes", "--json", "--no-reconnect", gateway.url, "--all")
    assert result.status == ExitStatus.SUCCESS
    snapshot = json.loads(result.stdout.splitlines()[0])
    assert len(snapshot["quotes"]) == 10
    assert gateway.fake.stock_requests == [{"type": "subscribe", "symbols": ["*"]}]


def test_quotes_exits_1_when_a_symbol_is_unknown(gateway: Gateway) -> None:
    result = wslab("quotes", gateway.url, "MSFT", "nope")
    assert result == Result(ExitStatus.ERROR, "", "wslab: unknown_symbol: unknown symbol: NOPE\n")


def test_quotes_exits_1_when_the_stock_service_is_unavailable_at_first(gateway: Gateway) -> None:
    gateway.fake.stocks_down = True
    result = wslab("quotes", gateway.url, "MSFT")
    assert result == Result(ExitStatus.ERROR, "", f"wslab: unavailable: {UNAVAILABLE}\n")


def test_quotes_exits_3_when_it_cannot_connect() -> None:
    result = wslab("quotes", "--no-proxy", "ws://127.0.0.1:1", "MSFT")
    assert result.status == ExitStatus.CONNECT_FAILED
    assert result.stderr.startswith("wslab: cannot connect to ws://127.0.0.1:1/stocks: ")


def test_quotes_list_prints_each_symbol_and_its_name(gateway: Gateway) -> None:
    result = wslab("quotes", "--list", gateway.url)
    assert (result.status, result.stderr) == (ExitStatus.SUCCESS, "")
    assert result.stdout.splitlines()[:3] == [
        "AAPL  Apple",
        "AMZN  Amazon.com",
        "CSCO  Cisco Systems",
    ]
    assert len(result.stdout.splitlines()) == 10
    assert gateway.fake.stock_requests == [{"type": "list"}]


def test_quotes_list_prints_the_answer_as_received_with_json(gateway: Gateway) -> None:
    result = wslab("quotes", "--list", "--json", gateway.url)
    (line,) = result.stdout.splitlines()
    assert json.loads(line)["symbols"][0] == {"symbol": "AAPL", "name": "Apple", "price": 322.56}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ws://127.0.0.1:1"], "wslab: name at least one SYMBOL, or use --all or --list\n"),
        (["--list", "ws://127.0.0.1:1", "MSFT"], "wslab: --list takes no SYMBOL\n"),
    ],
)
def test_quotes_exits_2_without_symbols_or_with_symbols_and_list(
    args: list[str], message: str
) -> None:
    assert wslab("quotes", *args) == Result(ExitStatus.USAGE, "", message)


def test_quotes_all_with_symbols_is_a_usage_error_rather_than_ignoring_them() -> None:
    message = "wslab: --all takes no SYMBOL: it watches every symbol\n"
    assert wslab("quotes", "--all", "ws://127.0.0.1:1", "MSFT") == Result(
        ExitStatus.USAGE, "", message
    )


def test_a_url_that_is_not_one_is_named_as_typed_not_with_stocks_added() -> None:
    message = "wslab: MSFT is not a valid WebSocket URL: the scheme must be ws or wss\n"
    assert wslab("quotes", "MSFT", "AAPL") == Result(ExitStatus.USAGE, "", message)


@pytest.fixture
def refusing() -> Iterator[str]:
    """A server refusing every path with 403, as the gateway does a path it does not serve."""
    with answering(REFUSAL) as url:
        yield url


def test_a_refused_path_that_is_not_the_gateway_s_gets_a_hint_at_its_stocks(
    refusing: str,
) -> None:
    result = wslab("quotes", "--no-proxy", f"{refusing}/chat", "MSFT")
    assert result == Result(
        ExitStatus.HANDSHAKE_FAILED,
        "",
        "wslab: server rejected the handshake with 403: the server refused the connection; "
        f"wslab quotes tried {refusing}/chat/stocks: give it the gateway, such as {refusing}, "
        f"for {refusing}/stocks\n",
    )


@pytest.mark.parametrize("path", ["", "/", "/stocks"])
def test_a_refused_gateway_or_stocks_url_gets_no_hint(refusing: str, path: str) -> None:
    result = wslab("quotes", "--no-proxy", "--list", f"{refusing}{path}")
    message = "wslab: server rejected the handshake with 403: the server refused the connection\n"
    assert result == Result(ExitStatus.HANDSHAKE_FAILED, "", message)


def test_quotes_takes_all_or_list_not_both(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["quotes", "--all", "--list", "ws://127.0.0.1:1"])
    assert info.value.code == ExitStatus.USAGE
    assert "argument --list: not allowed with argument --all" in capsys.readouterr().err


class Terminal(io.StringIO):
    """Standard output as a terminal that records what is written to it."""

    def isatty(self) -> bool:
        return True


def test_at_a_terminal_the_table_is_drawn_then_redrawn_in_place(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    monkeypatch.setenv("LINES", "10")
    terminal = Terminal()
    env = Environment(stdin=io.StringIO(), stdout=terminal, stderr=io.StringIO())
    board = Board(["MSFT"])
    with LiveTable(env, board, ascii=False, color=False) as table:
        table.note("connected")
        table.received("", board.receive({"type": "quote", "symbol": "MSFT", "price": 1.5}))
    heading, waiting = "SYMBOL     PRICE   CHANGE  CHANGE%", "MSFT"
    quoted = "MSFT        1.50        ?        ?  -"
    assert terminal.getvalue() == (
        "\x1b[?25l"  # hide the cursor
        f"\r\r\x1b[K{heading}\n\r\x1b[K{waiting}\n\x1b[J"
        f"\r\x1b[2A\x1b[J\r\x1b[Kconnected\n\r\x1b[K{heading}\n\r\x1b[K{waiting}\n\x1b[J"
        f"\r\x1b[2A\r\x1b[K{heading}\n\r\x1b[K{quoted}\n\x1b[J"
        "\x1b[?25h"  # show it again
    )


def test_wslab_quotes_json_stops_quietly_when_the_reader_of_its_output_is_gone(
    gateway: Gateway,
) -> None:
    result = pipeline(f"quotes --json --no-proxy {gateway.url} MSFT AAPL | head -n 3")
    assert (result.status, result.stderr) == (ExitStatus.ERROR, "")
    snapshot, *quotes = (json.loads(line) for line in result.stdout.splitlines())
    assert (snapshot["type"], [quote["type"] for quote in quotes]) == ("snapshot", ["quote"] * 2)


class Lines:
    """The lines a process writes to a stream, read by a thread so that waiting can end."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._looked_at = 0  # lines that wait_for went past
        self._reader = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._reader.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: str) -> str:
        """Return the next line that matches ``pattern``, after those waited for before."""

        def found() -> bool:
            for line in self.lines[self._looked_at :]:
                self._looked_at += 1
                if re.fullmatch(pattern, line):
                    return True
            return False

        until_sync(found, f"a line matching {pattern!r}")
        return self.lines[self._looked_at - 1]

    def all(self) -> list[str]:
        """Every line, once the process closed the stream."""
        until_sync(lambda: not self._reader.is_alive(), "the process to close its stream")
        return self.lines


def after_ctrl_c(process: subprocess.Popen[str], stderr: Lines) -> int:
    """Send Ctrl-C to ``process``, and return its exit status once it ended."""
    process.send_signal(signal.SIGINT)
    try:
        return process.wait(HANG)
    except subprocess.TimeoutExpired:
        message = f"wslab quotes still ran {HANG:g} s after Ctrl-C; stderr: {stderr.lines}"
        raise Hang(message) from None


@contextlib.contextmanager
def wslab_quotes_msft(gateway: Gateway) -> Iterator[tuple[subprocess.Popen[str], Lines, Lines]]:
    """``wslab quotes --json URL MSFT`` running, and its standard output and error as they
    come; killed at the end if the test failed while it ran.

    It takes Ctrl-C even if the tests were started with SIGINT ignored, as a background job
    of a script is (a CI runner's, say): a child keeps an ignored signal ignored, while one
    handled here is back to its default in the child.
    """
    handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        process = subprocess.Popen(
            [installed_wslab(), "quotes", "--json", "--no-proxy", gateway.url, "MSFT"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    finally:
        signal.signal(signal.SIGINT, handler)
    with process:
        try:
            yield process, Lines(process.stdout), Lines(process.stderr)  # type: ignore[arg-type]
        finally:
            process.kill()


def test_wslab_quotes_reconnects_and_subscribes_again_until_ctrl_c(gateway: Gateway) -> None:
    with wslab_quotes_msft(gateway) as (process, stdout, stderr):
        first = json.loads(stdout.wait_for(r'\{"type": "snapshot".*'))
        stdout.wait_for(r'\{"type": "quote".*')

        def take_the_service_down_and_drop() -> None:
            gateway.fake.stocks_down = True
            gateway.fake.drop_stocks()

        gateway.call(take_the_service_down_and_drop)
        stderr.wait_for(r"\* connection failed: .*")
        stderr.wait_for(r"\* unavailable: .*")
        gateway.call(lambda: setattr(gateway.fake, "stocks_down", False))
        second = json.loads(stdout.wait_for(r'\{"type": "snapshot".*'))
        assert after_ctrl_c(process, stderr) == ExitStatus.CTRL_C
        delays = [line for line in stderr.all() if line.startswith("* reconnecting in ")]
    assert second["quotes"][0]["seq"] > first["quotes"][0]["seq"]
    assert all(re.fullmatch(r"\* reconnecting in \d+\.\d s", line) for line in delays)
    notes = [line for line in stderr.lines if line not in delays]
    assert re.fullmatch(r"\* connection failed: .+", notes[0])
    assert notes[1:3] == ["* reconnected", f"* unavailable: {UNAVAILABLE}"]
    assert notes[-1] == "* reconnected"
    assert {json.dumps(request) for request in gateway.fake.stock_requests} == {
        '{"type": "subscribe", "symbols": ["MSFT"]}'
    }
    assert len(gateway.fake.stock_requests) >= 3


def test_ctrl_c_while_wslab_quotes_is_reconnecting_ends_it_with_130(gateway: Gateway) -> None:
    with wslab_quotes_msft(gateway) as (process, stdout, stderr):
        stdout.wait_for(r'\{"type": "snapshot".*')

        def hang_and_drop() -> None:
            gateway.fake.silent = True
            gateway.fake.drop_stocks()

        gateway.call(hang_and_drop)
        until_sync(
            lambda: gateway.call(lambda: gateway.fake.unanswered) > 0,
            "wslab quotes to open a connection again",
        )
        assert after_ctrl_c(process, stderr) == ExitStatus.CTRL_C
    assert stderr.all()[-1].startswith("* reconnecting in ")
