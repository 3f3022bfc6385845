"""The solver check: an LLM answers the item without its key (options shuffled); it is kept only on agreement.
For a performance task it writes a solution from the learner's view, which is run as a learner's would be.
And the options-only test: the same solver, shown the options but not the stem, must not find the key.

Run them only on items that pass app.assessments.rules.rule_problems. "Agreement" means the grader gives the
solver's answer full marks, so the same rubric that grades learners judges the solver. Single-answer items
(single_choice, numeric, short_text) need every run to agree (`required_agreement`); the others the
configured k of n.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from pydantic import BaseModel, ConfigDict

from app.assessments import freeze
from app.assessments.generators import prompts
from app.grading import rubric as grading
from app.grading.performance import PERFORMANCE_TYPES
from app.llm.client import LlmClient, LlmOutputError, derive_seed
from app.llm.structured import strict_schema


class _SolverAnswer(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


class SolverChoice(_SolverAnswer):
    reasoning: str
    choice: str


class SolverChoices(_SolverAnswer):
    reasoning: str
    choices: list[str]


class SolverNumber(_SolverAnswer):
    reasoning: str
    answer: float


class SolverText(_SolverAnswer):
    reasoning: str
    answer: str


class SolverOrder(_SolverAnswer):
    reasoning: str
    order: list[str]


class SolverPair(_SolverAnswer):
    left: int
    right: str


class SolverPairs(_SolverAnswer):
    reasoning: str
    pairs: list[SolverPair]


class SolverQuery(_SolverAnswer):
    reasoning: str
    query: str


class SolverCode(_SolverAnswer):
    reasoning: str
    code: str


LETTERS = "ABCDEFGHIJKLMNOP"


@dataclass
class _Question:
    """One way of putting the item to the solver (labels shuffled), and how to read its answer back."""

    messages: list[dict[str, str]]
    model: type[BaseModel]
    schema: dict[str, Any]
    check: Callable[[Any], None]
    response: Callable[[Any], tuple[object, str]]  # the answer as a learner would submit it, and as text


def _letters_check(field: str, labels: list[str], *, every: bool = False) -> Callable[[Any], None]:
    def check(answer: Any) -> None:
        value = getattr(answer, field)
        chosen = [value] if isinstance(value, str) else list(value)
        unknown = [label for label in chosen if label not in labels]
        if unknown:
            raise ValueError(f'"{field}" holds {unknown}, which are not among the letters {labels}')
        if every and sorted(chosen) != sorted(labels):
            raise ValueError(f'"{field}" must list every letter {labels} exactly once')

    return check


def _no_check(answer: Any) -> None:
    return None


_FENCE = re.compile(r"\A```[A-Za-z0-9_+-]*[ \t]*\n(?P<inner>.*?)\n?```\Z", re.S)


def unfenced(code: str) -> str:
    """Code without the Markdown fence models like to put around it."""
    text = code.strip()
    fenced = _FENCE.match(text)
    return fenced.group("inner").strip() if fenced else text


def full_marks(item: dict[str, Any], response: object) -> bool:
    """Whether the grader gives this response every point: the solver's answer 'matches the key'."""
    # The item is not frozen yet: it will be graded under the current rubric version.
    current = {"version": grading.RUBRIC_VERSION}
    return grading.score_item(item, response, current) == Fraction(item["points"])


