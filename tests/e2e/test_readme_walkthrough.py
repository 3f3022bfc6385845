"""The README's curl walkthrough, run as a new user runs it: its shell blocks, in bash, against `skillproof serve`
with the default settings (precision gate on), so the README cannot drift from what the service does."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from app.config import PROJECT_ROOT
from tests.servers import free_port, own_store, serving

SECTIONS = ("## Walkthrough with curl", "### A SQL task, graded by running it",
            "### A Python task, graded by running it")


def readme_block(heading: str) -> str:
    """The first ```sh block under `heading` in README.md."""
    readme = (PROJECT_ROOT / "README.md").read_text()
    section = readme[readme.index(heading + "\n"):]
    found = re.search(r"```sh\n(.*?)```", section, re.S)
    assert found, f"no shell block under {heading!r}"
    return found.group(1)


def json_documents(text: str) -> list[Any]:
    """The JSON values jq printed, one after another."""
    decoder, documents, index = json.JSONDecoder(), [], 0
    while True:
        while index < len(text) and text[index].isspace():
            index += 1
        if index == len(text):
            return documents
        value, index = decoder.raw_decode(text, index)
        documents.append(value)


@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("jq")), reason="the walkthrough needs curl and jq")
@pytest.mark.skipif(not shutil.which("bwrap"), reason="the Python task needs bubblewrap (apt-get install bubblewrap)")
def test_the_readme_walkthrough_runs_as_written(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = own_store(tmp_path, base)  # and every other setting as a new user has it
    (tmp_path / ".venv").symlink_to(Path(os.environ.get("VIRTUAL_ENV", PROJECT_ROOT / ".venv")))
    blocks = [readme_block(heading) for heading in SECTIONS]
    assert blocks[0].startswith("BASE=http://127.0.0.1:8000\n")
    script = "set -eo pipefail\n" + "\n".join(blocks).replace("BASE=http://127.0.0.1:8000", f"BASE={base}", 1)
    with serving(tmp_path, env, port):
        done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env={**os.environ, **env},
                              capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{done.stderr}\n{done.stdout[-3000:]}"
    assert "error" not in done.stderr.lower(), done.stderr
    printed = json_documents(done.stdout)
    grades = [doc for doc in printed if isinstance(doc, dict) and "passed" in doc and "max_score" in doc]
    verdicts = [doc for doc in printed if isinstance(doc, dict) and "verified" in doc]
    task_runs = [doc for doc in printed if isinstance(doc, dict) and "run" in doc]

    # The main flow: a pass, verified as a JWT and as the Data Integrity form with the holder's email, then revoked.
    assert grades[0]["passed"] is True and grades[0]["credential_id"]
    assert [doc["verified"] for doc in verdicts] == [True, True, False]
    assert "holder" in verdicts[1]["checks"]
    assert [error["code"] for error in verdicts[2]["errors"]] == ["revoked"]

    # The SQL and Python assessments publish with the gate on, and each holds tasks graded by running them: the
    # wrong answer to the first task of each kind (the attempt's own order) loses points on hidden variants it
    # was not shown, the keys earn full marks.
    published = [doc for doc in printed if isinstance(doc, dict) and "items" in doc and doc["status"] == "published"]
    assert len(published) == 2 and published[0]["sql_tasks"] >= 2 and published[1]["python_tasks"] >= 2
    sql_runs = [run for run in task_runs if run["run"]["engine"].startswith("sqlite")]
    python_runs = [run for run in task_runs if run["run"]["engine"].startswith("python")]
    assert len(sql_runs) == published[0]["sql_tasks"] and len(python_runs) == published[1]["python_tasks"]
    for grade, runs in zip(grades[1:], (sql_runs, python_runs), strict=True):
        wrong = [run for run in runs if run["score"] < run["max_score"]]
        assert len(wrong) == 1 and "wrong_result" in wrong[0]["run"]["reasons"], runs
        assert grade["score"] == grade["max_score"] - (wrong[0]["max_score"] - wrong[0]["score"])

    # The credential of the SQL pass carries the performance tasks' own Result: the share of their points earned.
    performance = next(doc for doc in printed if isinstance(doc, dict)
                       and str(doc.get("resultDescription", "")).endswith("#performance"))
    earned = sum(run["score"] for run in sql_runs) / sum(run["max_score"] for run in sql_runs) * 100
    assert float(performance["value"]) == pytest.approx(earned, abs=0.01)
