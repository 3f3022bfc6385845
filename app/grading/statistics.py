"""Statistics from graded attempts: per item facility and point-biserial discrimination; per assessment the
reliability (KR-20 / Cronbach's alpha) and SEM of first attempts."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MIN_ATTEMPTS_FOR_DISCRIMINATION = 3


@dataclass(frozen=True)
class ItemStatistics:
    item_id: str
    attempts: int
    share_correct: float | None
    mean_score: float | None
    discrimination: float | None

    @property
    def flagged(self) -> bool:
        """Negative discrimination: stronger learners do worse on it, a sign of a wrong key or a trick."""
        return self.discrimination is not None and self.discrimination < 0

    def to_json(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id,
            "attempts": self.attempts,
            "share_correct": self.share_correct,
            "mean_score": self.mean_score,
            "discrimination": self.discrimination,
            "flagged": self.flagged,
        }


def _pearson(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    n = len(xs)
    mean_x, mean_y = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mean_x) ** 2 for x in xs)
    syy = sum((y - mean_y) ** 2 for y in ys)
    if sxx == 0 or syy == 0:
        return None
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    return sxy / math.sqrt(sxx * syy)


def item_statistics(
    item_ids: Sequence[str], graded: Sequence[Sequence[Mapping[str, Any]]]
) -> list[ItemStatistics]:
    """Per item: attempts that showed it, share with full marks, mean score share, and the correlation of its
    score with the rest of the attempt (corrected item-total; the point-biserial for right/wrong items).

    `graded` holds, per graded attempt, its item scores: [{"item_id", "score", "max_score"}, ...].
    """
    results = []
    for item_id in item_ids:
        own: list[float] = []
        rest: list[float] = []
        correct = 0
        for attempt in graded:
            scores = {entry["item_id"]: entry for entry in attempt}
            entry = scores.get(item_id)
            if entry is None or not entry["max_score"]:
                continue
            share = entry["score"] / entry["max_score"]
            rest_max = sum(e["max_score"] for key, e in scores.items() if key != item_id)
            rest_score = sum(e["score"] for key, e in scores.items() if key != item_id)
            own.append(share)
            rest.append(rest_score / rest_max if rest_max else 0.0)
            correct += entry["score"] == entry["max_score"]
        n = len(own)
        discrimination = _pearson(own, rest) if n >= MIN_ATTEMPTS_FOR_DISCRIMINATION else None
        results.append(
            ItemStatistics(
                item_id=item_id,
                attempts=n,
                share_correct=round(correct / n, 4) if n else None,
                mean_score=round(sum(own) / n, 4) if n else None,
                discrimination=round(discrimination, 4) if discrimination is not None else None,
            )
        )
    return results


@dataclass(frozen=True)
class Reliability:
    """Internal consistency of an assessment's scores from first attempts, and the SEM it implies."""

    first_attempts: int
    min_first_attempts: int
    coefficient: float | None
    method: str | None  # "kr20" (every item right/wrong) or "cronbach_alpha"
    estimation: str | None  # "complete" (every attempt answered the same items) or "pairwise" (pooled draws)
    items_per_attempt: int | None
    mean_percent: float | None
    sem_points: float | None
    sem_percent: float | None
    effective_items: float | None  # Livingston & Lewis (1995) effective test length

    def to_json(self) -> dict[str, Any]:
        def rounded(value: float | None) -> float | None:
            return round(value, 4) if value is not None else None

        return {
            "first_attempts": self.first_attempts,
            "min_first_attempts": self.min_first_attempts,
            "coefficient": rounded(self.coefficient),
            "method": self.method,
            "estimation": self.estimation,
            "items_per_attempt": self.items_per_attempt,
            "mean_percent": rounded(self.mean_percent),
            "sem_points": rounded(self.sem_points),
            "sem_percent": rounded(self.sem_percent),
            "effective_items": round(self.effective_items, 1) if self.effective_items is not None else None,
        }


