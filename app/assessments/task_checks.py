"""Authoring checks of performance tasks (pure): the reference must earn full marks, wrong answers must not.

For a sql_query item, on the visible fixture and on every hidden variant:
- reference_fails: the reference query runs within the item's limits and returns at least one row (an empty
  expected result would let the empty answer pass);
- variant_echoes_visible: no variant's expected result equals the visible fixture's, so the visible answer
  typed in as VALUES earns nothing;
- survivors: each must-fail answer scores below full points: the empty result, a constant, the visible answer
  hard-coded, the reference with its LIMIT off by one (or its last row dropped), with a WHERE, HAVING or
  ORDER BY (ordered items) dropped, with its LEFT JOINs made inner.
The mutation score is the share of all generated wrong answers (the must-fail ones plus boundary and sort
direction flips: `<` <-> `<=`, `>` <-> `>=`, ASC <-> DESC, COUNT(DISTINCT x) -> COUNT(x), inner joins made
LEFT) that the hidden
variants catch; it is reported per item (bench/sql_tasks.py), not a gate, since some flips are equivalent.
"""

# ruff: noqa: S608 - the wrong answers are SQL built on purpose, and run only in the grading sandbox (sql_task)
from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from app.grading import sql_task

CLAUSE_END = re.compile(r"\b(GROUP\s+BY|ORDER\s+BY|LIMIT|HAVING|UNION|EXCEPT|INTERSECT|WINDOW)\b", re.IGNORECASE)
FLIPS = (
    (re.compile(r"<="), "<"), (re.compile(r"(?<![<>!])<(?![=>])"), "<="),
    (re.compile(r">="), ">"), (re.compile(r"(?<![<>-])>(?!=)"), ">="),
    (re.compile(r"\bDESC\b", re.IGNORECASE), "ASC"), (re.compile(r"\bASC\b", re.IGNORECASE), "DESC"),
    (re.compile(r"COUNT\s*\(\s*DISTINCT\s+", re.IGNORECASE), "COUNT("),
)


@dataclass(frozen=True)
class Mutant:
    name: str
    query: str
    must_fail: bool


@dataclass(frozen=True)
class TaskReport:
    problems: list[str]
    killed: int
    mutants: int
    survivors: list[str]

    @property
    def mutation_score(self) -> float:
        return round(self.killed / self.mutants, 3) if self.mutants else 0.0

    def figures(self) -> dict[str, float | int]:
        """What a generated task records for its reviewer: how strong its hidden variants or tests are."""
        return {"mutation_score": self.mutation_score, "killed": self.killed, "mutants": self.mutants}


def _literal(cell: sql_task.Cell) -> str:
    if cell is None:
        return "NULL"
    if isinstance(cell, str):
        return "'" + cell.replace("'", "''") + "'"
    if isinstance(cell, bytes):
        return f"X'{cell.hex()}'"
    return repr(cell)


def hard_coded(result: sql_task.Table) -> str:
    """A query that returns exactly `result`, column names included: the visible answer typed in."""
    names = ", ".join('"' + name.replace('"', '""') + '"' for name in result.columns)
    if not result.rows:
        return f"SELECT * FROM (SELECT {', '.join('NULL' for _ in result.columns)}) WHERE 0"
    values = ", ".join("(" + ", ".join(_literal(cell) for cell in row) + ")" for row in result.rows)
    return f"WITH v({names}) AS (VALUES {values}) SELECT * FROM v"


def _scan(query: str) -> Iterator[tuple[int, int]]:
    """(position, paren depth) of every character outside string literals and comments."""
    depth, index = 0, 0
    while index < len(query):
        char = query[index]
        if char in "'\"":
            end = query.find(char, index + 1)
            index = len(query) if end < 0 else end + 1
            continue
        if query.startswith("--", index):
            end = query.find("\n", index)
            index = len(query) if end < 0 else end
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        yield index, depth
        index += 1


def drop_clause(query: str, keyword: str) -> str | None:
    """The query with its first `keyword` clause (WHERE, HAVING, ORDER BY) removed, or None if it has none."""
    pattern = re.compile(r"\b" + keyword.replace(" ", r"\s+") + r"\b", re.IGNORECASE)
    depths = dict(_scan(query))
    found = next((m for m in pattern.finditer(query) if m.start() in depths), None)
    if found is None:
        return None
    start, depth = found.start(), depths[found.start()]
    for index, level in _scan(query):
        if index <= found.end():
            continue
        at_clause = CLAUSE_END.match(query, index) is not None and not query[index - 1].isalnum()
        if level < depth or (level == depth and (query[index] == ";" or at_clause)):
            return query[:start] + " " + query[index:]
    return query[:start]


