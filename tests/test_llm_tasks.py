"""The LLM generator writes performance tasks (sql_query, python_function): each passes the bank's task checks and
a solver whose solution is run before it is kept, is graded end to end like a bank task, and never shows a learner
its reference or hidden data. The model is the scripted OpenAI-compatible server (tests/llm_server.py), over HTTP.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.assessments.generators.bank import BANK_DIR, load_bank
from app.assessments.generators.llm import LlmConfig, LlmGenerator
from app.assessments.review import REVIEW_CHECKLIST
from app.config import Settings
from app.grading import python_task, sql_task
from app.main import create_app
from tests.conftest import PUBLIC_URL
from tests.factories import ADMIN, keyed, new_learner, start
from tests.llm_server import FakeLlmServer, FakeModel

needs_bwrap = pytest.mark.skipif(
    not python_task.available(), reason="bubblewrap (bwrap) is not installed: `apt-get install -y bubblewrap`"
)

EMPLOYEES = [{"name": "id", "type": "INTEGER"}, {"name": "name", "type": "TEXT"}, {"name": "dept", "type": "TEXT"},
             {"name": "salary", "type": "REAL"}]
VISIBLE = [[1, "Ann", "Sales", 50000.0], [2, "Bo", "Sales", 42000], [3, "Cy", "IT", 70000], [4, "Di", "Sales", 61000.5]]
HIDDEN = [  # a salary exactly at the bound, a department the WHERE must leave out
    {"employees": [[1, "Eve", "Sales", 49999.0], [2, "Fay", "Sales", 50000], [3, "Gus", "IT", 90000],
                   [4, "Hal", "Sales", 75000], [5, "Ida", "Ops", 10]]},
    {"employees": [[1, "Jo", "IT", 50000], [2, "Kim", "Sales", 51000], [3, "Lu", "Sales", 12000.0]]},
]
SALES = ("Table `employees(id, name, dept, salary)`. Write one SQLite query: the name and salary of every employee "
         "of the 'Sales' department who earns at least 50000, in any order.")
SALES_QUERY = "SELECT name, salary FROM employees WHERE dept = 'Sales' AND salary >= 50000"

CLAMP = ("Write `clamp(value, low, high)`: `value` limited to the range from `low` to `high` inclusive (low <= high); "
         "a value inside the range comes back unchanged.")
CLAMP_SOURCE = "def clamp(value, low, high):\n    return min(max(value, low), high)\n"
CLAMP_TESTS = [("clamp(-3, 0, 10)", "0", 2), ("clamp(15, 0, 10)", "10", 2), ("clamp(7, 7, 7)", "7", 1),
               ("clamp(2.5, 1, 3)", "2.5", 1), ("clamp(-20, -10, -5)", "-10", 1)]


def sales_task(model: FakeModel, prompt: str = SALES, query: str = SALES_QUERY,
               hidden: list[dict[str, list[list[Any]]]] = HIDDEN, **kwargs: Any) -> dict[str, Any]:
    return model.sql_query(prompt, [{"name": "employees", "columns": EMPLOYEES, "rows": VISIBLE}], query, hidden,
                           **kwargs)


def clamp_task(model: FakeModel, prompt: str = CLAMP, source: str = CLAMP_SOURCE,
               tests: list[tuple[str, str, int]] = CLAMP_TESTS, **kwargs: Any) -> dict[str, Any]:
    return model.python_function(prompt, "clamp", ["value", "low", "high"], source, [("clamp(5, 0, 10)", "5")],
                                 tests, **kwargs)


@pytest.fixture
def model() -> FakeModel:
    return FakeModel()


@pytest.fixture
def llm(model: FakeModel) -> Iterator[FakeLlmServer]:
    with FakeLlmServer(handler=model) as server:
        yield server
        assert server.errors == [], "the fake model's handler failed"


def _app(settings: Settings, llm: FakeLlmServer) -> TestClient:
    configured = settings.model_copy(update={"llm_base_url": llm.base_url, "llm_model": "fake-model"})
    return TestClient(create_app(configured), base_url=PUBLIC_URL)


def _job(client: TestClient, skill: str, item_types: list[str]) -> dict[str, Any]:
    response = client.post("/v1/assessments", headers=ADMIN, json={
        "skill": skill, "level": "foundation", "item_count": 1, "generator": "llm", "item_types": item_types,
        "seed": 7})
    assert response.status_code == 202, response.text
    deadline = time.monotonic() + 20
    while (job := client.get(f"/v1/jobs/{response.json()['job_id']}", headers=ADMIN).json())["status"] in (
        "queued", "running"
    ) and time.monotonic() < deadline:
        time.sleep(0.05)
    return job


def _published(client: TestClient, job: dict[str, Any]) -> dict[str, Any]:
    assert job["status"] == "succeeded", job
    draft: dict[str, Any] = client.get(f"/v1/assessments/{job['assessment_id']}", headers=ADMIN).json()
    assert client.post(f"/v1/assessments/{draft['id']}/reviews", headers=ADMIN, json={
        "decision": "approved", "checklist": dict.fromkeys(REVIEW_CHECKLIST, True)}).status_code == 201
    published = client.post(f"/v1/assessments/{draft['id']}/publish", headers=ADMIN)
    assert published.status_code == 200, published.text
    return draft


def _sit(client: TestClient, assessment: dict[str, Any], answer: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A new learner answers the one task; (the learner's own view of the attempt and its grade, the admin's)."""
    learner = new_learner(client)
    attempt = start(client, assessment, learner)
    [item] = attempt["items"]
    grade = client.post(f"/v1/attempts/{attempt['id']}/submit", headers=learner["headers"],
                        json={"responses": [{"item_id": item["id"], "answer": answer}]})
    assert grade.status_code == 200, grade.text
    shown = {"attempt": attempt, "grade": grade.json(),
             "again": client.get(f"/v1/attempts/{attempt['id']}", headers=learner["headers"]).json(),
             "assessment": client.get(f"/v1/assessments/{assessment['id']}", headers=learner["headers"]).json()}
    return shown, keyed(client, attempt)


