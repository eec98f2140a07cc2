"""Which offered rates benchmarks/side_by_side.py tries, and what it reports of them.

No I/O and no clock: :func:`search` is a generator that is told how each step went, so the
tests drive it with made-up servers.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Sequence
from dataclasses import dataclass

__all__ = ["P99_LIMIT", "Step", "Summary", "search", "share", "summarize"]

#: The latency the delivered rate is reported under: "deliveries/s at p99 < 50 ms".
P99_LIMIT = 0.050
#: The share of the offered rate a step must deliver to pass, besides its p99.
KEPT_UP = 0.95


@dataclass(frozen=True)
class Step:
    """One offered rate held for a while, and what came of it.

    Attributes:
        offered: deliveries per second asked for (messages per second times receivers).
        delivered: deliveries per second counted at the receivers over the same window.
        p99: the 99th percentile of the sampled latencies, in seconds; ``math.inf`` when
            more than 1% of the sampled messages never came.
        p50: the median, in seconds.
        overload: whether the step was past the saturation on purpose.
        server_cpu: the server's CPU time over the window, as a share of one core.
        cores: how busy each core was over the window (everything on it), as shares.
        foreign: how busy each core was with other processes than the benchmark's.
        conflated: wslab: quotes per second the gateway replaced by a newer one (for a
            client it saw as slow) instead of sending them.
        tries: how many times the step was measured: it is measured again while another
            process took too much of a core.
    """

    offered: float
    delivered: float
    p99: float
    p50: float = 0.0
    overload: bool = False
    server_cpu: float = 0.0
    cores: tuple[float, ...] = ()
    foreign: tuple[float, ...] = ()
    conflated: float = 0.0
    tries: int = 1

    def passed(self, limit: float = P99_LIMIT) -> bool:
        """Whether the server kept up: p99 under ``limit`` and the rate delivered."""
        return self.p99 < limit and self.delivered >= KEPT_UP * self.offered


def search(
    start: float,
    *,
    factor: float = 1.6,
    refinements: int = 2,
    overload: Sequence[float] = (1.5, 2.0),
    floor: float = 100.0,
    ceiling: float = 1e7,
    limit: float = P99_LIMIT,
) -> Generator[tuple[float, bool], Step, None]:
    """Yield offered rates, each with whether it is past saturation on purpose; each must
    be answered (``send``) with its :class:`Step`.

    Ramp up from ``start`` by ``factor`` while steps pass (down, while they fail, until
    one passes or the rate is under ``floor``); then split the gap between the highest
    passing rate and the lowest failing one ``refinements`` times (geometric middle);
    then offer each of ``overload`` times the highest passing rate, to show what happens
    past saturation. A failure before any step passed is measured once more before the
    ramp turns down: the first step meets a cold server, and one noisy p99 there would
    send the whole search below rates the server keeps up with.
    """
    best: float | None = None  # the highest offered rate that passed
    worst: float | None = None  # the lowest offered rate that failed
    rate = start
    again = True  # the first failure before a pass is measured again
    while rate <= ceiling:
        step = yield rate, False
        if step.passed(limit):
            best = rate
            if worst is not None:
                break
            rate *= factor
        elif best is None and again:
            again = False
        else:
            worst = rate
            if best is not None:
                break
            rate /= factor
            if rate < floor:
                return
    if best is None:
        return
    if worst is not None:
        for _ in range(refinements):
            rate = math.sqrt(best * worst)
            step = yield rate, False
            if step.passed(limit):
                best = rate
            else:
                worst = rate
    for times in overload:
        yield best * times, True


@dataclass(frozen=True)
class Summary:
    """What a run of steps comes to.

    Attributes:
        best: the highest delivered rate of a step that passed: deliveries/s at p99 < 50 ms.
            An overload step counts too: one that passed measured that rate as well as any
            (the search stopped below it on a step that failed by chance: a noisy p99).
        saturation: the offered rate of the highest passing step of the search, which the
            overload steps multiply.
        peak: the highest delivered rate of any step.
        overload: for each overload step, its offered rate as a multiple of
            ``saturation``, and its delivered rate as a share of what it could deliver:
            ``peak``, or less when less was offered. An overload step that delivered what
            it was offered has not fallen, whatever the peak: the search's saturation was
            below the real one (a p99 just over the limit in one step).
    """

    best: float
    saturation: float
    peak: float
    overload: list[tuple[float, float]]


def share(step: Step, peak: float) -> float:
    """What ``step`` delivered as a share of what it could: ``peak``, the most any step
    delivered, or its offered rate if that was less."""
    return step.delivered / min(step.offered, peak) if peak else 0.0


def summarize(steps: Sequence[Step], limit: float = P99_LIMIT) -> Summary:
    """The figures of ``steps``; zeros if none passed."""
    passing = [step for step in steps if step.passed(limit)]
    searched = [step for step in passing if not step.overload]
    top = max(searched, key=lambda step: step.delivered, default=None)
    peak = max((step.delivered for step in steps), default=0.0)
    if top is None:
        return Summary(0.0, 0.0, peak, [])
    best = max(step.delivered for step in passing)
    overload = [(step.offered / top.offered, share(step, peak)) for step in steps if step.overload]
    return Summary(best, top.offered, peak, overload)
