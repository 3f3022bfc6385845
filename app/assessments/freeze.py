"""Pure functions over frozen assessments: content hash, fair draws, per-attempt presentation."""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Collection, Mapping, Sequence
from fractions import Fraction
from typing import Any

import rfc8785

from app.grading import sql_task
from app.grading.rubric import DEFAULT_CRITERION

LEARNER_ITEM_FIELDS = ("id", "type", "prompt", "options", "points")
LEARNER_OPTION_FIELDS = ("id", "text", "side")
# A sql_query item shows its visible fixture: the schema, the first rows of each table and each table's row count.
SAMPLE_ROWS = 20
# A criterion resting on a single item would show that item's own score.
MIN_ITEMS_PER_CRITERION = 2


def normalise_item(item: dict[str, Any]) -> dict[str, Any]:
    """The stored form of an item: no null fields, so every view of it hashes alike."""
    clean = {key: value for key, value in item.items() if value is not None}
    if "options" in clean:
        clean["options"] = [
            {key: value for key, value in option.items() if value is not None} for option in clean["options"]
        ]
    return clean


def content_hash(items: list[dict[str, Any]], rubric: dict[str, Any]) -> str:
    """SHA-256 (hex) of the RFC 8785 canonical JSON of {"items": ..., "rubric": ...}."""
    return hashlib.sha256(rfc8785.dumps({"items": items, "rubric": rubric})).hexdigest()


def learner_item(item: dict[str, Any]) -> dict[str, Any]:
    """An item as a learner sees it: no key, explanation, tolerance, criteria or accepted answers; for a
    sql_query, the visible fixture but never the reference query or the hidden variants."""
    view = {field: item[field] for field in LEARNER_ITEM_FIELDS if field in item}
    if item.get("type") == "sql_query":
        view["fixture"] = sql_task.learner_fixture(item["fixture"], SAMPLE_ROWS)
    if "options" in view:
        view["options"] = [
            {field: option[field] for field in LEARNER_OPTION_FIELDS if field in option} for option in view["options"]
        ]
    return view


def _criterion(item: dict[str, Any]) -> str:
    criteria: dict[str, float] = item.get("criteria") or {"general": 1}
    return min(criteria, key=lambda name: (-criteria[name], name))


def _quotas(sizes: dict[Any, int], count: int, rng: random.Random) -> dict[Any, int]:
    """Split `count` over groups in proportion to their sizes (largest remainder, seeded tie-breaks)."""
    total = sum(sizes.values())
    exact = {key: Fraction(size * count, total) for key, size in sizes.items()}
    taken = {key: int(share) for key, share in exact.items()}
    order = sorted(sizes, key=lambda key: (-(exact[key] - taken[key]), rng.random()))
    for key in order[: count - sum(taken.values())]:
        taken[key] += 1
    return taken


def _stratified_sample(items: Sequence[dict[str, Any]], count: int, rng: random.Random) -> list[dict[str, Any]]:
    """`count` items spread over criteria in proportion to their sizes, then over difficulties within each."""
    if count >= len(items):
        return list(items)
    by_criterion: dict[str, list[dict[str, Any]]] = {}
    for item in sorted(items, key=lambda item: item["id"]):
        by_criterion.setdefault(_criterion(item), []).append(item)
    chosen: list[dict[str, Any]] = []
    per_criterion = _quotas({key: len(group) for key, group in sorted(by_criterion.items())}, count, rng)
    for criterion, quota in sorted(per_criterion.items()):
        by_difficulty: dict[int, list[dict[str, Any]]] = {}
        for item in by_criterion[criterion]:
            by_difficulty.setdefault(int(item.get("difficulty", 2)), []).append(item)
        per_difficulty = _quotas({key: len(group) for key, group in sorted(by_difficulty.items())}, quota, rng)
        for difficulty, taken in sorted(per_difficulty.items()):
            chosen += rng.sample(by_difficulty[difficulty], taken)
    return chosen


def draw_items(
    pool: Sequence[dict[str, Any]], count: int | None, seed: int, seen: Mapping[str, int] | Collection[str] = ()
) -> list[str]:
    """Item ids for one attempt: seeded, stratified by criterion and difficulty; unseen items first, then the
    items seen longest ago (`seen` maps an item id to how many attempts ago the learner last saw it)."""
    rng = random.Random(seed)  # noqa: S311 - reproducible draw, not a secret
    if count is None or count >= len(pool):
        chosen = list(pool)
    else:
        ago = seen if isinstance(seen, Mapping) else dict.fromkeys(seen, 1)
        tiers: dict[float, list[dict[str, Any]]] = {}
        for item in pool:
            tiers.setdefault(ago.get(item["id"], math.inf), []).append(item)
        chosen = []
        for tier in sorted(tiers, reverse=True):
            needed = count - len(chosen)
            if needed <= 0:
                break
            group = tiers[tier]
            chosen += group if len(group) <= needed else _stratified_sample(group, needed, rng)
    ids = [item["id"] for item in chosen]
    rng.shuffle(ids)
    return ids


def attempt_items(pool: Sequence[dict[str, Any]], item_ids: Sequence[str] | None) -> list[dict[str, Any]]:
    """The frozen items an attempt drew, in the pool's order (all of them for attempts without a draw)."""
    if item_ids is None:
        return list(pool)
    drawn = set(item_ids)
    return [item for item in pool if item["id"] in drawn]


def present(
    items: list[dict[str, Any]], seed: int, aliases: Mapping[str, str] | None = None, *, with_keys: bool = False
) -> list[dict[str, Any]]:
    """An attempt's items: order and option order shuffled by its seed, ids replaced by the attempt's opaque ids.

    `with_keys` adds what an admin sees: the key, the explanation and the assessment's own item id.
    """
    rng = random.Random(seed)  # noqa: S311 - reproducible presentation, not a secret
    shown = []
    for item in items:
        view = learner_item(item)
        if aliases is not None:
            view["id"] = aliases[item["id"]]
        if with_keys:
            view.update(bank_item_id=item["id"], answer=item["answer"], explanation=item.get("explanation", ""))
        shown.append(view)
    rng.shuffle(shown)
    for item in shown:
        if "options" in item:
            rng.shuffle(item["options"])
    return shown


def learner_criteria(
    criteria: Sequence[dict[str, Any]], items: Sequence[dict[str, Any]], voided: Collection[str] = ()
) -> list[dict[str, Any]]:
    """The per-criterion results a learner sees: none resting on a single item, and none that would let a
    single item's score be worked out as the total minus the criteria shown."""
    backing: dict[str, set[str]] = {}
    for item in items:
        if item["id"] not in voided:
            for name in item.get("criteria") or {DEFAULT_CRITERION: 1}:
                backing.setdefault(name, set()).add(item["id"])
    shown = {name for name, ids in backing.items() if len(ids) >= MIN_ITEMS_PER_CRITERION}
    while shown:
        left_out = set().union(*(ids for name, ids in backing.items() if name not in shown))
        if len(left_out) != 1:
            break
        shown.remove(min(shown, key=lambda name: (len(backing[name]), name)))
    return [entry for entry in criteria if entry["criterion"] in shown]
