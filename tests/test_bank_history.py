"""The bank's change log (bank_data/HISTORY.md) traces every review fix, and retired ids stay retired."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

import pytest

from app.assessments.generators.bank import BANK_DIR, load_bank
from app.assessments.generators.templates import TEMPLATES

HISTORY = BANK_DIR / "HISTORY.md"
STATUSES = {"fixed", "retired", "new", "moved"}
# Review item-bank-review.md §1.3, rows 1-21 (flawed or ambiguous): the id each row names.
REVIEW_ROWS = {
    1: "technical-writing-i20", 2: "python-f03", 3: "python-f19", 4: "sql-f04", 5: "sql-f13", 6: "sql-i03",
    7: "sql-i21", 8: "sql-tpl-count-nulls", 9: "git-f07", 10: "git-i01", 11: "spreadsheets-f04",
    12: "spreadsheets-f05", 13: "spreadsheets-f07", 14: "spreadsheets-f08", 15: "technical-writing-f10",
    16: "technical-writing-i15", 17: "technical-writing-i25", 18: "technical-writing-tpl-flesch-kincaid",
    19: "technical-writing-tpl-word-count", 20: "web-accessibility-f19", 21: "web-accessibility-i05",
}
# The victim and the item that cues it, for the rows the enemies metadata fixes.
ENEMY_ROWS = {
    3: "python-f26", 4: "sql-f25", 5: "sql-f26", 6: "sql-i26", 7: "sql-i26", 9: "git-f24", 10: "git-i28",
    11: "spreadsheets-f30", 12: "spreadsheets-f31", 13: "spreadsheets-f30", 14: "spreadsheets-f29",
    15: "technical-writing-f25", 20: "web-accessibility-f28",
}
ROW = re.compile(
    r"^\| `(?P<item>[a-z0-9-]+)` \| (?P<row>[^|]+?) \| (?P<status>\w+) \| (?P<meaning>\w+) \| (?P<why>.+) \|$"
)


def _entries() -> list[dict[str, str]]:
    return [match.groupdict() for line in HISTORY.read_text(encoding="utf-8").splitlines()
            if (match := ROW.match(line))]


def _live_ids() -> set[str]:
    return {item["id"] for skill in load_bank(BANK_DIR).values() for item in skill.items} | {
        template.id for template in TEMPLATES
    }


def test_every_history_row_is_well_formed() -> None:
    entries = _entries()
    assert len(entries) >= 60
    for entry in entries:
        assert entry["status"] in STATUSES, entry
        assert entry["row"].isdigit() or entry["row"].startswith("§1.4."), entry
        assert len(entry["why"]) >= 20, entry  # says what changed and why, not just "fixed"
        # Only a retirement or a new id changes meaning: a fix that changes it must take a new id.
        expected = {"retired": "retired", "new": "new"}.get(entry["status"], "no")
        assert entry["meaning"] == expected, entry


@pytest.mark.parametrize("row", sorted(REVIEW_ROWS))
def test_review_rows_1_to_21_are_each_fixed_or_retired_in_the_history(row: int) -> None:
    item = REVIEW_ROWS[row]
    statuses = {entry["status"] for entry in _entries() if entry["item"] == item and entry["row"] == str(row)}
    assert statuses & {"fixed", "retired"}, f"review row {row} ({item}) is not in HISTORY.md"
    if "retired" in statuses:
        assert item not in _live_ids()
    else:
        assert item in _live_ids()


def test_retired_ids_are_gone_and_never_reused() -> None:
    by_item: dict[str, list[str]] = defaultdict(list)
    for entry in _entries():
        by_item[entry["item"]].append(entry["status"])
    retired = {item for item, statuses in by_item.items() if "retired" in statuses}
    assert {"python-f03", "technical-writing-i15", "technical-writing-tpl-word-count"} <= retired
    assert not retired & _live_ids()
    for item, statuses in by_item.items():
        if "new" in statuses:  # a new id is new once, and is not a retired one come back
            assert item in _live_ids() and item not in retired, item


def test_every_bank_item_changed_since_release_is_live_or_retired() -> None:
    live = _live_ids()
    for entry in _entries():
        assert (entry["item"] in live) != (entry["status"] == "retired"), entry


def _enemies(item: dict[str, Any]) -> set[str]:
    return set(item.get("enemies") or ())


def test_enemy_rows_are_enemies_once_the_metadata_is_in_the_bank() -> None:
    """Rows fixed by `enemies` metadata: the victim and its cue never share an attempt."""
    items = {item["id"]: item for skill in load_bank(BANK_DIR).values() for item in skill.items}
    if not any(_enemies(item) for item in items.values()):
        pytest.skip("the bank carries no enemies metadata yet (added by the enemies change of issue 9)")
    for row, cue in ENEMY_ROWS.items():
        victim = REVIEW_ROWS[row]
        assert cue in _enemies(items[victim]) or victim in _enemies(items[cue]), (row, victim, cue)
