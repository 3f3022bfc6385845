"""sql_query items: what a learner sees, grading by running the query on hidden variants, the authoring checks,
the grading pool's bounded queue, and regrade --check over the new type."""

from __future__ import annotations

import asyncio
import copy
import sqlite3
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.assessments import task_checks
from app.assessments.validation import item_problems
from app.errors import Busy
from app.grading import performance, sql_task
from app.grading.pool import GradingPool
from tests import tasks
from tests.conformance import assert_issued
from tests.factories import ADMIN, keyed, new_assessment, new_learner, start

RUBRIC = tasks.RUBRIC


def _bank_tasks(level: str | None = None) -> list[dict[str, Any]]:
    return tasks.bank_tasks("sql", "sql_query", level)


def _task(item_id: str) -> dict[str, Any]:
    return tasks.bank_task("sql", "sql_query", item_id)


_share = tasks.share


def _sql_attempt(
    client: TestClient, level: str = "foundation", count: int = 3
) -> tuple[dict[str, Any], dict[str, Any]]:
    assessment = new_assessment(client, skill="sql", level=level, item_count=count, item_types=["sql_query"], seed=5)
    learner = new_learner(client)
    return start(client, assessment, learner), learner


def test_a_learner_sees_the_prompt_schema_and_rows_but_not_the_reference_or_hidden_variants(client: TestClient) -> None:
    attempt, _ = _sql_attempt(client)
    for item in attempt["items"]:
        assert item["type"] == "sql_query"
        assert set(item) == {"id", "type", "prompt", "fixture", "points"}
        table = item["fixture"]["tables"][0]
        assert {"name", "columns", "rows", "row_count"} == set(table)
        assert all(set(column) == {"name", "type"} for column in table["columns"])
        assert len(table["rows"]) == table["row_count"]  # the bank's fixtures are small: every row is shown
    admin_view = keyed(client, attempt)
    assert all(item["answer"].lstrip().upper().startswith(("SELECT", "WITH")) for item in admin_view["items"])
    published = client.get(f"/v1/assessments/{attempt['assessment_id']}", headers=ADMIN).json()
    assert all(len(item["variants"]) >= 2 and "compare" in item for item in published["items"])


def test_reference_answers_pass_and_the_grade_records_the_runs_and_the_engine(client: TestClient) -> None:
    attempt, learner = _sql_attempt(client)
    admin_view = keyed(client, attempt)
    responses = [{"item_id": item["id"], "answer": item["answer"]} for item in admin_view["items"]]
    response = client.post(f"/v1/attempts/{attempt['id']}/submit", json={"responses": responses},
                           headers=learner["headers"])
    assert response.status_code == 200, response.text
    grade = response.json()
    assert grade["percent"] == 100 and grade["passed"] and grade["credential_id"]
    runs = [item["run"] for item in keyed(client, attempt)["grade"]["items"]]
    assert all(run["passed"] == run["variants"] >= 2 for run in runs)
    assert {run["engine"] for run in runs} == {f"sqlite {sqlite3.sqlite_version}"}


def test_the_visible_answer_typed_in_earns_nothing_and_a_half_right_query_earns_part(client: TestClient) -> None:
    attempt, learner = _sql_attempt(client, count=8)
    items = {item["id"]: item for item in attempt["items"]}
    visible_tables = {item_id: item["fixture"] for item_id, item in items.items()}
    admin_items = {item["id"]: item for item in keyed(client, attempt)["items"]}
    responses = []
    for item_id in items:
        fixture = {"tables": [{key: table[key] for key in ("name", "columns", "rows")}
                              for table in visible_tables[item_id]["tables"]]}
        visible = sql_task.run_query(fixture, admin_items[item_id]["answer"], sql_task.DEFAULT_RUNNER)
        responses.append({"item_id": item_id, "answer": task_checks.hard_coded(visible)})
    response = client.post(f"/v1/attempts/{attempt['id']}/submit", json={"responses": responses},
                           headers=learner["headers"])
    assert response.status_code == 200, response.text
    assert response.json()["score"] == 0

    unknown_city = _task("sql-task-f04")  # an extra condition is right only on the variants where it changes nothing
    share = _share(unknown_city, "SELECT id, name FROM customers WHERE city IS NULL AND email IS NOT NULL")
    assert 0 < share < 1