def _pose(item: dict[str, Any], rng: random.Random) -> _Question:
    kind = item["type"]
    prompt = item["prompt"]
    if kind in ("single_choice", "multiple_response", "ordering"):
        options = list(item["options"])
        rng.shuffle(options)
        labels = list(LETTERS[: len(options)])
        by_label = dict(zip(labels, options, strict=True))
        messages = prompts.solver_messages(
            item_type=kind, prompt=prompt, options=[(label, by_label[label]["text"]) for label in labels]
        )
        if kind == "single_choice":
            schema = strict_schema(SolverChoice)
            schema["properties"]["choice"]["enum"] = labels

            def one(answer: Any) -> tuple[object, str]:
                return by_label[answer.choice]["id"], by_label[answer.choice]["text"]

            return _Question(messages, SolverChoice, schema, _letters_check("choice", labels), one)
        if kind == "multiple_response":
            schema = strict_schema(SolverChoices)
            schema["properties"]["choices"]["items"]["enum"] = labels

            def many(answer: Any) -> tuple[object, str]:
                chosen = [by_label[label] for label in dict.fromkeys(answer.choices)]
                return [option["id"] for option in chosen], " | ".join(option["text"] for option in chosen)

            return _Question(messages, SolverChoices, schema, _letters_check("choices", labels), many)
        schema = strict_schema(SolverOrder)
        schema["properties"]["order"]["items"]["enum"] = labels

        def order(answer: Any) -> tuple[object, str]:
            chosen = [by_label[label] for label in answer.order]
            return [option["id"] for option in chosen], " > ".join(option["text"] for option in chosen)

        return _Question(messages, SolverOrder, schema, _letters_check("order", labels, every=True), order)
    if kind == "matching":
        lefts = [option for option in item["options"] if option.get("side") == "left"]
        rights = [option for option in item["options"] if option.get("side") == "right"]
        rng.shuffle(lefts)
        rng.shuffle(rights)
        numbers = list(range(1, len(lefts) + 1))
        right_labels = list(LETTERS[: len(rights)])
        left_of = dict(zip(numbers, lefts, strict=True))
        right_of = dict(zip(right_labels, rights, strict=True))
        messages = prompts.solver_messages(
            item_type=kind, prompt=prompt,
            left=[(str(number), left_of[number]["text"]) for number in numbers],
            right=[(label, right_of[label]["text"]) for label in right_labels],
        )
        schema = strict_schema(SolverPairs)
        schema["properties"]["pairs"]["items"]["properties"]["right"]["enum"] = right_labels

        def check_pairs(answer: Any) -> None:
            if sorted(pair.left for pair in answer.pairs) != numbers:
                raise ValueError(f'"pairs" must hold exactly one pair for each left number {numbers}')
            unknown = [pair.right for pair in answer.pairs if pair.right not in right_labels]
            if unknown:
                raise ValueError(f'"right" holds {unknown}, which are not among the letters {right_labels}')

        def pairs(answer: Any) -> tuple[object, str]:
            mapping = {left_of[pair.left]["id"]: right_of[pair.right]["id"] for pair in answer.pairs}
            text = "; ".join(f"{left_of[pair.left]['text']} -> {right_of[pair.right]['text']}" for pair in answer.pairs)
            return mapping, text

        return _Question(messages, SolverPairs, schema, check_pairs, pairs)
    if kind in PERFORMANCE_TYPES:
        # The solver writes a solution from what a learner sees (never the reference, variants or hidden tests);
        # full_marks then runs it as it would run a learner's.
        messages = prompts.task_solver_messages(item_type=kind, view=freeze.learner_item(item))
        output: type[SolverQuery | SolverCode] = SolverQuery if kind == "sql_query" else SolverCode

        def solution(answer: Any) -> tuple[object, str]:
            source = unfenced(answer.query if kind == "sql_query" else answer.code)
            return (source if kind == "sql_query" else source + "\n"), source

        return _Question(messages, output, strict_schema(output), _no_check, solution)
    messages = prompts.solver_messages(item_type=kind, prompt=prompt)
    if kind == "numeric":

        def number(answer: Any) -> tuple[object, str]:
            value = answer.answer
            return (int(value) if value.is_integer() and abs(value) < 2**53 else value), f"{value:g}"

        return _Question(messages, SolverNumber, strict_schema(SolverNumber), _no_check, number)
    if kind == "short_text":

        def text(answer: Any) -> tuple[object, str]:
            return answer.answer, answer.answer

        return _Question(messages, SolverText, strict_schema(SolverText), _no_check, text)
    raise ValueError(f"the solver cannot answer items of type {kind!r}")


