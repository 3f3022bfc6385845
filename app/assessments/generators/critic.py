"""The critic pass: a separate call reviews the item with its key, lists every defensible option and the
item-writing flaws it sees.

Run it on items that pass the rule checks, with the solver's client (a different model can judge). What
it finds splits in two. Findings that change what the score means drop the item, each a named reason: an
option other than the key defended (`critic_ambiguous`), the key not defended (`critic_disputes_key`), a
correct short answer the grader would refuse (`critic_unaccepted_answer`), and the flaws
more_than_one_defensible_answer, key_is_wrong, answer_given_away and needs_outside_context. Style flaws
(negative stem, unclear, vague or absolute wording, an implausible distractor, off level) are recorded on
the item as `review_warnings` for the human reviewer: the heuristic flaw checks already drop what they can
see, a model critic over-reports style, and a review must approve every LLM item before it is published.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from app.assessments.generators import prompts
from app.assessments.generators.llm_client import LlmClient, LlmOutputError, derive_seed, strict_schema
from app.assessments.generators.solver import LETTERS, full_marks

FlawName = Literal[
    "more_than_one_defensible_answer", "key_is_wrong", "answer_given_away", "needs_outside_context",
    "negative_stem", "unclear_wording", "vague_or_absolute_wording", "implausible_distractor", "off_level",
]
BLOCKING_FLAWS = frozenset({
    "more_than_one_defensible_answer", "key_is_wrong", "answer_given_away", "needs_outside_context",
})


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


class CriticFlaw(_Strict):
    flaw: FlawName
    detail: str


class ChoiceCritique(_Strict):
    reasoning: str
    defensible: list[str]
    flaws: list[CriticFlaw]


class TextCritique(_Strict):
    reasoning: str
    other_correct_answers: list[str]
    flaws: list[CriticFlaw]


class Critique(_Strict):
    reasoning: str
    flaws: list[CriticFlaw]


@dataclass
class Verdict:
    """Why the item is dropped (empty: it passed) and what the reviewer should look at."""

    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _text(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[: limit - 1] + "…")


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def critique(client: LlmClient, item: dict[str, Any], *, seed: int, level: str = "") -> Verdict:
    """Ask the critic about one item; LlmError propagates for transport failures."""
    kind = item["type"]
    rng = random.Random(derive_seed(seed, "critic-order"))  # noqa: S311 - a reproducible shuffle, not a secret
    by_label: dict[str, dict[str, Any]] = {}
    left: list[tuple[str, str]] = []
    right: list[tuple[str, str]] = []
    if kind in ("single_choice", "multiple_response", "ordering"):
        options = list(item["options"])
        rng.shuffle(options)
        by_label = dict(zip(LETTERS, options, strict=False))
        label_of = {option["id"]: label for label, option in by_label.items()}
        key_ids = [item["answer"]] if kind == "single_choice" else list(item["answer"])
        key = (" > " if kind == "ordering" else ", ").join(label_of[key_id] for key_id in key_ids)
    elif kind == "matching":
        lefts = [option for option in item["options"] if option.get("side") == "left"]
        rights = [option for option in item["options"] if option.get("side") == "right"]
        rng.shuffle(rights)
        left_label = {option["id"]: str(number) for number, option in enumerate(lefts, start=1)}
        right_label = {option["id"]: letter for letter, option in zip(LETTERS, rights, strict=False)}
        left = [(left_label[option["id"]], option["text"]) for option in lefts]
        right = [(right_label[option["id"]], option["text"]) for option in rights]
        key = ", ".join(f"{left_label[a]}-{right_label[b]}" for a, b in item["answer"].items())
    elif kind == "numeric":
        tolerance = item.get("tolerance") or {}
        key = _number(item["answer"])
        if tolerance.get("absolute") or tolerance.get("relative"):
            absolute, relative = _number(tolerance.get("absolute", 0)), _number(tolerance.get("relative", 0))
            key += f" (tolerance: ±{absolute}, relative {relative})"
        if item.get("computation"):
            key += f"; computed as {item['computation']}"
    else:
        key = str(item["answer"])
        if item.get("accepted_answers"):
            key += "; also accepted: " + ", ".join(item["accepted_answers"])
    output: type[BaseModel] = (
        ChoiceCritique if kind in ("single_choice", "multiple_response") else TextCritique if kind == "short_text"
        else Critique
    )
    schema = strict_schema(output)
    if output is ChoiceCritique:
        schema["properties"]["defensible"]["items"]["enum"] = list(by_label)

    def check(answer: Any) -> None:
        unknown = [label for label in getattr(answer, "defensible", []) if label not in by_label]
        if unknown:
            raise ValueError(f'"defensible" holds {unknown}, which are not among the letters {list(by_label)}')

    messages = prompts.critic_messages(
        item_type=kind, prompt=item["prompt"], key=key, level=level,
        options=[(label, option["text"]) for label, option in by_label.items()], left=left, right=right,
    )
    try:
        answer = client.complete_json(
            messages, output, name=f"skillproof_critic_{kind}", seed=derive_seed(seed, "critic"), schema=schema,
            check=check,
        )
    except LlmOutputError as exc:
        return Verdict(reasons=[f"critic_no_valid_answer: {exc.reason}"])
    verdict = Verdict()
    if isinstance(answer, ChoiceCritique):
        keys: set[str] = {item["answer"]} if kind == "single_choice" else set(item["answer"])
        defended = {by_label[label]["id"] for label in answer.defensible}
        texts = {option["id"]: option["text"] for option in item["options"]}
        for key_id in sorted(keys - defended, key=list(texts).index):
            verdict.reasons.append(f"critic_disputes_key: the critic does not defend the key {_text(texts[key_id])}")
        for other in sorted(defended - keys, key=list(texts).index):
            verdict.reasons.append(f"critic_ambiguous: the critic also defends {_text(texts[other])}")
    if isinstance(answer, TextCritique):
        for other_answer in dict.fromkeys(text.strip() for text in answer.other_correct_answers if text.strip()):
            if not full_marks(item, other_answer):
                verdict.reasons.append(
                    f"critic_unaccepted_answer: {_text(other_answer)} is also correct but not accepted"
                )
    for flaw in answer.flaws:  # type: ignore[attr-defined]
        detail = " ".join(flaw.detail.split())[:200]
        if flaw.flaw in BLOCKING_FLAWS:
            verdict.reasons.append(f"critic_{flaw.flaw}: {detail}")
        else:
            verdict.warnings.append(f"critic: {flaw.flaw}: {detail}")
    return verdict
