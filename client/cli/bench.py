"""``wslab bench``: the I/O half. What to send and count is :mod:`client.bench`'s.

It opens the connections (draft with this package's client, RFC 6455 with the
``websockets`` library's), shows the progress on a terminal, reads the gateway's counters
from ``/metrics`` before and after, and prints the report, or its JSON with ``--json``.

With ``--processes N`` (N > 1), N worker processes share the connections, the chat's
senders and its rate (:func:`client.bench.split`), for when one process cannot keep up (it
decodes every message it receives). They are started with ``multiprocessing``'s spawn
method, open their connections, then start measuring at the same time, which this process
gives them once all are ready; in the chat, all the members are in one room, and each
expects the lines of every worker. This process adds their reports up
(:func:`client.bench.merge_reports`: latency histograms merged, tallies and errors summed)
and reads the gateway's counters once, before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Literal, TextIO
from urllib.parse import urlsplit

from ..bench import (
    BenchOptions,
    Histogram,
    Opener,
    Report,
    Scenario,
    Socket,
    Tally,
    merge_reports,
    run_bench,
    split,
)
from .base import Command, CommandError, Environment, ExitStatus
from .options import (
    ConnectionOptions,
    add_connection_options,
    non_negative_float,
    open_connection,
    positive_float,
    positive_int,
)

__all__ = ["COMMAND", "Options", "run"]

#: The gateway counters the report shows the change of, by the name it gives them.
GATEWAY_COUNTERS = {
    "messages_out": "wslab_messages_out_total",
    "conflated": "wslab_conflated_messages_total",
    "slow_closes": "wslab_slow_closes_total",
    "undelivered": "wslab_undelivered_total",
}


@dataclass(frozen=True, kw_only=True)
class Options:
    url: str
    scenario: Scenario
    protocol: Literal["draft", "rfc6455"]
    connections: int
    rate: float
    senders: int | None
    symbols: list[str] | None
    duration: float
    warmup: float
    drain: float
    json: bool
    processes: int
    connection: ConnectionOptions


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", help="the gateway, ws:// or wss://, e.g. ws://localhost:4502")
    parser.add_argument("--scenario", choices=["chat", "quotes"], default="chat")
    parser.add_argument(
        "--protocol",
        choices=["draft", "rfc6455"],
        default="draft",
        help="the wire protocol (rfc6455 needs the websockets library; default: %(default)s)",
    )
    parser.add_argument(
        "-c",
        "--connections",
        type=positive_int,
        default=100,
        metavar="N",
        help="connections to open (default: %(default)s)",
    )
    parser.add_argument(
        "--rate",
        type=positive_float,
        default=10.0,
        metavar="LINES",
        help="chat: lines per second, all senders together (default: %(default)s)",
    )
    parser.add_argument(
        "--senders",
        type=positive_int,
        metavar="S",
        help="chat: connections that say lines (default: enough for 4 lines/s each, under"
        " the chat's rate limit)",
    )
    parser.add_argument(
        "--symbols", nargs="+", metavar="SYMBOL", help="quotes: the symbols (default: '*', all)"
    )
    parser.add_argument(
        "--duration",
        type=positive_float,
        default=10.0,
        metavar="SECONDS",
        help="seconds measured (default: %(default)s)",
    )
    parser.add_argument(
        "--warmup",
        type=non_negative_float,
        default=2.0,
        metavar="SECONDS",
        help="seconds before measuring (default: %(default)s)",
    )
    parser.add_argument(
        "--drain",
        type=non_negative_float,
        default=10.0,
        metavar="SECONDS",
        help="chat: seconds to wait at most for the last lines (default: %(default)s)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--processes",
        type=positive_int,
        default=1,
        metavar="N",
        help="split the connections among N worker processes, for when one cannot keep up"
        " (default: %(default)s)",
    )
    add_connection_options(parser)


async def run(options: Options, env: Environment) -> ExitStatus:
    """Run the scenario, print the report; exit 1 if a delivery was lost or an error came."""
    base = options.url.rstrip("/")
    bench = BenchOptions(
        base=base,
        scenario=options.scenario,
        connections=options.connections,
        senders=options.senders or min(options.connections, max(1, -(-int(options.rate) // 4))),
        rate=options.rate,
        symbols=tuple(options.symbols or ["*"]),
        duration=options.duration,
        warmup=options.warmup,
        drain=options.drain,
    )
    if options.processes > bench.connections:
        msg = f"--processes {options.processes} is more than the {bench.connections} connections"
        raise CommandError(ExitStatus.USAGE, msg)
    try:
        if options.processes > 1:
            report = await run_processes(bench, options)
        else:
            report = await run_bench(
                bench,
                _opener(options),
                protocol=options.protocol,
                progress=_progress(env.stderr) if env.stderr.isatty() else None,
                metrics=lambda: asyncio.to_thread(_gateway_counters, base),
            )
    except RuntimeError as exc:  # The room was never heard: nothing can be measured.
        raise CommandError(ExitStatus.ERROR, str(exc)) from None
    if options.json:
        print(json.dumps(report.to_json()), file=env.stdout)
    else:
        print("\n".join(report.lines()), file=env.stdout)
    return ExitStatus.SUCCESS if _clean(report) else ExitStatus.ERROR


async def run_processes(bench: BenchOptions, options: Options) -> Report:
    """Run ``bench`` in ``options.processes`` worker processes; return their reports added
    up."""
    context = multiprocessing.get_context("spawn")
    workers: list[tuple[multiprocessing.process.BaseProcess, Connection]] = []
    before = await asyncio.to_thread(_gateway_counters, bench.base)
    try:
        for part in split(bench, options.processes):
            ours, theirs = context.Pipe()
            process = context.Process(target=_worker, args=(part, options, theirs), daemon=True)
            process.start()
            theirs.close()
            workers.append((process, ours))
        pipes = [pipe for _, pipe in workers]
        await asyncio.gather(*(_expect(pipe, "ready") for pipe in pipes))
        start = time.time() + bench.warmup
        for pipe in pipes:
            pipe.send(("start", start))
        if bench.scenario == "chat":
            sent = await asyncio.gather(*(_expect(pipe, "sent") for pipe in pipes))
            for pipe in pipes:
                pipe.send(("total", sum(sent)))
        parts = await asyncio.gather(*(_expect(pipe, "report") for pipe in pipes))
    finally:
        for worker, pipe in workers:
            pipe.close()
            await asyncio.to_thread(worker.join, 10)
            if worker.is_alive():
                worker.kill()
    after = await asyncio.to_thread(_gateway_counters, bench.base)
    gateway = {name: after[name] - before.get(name, 0.0) for name in after}
    return merge_reports(bench, [_part_report(bench, part) for part in parts], gateway)


async def _expect(pipe: Connection, kind: str) -> Any:
    """The next message of a worker, which must be of ``kind``."""
    try:
        got, value = await asyncio.to_thread(pipe.recv)
    except EOFError:
        raise CommandError(ExitStatus.ERROR, "a bench worker process died") from None
    if got == "error":
        status, message = value
        raise CommandError(ExitStatus(status), message)
    assert got == kind, (got, kind)
    return value


def _part_report(bench: BenchOptions, part: Mapping[str, Any]) -> Report:
    return Report(
        options=bench,
        protocol=part["protocol"],
        seconds=bench.duration,
        sent=part["sent"],
        deliveries=part["deliveries"],
        expected=None,
        skipped=part["skipped"],
        errors=part["errors"],
        latency={},
        gateway={},
        histogram=Histogram.from_json(part["histogram"]),
    )


class _PipeSync:
    """A worker's :class:`client.bench.Sync`: it asks the parent through a pipe."""

    def __init__(self, pipe: Connection) -> None:
        self.pipe = pipe

    async def _ask(self, kind: str, value: object, answer: str) -> Any:
        self.pipe.send((kind, value))
        got, reply = await asyncio.to_thread(self.pipe.recv)
        assert got == answer, (got, answer)
        return reply

    async def start(self) -> float:
        return float(await self._ask("ready", None, "start"))

    async def total_sent(self, sent: int) -> int:
        return int(await self._ask("sent", sent, "total"))


