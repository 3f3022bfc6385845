"""Pure functions over frozen assessments: content hash, fair draws, per-attempt presentation."""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Collection, Mapping, Sequence
from fractions import Fraction
from typing import Any

import rfc8785

from app.assessments import blueprints
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
    if item.get("type") == "python_function":  # the signature and the visible examples, never the hidden tests
        view["function"] = item["function"]
        view["examples"] = item["examples"]
    if "options" in view:
        view["options"] = [
            {field: option[field] for field in LEARNER_OPTION_FIELDS if field in option} for option in view["options"]
        ]
    return view


def primary_criterion(item: Mapping[str, Any]) -> str:
    """The criterion an item counts towards in draws: its heaviest (the first by name on a tie)."""
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
        by_criterion.setdefault(primary_criterion(item), []).append(item)
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
    pool: Sequence[dict[str, Any]], count: int | None, seed: int, seen: Mapping[str, int] | Collection[str] = (),
    blueprint: Mapping[str, Any] | None = None,
) -> list[str]:
    """Item ids for one attempt: seeded, stratified by criterion and difficulty; unseen items first, then the
    items seen longest ago (`seen` maps an item id to how many attempts ago the learner last saw it).

    With a frozen `blueprint`, the count per criterion follows it; two enemies are never drawn together.
    A pool without enemies among its items and without a blueprint draws exactly as before both existed.
    """
    rng = random.Random(seed)  # noqa: S311 - reproducible draw, not a secret
    ago = seen if isinstance(seen, Mapping) else dict.fromkeys(seen, 1)
    graph = blueprints.enemy_graph(pool)
    if graph or blueprint is not None:
        chosen = planned_draw(pool, len(pool) if count is None else count, rng, ago, graph, blueprint)
    elif count is None or count >= len(pool):
        chosen = list(pool)
    else:
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


class _Draw:
    """The state of one planned draw: what is taken, what enemies rule out, and what could still be taken."""

    def __init__(self, pool: Sequence[dict[str, Any]], count: int, graph: Mapping[str, set[str]]):
        self.graph = graph
        self.count = count
        self.taken: list[dict[str, Any]] = []
        self.open = {item["id"] for item in pool}  # neither taken nor an enemy of a taken item
        # The current tier's quota left per criterion, and that criterion's items in the tier.
        self.need: dict[str, int] = {}
        self.members: dict[str, set[str]] = {}

    def allows(self, item: dict[str, Any]) -> bool:
        """Free of enemies among the taken items, and taking it still leaves enough items to fill the draw
        and every criterion's quota (an enemy in another criterion can use up that criterion's last items)."""
        item_id = item["id"]
        if item_id not in self.open:
            return False
        enemies = self.graph.get(item_id, set()) & self.open
        if not enemies:
            return True
        left = self.open - enemies - {item_id}
        if blueprints.capacity(left, self.graph) < self.count - len(self.taken) - 1:
            return False
        own = primary_criterion(item)
        for name, members in self.members.items():
            need = self.need.get(name, 0) - (name == own)
            if need > 0 and members & enemies and blueprints.capacity(members & left, self.graph) < need:
                return False
        return True

    def take(self, item: dict[str, Any]) -> None:
        self.taken.append(item)
        self.open -= self.graph.get(item["id"], set()) | {item["id"]}
        name = primary_criterion(item)
        if name in self.need:
            self.need[name] -= 1


