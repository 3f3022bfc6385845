"""Checks every item must pass before anyone sees it; each problem is a short named reason."""

from __future__ import annotations

import math
import unicodedata
from typing import Any

ITEM_TYPES = ("single_choice", "multiple_response", "numeric")
CHOICE_TYPES = ("single_choice", "multiple_response")
MAX_PROMPT_CHARS = 2000
MAX_OPTION_CHARS = 300
MIN_OPTIONS, MAX_OPTIONS = 2, 8


def normalise_text(text: str) -> str:
    """NFKC, case-folded, whitespace folded: how options are compared for sameness."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


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
    if kind in CHOICE_TYPES:
        problems += _choice_problems(item)
    else:
        problems += _numeric_problems(item)
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
