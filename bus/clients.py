"""The Redis client of every program on the bus."""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis

__all__ = ["SOCKET_TIMEOUT", "redis_client"]

#: Seconds a Redis command may wait for its answer before its connection is given up. The
#: longest a healthy Redis takes is a blocking read's own wait (bus.inbox: 1 s).
SOCKET_TIMEOUT = 30.0
#: Seconds a pooled connection may sit idle before it is checked (PING) on its next use.
HEALTH_CHECK_INTERVAL = 10.0


def redis_client(
    url: str,
    *,
    name: str,
    max_connections: int,
    socket_timeout: float = SOCKET_TIMEOUT,
    health_check_interval: float = HEALTH_CHECK_INTERVAL,
) -> Redis:
    """A client of the Redis at ``url``, its connections named ``name`` (``CLIENT LIST``).

    It opens at most ``max_connections``; past them a command waits for one to be free,
    where redis-py's default pool fails past its cap (100): a service's handlers of one
    batch, or a gateway's concurrent HTTP requests, would get errors while Redis is fine.

    No command waits forever: a connection whose peer is gone without a word (Redis
    restarted at another address, a cut network) would otherwise hold its command, and
    every envelope queued behind it, until the kernel gives up after many minutes. A
    command gets ``socket_timeout`` seconds, with TCP keepalive beneath; a connection idle
    for ``health_check_interval`` is checked before it is used again.
    """
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=None,
        client_name=name,
        socket_timeout=socket_timeout,
        socket_connect_timeout=socket_timeout,
        socket_keepalive=True,
        health_check_interval=health_check_interval,
    )
    return Redis.from_pool(pool)
