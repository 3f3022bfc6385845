"""Deterministic grading: a pure function of (frozen items, rubric, responses) -> Grade.

Scoring rules (also in the README):
- single_choice: full points when the chosen option is the key, else 0.
- multiple_response, by the rubric's (or the item's) mode:
    all_or_nothing     full points only when exactly the keys are chosen;
    right_minus_wrong  points x max(0, (keys chosen - non-keys chosen) / number of keys);
    every_decision     points x (options decided correctly, chosen or left alone) / number of options.
- numeric: full points when |answer - key| <= max(absolute, relative x |key|), in exact decimals.
- short_text: the answer and the accepted answers are NFKC-normalised, trimmed, inner whitespace folded
  and (unless case_sensitive) case-folded; from rubric version 3 on, surrounding quotes or backticks,
  trailing sentence punctuation (. , ; : ! ?) and one leading article (the, a, an) are also stripped, so
  "`append`", "ORDER BY." and "the alt attribute" read as append, ORDER BY and alt attribute (rubrics of
  version 2 or less, frozen before, normalise as before). Full points on an exact match with any of
  them, or when the normalised answer fully matches the item's regex `pattern` (RE2 syntax, linear time:
  grading/patterns.py).
- ordering, by mode: all_or_nothing, or adjacent_pairs = points x (adjacent pairs of the answer that are
  adjacent in the same order in the key) / (options - 1).
- matching: points x (left options matched to their right option) / (left options).
- sql_query: points x (hidden fixture variants on which the query's result matches the reference query's) /
  (variants), by running it (grading/sql_task.py); the run may be done ahead, in the grading worker pool, and
  handed in as `runs` (the same pure function, run elsewhere).
- python_function: points x (weights of the hidden tests whose call returns the expected value) / (all the
  weights), by running the source in a bubblewrap sandbox (grading/python_task.py), likewise in the pool.
- The rubric's `version` says which of these rules it was frozen with; a rubric without one (an item
  checked before it is frozen) follows the current RUBRIC_VERSION.
- Items with no response score 0; voided items count neither in score nor maximum.
- Pretest items (frozen with `pretest: true`) score 0 of 0: they never change a grade or a criterion.
- Ability: when every counted item that is not pretest carries a `calibration` on one scale, the grade also
  reports the Rasch ability (grading/ability.py, WLE) from its right (full marks) / wrong results.
- Passing: score x 100 >= pass_percent x max_score (exact). Mastery: the highest band whose min_percent
  the percent reaches. Criteria: each item's score and maximum are spread over its criteria by weight.
"""

from __future__ import annotations

import itertools
import math
import re
import unicodedata
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from app.grading import ability as rasch
from app.grading import patterns, performance, python_task, sql_task
from app.grading.outcomes import TaskResult

RUBRIC_VERSION = 3
# The first rubric version whose short-text normalisation strips quotes, trailing punctuation and an article.
STRIPPING_VERSION = 3
# Folding only (NFKC, whitespace, case): for texts whose quotes and punctuation matter, such as options.
FOLD_ONLY_VERSION = 2
MULTIPLE_RESPONSE_MODES = ("all_or_nothing", "right_minus_wrong", "every_decision")
ORDERING_MODES = ("all_or_nothing", "adjacent_pairs")
DEFAULT_CRITERION = "general"
DEFAULT_MASTERY_BANDS: tuple[tuple[str, float], ...] = (("Advanced", 90.0), ("Proficient", 70.0), ("Foundation", 50.0))
MAX_SHORT_TEXT = 500


class ResponseError(ValueError):
    """A response that cannot be graded: unknown item, wrong shape, duplicate."""


@dataclass(frozen=True)
class ItemScore:
    item_id: str
    score: Fraction
    max_score: Fraction
    run: TaskResult | None = None  # performance tasks: what running the answer gave


@dataclass(frozen=True)
class CriterionScore:
    criterion: str
    score: Fraction
    max_score: Fraction


@dataclass(frozen=True)
class Grade:
    score: Fraction
    max_score: Fraction
    passed: bool
    items: tuple[ItemScore, ...]
    criteria: tuple[CriterionScore, ...] = ()
    mastery: str | None = None
    ability: rasch.Ability | None = None

    @property
    def percent(self) -> float:
        """Percent of the maximum, rounded to two decimals (half-even, deterministic)."""
        return _percent(self.score, self.max_score)

    def to_json(self) -> dict[str, Any]:
        """Numbers as floats rounded to 4 decimals (integers stay integers), the form the API returns."""
        body: dict[str, Any] = {
            "score": _number(self.score),
            "max_score": _number(self.max_score),
            "percent": self.percent,
            "passed": self.passed,
            "mastery": self.mastery,
            "items": [_item_json(item) for item in self.items],
            "criteria": [
                {
                    "criterion": criterion.criterion,
                    "score": _number(criterion.score),
                    "max_score": _number(criterion.max_score),
                    "percent": _percent(criterion.score, criterion.max_score),
                }
                for criterion in self.criteria
            ],
        }
        if self.ability is not None:
            body["ability"] = self.ability.to_json()
        return body


