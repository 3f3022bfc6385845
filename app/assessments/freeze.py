"""Pure functions over frozen assessments: the content hash and per-attempt presentation."""

from __future__ import annotations

import hashlib
import random
from typing import Any

import rfc8785

LEARNER_ITEM_FIELDS = ("id", "type", "prompt", "options", "points")


def content_hash(items: list[dict[str, Any]], rubric: dict[str, Any]) -> str:
    """SHA-256 (hex) of the RFC 8785 canonical JSON of {"items": ..., "rubric": ...}."""
    return hashlib.sha256(rfc8785.dumps({"items": items, "rubric": rubric})).hexdigest()


def learner_item(item: dict[str, Any]) -> dict[str, Any]:
    """An item as a learner sees it: no key, explanation or tolerance."""
    view = {field: item[field] for field in LEARNER_ITEM_FIELDS if field in item}
    if "options" in view:
        view["options"] = [{"id": option["id"], "text": option["text"]} for option in view["options"]]
    return view


def present(items: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """The learner's view of an attempt: item order and option order shuffled by the attempt's seed."""
    rng = random.Random(seed)  # noqa: S311 - reproducible presentation, not a secret
    shown = [learner_item(item) for item in items]
    rng.shuffle(shown)
    for item in shown:
        if "options" in item:
            rng.shuffle(item["options"])
    return shown
