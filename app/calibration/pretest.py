"""Pretest items and frozen calibrations in drafts and draws: pure functions (seeds in, ids out).

A draft's scored items come from established items (calibrated, or with enough first-attempt responses)
whenever there are enough of them; new items then join unscored, as pretest items, at most `max_share` of
the items an attempt shows. While a skill and level has too few established items (a new bank), every drawn
item is scored and none is pretest: there is nothing yet to anchor a scored form on.
"""

from __future__ import annotations

import math
import random
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from app.assessments import blueprints, freeze
from app.grading.rubric import is_pretest


def max_pretest(scored: int, max_share: float) -> int:
    """Most pretest items beside `scored` scored ones, so that they are at most `max_share` of all shown."""
    if max_share <= 0:
        return 0
    return math.floor(scored * max_share / (1 - max_share) + 1e-9)


def frozen(item: Mapping[str, Any], calibration: Mapping[str, Any] | None, *, pretest: bool) -> dict[str, Any]:
    """The item as a draft freezes it: its calibration's figures (what grading will use), or the pretest flag."""
    clean = {key: value for key, value in item.items() if key not in ("calibration", "pretest")}
    if pretest:
        clean["pretest"] = True
    elif calibration is not None:
        clean["calibration"] = {
            "difficulty": round(float(calibration["difficulty"]), 4),
            "se": round(float(calibration["se"]), 4),
            "scale": str(calibration["scale"]),
        }
    return clean


def choose_pretest(
    new_items: Sequence[dict[str, Any]], scored: int, max_share: float, seed: int
) -> list[dict[str, Any]]:
    """The new items a draft of `scored` scored items carries as pretest items (seeded)."""
    count = min(len(new_items), max_pretest(scored, max_share))
    rng = random.Random(f"{seed}/pretest")  # noqa: S311 - reproducible draw, not a secret
    return rng.sample(sorted(new_items, key=lambda item: item["id"]), count)


def draw_attempt(
    pool: Sequence[dict[str, Any]], count: int | None, seed: int, seen: Mapping[str, int] | Collection[str],
    max_share: float, blueprint: Mapping[str, Any] | None = None,
) -> list[str]:
    """An attempt's item ids: `count` scored items (freeze.draw_items, unchanged when there is no pretest
    item), plus pretest items up to `max_share` of all shown, mixed in by the seed; never two enemies."""
    scored = [item for item in pool if not is_pretest(item)]
    pretest = [item for item in pool if is_pretest(item)]
    ids = freeze.draw_items(scored, count, seed, seen, blueprint)
    if not pretest:
        return ids
    rng = random.Random(f"{seed}/pretest")  # noqa: S311 - reproducible draw, not a secret
    graph = blueprints.enemy_graph(pool)
    taken = max_pretest(len(ids), max_share)
    for item_id in rng.sample(sorted(item["id"] for item in pretest), len(pretest)):
        if taken <= 0:
            break
        if not graph.get(item_id, set()) & set(ids):
            ids.append(item_id)
            taken -= 1
    rng.shuffle(ids)
    return ids
