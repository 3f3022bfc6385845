"""Status lists: random index allocation, setting bits, and the signed list credential."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, case, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.credentials.builder import VC_CONTEXT_V2, timestamp
from app.db import SqliteReader, new_id
from app.errors import ServiceUnavailable
from app.status_lists import bitstring, messages
from app.status_lists.models import StatusEntry, StatusList
from app.verification.verifier import StatusUnavailable

LIST_LENGTH = bitstring.MIN_LENGTH
# Lists are filled to 3/4 so a random draw finds a free index in a few tries at worst.
LIST_CAPACITY = LIST_LENGTH * 3 // 4
# New credentials: one 2-bit `message` entry. Credentials issued before it hold one entry of each LEGACY purpose.
PURPOSES = (messages.MESSAGE_PURPOSE,)
LEGACY_PURPOSES = ("revocation", "suspension")
STATUS_SIZES = {messages.MESSAGE_PURPOSE: messages.STATUS_SIZE, "revocation": 1, "suspension": 1}
# change_status names a flag by its legacy purpose; in a message entry it is this bit of the value.
_MESSAGE_BITS = {"revocation": messages.REVOKED, "suspension": messages.SUSPENDED}
MAX_DRAWS = 64
LIST_VALIDITY = dt.timedelta(days=1)


def list_url(base_url: str, list_id: str) -> str:
    return f"{base_url}/v1/status-lists/{list_id}"


# Built once: a statement object executed again reuses its compiled form and cache key.
_OLDEST_WITH_ROOM = (
    select(StatusList.id)
    .where(StatusList.purpose == bindparam("wanted_purpose"), StatusList.allocated < StatusList.capacity)
    .order_by(StatusList.created_at, StatusList.id)
    .limit(1)
    .scalar_subquery()
)
_RESERVE_SLOT = (
    update(StatusList)
    .where(StatusList.id == _OLDEST_WITH_ROOM)
    .values(allocated=StatusList.allocated + 1)
    .returning(StatusList.id, StatusList.length)
)
_ADVISORY_LOCK = text("SELECT pg_advisory_xact_lock(:key)")
_ENTRY_STATEMENTS = {
    dialect: insert_for(StatusEntry)
    .on_conflict_do_nothing(index_elements=["list_id", "status_index"])
    .returning(StatusEntry.id)
    for dialect, insert_for in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}


def _reserve(connection: Connection, purpose: str, now: dt.datetime, capacity: int) -> tuple[str, int]:
    """(list id, length) of the oldest list with room, or of a new one, with one slot reserved in it.

    One UPDATE .. RETURNING (and an INSERT when every list is full), on whatever connection is given: the
    caller makes sure nobody else reserves at the same time.
    """
    row = connection.execute(_RESERVE_SLOT, {"wanted_purpose": purpose}).first()
    if row is not None:
        return row.id, row.length
    list_id = new_id()
    connection.execute(insert(StatusList).values(
        id=list_id, purpose=purpose, length=LIST_LENGTH, status_size=STATUS_SIZES[purpose], capacity=capacity,
        allocated=1, created_at=now,
    ))
    return list_id, LIST_LENGTH


def _reserve_apart(
    engine: Engine, purposes: Sequence[str], now: dt.datetime, capacity: int
) -> list[tuple[str, int]]:
    """The reservations for PostgreSQL, in one short transaction of their own under a lock on each purpose
    (taken in the order given, PURPOSES or LEGACY_PURPOSES order, so two issuances never wait on each other).

    In the request's transaction a new list would stay invisible to every other uncommitted issuance,
    each of which would then open a list of its own; and the reserved row would stay locked until the
    request commits, one issuance at a time. Committed at once, the reservation is seen by all servers.
    A request that then fails leaves its slot counted but unused: the list fills a little short of capacity.
    """
    with engine.begin() as connection:
        reserved = []
        for purpose in purposes:
            connection.execute(_ADVISORY_LOCK, {"key": _lock_key(purpose)})
            reserved.append(_reserve(connection, purpose, now, capacity))
        return reserved


def _lock_key(purpose: str) -> int:
    """A stable signed 64-bit advisory lock key per purpose."""
    digest = hashlib.sha256(f"skillproof.status_lists.{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@dataclass(frozen=True)
class Allocation:
    """Where a new credential's status entry went (the entry itself is stored, not loaded back)."""

    list_id: str
    status_index: int
    purpose: str


