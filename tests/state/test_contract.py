"""The state interface's contract, run against both backends (memory, and the machine's real Redis)."""

from __future__ import annotations

import asyncio

import pytest

from proxy.state import StateStore

pytestmark = pytest.mark.anyio


async def test_window_allows_exactly_the_limit(store: StateStore) -> None:
    results = [await store.hit("w", limit=3, window=60) for _ in range(4)]
    assert [r.allowed for r in results] == [True, True, True, False]
    assert [r.used for r in results] == [1, 2, 3, 3]
    assert results[2].remaining == 0
    refused = results[3]
    assert refused.entry is None
    assert refused.retry_after is not None and 59.0 < refused.retry_after <= 60.0
    assert 59.0 < refused.reset_after <= 60.0


async def test_window_slides_rather_than_resetting(store: StateStore) -> None:
    """Entries leave one by one as each ages out: no fixed boundary at which the whole limit comes back."""
    # Wide margins: a stall of a few hundred ms on a busy machine must not change the outcome.
    await store.hit("s", limit=2, window=1.2)
    await asyncio.sleep(0.6)
    second = await store.hit("s", limit=2, window=1.2)
    assert second.allowed
    refused = await store.hit("s", limit=2, window=1.2)
    assert not refused.allowed
    assert refused.retry_after is not None and refused.retry_after < 0.65  # only the first entry has to age out
    await asyncio.sleep(refused.retry_after + 0.1)  # the first entry is gone, the second is not
    assert (await store.hit("s", limit=2, window=1.2)).allowed
    assert not (await store.hit("s", limit=2, window=1.2)).allowed


async def test_weighted_costs_and_a_cost_that_can_never_fit(store: StateStore) -> None:
    assert (await store.hit("t", limit=100, window=60, cost=60)).allowed
    refused = await store.hit("t", limit=100, window=60, cost=50)
    assert not refused.allowed and refused.used == 60 and refused.retry_after is not None
    assert (await store.hit("t", limit=100, window=60, cost=40)).allowed
    never = await store.hit("t", limit=100, window=60, cost=101)
    assert not never.allowed and never.retry_after is None
    peek = await store.hit("t", limit=100, window=60, cost=0)
    assert peek.allowed and peek.used == 100 and peek.entry is None


async def test_forced_costs_and_adjustments(store: StateStore) -> None:
    first = await store.hit("a", limit=10, window=60, cost=4)
    assert first.entry is not None
    forced = await store.hit("a", limit=10, window=60, cost=20, force=True)
    assert forced.allowed and forced.used == 24
    await store.adjust("a", first.entry, 1, window=60)
    assert (await store.hit("a", limit=10, window=60, cost=0)).used == 21
    assert forced.entry is not None
    await store.adjust("a", forced.entry, 0, window=60)
    assert (await store.hit("a", limit=10, window=60, cost=0)).used == 1
    await store.adjust("a", "no-such-entry", 5, window=60)  # aged out: the difference is charged now
    assert (await store.hit("a", limit=10, window=60, cost=0)).used == 6


async def test_named_entries(store: StateStore) -> None:
    hit = await store.hit("n", limit=10, window=60, cost=2, entry="request-1")
    assert hit.entry == "request-1"
    await store.adjust("n", "request-1", 7, window=60)
    assert (await store.hit("n", limit=10, window=60, cost=0)).used == 7


async def test_concurrent_hits_admit_exactly_the_limit(store: StateStore) -> None:
    results = await asyncio.gather(*(store.hit("c", limit=10, window=60) for _ in range(40)))
    assert sum(r.allowed for r in results) == 10


async def test_slots(store: StateStore) -> None:
    first = await store.acquire("slots", limit=2, lease=60)
    second = await store.acquire("slots", limit=2, lease=60)
    third = await store.acquire("slots", limit=2, lease=60)
    assert (first.acquired, second.acquired, third.acquired) == (True, True, False)
    assert third.in_use == 2 and third.token is None
    assert first.token is not None
    await store.release("slots", first.token)
    await store.release("slots", first.token)  # twice is harmless
    again = await store.acquire("slots", limit=2, lease=60)
    assert again.acquired and again.in_use == 2


async def test_slot_leases_run_out(store: StateStore) -> None:
    assert (await store.acquire("lease", limit=1, lease=1.0)).acquired
    assert not (await store.acquire("lease", limit=1, lease=1.0)).acquired
    await asyncio.sleep(1.1)
    assert (await store.acquire("lease", limit=1, lease=1.0)).acquired


async def test_counters(store: StateStore) -> None:
    assert await store.get("n") == 0
    assert await store.incr("n", ttl=1.0) == 1
    assert await store.incr("n", 4, ttl=1.0) == 5
    assert await store.get("n") == 5
    await asyncio.sleep(1.1)
    assert await store.get("n") == 0


async def test_recent_items(store: StateStore) -> None:
    await store.push("q", "alpha", window=60)
    await store.push("q", "beta|with a bar", window=60)
    recent = await store.push("q", "alpha", window=60)
    assert [r.item for r in recent] == ["alpha", "beta|with a bar", "alpha"]
    assert recent[0].at <= recent[1].at <= recent[2].at
    assert [r.item for r in await store.items("q", window=60)] == ["alpha", "beta|with a bar", "alpha"]
    for number in range(5):
        capped = await store.push("cap", str(number), window=60, max_items=3)
    assert [r.item for r in capped] == ["2", "3", "4"]


async def test_recent_items_age_out(store: StateStore) -> None:
    await store.push("old", "one", window=0.3)
    await asyncio.sleep(0.4)
    assert [r.item for r in await store.push("old", "two", window=0.3)] == ["two"]
    assert await store.items("absent", window=60) == []