def _item_json(item: ItemScore) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "item_id": item.item_id, "score": _number(item.score), "max_score": _number(item.max_score)
    }
    if item.run is not None:
        entry["run"] = item.run.summary()
    return entry


def _percent(score: Fraction, maximum: Fraction) -> float:
    if maximum == 0:
        return 0.0
    return round(float(score / maximum * 100), 2)


def _number(value: Fraction) -> float | int:
    if value.denominator == 1:
        return int(value)
    return round(float(value), 4)


def _decimal(value: float | int) -> Decimal:
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# Pairs that may surround a whole answer: "x", 'x', `x`, “x”, ‘x’, «x».
_QUOTES = {'"': '"', "'": "'", "`": "`", "\u201c": "\u201d", "\u2018": "\u2019", "\u00ab": "\u00bb"}
_TRAILING_PUNCTUATION = ".,;:!?"
_ARTICLE = re.compile(r"(?:the|an|a) (?=\S)", re.IGNORECASE)


def _stripped(text: str) -> str:
    """Surrounding quotes or backticks, trailing sentence punctuation and one leading article removed."""
    article_gone = False
    while True:
        before = text
        text = text.rstrip(_TRAILING_PUNCTUATION).rstrip()
        if len(text) >= 2 and _QUOTES.get(text[0]) == text[-1] and not {text[0], text[-1]} & set(text[1:-1]):
            text = text[1:-1].strip()
        if not article_gone and (match := _ARTICLE.match(text)):
            text, article_gone = text[match.end():], True
        if text == before:
            return text


def rubric_version(rubric: Mapping[str, Any]) -> int:
    """The version a rubric was frozen with; one without (an item not frozen yet) follows the current rules."""
    version = rubric.get("version", RUBRIC_VERSION)
    return version if isinstance(version, int) and not isinstance(version, bool) else RUBRIC_VERSION


def normalise_text(text: str, *, case_sensitive: bool = False, version: int = RUBRIC_VERSION) -> str:
    """NFKC, trimmed, inner whitespace folded, case-folded unless case_sensitive; from version 3 on, also
    without surrounding quotes or backticks, trailing punctuation and a leading article."""
    folded = " ".join(unicodedata.normalize("NFKC", text).split())
    if version >= STRIPPING_VERSION:
        folded = _stripped(folded)
    return folded if case_sensitive else folded.casefold()


def _option_ids(item: Mapping[str, Any], side: str | None = None) -> set[str]:
    return {
        option["id"] for option in item.get("options", []) if side is None or option.get("side") == side
    }


def check_answer_shape(item: Mapping[str, Any], answer: object) -> None:
    """Raise ResponseError unless `answer` has the shape the item's type takes."""
    item_id = item["id"]
    kind = item["type"]
    option_ids = _option_ids(item)
    if kind == "single_choice":
        if not isinstance(answer, str) or answer not in option_ids:
            raise ResponseError(f"item {item_id}: answer must be one of the item's option ids")
    elif kind in ("multiple_response", "ordering"):
        if not isinstance(answer, list) or not all(isinstance(choice, str) for choice in answer):
            raise ResponseError(f"item {item_id}: answer must be a list of option ids")
        if len(set(answer)) != len(answer):
            raise ResponseError(f"item {item_id}: an option id is listed twice")
        if not set(answer) <= option_ids:
            raise ResponseError(f"item {item_id}: answer names an option the item does not have")
    elif kind == "numeric":
        if not _is_number(answer):
            raise ResponseError(f"item {item_id}: answer must be a finite number")
    elif kind == "short_text":
        if not isinstance(answer, str) or len(answer) > MAX_SHORT_TEXT:
            raise ResponseError(f"item {item_id}: answer must be a string of at most {MAX_SHORT_TEXT} characters")
    elif kind == "matching":
        if not isinstance(answer, dict) or not all(isinstance(value, str) for value in answer.values()):
            raise ResponseError(f"item {item_id}: answer must be an object mapping left option ids to right ones")
        if not set(answer) <= _option_ids(item, "left") or not set(answer.values()) <= _option_ids(item, "right"):
            raise ResponseError(f"item {item_id}: answer names an option the item does not have on that side")
    elif kind == "sql_query":
        if not isinstance(answer, str) or len(answer) > sql_task.MAX_QUERY_CHARS:
            raise ResponseError(
                f"item {item_id}: answer must be one SQL query, a string of at most "
                f"{sql_task.MAX_QUERY_CHARS} characters"
            )
    elif kind == "python_function":
        if not isinstance(answer, str) or len(answer) > python_task.MAX_SOURCE_CHARS:
            raise ResponseError(
                f"item {item_id}: answer must be Python source defining the function, a string of at most "
                f"{python_task.MAX_SOURCE_CHARS} characters"
            )
    else:
        raise ResponseError(f"item {item_id}: unsupported item type {kind!r}")


