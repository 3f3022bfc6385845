"""python_function items: what a learner sees, grading by running the function on hidden tests in the bubblewrap
sandbox, the authoring checks, the grading pool, and regrade --check over the new type."""

from __future__ import annotations

import asyncio
import copy
import shutil
from fractions import Fraction
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.assessments import python_checks, task_checks
from app.assessments.generators.bank import BANK_DIR, load_bank
from app.assessments.validation import item_problems
from app.grading import performance, python_task
from app.grading.pool import GradingPool
from tests import tasks
from tests.factories import ADMIN, keyed, new_assessment, new_learner, start

pytestmark = pytest.mark.skipif(
    not python_task.available(), reason="bubblewrap (bwrap) is not installed: `apt-get install -y bubblewrap`"
)
RUBRIC = tasks.RUBRIC


def _bank_tasks(level: str | None = None) -> list[dict[str, Any]]:
    return tasks.bank_tasks("python", "python_function", level)


def _task(item_id: str) -> dict[str, Any]:
    return tasks.bank_task("python", "python_function", item_id)


_share = tasks.share


def _attempt(client: TestClient, level: str = "foundation", count: int = 3) -> tuple[dict[str, Any], dict[str, Any]]:
    assessment = new_assessment(client, skill="python", level=level, item_count=count,
                                item_types=["python_function"], seed=5)
    learner = new_learner(client)
    return start(client, assessment, learner), learner


def test_a_learner_sees_the_prompt_signature_and_examples_but_not_the_reference_or_hidden_tests(
    client: TestClient,
) -> None:
    attempt, _ = _attempt(client)
    for item in attempt["items"]:
        assert item["type"] == "python_function"
        assert set(item) == {"id", "type", "prompt", "function", "examples", "points"}
        assert set(item["function"]) == {"name", "params"} and item["examples"]
        assert all(set(example) == {"args", "expected"} for example in item["examples"])
    published = client.get(f"/v1/assessments/{attempt['assessment_id']}", headers=ADMIN).json()
    assert all(len(item["tests"]) >= 3 and item["runner"] == python_task.DEFAULT_RUNNER
               for item in published["items"])


def test_reference_answers_pass_wrong_ones_fail_and_the_grade_records_the_runs(client: TestClient) -> None:
    attempt, learner = _attempt(client)
    admin_items = keyed(client, attempt)["items"]
    responses = [{"item_id": item["id"], "answer": item["answer"]} for item in admin_items]
    responses[0]["answer"] = f"def {admin_items[0]['function']['name']}(*args):\n    return 0\n"
    response = client.post(f"/v1/attempts/{attempt['id']}/submit", json={"responses": responses},
                           headers=learner["headers"])
    assert response.status_code == 200, response.text
    graded = keyed(client, attempt)["grade"]["items"]
    runs = {item["item_id"]: item["run"] for item in graded}
    wrong = runs.pop(admin_items[0]["id"])
    assert wrong["passed"] < wrong["variants"]
    assert all(run["passed"] == run["variants"] >= 3 for run in runs.values())
    assert {run["engine"] for run in [wrong, *runs.values()]} == {python_task.engine()}
    assert python_task.engine().startswith("python 3.")


def test_a_correct_function_written_differently_earns_full_marks_and_a_partly_right_one_part() -> None:
    vowels = _task("python-task-f01")
    assert _share(vowels, "import re\ndef count_vowels(text):\n    return len(re.findall('[aeiou]', text, re.I))") == 1
    assert 0 < _share(vowels, "def count_vowels(text):\n    return sum(c in 'aeiou' for c in text)") < 1
    top = _task("python-task-i05")  # Counter.most_common breaks ties by first appearance, not alphabetically
    answer = ("from collections import Counter\ndef top_k_frequent(words, k):\n"
              "    return [w for w, _ in Counter(words).most_common(k)]")
    assert 0 < _share(top, answer) < 1


def test_a_hidden_test_weight_counts_and_an_expression_test_runs() -> None:
    item = copy.deepcopy(_task("python-task-f07"))
    item["tests"] = [{"args": [-5, 0, 10], "expected": 0, "weight": 3},
                     {"args": [50, 0, 10], "expected": 10},
                     {"expr": "[clamp(v, 1, 2) for v in (0, 3)]", "expected": [1, 2]}]
    only_low = "def clamp(value, low, high):\n    return max(value, low)"
    assert _share(item, only_low) == Fraction(3, 5)
    assert item_problems(item) == []


