"""Pure: test blueprints (competencies with weights and item counts per skill and level) and item enemies.

A blueprint says what one attempt of a standard length holds: for each competency (an item criterion) its
weight (share of the attempt) and its item count. Draws scale the counts to another length by largest
remainder. Enemies are items that give each other away; no draft or attempt holds two of them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

WEIGHT_SUM_TOLERANCE = 1e-6
# Above this many items an enemy group is sized greedily (exact search is exponential); bank groups hold 2–4.
EXACT_GROUP_LIMIT = 16


@dataclass(frozen=True)
class Competency:
    criterion: str
    weight: float
    items: int


@dataclass(frozen=True)
class Blueprint:
    level: str
    attempt_items: int
    descriptor: str
    competencies: tuple[Competency, ...]

    def to_json(self) -> dict[str, Any]:
        """The form frozen into an assessment's rubric (and shown by the API)."""
        return {
            "level_descriptor": self.descriptor,
            "attempt_items": self.attempt_items,
            "competencies": [
                {"criterion": c.criterion, "weight": c.weight, "items": c.items} for c in self.competencies
            ],
        }


def from_json(frozen: Mapping[str, Any]) -> Blueprint:
    """A frozen blueprint back as a Blueprint (the level is not frozen: the assessment holds it)."""
    return Blueprint(
        level="",
        attempt_items=int(frozen["attempt_items"]),
        descriptor=str(frozen.get("level_descriptor", "")),
        competencies=tuple(
            Competency(criterion=c["criterion"], weight=float(c["weight"]), items=int(c["items"]))
            for c in frozen["competencies"]
        ),
    )


def plan(frozen: Mapping[str, Any], count: int) -> dict[str, int]:
    """Items per competency for an attempt of `count` items: the blueprint's counts scaled by largest remainder
    (ties go to the heavier competency, then the name), so the same blueprint and count give the same plan."""
    competencies = frozen["competencies"]
    standard = int(frozen["attempt_items"])
    exact = {c["criterion"]: Fraction(int(c["items"]) * count, standard) for c in competencies}
    taken = {name: math.floor(share) for name, share in exact.items()}
    weight = {c["criterion"]: float(c["weight"]) for c in competencies}
    order = sorted(exact, key=lambda name: (-(exact[name] - taken[name]), -weight[name], name))
    for name in order[: max(0, count - sum(taken.values()))]:
        taken[name] += 1
    return taken


def problems(blueprint: Blueprint, capacity: Mapping[str, int], pool_capacity: int) -> list[str]:
    """Why a blueprint cannot be used with a pool; `capacity` is how many items of each criterion one draw
    can hold together (no two enemies), `pool_capacity` the same for the whole pool."""
    found: list[str] = []
    if blueprint.attempt_items <= 0:
        found.append("attempt_items must be a positive whole number")
    if not blueprint.descriptor.strip():
        found.append("descriptor is empty")
    names = [c.criterion for c in blueprint.competencies]
    if not names:
        found.append("no competencies")
    if len(set(names)) != len(names):
        found.append("a criterion is listed twice")
    total_weight = sum(c.weight for c in blueprint.competencies)
    if abs(total_weight - 1) > WEIGHT_SUM_TOLERANCE:
        found.append(f"weights sum to {total_weight:g}, not 1")
    if sum(c.items for c in blueprint.competencies) != blueprint.attempt_items:
        found.append(f"item counts sum to {sum(c.items for c in blueprint.competencies)}, "
                     f"not attempt_items {blueprint.attempt_items}")
    for c in blueprint.competencies:
        if c.weight <= 0 or c.items <= 0:
            found.append(f"{c.criterion}: weight and items must be positive")
        elif abs(c.items - c.weight * blueprint.attempt_items) >= 1:
            found.append(f"{c.criterion}: {c.items} items is not its weight {c.weight:g} of "
                         f"{blueprint.attempt_items}")
        if c.criterion not in capacity:
            found.append(f"{c.criterion}: no item at this level has this criterion")
        elif c.items > capacity[c.criterion]:
            found.append(f"{c.criterion}: {c.items} items asked, the pool holds {capacity[c.criterion]} "
                         "that can be drawn together")
    if blueprint.attempt_items > pool_capacity:
        found.append(f"attempt_items {blueprint.attempt_items} exceeds the {pool_capacity} items the pool can "
                     "give without two enemies")
    return found


# ------------------------------------------------------------------------------------------------- enemies


def enemy_graph(items: Iterable[Mapping[str, Any]]) -> dict[str, set[str]]:
    """id -> the ids of its enemies among these items (symmetric: one side declaring it is enough);
    items without an enemy among them are absent, so an empty dict means the items may all be drawn together."""
    listed = [(str(item["id"]), item.get("enemies") or ()) for item in items]
    present = {item_id for item_id, _ in listed}
    graph: dict[str, set[str]] = {}
    for item_id, enemies in listed:
        for other in enemies:
            if other in present and other != item_id:
                graph.setdefault(item_id, set()).add(other)
                graph.setdefault(other, set()).add(item_id)
    return graph


def _group_capacity(group: set[str], graph: Mapping[str, set[str]]) -> int:
    """Largest number of items of one connected enemy group that can be drawn together."""
    if len(group) > EXACT_GROUP_LIMIT:
        left, count = set(group), 0
        while left:
            pick = min(left, key=lambda v: (len(graph[v] & left), v))
            left -= graph[pick] | {pick}
            count += 1
        return count
    memo: dict[frozenset[str], int] = {}

    def best(left: frozenset[str]) -> int:
        if not left:
            return 0
        if left not in memo:
            pivot = max(left, key=lambda v: (len(graph[v] & left), v))
            without = best(left - {pivot})
            with_it = 1 + best(left - graph[pivot] - {pivot})
            memo[left] = max(without, with_it)
        return memo[left]

    return best(frozenset(group))


def capacity(ids: Iterable[str], graph: Mapping[str, set[str]]) -> int:
    """How many of `ids` one draw can hold with no two enemies (a maximum independent set)."""
    left = set(ids)
    total = 0
    while left:
        start = left.pop()
        neighbours = graph.get(start, set()) & left
        if not neighbours:
            total += 1
            continue
        group, frontier = {start}, [start]
        while frontier:
            for other in graph.get(frontier.pop(), set()):
                if other in left and other not in group:
                    group.add(other)
                    left.discard(other)
                    frontier.append(other)
        total += _group_capacity(group, graph)
    return total


def shares_enemies(ids: Sequence[str], graph: Mapping[str, set[str]]) -> bool:
    """True when two of `ids` are enemies."""
    chosen = set(ids)
    return any(graph.get(item_id, set()) & chosen for item_id in chosen)
