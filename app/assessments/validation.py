"""Checks every item must pass before anyone sees it; each problem is a short named reason."""

from __future__ import annotations

import math
import re
from typing import Any

from app.grading.rubric import normalise_text

ITEM_TYPES = ("single_choice", "multiple_response", "numeric", "short_text", "ordering", "matching")
CHOICE_TYPES = ("single_choice", "multiple_response", "ordering", "matching")
MAX_ANSWER_CHARS = 200
MAX_PROMPT_CHARS = 2000
MAX_OPTION_CHARS = 300
MIN_OPTIONS, MAX_OPTIONS = 2, 8


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


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
    if kind in CHOICE_TYPES:
        problems += _choice_problems(item)
    elif kind == "numeric":
        problems += _numeric_problems(item)
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
    return problems


def _short_text_problems(item: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    answer = item.get("answer")
    accepted = item.get("accepted_answers", [])
    if not isinstance(answer, str) or not answer.strip() or len(answer) > MAX_ANSWER_CHARS:
        problems.append("key_missing: a non-empty answer string is required")
    if not isinstance(accepted, list) or not all(isinstance(text, str) and text.strip() for text in accepted):
        problems.append("accepted_answers_invalid")
    if not isinstance(item.get("case_sensitive", False), bool):
        problems.append("case_sensitive_invalid")
    pattern = item.get("pattern")
    if pattern is not None:
        try:
            compiled = re.compile(pattern)
        except (re.error, TypeError):
            problems.append("pattern_invalid: not a regular expression")
        else:
            case_sensitive = item.get("case_sensitive", False) is True
            key = normalise_text(answer, case_sensitive=case_sensitive) if isinstance(answer, str) else ""
            flags = 0 if case_sensitive else re.IGNORECASE
            if re.fullmatch(compiled.pattern, key, flags) is None:
                problems.append("pattern_rejects_key: the pattern does not match the answer")
    return problems


def _choice_problems(item: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    options = item.get("options")
    if not isinstance(options, list) or not (MIN_OPTIONS <= len(options) <= MAX_OPTIONS):
        return [f"options_count: {MIN_OPTIONS} to {MAX_OPTIONS} options are required"]
    texts: list[str] = [
        option["text"] for option in options if isinstance(option, dict) and isinstance(option.get("text"), str)
    ]
    if len(texts) != len(options) or not all(text.strip() for text in texts):
        return ["option_text_missing"]
    if any(len(text) > MAX_OPTION_CHARS for text in texts):
        problems.append(f"option_too_long: over {MAX_OPTION_CHARS} characters")
    normalised = [normalise_text(text) for text in texts]
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
    if not left or not right:
        return ["sides_missing: matching needs left and right options"]
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
        problems.append("key_not_finite_number")
    tolerance = item.get("tolerance")
    if not isinstance(tolerance, dict) or "absolute" not in tolerance:
        problems.append("tolerance_missing")
    else:
        for name in ("absolute", "relative"):
            value = tolerance.get(name, 0)
            if not _is_number(value) or value < 0:
                problems.append(f"tolerance_invalid: {name} must be a finite number >= 0")
    return problems
