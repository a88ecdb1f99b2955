"""Alembic environment of the review store.

Railguard runs the migrations itself at start-up (`ReviewStore.start`), handing its own connection over in
``config.attributes["connection"]`` inside a transaction that holds a lock, so replicas starting together migrate
once. Run from the command line (`alembic -c escalation/store/alembic.ini ...`) it opens its own connection.
"""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from escalation.store.tables import VERSION_TABLE, metadata

config = context.config


def run_with(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode rebuilds tables instead
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def database_url() -> str:
    return os.environ.get("RAILGUARD_REVIEW_DB") or config.get_main_option("sqlalchemy.url") or ""


def run_offline() -> None:
    context.configure(
        url=database_url(),
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_own_connection() -> None:
    engine = create_async_engine(database_url())
    async with engine.begin() as connection:
        await connection.run_sync(run_with)
    await engine.dispose()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        run_with(connection)
    else:
        asyncio.run(run_own_connection())


if context.is_offline_mode():
    run_offline()
else:
    run_online()
