"""``wslab bench``: the I/O half. What to send and count is :mod:`client.bench`'s.

It opens the connections (draft with this package's client, RFC 6455 with the
``websockets`` library's), shows the progress on a terminal, reads the gateway's counters
from ``/metrics`` before and after, and prints the report, or its JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import TextIO
from urllib.parse import urlsplit

from .bench import BenchOptions, Opener, Report, Socket, Tally, run_bench
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
    try:
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
