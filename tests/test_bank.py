"""The bundled item bank and its loader."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from app.assessments.generators.bank import BANK_DIR, BankError, load_bank, load_skill

GOOD = """
id = "demo"
name = "Demo"
description = "A demo skill."
levels = ["foundation", "intermediate"]

[[items]]
id = "demo-1"
level = "foundation"
type = "single_choice"
points = 1
prompt = "Pick B."
options = ["A", "B", "C"]
answer = 1
explanation = "B is B."
"""


def test_bank_has_six_skills_with_thirty_items_over_two_levels_and_three_types() -> None:
    skills = load_bank(BANK_DIR)
    assert len(skills) >= 6
    for skill in skills.values():
        assert len(skill.items) >= 30, skill.id
        levels = Counter(item["level"] for item in skill.items)
        assert len(levels) >= 2 and all(count >= 10 for count in levels.values()), (skill.id, levels)
        types = Counter(item["type"] for item in skill.items)
        assert {"single_choice", "multiple_response", "numeric"} <= set(types), (skill.id, types)


def test_every_bank_item_has_points_explanation_and_a_sound_key() -> None:
    for skill in load_bank(BANK_DIR).values():
        for item in skill.items:
            assert item["points"] >= 1 and item["explanation"].strip()
            if item["type"] == "single_choice":
                assert item["answer"] in {o["id"] for o in item["options"]}
            if item["type"] == "numeric":
                assert "absolute" in item["tolerance"]


@pytest.mark.parametrize(
    "change, message",
    [
        (("answer = 1", "answer = [0, 1]"), "exactly one option index"),
        (("answer = 1", "answer = 7"), "is not an option"),
        (('options = ["A", "B", "C"]', 'options = ["A", "b ", "B"]'), "options_not_distinct"),
        (("points = 1", "points = 0"), "points_invalid"),
        (('level = "foundation"', 'level = "expert"'), "level"),
        (('explanation = "B is B."', 'explanation = ""'), "explanation_missing"),
        (("points = 1", "points = 1\ncolour = 'red'"), "unknown fields"),
    ],
)
def test_a_bad_bank_file_fails_loudly_naming_file_and_item(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    path = tmp_path / "demo.toml"
    path.write_text(GOOD.replace(*change))
    with pytest.raises(BankError, match=message) as raised:
        load_skill(path)
    assert "demo.toml" in str(raised.value) and "demo-1" in str(raised.value)


def test_numeric_item_needs_a_tolerance(tmp_path: Path) -> None:
    path = tmp_path / "demo.toml"
    path.write_text(GOOD.replace('type = "single_choice"', 'type = "numeric"')
                    .replace('options = ["A", "B", "C"]\n', "").replace("answer = 1", "answer = 2.5"))
    with pytest.raises(BankError, match="tolerance_missing"):
        load_skill(path)
    path.write_text(path.read_text().replace("answer = 2.5", "answer = 2.5\ntolerance = 0.1"))
    assert load_skill(path).items[0]["tolerance"] == {"absolute": 0.1, "relative": 0}


def test_a_good_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "demo.toml"
    path.write_text(GOOD)
    skill = load_skill(path)
    assert skill.id == "demo" and skill.items[0]["answer"] == skill.items[0]["options"][1]["id"]


def test_every_draft_the_bank_can_make_passes_the_publish_checks() -> None:
    from app.assessments.generators.bank import BankGenerator
    from app.assessments.review import all_problems

    generator = BankGenerator()
    for seed in range(8):
        for skill in generator.skills.values():
            for level in skill.levels:
                pool = generator.pool(skill.id, level, seed)
                assert all_problems(pool) == {}, (seed, skill.id, level)
                assert generator.draft(skill.id, level, len(pool), seed) == generator.draft(
                    skill.id, level, len(pool), seed
                )


def test_template_variants_give_distinct_drafts_across_seeds() -> None:
    from app.assessments.generators.bank import BankGenerator

    generator = BankGenerator()
    prompts = {
        item["prompt"]
        for seed in range(20)
        for item in generator.pool("python", "foundation", seed)
        if "-tpl-" in item["id"]
    }
    assert len(prompts) >= 20