def test_a_correct_query_written_differently_earns_full_marks() -> None:
    never_ordered = _task("sql-task-i01")
    answer = "select id, name from customers as c where not exists (select 1 from orders where customer_id = c.id)"
    assert _share(never_ordered, answer) == 1
    monthly = _task("sql-task-i04")  # numeric tolerance, other column names, strftime instead of substr
    answer = ("SELECT strftime('%Y-%m', order_date) m, round(SUM(total), 2) FROM orders WHERE status = 'paid' "
              "GROUP BY 1 ORDER BY 1 DESC;")
    assert _share(monthly, answer) == 1


def test_an_answer_that_is_not_one_sql_string_is_refused_with_422(client: TestClient) -> None:
    attempt, learner = _sql_attempt(client, count=1)
    for answer in (["SELECT 1"], 42, "x" * (sql_task.MAX_QUERY_CHARS + 1)):
        response = client.post(f"/v1/attempts/{attempt['id']}/submit", headers=learner["headers"],
                               json={"responses": [{"item_id": attempt["items"][0]["id"], "answer": answer}]})
        assert response.status_code == 422, response.text
        assert response.json()["error"] == "invalid_response"


def test_every_bank_task_passes_its_checks_and_its_hidden_variants_kill_most_mutants() -> None:
    for level in ("foundation", "intermediate"):
        tasks = _bank_tasks(level)
        assert len(tasks) >= 8
        for item in tasks:
            report = task_checks.task_report(item)
            assert report.problems == [] and report.survivors == [], item["id"]
            assert report.mutation_score >= 0.8, (item["id"], report.mutation_score)


def test_a_task_whose_variants_cannot_tell_a_wrong_answer_from_the_reference_is_refused() -> None:
    weak = copy.deepcopy(_task("sql-task-f06"))  # hired on or after 2023-01-01
    for variant in weak["variants"]:  # nobody hired on 1 January 2023 any more: `>` passes as well as `>=`
        rows = variant["tables"][1]["rows"]
        variant["tables"][1]["rows"] = [row for row in rows if row[5] != "2023-01-01"]
    visible = weak["fixture"]["tables"][1]
    visible["rows"] = [row for row in visible["rows"] if row[5] != "2023-01-01"]
    report = task_checks.task_report(weak)
    assert report.mutation_score < task_checks.task_report(_task("sql-task-f06")).mutation_score

    echo = copy.deepcopy(_task("sql-task-f04"))
    echo["variants"][0] = copy.deepcopy(echo["fixture"])
    echo["variants"][0]["tables"][1]["rows"] = echo["variants"][0]["tables"][1]["rows"][:-1]  # same answer
    assert any(problem.startswith("variant_echoes_visible") for problem in task_checks.task_report(echo).problems)

    no_where = copy.deepcopy(_task("sql-task-f04"))
    for variant in no_where["variants"]:
        variant["tables"][0]["rows"] = [row for row in variant["tables"][0]["rows"] if row[2] is None]
    assert "where_dropped" in task_checks.task_report(no_where).survivors

    broken = {**_task("sql-task-f01"), "answer": "SELECT nam FROM customers"}
    assert task_checks.task_report(broken).problems[0].startswith("reference_fails")


def test_structural_problems_are_named() -> None:
    item = copy.deepcopy(_task("sql-task-f02"))
    item["variants"] = item["variants"][:1]
    item["fixture"]["tables"][0]["columns"][0]["type"] = "BLOB"
    item["compare"] = {"ordered": "yes"}
    problems = item_problems(item)
    assert any(p.startswith("variants_count") for p in problems)
    assert any(p.startswith("fixture_invalid") for p in problems)
    assert any(p.startswith("compare_invalid") for p in problems)


def test_the_grading_pool_refuses_work_beyond_its_queue_with_busy() -> None:
    slow = _task("sql-task-f01")
    bomb = "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT count(*) FROM r"

    async def burst() -> list[object]:
        pool = GradingPool(workers=0, queue=1)  # capacity 2
        try:
            return await asyncio.gather(*(pool.run([(slow, bomb)]) for _ in range(3)), return_exceptions=True)
        finally:
            pool.shutdown()

    outcomes = asyncio.run(burst())
    assert sum(isinstance(outcome, Busy) for outcome in outcomes) == 1
    graded = [outcome for outcome in outcomes if isinstance(outcome, dict)]
    assert len(graded) == 2
    assert all(run.share == 0 and run.variants[0].reason == "step_limit" for result in graded
               for run in result.values())


