"""Item statistics from graded attempts: facility (share correct) and point-biserial discrimination."""

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
