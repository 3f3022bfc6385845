"""Engine, the per-request session, and the declarative Base."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
from fastapi import Request
from sqlalchemy import JSON, DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator
from starlette.concurrency import run_in_threadpool

from app.errors import Busy

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JSONType = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def new_id() -> str:
    """A random UUID string, used as primary key."""
    return str(uuid.uuid4())


# Requests holding a session at once, per process. The work is CPU-bound under the GIL, so more threads
# only queue inside the process and starve its event loop; waiting in the event loop costs nothing. Measured
# (a class of 500 submitting at once on PostgreSQL, 2 cores): at 8 `/health` answered in 0.66-1.40 s at worst,
# at 4 in 0.18-0.38 s, with the same throughput (the PostgreSQL round trips on a local socket are short).
DEFAULT_SESSIONS = 4
# Connections beyond the sessions, for work outside requests (status lookups of verify, the job runner).
SPARE_CONNECTIONS = 8
DEFAULT_QUEUE_SECONDS = 60.0
# An admitted session finds its connection at once; this only bounds the wait of work outside requests.
POOL_TIMEOUT_SECONDS = 10.0

def create_db_engine(url: str, sessions: int = DEFAULT_SESSIONS) -> Engine:
    """An engine for SQLite (WAL, foreign keys, immediate write locks) or PostgreSQL (psycopg 3).

    The pool holds a connection for each admitted session plus spares, so an admitted request never
    waits for a connection that only another request's next step could give back.
    """
    sqlite = url.startswith("sqlite")
    pool_size = sessions
    if sqlite:
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=pool_size,
            max_overflow=SPARE_CONNECTIONS, pool_timeout=POOL_TIMEOUT_SECONDS,
        )
        _tune_sqlite(engine)
        return engine
    return create_engine(
        url, pool_size=pool_size, max_overflow=SPARE_CONNECTIONS, pool_timeout=POOL_TIMEOUT_SECONDS,
        pool_pre_ping=True,
    )


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (pysqlite's implicit transactions are off).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
            return
        # A deferred transaction that later writes can fail at once with SQLITE_BUSY when another
        # writer got there first; taking the write lock up front makes writers queue instead.
        if connection.get_execution_options().get("read_only"):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """The engine, the session factory, and the admission of requests to sessions."""

    def __init__(self, url: str, *, sessions: int | None = None, queue_seconds: float = DEFAULT_QUEUE_SECONDS):
        self.url = url
        sqlite = url.startswith("sqlite")
        self.max_sessions = sessions or DEFAULT_SESSIONS
        self.queue_seconds = queue_seconds
        self.engine = create_db_engine(url, self.max_sessions)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        # GET and HEAD: a plain BEGIN on SQLite (no write lock), read-only by intent on every backend.
        self.read_sessions = sessionmaker(self.engine.execution_options(read_only=True), expire_on_commit=False)
        # Waiting happens here, in the event loop, never in a worker thread: a queued request holds nothing.
        self.admission = asyncio.Semaphore(self.max_sessions)
        # SQLite has one writer at a time; its busy handler sleeps in steps of up to 100 ms, so the writers
        # of this process queue here first (other processes still meet BEGIN IMMEDIATE and busy_timeout).
        self.writer: asyncio.Lock | None = asyncio.Lock() if sqlite else None

    @asynccontextmanager
    async def admitted(self, *, writing: bool) -> AsyncIterator[None]:
        """Hold a session slot (and on SQLite, for a write, the writer lock); Busy if none comes in time."""
        deadline = asyncio.get_running_loop().time() + self.queue_seconds
        async with AsyncExitStack() as held:
            # Always writer lock first, then a slot: one order, and queued writers keep no slot from readers.
            if writing and self.writer is not None:
                await _acquire(self.writer, deadline)
                held.callback(self.writer.release)
            await _acquire(self.admission, deadline)
            held.callback(self.admission.release)
            yield

    def dispose(self) -> None:
        self.engine.dispose()


async def _acquire(lock: asyncio.Lock | asyncio.Semaphore, deadline: float) -> None:
    remaining = deadline - asyncio.get_running_loop().time()
    try:
        await asyncio.wait_for(lock.acquire(), timeout=max(remaining, 0.001))
    except TimeoutError:
        raise Busy() from None


def is_busy_error(exc: BaseException) -> bool:
    """A pool timeout, or SQLite's 'database is locked' after its busy timeout: load, not a bug."""
    if isinstance(exc, PoolTimeout):
        return True
    return isinstance(exc, OperationalError) and "database is locked" in str(exc.orig)


def _commit_and_close(session: Session) -> None:
    try:
        session.commit()
    finally:
        session.close()


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One transaction per request: committed before the response is sent, rolled back on any error.

    Admission waits in the event loop; the connection is checked out by the handler's first query (the
    pool has one for every admitted session), and commit or rollback runs in a worker thread of its own,
    so no request ever holds a lock or connection while waiting for a thread that another request holds.
    """
    database: Database = request.app.state.database
    reading = request.method in ("GET", "HEAD")
    async with database.admitted(writing=not reading):
        session = (database.read_sessions if reading else database.sessions)()
        try:
            yield session
            if session.in_transaction():
                await run_in_threadpool(_commit_and_close, session)
        except BaseException as exc:
            if session.in_transaction():
                with anyio.CancelScope(shield=True):
                    await run_in_threadpool(session.close)  # rolls back
            if isinstance(exc, Exception) and is_busy_error(exc):
                raise Busy() from exc
            raise


class SqliteReader:
    """Read-only sqlite3 connections to an engine's SQLite file, one per calling thread, outside the pool.

    For hot reads that must see every commit at once (status): autocommit and read-only, each SELECT sees the
    latest commit (WAL) and nothing can be written; a few microseconds where a pooled SQLAlchemy read costs
    hundreds. `available` is false for other databases (and in-memory SQLite), which keep the engine.
    """

    def __init__(self, engine: Engine):
        path = engine.url.database if engine.dialect.name == "sqlite" else None
        self._uri = f"file:{quote(str(Path(path).resolve()))}?mode=ro" if path and path != ":memory:" else None
        self._connections = threading.local()
        self.available = self._uri is not None

    def connection(self) -> sqlite3.Connection:
        reader: sqlite3.Connection | None = getattr(self._connections, "sqlite", None)
        if reader is None:
            assert self._uri is not None, "not a SQLite file"
            reader = sqlite3.connect(self._uri, uri=True, timeout=30, isolation_level=None)
            self._connections.sqlite = reader
        return reader
