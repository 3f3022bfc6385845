"""Verifying many credentials at once, with the status reads of the whole batch done together.

Each credential is checked up to its status (verifier.check_credential); the entries a chunk of them name
are then read in one query per status list, and each verdict is finished with those values, so every
verdict is exactly the one `verify_credential` gives and the status rules live in the verifier alone.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, NamedTuple, Protocol

from sqlalchemy import ARRAY, Engine, Integer, any_, bindparam, select

from app.credentials import data_integrity
from app.db import SqliteReader
from app.status_lists.models import StatusEntry, StatusList
from app.verification import verifier as pure
from app.verification.errors import StatusUnavailable
from app.verification.verifier import VerificationResult

__all__ = ["BatchStatusReader", "DatabaseBatchStatus", "StatusRequest", "usable_cores", "verify_many"]


class StatusRequest(NamedTuple):
    """One status entry as the verifier asks for it."""

    url: str
    list_index: int
    purpose: str
    size: int


StatusValues = dict[StatusRequest, int | StatusUnavailable]


class BatchStatusReader(Protocol):
    """Reads many entries at once: each one's value, or the StatusUnavailable it would have raised."""

    def read_many(self, requests: Iterable[StatusRequest]) -> StatusValues: ...


class _Answers:
    """A status lookup answering from values read for the batch."""

    def __init__(self, values: StatusValues):
        self.values = values

    def __call__(self, status_list_credential: str, index: int, purpose: str, size: int = 1) -> Any:
        value = self.values[StatusRequest(status_list_credential, index, purpose, size)]
        if isinstance(value, StatusUnavailable):
            raise value
        return value