def allocate(
    session: Session, *, credential_id: str, now: dt.datetime,
    capacity: int = LIST_CAPACITY, purposes: Sequence[str] | None = None,
) -> list[Allocation]:
    """An entry for each purpose at a random free index (not issue order, so an index says nothing about when).

    Lists fill in turn, the next opening only when the last is full, so every credential hides among many.
    `purposes` is PURPOSES for every new credential; LEGACY_PURPOSES rebuilds the former two-entry shape.
    """
    purposes = PURPOSES if purposes is None else purposes
    if not purposes or not set(purposes) <= STATUS_SIZES.keys():
        raise ValueError(f"unknown status purposes {purposes!r}")
    bind = session.get_bind()
    connection = session.connection()
    if bind.dialect.name == "postgresql":
        assert isinstance(bind, Engine)
        reserved = _reserve_apart(bind, purposes, now, capacity)
    else:
        # SQLite: every write transaction holds the database's one write lock (BEGIN IMMEDIATE), across
        # processes too, so the request's own transaction reserves alone.
        reserved = [_reserve(connection, purpose, now, capacity) for purpose in purposes]
    insert_entry = _ENTRY_STATEMENTS[bind.dialect.name]
    allocations = []
    for purpose, (list_id, length) in zip(purposes, reserved, strict=True):
        for _ in range(MAX_DRAWS):
            index = secrets.randbelow(length)
            # One statement per draw: a taken index (the unique constraint) inserts nothing, with no savepoint.
            entry_id = connection.execute(insert_entry, {
                "id": new_id(), "list_id": list_id, "status_index": index, "credential_id": credential_id,
                "purpose": purpose, "value": 0, "updated_at": now,
            }).scalar_one_or_none()
            if entry_id is not None:
                allocations.append(Allocation(list_id=list_id, status_index=index, purpose=purpose))
                break
        else:
            raise ServiceUnavailable("Could not find a free status list index; try again.")
    return allocations


