"""Decision precision of an assessment design at its pass mark: a pure function of the design, no I/O.

The model (Lord & Novick 1968, ch. 23, the binomial error model; Subkoviak 1976, JEM 13:265-276; Huynh 1976,
JEM 13:253-264): a candidate's true domain score pi is the share of the points they would earn over the whole
item domain (here: the assessment's pool). Items of one attempt are scored independently given pi.
- Items of equal facility: item i is earned whole with probability pi. With equal points this is the
  binomial model; with unequal points the attempt's score is a compound (weighted) binomial, computed
  exactly by convolving one binomial per point value (no normal approximation).
- Items with known statistics: a Rasch difficulty b_i per item (a calibration, or a facility f_i turned into
  b_i = ln((1 - f_i) / f_i)); a candidate at pi has the ability theta at which the pool's expected score share
  is pi, and earns item i with probability 1 / (1 + exp(b_i - theta)); the score distribution is the compound
  binomial of those probabilities (Lord & Wingersky 1984, Applied Psych. Measurement 8:453-461, recursion).
- Partial credit is modelled as all-or-nothing: of all scores in [0, 1] with mean p, the 0/1 one has the
  largest variance, so the figures err on the side of refusing a design (Livingston & Lewis 1995, JEM
  32:179-197, reach polytomous and weighted scores through an effective test length estimated from data;
  statistics.reliability gives that length once first attempts exist).
- Pools: an attempt draws some of the pool's items; P(pass) is averaged over the forms the draw produces
  (the caller passes forms from the real draw, seeded), so unequal forms count.
Decision consistency (Subkoviak's agreement coefficient; Hanson & Brennan 1990, JEM 27:345-359): two
independent attempts at the same true score agree with probability P^2 + (1 - P)^2, P = P(pass | pi);
integrated over a stated reference distribution of true scores: normal around the pass mark, standard
deviation REFERENCE_SD_POINTS, truncated to [0, 100], on a 1-point grid.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

REFERENCE_SD_POINTS = 15.0
MAX_ATTEMPT_ITEMS = 100  # the longest attempt a design may ask for (AssessmentCreate.attempt_item_count)
_BISECTION_STEPS = 60


@dataclass(frozen=True)
class Item:
    """One item as the model sees it: its points and, when known, its Rasch difficulty (logits)."""

    item_id: str
    points: int
    difficulty: float | None = None


@dataclass(frozen=True)
class Design:
    """An assessment design: its pool, the forms one attempt can draw (item ids), and the pass mark (percent)."""

    pool: tuple[Item, ...]
    forms: tuple[tuple[str, ...], ...]
    pass_percent: float

    @property
    def calibrated(self) -> bool:
        return any(item.difficulty is not None for item in self.pool)


@dataclass(frozen=True)
class Precision:
    """What the design's pass means: the error rates 15 points either side of the mark and the consistency."""

    attempt_length: int
    pass_percent: float
    margin_points: float
    pass_below_cut: float  # P(pass) at true domain score = pass mark - margin
    fail_above_cut: float  # P(fail) at true domain score = pass mark + margin
    decision_consistency: float  # P(two attempts classify alike) over the reference distribution
    max_pass_below_cut: float
    minimum_attempt_length: int | None  # None: not reached within MAX_ATTEMPT_ITEMS
    item_model: str  # "equal_facility" or "item_difficulties"
    forms: int

    @property
    def meets_rule(self) -> bool:
        return self.pass_below_cut <= self.max_pass_below_cut

    def to_json(self) -> dict[str, Any]:
        """The stored and shown form: probabilities rounded to 4 decimals."""
        return {
            "attempt_length": self.attempt_length,
            "pass_percent": self.pass_percent,
            "margin_points": self.margin_points,
            "pass_below_cut": round(self.pass_below_cut, 4),
            "fail_above_cut": round(self.fail_above_cut, 4),
            "decision_consistency": round(self.decision_consistency, 4),
            "reference_distribution": (
                f"true scores normal around the pass mark, SD {REFERENCE_SD_POINTS:g} points, within 0-100"
            ),
            "max_pass_below_cut": self.max_pass_below_cut,
            "meets_rule": self.meets_rule,
            "minimum_attempt_length": self.minimum_attempt_length,
            "item_model": self.item_model,
            "method": "compound binomial (Lord & Novick 1968; Subkoviak 1976), partial credit as all-or-nothing",
            "forms": self.forms,
        }


