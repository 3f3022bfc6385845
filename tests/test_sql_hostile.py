"""Hostile sql_query answers: each is contained (refused with a named reason or graded 0), and a server grading a
burst of them keeps answering verify within twice its idle latency."""

# ruff: noqa: S608 - hostile SQL on purpose
from __future__ import annotations

import statistics
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.assessments.generators.bank import BANK_DIR, load_bank
from app.grading import performance, sql_task
from tests.servers import fresh_server

ITEM = next(
    {key: value for key, value in item.items() if key != "level"}
    for item in load_bank(BANK_DIR)["sql"].items if item["id"] == "sql-task-f05"
)
FIXTURE = ITEM["fixture"]
TEN_K = "replace(replace(replace('aaaaaaaaaa','a','aaaaaaaaaa'),'a','aaaaaaaaaa'),'a','aaaaaaaaaa')"
BIG = "replace(replace(replace(replace('aaaaaaaaaa','a','aaaaaaaaaa'),'a','aaaaaaaaaa'),'a','aaaaaaaaaa'),'a','aa')"
# (query, the reasons it may be stopped with: the refusal code, or "wrong_result" when it runs and is wrong)
HOSTILE: list[tuple[str, set[str]]] = [
    ("ATTACH DATABASE '/tmp/stolen.db' AS stolen", {"not_allowed"}),
    ("SELECT * FROM customers; ATTACH ':memory:' AS x", {"multiple_statements"}),
    ("PRAGMA table_info(customers)", {"not_allowed"}),
    ("SELECT * FROM pragma_table_info('customers')", {"not_allowed"}),
    ("SELECT load_extension('/usr/lib/x86_64-linux-gnu/libsqlite3.so')", {"not_allowed"}),
    ("SELECT * FROM sqlite_master", {"not_allowed"}),
    ("INSERT INTO orders VALUES (1, 1, '2025-01-01', 'paid', 1e9)", {"not_allowed"}),
    ("UPDATE orders SET total = 0", {"not_allowed"}),
    ("DELETE FROM customers", {"not_allowed"}),
    ("DROP TABLE orders", {"not_allowed"}),
    ("CREATE TABLE t AS SELECT * FROM orders", {"not_allowed"}),
    ("CREATE TEMP TRIGGER t AFTER INSERT ON orders BEGIN SELECT 1; END", {"not_allowed"}),
    ("BEGIN", {"not_allowed"}),
    ("VACUUM INTO '/tmp/copy.db'", {"not_allowed"}),
    ("WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT * FROM r", {"too_many_rows"}),
    ("WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT count(*) FROM r", {"step_limit"}),
    ("WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT max(x) FROM r ORDER BY 1",
     {"step_limit"}),
    ("SELECT * FROM orders a, orders b, orders c, orders d", {"too_many_rows", "too_large"}),
    ("SELECT count(*) FROM orders a, orders b, orders c, orders d, orders e, orders f", {"step_limit"}),
    ("SELECT zeroblob(1000000000)", {"not_allowed"}),
    ("SELECT printf('%.*c', 1e9, 'x')", {"not_allowed"}),
    ("SELECT format('%1000000000d', 1)", {"not_allowed"}),
    ("SELECT randomblob(1000000000)", {"not_allowed"}),
    (f"SELECT {BIG} || {BIG} || {BIG}", {"too_large"}),
    (f"SELECT {BIG} FROM orders a, orders b", {"too_large"}),
    (f"WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT count(upper({TEN_K})) FROM r",
     {"step_limit"}),
    ("SELECT group_concat(c.name || o.status) FROM orders o, orders p, orders q, customers c", {"too_large"}),
    ("SELECT 1; SELECT 2", {"multiple_statements"}),
    ("SELECT 1 /* ; DROP TABLE orders; */ ; DELETE FROM orders", {"multiple_statements"}),
    ("SELECT 1 -- ; DROP TABLE orders", {"wrong_result"}),
    ("SELECT random()", {"not_allowed"}),
    ("SELECT abs(random()) % 100 AS name, 1 AS paid_total", {"not_allowed"}),
    ("SELECT datetime('now', 'localtime'), 1", {"not_deterministic"}),
    ("SELECT sqlite_version(), 1", {"not_allowed"}),
    ("SELECT changes(), total_changes()", {"not_allowed"}),
    ("SELECT x'00' || name, 1 FROM customers", {"wrong_result"}),
    ("", {"empty"}),
    ("   -- only a comment", {"not_a_query", "empty", "sql_error"}),
    ("SELECT " + "(" * 300 + "1" + ")" * 300, {"sql_error"}),
    ("SELECT " + " UNION ALL SELECT ".join(["1"] * 100), {"sql_error"}),
    ("SELECT ?", {"sql_error"}),
    ("SELECT name FROM customers WHERE name LIKE '" + "%a" * 150 + "'", {"sql_error"}),
    ("x" * (sql_task.MAX_QUERY_CHARS + 1), {"too_long"}),
]


