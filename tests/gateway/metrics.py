"""Read the gateway's Prometheus metrics, which live in the process-wide registry.

Counters only grow and other tests move them too, so tests compare a value before and after.
"""

from __future__ import annotations

from prometheus_client import REGISTRY


def sample(name: str, **labels: str) -> float:
    """Return the current value of a sample, 0 if it was never set."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def handshakes(outcome: str, reason: str, protocol: str = "draft") -> float:
    """The ``wslab_handshakes_total`` counter for one protocol, outcome and reason."""
    return sample("wslab_handshakes_total", protocol=protocol, outcome=outcome, reason=reason)
