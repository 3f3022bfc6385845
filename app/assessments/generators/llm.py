"""The LLM generator: asks an OpenAI-compatible endpoint for items and keeps only the checked ones.

The generator asks for items per type, turns the model's texts and indexes into internal items (the model
never chooses ids), runs the rule checks (app.assessments.rules) and the solver check (solver.py), and
returns only items that pass both; every dropped item is returned with its named reasons. The transport
(retries, breaker, structured output with repair) is llm_client.py's; its names are re-exported here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.assessments import rules
from app.assessments.generators import prompts, solver
from app.assessments.generators.bank import option_id
from app.assessments.generators.llm_client import (
    CircuitBreaker,
    CircuitOpenError,
    LlmClient,
    LlmConfig,
    LlmError,
    LlmOutputError,
    derive_seed,
    public_base_url,
    strict_schema,
)
from app.grading import rubric as grading

__all__ = [
    "CircuitBreaker", "CircuitOpenError", "GenerationResult", "LlmClient", "LlmConfig", "LlmError",
    "LlmGenerator", "LlmOutputError", "derive_seed", "strict_schema", "to_item",
]

ITEM_TYPES = ("single_choice", "multiple_response", "numeric", "short_text", "ordering", "matching")
POINTS = {"single_choice": 1, "multiple_response": 2, "numeric": 1, "short_text": 1, "ordering": 2, "matching": 2}


# -- what the model returns, per item type (strict: no coercion, no extra fields) ------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


Competencies = list[str]


class _Draft(_Strict):
    """What every generated item has."""

    prompt: str = Field(min_length=1)
    explanation: str = Field(min_length=1)
    difficulty: int = Field(ge=1, le=3)
    competencies: Competencies = Field(min_length=1, max_length=3)


class _ChoiceDraft(_Draft):
    options: list[str] = Field(min_length=2, max_length=8)
    correct_option_indexes: list[int]


class SingleChoiceDraft(_ChoiceDraft):
    pass


class MultipleResponseDraft(_ChoiceDraft):
    pass


class NumericDraft(_Draft):
    answer: float
    absolute_tolerance: float = Field(ge=0)
    relative_tolerance: float = Field(ge=0)


class ShortTextDraft(_Draft):
    answer: str = Field(min_length=1)
    accepted_answers: list[str]
    case_sensitive: bool
    pattern: str | None


class OrderingDraft(_Draft):
    options: list[str] = Field(min_length=2, max_length=8)
    correct_order: list[int]


class Pair(_Strict):
    left: int
    right: int


class MatchingDraft(_Draft):
    left: list[str] = Field(min_length=2, max_length=8)
    right: list[str] = Field(min_length=2, max_length=8)
    pairs: list[Pair]


Draft = SingleChoiceDraft | MultipleResponseDraft | NumericDraft | ShortTextDraft | OrderingDraft | MatchingDraft


class SingleChoiceBatch(_Strict):
    items: list[SingleChoiceDraft] = Field(min_length=1)


class MultipleResponseBatch(_Strict):
    items: list[MultipleResponseDraft] = Field(min_length=1)


class NumericBatch(_Strict):
    items: list[NumericDraft] = Field(min_length=1)


class ShortTextBatch(_Strict):
    items: list[ShortTextDraft] = Field(min_length=1)


class OrderingBatch(_Strict):
    items: list[OrderingDraft] = Field(min_length=1)


class MatchingBatch(_Strict):
    items: list[MatchingDraft] = Field(min_length=1)


BATCH_MODELS: dict[str, type[BaseModel]] = {
    "single_choice": SingleChoiceBatch,
    "multiple_response": MultipleResponseBatch,
    "numeric": NumericBatch,
    "short_text": ShortTextBatch,
    "ordering": OrderingBatch,
    "matching": MatchingBatch,
}


# -- from what the model wrote to internal items ---------------------------------------------------------------


def _slug(tag: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", tag.casefold()).strip("-")[:64]


def _number(value: float) -> int | float:
    """4.0 -> 4: whole numbers are stored as integers."""
    if value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


_LABEL = re.compile(r"\(?([A-Za-z]|[1-9])[.)]\s+")


def _unlabelled(texts: Sequence[str]) -> list[str]:
    """Option texts without the "A. " / "1) " labels models like to add (only when they run A, B, C ... or 1, 2 ...)."""
    texts = [text.strip() for text in texts]
    matches = [_LABEL.match(text) for text in texts]
    labels = [match.group(1).upper() if match else "" for match in matches]
    in_sequence = labels in ([chr(ord("A") + n) for n in range(len(texts))], [str(n + 1) for n in range(len(texts))])
    if len(texts) < 2 or not in_sequence:
        return texts
    return [text[match.end() :].strip() if match else text for text, match in zip(texts, matches, strict=True)]


def _side_option(item_id: str, text: str, side: str) -> dict[str, str]:
    """A matching option; the side is part of the id's input so equal texts on both sides get distinct ids."""
    return {"id": option_id(item_id, f"{side}\x1f{text.strip()}"), "text": text.strip(), "side": side}


