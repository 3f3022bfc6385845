"""Grading records of attempts with performance tasks, made once and kept in tests/data/grading_records/.

The kept records were graded on the machine that made them (its date, SQLite and Python in each record's
`made_on`); tests re-grade them on whatever machine runs the suite, so every CI machine and every later
session is "another machine". Remake them only when grading changes on purpose (a new rubric version):

    PYTHONPATH=. .venv/bin/python -m tests.grading_records
"""

from __future__ import annotations

import datetime as dt
import json
import platform
import sqlite3
import sys
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from app.assessments import python_checks, regrade, task_checks
from app.config import Settings
from app.grading import sql_task
from app.main import create_app
from tests import tasks
from tests.conftest import ADMIN_KEY, PUBLIC_URL
from tests.factories import ADMIN, keyed, new_assessment, new_learner, start

RECORDS_DIR = Path(__file__).parent / "data" / "grading_records"
# One attempt per skill: choice items and performance tasks, answered right, wrong and partly right.
PLANS = {
    "sql": (["single_choice", "short_text", "sql_query"], "sql_query"),
    "python": (["single_choice", "short_text", "python_function"], "python_function"),
}


def _partly_right(item: dict[str, Any]) -> str:
    """A wrong answer that still earns some of the item's points (a mutant of the reference), else the reference."""
    if item["type"] == "sql_query":
        visible = sql_task.run_query(item["fixture"], item["answer"], sql_task.runner_of(item))
        candidates = [mutant.query for mutant in task_checks.mutants(item, visible)]
    else:
        candidates = [mutant.query for mutant in python_checks.code_mutants(item["answer"])]
    for answer in candidates:
        if Fraction(0) < tasks.share(item, answer) < Fraction(1):
            return answer
    return str(item["answer"])


def _answers(items: list[dict[str, Any]], task_type: str) -> list[dict[str, Any]]:
    """Right answers, one choice item wrong, the first task partly right, the second task 0."""
    responses = []
    tasks_seen = 0
    wrong_choice_given = False
    for item in items:
        answer: Any = item["answer"]
        if item["type"] == task_type:
            tasks_seen += 1
            if tasks_seen == 1:
                answer = _partly_right(item)
            elif tasks_seen == 2:
                answer = "SELECT 1" if task_type == "sql_query" else "def nothing():\n    return None\n"
        elif item["type"] == "single_choice" and not wrong_choice_given:
            answer = next(option["id"] for option in item["options"] if option["id"] != item["answer"])
            wrong_choice_given = True
        responses.append({"item_id": item["id"], "answer": answer})
    return responses


def make_records(client: TestClient) -> dict[str, dict[str, Any]]:
    """One graded attempt per plan, as grading records read from the app's database."""
    records = {}
    for skill, (item_types, task_type) in PLANS.items():
        assessment = new_assessment(client, skill=skill, level="foundation", item_count=10, seed=29,
                                    item_types=item_types)
        learner = new_learner(client)
        attempt = start(client, assessment, learner)
        published = client.get(f"/v1/assessments/{assessment['id']}", headers=ADMIN).json()
        frozen = {item["id"]: item for item in published["items"]}
        # The attempt's items under its own ids, with the frozen item's hidden variants and tests.
        drawn = [{**frozen[item["bank_item_id"]], "id": item["id"]} for item in keyed(client, attempt)["items"]]
        responses = _answers(drawn, task_type)
        submitted = client.post(f"/v1/attempts/{attempt['id']}/submit", json={"responses": responses},
                                headers=learner["headers"])
        assert submitted.status_code == 200, submitted.text
        with client.app.state.database.sessions() as session:  # type: ignore[attr-defined]
            records[skill] = regrade.grading_record(session, attempt["id"])
    return records


def main() -> None:
    from app.cli import migrate

    with tempfile.TemporaryDirectory() as directory:
        settings = Settings(
            database_url=f"sqlite:///{directory}/records.db", keys_dir=Path(directory) / "keys",
            public_url=PUBLIC_URL, admin_api_key=ADMIN_KEY, precision_gate="off",
        )
        migrate(settings)
        with TestClient(create_app(settings), base_url=PUBLIC_URL) as client:
            records = make_records(client)
    made_on = {
        "date": dt.date.today().isoformat(), "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version, "machine": platform.machine(),
    }
    RECORDS_DIR.mkdir(parents=True, exist_ok=True)
    for skill, record in records.items():
        path = RECORDS_DIR / f"{skill}.json"
        path.write_text(json.dumps({**record, "made_on": made_on}, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        print(f"wrote {path}: {record['grade']['score']} of {record['grade']['max_score']}", file=sys.stderr)


if __name__ == "__main__":
    main()