def _worker(share: BenchOptions, options: Options, pipe: Connection) -> None:
    """A worker process: run its ``share``, send its figures (or its failure) to the parent."""
    try:
        report = asyncio.run(
            run_bench(share, _opener(options), protocol=options.protocol, sync=_PipeSync(pipe))
        )
    except CommandError as exc:
        pipe.send(("error", (int(exc.status), str(exc))))
    except (RuntimeError, OSError) as exc:
        pipe.send(("error", (int(ExitStatus.ERROR), str(exc))))
    else:
        part = {
            "protocol": report.protocol,
            "sent": report.sent,
            "deliveries": report.deliveries,
            "skipped": report.skipped,
            "errors": report.errors,
            "histogram": report.histogram.to_json(),
        }
        pipe.send(("report", part))
    finally:
        pipe.close()


def _clean(report: Report) -> bool:
    """True if nothing was lost and no error came."""
    return not report.errors and not report.lost


def _opener(options: Options) -> Opener:
    if options.protocol == "draft":

        async def open_draft(url: str) -> Socket:
            return await open_connection(url, options.connection, max_queue=1024)

        return open_draft
    try:
        from websockets.asyncio.client import connect
    except ImportError:
        msg = "--protocol rfc6455 needs the websockets library: pip install websockets"
        raise CommandError(ExitStatus.USAGE, msg) from None

    async def open_rfc6455(url: str) -> Socket:
        try:
            timeout = options.connection.open_timeout
            return await connect(url, open_timeout=timeout, compression=None, max_size=None)
        except (OSError, TimeoutError) as exc:
            msg = f"cannot connect to {url}: {exc}"
            raise CommandError(ExitStatus.CONNECT_FAILED, msg) from None
        except Exception as exc:  # websockets' handshake errors
            raise CommandError(ExitStatus.HANDSHAKE_FAILED, f"{url}: {exc}") from None

    return open_rfc6455