def facility_difficulty(facility: float) -> float:
    """A Rasch difficulty (logits) from a facility (share correct), for a population of mean ability 0."""
    share = min(max(facility, 1e-4), 1 - 1e-4)
    return math.log((1 - share) / share)


def success_probability(theta: float, difficulty: float) -> float:
    """Rasch: P(item earned | ability theta)."""
    return 1.0 / (1.0 + math.exp(difficulty - theta))


def pass_threshold(max_points: int, pass_percent: float) -> int:
    """The least whole score that passes: score x 100 >= pass_percent x max (exact, as grading decides)."""
    return math.ceil(Fraction(str(pass_percent)) * max_points / 100)


def _binomial(count: int, probability: float) -> list[float]:
    return [math.comb(count, k) * probability**k * (1 - probability) ** (count - k) for k in range(count + 1)]


def _convolve(left: list[float], right: list[float]) -> list[float]:
    out = [0.0] * (len(left) + len(right) - 1)
    for i, a in enumerate(left):
        if a:
            for j, b in enumerate(right):
                out[i + j] += a * b
    return out


def score_distribution(points: Sequence[int], probabilities: Sequence[float]) -> list[float]:
    """P(total = s) for s = 0..sum(points), items earned whole and independently with the given probabilities.

    Items sharing points and probability form one binomial; the binomials are convolved (exact)."""
    groups: dict[tuple[int, float], int] = {}
    for weight, probability in zip(points, probabilities, strict=True):
        groups[(weight, probability)] = groups.get((weight, probability), 0) + 1
    distribution = [1.0]
    for (weight, probability), count in sorted(groups.items()):
        spread = [0.0] * (weight * count + 1)
        for k, mass in enumerate(_binomial(count, probability)):
            spread[k * weight] = mass
        distribution = _convolve(distribution, spread)
    return distribution


def pass_probability(points: Sequence[int], probabilities: Sequence[float], pass_percent: float) -> float:
    """P(pass) of one attempt whose items have these points and success probabilities (the calibration seam)."""
    distribution = score_distribution(points, probabilities)
    return min(1.0, sum(distribution[pass_threshold(sum(points), pass_percent):]))


def simulate_pass_rate(
    points: Sequence[int], probabilities: Sequence[float], pass_percent: float, *, runs: int, seed: int
) -> float:
    """The same probability by seeded simulation (a check on the closed form)."""
    rng = random.Random(seed)  # noqa: S311 - reproducible simulation, not a secret
    threshold = pass_threshold(sum(points), pass_percent)
    passes = 0
    for _ in range(runs):
        score = sum(weight for weight, p in zip(points, probabilities, strict=True) if rng.random() < p)
        passes += score >= threshold
    return passes / runs


def ability_for(pool: Sequence[Item], domain_score: float) -> float:
    """The ability at which the pool's expected share of points is `domain_score` (bisection in logits)."""
    difficulties = _difficulties(pool)
    total = sum(item.points for item in pool)

    def share(theta: float) -> float:
        return sum(item.points * success_probability(theta, b) for item, b in zip(pool, difficulties,
                                                                                   strict=True)) / total

    low, high = -30.0, 30.0
    for _ in range(_BISECTION_STEPS):
        middle = (low + high) / 2
        low, high = (middle, high) if share(middle) < domain_score else (low, middle)
    return (low + high) / 2


def _difficulties(pool: Sequence[Item]) -> list[float]:
    """Each item's difficulty; an item not yet calibrated takes the mean of those that are."""
    known = [item.difficulty for item in pool if item.difficulty is not None]
    mean = sum(known) / len(known) if known else 0.0
    return [item.difficulty if item.difficulty is not None else mean for item in pool]


