"""app.verification.batch.DatabaseBatchStatus: a database that cannot be read is a verdict, never a 500."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine

from app.verification.batch import DatabaseBatchStatus, StatusRequest
from app.verification.errors import StatusUnavailable

BASE = "https://skillproof.test"


def test_an_unreadable_sqlite_file_makes_every_entry_unavailable(tmp_path: Path) -> None:
    # The read-only reader cannot open a file that is not there (as when the volume is gone).
    engine = create_engine(f"sqlite:///{tmp_path / 'gone.db'}")
    reader = DatabaseBatchStatus(engine, BASE)
    ours = [StatusRequest(f"{BASE}/v1/status-lists/list-{n}", n, "message", 2) for n in range(3)]
    foreign = StatusRequest("https://elsewhere.test/v1/status-lists/x", 1, "message", 2)

    values = reader.read_many([*ours, foreign])

    assert set(values) == {*ours, foreign}
    for request in ours:
        value = values[request]
        assert isinstance(value, StatusUnavailable) and "cannot be read now" in str(value)
    assert isinstance(values[foreign], StatusUnavailable) and "not one of this issuer's" in str(values[foreign])
    assert not (tmp_path / "gone.db").exists()  # read-only: the reader never creates the file