def collect_responses(
    items: Sequence[Mapping[str, Any]], responses: Sequence[Mapping[str, Any]]
) -> dict[str, object]:
    """Map item id -> answer, refusing unknown ids, duplicates and wrong shapes."""
    by_id = {item["id"]: item for item in items}
    answers: dict[str, object] = {}
    for response in responses:
        item_id = response.get("item_id")
        if not isinstance(item_id, str) or item_id not in by_id:
            raise ResponseError(f"unknown item id {item_id!r}")
        if item_id in answers:
            raise ResponseError(f"item {item_id}: more than one response")
        if "answer" not in response:
            raise ResponseError(f"item {item_id}: response has no answer")
        check_answer_shape(by_id[item_id], response["answer"])
        answers[item_id] = response["answer"]
    return answers


def _multiple_response(item: Mapping[str, Any], chosen: set[str], mode: str) -> Fraction:
    keys = set(item["answer"])
    if mode == "all_or_nothing":
        return Fraction(1) if chosen == keys else Fraction(0)
    if mode == "every_decision":
        options = _option_ids(item)
        right = sum(1 for option in options if (option in chosen) == (option in keys))
        return Fraction(right, len(options))
    right, wrong = len(chosen & keys), len(chosen - keys)
    return max(Fraction(0), Fraction(right - wrong, len(keys)))


def _ordering(item: Mapping[str, Any], answer: list[str], mode: str) -> Fraction:
    key = list(item["answer"])
    if mode == "all_or_nothing" or len(key) < 2:
        return Fraction(1) if answer == key else Fraction(0)
    key_pairs = set(itertools.pairwise(key))
    hits = sum(1 for pair in itertools.pairwise(answer) if pair in key_pairs)
    return Fraction(hits, len(key) - 1)


def _short_text(item: Mapping[str, Any], answer: str, version: int) -> Fraction:
    case_sensitive = bool(item.get("case_sensitive", False))
    given = normalise_text(answer, case_sensitive=case_sensitive, version=version)
    accepted = [item["answer"], *item.get("accepted_answers", [])]
    if any(given == normalise_text(text, case_sensitive=case_sensitive, version=version) for text in accepted):
        return Fraction(1)
    pattern = item.get("pattern")
    try:
        if pattern and patterns.fullmatches(pattern, given, case_sensitive=case_sensitive):
            return Fraction(1)
    except patterns.PatternError:
        pass  # frozen before RE2 and not RE2 syntax: only the listed answers count (validation refuses it now)
    return Fraction(0)


def _matching(item: Mapping[str, Any], answer: Mapping[str, str]) -> Fraction:
    key: Mapping[str, str] = item["answer"]
    hits = sum(1 for left, right in key.items() if answer.get(left) == right)
    return Fraction(hits, len(key))


def score_item(item: Mapping[str, Any], answer: object, rubric: Mapping[str, Any]) -> Fraction:
    """Points earned on one item (answer already shape-checked; None means unanswered)."""
    points = Fraction(item["points"])
    if answer is None:
        return Fraction(0)
    kind = item["type"]
    if kind == "single_choice":
        share = Fraction(1) if answer == item["answer"] else Fraction(0)
    elif kind == "multiple_response":
        assert isinstance(answer, list)
        share = _multiple_response(item, set(answer), item.get("scoring") or rubric.get("multiple_response",
                                                                                           "right_minus_wrong"))
    elif kind == "numeric":
        assert isinstance(answer, int | float)
        key = _decimal(item["answer"])
        tolerance = item.get("tolerance", {})
        allowed = max(
            _decimal(tolerance.get("absolute", 0)), _decimal(tolerance.get("relative", 0)) * abs(key)
        )
        share = Fraction(1) if abs(_decimal(answer) - key) <= allowed else Fraction(0)
    elif kind == "short_text":
        assert isinstance(answer, str)
        share = _short_text(item, answer, rubric_version(rubric))
    elif kind == "ordering":
        assert isinstance(answer, list)
        share = _ordering(item, answer, item.get("scoring") or rubric.get("ordering", "all_or_nothing"))
    elif kind == "matching":
        assert isinstance(answer, dict)
        share = _matching(item, answer)
    elif kind in performance.PERFORMANCE_TYPES:
        assert isinstance(answer, str)
        share = performance.run_task(item, answer).share
    else:
        raise ResponseError(f"item {item['id']}: unsupported item type {kind!r}")
    return points * share