def _progress(stream: TextIO) -> Callable[[float, Tally], None]:
    def show(seconds: float, tally: Tally) -> None:
        rate = tally.deliveries / seconds if seconds else 0.0
        p99 = tally.latency.percentile(0.99) * 1e3
        errors = sum(tally.errors.values())
        line = f"{seconds:5.1f} s  {tally.deliveries:,} deliveries  {rate:,.0f}/s"
        stream.write(f"\r{line}  p99 {p99:.1f} ms  errors {errors}\x1b[K")
        stream.flush()

    return show


def _gateway_counters(base: str) -> Mapping[str, float]:
    """The gateway's counters of :data:`GATEWAY_COUNTERS`, summed over their labels;
    none if ``/metrics`` cannot be read (the gateway may be behind a proxy)."""
    parts = urlsplit(base)
    scheme = "https" if parts.scheme == "wss" else "http"
    try:
        with urllib.request.urlopen(f"{scheme}://{parts.netloc}/metrics", timeout=10) as answer:
            text = answer.read().decode()
    except (OSError, urllib.error.URLError):
        return {}
    counters: dict[str, float] = {}
    for name, metric in GATEWAY_COUNTERS.items():
        pattern = rf"^{metric}(?:{{[^}}]*}})? (\S+)$"
        values = re.findall(pattern, text, re.MULTILINE)
        counters[name] = sum((float(value) for value in values), 0.0)
    return counters


COMMAND = Command(
    name="bench",
    help="load a deployment and measure deliveries, latency and loss",
    description=(
        "Open N connections to the gateway at URL and run a scenario: chat (N members "
        "of one new room, some saying lines at --rate; every line is delivered to every "
        "member) or quotes (N subscribers to --symbols at /stocks). Only what arrives "
        "after --warmup counts. Prints deliveries per second, latency percentiles, "
        "lines lost, errors by code and the gateway's own counters from /metrics; "
        "with --json, one JSON object. Exit 1 if a delivery was lost or an error came."
    ),
    add_arguments=add_arguments,
    options=Options,
    run=run,
)
