"""The review store: escalations awaiting review, per-request decision records, feedback and the verdict memory.

One interface over two backends, both through SQLAlchemy's asyncio engine: SQLite (`sqlite+aiosqlite:///file.db`,
the embedded default) and PostgreSQL (`postgresql+asyncpg://...`, shared by every replica). The schema is managed by
Alembic; `start()` applies the migrations under a lock so replicas that start together migrate once.

Claims are race-free without locks held across requests: a claim is one conditional UPDATE (`... WHERE status =
'open'`), which both databases apply atomically, so of two reviewers claiming at once exactly one wins.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from alembic import command
from alembic.config import Config
from sqlalchemy import Table, delete, event, func, insert, make_url, select, update
from sqlalchemy.engine import Connection, CursorResult, RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from escalation.store.tables import counters, decisions, feedback, memory, reviews

MIGRATIONS = Path(__file__).with_name("migrations")
# Any constant works: it only has to be the same in every replica.
_PG_MIGRATION_LOCK = 0x5261696C  # "Rail"

PRIORITIES = {"low": 0, "normal": 1, "high": 2, "urgent": 3}
PRIORITY_NAMES = {value: name for name, value in PRIORITIES.items()}
VERDICTS = ("correct_block", "false_positive", "missed_harm", "fine")
STATUSES = ("open", "claimed", "resolved")


class StoreError(Exception):
    pass


class NotFound(StoreError):
    pass


class Conflict(StoreError):
    """The review is not in a state that allows this (claimed by someone else, already resolved, ...)."""


@dataclass(frozen=True, slots=True)
class MemoryEntry:
    id: str
    kind: str  # attack | allow
    embedding: npt.NDArray[np.float32]


def _now() -> float:
    return time.time()


def _new_id() -> str:
    return str(uuid.uuid4())


def _use_wal(path: str, timeout: float = 30.0) -> None:
    """Put a SQLite file in WAL mode (readers never wait for the writer); the mode is stored in the file.

    Switching modes needs an exclusive lock, and SQLite answers "database is locked" at once, without waiting out the
    busy timeout, when it would otherwise deadlock with another connection's write; replicas starting together hit
    exactly that, so we retry here, off the event loop.
    """
    deadline = time.monotonic() + timeout
    while True:
        connection = sqlite3.connect(path, timeout=timeout)
        try:
            connection.execute("PRAGMA journal_mode=WAL")  # a file system without WAL support keeps its mode
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
        finally:
            connection.close()
        time.sleep(0.05)


def _rowcount(result: Any) -> int:
    return int(result.rowcount) if isinstance(result, CursorResult) else 0


class ReviewStore:
    def __init__(self, url: str, schema: str | None = None) -> None:
        self.url = url
        self.schema = schema
        self.is_sqlite = url.startswith("sqlite")
        if schema is not None and self.is_sqlite:
            raise ValueError("a schema applies to PostgreSQL only")
        self._engine: AsyncEngine | None = None

    # -- lifecycle ------------------------------------------------------------------------------------------------

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            raise StoreError("the review store is not started")
        return self._engine

    def _create_engine(self, immediate: bool = False) -> AsyncEngine:
        if not self.is_sqlite:
            connect_args: dict[str, Any] = {}
            if self.schema:
                connect_args["server_settings"] = {"search_path": self.schema}
            return create_async_engine(self.url, pool_pre_ping=True, connect_args=connect_args)
        memory_db = self.url.rstrip("/").endswith(("sqlite+aiosqlite:", ":memory:"))
        engine = create_async_engine(
            self.url,
            connect_args={"timeout": 30},
            **({"poolclass": StaticPool} if memory_db else {}),
        )

        # SQLAlchemy's recipe for real SQLite transactions: take BEGIN out of pysqlite's hands and emit it ourselves
        # (IMMEDIATE for migrations, so a second replica waits for the first instead of racing it).
        @event.listens_for(engine.sync_engine, "connect")
        def _connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _begin(connection: Connection) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine

    async def start(self) -> None:
        """Connect and bring the schema up to date."""
        if self._engine is not None:
            return
        if self.is_sqlite:
            database = make_url(self.url).database
            if database and database != ":memory:":
                await asyncio.to_thread(_use_wal, database)
        migrator = self._create_engine(immediate=True)
        try:
            async with migrator.begin() as connection:
                if not self.is_sqlite:
                    # Lock first: even CREATE SCHEMA IF NOT EXISTS races between replicas.
                    await connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
                    if self.schema:
                        await connection.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                await connection.run_sync(_upgrade)
        finally:
            await migrator.dispose()
        self._engine = self._create_engine()

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    # -- reviews --------------------------------------------------------------------------------------------------

    async def add_review(self, values: Mapping[str, Any]) -> str:
        """Queue an escalation; ``values`` are the reviews columns (id, status and times are filled in)."""
        review_id = str(values.get("id") or _new_id())
        now = _now()
        row = {**values, "id": review_id, "status": "open", "created_at": now, "updated_at": now}
        row["triggers"] = "," + ",".join(values.get("triggers") or []) + ","
        async with self.engine.begin() as connection:
            await connection.execute(insert(reviews).values(**row))
        return review_id

    async def review(self, review_id: str) -> dict[str, Any] | None:
        async with self.engine.connect() as connection:
            row = (await connection.execute(select(reviews).where(reviews.c.id == review_id))).mappings().first()
        return _review(row) if row is not None else None

    async def reviews(
        self,
        *,
        status: str | None = None,
        trigger: str | None = None,
        policy: str | None = None,
        tenant: str | None = None,
        min_priority: int | None = None,
        verdict: str | None = None,
        request_id: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        """Reviews matching every filter given, most urgent first, then oldest first; and how many match."""
        conditions = []
        if status:
            conditions.append(reviews.c.status == status)
        if trigger:
            conditions.append(reviews.c.triggers.like(f"%,{trigger},%"))
        if policy:
            conditions.append(reviews.c.policy == policy)
        if tenant:
            conditions.append(reviews.c.tenant == tenant)
        if min_priority is not None:
            conditions.append(reviews.c.priority >= min_priority)
        if verdict:
            conditions.append(reviews.c.verdict == verdict)
        if request_id:
            conditions.append(reviews.c.request_id == request_id)
        query = (
            select(reviews)
            .where(*conditions)
            .order_by(reviews.c.priority.desc(), reviews.c.created_at.asc())
            .limit(limit)
            .offset(offset)
        )
        async with self.engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
            total = (await connection.execute(select(func.count()).select_from(reviews).where(*conditions))).scalar()
        return [_review(row) for row in rows], int(total or 0)

    async def claim(self, review_id: str, reviewer: str) -> dict[str, Any]:
        now = _now()
        async with self.engine.begin() as connection:
            claimed = await connection.execute(
                update(reviews)
                .where(reviews.c.id == review_id, reviews.c.status == "open")
                .values(status="claimed", claimed_by=reviewer, claimed_at=now, updated_at=now)
            )
        found = await self.review(review_id)
        if found is None:
            raise NotFound(f"no review {review_id}")
        if _rowcount(claimed) == 1 or (found["status"] == "claimed" and found["claimed_by"] == reviewer):
            return found
        holder = found["claimed_by"] if found["status"] == "claimed" else found["resolved_by"]
        raise Conflict(f"review {review_id} is already {found['status']} by {holder}")

    async def release(self, review_id: str, reviewer: str) -> dict[str, Any]:
        """Give a claimed review back to the queue (only its claimant can)."""
        now = _now()
        async with self.engine.begin() as connection:
            released = await connection.execute(
                update(reviews)
                .where(reviews.c.id == review_id, reviews.c.status == "claimed", reviews.c.claimed_by == reviewer)
                .values(status="open", claimed_by=None, claimed_at=None, updated_at=now)
            )
        return await self._after_transition(review_id, released, "release", reviewer)

    async def resolve(
        self,
        review_id: str,
        reviewer: str,
        verdict: str,
        notes: str | None = None,
        category: str | None = None,
    ) -> dict[str, Any]:
        """Close a review claimed by ``reviewer`` with a verdict."""
        if verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}")
        now = _now()
        async with self.engine.begin() as connection:
            resolved = await connection.execute(
                update(reviews)
                .where(reviews.c.id == review_id, reviews.c.status == "claimed", reviews.c.claimed_by == reviewer)
                .values(
                    status="resolved",
                    resolved_by=reviewer,
                    resolved_at=now,
                    verdict=verdict,
                    notes=notes,
                    category=category,
                    updated_at=now,
                )
            )
        return await self._after_transition(review_id, resolved, "resolve", reviewer)

    async def record_learned(self, review_id: str, entries: list[str]) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(update(reviews).where(reviews.c.id == review_id).values(learned=entries))

    async def _after_transition(self, review_id: str, result: Any, action: str, reviewer: str) -> dict[str, Any]:
        found = await self.review(review_id)
        if found is None:
            raise NotFound(f"no review {review_id}")
        if _rowcount(result) == 1:
            return found
        if found["status"] == "claimed":
            raise Conflict(
                f"cannot {action} review {review_id}: it is claimed by {found['claimed_by']}, not {reviewer}"
            )
        raise Conflict(f"cannot {action} review {review_id}: it is {found['status']} (claim it first)")

    # -- per-request decisions ------------------------------------------------------------------------------------

    async def record_decisions(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        async with self.engine.begin() as connection:
            await connection.execute(self._insert_ignoring_duplicates(decisions), [dict(r) for r in rows])

    async def decision(self, request_id: str) -> dict[str, Any] | None:
        async with self.engine.connect() as connection:
            row = (
                (await connection.execute(select(decisions).where(decisions.c.request_id == request_id)))
                .mappings()
                .first()
            )
        return dict(row) if row is not None else None

    async def prune_decisions(self, max_rows: int, max_age_seconds: float) -> int:
        """Keep the decision records bounded: drop those older than ``max_age_seconds`` and all but the newest
        ``max_rows``."""
        cutoff = _now() - max_age_seconds
        newest = select(decisions.c.created_at).order_by(decisions.c.created_at.desc()).limit(1).offset(max_rows)
        async with self.engine.begin() as connection:
            aged = await connection.execute(delete(decisions).where(decisions.c.created_at < cutoff))
            excess = await connection.execute(
                delete(decisions).where(decisions.c.created_at < newest.scalar_subquery())
            )
        return _rowcount(aged) + _rowcount(excess)

    # -- feedback -------------------------------------------------------------------------------------------------

    async def add_feedback(self, values: Mapping[str, Any]) -> dict[str, Any]:
        row = {**values, "id": _new_id(), "created_at": _now()}
        async with self.engine.begin() as connection:
            await connection.execute(insert(feedback).values(**row))
        return row

    async def feedback(
        self,
        *,
        request_id: str | None = None,
        tenant: str | None = None,
        max_score: float | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        conditions = []
        if request_id:
            conditions.append(feedback.c.request_id == request_id)
        if tenant:
            conditions.append(feedback.c.tenant == tenant)
        if max_score is not None:
            conditions.append(feedback.c.score <= max_score)
        query = select(feedback).where(*conditions).order_by(feedback.c.created_at.desc()).limit(limit).offset(offset)
        async with self.engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
            total = (await connection.execute(select(func.count()).select_from(feedback).where(*conditions))).scalar()
        return [dict(row) for row in rows], int(total or 0)

    # -- verdict memory -------------------------------------------------------------------------------------------

    async def add_memory(
        self, kind: str, text: str, embedding: npt.NDArray[np.float32], actor: str, review_id: str | None
    ) -> str:
        entry_id = _new_id()
        vector = np.asarray(embedding, dtype=np.float32).reshape(-1)
        async with self.engine.begin() as connection:
            await connection.execute(
                insert(memory).values(
                    id=entry_id,
                    kind=kind,
                    text=text,
                    embedding=vector.tobytes(),
                    created_at=_now(),
                    created_by=actor,
                    review_id=review_id,
                )
            )
            await self._bump(connection, "memory")
        return entry_id

    async def remove_memory(self, entry_id: str, actor: str) -> dict[str, Any]:
        async with self.engine.begin() as connection:
            removed = await connection.execute(
                update(memory)
                .where(memory.c.id == entry_id, memory.c.removed_at.is_(None))
                .values(removed_at=_now(), removed_by=actor)
            )
            if _rowcount(removed):
                await self._bump(connection, "memory")
        entries = await self.memory_entries(include_removed=True, entry_id=entry_id)
        if not entries:
            raise NotFound(f"no memory entry {entry_id}")
        if not _rowcount(removed):
            raise Conflict(f"memory entry {entry_id} was already removed")
        return entries[0]

    async def memory_entries(
        self, kind: str | None = None, include_removed: bool = False, entry_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Entries without their embeddings (for listing)."""
        columns = [c for c in memory.c if c.name != "embedding"]
        conditions = []
        if kind:
            conditions.append(memory.c.kind == kind)
        if not include_removed:
            conditions.append(memory.c.removed_at.is_(None))
        if entry_id:
            conditions.append(memory.c.id == entry_id)
        query = select(*columns).where(*conditions).order_by(memory.c.created_at.desc())
        async with self.engine.connect() as connection:
            return [dict(row) for row in (await connection.execute(query)).mappings().all()]

    async def active_memory(self) -> list[MemoryEntry]:
        query = select(memory.c.id, memory.c.kind, memory.c.embedding).where(memory.c.removed_at.is_(None))
        async with self.engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [MemoryEntry(r.id, r.kind, np.frombuffer(r.embedding, dtype=np.float32).copy()) for r in rows]

    async def revision(self, name: str) -> int:
        async with self.engine.connect() as connection:
            value = (await connection.execute(select(counters.c.value).where(counters.c.name == name))).scalar()
        return int(value or 0)

    async def _bump(self, connection: AsyncConnection, name: str) -> None:
        await connection.execute(update(counters).where(counters.c.name == name).values(value=counters.c.value + 1))

    # -- metrics --------------------------------------------------------------------------------------------------

    async def metric_rows(self, since: float, until: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(decision counts per policy, reviews created in the window) for `escalation.metrics`."""
        per_policy = (
            select(decisions.c.policy, func.count().label("requests"))
            .where(decisions.c.created_at >= since, decisions.c.created_at < until)
            .group_by(decisions.c.policy)
        )
        window = select(
            reviews.c.policy,
            reviews.c.triggers,
            reviews.c.status,
            reviews.c.verdict,
            reviews.c.created_at,
            reviews.c.resolved_at,
            reviews.c.blocked,
        ).where(reviews.c.created_at >= since, reviews.c.created_at < until)
        async with self.engine.connect() as connection:
            counts = (await connection.execute(per_policy)).mappings().all()
            rows = (await connection.execute(window)).mappings().all()
        return [dict(r) for r in counts], [dict(r) for r in rows]

    # -- helpers --------------------------------------------------------------------------------------------------

    def _insert_ignoring_duplicates(self, table: Table) -> Any:
        if self.is_sqlite:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            return sqlite_insert(table).on_conflict_do_nothing()
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()

    async def dump(self) -> dict[str, list[dict[str, Any]]]:
        """Every row of every table (tests check that no raw PII reached the database)."""
        result: dict[str, list[dict[str, Any]]] = {}
        async with self.engine.connect() as connection:
            for table in (reviews, decisions, feedback, memory):
                rows = (await connection.execute(select(table))).mappings().all()
                result[table.name] = [dict(row) for row in rows]
        return result


def _upgrade(connection: Connection) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _review(row: RowMapping) -> dict[str, Any]:
    review = dict(row)
    review["triggers"] = [t for t in str(review["triggers"]).split(",") if t]
    review["priority_name"] = PRIORITY_NAMES.get(int(review["priority"]), str(review["priority"]))
    return review


__all__ = [
    "PRIORITIES",
    "VERDICTS",
    "Conflict",
    "MemoryEntry",
    "NotFound",
    "ReviewStore",
    "StoreError",
]
