"""The Redis client of every program on the bus."""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis

__all__ = ["redis_client"]


def redis_client(url: str, *, name: str, max_connections: int) -> Redis:
    """A client of the Redis at ``url``, its connections named ``name`` (``CLIENT LIST``).

    It opens at most ``max_connections``; past them a command waits for one to be free,
    where redis-py's default pool fails past its cap (100): a service's handlers of one
    batch, or a gateway's concurrent HTTP requests, would get errors while Redis is fine.
    """
    pool = BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=None, client_name=name
    )
    return Redis.from_pool(pool)
