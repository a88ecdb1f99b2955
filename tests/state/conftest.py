"""State-store fixtures: the memory store and the machine's real Redis (skipped, with the reason, when absent)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from proxy.state import MemoryStore, StateStore
from tests.redis_server import require_redis


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[StateStore]:
    """Each backend in turn; Redis keys get a fresh prefix so runs never see each other's state."""
    if request.param == "memory":
        yield MemoryStore()
        return
    from proxy.state.redis_store import RedisStore

    # These tests check what the store does, not how fast: a generous deadline, so that 40 concurrent first calls
    # (each opening a connection) on a loaded 2-core machine do not time out. Deadlines: test_redis_failures.py.
    redis_store = RedisStore(require_redis(), prefix=f"rgtest:{uuid.uuid4().hex[:8]}:", timeout=5.0)
    try:
        yield redis_store
    finally:
        keys = [k async for k in redis_store.client.scan_iter(match=redis_store.prefix + "*")]
        if keys:
            await redis_store.client.delete(*keys)
        await redis_store.aclose()