def _assert_hidden(shown: dict[str, Any], item: dict[str, Any], secrets: list[str]) -> None:
    """What a learner is shown holds no reference, hidden variant, hidden test or checks figure."""
    text = json.dumps(shown)
    for secret in [item["answer"].strip(), *secrets]:
        assert secret not in text, secret
    for view in [*shown["attempt"]["items"], *shown["again"]["items"]]:
        assert not {"answer", "explanation", "variants", "compare", "runner", "tests", "task_checks"} & set(view)


def test_a_generated_sql_task_is_kept_with_its_figures_and_graded_by_running_the_learners_query(
    settings: Settings, llm: FakeLlmServer, model: FakeModel,
) -> None:
    refused = sales_task(model, prompt="Table `employees(id, name, dept, salary)`. Write one SQLite query listing "
                         "the columns of the employees table.", query="PRAGMA table_info(employees)")
    model.batch("sql_query", refused)  # round 1: the authorizer refuses the reference
    no_boundary = [{"employees": [row if row[1] != "Fay" else [2, "Fay", "Sales", 50001]
                                  for row in HIDDEN[0]["employees"]]}, HIDDEN[1]]
    model.batch("sql_query", sales_task(model, hidden=no_boundary))  # kept; `>` for `>=` would go unnoticed
    with _app(settings, llm) as client:
        job = _job(client, "sql", ["sql_query"])
        assert job["status"] == "succeeded", job
        [generated] = client.get(f"/v1/assessments/{job['assessment_id']}", headers=ADMIN).json()["items"]
        # The reviewer sees the weak spot in the figures and puts a salary at the bound into the first variant.
        variants = copy.deepcopy(generated["variants"])
        variants[0]["tables"][0]["rows"][1] = [2, "Fay", "Sales", 50000]
        edited = client.patch(f"/v1/assessments/{job['assessment_id']}/items/{generated['id']}", headers=ADMIN,
                              json={"variants": variants})
        assert edited.status_code == 200, edited.text
        draft = _published(client, job)
        [item] = draft["items"]
        right, right_admin = _sit(client, draft, "SELECT e.name, e.salary FROM employees AS e\n"
                                  "WHERE e.salary >= 50000 AND e.dept = 'Sales' ORDER BY e.name")
        boundary, boundary_admin = _sit(client, draft, "SELECT name, salary FROM employees "
                                        "WHERE dept = 'Sales' AND salary > 50000")
    assert job["kept"] == 1
    assert [entry["prompt"] for entry in job["dropped"]] == [refused["prompt"]]
    [reason] = job["dropped"][0]["reasons"]
    assert reason.startswith("reference_fails: not_allowed: ") and "PRAGMA" in reason
    # The bank's shape: the fixture whole, each variant whole (tables not named keep their rows), the rule, limits.
    assert item["answer"] == SALES_QUERY and item["points"] == 2
    assert item["fixture"] == {"tables": [{"name": "employees", "columns": EMPLOYEES, "rows": VISIBLE}]}
    assert [variant["tables"][0]["rows"][1] for variant in item["variants"]] == [[2, "Fay", "Sales", 50000],
                                                                                  [2, "Kim", "Sales", 51000]]
    assert item["compare"] == {"ordered": False, "column_names": False, "tolerance": 0}
    assert item["runner"] == sql_task.DEFAULT_RUNNER
    before, after = generated["task_checks"], item["task_checks"]
    assert after["mutants"] >= after["killed"] > 0 and after["mutation_score"] == round(
        after["killed"] / after["mutants"], 3)
    # Measured again on the edit: the boundary flip (`>=` -> `>`) is caught now.
    assert (after["killed"], after["mutants"]) == (before["killed"] + 1, before["mutants"])

    assert right["grade"]["score"] == 2 and right["grade"]["passed"]
    [run] = [scored["run"] for scored in right_admin["grade"]["items"]]
    assert (run["passed"], run["variants"]) == (2, 2)
    # `>` instead of `>=` loses the variant with a salary at the bound, and only that one.
    assert boundary["grade"]["score"] == 1
    [run] = [scored["run"] for scored in boundary_admin["grade"]["items"]]
    assert (run["passed"], run["variants"], run["reasons"]) == (1, 2, ["wrong_result", "ok"])
    shown = right["attempt"]["items"][0]
    assert set(shown) == {"id", "type", "prompt", "fixture", "points"}
    assert shown["fixture"]["tables"][0]["rows"] == VISIBLE
    _assert_hidden(right, item, ["Fay", "Kim"])  # names only the hidden variants hold