def test_an_answer_that_is_not_one_python_string_is_refused_with_422(client: TestClient) -> None:
    attempt, learner = _attempt(client, count=1)
    for answer in (["def f(): pass"], 42, "x" * (python_task.MAX_SOURCE_CHARS + 1)):
        response = client.post(f"/v1/attempts/{attempt['id']}/submit", headers=learner["headers"],
                               json={"responses": [{"item_id": attempt["items"][0]["id"], "answer": answer}]})
        assert response.status_code == 422, response.text
        assert response.json()["error"] == "invalid_response"


def test_every_bank_task_passes_its_checks_and_its_hidden_tests_kill_most_mutants() -> None:
    scores = []
    for level in ("foundation", "intermediate"):
        tasks = _bank_tasks(level)
        assert len(tasks) >= 8
        for item in tasks:
            report = task_checks.task_report(item)
            assert report.problems == [] and report.survivors == [], item["id"]
            assert report.mutants >= 4
            scores.append(report.mutation_score)
    assert min(scores) >= 0.6 and sum(scores) / len(scores) >= 0.85, scores


def test_a_task_whose_tests_cannot_tell_a_wrong_answer_from_the_reference_is_refused() -> None:
    weak = copy.deepcopy(_task("python-task-f06"))  # running_total: every hidden test expects []
    weak["tests"] = [{"args": [[]], "expected": []}] * 3
    report = python_checks.task_report(weak)
    assert {"empty", "constant"} <= set(report.survivors) or "constant" in report.survivors
    assert any(problem.startswith("survivors") for problem in report.problems)

    echo = copy.deepcopy(_task("python-task-f02"))  # the hidden tests are the visible example again
    echo["tests"] = [{"args": example["args"], "expected": example["expected"]} for example in echo["examples"]] * 3
    assert "visible_hard_coded" in python_checks.task_report(echo).survivors
    assert any(problem.startswith("test_not_hidden") for problem in item_problems(echo))

    wrong = copy.deepcopy(_task("python-task-f03"))
    wrong["tests"][2]["expected"] = ["1"]
    assert python_checks.task_report(wrong).problems[0].startswith("reference_fails: the reference misses test 3")

    broken = {**_task("python-task-f01"), "answer": "def count_vowels(text) return 0"}
    assert python_checks.task_report(broken).problems[0].startswith("reference_fails")


def test_structural_problems_are_named() -> None:
    item = copy.deepcopy(_task("python-task-f02"))
    item["tests"] = item["tests"][:2]
    item["function"] = {"name": "class", "params": ["numbers"]}
    item["runner"] = {"cpu_seconds": 100, "wall_seconds": 1, "memory_mb": 1}
    problems = item_problems(item)
    assert any(p.startswith("function_invalid") for p in problems)
    item["function"] = {"name": "second_largest", "params": ["numbers"]}
    problems = item_problems(item)
    assert any(p.startswith("tests_count") for p in problems)
    assert any(p.startswith("runner_invalid") for p in problems)
    item = copy.deepcopy(_task("python-task-f02"))
    item["tests"][0] = {"args": [1, 2], "expected": float("nan")}
    assert any(p.startswith("test_invalid: test 1") for p in item_problems(item))


def test_integers_the_content_hash_cannot_take_are_refused_before_publishing() -> None:
    """RFC 8785 refuses integers beyond ±(2^53 - 1): a task holding one could not be frozen, so it is a problem."""
    item = copy.deepcopy(_task("python-task-f02"))
    assert item_problems(item) == []
    item["tests"][1]["expected"] = 2**53
    assert any(p.startswith("test_invalid: test 2") for p in item_problems(item))
    item = copy.deepcopy(_task("python-task-f02"))
    item["examples"][0]["args"] = [[-(2**60), 1]]
    assert any(p.startswith("examples_invalid") for p in item_problems(item))
    item["examples"][0]["args"] = [[-(2**53 - 1), 1]]
    assert not any(p.startswith("examples_invalid") for p in item_problems(item))


