"""Alembic environment: the URL comes from the caller or from Settings."""

from __future__ import annotations

from collections import Counter
from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy import Connection

from app import models_registry
from app.config import Settings
from app.db import create_db_engine

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = models_registry.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _broken_references(raw: Any) -> Counter[tuple[str, str]]:
    """(table, referenced table) of every row whose foreign key points nowhere (SQLite)."""
    return Counter((row[0], row[2]) for row in raw.execute("PRAGMA foreign_key_check").fetchall())


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url") or Settings().sqlalchemy_url
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            sqlite = conn.dialect.name == "sqlite"
            if sqlite:
                # A batch migration recreates a table (copy, drop, rename); dropping one that other rows
                # reference fails while SQLite enforces foreign keys, and the pragma only changes outside a
                # transaction. Off for the migration; references are checked before the commit instead.
                raw = conn.connection.driver_connection
                raw.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
                broken_before = _broken_references(raw)
            _run(conn)
            if sqlite:
                added = _broken_references(raw) - broken_before
                if added:
                    conn.rollback()
                    raise RuntimeError(f"the migration broke references: {sorted(added)[:5]}")
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run against a database")
run_migrations_online()