@needs_bwrap
def test_a_generated_python_task_is_kept_and_graded_by_running_the_learners_function(
    settings: Settings, llm: FakeLlmServer, model: FakeModel,
) -> None:
    model.batch("python_function", clamp_task(model))
    with _app(settings, llm) as client:
        job = _job(client, "python", ["python_function"])
        draft = _published(client, job)
        [item] = draft["items"]
        right, _ = _sit(client, draft, "def clamp(value, low, high):\n    if value < low:\n        return low\n"
                        "    if value > high:\n        return high\n    return value\n")
        unchanged, unchanged_admin = _sit(client, draft, "def clamp(value, low, high):\n    return value\n")
    assert job["kept"] == 1 and job["dropped"] == []
    assert item["function"] == {"name": "clamp", "params": ["value", "low", "high"]}
    assert item["answer"] == CLAMP_SOURCE and item["examples"] == [{"args": [5, 0, 10], "expected": 5}]
    assert item["tests"][:3] == [{"args": [-3, 0, 10], "expected": 0, "weight": 2},
                                 {"args": [15, 0, 10], "expected": 10, "weight": 2},
                                 {"args": [7, 7, 7], "expected": 7}]  # weight 1 is left out, as the bank writes it
    assert item["runner"] == python_task.DEFAULT_RUNNER
    assert 0 < item["task_checks"]["mutation_score"] <= 1

    assert right["grade"]["score"] == 2 and right["grade"]["passed"]
    # Returning the value unchanged passes the tests inside the range: weights 1 + 1 of 7.
    assert unchanged["grade"]["score"] == pytest.approx(2 * 2 / 7, abs=0.01)
    [run] = [scored["run"] for scored in unchanged_admin["grade"]["items"]]
    assert run["passed"] == 2 and run["variants"] == 5
    shown = right["attempt"]["items"][0]
    assert set(shown) == {"id", "type", "prompt", "function", "examples", "points"}
    assert shown["examples"] == item["examples"]
    _assert_hidden(right, item, [json.dumps(test["args"]) for test in item["tests"]])


