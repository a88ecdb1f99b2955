"""RedisStore when Redis is unreachable or slow: one exception type, a deadline on every call, recovery."""

from __future__ import annotations

import asyncio
import time

import pytest

from proxy.servers import free_port
from proxy.state import StateError
from proxy.state.redis_store import RedisStore
from tests.redis_server import RedisServer, require_redis

pytestmark = pytest.mark.anyio


async def test_unreachable_redis_raises_state_error_then_fails_fast() -> None:
    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0", timeout=0.2, cooldown=5.0, failure_threshold=2)
    try:
        for _ in range(2):
            with pytest.raises(StateError, match="Redis ConnectionError"):
                await store.hit("k", limit=1, window=60)
        with pytest.raises(StateError, match="retrying in"):
            await store.hit("k", limit=1, window=60)
        assert store.failures == 2
    finally:
        await store.aclose()


async def test_slow_redis_times_out() -> None:
    """CLIENT PAUSE stalls every other client, as an overloaded server would: the call gives up at its deadline."""
    require_redis()
    with RedisServer() as server:
        store = RedisStore(server.url, timeout=0.2, cooldown=0.0)
        admin = RedisStore(server.url)
        try:
            await store.ping()
            await admin.client.execute_command("CLIENT", "PAUSE", "1500", "ALL")
            started = time.monotonic()
            with pytest.raises(StateError, match="timed out"):
                await store.hit("k", limit=5, window=60)
            assert time.monotonic() - started < 1.4  # the pause lasts 1.5 s
            await asyncio.sleep(1.6)
            assert (await store.hit("k", limit=5, window=60)).allowed
        finally:
            await store.aclose()
            await admin.aclose()


async def test_recovers_when_redis_comes_back() -> None:
    require_redis()
    with RedisServer() as server:
        store = RedisStore(server.url, timeout=0.3, cooldown=0.2)
        try:
            assert (await store.hit("k", limit=5, window=60)).allowed
            server.stop()
            with pytest.raises(StateError):
                await store.hit("k", limit=5, window=60)
            server.start()
            await asyncio.sleep(0.25)  # past the cool-down
            hit = await store.hit("k", limit=5, window=60)  # scripts are gone with the old server: re-loaded
            assert hit.allowed and hit.used == 1
        finally:
            await store.aclose()
