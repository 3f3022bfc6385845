"""The structural checks every item must pass, by type; each problem is a short named reason.

short_text: no options, a canonical answer, at most 20 accepted answers, all distinct after normalisation;
a pattern of at most 200 characters that RE2 compiles (linear-time matching: no backreferences or
lookaround), that accepts the key and none of a few probes. numeric: key and tolerances finite and
within ±(2^53 - 1), the I-JSON range the content hash (RFC 8785) can hold. ordering: at least 3 options. matching: 2
to 8 left options and as many to 8 right ones (each side counts alone); every left option keyed to a distinct right one.
keep_order (options shown in their authored order): true or false, and only on single_choice and
multiple_response items (an ordering or matching item shown in order would show its key).
New matching items (bank items as loaded, LLM and admin-written items: `spare_right_problems`) need at
least one right option more than left ones, so the last pair does not follow by elimination; frozen
items and drafts written before that rule still publish and grade.
sql_query: a reference query (the answer), a visible fixture and 2 to 3 hidden variants with the same tables and
columns (1 to 6 tables; lower-case identifiers; INTEGER, REAL or TEXT columns; at most 60 rows a table; cells
that fit their column), a comparison rule and runner limits within the maxima. That the reference runs and the
wrong answers fail is app/assessments/task_checks.py's business.
python_function: a reference solution (the answer, Python source), the function {name, params} (identifiers),
1 to 5 visible examples {args, expected} and 3 to 30 hidden tests {args or expr, expected, weight 1 to 10} of JSON
values, and runner limits within the maxima.
"""

from __future__ import annotations

import json
import keyword
import math
from collections.abc import Callable
from typing import Any

from app.grading import patterns, performance, python_task, sql_task
from app.grading.rubric import FOLD_ONLY_VERSION, normalise_text
from app.strict_json import MAX_SAFE_INTEGER

ITEM_TYPES = ("single_choice", "multiple_response", "numeric", "short_text", "ordering", "matching", "sql_query",
              "python_function")
# Performance tasks: graded by running the answer (app/grading/performance.py), in the grading worker pool.
PERFORMANCE_TYPES = performance.PERFORMANCE_TYPES
CHOICE_TYPES = ("single_choice", "multiple_response", "ordering", "matching")
MAX_PROMPT_CHARS = 2000
MAX_OPTION_CHARS = 300
MIN_OPTIONS, MAX_OPTIONS = 2, 8
MIN_ORDERING_OPTIONS = 3  # ordering two options is a coin toss
MIN_MATCHING_LEFT = 2
MIN_SPARE_RIGHT = 1  # right options beyond one per left option, for new matching items
KEEP_ORDER_TYPES = ("single_choice", "multiple_response")
MAX_ANSWER_CHARS = 200
MAX_ACCEPTED_ANSWERS = 20
MAX_PATTERN_CHARS = patterns.MAX_PATTERN_CHARS
# A pattern that fully matches one of these accepts what is surely not the answer.
PATTERN_PROBES = ("", "xyzzy", "i don't know", "0")


def _is_number(value: object) -> bool:
    """A finite number within ±(2^53 - 1): beyond it, RFC 8785 cannot hash it and JSON readers round it."""
    return (
        isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        and abs(value) <= MAX_SAFE_INTEGER
    )


def _every_leaf(value: object, check: Callable[[object], bool]) -> bool:
    """`check` holds for every key and every value that is not a dict or a list, however deep."""
    if isinstance(value, dict):
        return all(_every_leaf(key, check) and _every_leaf(child, check) for key, child in value.items())
    if isinstance(value, list):
        return all(_every_leaf(child, check) for child in value)
    return check(value)


def _storable(value: object) -> bool:
    """No string anywhere holds NUL (PostgreSQL refuses it) or a lone surrogate (not UTF-8)."""
    return _every_leaf(value, lambda leaf: not isinstance(leaf, str) or _utf8(leaf))