def design_pass_probability(design: Design, domain_score: float) -> float:
    """P(pass) of a candidate with this true domain score (0..1), averaged over the design's forms."""
    return _pass_probabilities(design, [domain_score])[0]


def _pass_probabilities(design: Design, domain_scores: Sequence[float]) -> list[float]:
    by_id = {item.item_id: item for item in design.pool}
    forms = [[by_id[item_id] for item_id in form] for form in design.forms]
    difficulty = dict(zip(by_id, _difficulties(design.pool), strict=True))
    results = []
    for pi in domain_scores:
        pi = min(max(pi, 0.0), 1.0)
        theta = ability_for(design.pool, pi) if design.calibrated and 0.0 < pi < 1.0 else None
        cache: dict[tuple[tuple[int, float], ...], float] = {}
        total = 0.0
        for form in forms:
            if theta is None:
                pairs = tuple(sorted((item.points, pi) for item in form))
            else:
                pairs = tuple(sorted((item.points, success_probability(theta, difficulty[item.item_id]))
                                     for item in form))
            if pairs not in cache:
                cache[pairs] = pass_probability([p[0] for p in pairs], [p[1] for p in pairs], design.pass_percent)
            total += cache[pairs]
        results.append(total / len(forms))
    return results


def _reference_weights(pass_percent: float) -> list[tuple[float, float]]:
    """(true score share, weight): normal around the mark, SD REFERENCE_SD_POINTS, on a 1-point grid in 0-100."""
    grid = [(score / 100, math.exp(-0.5 * ((score - pass_percent) / REFERENCE_SD_POINTS) ** 2))
            for score in range(101)]
    total = sum(weight for _, weight in grid)
    return [(share, weight / total) for share, weight in grid if weight / total > 1e-9]


def decision_consistency(design: Design) -> float:
    """P(two independent attempts both pass or both fail), averaged over the reference distribution."""
    weights = _reference_weights(design.pass_percent)
    chances = _pass_probabilities(design, [share for share, _ in weights])
    return sum(weight * (p * p + (1 - p) * (1 - p)) for (_, weight), p in zip(weights, chances, strict=True))


def _points_mix(pool_points: Sequence[int], length: int) -> list[int]:
    """`length` item points in the pool's proportions (its sorted points, sampled evenly)."""
    ordered = sorted(pool_points)
    return [ordered[(index * len(ordered)) // length] for index in range(length)]


def minimum_attempt_length(
    pool_points: Sequence[int], pass_percent: float, *, margin: float, max_pass_below_cut: float
) -> int | None:
    """The least attempt length from which every longer one (up to MAX_ATTEMPT_ITEMS) meets the rule, for items
    of equal facility with the pool's mix of points; None if even MAX_ATTEMPT_ITEMS does not."""
    below = max(0.0, (pass_percent - margin) / 100)
    least: int | None = None
    for length in range(MAX_ATTEMPT_ITEMS, 0, -1):
        points = _points_mix(pool_points, length)
        if pass_probability(points, [below] * length, pass_percent) > max_pass_below_cut:
            break
        least = length
    return least


def assess(design: Design, *, margin: float = 15.0, max_pass_below_cut: float = 0.10) -> Precision:
    """The design's precision at its pass mark, and whether a candidate `margin` points below passes rarely enough."""
    cut = design.pass_percent
    below, above = _pass_probabilities(design, [(cut - margin) / 100, (cut + margin) / 100])
    lengths = {len(form) for form in design.forms}
    return Precision(
        attempt_length=min(lengths),
        pass_percent=cut,
        margin_points=margin,
        pass_below_cut=below,
        fail_above_cut=1.0 - above,
        decision_consistency=decision_consistency(design),
        max_pass_below_cut=max_pass_below_cut,
        minimum_attempt_length=minimum_attempt_length(
            [item.points for item in design.pool], cut, margin=margin, max_pass_below_cut=max_pass_below_cut
        ),
        item_model="item_difficulties" if design.calibrated else "equal_facility",
        forms=len(design.forms),
    )