def test_a_pool_run_equals_the_inline_run(client: TestClient) -> None:
    item = _task("sql-task-i02")
    answer = "SELECT c.id, COUNT(o.id) FROM customers c LEFT JOIN orders o ON o.customer_id = c.id GROUP BY c.id"

    async def in_pool() -> dict[str, sql_task.TaskResult]:
        pool = GradingPool(workers=1, queue=0)
        try:
            return await pool.run([(item, answer)])
        finally:
            pool.shutdown()

    pooled = asyncio.run(in_pool())
    assert pooled == {performance.task_key(item, answer): performance.run_task(item, answer)}
    assert 0 <= pooled[performance.task_key(item, answer)].share < 1  # counts every order, not the paid ones


@pytest.mark.parametrize("level", ["foundation", "intermediate"])
def test_regrade_check_reproduces_sql_grades(client: TestClient, level: str, tmp_path: Any) -> None:
    from app.assessments import regrade

    attempt, learner = _sql_attempt(client, level=level, count=4)
    admin_items = keyed(client, attempt)["items"]
    answers = ["SELECT 1", admin_items[1]["answer"], "SELECT * FROM customers", admin_items[3]["answer"]]
    responses = [{"item_id": item["id"], "answer": answer} for item, answer in zip(admin_items, answers, strict=True)]
    assert client.post(f"/v1/attempts/{attempt['id']}/submit", json={"responses": responses},
                       headers=learner["headers"]).status_code == 200
    database = client.app.state.database  # type: ignore[attr-defined]
    with database.sessions() as session:
        report = regrade.check_all(session)
    assert report.checked >= 1 and report.mismatches == []


def test_the_credential_states_the_performance_tasks_and_their_share_of_the_score(client: TestClient) -> None:
    # Performance tasks are drawn when an assessment asks for them by type (a default draft holds none).
    mixed = ["single_choice", "multiple_response", "short_text", "sql_query"]
    assessment = new_assessment(client, skill="sql", level="foundation", item_count=14, seed=11, item_types=mixed)
    kinds = [item["type"] for item in assessment["items"]]
    assert 0 < kinds.count("sql_query") < len(kinds), kinds  # a mixed draw
    learner = new_learner(client)
    attempt = start(client, assessment, learner)
    admin_items = keyed(client, attempt)["items"]
    responses = [{"item_id": item["id"], "answer": item["answer"]} for item in admin_items]
    first_task = next(item for item in admin_items if item["type"] == "sql_query")
    responses = [{**response, "answer": "SELECT 1"} if response["item_id"] == first_task["id"] else response
                 for response in responses]
    grade = client.post(f"/v1/attempts/{attempt['id']}/submit", json={"responses": responses},
                        headers=learner["headers"]).json()
    assert grade["passed"], grade
    issued = client.get(f"/v1/credentials/{grade['credential_id']}", headers=learner["headers"]).json()
    assert_issued(issued)  # OB 3.0 schema, and every term defined by the contexts
    [evidence] = issued["credential"]["evidence"]
    tasks = [item for item in admin_items if item["type"] == "sql_query"]
    task_points = sum(item["points"] for item in tasks)
    assert evidence["performanceTasks"] == len(tasks)
    assert evidence["performanceTaskShare"] == round(task_points / grade["max_score"], 4)
    assert evidence["performanceTaskPercent"] == round((task_points - first_task["points"]) / task_points * 100, 2)
    assert "graded by running the answer" in evidence["narrative"]
    # ...and as a Result of its own, described on the achievement, for a verifier that reads only the results.
    subject = issued["credential"]["credentialSubject"]
    described = {entry["id"]: entry for entry in subject["achievement"]["resultDescription"]}
    [performance] = [result for result in subject["result"] if result["resultDescription"].endswith("#performance")]
    assert float(performance["value"]) == evidence["performanceTaskPercent"]
    description = described[performance["resultDescription"]]
    assert description["resultType"] == "Percent"
    assert f"({len(tasks)}, {evidence['performanceTaskShare'] * 100:g}% of the maximum score)" in description["name"]
    assert float(subject["result"][0]["value"]) == grade["percent"]  # the overall score stays first