def _swap_joins(query: str) -> Mutant | None:
    """LEFT -> inner must fail (the unmatched rows are the point); inner -> LEFT is often equivalent (a WHERE
    on the right table, or a count that cannot reach the HAVING bound, drops the NULL rows again)."""
    left = re.compile(r"\bLEFT\s+(OUTER\s+)?JOIN\b", re.IGNORECASE)
    if left.search(query):
        return Mutant("left_join_made_inner", left.sub("JOIN", query), True)
    inner = re.compile(r"\b(INNER\s+)?JOIN\b", re.IGNORECASE)
    return Mutant("inner_join_made_left", inner.sub("LEFT JOIN", query), False) if inner.search(query) else None


def _limit_mutants(query: str, visible: sql_task.Table) -> list[Mutant]:
    found = list(re.finditer(r"\bLIMIT\s+(\d+)", query, re.IGNORECASE))
    if found:
        last = found[-1]
        count = int(last.group(1))
        return [
            Mutant(f"limit_{name}", query[: last.start(1)] + str(count + step) + query[last.end(1):], True)
            for name, step in (("plus_one", 1), ("minus_one", -1)) if count + step >= 0
        ]
    body = query.strip().rstrip(";")
    return [Mutant("last_row_dropped", f"SELECT * FROM ({body}) LIMIT {max(len(visible.rows) - 1, 0)}", True)]


def mutants(item: Mapping[str, Any], visible: sql_task.Table) -> list[Mutant]:
    """The wrong answers an item's hidden variants are tested against."""
    reference: str = item["answer"]
    body = reference.strip().rstrip(";")
    found = [
        Mutant("empty", f"SELECT * FROM ({body}) WHERE 0", True),
        Mutant("constant", "SELECT 1", True),
        Mutant("visible_hard_coded", hard_coded(visible), True),
        *_limit_mutants(reference, visible),
    ]
    clauses = ["WHERE", "HAVING"] + (["ORDER BY"] if (item.get("compare") or {}).get("ordered") else [])
    for keyword in clauses:
        dropped = drop_clause(reference, keyword)
        if dropped is not None:
            found.append(Mutant(f"{keyword.lower().replace(' ', '_')}_dropped", dropped, True))
    joined = _swap_joins(reference)
    if joined is not None:
        found.append(joined)
    for pattern, replacement in FLIPS:
        for match in pattern.finditer(reference):
            flipped = reference[: match.start()] + replacement + reference[match.end():]
            found.append(Mutant(f"flip_{match.group(0).strip().lower()}@{match.start()}", flipped, False))
    return found


def task_report(item: Mapping[str, Any]) -> TaskReport:
    """Run the checks of one performance task (structurally valid); problems empty when it may be kept."""
    if item["type"] == "python_function":
        from app.assessments import python_checks  # it builds on this module's Mutant and TaskReport

        return python_checks.task_report(item)
    runner = sql_task.runner_of(item)
    try:
        visible = sql_task.run_query(item["fixture"], item["answer"], runner)
        expected = [sql_task.run_query(variant, item["answer"], runner) for variant in item["variants"]]
    except sql_task.TaskRefused as refused:
        return TaskReport([f"reference_fails: {refused.code}: {refused.detail}"], 0, 0, [])
    problems = []
    if not visible.rows or not all(result.rows for result in expected):
        problems.append("reference_fails: the reference returns no rows on the fixture or a variant")
    compare = item.get("compare") or {}
    echoed = [index for index, result in enumerate(expected, start=1)
              if sql_task.same_result(visible, result, compare)]
    if echoed:
        problems.append(f"variant_echoes_visible: variant {echoed[0]} expects the visible fixture's result")
    if sql_task.grade_answer(item, item["answer"]).share != 1:
        problems.append("reference_fails: the reference does not earn full marks")
    killed, survivors, generated = 0, [], mutants(item, visible)
    for mutant in generated:
        if sql_task.grade_answer(item, mutant.query).share < 1:
            killed += 1
        elif mutant.must_fail:
            survivors.append(mutant.name)
    if survivors:
        problems.append(f"survivors: wrong answers earn full marks on every hidden variant: {', '.join(survivors)}")
    return TaskReport(problems, killed, len(generated), survivors)
