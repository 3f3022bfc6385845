"""Authoring checks of python_function items (pure but for the sandbox run): the reference must earn full
marks, wrong answers must not.

The reference and every generated wrong answer run in one sandboxed process (they are trusted code, derived
from the reference) on the visible examples and the hidden tests:
- reference_fails: the reference returns each example's and each hidden test's expected value;
- survivors: each must-fail answer scores below full marks on the hidden tests: the empty body (`pass`), a
  constant (the hidden tests' most common expected value), the visible examples hard-coded (a lookup table,
  the first example's value otherwise), and the reference's result off by one (a number + 1, a string, list
  or dict one element short, a bool negated);
- the mutation score is the share of all wrong answers (the must-fail ones plus mutants of the reference's
  code: each integer constant +1 and -1, comparisons `<` <-> `<=`, `>` <-> `>=`, `==` <-> `!=`, `and` <-> `or`,
  `+` <-> `-`) that the hidden tests catch; reported per item (bench/python_tasks.py), not a gate, since some
  code mutants are equivalent.
"""

from __future__ import annotations

import ast
import json
from collections import Counter
from collections.abc import Mapping
from typing import Any

from app.assessments.task_checks import Mutant, TaskReport
from app.grading import python_task

MAX_CODE_MUTANTS = 24
_SWAPS: dict[type, type] = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
    ast.And: ast.Or, ast.Or: ast.And, ast.Add: ast.Sub, ast.Sub: ast.Add,
}


def _literal(value: object) -> str:
    return f"__import__('json').loads({json.dumps(json.dumps(value))})"


def must_fail(item: Mapping[str, Any]) -> list[Mutant]:
    """The trivial and wrong answers no hidden test set may let through."""
    name = item["function"]["name"]
    counts = Counter(json.dumps(test["expected"], sort_keys=True) for test in item["tests"])
    common = json.loads(counts.most_common(1)[0][0])
    table = [[example["args"], example["expected"]] for example in item["examples"]]
    perturb = (
        "    if isinstance(r, bool): return not r\n"
        "    if isinstance(r, (int, float)): return r + 1\n"
        "    if isinstance(r, (str, list, tuple)): return r[:-1] if len(r) else [None]\n"
        "    if isinstance(r, dict): return dict(list(r.items())[:-1]) if r else {'': None}\n"
        "    return 0\n"
    )
    return [
        Mutant("empty", f"def {name}(*args):\n    pass\n", True),
        Mutant("constant", f"def {name}(*args):\n    return {_literal(common)}\n", True),
        Mutant("visible_hard_coded", f"def {name}(*args):\n    table = {_literal(table)}\n"
               "    for known, value in table:\n        if list(args) == known:\n            return value\n"
               "    return table[0][1]\n", True),
        Mutant("off_by_one", f"{item['answer']}\n_reference = {name}\n\ndef {name}(*args):\n"
               f"    r = _reference(*args)\n{perturb}", True),
    ]


def code_mutants(source: str) -> list[Mutant]:
    """Small edits of the reference's code: integer constants +-1, flipped comparisons and operators."""
    tree = ast.parse(source)
    sites = [node for node in ast.walk(tree)
             if (isinstance(node, ast.Constant) and type(node.value) is int)
             or type(node) in _SWAPS]
    found: list[Mutant] = []
    for index, node in enumerate(sites):
        edits: list[tuple[str, Any]] = (
            [("plus_one", 1), ("minus_one", -1)] if isinstance(node, ast.Constant)
            else [("swap", None)]
        )
        for label, replacement in edits:
            copy = ast.parse(source)
            target = [n for n in ast.walk(copy)
                      if (isinstance(n, ast.Constant) and type(n.value) is int) or type(n) in _SWAPS][index]
            if isinstance(target, ast.Constant) and isinstance(target.value, int):
                target.value = target.value + replacement
                where = f"{getattr(target, 'lineno', 0)}:{getattr(target, 'col_offset', 0)}"
                found.append(Mutant(f"const_{label}@{where}", ast.unparse(copy), False))
            else:
                _replace(copy, target, _SWAPS[type(target)]())
                found.append(Mutant(f"{type(target).__name__.lower()}_swapped#{index}", ast.unparse(copy), False))
    return found[:MAX_CODE_MUTANTS]


def _replace(tree: ast.AST, target: ast.AST, replacement: object) -> None:
    for parent in ast.walk(tree):
        for field, value in ast.iter_fields(parent):
            if value is target:
                setattr(parent, field, replacement)
            elif isinstance(value, list):
                for position, element in enumerate(value):
                    if element is target:
                        value[position] = replacement


def task_report(item: Mapping[str, Any]) -> TaskReport:
    """Run the checks of one python_function item (structurally valid); problems empty when it may be kept."""
    try:
        generated = must_fail(item) + code_mutants(item["answer"])
    except SyntaxError as exc:
        return TaskReport([f"reference_fails: the reference does not parse: {exc.msg}"], 0, 0, [])
    tests, examples = list(item["tests"]), list(item["examples"])
    try:
        reports = python_task.run_programs([item["answer"], *(m.query for m in generated)],
                                           item["function"]["name"], tests + examples, python_task.runner_of(item))
    except python_task.SandboxUnavailable as exc:
        return TaskReport([f"sandbox_unavailable: {exc}"], 0, 0, [])
    problems = []
    reference = python_task.verdicts(tests + examples, reports[0])
    failing = [(str(i + 1) if i < len(tests) else f"example {i - len(tests) + 1}", result.reason)
               for i, result in enumerate(reference) if not result.passed]
    if failing:
        problems.append(f"reference_fails: the reference misses test {failing[0][0]} ({failing[0][1]})")
    killed, survivors = 0, []
    for mutant, mutant_reports in zip(generated, reports[1:], strict=True):
        results = python_task.verdicts(tests, mutant_reports[: len(tests)])
        if python_task.share_of(tests, results) < 1:
            killed += 1
        elif mutant.must_fail:
            survivors.append(mutant.name)
    if survivors:
        problems.append(f"survivors: wrong answers pass every hidden test: {', '.join(survivors)}")
    return TaskReport(problems, killed, len(generated), survivors)