# -- drafts that fail a check are dropped with their reasons ---------------------------------------------------------


@pytest.fixture
def server() -> Iterator[FakeLlmServer]:
    with FakeLlmServer() as running:
        yield running
        assert running.errors == [], "the fake model's handler failed"


def generate(server: FakeLlmServer, model: FakeModel, skill: str, item_type: str, rounds: int) -> Any:
    server.handler = model
    generator = LlmGenerator(LlmConfig(base_url=server.base_url, model="fake-model", backoff_base_seconds=0.01,
                                       timeout_seconds=5.0, max_rounds=rounds))
    try:
        return generator.generate(skill_id=skill, skill_name=skill, skill_description=f"Writing {skill}.",
                                  level="foundation", item_count=1, item_types=[item_type], seed=3)
    finally:
        generator.close()


def _assert_bounded_for_grammars(server: FakeLlmServer) -> None:
    """Every string in a task schema is bounded, and by 600 at most: llama-cpp-python writes maxLength n as n nested
    optional characters, and its server dies parsing a grammar with a maxLength of 1500 (seen with SmolLM2)."""

    def strings(node: Any) -> Iterator[dict[str, Any]]:
        if isinstance(node, dict):
            if node.get("type") == "string" and "enum" not in node:
                yield node
            for value in node.values():
                yield from strings(value)
        elif isinstance(node, list):
            for value in node:
                yield from strings(value)

    asked = [received.schema for received in server.requests if received.schema_name.startswith("skillproof_items_")]
    bounds = [node.get("maxLength") for schema in asked for node in strings(schema)]
    assert asked and None not in bounds and max(bounds) <= 600, bounds


def test_sql_tasks_that_fail_a_check_are_dropped_with_named_reasons(server: FakeLlmServer) -> None:
    model = FakeModel()
    stem = "Table `employees(id, name, dept, salary)`. Write one SQLite query: "
    drafts = {
        "broken": sales_task(model, prompt=stem + "the name and wage of every employee in Sales.",
                             query="SELECT name, wage FROM employees WHERE dept = 'Sales'"),
        "attach": sales_task(model, prompt=stem + "the employees, read from an attached copy of the database.",
                             query="ATTACH DATABASE ':memory:' AS copy"),
        "echoes": sales_task(model, prompt=stem + "every Sales employee earning 50000 or more (name, salary).",
                             hidden=[{"employees": [*VISIBLE, [5, "Zed", "IT", 99000]]},
                                     {"employees": [*VISIBLE[:2], [3, "Xu", "Ops", 1], VISIBLE[3]]}]),
        # "at least" in the prompt, `>` in the reference: the solver's query, run on the variants, disagrees.
        "wrong": sales_task(model, prompt=stem + "the Sales employees who earn at least 50000, name and salary.",
                            query="SELECT name, salary FROM employees WHERE dept = 'Sales' AND salary > 50000",
                            solution=SALES_QUERY),
        "good": sales_task(model),
    }
    for draft in drafts.values():
        model.batch("sql_query", draft)
    result = generate(server, model, "sql", "sql_query", rounds=5)
    assert [item["prompt"] for item in result.kept] == [SALES]
    reasons = {name: "; ".join(next(entry["reasons"] for entry in result.dropped if entry["prompt"] == draft["prompt"]))
               for name, draft in drafts.items() if name != "good"}
    assert reasons["broken"] == "reference_fails: sql_error: no such column: wage"
    assert reasons["attach"].startswith("reference_fails: not_allowed: ") and "ATTACH" in reasons["attach"]
    assert "variant_echoes_visible: variant 1" in reasons["echoes"] and "visible_hard_coded" in reasons["echoes"]
    assert reasons["wrong"].startswith("solver_disagrees: 0 of 2 solver answers matched the key")
    # Tasks get the solver only: no critic or options-only question is asked of them.
    names = [received.schema_name for received in server.requests]
    assert not [name for name in names if name.startswith(("skillproof_critic_", "skillproof_options_only_"))]
    # The solver is shown what a learner sees: the tables' visible rows, never the reference or a variant.
    solver = next(received for received in server.requests if received.schema_name == "skillproof_solver_sql_query")
    asked = solver.messages[1]["content"]
    assert '[4, "Di", "Sales", 61000.5]' in asked and "Fay" not in asked and "salary >= 50000" not in asked
    _assert_bounded_for_grammars(server)


