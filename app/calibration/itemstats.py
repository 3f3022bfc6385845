"""Item statistics across assessments, from first attempts: pure functions over frozen items and responses.

Per item (by its id, which a bank item keeps in every draft): responses, facility (share right, right = full
marks), mean score share, the corrected point-biserial (the item's right/wrong against the rest score: the
attempt's other scored items, so the item does not correlate with itself), and for choice items every option's
choice rate, its upper/lower-group rates (top and bottom 27% by rest score, Kelley) and its point-biserial.
A distractor with positive discrimination draws stronger candidates than weaker ones: a second key or a trap.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from app.grading import rubric as grading

CHOICE_TYPES = ("single_choice", "multiple_response")
GROUP_SHARE = 0.27  # Kelley's upper and lower 27%
MIN_FOR_CORRELATION = 3


@dataclass(frozen=True)
class FirstAttempt:
    """One graded first attempt: who, when, on what scale, the items it drew and the answers given."""

    learner_id: str
    started_at: dt.datetime
    skill: str
    level: str
    items: Sequence[Mapping[str, Any]]
    answers: Mapping[str, object]
    rubric: Mapping[str, Any]
    voided: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Observation:
    """One person's result on one item, with the rest score and the options chosen."""

    learner_id: str
    right: int
    share: float
    rest: float
    chosen: frozenset[str] | None  # None: not a choice item or not answered


@dataclass(frozen=True)
class OptionStatistics:
    option_id: str
    text: str
    key: bool
    chosen: float
    upper: float | None
    lower: float | None
    discrimination: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "option_id": self.option_id, "text": self.text, "key": self.key, "chosen": self.chosen,
            "upper": self.upper, "lower": self.lower, "discrimination": self.discrimination,
        }


