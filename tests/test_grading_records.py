"""Re-grading on another machine: grading records made once (tests/grading_records.py) are re-graded by the
`skillproof regrade --record` console script, with no database, in a process whose time zone, locale, hash
seed and working directory differ; and any attempt's record exported from a live service re-grades the same."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.grading import python_task
from tests.factories import earn_credential
from tests.grading_records import RECORDS_DIR
from tests.test_cli import run

# Far from UTC, a Turkish-style casefold locale when the machine has one, and fixed but different hash seeds.
FOREIGN_ENVIRONMENTS = [
    {"TZ": "Pacific/Kiritimati", "LC_ALL": "C.UTF-8", "PYTHONHASHSEED": "1"},
    {"TZ": "America/Los_Angeles", "LANG": "tr_TR.UTF-8", "PYTHONHASHSEED": "4242"},
]


def _record(name: str) -> dict[str, Any]:
    record: dict[str, Any] = json.loads((RECORDS_DIR / f"{name}.json").read_text(encoding="utf-8"))
    return record


def _write(path: Path, record: dict[str, Any]) -> str:
    path.write_text(json.dumps(record), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("environment", FOREIGN_ENVIRONMENTS, ids=["kiritimati", "los-angeles-tr"])
def test_the_kept_records_regrade_to_their_stored_grades_elsewhere(environment: dict[str, str], tmp_path: Path) -> None:
    names = ["sql", "python"] if python_task.available() else ["sql"]
    for name in names:
        scores = [entry["score"] for entry in _record(name)["grade"]["items"] if isinstance(entry.get("run"), dict)]
        assert 0 < min(score for score in scores if score) < max(scores)  # partial credit is in the record
        assert 0 in scores  # and a task that earned nothing
    result = run("regrade", "--record", *(str(RECORDS_DIR / f"{name}.json") for name in names),
                 env=environment, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(names)} grading records re-graded, 0 differ from the stored grade" in result.stdout
    if "python" not in names:
        pytest.skip("the SQL record re-graded; the Python record needs bubblewrap: `apt-get install -y bubblewrap`")


CHANGES = {
    "answer": (lambda record: record["responses"].__setitem__(0, {**record["responses"][0], "answer": "SELECT 2"}),
               "differ"),
    "stored-score": (lambda record: record["grade"].__setitem__("score", record["grade"]["score"] + 1),
                     "score differ"),
    "item": (lambda record: record["items"][0].__setitem__("points", 9), "do not hash to the content hash"),
    "no-responses": (lambda record: record.pop("responses"), "cannot be graded"),
    "format": (lambda record: record.__setitem__("format", "something-else/1"), "not a skillproof-grading-record/1"),
}


def test_a_changed_record_is_reported_and_fails(tmp_path: Path) -> None:
    paths = []
    for name, (change, _) in CHANGES.items():
        record = copy.deepcopy(_record("sql"))
        record["attempt_id"] = name  # each mismatch line names its record
        change(record)
        paths.append(_write(tmp_path / f"{name}.json", record))
    result = run("regrade", "--record", *paths, cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("MISMATCH")]
    assert len(lines) == len(CHANGES), result.stdout
    for name, (_, expected) in CHANGES.items():
        if name != "format":
            assert any(line.startswith(f"MISMATCH attempt {name}:") and expected in line for line in lines), lines
    assert any(CHANGES["format"][1] in line for line in lines)
    assert "Traceback" not in result.stderr


def test_an_unreadable_record_is_one_clean_error(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text("{not json", encoding="utf-8")
    result = run("regrade", "--record", str(tmp_path / "broken.json"), cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.startswith("skillproof: cannot read"), result.stderr


def test_any_attempt_exports_a_record_that_names_the_credentials_content_hash_and_regrades(
    client: TestClient, settings: Any, tmp_path: Path
) -> None:
    earned = earn_credential(client, skill="sql", level="foundation", item_count=6, seed=3,
                             item_types=["single_choice", "sql_query"])
    attempt, grade, credential = earned["attempt"], earned["grade"], earned["credential"]
    database = {"SKILLPROOF_DATABASE_URL": settings.database_url, "SKILLPROOF_KEYS_DIR": str(settings.keys_dir)}

    exported = run("regrade", "--export", attempt["id"], env=database)
    assert exported.returncode == 0, exported.stderr
    record = json.loads(exported.stdout)
    assert record["content_hash"] == credential["credential"]["evidence"][0]["contentHash"]
    assert record["grade"]["score"] == grade["score"]
    checked = run("regrade", "--record", "-", stdin=exported.stdout, env=FOREIGN_ENVIRONMENTS[0], cwd=tmp_path)
    assert checked.returncode == 0 and "1 grading records re-graded, 0 differ" in checked.stdout, checked.stdout

    missing = run("regrade", "--export", "no-such-attempt", env=database)
    assert missing.returncode == 1 and "No graded attempt" in missing.stderr
