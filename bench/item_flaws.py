"""How well the item-writing rules find flaws: the labelled set in tests/data/item_flaws.toml, per flaw.

    PYTHONPATH=. .venv/bin/python -m bench.item_flaws          # the per-flaw table and the totals
    PYTHONPATH=. .venv/bin/python -m bench.item_flaws --bank   # also: which bundled bank items show a flaw

An item counts as caught when any check fires (app.assessments.rules.all_problems: the refusals and the
flaw warnings); a good item on which any check fires is a false positive.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.assessments import rules
from app.assessments.generators import bank

LABELLED_SET = Path(__file__).resolve().parent.parent / "tests" / "data" / "item_flaws.toml"
POINTS = {"single_choice": 1, "multiple_response": 2, "numeric": 1, "short_text": 1, "ordering": 2, "matching": 2}
META = ("label", "source", "note", "set")


@dataclass(frozen=True)
class Labelled:
    item: dict[str, Any]
    label: str  # "good" or the flaw's name
    source: str
    holdout: bool  # written after the rules' thresholds were set


@dataclass(frozen=True)
class Result:
    labelled: Labelled
    problems: list[str]

    @property
    def fired(self) -> bool:
        return bool(self.problems)

    @property
    def names(self) -> list[str]:
        return [problem.split(":", 1)[0] for problem in self.problems]


def load_labelled(path: Path = LABELLED_SET) -> list[Labelled]:
    """The labelled items as internal items (the bank's TOML form, converted as the bank converts it)."""
    entries = tomllib.loads(path.read_text(encoding="utf-8"))["items"]
    loaded = []
    for entry in entries:
        raw = {key: value for key, value in entry.items() if key not in META}
        raw.setdefault("points", POINTS.get(raw.get("type", ""), 1))
        raw.setdefault("explanation", entry.get("note") or "See the labelled set.")
        item = bank.item_from_raw(raw, f"{path.name}: item {entry['id']}")
        loaded.append(Labelled(item=item, label=entry["label"], source=entry.get("source", "written"),
                               holdout=entry.get("set") == "holdout"))
    return loaded


def measure(labelled: list[Labelled]) -> list[Result]:
    """Every check on every item, alone (the near-duplicate rule needs a draft, which a labelled item lacks)."""
    return [Result(entry, rules.all_problems(entry.item, [])) for entry in labelled]


def summary(results: list[Result]) -> dict[str, Any]:
    flawed = [result for result in results if result.labelled.label != "good"]
    good = [result for result in results if result.labelled.label == "good"]
    caught = sum(result.fired for result in flawed)
    false_positives = sum(result.fired for result in good)
    return {
        "n": len(results), "flawed": len(flawed), "good": len(good),
        "caught": caught, "caught_share": caught / len(flawed) if flawed else 0.0,
        "false_positives": false_positives, "false_positive_share": false_positives / len(good) if good else 0.0,
    }


def table(results: list[Result]) -> str:
    by_label: dict[str, list[Result]] = defaultdict(list)
    for result in results:
        by_label[result.labelled.label].append(result)
    lines = [f"{'flaw (label)':<34}{'n':>4}{'caught':>8}  rules that fired", "-" * 96]
    for label in sorted(by_label, key=lambda name: (name == "good", name)):
        group = by_label[label]
        fired = Counter(name for result in group for name in dict.fromkeys(result.names))
        shown = ", ".join(f"{name} {count}" for name, count in fired.most_common())
        caught = sum(result.fired for result in group)
        what = "fired (false pos.)" if label == "good" else f"{caught / len(group):>7.0%}"
        lines.append(f"{label:<34}{len(group):>4}{caught:>8}  {what if label == 'good' else ''}{shown}")
    lines.append("-" * 96)
    parts = [
        ("all", results),
        ("set the thresholds", [result for result in results if not result.labelled.holdout]),
        ("holdout", [result for result in results if result.labelled.holdout]),
    ]
    for name, part in parts:
        totals = summary(part)
        lines.append(
            f"{name + ':':<20}caught {totals['caught']}/{totals['flawed']} = {totals['caught_share']:.0%}; "
            f"false positives {totals['false_positives']}/{totals['good']} = {totals['false_positive_share']:.1%}; "
            f"n = {totals['n']}"
        )
    return "\n".join(lines)


def bank_report() -> str:
    """Every bundled bank item on which a flaw fires, with the flaws (refusals would stop the bank loading)."""
    lines = []
    count = total = 0
    for skill in bank.load_bank().values():
        for item in skill.items:
            total += 1
            found = rules.flaws(item)
            if found:
                count += 1
                lines.append(f"{item['id']:<28}{'; '.join(problem.split(':', 1)[0] for problem in found)}")
    return "\n".join([*lines, f"{count} of {total} bank items show a flaw"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bank", action="store_true", help="also list the bank items on which a flaw fires")
    parser.add_argument("--misses", action="store_true", help="also list the items the rules get wrong")
    args = parser.parse_args(argv)
    results = measure(load_labelled())
    print(table(results))
    if args.misses:
        print()
        for result in results:
            good = result.labelled.label == "good"
            if result.fired == good:
                verdict = "FALSE POSITIVE" if good else "MISSED"
                print(f"{verdict:<15}{result.labelled.item['id']:<30}{result.labelled.label:<32}{result.problems}")
    if args.bank:
        print()
        print(bank_report())
    return 0


if __name__ == "__main__":
    sys.exit(main())
