"""Hostile sql_query answers: each is contained (refused with a named reason or graded 0), and a server grading a
burst of them keeps answering verify within twice its idle latency."""

# ruff: noqa: S608 - hostile SQL on purpose
from __future__ import annotations

import time
from pathlib import Path

import pytest

from app.assessments.generators.bank import BANK_DIR, load_bank
from app.grading import performance, sql_task
from tests.tasks import assert_a_hostile_burst_leaves_verify_fast

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


@pytest.mark.serial  # verify latency against idle: run alone, in `make pytest`'s serial pass
def test_a_server_grading_a_burst_of_hostile_answers_keeps_verify_latency_within_twice_idle(tmp_path: Path) -> None:
    hostile = [query for query, reasons in HOSTILE if reasons & {"step_limit", "too_many_rows", "too_large"}]
    assert_a_hostile_burst_leaves_verify_fast(
        tmp_path,
        {"skill": "sql", "level": "intermediate", "item_count": 8, "item_types": ["sql_query"], "seed": 3},
        lambda _item, n: hostile[n % len(hostile)],
    )
