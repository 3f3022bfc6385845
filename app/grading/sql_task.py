"""Grading a `sql_query` item by running it: a pure function of (frozen item, answer) -> TaskResult.

Each run builds a fresh in-memory SQLite database from one fixture (tables of typed columns and rows, data
frozen in the item), then runs one query under these limits, so that the verdict depends on nothing but the
item, the query and the SQLite version (recorded with every result):
- an authorizer allows reading the fixture's tables and CTEs, SELECT, recursive CTEs and a set of functions;
  it denies everything else (ATTACH, PRAGMA, writes, schema changes, transactions, `load_extension`, the
  non-deterministic or machine-revealing functions: random, randomblob, changes, sqlite_version, ...);
- `date`, `time`, `datetime`, `julianday`, `unixepoch`, `strftime` and CURRENT_* read a fixed "now" (the
  item's `runner.now`), and the time-zone modifiers `localtime`/`utc` are refused: no clock, no time zone;
- a budget of SQLite VM instructions (`set_progress_handler`, counted, not timed, so the same query is cut
  at the same point on every machine), with a wall-clock backstop only against work per instruction;
- sqlite3 limits: string/blob length, SQL length, expression depth, LIKE pattern length, no ATTACH;
- caps on the rows and characters returned; one statement only (sqlite3 refuses a second).
The learner's result on each hidden variant is compared with the reference query's result on the same
variant, by the item's rule (ordered or not, column names or not, numeric tolerance). The share of points is
the variants passed over the variants; the visible fixture earns nothing, so its answer typed in as VALUES
fails.
"""

from __future__ import annotations

import math
import re
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from app.grading.outcomes import TaskResult, VariantResult

ENGINE = f"sqlite {sqlite3.sqlite_version}"
COLUMN_TYPES = ("INTEGER", "REAL", "TEXT")
IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,39}")
MAX_QUERY_CHARS = 5000
DEFAULT_NOW = "2026-01-01 12:00:00"
NOW_FORMAT = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
# What a frozen item's `runner` holds (defaults filled in when the item is made) and the most it may ask.
DEFAULT_RUNNER: dict[str, Any] = {"steps": 1_000_000, "rows": 500, "chars": 50_000, "now": DEFAULT_NOW}
MAX_RUNNER = {"steps": 20_000_000, "rows": 5000, "chars": 500_000}
STEP_INTERVAL = 1000  # the progress handler runs every this many VM instructions
WALL_BACKSTOP_SECONDS = 5.0  # only work per instruction (a long string built in one step) can get here
LIMITS = {  # sqlite3 run-time limits of a grading connection
    sqlite3.SQLITE_LIMIT_LENGTH: 20_000,
    sqlite3.SQLITE_LIMIT_SQL_LENGTH: MAX_QUERY_CHARS * 4,
    sqlite3.SQLITE_LIMIT_COLUMN: 100,
    sqlite3.SQLITE_LIMIT_EXPR_DEPTH: 200,
    sqlite3.SQLITE_LIMIT_COMPOUND_SELECT: 50,
    sqlite3.SQLITE_LIMIT_FUNCTION_ARG: 20,
    sqlite3.SQLITE_LIMIT_ATTACHED: 0,
    sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH: 200,
    sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER: 1,
    sqlite3.SQLITE_LIMIT_TRIGGER_DEPTH: 1,
}
# Non-deterministic, machine-revealing or useless-but-costly functions.
DENIED_FUNCTIONS = frozenset({
    "random", "randomblob", "zeroblob", "changes", "total_changes", "last_insert_rowid", "load_extension",
    "sqlite_version", "sqlite_source_id", "sqlite_compileoption_used", "sqlite_compileoption_get",
    "sqlite_offset", "fts3_tokenizer", "readfile", "writefile", "edit", "sqlite_log",
    # printf('%.*c', 1e9, 'x') pads a billion characters inside one VM instruction (seconds of CPU that no
    # instruction budget sees) before the length limit returns NULL: the formatting functions are refused.
    "printf", "format",
})
CLOCK_FUNCTIONS = ("date", "time", "datetime", "julianday", "unixepoch", "strftime")
CLOCK_CONSTANTS = {"current_date": "date", "current_time": "time", "current_timestamp": "datetime"}
ALLOWED_ACTIONS = frozenset({sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
                             sqlite3.SQLITE_RECURSIVE})