@pytest.mark.parametrize(("query", "reasons"), HOSTILE, ids=[query[:50] for query, _ in HOSTILE])
def test_a_hostile_answer_is_contained_and_graded_zero(query: str, reasons: set[str]) -> None:
    started = time.monotonic()
    result = performance.run_task(ITEM, query)
    assert result.share == 0
    assert {variant.reason for variant in result.variants} <= reasons, result
    assert time.monotonic() - started < 3 * sql_task.WALL_BACKSTOP_SECONDS  # per variant: the budget, not the wall


def test_now_and_current_timestamp_read_the_items_fixed_clock() -> None:
    table = sql_task.run_query(FIXTURE, "SELECT datetime('now'), date(), current_date, strftime('%Y', 'now')",
                               sql_task.runner_of(ITEM))
    assert table.rows == ((sql_task.DEFAULT_NOW, sql_task.DEFAULT_NOW[:10], sql_task.DEFAULT_NOW[:10],
                           sql_task.DEFAULT_NOW[:4]),)


def test_the_fixture_is_fresh_for_every_run() -> None:
    before = sql_task.run_query(FIXTURE, "SELECT count(*) FROM orders", sql_task.runner_of(ITEM))
    performance.run_task(ITEM, "DELETE FROM orders")
    assert sql_task.run_query(FIXTURE, "SELECT count(*) FROM orders", sql_task.runner_of(ITEM)) == before


def _latencies(client: httpx.Client, body: dict[str, Any], seconds: float) -> list[float]:
    found = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        assert client.post("/v1/credentials/verify", json=body).json()["verified"]
        found.append(time.perf_counter() - started)
        time.sleep(0.01)
    return found


def test_a_server_grading_a_burst_of_hostile_answers_keeps_verify_latency_within_twice_idle(tmp_path: Path) -> None:
    admin_key = "hostile-admin-key-0123456789abcdef"
    admin = {"Authorization": f"Bearer {admin_key}"}
    with fresh_server(tmp_path, admin_key) as (_public, address), \
            httpx.Client(base_url=address, timeout=60) as client:
        assessment = client.post("/v1/assessments", headers=admin, json={
            "skill": "sql", "level": "intermediate", "item_count": 8, "item_types": ["sql_query"], "seed": 3,
            "max_attempts": None, "retake_cooldown_seconds": 0,
        }).json()
        assert client.post(f"/v1/assessments/{assessment['id']}/publish", headers=admin).status_code == 200

        def attempt() -> tuple[str, dict[str, str], list[dict[str, Any]]]:
            learner = client.post("/v1/learners", headers=admin, json={"name": "H"}).json()
            headers = {"Authorization": f"Bearer {learner['api_key']}"}
            started = client.post(f"/v1/assessments/{assessment['id']}/attempts", headers=headers).json()
            keyed = client.get(f"/v1/attempts/{started['id']}", headers=admin).json()["items"]
            return started["id"], headers, keyed

        attempt_id, headers, keyed = attempt()
        passing = client.post(f"/v1/attempts/{attempt_id}/submit", headers=headers, json={
            "responses": [{"item_id": item["id"], "answer": item["answer"]} for item in keyed]}).json()
        credential = client.get(f"/v1/credentials/{passing['credential_id']}", headers=headers).json()
        body = {"verifiableCredential": credential["jwt"]}
        idle = _latencies(client, body, 4)

        statuses: list[int] = []
        hostile = [query for query, reasons in HOSTILE if reasons & {"step_limit", "too_many_rows", "too_large"}]

        prepared = [attempt() for _ in range(6)]  # learners and attempts made before, not during, the burst

        def submit_hostile(offset: int) -> None:
            attempt_id, headers, keyed = prepared[offset]
            with httpx.Client(base_url=address, timeout=120) as own:
                responses = [{"item_id": item["id"], "answer": hostile[(offset + index) % len(hostile)]}
                             for index, item in enumerate(keyed)]
                response = own.post(f"/v1/attempts/{attempt_id}/submit", headers=headers,
                                    json={"responses": responses})
                statuses.append(response.status_code)
                if response.status_code == 200:
                    assert response.json()["score"] == 0

        workers = [threading.Thread(target=submit_hostile, args=(offset,)) for offset in range(6)]
        for worker in workers:
            worker.start()
        time.sleep(0.5)  # the burst is under way
        busy = _latencies(client, body, 6)
        for worker in workers:
            worker.join()
        assert statuses and set(statuses) <= {200, 503}, statuses
        assert 200 in statuses
        idle_median, busy_median = statistics.median(idle), statistics.median(busy)
        print(f"verify latency: idle median {idle_median * 1000:.1f} ms p95 "
              f"{statistics.quantiles(idle, n=20)[-1] * 1000:.1f} ms; during the burst median "
              f"{busy_median * 1000:.1f} ms p95 {statistics.quantiles(busy, n=20)[-1] * 1000:.1f} ms; "
              f"submits {statuses}")
        assert busy_median <= 2 * idle_median
        assert client.get("/health").status_code == 200