def test_a_pool_run_equals_the_inline_run() -> None:
    item = _task("python-task-i02")
    answer = "def merge_intervals(intervals):\n    return sorted(intervals)"

    async def in_pool() -> dict[str, Any]:
        pool = GradingPool(workers=1, queue=0)
        try:
            return await pool.run([(item, answer)])
        finally:
            pool.shutdown()

    pooled = asyncio.run(in_pool())
    assert pooled == {performance.task_key(item, answer): performance.run_task(item, answer)}
    assert 0 < pooled[performance.task_key(item, answer)].share < 1


def test_the_same_answer_grades_the_same_every_time_hash_seed_and_random_fixed() -> None:
    item = copy.deepcopy(_task("python-task-f02"))
    item["tests"].append({"expr": "[hash('skillproof'), __import__('random').random()]", "expected": 0})
    answer = "def second_largest(numbers):\n    return sorted(set(numbers))[-2]"
    runs = [python_task.run_programs([answer], "second_largest", item["tests"], python_task.runner_of(item))
            for _ in range(3)]
    assert runs[0] == runs[1] == runs[2]
    [[*_, seeded]] = runs[0]
    import random
    import subprocess

    random.seed(0)
    assert seeded["value"][1] == random.random()
    outside = subprocess.run([python_task.PYTHON, "-c", "print(hash('skillproof'))"], env={"PYTHONHASHSEED": "0"},
                             capture_output=True, text=True, check=True).stdout
    assert seeded["value"][0] == int(outside)


@pytest.mark.parametrize("level", ["foundation", "intermediate"])
def test_regrade_check_reproduces_python_grades(client: TestClient, level: str) -> None:
    from app.assessments import regrade

    attempt, learner = _attempt(client, level=level, count=3)
    admin_items = keyed(client, attempt)["items"]
    answers = ["def nothing(): pass", admin_items[1]["answer"], "while True: pass"]
    responses = [{"item_id": item["id"], "answer": answer} for item, answer in zip(admin_items, answers, strict=True)]
    assert client.post(f"/v1/attempts/{attempt['id']}/submit", json={"responses": responses},
                       headers=learner["headers"]).status_code == 200
    database = client.app.state.database  # type: ignore[attr-defined]
    with database.sessions() as session:
        report = regrade.check_all(session)
    assert report.checked >= 1 and report.mismatches == []


def test_an_admin_written_python_task_is_checked_and_refused_with_its_reasons(client: TestClient) -> None:
    draft = new_assessment(client, publish=False, skill="python", item_count=2, item_types=["single_choice"])
    item = {
        "type": "python_function", "points": 2, "explanation": "Keep the even numbers.",
        "prompt": "Write evens(numbers): the even numbers of the list, in order.",
        "answer": "def evens(numbers):\n    return [n for n in numbers if n % 2 == 0]\n",
        "function": {"name": "evens", "params": ["numbers"]},
        "examples": [{"args": [[1, 2, 3, 4]], "expected": [2, 4]}],
        "tests": [{"args": [[]], "expected": []}] * 3,  # every test expects the same: a constant passes
    }
    response = client.post(f"/v1/assessments/{draft['id']}/items", headers=ADMIN, json=item)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "item_invalid"
    assert "constant" in response.json()["detail"]

    item["tests"] = [{"args": [[1, 3]], "expected": []}, {"args": [[2, 5, 8]], "expected": [2, 8]},
                     {"args": [[-2, -1]], "expected": [-2]}]
    response = client.post(f"/v1/assessments/{draft['id']}/items", headers=ADMIN, json=item)
    assert response.status_code == 201, response.text
    assert response.json()["items"][-1]["runner"] == python_task.DEFAULT_RUNNER


def test_without_bubblewrap_the_bank_loads_without_its_python_tasks() -> None:
    import os
    import subprocess
    import sys

    script = ("from app.assessments.generators.bank import load_bank\n"
              "items = load_bank()['python'].items\n"
              "print(sum(item['type'] == 'python_function' for item in items), len(items))")
    without = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                             env={**os.environ, "PATH": "/nonexistent"})  # no bwrap on the PATH
    tasks, total = map(int, without.stdout.split())
    assert tasks == 0 and total == len(load_bank(BANK_DIR)["python"].items) - len(_bank_tasks()) > 0
    assert "skipped, bubblewrap (bwrap) is not installed" in without.stderr
    assert shutil.which("bwrap") and len(_bank_tasks()) >= 16