def to_item(item_type: str, draft: Any, item_id: str) -> tuple[dict[str, Any], list[str]]:
    """The internal item for a model's draft, and the problems found converting it (indexes out of range ...)."""
    problems: list[str] = []
    item: dict[str, Any] = {"id": item_id, "type": item_type, "prompt": draft.prompt.strip()}
    if item_type in ("single_choice", "multiple_response", "ordering"):
        options = [{"id": option_id(item_id, text), "text": text} for text in _unlabelled(draft.options)]
        item["options"] = options
        indexes = draft.correct_order if item_type == "ordering" else draft.correct_option_indexes
        bad = [index for index in indexes if not 0 <= index < len(options)]
        if bad:
            problems.append(f"key_not_an_option: index {bad[0]} is not one of the {len(options)} options")
        keys = [options[index]["id"] for index in indexes if 0 <= index < len(options)]
        if item_type == "single_choice":
            # Exactly one key is stored as an id; anything else stays a list so the key_count rule names it.
            item["answer"] = keys[0] if len(keys) == 1 and not bad else keys
        else:
            item["answer"] = keys
    elif item_type == "matching":
        lefts = [_side_option(item_id, text, "left") for text in _unlabelled(draft.left)]
        rights = [_side_option(item_id, text, "right") for text in _unlabelled(draft.right)]
        item["options"] = lefts + rights
        answer: dict[str, str] = {}
        for pair in draft.pairs:
            if not (0 <= pair.left < len(lefts) and 0 <= pair.right < len(rights)):
                problems.append(f"key_not_an_option: pair ({pair.left}, {pair.right}) names a missing entry")
                break
            left_id = lefts[pair.left]["id"]
            if left_id in answer:
                problems.append(f"key_not_a_matching: left entry {pair.left} is matched more than once")
                break
            answer[left_id] = rights[pair.right]["id"]
        item["answer"] = answer
    elif item_type == "numeric":
        item["answer"] = _number(draft.answer)
        item["tolerance"] = {
            "absolute": _number(draft.absolute_tolerance),
            "relative": _number(draft.relative_tolerance),
        }
    elif item_type == "short_text":
        key = draft.answer.strip()
        accepted: list[str] = []
        seen = {grading.normalise_text(key, case_sensitive=draft.case_sensitive)}
        for text in (text.strip() for text in draft.accepted_answers):
            form = grading.normalise_text(text, case_sensitive=draft.case_sensitive)
            if text and form not in seen:
                seen.add(form)
                accepted.append(text)
        pattern = draft.pattern if draft.pattern and draft.pattern.strip() else None  # "" means none
        item.update(answer=key, accepted_answers=accepted, case_sensitive=draft.case_sensitive, pattern=pattern)
    else:
        raise ValueError(f"unknown item type {item_type!r}")
    item["points"] = POINTS[item_type]
    item["explanation"] = draft.explanation.strip()
    tags = [slug for slug in dict.fromkeys(_slug(tag) for tag in draft.competencies) if slug]
    item["criteria"] = {tag: 1 for tag in tags} or {"general": 1}
    item["difficulty"] = draft.difficulty
    return item, problems


@dataclass
class GenerationResult:
    """Kept items (each passed every check), dropped ones with their reasons, and how they were made."""

    kept: list[dict[str, Any]]
    dropped: list[dict[str, Any]]
    provenance: dict[str, Any]
    notes: list[str] = field(default_factory=list)


