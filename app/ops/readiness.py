"""Readiness checks, on a small engine of their own so a busy request pool cannot hang them."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from app.config import PROJECT_ROOT

logger = logging.getLogger("skillproof.ready")
CHECK_TIMEOUT_SECONDS = 2
_lock = threading.Lock()


def ops_engine(state: Any) -> Engine:
    """A pool-less engine for probes and metrics, created once per app."""
    with _lock:
        engine: Engine | None = getattr(state, "ops_engine", None)
        if engine is None:
            url: str = state.settings.sqlalchemy_url
            if url.startswith("sqlite"):
                connect_args: dict[str, Any] = {"timeout": CHECK_TIMEOUT_SECONDS}
            else:
                connect_args = {
                    "connect_timeout": CHECK_TIMEOUT_SECONDS,
                    "options": f"-c statement_timeout={CHECK_TIMEOUT_SECONDS * 1000}",
                }
            engine = create_engine(url, poolclass=NullPool, connect_args=connect_args)
            state.ops_engine = engine
        return engine


def migration_heads() -> set[str]:
    """The head revisions of the migration scripts this code ships."""
    for candidate in (PROJECT_ROOT / "alembic.ini", Path.cwd() / "alembic.ini"):
        if candidate.is_file():
            config = Config(str(candidate))
            return set(ScriptDirectory.from_config(config).get_heads())
    raise FileNotFoundError("alembic.ini not found")


def run_checks(state: Any) -> dict[str, str]:
    """{"database", "migrations", "signing_key"} (and "issuer_identity" when it failed) -> "ok" or what is wrong."""
    checks = {"database": "ok", "migrations": "ok", "signing_key": "ok"}
    try:
        with ops_engine(state).connect() as connection:
            connection.execute(text("SELECT 1"))
            try:
                current = set(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())
            except Exception:
                current = set()
    except Exception as exc:
        logger.warning("readiness: database unreachable: %s", type(exc).__name__)
        checks["database"] = "unreachable"
        checks["migrations"] = "unknown"
    else:
        try:
            heads = getattr(state, "migration_heads", None) or migration_heads()
            state.migration_heads = heads
        except Exception:
            checks["migrations"] = "migration scripts not found"
        else:
            if current != heads:
                checks["migrations"] = (
                    f"database at {', '.join(sorted(current)) or 'no revision'}, code needs {', '.join(sorted(heads))}"
                )
    if not getattr(state, "identity_adopted", True):
        checks["issuer_identity"] = "not read from the database at start: restart once the database is ready"
    try:
        state.keystore.active()
    except Exception as exc:
        checks["signing_key"] = f"not loaded ({type(exc).__name__})"
    return checks