_ACTION_NAMES = {getattr(sqlite3, name): name.removeprefix("SQLITE_") for name in dir(sqlite3)
                 if name.startswith("SQLITE_") and name not in ("SQLITE_OK", "SQLITE_DENY", "SQLITE_IGNORE")
                 and isinstance(getattr(sqlite3, name), int) and not name.startswith("SQLITE_LIMIT")
                 and getattr(sqlite3, name) <= 33}

Cell = int | float | str | bytes | None


class TaskRefused(Exception):
    """The query was stopped or refused; `code` names why (not_allowed, step_limit, too_many_rows, ...)."""

    def __init__(self, code: str, detail: str):
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]


def runner_of(item: Mapping[str, Any]) -> dict[str, Any]:
    """The item's frozen runner settings (steps, rows, chars, now)."""
    return {**DEFAULT_RUNNER, **(item.get("runner") or {})}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _clock_function(
    helper: sqlite3.Connection, name: str, now: str, state: dict[str, Any]
) -> Callable[..., Any]:
    """A builtin date function that reads `now` instead of the clock and refuses time-zone modifiers."""
    value_at = 1 if name == "strftime" else 0

    def call(*args: Any) -> Any:
        values = list(args)
        if len(values) <= value_at:
            values.append(now)
        elif isinstance(values[value_at], str) and values[value_at].strip().lower() == "now":
            values[value_at] = now
        for modifier in values[value_at + 1:]:
            if isinstance(modifier, str) and modifier.strip().lower() in ("localtime", "utc"):
                state["stop"] = "time_zone"
                raise ValueError("time-zone modifiers (localtime, utc) depend on the grading machine")
        marks = ", ".join("?" * len(values))
        return helper.execute(f"SELECT {name}({marks})", values).fetchone()[0]

    return call


def _connect(now: str, state: dict[str, Any]) -> tuple[sqlite3.Connection, sqlite3.Connection]:
    connection = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    if hasattr(connection, "enable_load_extension"):  # absent when Python is built without extension loading
        connection.enable_load_extension(False)
    helper = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    helper.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, LIMITS[sqlite3.SQLITE_LIMIT_LENGTH])
    for name in CLOCK_FUNCTIONS:
        connection.create_function(name, -1, _clock_function(helper, name, now, state), deterministic=True)
    for name, base in CLOCK_CONSTANTS.items():
        connection.create_function(name, 0, _clock_function(helper, base, now, state), deterministic=True)
    return connection, helper


def _load(connection: sqlite3.Connection, fixture: Mapping[str, Any]) -> None:
    for table in fixture["tables"]:
        columns = ", ".join(f"{_quote(column['name'])} {column['type']}" for column in table["columns"])
        connection.execute(f"CREATE TABLE {_quote(table['name'])} ({columns}) STRICT")
        if table["rows"]:
            marks = ", ".join("?" * len(table["columns"]))
            connection.executemany(  # identifiers validated and quoted; values bound
                f"INSERT INTO {_quote(table['name'])} VALUES ({marks})", table["rows"]  # noqa: S608
            )


def _authorizer(tables: frozenset[str]) -> Callable[[int, str | None, str | None, str | None, str | None], int]:
    def authorize(action: int, first: str | None, second: str | None, _db: str | None, _inner: str | None) -> int:
        if action not in ALLOWED_ACTIONS:
            return sqlite3.SQLITE_DENY
        if action == sqlite3.SQLITE_READ and first is not None and first.lower().startswith("sqlite_"):
            return sqlite3.SQLITE_DENY
        if action == sqlite3.SQLITE_FUNCTION and (second or "").lower() in DENIED_FUNCTIONS:
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK

    return authorize