def _scored(
    item: Mapping[str, Any], answer: object, rubric: Mapping[str, Any], runs: Mapping[str, TaskResult]
) -> ItemScore:
    maximum = Fraction(item["points"])
    if item["type"] not in performance.PERFORMANCE_TYPES or not isinstance(answer, str):
        return ItemScore(item["id"], score_item(item, answer, rubric), maximum)
    run = runs.get(performance.task_key(item, answer)) or performance.run_task(item, answer)
    return ItemScore(item["id"], maximum * run.share, maximum, run)


def _criteria_breakdown(
    items: Sequence[Mapping[str, Any]], scores: Sequence[ItemScore]
) -> tuple[CriterionScore, ...]:
    totals: dict[str, list[Fraction]] = {}
    for item, item_score in zip(items, scores, strict=True):
        weights = item.get("criteria") or {DEFAULT_CRITERION: 1}
        weight_sum = sum((Fraction(str(weight)) for weight in weights.values()), Fraction(0))
        for criterion, weight in weights.items():
            share = Fraction(str(weight)) / weight_sum
            total = totals.setdefault(criterion, [Fraction(0), Fraction(0)])
            total[0] += item_score.score * share
            total[1] += item_score.max_score * share
    return tuple(CriterionScore(name, total[0], total[1]) for name, total in sorted(totals.items()))


def mastery_level(score: Fraction, maximum: Fraction, bands: Sequence[Mapping[str, Any]] | None) -> str | None:
    """The name of the highest band reached, or None below every band."""
    if maximum == 0:
        return None
    ordered = (
        [(str(band["name"]), Fraction(str(band["min_percent"]))) for band in bands]
        if bands is not None
        else [(name, Fraction(str(minimum))) for name, minimum in DEFAULT_MASTERY_BANDS]
    )
    reached = [(minimum, name) for name, minimum in ordered if score * 100 >= minimum * maximum]
    return max(reached)[1] if reached else None


def is_pretest(item: Mapping[str, Any]) -> bool:
    """A pretest item rides along unscored (only items frozen with the flag; older items never are)."""
    return item.get("pretest") is True


def _ability(counted: Sequence[Mapping[str, Any]], scores: Sequence[ItemScore]) -> rasch.Ability | None:
    """The WLE on the items' common scale, when every scored item has a frozen calibration on it."""
    scored = [(item, score) for item, score in zip(counted, scores, strict=True) if not is_pretest(item)]
    calibrations = [item.get("calibration") for item, _ in scored]
    if not scored or not all(isinstance(entry, Mapping) for entry in calibrations):
        return None
    scales = {entry["scale"] for entry in calibrations if entry is not None}
    if len(scales) != 1:
        return None
    results = [int(score.max_score > 0 and score.score == score.max_score) for _, score in scored]
    difficulties = [float(entry["difficulty"]) for entry in calibrations if entry is not None]
    return rasch.wle(results, difficulties, scales.pop())


def grade(
    items: Sequence[Mapping[str, Any]],
    rubric: Mapping[str, Any],
    responses: Sequence[Mapping[str, Any]],
    *,
    voided: Collection[str] = (),
    runs: Mapping[str, TaskResult] | None = None,
) -> Grade:
    """Grade responses against frozen items; raises ResponseError for ungradeable input. `runs` holds
    performance tasks already run (by performance.task_key), so the request path need not run them."""
    mode = rubric.get("multiple_response", "right_minus_wrong")
    if mode not in MULTIPLE_RESPONSE_MODES:
        raise ResponseError(f"unsupported multiple_response scoring {mode!r}")
    if rubric.get("ordering", "all_or_nothing") not in ORDERING_MODES:
        raise ResponseError(f"unsupported ordering scoring {rubric.get('ordering')!r}")
    answers = collect_responses(items, responses)
    counted = [item for item in items if item["id"] not in voided]
    scores = tuple(
        ItemScore(item_id=item["id"], score=Fraction(0), max_score=Fraction(0))
        if is_pretest(item)
        else _scored(item, answers.get(item["id"]), rubric, runs or {})
        for item in counted
    )
    total = sum((item.score for item in scores), Fraction(0))
    maximum = sum((item.max_score for item in scores), Fraction(0))
    pass_percent = Fraction(str(rubric["pass_percent"]))
    passed = maximum > 0 and total * 100 >= pass_percent * maximum
    return Grade(
        score=total,
        max_score=maximum,
        passed=passed,
        items=scores,
        criteria=_criteria_breakdown(
            [item for item in counted if not is_pretest(item)],
            [score for item, score in zip(counted, scores, strict=True) if not is_pretest(item)],
        ),
        mastery=mastery_level(total, maximum, rubric.get("mastery_bands")),
        ability=_ability(counted, scores),
    )
