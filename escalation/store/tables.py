"""The review store's tables (SQLAlchemy Core). The schema is created and changed only by the Alembic migrations in
`migrations/versions` (a test checks that they produce exactly these tables).

Times are Unix seconds (floats) so that both backends compute durations the same way. Nothing here holds raw user
text: conversations, answers, comments and memory examples are masked before they are written.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()
VERSION_TABLE = "rg_alembic_version"  # Alembic's own table, named so it cannot clash with an app's Alembic

reviews = Table(
    "rg_reviews",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("request_id", String(64), nullable=False, index=True),
    Column("tenant", String(200), nullable=False),
    Column("policy", String(200), nullable=False),
    Column("policy_version", String(32), nullable=False),
    Column("route", String(200), nullable=False),
    Column("model", String(200), nullable=True),
    Column("user_id", String(200), nullable=True),
    Column("session_id", String(200), nullable=True),
    Column("status", String(16), nullable=False),  # open -> claimed -> resolved
    Column("priority", Integer, nullable=False),  # 0 low, 1 normal, 2 high, 3 urgent
    Column("triggers", String(500), nullable=False),  # ",request_human,violation," (portable LIKE filtering)
    Column("reasons", JSON, nullable=False),
    Column("shown", String(16), nullable=False),  # answer | notice | handoff | blocked
    Column("blocked", Boolean, nullable=False),
    Column("confidence", Float, nullable=True),
    Column("conversation", JSON, nullable=False),  # masked [{role, text}]
    Column("answer", Text, nullable=False),  # masked
    Column("findings", JSON, nullable=False),
    Column("claimed_by", String(200), nullable=True),
    Column("claimed_at", Float, nullable=True),
    Column("resolved_by", String(200), nullable=True),
    Column("resolved_at", Float, nullable=True),
    Column("verdict", String(32), nullable=True),
    Column("category", String(64), nullable=True),
    Column("notes", Text, nullable=True),
    Column("learned", JSON, nullable=True),  # memory entries this verdict added
    Index("ix_rg_reviews_queue", "status", "priority", "created_at"),
    Index("ix_rg_reviews_policy_created", "policy", "created_at"),
)

decisions = Table(
    "rg_decisions",
    metadata,
    Column("request_id", String(64), primary_key=True),
    Column("created_at", Float, nullable=False, index=True),
    Column("tenant", String(200), nullable=False),
    Column("policy", String(200), nullable=False),
    Column("policy_version", String(32), nullable=False),
    Column("route", String(200), nullable=False),
    Column("model", String(200), nullable=True),
    Column("user_id", String(200), nullable=True),
    Column("session_id", String(200), nullable=True),
    Column("blocked", Boolean, nullable=False),
    Column("escalated", Boolean, nullable=False),
    Column("review_id", String(36), nullable=True),
    Column("confidence", Float, nullable=True),
    Column("events", JSON, nullable=False),  # the request's guardrail events (masked samples)
    Index("ix_rg_decisions_policy_created", "policy", "created_at"),
)

feedback = Table(
    "rg_feedback",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("created_at", Float, nullable=False, index=True),
    Column("request_id", String(64), nullable=False, index=True),
    Column("tenant", String(200), nullable=False),
    Column("user_id", String(200), nullable=True),
    Column("rating", Integer, nullable=False),  # thumbs: 0 down / 1 up; stars: 1..5
    Column("scale", String(8), nullable=False),  # thumbs | stars
    Column("score", Float, nullable=False),  # the rating on 0..1
    Column("comment", Text, nullable=True),  # masked
    Column("category", String(64), nullable=True),
)

memory = Table(
    "rg_memory",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("kind", String(8), nullable=False),  # attack | allow
    Column("text", Text, nullable=False),  # masked prompt
    Column("embedding", LargeBinary, nullable=False),  # float32, L2-normalised, shared encoder
    Column("created_at", Float, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("review_id", String(36), nullable=True),
    Column("removed_at", Float, nullable=True),
    Column("removed_by", String(200), nullable=True),
)

# Monotonic counters replicas poll to notice changes (e.g. `memory`: bumped with every memory change).
counters = Table(
    "rg_counters",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", BigInteger, nullable=False),
)