def _shorten(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def solver_agrees(
    client: LlmClient, item: dict[str, Any], *, runs: int, agreement: int, seed: int
) -> tuple[bool, str | None]:
    """Ask a solver (without the key, options shuffled) up to `runs` times; keep the item if `agreement` agree.

    Call it only for items that pass rules.rule_problems. Transport failures raise LlmError; an answer that never
    validates counts as a disagreeing one.
    """
    if not 1 <= agreement <= runs:
        raise ValueError("agreement must be between 1 and runs")
    matched = asked = 0
    others: Counter[str] = Counter()
    for run in range(runs):
        run_seed = derive_seed(seed, "solver-run", run)
        question = _pose(item, random.Random(run_seed))  # noqa: S311 - a reproducible shuffle, not a secret
        try:
            answer = client.complete_json(
                question.messages, question.model, name=f"skillproof_solver_{item['type']}",
                seed=run_seed, schema=question.schema, check=question.check,
            )
        except LlmOutputError:
            correct, label = False, "(no valid answer)"
        else:
            response, label = question.response(answer)
            correct = full_marks(item, response)
        asked += 1
        if correct:
            matched += 1
        else:
            others[label] += 1
        if matched >= agreement:
            return True, None
        if matched + (runs - asked) < agreement:
            break
    answered = others.most_common(1)[0][0] if others else ""
    return False, (
        f"solver_disagrees: {matched} of {asked} solver answers matched the key ({agreement} needed); "
        f"the solver answered {_shorten(answered)!r}"
    )


# Single-answer items: one defensible answer, so every solver run must find it (any miss drops the item).
UNANIMOUS_TYPES = frozenset({"single_choice", "numeric", "short_text"})
# The options-only test: the key found from the options alone in all of these runs is beyond chance (for four
# options, 1 in 64 by guessing), so the options cue it.
OPTIONS_ONLY_TYPES = frozenset({"single_choice", "multiple_response"})
OPTIONS_ONLY_RUNS = 3


def required_agreement(item_type: str, runs: int, agreement: int) -> int:
    """How many of `runs` solver answers must earn full marks: all of them for single-answer items."""
    return runs if item_type in UNANIMOUS_TYPES else agreement


def cued_by_options(client: LlmClient, item: dict[str, Any], *, seed: int, runs: int = OPTIONS_ONLY_RUNS) -> str | None:
    """The options-only test: the solver answers with the stem hidden; the reason when it still finds the key
    in every run (the item is cued), else None. Only for single_choice and multiple_response items."""
    kind = item["type"]
    if kind not in OPTIONS_ONLY_TYPES:
        return None
    for run in range(runs):
        run_seed = derive_seed(seed, "options-only-run", run)
        options = list(item["options"])
        random.Random(run_seed).shuffle(options)  # noqa: S311 - a reproducible shuffle, not a secret
        labels = list(LETTERS[: len(options)])
        by_label = dict(zip(labels, options, strict=True))
        messages = prompts.options_only_messages(
            item_type=kind, options=[(label, by_label[label]["text"]) for label in labels]
        )
        output: type[BaseModel] = SolverChoice if kind == "single_choice" else SolverChoices
        field_name = "choice" if kind == "single_choice" else "choices"
        schema = strict_schema(output)
        if kind == "single_choice":
            schema["properties"]["choice"]["enum"] = labels
        else:
            schema["properties"]["choices"]["items"]["enum"] = labels
        try:
            answer = client.complete_json(
                messages, output, name=f"skillproof_options_only_{kind}", seed=run_seed, schema=schema,
                check=_letters_check(field_name, labels),
            )
        except LlmOutputError:
            return None  # no usable guess: not evidence of a cue
        chosen = getattr(answer, field_name)
        response: object = (
            by_label[chosen]["id"] if isinstance(chosen, str)
            else [by_label[label]["id"] for label in dict.fromkeys(chosen)]
        )
        if not full_marks(item, response):
            return None
    return (f"options_cue: with the question hidden, the solver found the key from the options alone in {runs} "
            f"of {runs} runs")
