"""The in-process state backend: the embedded default for a single replica.

Bounded: at most ``max_keys`` keys (windows, slot pools, counters, item logs together). Expired keys are dropped
as they are met, and when a new key would pass the bound the least recently used key is evicted (counted in
``evictions``) — under that pressure a limit can forget a quiet caller, never refuse one wrongly. Every operation
runs to completion without awaiting, so it is atomic within the process's event loop.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from proxy.state.base import RecentItem, SlotGrant, StateStore, WindowHit


@dataclass(slots=True)
class _Entry:
    at: float
    cost: float


@dataclass(slots=True)
class _Window:
    entries: deque[_Entry] = field(default_factory=deque)
    by_id: dict[str, _Entry] = field(default_factory=dict)
    ids: dict[int, str] = field(default_factory=dict)  # id(entry) -> entry id, to forget ids as entries age out
    total: float = 0.0
    expires_at: float = 0.0

    def prune(self, now: float, window: float) -> None:
        while self.entries and self.entries[0].at <= now - window:
            gone = self.entries.popleft()
            self.total -= gone.cost
            name = self.ids.pop(id(gone), None)
            if name is not None:
                self.by_id.pop(name, None)
        if not self.entries:
            self.total = 0.0  # no float drift on an empty window

    def add(self, name: str, at: float, cost: float) -> None:
        entry = _Entry(at, cost)
        self.entries.append(entry)
        self.by_id[name] = entry
        self.ids[id(entry)] = name
        self.total += cost


@dataclass(slots=True)
class _Slots:
    holders: dict[str, float] = field(default_factory=dict)  # token -> lease end
    expires_at: float = 0.0


@dataclass(slots=True)
class _Counter:
    value: int = 0
    expires_at: float = 0.0


@dataclass(slots=True)
class _Items:
    items: deque[RecentItem] = field(default_factory=deque)
    expires_at: float = 0.0


_Value = _Window | _Slots | _Counter | _Items
V = TypeVar("V", _Window, _Slots, _Counter, _Items)


class MemoryStore(StateStore):
    name = "memory"

    def __init__(self, max_keys: int = 100_000, clock: Callable[[], float] = time.time) -> None:
        self.max_keys = max_keys
        self.clock = clock
        self.evictions = 0
        self._data: OrderedDict[tuple[str, str], _Value] = OrderedDict()

    def __len__(self) -> int:
        return len(self._data)

    def _find(self, kind: type[V], key: str, now: float) -> V | None:
        slot = (kind.__name__, key)
        value = self._data.get(slot)
        if value is None:
            return None
        if value.expires_at <= now:
            del self._data[slot]
            return None
        self._data.move_to_end(slot)
        assert isinstance(value, kind)
        return value

    def _create(self, kind: type[V], key: str, now: float) -> V:
        found = self._find(kind, key, now)
        if found is not None:
            return found
        self._sweep(now)
        while len(self._data) >= self.max_keys:
            self._data.popitem(last=False)
            self.evictions += 1
        value = kind()
        self._data[(kind.__name__, key)] = value
        return value

    def _sweep(self, now: float) -> None:
        """Drop expired keys from the least recently used end (cheap: stops at the first live one)."""
        while self._data:
            slot, value = next(iter(self._data.items()))
            if value.expires_at > now:
                return
            del self._data[slot]

    # -- sliding windows -----------------------------------------------------------------------------------------

    async def hit(
        self, key: str, *, limit: float, window: float, cost: float = 1.0, force: bool = False, entry: str | None = None
    ) -> WindowHit:
        now = self.clock()
        log = self._find(_Window, key, now)
        if log is not None:
            log.prune(now, window)
        used = log.total if log is not None else 0.0
        allowed = force or used + cost <= limit
        name = None
        if allowed and cost > 0:
            log = log or self._create(_Window, key, now)
            name = entry or uuid.uuid4().hex
            log.add(name, now, cost)
            log.expires_at = now + window
            used = log.total
        retry_after = 0.0 if allowed else self._retry_after(log, now, window, used + cost - limit, cost > limit)
        reset_after = log.entries[-1].at + window - now if log is not None and log.entries else 0.0
        return WindowHit(allowed, used, limit, retry_after, max(0.0, reset_after), name)

    @staticmethod
    def _retry_after(log: _Window | None, now: float, window: float, excess: float, never: bool) -> float | None:
        if never:
            return None
        freed = 0.0
        for entry in log.entries if log is not None else ():
            freed += entry.cost
            if freed >= excess:
                return max(0.0, entry.at + window - now)
        return 0.0

    async def adjust(self, key: str, entry: str, cost: float, *, window: float) -> None:
        now = self.clock()
        log = self._find(_Window, key, now)
        if log is not None:
            log.prune(now, window)
        found = log.by_id.get(entry) if log is not None else None
        if log is not None and found is not None:
            log.total += cost - found.cost
            found.cost = cost
            return
        if cost > 0:
            await self.hit(key, limit=0, window=window, cost=cost, force=True)

    # -- concurrency slots ---------------------------------------------------------------------------------------

    async def acquire(self, key: str, *, limit: int, lease: float) -> SlotGrant:
        now = self.clock()
        pool = self._find(_Slots, key, now)
        if pool is not None:
            pool.holders = {token: end for token, end in pool.holders.items() if end > now}
        in_use = len(pool.holders) if pool is not None else 0
        if in_use >= limit:
            return SlotGrant(False, in_use, limit)
        pool = pool or self._create(_Slots, key, now)
        token = uuid.uuid4().hex
        pool.holders[token] = now + lease
        pool.expires_at = max(pool.expires_at, now + lease)
        return SlotGrant(True, in_use + 1, limit, token)

    async def release(self, key: str, token: str) -> None:
        pool = self._find(_Slots, key, self.clock())
        if pool is not None:
            pool.holders.pop(token, None)

    # -- counters ------------------------------------------------------------------------------------------------

    async def incr(self, key: str, amount: int = 1, *, ttl: float) -> int:
        now = self.clock()
        counter = self._find(_Counter, key, now)
        if counter is None:
            counter = self._create(_Counter, key, now)
            counter.expires_at = now + ttl
        counter.value += amount
        return counter.value

    async def get(self, key: str) -> int:
        counter = self._find(_Counter, key, self.clock())
        return counter.value if counter is not None else 0

    # -- recent items --------------------------------------------------------------------------------------------

    async def push(self, key: str, item: str, *, window: float, max_items: int = 100) -> list[RecentItem]:
        now = self.clock()
        log = self._create(_Items, key, now)
        log.items.append(RecentItem(now, item))
        while len(log.items) > max_items:
            log.items.popleft()
        log.expires_at = now + window
        return [i for i in log.items if i.at > now - window]

    async def items(self, key: str, *, window: float) -> list[RecentItem]:
        now = self.clock()
        log = self._find(_Items, key, now)
        return [i for i in log.items if i.at > now - window] if log is not None else []