@dataclass(frozen=True)
class BankItemStatistics:
    item_id: str
    skill: str
    level: str
    type: str
    responses: int
    facility: float | None
    mean_score: float | None
    discrimination: float | None
    omitted: float | None
    options: tuple[OptionStatistics, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id, "skill": self.skill, "level": self.level, "type": self.type,
            "responses": self.responses, "facility": self.facility, "mean_score": self.mean_score,
            "discrimination": self.discrimination, "omitted": self.omitted,
            "options": [option.to_json() for option in self.options],
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Pearson's r (the point-biserial when xs are 0/1); None when either side does not vary."""
    n = len(xs)
    if n < MIN_FOR_CORRELATION:
        return None
    mean_x, mean_y = math.fsum(xs) / n, math.fsum(ys) / n
    sxx = math.fsum((x - mean_x) ** 2 for x in xs)
    syy = math.fsum((y - mean_y) ** 2 for y in ys)
    if sxx <= 1e-12 or syy <= 1e-12:
        return None
    sxy = math.fsum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    return sxy / math.sqrt(sxx * syy)


def _chosen(item: Mapping[str, Any], answer: object) -> frozenset[str] | None:
    if item["type"] not in CHOICE_TYPES or answer is None:
        return None
    return frozenset([answer] if isinstance(answer, str) else answer if isinstance(answer, list) else [])


def observations(
    attempts: Iterable[FirstAttempt],
) -> dict[str, tuple[Mapping[str, Any], FirstAttempt, list[Observation]]]:
    """Item id -> (the item as last frozen, an attempt that showed it, its observations).

    A learner counts once per item: their earliest first attempt that showed it (a learner who meets a bank
    item again in another assessment has seen it before).
    """
    found: dict[str, tuple[Mapping[str, Any], FirstAttempt, list[Observation]]] = {}
    seen: set[tuple[str, str]] = set()
    for attempt in sorted(attempts, key=lambda attempt: (attempt.started_at, attempt.learner_id)):
        counted = [item for item in attempt.items if item["id"] not in attempt.voided]
        results: dict[str, tuple[Fraction, Fraction]] = {}
        for item in counted:
            points = Fraction(item["points"])
            earned = grading.score_item(item, attempt.answers.get(item["id"]), attempt.rubric)
            results[item["id"]] = (earned, points)
        scored = [item["id"] for item in counted if not grading.is_pretest(item)]
        total = sum((results[item_id][0] for item_id in scored), Fraction(0))
        maximum = sum((results[item_id][1] for item_id in scored), Fraction(0))
        for item in counted:
            if (attempt.learner_id, item["id"]) in seen:
                continue
            seen.add((attempt.learner_id, item["id"]))
            earned, points = results[item["id"]]
            own_counts = not grading.is_pretest(item)
            rest_score = total - earned if own_counts else total
            rest_max = maximum - points if own_counts else maximum
            entry = found.setdefault(item["id"], (item, attempt, []))
            found[item["id"]] = (item, attempt, entry[2])
            entry[2].append(Observation(
                learner_id=attempt.learner_id,
                right=int(earned == points),
                share=float(earned / points),
                rest=float(rest_score / rest_max) if rest_max else 0.0,
                chosen=_chosen(item, attempt.answers.get(item["id"])),
            ))
    return found


def _group(observed: Sequence[Observation], size: int, *, top: bool) -> list[tuple[Observation, float]]:
    """The `size` highest (top) or lowest rest scores, each with its weight: candidates tied at the group's
    boundary share the places left, so the group does not depend on the order of tied candidates (their
    learner ids, random UUIDs, used to decide who was in it)."""
    if size <= 0:
        return []
    ranked = sorted((obs.rest for obs in observed), reverse=top)
    boundary = ranked[size - 1]
    inside = [obs for obs in observed if (obs.rest > boundary if top else obs.rest < boundary)]
    tied = [obs for obs in observed if obs.rest == boundary]
    share = (size - len(inside)) / len(tied)
    return [(obs, 1.0) for obs in inside] + [(obs, share) for obs in tied]


def _share_choosing(group: Sequence[tuple[Observation, float]], option_id: str) -> float:
    return sum(weight for obs, weight in group if obs.chosen is not None and option_id in obs.chosen)


def _option_statistics(item: Mapping[str, Any], observed: Sequence[Observation]) -> tuple[OptionStatistics, ...]:
    keys = {item["answer"]} if item["type"] == "single_choice" else set(item["answer"])
    group = max(1, round(len(observed) * GROUP_SHARE)) if len(observed) >= 2 * MIN_FOR_CORRELATION else 0
    lower, upper = _group(observed, group, top=False), _group(observed, group, top=True)
    rests = [obs.rest for obs in observed]
    options = []
    for option in item.get("options", []):
        picks = [1.0 if obs.chosen is not None and option["id"] in obs.chosen else 0.0 for obs in observed]
        options.append(OptionStatistics(
            option_id=option["id"],
            text=option["text"],
            key=option["id"] in keys,
            chosen=round(sum(picks) / len(picks), 4),
            upper=_round(_share_choosing(upper, option["id"]) / group) if group else None,
            lower=_round(_share_choosing(lower, option["id"]) / group) if group else None,
            discrimination=_round(pearson(picks, rests)),
        ))
    return tuple(options)


def item_bank_statistics(attempts: Iterable[FirstAttempt]) -> list[BankItemStatistics]:
    """Statistics for every item the attempts showed, sorted by skill, level and item id."""
    results = []
    for item_id, (item, attempt, observed) in observations(attempts).items():
        n = len(observed)
        results.append(BankItemStatistics(
            item_id=item_id,
            skill=attempt.skill,
            level=attempt.level,
            type=item["type"],
            responses=n,
            facility=_round(sum(obs.right for obs in observed) / n),
            mean_score=_round(math.fsum(obs.share for obs in observed) / n),
            discrimination=_round(pearson([float(obs.right) for obs in observed], [obs.rest for obs in observed])),
            omitted=_round(sum(obs.chosen is None for obs in observed) / n) if item["type"] in CHOICE_TYPES else None,
            options=_option_statistics(item, observed) if item["type"] in CHOICE_TYPES else (),
        ))
    return sorted(results, key=lambda stats: (stats.skill, stats.level, stats.item_id))


@dataclass(frozen=True)
class QuarantineBounds:
    min_responses: int = 200
    facility_min: float = 0.2
    facility_max: float = 0.95
    discrimination_min: float = 0.1
    # A distractor's point-biserial above this (noise on 200 responses is about +-0.07 at one SE) is a flag.
    distractor_discrimination_max: float = 0.05


def quarantine_reasons(stats: BankItemStatistics, bounds: QuarantineBounds) -> list[str]:
    """Why an item should leave the draws for review; empty when it is within bounds or has too few responses."""
    if stats.responses < bounds.min_responses:
        return []
    reasons = []
    if stats.facility is not None and not bounds.facility_min <= stats.facility <= bounds.facility_max:
        reasons.append(
            f"facility {stats.facility} outside [{bounds.facility_min}, {bounds.facility_max}]"
        )
    if stats.discrimination is None or stats.discrimination < bounds.discrimination_min:
        reasons.append(f"corrected point-biserial {stats.discrimination} below {bounds.discrimination_min}")
    key_upper = [option.upper for option in stats.options if option.key and option.upper is not None]
    for option in stats.options:
        if option.key:
            continue
        if option.discrimination is not None and option.discrimination > bounds.distractor_discrimination_max:
            reasons.append(f"distractor {option.option_id} ({option.text!r}) has positive discrimination "
                           f"{option.discrimination}")
        elif key_upper and option.upper is not None and option.upper > min(key_upper):
            reasons.append(f"distractor {option.option_id} ({option.text!r}) is chosen by {option.upper} of the "
                           f"upper group, more than the key ({min(key_upper)})")
    return reasons