DENIED_DETAIL = (
    "only a single SELECT (or WITH ... SELECT) over the fixture's tables is allowed: no ATTACH, PRAGMA, writes, "
    "schema changes or functions such as random(), printf() and load_extension()"
)


def _precheck(query: str) -> TaskRefused | None:
    if not query.strip():
        return TaskRefused("empty", "the answer holds no query")
    if len(query) > MAX_QUERY_CHARS:
        return TaskRefused("too_long", f"the query is over {MAX_QUERY_CHARS} characters")
    if "\x00" in query:
        return TaskRefused("not_allowed", "the query holds a NUL character")
    return None


def run_queries(
    fixture: Mapping[str, Any], queries: Sequence[str], runner: Mapping[str, Any]
) -> list[Table | TaskRefused]:
    """Run queries one after another on one fresh database built from `fixture`, each with its own budget.

    Sharing the database is safe because nothing a query may do changes it (the authorizer allows reads only).
    """
    state: dict[str, Any] = {"ticks": 0, "stop": "", "deadline": 0.0}
    connection, helper = _connect(str(runner["now"]), state)
    budget = int(runner["steps"]) // STEP_INTERVAL

    def progress() -> int:
        state["ticks"] += 1
        if state["ticks"] > budget:
            state["stop"] = "step_limit"
            return 1
        if time.monotonic() > state["deadline"]:
            state["stop"] = "time_limit"
            return 1
        return 0

    try:
        _load(connection, fixture)
        for limit, value in LIMITS.items():  # after loading: the inserts use bound parameters
            connection.setlimit(limit, value)
        connection.set_authorizer(_authorizer(frozenset(table["name"] for table in fixture["tables"])))
        connection.set_progress_handler(progress, STEP_INTERVAL)
        results: list[Table | TaskRefused] = []
        for query in queries:
            refused = _precheck(query)
            if refused is not None:
                results.append(refused)
                continue
            state.update(ticks=0, stop="", deadline=time.monotonic() + WALL_BACKSTOP_SECONDS)
            try:
                results.append(_fetch(connection, query, runner, state))
            except TaskRefused as stopped:
                results.append(stopped)
        return results
    finally:
        connection.close()
        helper.close()


def run_query(fixture: Mapping[str, Any], query: str, runner: Mapping[str, Any]) -> Table:
    """Run one query on a fresh database built from `fixture`; raises TaskRefused when stopped or refused."""
    [result] = run_queries(fixture, [query], runner)
    if isinstance(result, TaskRefused):
        raise result
    return result


def _fetch(connection: sqlite3.Connection, query: str, runner: Mapping[str, Any], state: dict[str, Any]) -> Table:
    max_rows, max_chars = int(runner["rows"]), int(runner["chars"])
    try:
        cursor = connection.execute(query)
        if cursor.description is None:
            raise TaskRefused("not_a_query", "the statement returns no rows")
        columns = tuple(str(column[0]) for column in cursor.description)
        rows: list[tuple[Cell, ...]] = []
        chars = sum(len(name) for name in columns)
        while batch := cursor.fetchmany(100):
            for row in batch:
                rows.append(tuple(row))
                chars += sum(len(cell) if isinstance(cell, str | bytes) else 8 for cell in row)
            if len(rows) > max_rows:
                raise TaskRefused("too_many_rows", f"the query returns more than {max_rows} rows")
            if chars > max_chars:
                raise TaskRefused("too_large", f"the result is over {max_chars} characters")
    except sqlite3.DatabaseError as exc:  # ProgrammingError (a second statement) is one too
        raise _refusal(exc, state) from None
    except (sqlite3.Warning, OverflowError, MemoryError) as exc:
        raise TaskRefused("sql_error", str(exc)[:200] or type(exc).__name__) from None
    return Table(columns=columns, rows=tuple(rows))


