"""Shared state for guards that remember across requests: rate limits, escalation's probing counters.

    from proxy.state import StateStore, StateError

    # exchange.store is the process's one StateStore (memory by default, Redis when `redis_url` is set)
    hit = await store.hit("probe:user:alice", limit=10, window=60)       # sliding window: False once 10 in 60 s
    grant = await store.acquire("rl:user:alice:conc", limit=4, lease=600)
    await store.release("rl:user:alice:conc", grant.token)
    recent = await store.push("dup:user:alice", signature, window=60)   # near-duplicate counting
    n = await store.incr("hits:user:alice", ttl=60)

Every method may raise `StateError` (and nothing else) when the backend fails; decide what that means with the
policy's ``on_error``.
"""

from __future__ import annotations

from proxy.state.base import RecentItem, SlotGrant, StateError, StateStore, WindowHit
from proxy.state.memory import MemoryStore

__all__ = [
    "MemoryStore",
    "RecentItem",
    "SlotGrant",
    "StateError",
    "StateStore",
    "WindowHit",
    "open_store",
]


def open_store(
    redis_url: str | None,
    *,
    prefix: str = "railguard:",
    timeout: float = 0.5,
    cooldown: float = 1.0,
    max_keys: int = 100_000,
) -> StateStore:
    """The Redis store when ``redis_url`` is given, else the bounded in-process store."""
    if redis_url:
        from proxy.state.redis_store import RedisStore

        return RedisStore(redis_url, prefix=prefix, timeout=timeout, cooldown=cooldown)
    return MemoryStore(max_keys=max_keys)