def _variance(values: Sequence[float]) -> float:
    mean = sum(values) / len(values)
    return sum((value - mean) ** 2 for value in values) / (len(values) - 1)


def _covariance(pairs: Sequence[tuple[float, float]]) -> float:
    mean_x = sum(x for x, _ in pairs) / len(pairs)
    mean_y = sum(y for _, y in pairs) / len(pairs)
    return sum((x - mean_x) * (y - mean_y) for x, y in pairs) / (len(pairs) - 1)


def reliability(first_attempts: Sequence[Sequence[Mapping[str, Any]]], *, min_attempts: int) -> Reliability:
    """KR-20 / Cronbach's alpha of first attempts' item scores (points), with the SEM; None below min_attempts.

    alpha = k c / (v + (k - 1) c), with v the mean item variance and c the mean inter-item covariance over k
    items per attempt: exactly Cronbach's (1951) alpha (KR-20 for right/wrong items) when every attempt
    answered the same items. When attempts draw different items from a pool, v and c are estimated
    pairwise, each from the attempts that answered that item or that pair: missing by design (the draw does
    not depend on the candidate), so the pairwise estimates are unbiased and alpha is that of a typical
    k-item attempt. SEM = s_X sqrt(1 - alpha), s_X^2 = k v + k (k - 1) c. The effective test length is
    Livingston & Lewis's (1995, JEM 32:179-197): ((mu - 0)(max - mu) - alpha s_X^2) / (s_X^2 (1 - alpha)).
    """
    count = len(first_attempts)
    empty = Reliability(count, min_attempts, None, None, None, None, None, None, None, None)
    if count < max(min_attempts, 2):
        return empty
    scores = [{entry["item_id"]: float(entry["score"]) for entry in attempt} for attempt in first_attempts]
    maxima = [sum(float(entry["max_score"]) for entry in attempt) for attempt in first_attempts]
    totals = [sum(attempt.values()) for attempt in scores]
    lengths = sorted(len(attempt) for attempt in scores)
    k = lengths[len(lengths) // 2]
    item_ids = sorted({item_id for attempt in scores for item_id in attempt})
    variances = []
    for item_id in item_ids:
        seen = [attempt[item_id] for attempt in scores if item_id in attempt]
        if len(seen) >= 2:
            variances.append(_variance(seen))
    covariances = []
    for index, first in enumerate(item_ids):
        for second in item_ids[index + 1:]:
            both = [(attempt[first], attempt[second]) for attempt in scores if first in attempt and second in attempt]
            if len(both) >= 2:
                covariances.append(_covariance(both))
    if k < 2 or not variances or not covariances:
        return empty
    v, c = sum(variances) / len(variances), sum(covariances) / len(covariances)
    total_variance = k * v + k * (k - 1) * c
    if total_variance <= 0:
        return empty
    alpha = k * c / (v + (k - 1) * c) if v + (k - 1) * c else 0.0
    sem = math.sqrt(total_variance * max(0.0, 1 - alpha))
    mean_max = sum(maxima) / count
    mean = sum(totals) / count
    right_wrong = all(entry["score"] in (0, entry["max_score"]) for attempt in first_attempts for entry in attempt)
    effective = None
    if alpha < 1 and mean_max > 0:
        effective = (mean * (mean_max - mean) - alpha * total_variance) / (total_variance * (1 - alpha))
    return Reliability(
        first_attempts=count,
        min_first_attempts=min_attempts,
        coefficient=alpha,
        method="kr20" if right_wrong else "cronbach_alpha",
        estimation="complete" if len({frozenset(attempt) for attempt in scores}) == 1 else "pairwise",
        items_per_attempt=k,
        mean_percent=100 * mean / mean_max if mean_max else None,
        sem_points=sem,
        sem_percent=100 * sem / mean_max if mean_max else None,
        effective_items=effective if effective is not None and effective > 0 else None,
    )