def test_a_credential_without_performance_tasks_says_nothing_of_them(client: TestClient) -> None:
    assessment = new_assessment(client, skill="sql", item_count=4, item_types=["single_choice"])
    learner = new_learner(client)
    attempt = start(client, assessment, learner)
    responses = [{"item_id": item["id"], "answer": item["answer"]} for item in keyed(client, attempt)["items"]]
    grade = client.post(f"/v1/attempts/{attempt['id']}/submit", json={"responses": responses},
                        headers=learner["headers"]).json()
    issued = client.get(f"/v1/credentials/{grade['credential_id']}", headers=learner["headers"]).json()
    [evidence] = issued["credential"]["evidence"]
    assert not {"performanceTasks", "performanceTaskShare", "performanceTaskPercent"} & set(evidence)
    assert "Performance tasks" not in evidence["narrative"]
    results = issued["credential"]["credentialSubject"]["result"]
    assert not [result for result in results if result["resultDescription"].endswith("#performance")]


def test_an_admin_written_sql_task_is_checked_and_refused_with_its_reasons(client: TestClient) -> None:
    draft = new_assessment(client, publish=False, skill="sql", item_count=2, item_types=["single_choice"])
    people = {"name": "people", "columns": [{"name": "name", "type": "TEXT"}, {"name": "age", "type": "INTEGER"}]}
    item = {
        "type": "sql_query", "points": 2, "explanation": "WHERE keeps the adults.",
        "prompt": "Write one SQLite query: the names of the people aged 18 or more (any order).",
        "answer": "SELECT name FROM people WHERE age >= 18",
        "fixture": {"tables": [{**people, "rows": [["Ann", 30], ["Bo", 12]]}]},
        "variants": [{"tables": [{**people, "rows": [["Cy", 40], ["Di", 50]]}]},
                     {"tables": [{**people, "rows": [["Ed", 22]]}]}],
    }
    response = client.post(f"/v1/assessments/{draft['id']}/items", headers=ADMIN, json=item)
    assert response.status_code == 422, response.text  # no minor in any variant: dropping the WHERE passes
    assert response.json()["error"] == "item_invalid"
    assert "where_dropped" in response.json()["detail"]

    item["variants"] = [{"tables": [{**people, "rows": [["Cy", 17], ["Di", 18], ["Ed", 60]]}]},
                        {"tables": [{**people, "rows": [["Fay", 5], ["Gus", 19]]}]}]
    response = client.post(f"/v1/assessments/{draft['id']}/items", headers=ADMIN, json=item)
    assert response.status_code == 201, response.text
    added = response.json()["items"][-1]
    assert added["runner"] == sql_task.DEFAULT_RUNNER and added["compare"] == {}


def test_an_answer_with_no_select_values_or_with_is_graded_on_the_request_path_as_refused(client: TestClient) -> None:
    attempt, learner = _sql_attempt(client, count=1)  # the pool is skipped: such a statement is refused when prepared
    item_id = attempt["items"][0]["id"]
    response = client.post(f"/v1/attempts/{attempt['id']}/submit", headers=learner["headers"],
                           json={"responses": [{"item_id": item_id, "answer": "ATTACH DATABASE '/tmp/x.db' AS x"}]})
    assert response.status_code == 200, response.text
    assert response.json()["score"] == 0
    [scored] = keyed(client, attempt)["grade"]["items"]
    assert set(scored["run"]["reasons"]) == {"not_allowed"}


def test_a_default_draft_holds_no_performance_tasks_and_asking_for_them_draws_them(client: TestClient) -> None:
    """Tasks run in the bounded grading pool: an assessment opts in by naming their types."""
    for skill in ("sql", "python"):
        default = new_assessment(client, skill=skill, level="foundation", item_count=20, publish=False)
        assert not {item["type"] for item in default["items"]} & set(performance.PERFORMANCE_TYPES)
    asked = new_assessment(client, skill="sql", level="foundation", item_count=4, item_types=["sql_query"],
                           publish=False)
    assert {item["type"] for item in asked["items"]} == {"sql_query"}