def _interleaved(items: Sequence[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """A seeded order in which every prefix spreads over difficulties in proportion to their sizes."""
    by_difficulty: dict[int, list[dict[str, Any]]] = {}
    for item in sorted(items, key=lambda item: item["id"]):
        by_difficulty.setdefault(int(item.get("difficulty", 2)), []).append(item)
    keyed: list[tuple[float, float, dict[str, Any]]] = []
    for _, group in sorted(by_difficulty.items()):
        rng.shuffle(group)
        keyed += [((position + 0.5) / len(group), rng.random(), item) for position, item in enumerate(group)]
    return [item for _, _, item in sorted(keyed, key=lambda entry: entry[:2])]


def _tier_quotas(
    groups: Mapping[str, Sequence[dict[str, Any]]], needed: int, targets: Mapping[str, int] | None,
    have: Mapping[str, int], weights: Mapping[str, float], rng: random.Random,
) -> dict[str, int]:
    """How many of `needed` items each criterion's group gives: the blueprint's remaining count (capped by the
    group, the rest spread by weight over groups with items to spare), else in proportion to group sizes."""
    sizes = {name: len(group) for name, group in groups.items()}
    if targets is None:
        return _quotas(dict(sorted(sizes.items())), min(needed, sum(sizes.values())), rng)
    wanted = {name: min(max(0, targets.get(name, 0) - have.get(name, 0)), sizes[name]) for name in sizes}
    if sum(wanted.values()) > needed:
        return _quotas({name: n for name, n in sorted(wanted.items()) if n}, needed, rng)
    while sum(wanted.values()) < needed:
        spare = {name: weights.get(name, 0.0) for name in sorted(sizes) if wanted[name] < sizes[name]}
        if not spare:
            break
        if not any(spare.values()):  # only criteria outside the blueprint have items left
            spare = dict.fromkeys(spare, 1.0)
        extra = _quotas(
            {name: round(weight * 10**6) for name, weight in spare.items() if weight}, needed - sum(wanted.values()),
            rng,
        )
        grew = False
        for name, more in extra.items():
            added = min(more, sizes[name] - wanted[name])
            wanted[name] += added
            grew = grew or added > 0
        if not grew:
            break
    return wanted


def planned_draw(
    pool: Sequence[dict[str, Any]], count: int, rng: random.Random, ago: Mapping[str, int] | None = None,
    graph: Mapping[str, set[str]] | None = None, blueprint: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """`count` items (fewer only if enemies rule more out): tier by tier (unseen first, then those seen
    longest ago), each criterion giving its blueprint count (or its share of the pool), difficulties spread,
    and never two enemies."""
    graph = blueprints.enemy_graph(pool) if graph is None else graph
    ago = ago or {}
    count = min(count, blueprints.capacity((item["id"] for item in pool), graph))
    targets = blueprints.plan(blueprint, count) if blueprint is not None else None
    weights = {c["criterion"]: float(c["weight"]) for c in blueprint["competencies"]} if blueprint else {}
    draw = _Draw(pool, count, graph)
    tiers: dict[float, list[dict[str, Any]]] = {}
    for item in sorted(pool, key=lambda item: item["id"]):
        tiers.setdefault(ago.get(item["id"], math.inf), []).append(item)
    for tier in sorted(tiers, reverse=True):
        needed = count - len(draw.taken)
        if needed <= 0:
            break
        groups: dict[str, list[dict[str, Any]]] = {}
        for item in tiers[tier]:
            if item["id"] in draw.open:
                groups.setdefault(primary_criterion(item), []).append(item)
        have: dict[str, int] = {}
        for item in draw.taken:
            have[primary_criterion(item)] = have.get(primary_criterion(item), 0) + 1
        quotas = _tier_quotas(groups, needed, targets, have, weights, rng)
        ordered = {name: _interleaved(group, rng) for name, group in sorted(groups.items())}
        draw.need = dict(quotas)
        draw.members = {name: {item["id"] for item in group} for name, group in groups.items()}
        for name in sorted(quotas):
            for item in ordered[name]:
                if draw.need[name] <= 0:
                    break
                if draw.allows(item):
                    draw.take(item)
        draw.need, draw.members = {}, {}
        # Enemies left a criterion short: the rest come from any criterion of this tier, heaviest first.
        for name in sorted(ordered, key=lambda name: (-weights.get(name, 0.0), name)):
            for item in ordered[name]:
                if len(draw.taken) >= count:
                    break
                if draw.allows(item):
                    draw.take(item)
    return draw.taken


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

    An item with `keep_order` (numbers, ranges, versions: options with a natural order) shows its options as
    authored. Its shuffle is still drawn from the seed, so every other item is presented as it was before
    the flag existed.

    `with_keys` adds what an admin sees: the key, the explanation and the assessment's own item id.
    """
    rng = random.Random(seed)  # noqa: S311 - reproducible presentation, not a secret
    shown = []
    kept_in_order: set[int] = set()
    for item in items:
        view = learner_item(item)
        if aliases is not None:
            view["id"] = aliases[item["id"]]
        if with_keys:
            view.update(bank_item_id=item["id"], answer=item["answer"], explanation=item.get("explanation", ""))
        if item.get("keep_order"):
            kept_in_order.add(id(view))
        shown.append(view)
    rng.shuffle(shown)
    for item in shown:
        if "options" in item:
            shuffled = list(item["options"])
            rng.shuffle(shuffled)  # drawn even when the order is kept, so the seed's stream stays the same
            if id(item) not in kept_in_order:
                item["options"] = shuffled
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
