"""The Redis state backend: one shared state for every replica.

Each operation is one server-side Lua script (`proxy.state.lua`), registered once per process (loaded into Redis
by `ping` at start-up, and again by redis-py after a Redis restart) and run by its sha, so a check-and-record is
atomic across replicas. Every call has a deadline (``timeout``); a failure raises `StateError`. After
``failure_threshold`` failures in a row the store cools down: for ``cooldown`` seconds calls fail at once instead
of each waiting for a dead server; after it, the next call tries again, so the store recovers by itself when Redis
returns.

Keys are ``{prefix}{{key}}:kind``: the braces are a Redis Cluster hash tag, so a window's two keys share a slot.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import Awaitable
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from proxy.state import lua
from proxy.state.base import RecentItem, SlotGrant, StateError, StateStore, WindowHit

T = TypeVar("T")


class RedisStore(StateStore):
    name = "redis"
    remote = True

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "railguard:",
        timeout: float = 0.5,
        cooldown: float = 1.0,
        failure_threshold: int = 3,
        max_connections: int = 256,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.timeout = timeout
        self.cooldown = cooldown
        self.failure_threshold = failure_threshold
        # One quick retry covers a pooled connection that died with a Redis restart; the deadline bounds the rest.
        self.client = aioredis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 1),
            max_connections=max_connections,
            decode_responses=True,
        )
        self._hit = self.client.register_script(lua.HIT)
        self._adjust = self.client.register_script(lua.ADJUST)
        self._acquire = self.client.register_script(lua.ACQUIRE)
        self._incr = self.client.register_script(lua.INCR)
        self._push = self.client.register_script(lua.PUSH)
        self._items = self.client.register_script(lua.ITEMS)
        self._scripts = [self._hit, self._adjust, self._acquire, self._incr, self._push, self._items]
        self._down_until = 0.0
        self._in_a_row = 0
        self.failures = 0  # all failures so far (for tests and diagnostics)

    def _key(self, key: str, kind: str) -> str:
        return f"{self.prefix}{{{key}}}:{kind}"

    async def _call(self, operation: Awaitable[T]) -> T:
        """Run one Redis operation under the deadline; any failure becomes StateError and starts the cool-down."""
        now = time.monotonic()
        if now < self._down_until:
            if asyncio.iscoroutine(operation):
                operation.close()  # never started: do not leave it un-awaited
            raise StateError(f"Redis unavailable; retrying in {self._down_until - now:.2f}s")
        try:
            async with asyncio.timeout(self.timeout):
                result = await operation
        except (RedisError, OSError, TimeoutError) as exc:
            self.failures += 1
            self._in_a_row += 1
            if self._in_a_row >= self.failure_threshold:
                self._down_until = time.monotonic() + self.cooldown
            reason = "timed out" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
            raise StateError(f"Redis {reason}") from exc
        self._down_until = 0.0
        self._in_a_row = 0
        return result

    # -- sliding windows -----------------------------------------------------------------------------------------

    async def hit(
        self, key: str, *, limit: float, window: float, cost: float = 1.0, force: bool = False, entry: str | None = None
    ) -> WindowHit:
        name = entry or uuid.uuid4().hex
        result: list[Any] = await self._call(
            self._hit(
                keys=[self._key(key, "w"), self._key(key, "c")],
                args=[limit, window * 1000.0, cost, 1 if force else 0, name],
            )
        )
        allowed = bool(int(result[0]))
        retry_ms = float(result[2])
        return WindowHit(
            allowed=allowed,
            used=float(result[1]),
            limit=limit,
            retry_after=None if retry_ms < 0 else retry_ms / 1000.0,
            reset_after=float(result[3]) / 1000.0,
            entry=name if allowed and cost > 0 else None,
        )

    async def adjust(self, key: str, entry: str, cost: float, *, window: float) -> None:
        await self._call(
            self._adjust(
                keys=[self._key(key, "w"), self._key(key, "c")],
                args=[cost, window * 1000.0, entry, uuid.uuid4().hex],
            )
        )

    # -- concurrency slots ---------------------------------------------------------------------------------------

    async def acquire(self, key: str, *, limit: int, lease: float) -> SlotGrant:
        token = uuid.uuid4().hex
        result: list[Any] = await self._call(
            self._acquire(keys=[self._key(key, "s")], args=[limit, lease * 1000.0, token])
        )
        acquired = bool(int(result[0]))
        return SlotGrant(acquired, int(result[1]), limit, token if acquired else None)

    async def release(self, key: str, token: str) -> None:
        await self._call(self.client.zrem(self._key(key, "s"), token))

    # -- counters ------------------------------------------------------------------------------------------------

    async def incr(self, key: str, amount: int = 1, *, ttl: float) -> int:
        value = await self._call(self._incr(keys=[self._key(key, "n")], args=[amount, math.ceil(ttl * 1000.0)]))
        return int(value)

    async def get(self, key: str) -> int:
        value = await self._call(self.client.get(self._key(key, "n")))
        return int(value) if value is not None else 0

    # -- recent items --------------------------------------------------------------------------------------------

    async def push(self, key: str, item: str, *, window: float, max_items: int = 100) -> list[RecentItem]:
        member = f"{uuid.uuid4().hex}|{item}"
        flat: list[Any] = await self._call(
            self._push(keys=[self._key(key, "i")], args=[member, window * 1000.0, max_items])
        )
        return _recent(flat)

    async def items(self, key: str, *, window: float) -> list[RecentItem]:
        flat: list[Any] = await self._call(self._items(keys=[self._key(key, "i")], args=[window * 1000.0]))
        return _recent(flat)

    # -- lifecycle -----------------------------------------------------------------------------------------------

    async def ping(self) -> None:
        """Check the connection and load the scripts, so the first requests need no extra round trips."""
        await self._call(self.client.ping())
        for script in self._scripts:
            await self._call(self.client.script_load(script.script))

    async def aclose(self) -> None:
        await self.client.aclose()


def _recent(flat: list[Any]) -> list[RecentItem]:
    """[member, score, member, score, ...] -> items; members are "id|item"."""
    return [
        RecentItem(float(flat[i + 1]) / 1000.0, str(flat[i]).split("|", 1)[1] if "|" in str(flat[i]) else str(flat[i]))
        for i in range(0, len(flat), 2)
    ]