def set_status(
    session: Session, *, credential_id: str, purpose: str, value: bool, reason: str | None, now: dt.datetime
) -> None:
    """Set or clear one credential's revocation or suspension flag, in its message entry or its legacy entry.

    One UPDATE whose new value is computed by the database (value | bit, value & ~bit), so a revocation and
    a suspension changed at the same moment by two requests never undo each other.
    """
    if purpose not in _MESSAGE_BITS:
        raise ValueError(f"unknown status purpose {purpose!r}")
    bit = _MESSAGE_BITS[purpose]
    message_value = StatusEntry.value.op("|")(bit) if value else StatusEntry.value.op("&")(0xFF ^ bit)
    result = session.execute(
        update(StatusEntry)
        .where(
            StatusEntry.credential_id == credential_id,
            StatusEntry.purpose.in_((purpose, messages.MESSAGE_PURPOSE)),
        )
        .values(
            value=case((StatusEntry.purpose == messages.MESSAGE_PURPOSE, message_value), else_=int(value)),
            reason=reason,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 1) != 1:
        raise LookupError(f"credential {credential_id} has no {purpose} status entry")


def status_of(session: Session, credential_id: str) -> dict[str, bool]:
    """{"revoked": bool, "suspended": bool} of one credential, from its message entry or its two legacy ones."""
    rows = session.execute(
        select(StatusEntry.purpose, StatusEntry.value).where(StatusEntry.credential_id == credential_id)
    ).all()
    values = {purpose: value for purpose, value in rows}
    if messages.MESSAGE_PURPOSE in values:
        return messages.flags(values[messages.MESSAGE_PURPOSE])
    return {"revoked": bool(values.get("revocation")), "suspended": bool(values.get("suspension"))}


def list_credential(
    session: Session, *, list_id: str, base_url: str, issuer_did: str, ttl_seconds: int, now: dt.datetime
) -> dict[str, Any] | None:
    """The BitstringStatusListCredential of a list, as it is right now; None if no such list."""
    status_list = session.get(StatusList, list_id)
    if status_list is None:
        return None
    values = [
        (index, value) for index, value in session.execute(
            select(StatusEntry.status_index, StatusEntry.value).where(
                StatusEntry.list_id == list_id, StatusEntry.value != 0
            )
        )
    ]
    url = list_url(base_url, list_id)
    return {
        "@context": [VC_CONTEXT_V2],
        "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer_did,
        "validFrom": timestamp(now),
        "validUntil": timestamp(now + LIST_VALIDITY),
        "credentialSubject": {
            "id": f"{url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": status_list.purpose,
            # §2.2: statusSize and statusMessage belong to each entry (§2.1), not to the list: the context
            # defines them for BitstringStatusListEntry only (w3c/vc-bitstring-status-list#175).
            "encodedList": bitstring.encode_values(values, status_list.length, status_list.status_size),
            # Bitstring Status List v1.0 §2.2: ttl is in milliseconds.
            "ttl": ttl_seconds * 1000,
        },
    }


class DatabaseStatusLookup:
    """Status lookup for this service's own lists, read straight from the database on every call.

    One autocommit SELECT (no transaction to open and roll back) reads the list's purpose, length and entry
    size with the entry's value, so a change is visible to the next call on any replica. On SQLite the read
    goes through a read-only sqlite3 connection of the calling thread instead of the pool: a few
    microseconds, so the verify route can read status without leaving the event loop (`reads_in_microseconds`).
    """

    _SQLITE_QUERY = (
        "SELECT l.purpose, l.length, l.status_size, e.value FROM status_lists AS l "
        "LEFT JOIN status_entries AS e ON e.list_id = l.id AND e.status_index = ? WHERE l.id = ?"
    )

    def __init__(self, engine: Engine, base_url: str):
        self.engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.prefix = f"{base_url}/v1/status-lists/"
        self._query = (
            select(StatusList.purpose, StatusList.length, StatusList.status_size, StatusEntry.value)
            .outerjoin(
                StatusEntry,
                and_(StatusEntry.list_id == StatusList.id, StatusEntry.status_index == bindparam("index")),
            )
            .where(StatusList.id == bindparam("list_id"))
        )
        self._sqlite = SqliteReader(engine)
        self.reads_in_microseconds = self._sqlite.available

    def _row(self, list_id: str, index: int) -> tuple[str, int, int, int | None] | None:
        if not self._sqlite.available:
            with self.engine.connect() as connection:
                row = connection.execute(self._query, {"list_id": list_id, "index": index}).first()
            return None if row is None else (row.purpose, row.length, row.status_size, row.value)
        # fetchall steps the statement to its end, so no read snapshot outlives the call.
        rows = self._sqlite.connection().execute(self._SQLITE_QUERY, (index, list_id)).fetchall()
        return rows[0] if rows else None

    def __call__(self, status_list_credential: str, index: int, purpose: str, size: int) -> int:
        if not status_list_credential.startswith(self.prefix):
            raise StatusUnavailable(f"status list {status_list_credential} is not one of this issuer's")
        list_id = status_list_credential[len(self.prefix):]
        try:
            row = self._row(list_id, index)
        except sqlite3.Error as exc:
            raise StatusUnavailable(f"status list {status_list_credential} cannot be read now") from exc
        if row is None:
            raise StatusUnavailable(f"status list {status_list_credential} does not exist")
        list_purpose, length, status_size, value = row
        if list_purpose != purpose:
            # §3.2 step 5: the entry's purpose must be the list's (STATUS_VERIFICATION_ERROR).
            raise StatusUnavailable(f"status list {status_list_credential} is not a {purpose} list")
        if status_size != size:
            raise StatusUnavailable(f"status list {status_list_credential} has {status_size}-bit entries")
        if not 0 <= index < length:
            raise StatusUnavailable(f"index {index} is outside status list {status_list_credential}")
        return int(value or 0)
