"""Status lists: random index allocation, setting bits, and the signed list credential."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.credentials.builder import VC_CONTEXT_V2, timestamp
from app.db import new_id
from app.errors import ServiceUnavailable
from app.status_lists import bitstring
from app.status_lists.models import StatusEntry, StatusList
from app.verification.verifier import StatusUnavailable

LIST_LENGTH = bitstring.MIN_LENGTH
# Lists are filled to 3/4 so a random draw finds a free index in a few tries at worst.
LIST_CAPACITY = LIST_LENGTH * 3 // 4
PURPOSES = ("revocation", "suspension")
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
        id=list_id, purpose=purpose, length=LIST_LENGTH, capacity=capacity, allocated=1, created_at=now
    ))
    return list_id, LIST_LENGTH


def _reserve_apart(
    engine: Engine, purposes: Sequence[str], now: dt.datetime, capacity: int
) -> list[tuple[str, int]]:
    """The reservations for PostgreSQL, in one short transaction of their own under a lock on each purpose
    (taken in the order given, which is always PURPOSES order, so two issuances never wait on each other).

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
    capacity: int = LIST_CAPACITY,
) -> list[Allocation]:
    """An entry for each purpose at a random free index (not issue order, so an index says nothing about when).

    Lists fill in turn, the next opening only when the last is full, so every credential hides among many.
    """
    bind = session.get_bind()
    connection = session.connection()
    if bind.dialect.name == "postgresql":
        assert isinstance(bind, Engine)
        reserved = _reserve_apart(bind, PURPOSES, now, capacity)
    else:
        # SQLite: every write transaction holds the database's one write lock (BEGIN IMMEDIATE), across
        # processes too, so the request's own transaction reserves alone.
        reserved = [_reserve(connection, purpose, now, capacity) for purpose in PURPOSES]
    insert_entry = _ENTRY_STATEMENTS[bind.dialect.name]
    allocations = []
    for purpose, (list_id, length) in zip(PURPOSES, reserved, strict=True):
        for _ in range(MAX_DRAWS):
            index = secrets.randbelow(length)
            # One statement per draw: a taken index (the unique constraint) inserts nothing, with no savepoint.
            entry_id = connection.execute(insert_entry, {
                "id": new_id(), "list_id": list_id, "status_index": index, "credential_id": credential_id,
                "purpose": purpose, "is_set": False, "updated_at": now,
            }).scalar_one_or_none()
            if entry_id is not None:
                allocations.append(Allocation(list_id=list_id, status_index=index, purpose=purpose))
                break
        else:
            raise ServiceUnavailable("Could not find a free status list index; try again.")
    return allocations


def set_status(
    session: Session, *, credential_id: str, purpose: str, value: bool, reason: str | None, now: dt.datetime
) -> StatusEntry:
    """Set or clear one credential's bit."""
    entry = session.scalars(
        select(StatusEntry).where(StatusEntry.credential_id == credential_id, StatusEntry.purpose == purpose)
    ).one()
    entry.is_set = value
    entry.reason = reason
    entry.updated_at = now
    session.flush()
    return entry


def status_of(session: Session, credential_id: str) -> dict[str, bool]:
    """{"revoked": bool, "suspended": bool} of one credential."""
    rows = session.execute(
        select(StatusEntry.purpose, StatusEntry.is_set).where(StatusEntry.credential_id == credential_id)
    ).all()
    flags = {purpose: is_set for purpose, is_set in rows}
    return {"revoked": bool(flags.get("revocation")), "suspended": bool(flags.get("suspension"))}


def list_credential(
    session: Session, *, list_id: str, base_url: str, issuer_did: str, ttl_seconds: int, now: dt.datetime
) -> dict[str, Any] | None:
    """The BitstringStatusListCredential of a list, as it is right now; None if no such list."""
    status_list = session.get(StatusList, list_id)
    if status_list is None:
        return None
    set_indexes = session.scalars(
        select(StatusEntry.status_index).where(StatusEntry.list_id == list_id, StatusEntry.is_set.is_(True))
    ).all()
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
            "encodedList": bitstring.encode(set_indexes, status_list.length),
            # Bitstring Status List v1.0 §2.2: ttl is in milliseconds.
            "ttl": ttl_seconds * 1000,
        },
    }


class DatabaseStatusLookup:
    """Status lookup for this service's own lists, read straight from the database on every call.

    A list's purpose and length never change, so they are remembered; the bits are always read afresh,
    in one autocommit SELECT (no transaction to open and roll back).
    """

    def __init__(self, engine: Engine, base_url: str):
        self.engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.prefix = f"{base_url}/v1/status-lists/"
        self._lists: dict[str, tuple[str, int]] = {}
        self._list_query = select(StatusList.purpose, StatusList.length).where(
            StatusList.id == bindparam("list_id")
        )
        self._bit_query = select(StatusEntry.is_set).where(
            StatusEntry.list_id == bindparam("list_id"), StatusEntry.status_index == bindparam("index")
        )

    def __call__(self, status_list_credential: str, index: int, purpose: str) -> bool:
        if not status_list_credential.startswith(self.prefix):
            raise StatusUnavailable(f"status list {status_list_credential} is not one of this issuer's")
        list_id = status_list_credential[len(self.prefix):]
        with self.engine.connect() as connection:
            known = self._lists.get(list_id)
            if known is None:
                row = connection.execute(self._list_query, {"list_id": list_id}).first()
                if row is None:
                    raise StatusUnavailable(f"status list {status_list_credential} does not exist")
                known = self._lists[list_id] = (row.purpose, row.length)
            list_purpose, length = known
            if list_purpose != purpose:
                raise StatusUnavailable(f"status list {status_list_credential} is not a {purpose} list")
            if not 0 <= index < length:
                raise StatusUnavailable(f"index {index} is outside status list {status_list_credential}")
            is_set = connection.execute(self._bit_query, {"list_id": list_id, "index": index}).scalar_one_or_none()
        return bool(is_set)
