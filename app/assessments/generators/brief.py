"""Pure: what the LLM generator is asked to write, as one value (a GenerationBrief).

A brief names the skill and level, says what the level means (the level descriptor), lists the competencies
(item criteria) with how many items each should get, and carries a few exemplar items from the bank for that
skill and level, shown without their keys. `bank_blueprint` is the one place that decides the descriptor and
the competency weights: today from the bank pool (each criterion's share of the pool's items), later from the
per-skill-and-level blueprints in the bank data.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from app.assessments import rules
from app.assessments.generators.bank import Skill
from app.grading.performance import PERFORMANCE_TYPES

MAX_EXEMPLARS_PER_TYPE = 2
MAX_EXEMPLAR_CHARS = 360  # per exemplar prompt: exemplars show style and level, they need not be whole
# What a level means when the bank has no descriptor for it (the blueprints will carry one per skill and level).
LEVEL_DESCRIPTORS = {
    "foundation": (
        "Knows the core concepts, terms and routine procedures of the skill and applies them to familiar, "
        "well-defined tasks; recognises the common mistakes a beginner makes."
    ),
    "intermediate": (
        "Applies the skill to non-routine tasks: predicts results, chooses between approaches, explains "
        "trade-offs, and finds and fixes subtle errors that a foundation-level practitioner would miss."
    ),
    "advanced": (
        "Handles edge cases, performance and design trade-offs, and judges others' work in the skill."
    ),
}


def slug(tag: str) -> str:
    """A competency tag as items store it: lowercase words joined by hyphens."""
    return re.sub(r"[^a-z0-9]+", "-", tag.casefold()).strip("-")[:64]


@dataclass(frozen=True)
class Competency:
    """One criterion the generated items measure, its weight and how many items it should get."""

    criterion: str
    weight: float
    target: int


@dataclass(frozen=True)
class Exemplar:
    """A bank item shown to the model as an example of style and level: its stem and options, never its key."""

    id: str
    type: str
    criterion: str
    prompt: str
    options: tuple[str, ...] = ()
    left: tuple[str, ...] = ()
    right: tuple[str, ...] = ()
    full_prompt: str = field(default="", repr=False)  # for the copy check; the model sees the shortened one


@dataclass(frozen=True)
class GenerationBrief:
    """Everything the generator is asked for: skill, level, what the level means, competencies, exemplars."""

    skill_id: str
    skill_name: str
    skill_description: str
    level: str
    item_count: int
    level_descriptor: str = ""
    competencies: tuple[Competency, ...] = ()  # empty: the model chooses its own tags
    exemplars: tuple[Exemplar, ...] = ()
    source: str = "request"  # where the competencies came from: "blueprint", "bank-pool" or "request"

    def __post_init__(self) -> None:
        if self.item_count < 1:
            raise ValueError("item_count must be at least 1")
        if self.competencies and sum(c.target for c in self.competencies) != self.item_count:
            raise ValueError("the competencies' targets must add up to item_count")

    @property
    def criteria(self) -> list[str]:
        return [c.criterion for c in self.competencies]

    def exemplars_for(self, item_type: str) -> list[Exemplar]:
        """Up to two exemplars of that type, else of any type (a prompt always shows some when the bank has any);
        a performance task only its own type's (a choice item shows nothing of a task's shape)."""
        same = [exemplar for exemplar in self.exemplars if exemplar.type == item_type]
        if item_type in PERFORMANCE_TYPES:
            return same[:MAX_EXEMPLARS_PER_TYPE]
        return (same or list(self.exemplars))[:MAX_EXEMPLARS_PER_TYPE]

    def provenance(self) -> dict[str, Any]:
        """What a draft records about its brief: where it came from, the plan and which exemplars were shown."""
        return {
            "source": self.source,
            "level_descriptor": self.level_descriptor,
            "competencies": {c.criterion: c.target for c in self.competencies},
            "exemplars": [exemplar.id for exemplar in self.exemplars],
        }


def plan_counts(weights: Mapping[str, float], count: int) -> dict[str, int]:
    """`count` items spread over the weights by largest remainder (ties: the heavier, then the name)."""
    positive = {name: weight for name, weight in weights.items() if weight > 0}
    if not positive:
        return {}
    total = sum(Fraction(weight) for weight in positive.values())
    exact = {name: Fraction(weight) * count / total for name, weight in positive.items()}
    taken = {name: math.floor(share) for name, share in exact.items()}
    order = sorted(exact, key=lambda name: (-(exact[name] - taken[name]), -positive[name], name))
    for name in order[: count - sum(taken.values())]:
        taken[name] += 1
    return {name: number for name, number in taken.items() if number}


def _primary_criterion(item: Mapping[str, Any]) -> str:
    criteria: Mapping[str, float] = item.get("criteria") or {"general": 1}
    return min(criteria, key=lambda name: (-criteria[name], name))


def bank_blueprint(skill: Skill, level: str) -> tuple[str, dict[str, float], str]:
    """The level descriptor, the competency weights and their source for one skill and level: the bank's
    blueprint for that level when it has one, else each primary criterion's share of the bank items at that
    level and the generic descriptor of the level.
    """
    blueprint = skill.blueprints.get(level)
    if blueprint is not None:
        return blueprint.descriptor, {c.criterion: c.weight for c in blueprint.competencies}, "blueprint"
    pool = [item for item in skill.items if item.get("level") == level]
    counts: dict[str, int] = {}
    for item in pool:
        counts[_primary_criterion(item)] = counts.get(_primary_criterion(item), 0) + 1
    weights = {name: round(number / len(pool), 4) for name, number in sorted(counts.items())} if pool else {}
    return LEVEL_DESCRIPTORS.get(level, ""), weights, "bank-pool"


def _shorten(text: str, limit: int = MAX_EXEMPLAR_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def exemplar_of(item: Mapping[str, Any]) -> Exemplar:
    """A bank item as an exemplar: stem and option texts only (no key, explanation or tolerance)."""
    options = item.get("options") or []
    sides = {
        side: tuple(_shorten(option["text"], 120) for option in options if option.get("side") == side)
        for side in ("left", "right")
    }
    plain = tuple(_shorten(option["text"], 120) for option in options if not option.get("side"))
    return Exemplar(
        id=str(item["id"]), type=str(item["type"]), criterion=_primary_criterion(item),
        prompt=_shorten(str(item["prompt"])), options=plain, left=sides["left"], right=sides["right"],
        full_prompt=str(item["prompt"]),
    )


def _clean(item: Mapping[str, Any]) -> bool:
    """No rule or flaw check objects to the item; a task's reference and wrong answers ran when the bank loaded,
    so they are not run again for every brief (a Python task's run is a sandbox process)."""
    problems, _ = rules.rule_report(dict(item), [], run_tasks=False)
    return not problems and not rules.flaws(dict(item))


def choose_exemplars(
    pool: Sequence[Mapping[str, Any]], item_types: Sequence[str], seed: int, per_type: int = MAX_EXEMPLARS_PER_TYPE
) -> tuple[Exemplar, ...]:
    """Up to `per_type` bank items of each requested type, seeded; only items no rule or flaw check objects to."""
    rng = random.Random(f"{seed}/exemplars")  # noqa: S311 - a reproducible choice, not a secret
    chosen: list[Exemplar] = []
    for item_type in dict.fromkeys(item_types):
        clean = [item for item in pool if item["type"] == item_type and _clean(item)]
        for item in rng.sample(clean, min(per_type, len(clean))):
            chosen.append(exemplar_of(item))
    return tuple(chosen)


def from_bank(
    skill: Skill, level: str, item_count: int, item_types: Sequence[str], seed: int, *, with_exemplars: bool = True
) -> GenerationBrief:
    """The brief for one generation job: blueprint (or bank-pool) competencies planned for `item_count` items.

    `with_exemplars=False` for a private bank: its items would leave the service in every prompt.
    """
    descriptor, weights, source = bank_blueprint(skill, level)
    targets = plan_counts(weights, item_count)
    competencies = tuple(
        Competency(criterion=slug(name), weight=weights[name], target=targets[name])
        for name in sorted(targets, key=lambda name: (-targets[name], name))
    )
    pool = [item for item in skill.items if item.get("level") == level]
    return GenerationBrief(
        skill_id=skill.id, skill_name=skill.name, skill_description=skill.description, level=level,
        item_count=item_count, level_descriptor=descriptor, competencies=competencies,
        exemplars=choose_exemplars(pool, item_types, seed) if with_exemplars else (), source=source,
    )


def from_criteria(
    *, skill_id: str, skill_name: str, skill_description: str, level: str, item_count: int,
    criteria: Sequence[str] = (),
) -> GenerationBrief:
    """A brief without a bank: equal shares of the given criteria, or the model's own tags when there are none."""
    tags = [tag for tag in dict.fromkeys(slug(name) for name in criteria) if tag]
    targets = plan_counts(dict.fromkeys(tags, 1.0), item_count)
    competencies = tuple(
        Competency(criterion=tag, weight=round(1 / len(tags), 4), target=targets[tag]) for tag in tags if tag in targets
    )
    return GenerationBrief(
        skill_id=skill_id, skill_name=skill_name, skill_description=skill_description, level=level,
        item_count=item_count, level_descriptor=LEVEL_DESCRIPTORS.get(level, ""), competencies=competencies,
        source="request",
    )
