"""The in-process store's bound and expiry, on a clock the test moves (no sleeping)."""

from __future__ import annotations

import pytest

from proxy.state import MemoryStore

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_keys_are_bounded_least_recently_used_first() -> None:
    store = MemoryStore(max_keys=3, clock=Clock())
    for name in ("a", "b", "c"):
        await store.hit(name, limit=5, window=60)
    await store.hit("a", limit=5, window=60)  # a is now the most recently used
    await store.incr("d", ttl=60)  # a fourth key evicts the least recently used: b
    assert len(store) == 3 and store.evictions == 1
    assert (await store.hit("a", limit=5, window=60, cost=0)).used == 2
    assert (await store.hit("b", limit=5, window=60, cost=0)).used == 0
    assert (await store.hit("c", limit=5, window=60, cost=0)).used == 1


async def test_every_kind_of_key_expires() -> None:
    clock = Clock()
    store = MemoryStore(clock=clock)
    await store.hit("w", limit=5, window=10)
    await store.acquire("s", limit=1, lease=10)
    await store.incr("n", ttl=10)
    await store.push("i", "x", window=10)
    assert len(store) == 4
    clock.now += 9.9
    assert (await store.hit("w", limit=5, window=10, cost=0)).used == 1
    assert await store.get("n") == 1
    clock.now += 0.2
    assert (await store.hit("w", limit=5, window=10, cost=0)).used == 0
    assert await store.get("n") == 0
    assert (await store.acquire("s", limit=1, lease=10)).acquired
    assert await store.items("i", window=10) == []


async def test_expired_keys_do_not_count_against_the_bound() -> None:
    clock = Clock()
    store = MemoryStore(max_keys=2, clock=clock)
    await store.incr("old-1", ttl=1)
    await store.incr("old-2", ttl=1)
    clock.now += 2
    await store.incr("new-1", ttl=60)
    await store.incr("new-2", ttl=60)
    assert store.evictions == 0 and len(store) == 2
    assert await store.get("new-1") == 1 and await store.get("new-2") == 1


async def test_window_edges_on_an_exact_clock() -> None:
    """An entry counts for exactly `window` seconds: refused just before the first entry ages out, allowed at it."""
    clock = Clock()
    store = MemoryStore(clock=clock)
    for _ in range(3):
        assert (await store.hit("e", limit=3, window=60)).allowed
    clock.now += 59.999
    refused = await store.hit("e", limit=3, window=60)
    assert not refused.allowed and refused.retry_after == pytest.approx(0.001)
    clock.now += 0.001
    assert (await store.hit("e", limit=3, window=60)).allowed
