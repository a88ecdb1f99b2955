"""The review store's two backends, as a fixture: every test that takes `review_backend` runs on SQLite and on
PostgreSQL (127.0.0.1:5432, trust auth, database `test`; each test gets its own schema, dropped afterwards). The
PostgreSQL run skips, saying why, when the server is not there."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


@dataclass(frozen=True)
class Backend:
    name: str
    url: str
    schema: str | None = None


def _postgres_problem() -> str | None:
    import asyncpg

    async def probe() -> None:
        connection = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/test", timeout=3)
        await connection.close()

    try:
        asyncio.run(probe())
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _drop_schema(schema: str) -> None:
    import asyncpg

    async def drop() -> None:
        connection = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/test", timeout=3)
        await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await connection.close()

    asyncio.run(drop())


@pytest.fixture(params=["sqlite", "postgresql"])
def review_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        yield Backend("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'reviews.db'}")
        return
    problem = _postgres_problem()
    if problem is not None:
        pytest.skip(f"PostgreSQL is not reachable at 127.0.0.1:5432 (trust auth, database test): {problem}")
    schema = f"rg_test_{uuid.uuid4().hex[:12]}"
    try:
        yield Backend("postgresql", POSTGRES, schema)
    finally:
        _drop_schema(schema)