def _utf8(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def item_problems(item: dict[str, Any]) -> list[str]:
    """Every reason this item may not be used; empty when it is sound."""
    problems: list[str] = []
    kind = item.get("type")
    if kind not in ITEM_TYPES:
        return [f"type_unknown: {kind!r}"]
    prompt = item.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        problems.append("prompt_missing")
    elif len(prompt) > MAX_PROMPT_CHARS:
        problems.append(f"prompt_too_long: over {MAX_PROMPT_CHARS} characters")
    points = item.get("points")
    if not isinstance(points, int) or isinstance(points, bool) or points <= 0:
        problems.append("points_invalid: a positive whole number is required")
    if not isinstance(item.get("explanation"), str) or not item["explanation"].strip():
        problems.append("explanation_missing")
    problems += _tag_problems(item)
    problems += _keep_order_problems(item)
    if not _storable(item):
        problems.append("text_invalid: a NUL character or lone surrogate (no database or JSON reader keeps it)")
    if kind in CHOICE_TYPES:
        problems += _choice_problems(item)
    elif kind == "numeric":
        problems += _numeric_problems(item)
    elif kind == "sql_query":
        problems += sql_query_problems(item)
    elif kind == "python_function":
        problems += python_function_problems(item)
    else:
        problems += _short_text_problems(item)
    return problems


def _tag_problems(item: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    criteria = item.get("criteria")
    if criteria is not None and (
        not isinstance(criteria, dict)
        or not criteria
        or not all(isinstance(name, str) and name for name in criteria)
        or not all(_is_number(weight) and weight > 0 for weight in criteria.values())
    ):
        problems.append("criteria_invalid: a map of criterion names to positive weights")
    difficulty = item.get("difficulty")
    if difficulty is not None and difficulty not in (1, 2, 3):
        problems.append("difficulty_invalid: 1 (easy), 2 (medium) or 3 (hard)")
    enemies = item.get("enemies")
    if enemies is not None and (
        not isinstance(enemies, list)
        or not all(isinstance(other, str) and other and other != item.get("id") for other in enemies)
    ):
        problems.append("enemies_invalid: a list of other items' ids")
    return problems


def _keep_order_problems(item: dict[str, Any]) -> list[str]:
    keep_order = item.get("keep_order")
    if keep_order is None:
        return []
    if not isinstance(keep_order, bool):
        return ["keep_order_invalid: true or false is required"]
    if keep_order and item.get("type") not in KEEP_ORDER_TYPES:
        return [f"keep_order_invalid: only {' and '.join(KEEP_ORDER_TYPES)} options keep their order"]
    return []


def spare_right_problems(item: dict[str, Any]) -> list[str]:
    """A new matching item offers more right options than left ones (the rule for items written from now on)."""
    if item.get("type") != "matching" or not isinstance(item.get("options"), list):
        return []
    sides = [option.get("side") for option in item["options"] if isinstance(option, dict)]
    left, right = sides.count("left"), sides.count("right")
    if right < left + MIN_SPARE_RIGHT:
        return [
            f"matching_without_spare: {left} left and {right} right options; add at least {MIN_SPARE_RIGHT} "
            "plausible right option that matches nothing, so the last pair does not follow by elimination"
        ]
    return []


def _short_text_problems(item: dict[str, Any]) -> list[str]:
    """A canonical answer, distinct accepted alternatives, a boolean case rule, a safe optional pattern."""
    problems: list[str] = []
    if "options" in item:
        problems.append("short_text_has_options")
    case_sensitive = item.get("case_sensitive", False)
    if not isinstance(case_sensitive, bool):
        problems.append("case_sensitive_invalid: true or false is required")
        case_sensitive = False
    answer = item.get("answer")
    if not isinstance(answer, str) or not answer.strip():
        problems.append("key_missing: a non-empty answer is required")
        answer = None
    accepted = item.get("accepted_answers", [])
    if not isinstance(accepted, list) or not all(isinstance(text, str) and text.strip() for text in accepted):
        problems.append("accepted_answers_invalid: a list of non-empty strings is required")
        accepted = []
    elif len(accepted) > MAX_ACCEPTED_ANSWERS:
        problems.append(f"accepted_answers_count: at most {MAX_ACCEPTED_ANSWERS} are allowed")
    forms = ([answer] if answer else []) + accepted
    if any(len(text) > MAX_ANSWER_CHARS for text in forms):
        problems.append(f"answer_too_long: over {MAX_ANSWER_CHARS} characters")
    normalised = [normalise_text(text, case_sensitive=case_sensitive) for text in forms]
    if len(set(normalised)) != len(normalised):
        problems.append("accepted_answers_not_distinct: an accepted answer repeats the key or another one")
    pattern = item.get("pattern")
    if pattern is not None:
        problems += _pattern_problems(pattern, answer, case_sensitive)
    return problems


def _pattern_problems(pattern: object, answer: str | None, case_sensitive: bool) -> list[str]:
    if not isinstance(pattern, str) or not pattern.strip():
        return ["pattern_invalid: a non-empty regular expression or null is required"]
    if len(pattern) > MAX_PATTERN_CHARS:
        return [f"pattern_too_long: over {MAX_PATTERN_CHARS} characters"]
    problem = patterns.compile_problem(pattern)
    if problem is not None:
        return [f"pattern_invalid: not an RE2 regular expression ({problem})"]
    if answer is not None and not pattern_accepts(pattern, answer, case_sensitive):
        return ["pattern_rejects_key: the pattern does not fully match the answer"]
    key = normalise_text(answer, case_sensitive=case_sensitive) if answer is not None else None
    broad = [
        probe for probe in PATTERN_PROBES
        if pattern_accepts(pattern, probe, case_sensitive)
        and normalise_text(probe, case_sensitive=case_sensitive) != key
    ]
    if broad:
        return [f"pattern_too_broad: it accepts {broad[0]!r}"]
    return []


def pattern_accepts(pattern: str, text: str, case_sensitive: bool = False) -> bool:
    """Whether `pattern` fully matches the normalised `text`, as the grader applies it."""
    normalised = normalise_text(text, case_sensitive=case_sensitive)
    return patterns.fullmatches(pattern, normalised, case_sensitive=case_sensitive)


def _choice_problems(item: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    options = item.get("options")
    least = MIN_ORDERING_OPTIONS if item["type"] == "ordering" else MIN_OPTIONS
    # A matching item holds two lists: up to MAX_OPTIONS on each side (_matching_problems counts the sides).
    most = 2 * MAX_OPTIONS if item["type"] == "matching" else MAX_OPTIONS
    if not isinstance(options, list) or not (least <= len(options) <= most):
        return [f"options_count: {least} to {most} options are required"]
    texts: list[str] = [
        option["text"] for option in options if isinstance(option, dict) and isinstance(option.get("text"), str)
    ]
    if len(texts) != len(options) or not all(text.strip() for text in texts):
        return ["option_text_missing"]
    if any(len(text) > MAX_OPTION_CHARS for text in texts):
        problems.append(f"option_too_long: over {MAX_OPTION_CHARS} characters")
    # Options are shown, not typed: `""` and `" "` are different options, so quotes are kept.
    normalised = [normalise_text(text, version=FOLD_ONLY_VERSION) for text in texts]
    if len(set(normalised)) != len(normalised):
        problems.append("options_not_distinct")
    ids = [option.get("id") for option in options]
    if len(set(ids)) != len(ids):
        problems.append("option_ids_not_distinct")
    answer = item.get("answer")
    if item["type"] == "ordering":
        if not isinstance(answer, list) or sorted(map(str, answer)) != sorted(map(str, ids)):
            problems.append("key_not_an_order: the answer must list every option once")
        return problems
    if item["type"] == "matching":
        return problems + _matching_problems(item, answer)
    if item["type"] == "single_choice":
        if not isinstance(answer, str):
            problems.append("key_count: exactly one key is required")
        elif answer not in ids:
            problems.append("key_not_an_option")
    else:
        if not isinstance(answer, list) or not answer:
            problems.append("key_missing: at least one key is required")
        elif len(set(answer)) != len(answer):
            problems.append("key_repeated")
        elif not set(answer) <= set(ids):
            problems.append("key_not_an_option")
        elif len(answer) == len(ids):
            problems.append("every_option_is_a_key")
    return problems


def _matching_problems(item: dict[str, Any], answer: object) -> list[str]:
    sides = {option.get("id"): option.get("side") for option in item["options"]}
    if not set(sides.values()) <= {"left", "right"}:
        return ["side_invalid: every matching option is on the left or the right"]
    left = {option_id for option_id, side in sides.items() if side == "left"}
    right = {option_id for option_id, side in sides.items() if side == "right"}
    if len(left) < MIN_MATCHING_LEFT or len(right) < len(left) or max(len(left), len(right)) > MAX_OPTIONS:
        return [
            f"options_count: {MIN_MATCHING_LEFT} to {MAX_OPTIONS} left options and as many to {MAX_OPTIONS} right "
            "options are required"
        ]
    if not isinstance(answer, dict) or set(answer) != left:
        return ["key_not_a_matching: the answer maps every left option"]
    if not set(answer.values()) <= right:
        return ["key_not_an_option"]
    if len(set(answer.values())) != len(answer):
        return ["key_reuses_right_option"]
    return []


def _numeric_problems(item: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    if "options" in item:
        problems.append("numeric_has_options")
    if not _is_number(item.get("answer")):
        problems.append(f"key_not_finite_number: a finite number within ±{MAX_SAFE_INTEGER} is required")
    tolerance = item.get("tolerance")
    if not isinstance(tolerance, dict) or "absolute" not in tolerance:
        problems.append("tolerance_missing")
    else:
        for name in ("absolute", "relative"):
            value = tolerance.get(name, 0)
            if not _is_number(value) or value < 0:
                problems.append(f"tolerance_invalid: {name} must be a finite number >= 0 and <= {MAX_SAFE_INTEGER}")
    return problems


MIN_VARIANTS, MAX_VARIANTS = 2, 3
MAX_TABLES, MAX_COLUMNS, MAX_ROWS, MAX_CELL_CHARS = 6, 12, 60, 200
COMPARE_KEYS = {"ordered", "column_names", "tolerance"}


def _cell_fits(cell: object, column_type: str) -> bool:
    if cell is None:
        return True
    if column_type == "TEXT":
        return isinstance(cell, str) and len(cell) <= MAX_CELL_CHARS
    if column_type == "INTEGER":
        return isinstance(cell, int) and not isinstance(cell, bool) and abs(cell) <= MAX_SAFE_INTEGER
    return _is_number(cell)


def _fixture_problems(fixture: object, where: str) -> list[str]:
    if not isinstance(fixture, dict) or set(fixture) != {"tables"} or not isinstance(fixture["tables"], list):
        return [f"fixture_invalid: {where} is {{\"tables\": [...]}}"]
    tables = fixture["tables"]
    if not 1 <= len(tables) <= MAX_TABLES:
        return [f"fixture_invalid: {where} has 1 to {MAX_TABLES} tables"]
    names: list[str] = []
    for table in tables:
        if not isinstance(table, dict) or set(table) != {"name", "columns", "rows"}:
            return [f"fixture_invalid: a table of {where} has exactly name, columns and rows"]
        name, columns, rows = table["name"], table["columns"], table["rows"]
        if not isinstance(name, str) or not sql_task.IDENTIFIER.fullmatch(name) or name.startswith("sqlite_"):
            return [f"fixture_invalid: table name {name!r} in {where} is not a lower-case identifier"]
        names.append(name)
        if (
            not isinstance(columns, list) or not 1 <= len(columns) <= MAX_COLUMNS
            or not all(isinstance(column, dict) and set(column) == {"name", "type"} for column in columns)
            or not all(isinstance(column["name"], str) and sql_task.IDENTIFIER.fullmatch(column["name"])
                       for column in columns)
            or not all(column["type"] in sql_task.COLUMN_TYPES for column in columns)
            or len({column["name"] for column in columns}) != len(columns)
        ):
            return [f"fixture_invalid: table {name} in {where}: 1 to {MAX_COLUMNS} distinct columns "
                    f"{{name, type}} of type {'/'.join(sql_task.COLUMN_TYPES)}"]
        if not isinstance(rows, list) or len(rows) > MAX_ROWS:
            return [f"fixture_invalid: table {name} in {where} has at most {MAX_ROWS} rows"]
        for row in rows:
            if not isinstance(row, list) or len(row) != len(columns) or not all(
                _cell_fits(cell, column["type"]) for cell, column in zip(row, columns, strict=True)
            ):
                return [f"fixture_invalid: a row of table {name} in {where} does not fit its columns: {row!r}"[:300]]
    if len(set(names)) != len(names):
        return [f"fixture_invalid: a table name repeats in {where}"]
    return []


def _schema(fixture: dict[str, Any]) -> list[tuple[str, list[tuple[str, str]]]]:
    return [(table["name"], [(column["name"], column["type"]) for column in table["columns"]])
            for table in fixture["tables"]]


def _reference_problems(item: dict[str, Any], kind: str, what: str, limit: int) -> list[str]:
    """What every performance task needs first: no options, and a reference answer within its length."""
    problems: list[str] = []
    if "options" in item:
        problems.append(f"{kind}_has_options")
    answer = item.get("answer")
    if not isinstance(answer, str) or not answer.strip():
        problems.append(f"key_missing: the reference {what} is required")
    elif len(answer) > limit:
        problems.append(f"answer_too_long: over {limit} characters")
    return problems


def sql_query_problems(item: dict[str, Any]) -> list[str]:
    """The structure of a sql_query item: reference query, fixture, hidden variants, comparison, runner."""
    problems = _reference_problems(item, "sql_query", "query", sql_task.MAX_QUERY_CHARS)
    fixture_problems = _fixture_problems(item.get("fixture"), "the fixture")
    problems += fixture_problems
    variants = item.get("variants")
    if not isinstance(variants, list) or not MIN_VARIANTS <= len(variants) <= MAX_VARIANTS:
        problems.append(f"variants_count: {MIN_VARIANTS} to {MAX_VARIANTS} hidden fixture variants are required")
    else:
        for index, variant in enumerate(variants, start=1):
            found = _fixture_problems(variant, f"variant {index}")
            problems += found
            if not found and not fixture_problems and _schema(variant) != _schema(item["fixture"]):
                problems.append(f"variant_schema: variant {index} has other tables or columns than the fixture")
            elif not found and not fixture_problems and variant == item["fixture"]:
                problems.append(f"variant_not_hidden: variant {index} is the visible fixture")
    compare = item.get("compare")
    if (
        not isinstance(compare, dict) or not set(compare) <= COMPARE_KEYS
        or not isinstance(compare.get("ordered", False), bool)
        or not isinstance(compare.get("column_names", False), bool)
        or not (_is_number(compare.get("tolerance", 0)) and 0 <= compare.get("tolerance", 0) <= 1)
    ):
        problems.append("compare_invalid: {ordered: bool, column_names: bool, tolerance: 0 to 1}")
    runner = item.get("runner")
    if (
        not isinstance(runner, dict) or set(runner) != set(sql_task.DEFAULT_RUNNER)
        or not all(isinstance(runner[key], int) and not isinstance(runner[key], bool)
                   and 1 <= runner[key] <= maximum for key, maximum in sql_task.MAX_RUNNER.items())
        or not isinstance(runner["now"], str) or not sql_task.NOW_FORMAT.fullmatch(runner["now"])
    ):
        problems.append(
            f"runner_invalid: {{steps, rows, chars}} within {sql_task.MAX_RUNNER} and now as YYYY-MM-DD HH:MM:SS"
        )
    return problems


def _hashable_integers(value: object) -> bool:
    """Every integer within ±(2^53 - 1): RFC 8785 refuses larger ones, so the content hash could not be taken."""
    return _every_leaf(value, lambda leaf: not isinstance(leaf, int) or abs(leaf) <= MAX_SAFE_INTEGER)


def _json_sized(value: object, limit: int) -> bool:
    try:
        return len(json.dumps(value, allow_nan=False)) <= limit and _hashable_integers(value)
    except (TypeError, ValueError, RecursionError):
        return False


def python_function_problems(item: dict[str, Any]) -> list[str]:
    """The structure of a python_function item: reference, signature, examples, hidden tests, runner."""
    problems = _reference_problems(item, "python_function", "solution", python_task.MAX_SOURCE_CHARS)
    function = item.get("function")
    if (
        not isinstance(function, dict) or set(function) != {"name", "params"}
        or not isinstance(function["name"], str) or not function["name"].isidentifier()
        or keyword.iskeyword(function["name"]) or not isinstance(function["params"], list)
        or not all(isinstance(p, str) and p.isidentifier() and not keyword.iskeyword(p) for p in function["params"])
    ):
        problems.append("function_invalid: {name, params} with Python identifiers")
        return problems
    arity = len(function["params"])
    examples = item.get("examples")
    if not isinstance(examples, list) or not 1 <= len(examples) <= 5 or not all(
        isinstance(e, dict) and set(e) == {"args", "expected"} and isinstance(e["args"], list)
        and len(e["args"]) == arity and _json_sized(e, 2000) for e in examples
    ):
        problems.append(f"examples_invalid: 1 to 5 {{args (a list of {arity}), expected}} of JSON values "
                        f"(integers within ±{MAX_SAFE_INTEGER})")
    tests = item.get("tests")
    if not isinstance(tests, list) or not 3 <= len(tests) <= python_task.MAX_TESTS:
        problems.append(f"tests_count: 3 to {python_task.MAX_TESTS} hidden tests are required")
    else:
        for index, test in enumerate(tests, start=1):
            call_ok = (
                isinstance(test, dict) and set(test) - {"weight"} in ({"args", "expected"}, {"expr", "expected"})
                and ((isinstance(test.get("args"), list) and len(test["args"]) == arity)
                     or (isinstance(test.get("expr"), str) and 0 < len(test["expr"]) <= 500))
                and _json_sized(test, 5000)
            )
            weight = test.get("weight", 1) if isinstance(test, dict) else None
            if not call_ok or not isinstance(weight, int) or isinstance(weight, bool) or not 1 <= weight <= 10:
                problems.append(f"test_invalid: test {index} needs args (a list of {arity}) or expr, expected "
                                f"(a JSON value, integers within ±{MAX_SAFE_INTEGER}) and a weight of 1 to 10")
        if isinstance(examples, list) and any(
            isinstance(test, dict) and isinstance(example, dict) and test.get("args") == example.get("args")
            for test in tests for example in examples
        ):
            problems.append("test_not_hidden: a hidden test calls the function as a visible example does")
    runner = item.get("runner")
    if not isinstance(runner, dict) or set(runner) != set(python_task.DEFAULT_RUNNER) or not all(
        isinstance(runner[key], int) and not isinstance(runner[key], bool) and 1 <= runner[key] <= maximum
        for key, maximum in python_task.MAX_RUNNER.items()
    ):
        problems.append(f"runner_invalid: {{cpu_seconds, wall_seconds, memory_mb}} within {python_task.MAX_RUNNER}")
    return problems