def _refusal(exc: sqlite3.DatabaseError, state: Mapping[str, Any]) -> TaskRefused:
    message = str(exc)
    if "one statement at a time" in message:
        return TaskRefused("multiple_statements", "the answer holds more than one SQL statement")
    if state["stop"] == "step_limit":
        return TaskRefused("step_limit", "the query ran past its instruction budget")
    if state["stop"] == "time_limit":
        return TaskRefused("time_limit", "the query ran past the time limit")
    if state["stop"] == "time_zone":
        return TaskRefused(
            "not_deterministic", "the time-zone modifiers localtime and utc depend on the grading machine"
        )
    if "not authorized" in message or "authorization denied" in message or "prohibited" in message:
        return TaskRefused("not_allowed", DENIED_DETAIL)
    if "too big" in message or "out of memory" in message:
        return TaskRefused("too_large", "a value or the work asked for is over the size limit")
    return TaskRefused("sql_error", message[:200])


def _number(cell: Cell) -> bool:
    return isinstance(cell, int | float) and not isinstance(cell, bool)


def _sort_key(row: tuple[Cell, ...]) -> tuple[tuple[int, Any], ...]:
    def key(cell: Cell) -> tuple[int, Any]:
        if cell is None:
            return (0, 0)
        if _number(cell):
            return (1, float(cell))
        if isinstance(cell, str):
            return (2, cell)
        return (3, bytes(cell))  # type: ignore[arg-type]

    return tuple(key(cell) for cell in row)


def _cells_equal(expected: Cell, got: Cell, tolerance: float) -> bool:
    if _number(expected) and _number(got):
        assert isinstance(expected, int | float) and isinstance(got, int | float)
        if isinstance(expected, int) and isinstance(got, int):
            return expected == got
        return math.isfinite(float(got)) and abs(float(expected) - float(got)) <= tolerance
    return type(expected) is type(got) and expected == got


def same_result(expected: Table, got: Table, compare: Mapping[str, Any]) -> bool:
    """Whether `got` matches `expected` under the item's comparison rule."""
    if len(expected.columns) != len(got.columns) or len(expected.rows) != len(got.rows):
        return False
    if compare.get("column_names", False) and [name.lower() for name in expected.columns] != [
        name.lower() for name in got.columns
    ]:
        return False
    tolerance = float(compare.get("tolerance", 0))
    first, second = list(expected.rows), list(got.rows)
    if not compare.get("ordered", False):
        first.sort(key=_sort_key)
        second.sort(key=_sort_key)
    return all(
        _cells_equal(left, right, tolerance)
        for row_a, row_b in zip(first, second, strict=True)
        for left, right in zip(row_a, row_b, strict=True)
    )


def variant_result(item: Mapping[str, Any], fixture: Mapping[str, Any], answer: str) -> VariantResult:
    """The learner's query against the reference on one fixture (one database, each query its own budget)."""
    expected, got = run_queries(fixture, [item["answer"], answer], runner_of(item))
    if isinstance(expected, TaskRefused):  # the checks made sure the reference runs; never the learner's fault
        raise expected
    if isinstance(got, TaskRefused):
        return VariantResult(passed=False, reason=got.code)
    if same_result(expected, got, item.get("compare") or {}):
        return VariantResult(passed=True, reason="ok")
    return VariantResult(passed=False, reason="wrong_result")


def grade_answer(item: Mapping[str, Any], answer: str) -> TaskResult:
    """Run the answer on every hidden variant; the share is the variants passed over their number."""
    variants: Sequence[Mapping[str, Any]] = item["variants"]
    results = tuple(variant_result(item, fixture, answer) for fixture in variants)
    passed = sum(1 for result in results if result.passed)
    return TaskResult(share=Fraction(passed, len(results)), variants=results, engine=ENGINE)


def learner_fixture(fixture: Mapping[str, Any], sample_rows: int) -> dict[str, Any]:
    """The visible fixture as a learner sees it: each table's columns, its first rows and its row count."""
    return {
        "tables": [
            {
                "name": table["name"],
                "columns": [dict(column) for column in table["columns"]],
                "rows": [list(row) for row in table["rows"][:sample_rows]],
                "row_count": len(table["rows"]),
            }
            for table in fixture["tables"]
        ]
    }