@needs_bwrap
def test_python_tasks_that_fail_a_check_are_dropped_with_named_reasons(server: FakeLlmServer) -> None:
    model = FakeModel()
    drafts = {
        # The reference forgets the upper bound: the model's own tests say so.
        "wrong": clamp_task(model, prompt="Write `clamp(value, low, high)`: value, raised to low if below it and "
                            "lowered to high if above it.", source="def clamp(value, low, high):\n"
                            "    return max(value, low)\n"),
        # Every hidden test expects True: `return True` passes them all.
        "constant": model.python_function(
            "Write `is_leap(year)`: whether `year` is a leap year of the Gregorian calendar.", "is_leap", ["year"],
            "def is_leap(year):\n    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)\n",
            [("is_leap(2023)", "False")], [("is_leap(2024)", "True", 1), ("is_leap(2000)", "True", 1),
                                           ("is_leap(1996)", "True", 1), ("is_leap(2400)", "True", 1)]),
        "keyword": clamp_task(model, prompt="Write `clamp(value, low, high)` returning value kept between low and "
                              "high, both included.", tests=[("clamp(value=3, low=0, high=1)", "1", 1),
                                                             *CLAMP_TESTS[1:]]),
        "good": clamp_task(model),
    }
    for draft in drafts.values():
        model.batch("python_function", draft)
    result = generate(server, model, "python", "python_function", rounds=4)
    assert [item["prompt"] for item in result.kept] == [CLAMP]
    reasons = {name: "; ".join(next(entry["reasons"] for entry in result.dropped if entry["prompt"] == draft["prompt"]))
               for name, draft in drafts.items() if name != "good"}
    assert reasons["wrong"] == "reference_fails: the reference misses test 2 (wrong_result)"
    assert reasons["constant"] == "survivors: wrong answers pass every hidden test: constant"
    assert reasons["keyword"] == ("test_invalid: hidden test 1: 'clamp(value=3, low=0, high=1)' passes arguments by "
                                  "keyword or with *; pass each by position")
    _assert_bounded_for_grammars(server)


def test_the_llm_generator_takes_task_types_and_refuses_python_tasks_without_the_sandbox(
    settings: Settings, llm: FakeLlmServer, model: FakeModel, monkeypatch: pytest.MonkeyPatch,
) -> None:
    load_bank(BANK_DIR)  # as the app loads (and caches) it, with the sandbox there: only the request is to miss it
    model.batch("sql_query", sales_task(model))  # for the job that is queued
    monkeypatch.setattr(python_task, "PYTHON", "/nonexistent/python3")  # SKILLPROOF_SANDBOX_PYTHON
    python_task.engine.cache_clear()
    try:
        with _app(settings, llm) as client:
            def create(item_types: list[str]) -> Any:
                return client.post("/v1/assessments", headers=ADMIN, json={
                    "skill": "python", "level": "foundation", "item_count": 1, "generator": "llm",
                    "item_types": item_types})

            refused = create(["single_choice", "python_function"])
            unknown = create(["essay"])
            queued = create(["sql_query"])  # runs in-process: needs no sandbox
    finally:
        python_task.engine.cache_clear()  # the next caller looks again, with the real interpreter
    assert refused.status_code == 422 and refused.json()["error"] == "sandbox_unavailable"
    assert "bubblewrap" in refused.json()["detail"]
    assert unknown.status_code == 422 and unknown.json()["error"] == "validation_error"
    assert queued.status_code == 202, queued.text