class LlmGenerator:
    """Generates items through an LLM and keeps only those that pass the rule and solver checks."""

    name = "llm"

    def __init__(self, config: LlmConfig, client: LlmClient | None = None):
        self.config = config
        self.client = client or LlmClient(config)
        self._owns_client = client is None

    def close(self) -> None:
        if self._owns_client:
            self.client.close()

    def provenance(self, seed: int) -> dict[str, Any]:
        return {
            "generator": "llm",
            "model": self.config.model,
            "prompt_version": prompts.PROMPT_VERSION,
            "solver_prompt_version": prompts.SOLVER_PROMPT_VERSION,
            "temperature": self.config.temperature,
            "seed": seed,
            "base_url": public_base_url(self.config.base_url),
            "solver": {"runs": self.config.solver_runs, "agreement": self.config.solver_agreement},
        }

    def generate(
        self,
        *,
        skill_id: str,
        skill_name: str,
        skill_description: str,
        level: str,
        item_count: int,
        item_types: Sequence[str],
        seed: int,
        existing_prompts: Sequence[str] = (),
        criteria: Sequence[str] = (),
        id_start: int = 1,
    ) -> GenerationResult:
        """Up to `item_count` checked items in at most `max_rounds` rounds; raises LlmError if the endpoint fails."""
        types = list(dict.fromkeys(item_types))
        unknown = [kind for kind in types if kind not in ITEM_TYPES]
        if not types or unknown:
            raise ValueError(f"item_types must name some of {list(ITEM_TYPES)}; unknown: {unknown}")
        if item_count < 1:
            raise ValueError("item_count must be at least 1")
        allowed_tags = [tag for tag in dict.fromkeys(_slug(tag) for tag in criteria) if tag]
        kept: list[dict[str, Any]] = []
        dropped: list[dict[str, Any]] = []
        notes: list[str] = []
        others: list[dict[str, Any]] = [{"prompt": prompt} for prompt in existing_prompts]
        kept_by_type = dict.fromkeys(types, 0)
        active = list(types)
        number = id_start
        for round_index in range(self.config.max_rounds):
            need = item_count - len(kept)
            if need <= 0:
                break
            plan = self._plan(need, active, types, kept_by_type)
            for item_type in [kind for kind in types if plan.get(kind)]:
                wanted = plan[item_type]
                ask = min(self.config.batch_size, wanted + math.ceil(wanted / 2))
                try:
                    drafts = self._ask(
                        item_type, ask, skill_name=skill_name, skill_description=skill_description, level=level,
                        criteria=allowed_tags, avoid=[str(other["prompt"]) for other in others],
                        seed=derive_seed(seed, "items", round_index, item_type),
                    )
                except LlmOutputError as exc:
                    notes.append(f"round {round_index + 1}, {item_type}: {exc.reason}")
                    drafts = []
                taken = 0
                for draft in drafts:
                    if taken >= wanted:
                        break
                    item_id = f"{skill_id}-llm-{number}"
                    item, reasons = to_item(item_type, draft, item_id)
                    if not reasons:
                        reasons = rules.all_problems(item, others)  # an LLM item has no author to judge a flaw: drop it
                    if not reasons:
                        agrees, reason = solver.solver_agrees(
                            self.client, item, runs=self.config.solver_runs,
                            agreement=self.config.solver_agreement, seed=derive_seed(seed, "solver", item["prompt"]),
                        )
                        if not agrees:
                            reasons = [reason or "solver_disagrees"]
                    if reasons:
                        dropped.append({"prompt": item["prompt"], "reasons": reasons})
                        continue
                    kept.append(item)
                    others.append(item)
                    kept_by_type[item_type] += 1
                    taken += 1
                    number += 1
                if taken == 0 and len(active) > 1:
                    active.remove(item_type)
                    notes.append(f"round {round_index + 1}, {item_type}: no item kept; not asked for again")
        for index, item in enumerate(kept):
            # The promise: never an invalid item (the near-duplicate check compares with the other kept items).
            if rules.all_problems(item, kept[:index]):
                raise AssertionError(f"item {item['id']} was kept but fails the rule checks")
        if len(kept) < item_count:
            notes.append(f"kept {len(kept)} of the {item_count} items asked for in {self.config.max_rounds} rounds")
        return GenerationResult(kept=kept, dropped=dropped, provenance=self.provenance(seed), notes=notes)

    @staticmethod
    def _plan(need: int, active: list[str], types: list[str], kept_by_type: dict[str, int]) -> dict[str, int]:
        """Spread the items still needed over the active types, evening out the per-type counts."""
        plan = dict.fromkeys(active, 0)
        for _ in range(need):
            kind = min(active, key=lambda name: (kept_by_type[name] + plan[name], types.index(name)))
            plan[kind] += 1
        return plan

    def _ask(
        self,
        item_type: str,
        count: int,
        *,
        skill_name: str,
        skill_description: str,
        level: str,
        criteria: list[str],
        avoid: list[str],
        seed: int,
    ) -> list[Any]:
        model = BATCH_MODELS[item_type]
        schema = strict_schema(model)
        if criteria:
            item_schema = schema["properties"]["items"]["items"]
            item_schema["properties"]["competencies"]["items"] = {"type": "string", "enum": criteria}

        def check(batch: BaseModel) -> None:
            if criteria:
                for position, draft in enumerate(getattr(batch, "items", [])):
                    unknown = [tag for tag in draft.competencies if _slug(tag) not in criteria]
                    if unknown:
                        raise ValueError(f"items.{position}.competencies: {unknown} are not among {criteria}")

        messages = prompts.generation_messages(
            item_type=item_type, count=count, skill_name=skill_name, skill_description=skill_description,
            level=level, criteria=criteria, avoid_prompts=avoid,
        )
        batch = self.client.complete_json(
            messages, model, name=f"skillproof_items_{item_type}", seed=seed, schema=schema, check=check
        )
        drafts: list[Any] = list(getattr(batch, "items", []))
        return drafts
