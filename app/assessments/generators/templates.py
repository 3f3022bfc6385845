"""Parametric numeric items: values drawn from a seed, answers computed in code, never by eval.

A `Template` owns a pure `make(rng)` that draws its parameters from the given `random.Random` and returns
the prompt, the exact answer, the tolerance and an explanation that shows the working. `variants()` turns
a template and a seed into distinct internal numeric items; the id `<template id>-v<n>` carries the
variant's own seed n, so `variant(template, n)` rebuilds exactly that item.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, NamedTuple

MAX_VARIANT_SEED = 2**31


class Variant(NamedTuple):
    prompt: str
    answer: int | float
    tolerance: dict[str, float]
    explanation: str


@dataclass(frozen=True, kw_only=True)
class Template:
    id: str
    skill_id: str
    level: str
    make: Callable[[random.Random], Variant]
    points: int = 1
    criteria: Mapping[str, float] = field(default_factory=dict, hash=False)
    difficulty: int = 2
    # Hand-written items (or templates) of the same skill that ask the same thing: never drawn with a variant.
    enemies: tuple[str, ...] = ()


def _exact() -> dict[str, float]:
    return {"absolute": 0, "relative": 0}


def _within(absolute: float) -> dict[str, float]:
    return {"absolute": absolute, "relative": 0}


def _round_half_up(value: Fraction, places: int) -> Fraction:
    """Round to `places` decimals (negative: to tens, hundreds ...), halves away from zero, exactly."""
    unit = Fraction(10) ** -places
    steps = abs(value) / unit
    rounded = int(steps) + (1 if steps - int(steps) >= Fraction(1, 2) else 0)
    return (rounded if value >= 0 else -rounded) * unit


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _number(value: Fraction) -> int | float:
    return int(value) if value.denominator == 1 else float(value)


def _show(value: Fraction, places: int) -> str:
    """A decimal string of an already rounded value, with exactly `places` decimals (none if places <= 0)."""
    if places <= 0:
        return str(int(value))
    sign = "-" if value < 0 else ""
    scaled = int(abs(value) * 10**places)
    return f"{sign}{scaled // 10**places}.{scaled % 10**places:0{places}d}"


# ------------------------------------------------------------------------------------------------ python


def _python_div_mod(rng: random.Random) -> Variant:
    a, b = rng.randint(10, 99), rng.randint(2, 9)
    quotient, remainder = a // b, a % b
    return Variant(
        f"What is the value of `{a} // {b} + {a} % {b}` in Python 3? Give a whole number.",
        quotient + remainder,
        _exact(),
        f"`{a} // {b}` is floor division, {quotient} (because {b} × {quotient} = {b * quotient}), and "
        f"`{a} % {b}` is the remainder, {remainder}; they bind tighter than +, so the sum is "
        f"{quotient} + {remainder} = {quotient + remainder}.",
    )


def _python_range_len(rng: random.Random) -> Variant:
    start, step = rng.randint(0, 20), rng.randint(2, 7)
    stop = start + rng.randint(5, 60)
    values = range(start, stop, step)
    return Variant(
        f"What does `len(range({start}, {stop}, {step}))` return? Give a whole number.",
        len(values),
        _exact(),
        f"The range starts at {start} and adds {step} each time while staying below {stop} (the stop value is "
        f"never included): {start}, {start + step}, ... {values[-1]}. That is ceil(({stop} − {start}) / {step}) "
        f"= {len(values)} values.",
    )


def _python_negative_floor(rng: random.Random) -> Variant:
    b = rng.randint(3, 9)
    a = b * rng.randint(1, 9) + rng.randint(1, b - 1)  # never a multiple of b, so flooring matters
    quotient, remainder = -a // b, -a % b
    if rng.random() < 0.5:
        expression, answer = f"-{a} // {b}", quotient
        working = (
            f"-{a} / {b} is about {-a / b:.2f}, and // rounds down towards negative infinity, not towards zero, "
            f"so `-{a} // {b}` is {quotient} (not {quotient + 1})."
        )
    else:
        expression, answer = f"-{a} % {b}", remainder
        working = (
            f"Python's % takes the sign of the divisor: with `-{a} // {b}` = {quotient}, the remainder is "
            f"-{a} − ({b} × {quotient}) = {remainder}, which is always between 0 and {b - 1} here."
        )
    return Variant(f"What is the value of `{expression}` in Python 3? Give a whole number.", answer, _exact(), working)


def _python_comprehension_sum(rng: random.Random) -> Variant:
    n, k = rng.randint(8, 40), rng.randint(2, 6)
    kept = [x for x in range(n) if x % k == 0]
    shown = ", ".join(map(str, kept)) if len(kept) <= 8 else ", ".join(map(str, kept[:3])) + f", ..., {kept[-1]}"
    return Variant(
        f"What is the value of `sum(x for x in range({n}) if x % {k} == 0)`? Give a whole number.",
        sum(kept),
        _exact(),
        f"range({n}) runs from 0 to {n - 1}; the condition keeps the multiples of {k}, including 0: {shown}. "
        f"Their sum is {sum(kept)}.",
    )


# --------------------------------------------------------------------------------------------------- sql


def _sql_count_nulls(rng: random.Random) -> Variant:
    rows = rng.randint(5, 40)
    nulls = rng.randint(1, rows - 1)
    column = rng.choice(["discount", "phone", "manager_id", "shipped_at"])
    query, answer = rng.choice(
        [
            # S608: these are prompt texts for a learner to read; nothing here is ever executed.
            (f"SELECT COUNT({column}) FROM t;", rows - nulls),  # noqa: S608
            (f"SELECT COUNT(*) - COUNT({column}) FROM t;", nulls),  # noqa: S608
            (f"SELECT COUNT(*) FROM t WHERE {column} IS NULL;", nulls),  # noqa: S608
            # No plain COUNT(*): the stem states the row count, so that query would be its own answer.
        ]
    )
    return Variant(
        f"Table `t` has {rows} rows. In {nulls} of them `{column}` is NULL; in the others it holds a value. "
        f"What does `{query}` return? Give a whole number.",
        answer,
        _exact(),
        f"COUNT(*) counts every row ({rows}); COUNT({column}) skips NULLs ({rows} − {nulls} = {rows - nulls}); "
        f"so the NULL rows number COUNT(*) − COUNT({column}) = {nulls}. This query returns {answer}.",
    )


def _sql_join_rows(rng: random.Random) -> Variant:
    a_rows = rng.randint(3, 12)
    matched = rng.randint(1, a_rows)
    b_matching = matched + rng.randint(0, 10)
    orphans = rng.randint(0, 4)
    kind = rng.choice(["JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL JOIN"])
    inner = b_matching
    answer = {
        "JOIN": inner,
        "LEFT JOIN": inner + (a_rows - matched),
        "RIGHT JOIN": inner + orphans,
        "FULL JOIN": inner + (a_rows - matched) + orphans,
    }[kind]
    query = f"SELECT * FROM a {kind} b ON a.id = b.a_id;"  # noqa: S608 - prompt text, never executed
    if orphans:
        rows_of_b = (
            f"Table `b` has {b_matching + orphans} rows: {b_matching} of them have an `a_id` equal to some "
            f"`a.id`, and together they use {matched} different ids; the other {orphans} have an `a_id` found "
            f"in no row of `a`."
        )
    else:  # "the other 0 have ..." reads badly: say every row matches instead
        rows_of_b = (
            f"Table `b` has {b_matching} rows, each with an `a_id` equal to some `a.id`; together they use "
            f"{matched} different ids."
        )
    return Variant(
        f"Table `a` has {a_rows} rows with distinct, non-NULL `id`s. {rows_of_b} How many rows does `{query}` "
        f"return? Give a whole number.",
        answer,
        _exact(),
        f"Each matching row of b pairs with exactly one row of a, so the inner join has {inner} rows. A LEFT JOIN "
        f"adds the rows of a with no match ({a_rows - matched}), a RIGHT JOIN the unmatched rows of b "
        f"({orphans}), and a FULL JOIN both; so the {kind} returns {answer} rows.",
    )


def _sql_group_by_null(rng: random.Random) -> Variant:
    distinct = rng.randint(2, 15)
    nulls = rng.randint(0, 5)
    rows = distinct + nulls + rng.randint(0, 20)
    answer = distinct + (1 if nulls else 0)
    null_part = f"{_count(nulls, 'row')} {'has' if nulls == 1 else 'have'} a NULL `city`" if nulls else (
        "no row has a NULL `city`"
    )
    query = "SELECT city, COUNT(*) FROM customers GROUP BY city;"
    return Variant(
        f"Table `customers` has {rows} rows; `city` holds {distinct} different non-NULL values and {null_part}. "
        f"How many rows does `{query}` return? Give a whole number.",
        answer,
        _exact(),
        f"GROUP BY makes one row per distinct value, and all NULLs fall into a single group of their own: "
        f"{distinct} groups for the values{' plus 1 for NULL' if nulls else ''} = {answer}. "
        f"The total number of rows does not matter.",
    )


# --------------------------------------------------------------------------------------------------- git


def _git_reset_log(rng: random.Random) -> Variant:
    commits = rng.randint(4, 30)
    back = rng.randint(1, min(4, commits - 1))
    new = rng.randint(0, 3)
    answer = commits - back + new
    after = f", then make {_count(new, 'new commit')}" if new else ""
    return Variant(
        f"A branch has a linear history of {commits} commits and HEAD is at the newest. You run "
        f"`git reset --hard HEAD~{back}`{after}. How many commits does `git log --oneline` now list? "
        f"Give a whole number.",
        answer,
        _exact(),
        f"HEAD~{back} is {_count(back, 'commit')} back, so the reset leaves {commits - back} commits on the "
        f"branch (the ones after it stay reachable only through the reflog)"
        + (f"; {_count(new, 'new commit')} on top make {answer}." if new else "."),
    )


def _git_range_count(rng: random.Random) -> Variant:
    shared = rng.randint(1, 20)
    on_main, on_feature = rng.randint(0, 8), rng.randint(1, 8)
    expression, answer, why = rng.choice(
        [
            ("main..feature", on_feature, "commits reachable from feature but not from main"),
            ("feature..main", on_main, "commits reachable from main but not from feature"),
            ("main...feature", on_main + on_feature, "commits reachable from exactly one of the two branches"),
            ("feature", shared + on_feature, "every commit reachable from feature, shared history included"),
        ]
    )
    return Variant(
        f"`main` has a linear history of {shared} commits. You create `feature` at main's newest commit and make "
        f"{on_feature} commits on it; meanwhile `main` gets {on_main} new commits. No merges happen. How many "
        f"commits does `git rev-list --count {expression}` print? Give a whole number.",
        answer,
        _exact(),
        f"`{expression}` selects {why}. The {shared} shared commits are reachable from both branches, "
        f"feature has {on_feature} of its own and main {on_main}, so the count is {answer}.",
    )


# ------------------------------------------------------------------------------------------ spreadsheets


def _cells(values: list[str]) -> str:
    return ", ".join(values[:-1]) + " and " + values[-1]


def _sheets_average(rng: random.Random) -> Variant:
    numbers = [rng.randint(1, 120) for _ in range(rng.randint(3, 5))]
    if rng.random() < 0.5:
        numbers[rng.randrange(len(numbers))] = 0
    cells: list[tuple[str, int | None]] = [(str(n), n) for n in numbers]
    cells += [("the text `n/a`", None), ("an empty cell", None)]
    rng.shuffle(cells)
    numbers = [n for _, n in cells if n is not None]
    last = f"A{len(cells)}"
    average = Fraction(sum(numbers), len(numbers))
    rounded = _round_half_up(average, 2)
    return Variant(
        f"A1:{last} contain, in order: {_cells([text for text, _ in cells])}. What does `=AVERAGE(A1:{last})` "
        f"return? Give the number to 2 decimal places.",
        _number(rounded),
        _within(0.005),
        f"AVERAGE ignores text and empty cells but counts zeros: ({' + '.join(map(str, numbers))}) / "
        f"{len(numbers)} = {sum(numbers)} / {len(numbers)} ≈ {_show(rounded, 2)}.",
    )


def _sheets_countif(rng: random.Random) -> Variant:
    values = [rng.randint(0, 100) for _ in range(rng.randint(5, 8))]
    threshold = rng.choice(values) if rng.random() < 0.6 else rng.randint(0, 100)
    operator = rng.choice([">", ">=", "<", "<="])
    tests: dict[str, Callable[[int], bool]] = {
        ">": lambda v: v > threshold,
        ">=": lambda v: v >= threshold,
        "<": lambda v: v < threshold,
        "<=": lambda v: v <= threshold,
    }
    kept = [v for v in values if tests[operator](v)]
    last = f"B{len(values) + 1}"
    return Variant(
        f"B2:{last} contain {_cells([str(v) for v in values])}. What does "
        f'`=COUNTIF(B2:{last}, "{operator}{threshold}")` return? Give a whole number.',
        len(kept),
        _exact(),
        f"COUNTIF counts the cells for which the criterion {operator}{threshold} holds"
        f"{' (the boundary value itself counts with >= and <=, not with > and <)' if threshold in values else ''}: "
        f"{', '.join(map(str, kept)) or 'none'}, so {len(kept)}.",
    )


def _sheets_round(rng: random.Random) -> Variant:
    places = rng.choice([-2, -1, 1, 2])
    while True:
        thousandths = rng.randint(100_000, 9_999_999)  # 100.000 to 9999.999
        unit = 10 ** (3 - places)
        # Three real decimals (so rounding always changes something) and no exact halves, where Excel and
        # Google Sheets agree anyway but a learner's calculator might not.
        if thousandths % 10 and thousandths % unit != unit // 2:
            break
    value = Fraction(thousandths, 1000)
    rounded = _round_half_up(value, places)
    text = _show(value, 3).rstrip("0").rstrip(".")
    meaning = {
        -2: "the nearest hundred",
        -1: "the nearest ten",
        1: "one decimal place",
        2: "two decimal places",
    }[places]
    return Variant(
        f"What does `=ROUND({text}, {places})` return? Give the number.",
        _number(rounded),
        _exact(),
        f"ROUND with {places} digits rounds to {meaning}"
        f"{' (a negative count works to the left of the decimal point)' if places < 0 else ''}, so "
        f"{text} becomes {_show(rounded, places)}.",
    )


# ------------------------------------------------------------------------------------- technical writing

def _writing_sentence_length(rng: random.Random) -> Variant:
    lengths = [rng.randint(5, 32) for _ in range(rng.randint(3, 6))]
    average = _round_half_up(Fraction(sum(lengths), len(lengths)), 1)
    return Variant(
        f"A paragraph has {len(lengths)} sentences of {_cells([str(n) for n in lengths])} words. What is its "
        f"average sentence length in words? Give the number to 1 decimal place.",
        _number(average),
        _within(0.05),
        f"Average sentence length is total words divided by sentences: {' + '.join(map(str, lengths))} = "
        f"{sum(lengths)} words over {len(lengths)} sentences ≈ {_show(average, 1)}. Plain-language guides aim "
        f"for an average of about 15 to 20 words.",
    )


def _writing_flesch_kincaid(rng: random.Random) -> Variant:
    words = rng.randint(8, 30) * 10
    sentences = rng.randint(4, 20)
    syllables = words * rng.randint(120, 190) // 100
    grade = (
        Fraction(39, 100) * Fraction(words, sentences)
        + Fraction(118, 10) * Fraction(syllables, words)
        - Fraction(1559, 100)
    )
    rounded = _round_half_up(grade, 1)
    return Variant(
        f"The Flesch-Kincaid grade level is 0.39 × (words ÷ sentences) + 11.8 × (syllables ÷ words) − 15.59. "
        f"A passage has {words} words, {sentences} sentences and {syllables} syllables. What is its grade level? "
        f"Give the number to 1 decimal place.",
        _number(rounded),
        # Rounding the two ratios to 2 decimals moves the result by at most 0.39 × 0.005 + 11.8 × 0.005
        # ≈ 0.061 (< 0.1), so after the final rounding a correct method is at most one step (0.1) off the key;
        # a tolerance of one step at the requested rounding is what the rules allow (rules.flaws).
        _within(0.1),
        f"Words per sentence {words}/{sentences} ≈ {float(Fraction(words, sentences)):.4f} and syllables per word "
        f"{syllables}/{words} = {float(Fraction(syllables, words)):.4f}; 0.39 × the first + 11.8 × the second "
        f"− 15.59 ≈ {_show(rounded, 1)}. Shorter sentences and shorter words both lower the grade.",
    )


# ------------------------------------------------------------------------------------- web accessibility


def _contrast(lighter: Fraction, darker: Fraction) -> Fraction:
    return (lighter + Fraction(1, 20)) / (darker + Fraction(1, 20))


def _a11y_contrast(rng: random.Random) -> Variant:
    while True:
        first, second = rng.randint(0, 1000), rng.randint(0, 1000)
        if abs(first - second) >= 20:
            break
    l1, l2 = Fraction(first, 1000), Fraction(second, 1000)
    lighter, darker = max(l1, l2), min(l1, l2)
    ratio = _round_half_up(_contrast(lighter, darker), 2)
    return Variant(
        f"WCAG defines contrast ratio as (L1 + 0.05) / (L2 + 0.05), where L1 is the relative luminance of the "
        f"lighter color and L2 that of the darker. Text has relative luminance {_show(l1, 3)} and its background "
        f"{_show(l2, 3)}. What is the contrast ratio? Give the number x of x:1 to 2 decimal places.",
        _number(ratio),
        _within(0.01),
        f"The lighter color goes on top: ({_show(lighter, 3)} + 0.05) / ({_show(darker, 3)} + 0.05) ≈ "
        f"{_show(ratio, 2)}:1. Normal-size text needs at least 4.5:1 at Level AA, so this pair "
        f"{'passes' if _contrast(lighter, darker) >= Fraction(9, 2) else 'fails'} 1.4.3.",
    )


def _a11y_contrast_extreme(rng: random.Random) -> Variant:
    luminance = Fraction(rng.randint(0, 1000), 1000)
    if rng.random() < 0.5:
        background, ratio = "white (relative luminance 1)", _contrast(Fraction(1), luminance)
        working = f"(1 + 0.05) / ({_show(luminance, 3)} + 0.05)"
    else:
        background, ratio = "black (relative luminance 0)", _contrast(luminance, Fraction(0))
        working = f"({_show(luminance, 3)} + 0.05) / (0 + 0.05)"
    rounded = _round_half_up(ratio, 2)
    return Variant(
        f"WCAG contrast ratio is (L1 + 0.05) / (L2 + 0.05), with L1 the relative luminance of the lighter color. "
        f"Text with relative luminance {_show(luminance, 3)} sits on pure {background}. What is the contrast "
        f"ratio? Give the number x of x:1 to 2 decimal places.",
        _number(rounded),
        _within(0.01),
        f"{working} ≈ {_show(rounded, 2)}:1. The 0.05 terms model screen flare, which is why white on black "
        f"reaches 21:1 rather than infinity.",
    )


def _a11y_reflow(rng: random.Random) -> Variant:
    width = rng.choice([800, 1000, 1280, 1440, 1600, 1920, 2000, 2560])
    zoom = rng.choice([125, 200, 250, 400, 500])
    css_width = Fraction(width * 100, zoom)
    return Variant(
        f"A browser window is {width} CSS pixels wide at 100% zoom. The user zooms to {zoom}%. How many CSS "
        f"pixels wide is the viewport the page now lays out in? Give a whole number.",
        _number(css_width),
        _exact(),
        f"Zooming enlarges each CSS pixel, so the same window holds fewer of them: {width} × 100 / {zoom} = "
        f"{css_width}. This is why 1.4.10 Reflow tests content at 320 CSS pixels wide, which is 1280 at 400%.",
    )


TEMPLATES: tuple[Template, ...] = (
    Template(id="python-tpl-div-mod", skill_id="python", level="foundation", make=_python_div_mod,
             criteria={"syntax-and-types": 1.0}, difficulty=1),
    Template(id="python-tpl-range-len", skill_id="python", level="foundation", make=_python_range_len,
             criteria={"data-structures": 1.0}, difficulty=2, enemies=("python-f06",)),
    Template(id="python-tpl-negative-floor", skill_id="python", level="intermediate", make=_python_negative_floor,
             criteria={"syntax-and-types": 1.0}, difficulty=3),
    Template(id="python-tpl-comprehension-sum", skill_id="python", level="intermediate",
             make=_python_comprehension_sum, criteria={"data-structures": 1.0}, difficulty=2),
    Template(id="sql-tpl-count-nulls", skill_id="sql", level="foundation", make=_sql_count_nulls,
             criteria={"aggregation": 1.0}, difficulty=2, enemies=("sql-f02",)),
    Template(id="sql-tpl-join-rows", skill_id="sql", level="intermediate", make=_sql_join_rows,
             criteria={"joins": 1.0}, difficulty=3),
    Template(id="sql-tpl-group-by-null", skill_id="sql", level="intermediate", make=_sql_group_by_null,
             criteria={"aggregation": 1.0}, difficulty=2),
    Template(id="git-tpl-reset-log", skill_id="git", level="foundation", make=_git_reset_log,
             criteria={"undoing-and-history": 1.0}, difficulty=2, enemies=("git-f16",)),
    Template(id="git-tpl-range-count", skill_id="git", level="intermediate", make=_git_range_count,
             criteria={"branching-and-merging": 1.0}, difficulty=3, enemies=("git-i17",)),
    Template(id="spreadsheets-tpl-average", skill_id="spreadsheets", level="foundation", make=_sheets_average,
             criteria={"functions-and-statistics": 1.0}, difficulty=2),
    Template(id="spreadsheets-tpl-countif", skill_id="spreadsheets", level="foundation", make=_sheets_countif,
             criteria={"functions-and-statistics": 1.0}, difficulty=1, enemies=("spreadsheets-f09",)),
    Template(id="spreadsheets-tpl-round", skill_id="spreadsheets", level="intermediate", make=_sheets_round,
             criteria={"functions-and-statistics": 1.0}, difficulty=2, enemies=("spreadsheets-i09",)),
    Template(id="technical-writing-tpl-sentence-length", skill_id="technical-writing", level="foundation",
             make=_writing_sentence_length, criteria={"clarity-and-style": 1.0}, difficulty=1,
             enemies=("technical-writing-f09",)),
    Template(id="technical-writing-tpl-flesch-kincaid", skill_id="technical-writing", level="intermediate",
             make=_writing_flesch_kincaid, criteria={"clarity-and-style": 1.0}, difficulty=3,
             enemies=("technical-writing-i18",)),
    Template(id="web-accessibility-tpl-contrast-extreme", skill_id="web-accessibility", level="foundation",
             make=_a11y_contrast_extreme, criteria={"perceivable-content": 1.0}, difficulty=2),
    Template(id="web-accessibility-tpl-reflow", skill_id="web-accessibility", level="foundation",
             make=_a11y_reflow, criteria={"perceivable-content": 1.0}, difficulty=2),
    Template(id="web-accessibility-tpl-contrast", skill_id="web-accessibility", level="intermediate",
             make=_a11y_contrast, criteria={"perceivable-content": 1.0}, difficulty=3,
             enemies=("web-accessibility-i16",)),
)


def templates_for(skill_id: str, level: str) -> tuple[Template, ...]:
    """The templates of one skill and level, in a fixed order."""
    return tuple(template for template in TEMPLATES if template.skill_id == skill_id and template.level == level)


def variant(template: Template, n: int) -> dict[str, Any]:
    """The internal numeric item `<template id>-v<n>`: a pure function of the template and n."""
    made = template.make(random.Random(n))  # noqa: S311 - reproducible parameters, not a secret
    return {
        "id": f"{template.id}-v{n}",
        "type": "numeric",
        "prompt": made.prompt,
        "points": template.points,
        "answer": made.answer,
        "tolerance": dict(made.tolerance),
        "explanation": made.explanation,
        "criteria": dict(template.criteria),
        "difficulty": template.difficulty,
    }


def variants(template: Template, count: int, seed: int) -> list[dict[str, Any]]:
    """Up to `count` variants with distinct prompts, the same for the same seed.

    Fewer come back only when the template's parameter space holds fewer distinct prompts than asked for.
    """
    rng = random.Random(seed)  # noqa: S311 - reproducible draw, not a secret
    items: list[dict[str, Any]] = []
    prompts: set[str] = set()
    for _ in range(20 * count + 100):
        if len(items) >= count:
            break
        item = variant(template, rng.randrange(MAX_VARIANT_SEED))
        if item["prompt"] not in prompts:
            prompts.add(item["prompt"])
            items.append(item)
    return items