def usable_cores() -> int:
    """The cores this process may run on: as many batches are verified at once (a batch is CPU-bound; a second
    one on the same core only takes turns with the first, evicting its caches: wrk with two connections on one
    core cost 7% more CPU per credential than with one, measured)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


# Credentials checked, status-read and finished together. Bounded so that the decoded credentials in flight
# stay in memory the allocator already holds: a thousand at once cost page faults and collector passes that
# doubled the batch's time (measured), while a read per list per chunk costs microseconds per credential.
CHUNK = 64


def verify_many(
    credentials: Sequence[object],
    *,
    resolve_key: pure.KeyResolver,
    status: BatchStatusReader,
    now: dt.datetime,
    skip: Callable[[int], VerificationResult | None] = lambda _: None,
    data_integrity_hasher: data_integrity.Hasher | None = None,
    leeway: dt.timedelta = pure.DEFAULT_LEEWAY,
) -> Iterator[VerificationResult]:
    """The verdict on each credential, in order, CHUNK at a time; `skip(i)` may give a verdict without verifying
    (e.g. malformed). Consume each before the next to keep the memory bounded.

    A chunk's tokens go through each phase together (all parsed, then all signatures, then all rules), the
    verdicts the same as one at a time: each phase's code stays in the processor's caches for the whole chunk
    instead of being evicted by the others' for every credential (measured: ~7% of a batch's CPU).
    """
    for start in range(0, len(credentials), CHUNK):
        checked: list[VerificationResult | pure.PendingStatus | pure.OpenedToken] = []
        for position in range(start, min(start + CHUNK, len(credentials))):
            given = skip(position)
            vc = credentials[position]
            if given is not None:
                checked.append(given)
            elif pure.is_data_integrity(vc):
                checked.append(pure.check_credential(
                    vc, resolve_key=resolve_key, now=now, data_integrity_hasher=data_integrity_hasher))
            else:
                checked.append(pure.open_token(vc, resolve_key))
        for index, item in enumerate(checked):
            if isinstance(item, pure.OpenedToken):
                stopped = pure.check_signature(item)
                if stopped is not None:
                    checked[index] = stopped
        for index, item in enumerate(checked):
            if isinstance(item, pure.OpenedToken):
                checked[index] = pure.check_signed(item, now, leeway, frozenset())
        requests = [StatusRequest(*request) for item in checked if isinstance(item, pure.PendingStatus)
                    for request in item.status_requests]
        answers = _Answers(status.read_many(requests) if requests else {})
        for item in checked:
            assert not isinstance(item, pure.OpenedToken)
            yield item.finish(answers) if isinstance(item, pure.PendingStatus) else item


class DatabaseBatchStatus:
    """This service's own status lists, read in one SELECT per list for a whole batch.

    The same rules as app.status_lists.service.DatabaseStatusLookup (list must exist, be of the purpose asked
    and hold the index), and the same reading: fresh from the database, so a change is seen at once. On a
    SQLite file the reads go through the calling thread's read-only sqlite3 connection, as single verify's do
    (a pooled SQLAlchemy read cost ~600 µs per chunk here, ~10 µs per credential).
    """

    # The indexes travel as one parameter (a JSON array on SQLite, an integer array on PostgreSQL), so each
    # statement is prepared once: an expanding IN of 64 parameters was rendered anew for every chunk.
    _SQLITE_LISTS = ("SELECT id, purpose, length, status_size FROM status_lists "
                     "WHERE id IN (SELECT value FROM json_each(?))")
    _SQLITE_SET = ("SELECT status_index, value FROM status_entries "
                   "WHERE list_id = ? AND status_index IN (SELECT value FROM json_each(?)) AND value != 0")

    def __init__(self, engine: Engine, base_url: str, former_urls: Sequence[str] = ()):
        self.engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.prefix = f"{base_url}/v1/status-lists/"
        self.former = tuple(f"{url}/v1/status-lists/" for url in former_urls if url != base_url)
        self._lists: dict[str, tuple[str, int, int]] = {}
        self._sqlite = SqliteReader(engine)
        self._list_query = select(StatusList.id, StatusList.purpose, StatusList.length, StatusList.status_size).where(
            StatusList.id.in_(bindparam("list_ids", expanding=True))  # once per list the process has not seen
        )
        in_wanted = (StatusEntry.status_index == any_(bindparam("indexes", type_=ARRAY(Integer)))
                     if engine.dialect.name == "postgresql"
                     else StatusEntry.status_index.in_(bindparam("indexes", expanding=True)))
        self._set_query = select(StatusEntry.status_index, StatusEntry.value).where(
            StatusEntry.list_id == bindparam("list_id"), in_wanted, StatusEntry.value != 0
        )

    def _list_id(self, url: str) -> str | None:
        for prefix in (self.prefix, *self.former):
            if url.startswith(prefix):
                return url[len(prefix):]
        return None

    def read_many(self, requests: Iterable[StatusRequest]) -> StatusValues:
        values: StatusValues = {}
        by_list: dict[str, list[StatusRequest]] = defaultdict(list)
        for request in set(requests):
            list_id = self._list_id(request.url)
            if list_id is None:
                values[request] = StatusUnavailable(f"status list {request.url} is not one of this issuer's")
            else:
                by_list[list_id].append(request)
        if not by_list:
            return values
        if not self._sqlite.available:
            with self.engine.connect() as connection:
                self._read(by_list, values,
                           lambda ids: connection.execute(self._list_query, {"list_ids": ids}).all(),
                           lambda list_id, indexes: connection.execute(
                               self._set_query, {"list_id": list_id, "indexes": indexes}).all())
            return values
        try:
            reader = self._sqlite.connection()
            # fetchall steps each statement to its end, so no read snapshot outlives the call.
            self._read(by_list, values,
                       lambda ids: reader.execute(self._SQLITE_LISTS, (json.dumps(ids),)).fetchall(),
                       lambda list_id, indexes: reader.execute(
                           self._SQLITE_SET, (list_id, json.dumps(indexes))).fetchall())
        except sqlite3.Error:
            for wanted in by_list.values():
                for request in wanted:
                    values.setdefault(request, StatusUnavailable(f"status list {request.url} cannot be read now"))
        return values

    def _read(
        self,
        by_list: dict[str, list[StatusRequest]],
        values: StatusValues,
        list_rows: Callable[[list[str]], Iterable[tuple[Any, ...]]],
        set_rows: Callable[[str, list[int]], Iterable[tuple[Any, ...]]],
    ) -> None:
        unknown = [list_id for list_id in by_list if list_id not in self._lists]
        if unknown:
            for list_id, purpose, length, status_size in list_rows(unknown):
                self._lists[list_id] = (purpose, length, status_size)
        for list_id, wanted in by_list.items():
            known = self._lists.get(list_id)
            readable = []
            for request in wanted:
                if known is None:
                    values[request] = StatusUnavailable(f"status list {request.url} does not exist")
                elif known[0] != request.purpose:
                    values[request] = StatusUnavailable(f"status list {request.url} is not a {request.purpose} list")
                elif known[2] != request.size:
                    values[request] = StatusUnavailable(f"status list {request.url} has {known[2]}-bit entries")
                elif not 0 <= request.list_index < known[1]:
                    values[request] = StatusUnavailable(
                        f"index {request.list_index} is outside status list {request.url}")
                else:
                    readable.append(request)
            if readable:
                set_values = dict(set_rows(list_id, sorted({r.list_index for r in readable})))
                for request in readable:
                    values[request] = set_values.get(request.list_index, 0)
