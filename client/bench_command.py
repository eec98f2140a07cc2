"""``wslab bench``: the I/O half. What to send and count is :mod:`client.bench`'s.

It opens the connections (draft with this package's client, RFC 6455 with the
``websockets`` library's), shows the progress on a terminal, reads the gateway's counters
from ``/metrics`` before and after, and prints the report, or its JSON with ``--json``.

With ``--processes N`` (N > 1), N worker processes share the connections, the chat's
senders and its rate, for when one process cannot keep up (it decodes every message it
receives). They are started with ``multiprocessing``'s spawn method, open their
connections, then start measuring at the same time, which this process gives them once
all are ready; in the chat, all the members are in one room, and each expects the lines
of every worker. This process adds their reports up (:func:`client.bench.merge_reports`:
latency histograms merged, tallies and errors summed) and reads the gateway's counters
once, before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import multiprocessing
import re
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection
from typing import Any, TextIO
from urllib.parse import urlsplit

from .bench import (
    BenchOptions,
    Histogram,
    Opener,
    Report,
    Socket,
    Tally,
    merge_reports,
    run_bench,
    shares,
)
from .cli import CommandError, Environment, ExitStatus, _open

#: The gateway counters the report shows the change of, by the name it gives them.
GATEWAY_COUNTERS = {
    "messages_out": "wslab_messages_out_total",
    "conflated": "wslab_conflated_messages_total",
    "slow_closes": "wslab_slow_closes_total",
    "undelivered": "wslab_undelivered_total",
}


async def run_bench_command(args: argparse.Namespace, env: Environment) -> ExitStatus:
    """``wslab bench``."""
    base = args.url.rstrip("/")
    options = BenchOptions(
        base=base,
        scenario=args.scenario,
        connections=args.connections,
        senders=args.senders or min(args.connections, max(1, -(-int(args.rate) // 4))),
        rate=args.rate,
        symbols=tuple(args.symbols or ["*"]),
        duration=args.duration,
        warmup=args.warmup,
        drain=args.drain,
    )
    processes = getattr(args, "processes", 1)
    if processes > options.connections:
        msg = f"--processes {processes} is more than the {options.connections} connections"
        raise CommandError(ExitStatus.USAGE, msg)
    try:
        if processes > 1:
            report = await run_processes(options, args, processes)
        else:
            report = await run_bench(
                options,
                _opener(args),
                protocol=args.protocol,
                progress=_progress(env.stderr) if env.stderr.isatty() else None,
                metrics=lambda: asyncio.to_thread(_gateway_counters, base),
            )
    except RuntimeError as exc:  # The room was never heard: nothing can be measured.
        raise CommandError(ExitStatus.ERROR, str(exc)) from None
    if args.json:
        print(json.dumps(report.to_json()), file=env.stdout)
    else:
        print("\n".join(report.lines()), file=env.stdout)
    return ExitStatus.SUCCESS if _clean(report) else ExitStatus.ERROR


def split(options: BenchOptions, processes: int) -> list[BenchOptions]:
    """Each worker's share of a run: its connections, senders and rate, the first number
    of its nicknames, and the room of all (a chat's lines go to every worker's members)."""
    room = options.room or secrets.token_hex(3)
    connections = shares(options.connections, processes)
    senders = shares(min(options.senders, options.connections), processes)
    total = sum(senders)
    parts = []
    first = 0
    for count, said in zip(connections, senders, strict=True):
        rate = options.rate * said / total if total else 0.0
        part = dataclasses.replace(
            options, connections=count, senders=said, rate=rate, room=room, first=first
        )
        parts.append(part)
        first += count
    return parts


async def run_processes(options: BenchOptions, args: argparse.Namespace, count: int) -> Report:
    """Run ``options`` in ``count`` worker processes; return their reports added up."""
    context = multiprocessing.get_context("spawn")
    workers: list[tuple[multiprocessing.process.BaseProcess, Connection]] = []
    before = await asyncio.to_thread(_gateway_counters, options.base)
    try:
        for part in split(options, count):
            ours, theirs = context.Pipe()
            process = context.Process(target=_worker, args=(part, args, theirs), daemon=True)
            process.start()
            theirs.close()
            workers.append((process, ours))
        pipes = [pipe for _, pipe in workers]
        await asyncio.gather(*(_expect(pipe, "ready") for pipe in pipes))
        start = time.time() + options.warmup
        for pipe in pipes:
            pipe.send(("start", start))
        if options.scenario == "chat":
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
    after = await asyncio.to_thread(_gateway_counters, options.base)
    gateway = {name: after[name] - before.get(name, 0.0) for name in after}
    return merge_reports(options, [_part_report(options, part) for part in parts], gateway)


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


def _part_report(options: BenchOptions, part: Mapping[str, Any]) -> Report:
    return Report(
        options=options,
        protocol=part["protocol"],
        seconds=options.duration,
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


def _worker(options: BenchOptions, args: argparse.Namespace, pipe: Connection) -> None:
    """A worker process: run its share, send its figures (or its failure) to the parent."""
    try:
        report = asyncio.run(
            run_bench(options, _opener(args), protocol=args.protocol, sync=_PipeSync(pipe))
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


def _opener(args: argparse.Namespace) -> Opener:
    if args.protocol == "draft":

        async def open_draft(url: str) -> Socket:
            return await _open(url, args, timeout=args.timeout, max_queue=1024)

        return open_draft
    try:
        from websockets.asyncio.client import connect
    except ImportError:
        msg = "--protocol rfc6455 needs the websockets library: pip install websockets"
        raise CommandError(ExitStatus.USAGE, msg) from None

    async def open_rfc6455(url: str) -> Socket:
        try:
            return await connect(url, open_timeout=args.timeout, compression=None, max_size=None)
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
