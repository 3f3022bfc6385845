"""Item enemies and template twins, blueprints and level descriptors: in the bank, the draws and the credential."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.assessments import blueprints
from app.assessments.freeze import draw_items, primary_criterion
from app.assessments.generators import templates
from app.assessments.generators.bank import BankError, BankGenerator, load_bank, load_skill
from tests.conformance import assert_ob3
from tests.conftest import PUBLIC_URL
from tests.factories import ADMIN, earn_credential, keyed, new_assessment, new_learner, start
from tests.test_bank_history import _entries as history_entries

# Every "item enemy", "partial item enemy" and "template twin" row of the item-bank review's table
# (../shared/reviews/item-bank-review.md §1.3), victim first.
REVIEW_PAIRS = [
    ("python-f03", "python-f27"), ("python-f03", "python-tpl-div-mod"), ("python-f19", "python-f26"),
    ("python-f06", "python-tpl-range-len"), ("python-i10", "python-i27"), ("python-i15", "python-i27"),
    ("sql-f04", "sql-f25"), ("sql-f13", "sql-f26"), ("sql-i03", "sql-i26"), ("sql-i21", "sql-i26"),
    ("sql-f02", "sql-tpl-count-nulls"), ("sql-i14", "sql-i26"),
    ("git-f07", "git-f24"), ("git-i01", "git-i28"), ("git-f16", "git-tpl-reset-log"), ("git-i17", "git-i30"),
    ("git-i17", "git-tpl-range-count"),
    ("spreadsheets-f04", "spreadsheets-f30"), ("spreadsheets-f05", "spreadsheets-f31"),
    ("spreadsheets-f07", "spreadsheets-f30"), ("spreadsheets-f08", "spreadsheets-f29"),
    ("spreadsheets-f03", "spreadsheets-f32"), ("spreadsheets-f09", "spreadsheets-tpl-countif"),
    ("spreadsheets-f14", "spreadsheets-f32"), ("spreadsheets-i09", "spreadsheets-tpl-round"),
    ("technical-writing-f10", "technical-writing-f25"), ("technical-writing-i15", "technical-writing-i27"),
    ("technical-writing-f09", "technical-writing-tpl-sentence-length"),
    ("technical-writing-i18", "technical-writing-tpl-flesch-kincaid"),
    ("web-accessibility-f19", "web-accessibility-f28"), ("web-accessibility-i03", "web-accessibility-i30"),
    ("web-accessibility-i16", "web-accessibility-tpl-contrast"), ("web-accessibility-i21", "web-accessibility-i05"),
]
# A pair loses its mark when the item review's fix retired one side (bank_data/HISTORY.md): python-f03 and
# technical-writing-i15 are gone (three pairs), so 30 of the 33 pairs are left to keep apart.
RETIRED = {entry["item"] for entry in history_entries() if entry["status"] == "retired"}
LIVE_PAIRS = [pair for pair in REVIEW_PAIRS if not set(pair) & RETIRED]
POOLS = [(skill.id, level) for skill in load_bank().values() for level in skill.levels]


def _enemies_of(item_id: str) -> set[str]:
    skill = load_bank()[item_id.split("-tpl-")[0] if "-tpl-" in item_id else item_id.rsplit("-", 1)[0]]
    if item_id in skill.template_enemies:
        return set(skill.template_enemies[item_id])
    return set(next(item for item in skill.items if item["id"] == item_id).get("enemies", []))


@pytest.mark.parametrize(("victim", "cue"), LIVE_PAIRS)
def test_every_enemy_and_twin_pair_of_the_review_is_marked_on_both_sides(victim: str, cue: str) -> None:
    assert cue in _enemies_of(victim) and victim in _enemies_of(cue)


def test_every_marked_pair_is_one_the_review_lists() -> None:
    marked = {
        frozenset((item_id, other))
        for skill in load_bank().values()
        for item_id, others in [(item["id"], item.get("enemies", [])) for item in skill.items]
        + list(skill.template_enemies.items())
        for other in others
    }
    assert marked == {frozenset(pair) for pair in LIVE_PAIRS} and len(marked) == 30


def _pool_graph(pool: list[dict[str, Any]]) -> dict[str, set[str]]:
    graph = blueprints.enemy_graph(pool)
    assert graph, "the bank pool holds enemies, so the draw has something to avoid"
    return graph


def test_enemies_never_share_an_attempt_over_ten_thousand_draws() -> None:
    # The whole bank pool of each skill and level (items and template variants, enemies included) as a frozen
    # pool, attempts of realistic lengths, with and without the level's blueprint, and retakes that avoid
    # items seen in the learner's earlier attempts.
    generator = BankGenerator()
    draws = pairs_drawn_apart = 0
    for skill_id, level in POOLS:
        blueprint = generator.blueprint(skill_id, level)
        assert blueprint is not None
        for seed in range(12):
            pool = generator.pool(skill_id, level, seed)
            graph = _pool_graph(pool)
            for length in (5, 10, 15, 20):
                for frozen in (None, blueprint.to_json()):
                    seen: dict[str, int] = {}
                    for attempt in range(13 if length < 20 else 11):
                        ids = draw_items(pool, length, seed * 1000 + attempt, seen, frozen)
                        assert len(ids) == length == len(set(ids))
                        assert not blueprints.shares_enemies(ids, graph), (skill_id, level, seed, length, ids)
                        draws += 1
                        pairs_drawn_apart += sum(item_id in graph for item_id in ids)
                        seen = {item_id: ago + 1 for item_id, ago in seen.items()} | dict.fromkeys(ids, 1)
    assert draws >= 10_000
    assert pairs_drawn_apart > draws  # enemy-pair items are drawn, just never two of one pair together


def test_drafts_never_hold_two_enemies_and_the_largest_draft_is_reached() -> None:
    generator = BankGenerator()
    for skill_id, level in POOLS:
        for seed in range(40):
            for count in (10, 20, generator.capacity(skill_id, level, seed)):
                draft = generator.draft(skill_id, level, count, seed)
                assert len(draft) == count == len({item["id"] for item in draft})
                # Drafted items carry their enemies (both sides, template twins by their variants' ids too),
                # so the draft itself shows any pair it holds.
                assert not blueprints.enemy_graph(draft), (skill_id, level, seed, count)


def test_the_bank_refuses_more_items_than_can_be_drawn_together(client: TestClient) -> None:
    generator = BankGenerator()
    pool = generator.pool("python", "intermediate", 5)
    assert generator.capacity("python", "intermediate", 5) == len(pool) - 1  # i10 and i15 both give way to i27
    body = {"skill": "python", "level": "intermediate", "item_count": len(pool), "seed": 5}
    refused = client.post("/v1/assessments", json=body, headers=ADMIN)
    assert refused.status_code == 422 and refused.json()["error"] == "not_enough_items"
    assert f"holds {len(pool) - 1} such items" in refused.json()["detail"]


# Drawn with the code before enemies and blueprints existed: a pool without enemies (and an assessment without a
# blueprint) must keep drawing exactly these, so attempts on assessments frozen before reproduce from their seeds.
GOLDEN_POOL = [
    {"id": f"item-{n:02d}", "criteria": {("alpha", "beta", "gamma")[n % 3] if n < 20 else "alpha": 1.0},
     "difficulty": 1 + (n * 7) % 3}
    for n in range(24)
]
GOLDEN_DRAWS: list[tuple[int | None, int, dict[str, int], list[str]]] = [
    (10, 11, {}, ["item-09", "item-06", "item-12", "item-18", "item-20", "item-17", "item-07", "item-01",
                  "item-04", "item-02"]),
    (6, 12345, {}, ["item-23", "item-18", "item-10", "item-03", "item-05", "item-07"]),
    (8, 99, {"item-00": 1, "item-03": 2, "item-07": 1, "item-12": 3},
     ["item-16", "item-11", "item-18", "item-05", "item-06", "item-08", "item-19", "item-23"]),
    (None, 5, {}, ["item-22", "item-13", "item-09", "item-21", "item-18", "item-10", "item-04", "item-12",
                   "item-06", "item-03", "item-23", "item-05", "item-15", "item-02", "item-17", "item-01",
                   "item-07", "item-14", "item-00", "item-16", "item-20", "item-11", "item-08", "item-19"]),
]


@pytest.mark.parametrize(("count", "seed", "seen", "expected"), GOLDEN_DRAWS)
def test_draws_without_enemies_or_blueprint_are_unchanged(
    count: int | None, seed: int, seen: dict[str, int], expected: list[str]
) -> None:
    assert draw_items(GOLDEN_POOL, count, seed, seen) == expected
    # Enemies named outside the pool (as in a frozen draft, which never holds both) change nothing either.
    elsewhere = [{**item, "enemies": ["not-in-this-pool"]} for item in GOLDEN_POOL]
    assert draw_items(elsewhere, count, seed, seen) == expected


def test_a_bank_without_enemies_or_blueprints_drafts_as_before(tmp_path: Path) -> None:
    for skill in ("python", "sql"):
        text = (Path(__file__).parents[1] / "app/assessments/generators/bank_data" / f"{skill}.toml").read_text()
        text = "\n".join(line for line in text.splitlines() if not line.startswith("enemies = "))
        (tmp_path / f"{skill}.toml").write_text(text.split("\n[blueprints.")[0], encoding="utf-8")
    private = BankGenerator(tmp_path)
    for seed in (3, 77):
        pool = private.pool("sql", "foundation", seed)
        assert [item["id"] for item in private.draft("sql", "foundation", 9, seed)] == [
            item["id"] for item in random.Random(seed).sample(pool, 9)
        ]


def test_an_attempt_draw_avoids_enemies_inside_the_frozen_pool() -> None:
    # Enemies declared on one side only, within a frozen pool: the draw still keeps them apart, at every length
    # the pool allows, and fills the attempt.
    pool: list[dict[str, Any]] = [{"id": f"q{n}", "criteria": {"a" if n % 2 else "b": 1}} for n in range(12)]
    pool[0]["enemies"] = ["q1", "q2", "q3"]
    pool[4]["enemies"] = ["q5"]
    graph = blueprints.enemy_graph(pool)
    assert blueprints.capacity([item["id"] for item in pool], graph) == 10
    for seed in range(300):
        for count in (4, 8, 10, 12):
            ids = draw_items(pool, count, seed)
            assert len(ids) == min(count, 10) and not blueprints.shares_enemies(ids, graph)


# ------------------------------------------------------------------------------------------------ blueprints


@pytest.mark.parametrize(("skill_id", "level"), POOLS)
def test_every_level_has_a_blueprint_that_fits_its_pool(skill_id: str, level: str) -> None:
    blueprint = load_bank()[skill_id].blueprints[level]
    assert blueprint.attempt_items == 20 and len(blueprint.descriptor) > 200
    assert abs(sum(c.weight for c in blueprint.competencies) - 1) < 1e-9
    assert sum(c.items for c in blueprint.competencies) == 20
    criteria = {primary_criterion(item) for item in load_bank()[skill_id].items if item["level"] == level}
    assert {c.criterion for c in blueprint.competencies} <= criteria


@pytest.mark.parametrize(("skill_id", "level"), POOLS)
def test_drafts_and_attempts_take_the_blueprint_s_count_per_competency(skill_id: str, level: str) -> None:
    generator = BankGenerator()
    blueprint = generator.blueprint(skill_id, level)
    assert blueprint is not None
    frozen = blueprint.to_json()
    for seed in range(25):
        draft = generator.draft(skill_id, level, 20, seed)
        assert Counter(primary_criterion(item) for item in draft) == {c.criterion: c.items for c in
                                                                      blueprint.competencies}
        by_id = {item["id"]: item for item in draft}
        for length in (7, 10, 13):
            drawn = Counter(primary_criterion(by_id[i]) for i in draw_items(draft, length, seed, (), frozen))
            assert drawn == {name: n for name, n in blueprints.plan(frozen, length).items() if n}


def test_counts_scale_by_largest_remainder() -> None:
    frozen = {"attempt_items": 20, "competencies": [
        {"criterion": "a", "weight": 0.45, "items": 9}, {"criterion": "b", "weight": 0.25, "items": 5},
        {"criterion": "c", "weight": 0.2, "items": 4}, {"criterion": "d", "weight": 0.1, "items": 2},
    ]}
    assert blueprints.plan(frozen, 20) == {"a": 9, "b": 5, "c": 4, "d": 2}
    # 10 items: 4.5, 2.5, 2, 1; a and b tie on the remainder and the heavier competency gets the item.
    assert blueprints.plan(frozen, 10) == {"a": 5, "b": 2, "c": 2, "d": 1}
    # 7 items: 3.15, 1.75, 1.4, 0.7 -> floors 3, 1, 1, 0 and the two largest remainders (b .75, d .7) get one.
    assert blueprints.plan(frozen, 7) == {"a": 3, "b": 2, "c": 1, "d": 1}
    assert sum(blueprints.plan(frozen, 33).values()) == 33


BLUEPRINT_FILE = """
id = "demo"
name = "Demo"
description = "A demo skill."
levels = ["foundation"]
{items}
[blueprints.foundation]
attempt_items = 3
descriptor = "Can pick letters."
competencies = [
  {{ criterion = "x", weight = {wx}, items = {nx} }},
  {{ criterion = "{other}", weight = 0.333333333333, items = 1 }},
]
"""
ITEM = """
[[items]]
id = "demo-{n}"
level = "foundation"
type = "single_choice"
points = 1
criteria = {{ "{criterion}" = 1.0 }}
prompt = "Pick {n} of {n} letters, please: which one?"
options = ["A", "B", "C"]
answer = 1
explanation = "B is B."
{enemies}"""


def _demo(tmp_path: Path, *, wx: str = "0.666666666667", nx: int = 2, other: str = "y", enemies: str = "") -> Path:
    items = "".join(
        ITEM.format(n=n, criterion="x" if n < 3 else "y", enemies=enemies if n == 1 else "") for n in range(1, 5)
    )
    path = tmp_path / "demo.toml"
    path.write_text(BLUEPRINT_FILE.format(items=items, wx=wx, nx=nx, other=other), encoding="utf-8")
    return path


def test_a_sound_blueprint_and_enemies_load(tmp_path: Path) -> None:
    skill = load_skill(_demo(tmp_path, enemies='enemies = ["demo-3"]\n'))
    assert skill.blueprints["foundation"].attempt_items == 3
    assert {item["id"]: item.get("enemies") for item in skill.items} == {
        "demo-1": ["demo-3"], "demo-2": None, "demo-3": ["demo-1"], "demo-4": None,
    }


@pytest.mark.parametrize(("change", "message"), [
    ({"enemies": 'enemies = ["demo-99"]\n'}, "enemy 'demo-99' is not another item or template"),
    ({"enemies": 'enemies = ["demo-1"]\n'}, "enemy 'demo-1' is not another item"),
    ({"enemies": 'enemies = "demo-2"\n'}, "enemies must be a list"),
    ({"wx": "0.5"}, "weights sum to 0.833333"),
    ({"nx": 1}, "item counts sum to 2, not attempt_items 3"),
    ({"other": "zzz"}, "zzz: no item at this level has this criterion"),
    # demo-1 and demo-2 are the only x items; as enemies only one of them can be drawn.
    ({"enemies": 'enemies = ["demo-2"]\n'}, "x: 2 items asked, the pool holds 1 that can be drawn together"),
])
def test_a_bad_blueprint_or_enemy_fails_at_load(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    with pytest.raises(BankError, match=r"demo\.toml") as caught:
        load_skill(_demo(tmp_path, **change))
    assert message in str(caught.value)


def test_a_template_twin_must_name_an_item_of_its_skill() -> None:
    twin = templates.Template(id="sql-tpl-x", skill_id="sql", level="foundation", make=templates.TEMPLATES[0].make,
                              enemies=("sql-f99",))
    path = Path(__file__).parents[1] / "app/assessments/generators/bank_data/sql.toml"
    with pytest.raises(BankError, match="enemy 'sql-f99'"):
        load_skill(path, (*templates.TEMPLATES, twin))


# ------------------------------------------------------------------------------------------------ over HTTP


def test_the_skill_view_shows_each_level_s_descriptor_and_blueprint(client: TestClient) -> None:
    listed = client.get("/v1/skills", headers=ADMIN).json()
    learner = new_learner(client)
    for skill in listed:
        detail = client.get(f"/v1/skills/{skill['id']}", headers=learner["headers"])
        assert detail.status_code == 200
        body = detail.json()
        assert {key: body[key] for key in ("id", "name", "description", "levels")} == skill
        assert set(body["blueprints"]) == set(skill["levels"])
        for blueprint in body["blueprints"].values():
            assert blueprint["attempt_items"] == sum(c["items"] for c in blueprint["competencies"])
            assert blueprint["level_descriptor"].strip()
    assert "window functions" in client.get("/v1/skills/sql", headers=ADMIN).json()["blueprints"]["intermediate"][
        "level_descriptor"]
    missing = client.get("/v1/skills/cooking", headers=ADMIN)
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


def test_an_assessment_freezes_its_blueprint_and_its_attempts_follow_it(client: TestClient) -> None:
    assessment = new_assessment(client, skill="sql", level="foundation", item_count=20, attempt_item_count=10,
                                retake_cooldown_seconds=0)
    frozen = assessment["rubric"]["blueprint"]
    assert frozen["attempt_items"] == 20 and frozen["level_descriptor"].startswith("Can read and predict")
    planned = {c["criterion"]: c["items_per_attempt"] for c in assessment["blueprint"]["competencies"]}
    assert planned == blueprints.plan(frozen, 10) and sum(planned.values()) == 10
    by_id = {item["id"]: item for item in assessment["items"]}
    assert Counter(primary_criterion(item) for item in assessment["items"]) == {
        c["criterion"]: c["items"] for c in frozen["competencies"]}
    # The learner's view shows the blueprint too (what the test covers), without any item.
    learner = new_learner(client)
    seen = client.get(f"/v1/assessments/{assessment['id']}", headers=learner["headers"]).json()
    assert seen["blueprint"] == assessment["blueprint"] and "items" not in seen and "rubric" not in seen
    first: set[str] = set()
    for taker in (learner, new_learner(client), new_learner(client)):
        view = keyed(client, start(client, assessment, taker))
        drawn = Counter(primary_criterion(by_id[item["bank_item_id"]]) for item in view["items"])
        assert drawn == {name: n for name, n in planned.items() if n}
        first = first or {item["bank_item_id"] for item in view["items"]}
    # A retake shows the items not yet seen first (here the other ten), ahead of the blueprint's counts.
    retake = {item["bank_item_id"] for item in keyed(client, start(client, assessment, learner))["items"]}
    assert len(retake) == 10 and not retake & first


def test_an_assessment_restricted_to_some_item_types_has_no_blueprint(client: TestClient) -> None:
    assessment = new_assessment(client, skill="sql", level="foundation", item_count=4, item_types=["numeric"])
    assert assessment["blueprint"] is None and "blueprint" not in assessment["rubric"]


def test_publishing_refuses_a_pool_whose_attempts_would_show_two_enemies(client: TestClient) -> None:
    draft = new_assessment(client, publish=False, skill="git", level="foundation", item_count=5)
    first, second = draft["items"][0]["id"], draft["items"][1]["id"]
    marked = client.patch(f"/v1/assessments/{draft['id']}/items/{first}", json={"enemies": [second]}, headers=ADMIN)
    assert marked.status_code == 200 and marked.json()["items"][0]["enemies"] == [second]
    refused = client.post(f"/v1/assessments/{draft['id']}/publish", headers=ADMIN)
    assert refused.status_code == 422 and refused.json()["error"] == "enemies_together"
    assert f"{min(first, second)} / {max(first, second)}" in refused.json()["detail"]
    bad = client.patch(f"/v1/assessments/{draft['id']}/items/{first}", json={"enemies": [first]}, headers=ADMIN)
    assert bad.status_code == 422 and "enemies_invalid" in bad.json()["detail"]


def test_attempts_of_a_pool_holding_enemies_never_show_both(client: TestClient) -> None:
    draft = new_assessment(client, publish=False, skill="python", level="intermediate", item_count=6,
                           attempt_item_count=5)
    ids = [item["id"] for item in draft["items"]]
    client.patch(f"/v1/assessments/{draft['id']}/items/{ids[0]}", json={"enemies": [ids[1]]}, headers=ADMIN)
    published = client.post(f"/v1/assessments/{draft['id']}/publish", headers=ADMIN)
    assert published.status_code == 200, published.text
    assessment = published.json()
    for _ in range(8):
        learner = new_learner(client)
        drawn = {item["bank_item_id"] for item in keyed(client, start(client, assessment, learner))["items"]}
        assert len(drawn) == 5 and not {ids[0], ids[1]} <= drawn


def test_the_credential_s_criteria_id_states_the_level_and_the_blueprint(client: TestClient) -> None:
    earned = earn_credential(client, skill="web-accessibility", level="intermediate", item_count=20,
                             attempt_item_count=10)
    credential = earned["credential"]["credential"]
    criteria = credential["credentialSubject"]["achievement"]["criteria"]
    assessment_id = earned["assessment"]["id"]
    assert criteria["id"] == f"{PUBLIC_URL}/v1/assessments/{assessment_id}/evidence#criteria"
    assert criteria["narrative"].startswith("Scored at least 70%") and "criteria's id" in criteria["narrative"]
    assert_ob3(credential)
    # The criteria id resolves without a key, to the level descriptor and the blueprint of this assessment.
    evidence = client.get(criteria["id"].removeprefix(PUBLIC_URL).partition("#")[0])
    assert evidence.status_code == 200
    narrative = evidence.json()["criteria"]
    descriptor = earned["assessment"]["rubric"]["blueprint"]["level_descriptor"]
    assert narrative.startswith("Scored at least 70%") and f"**What intermediate means.** {descriptor}" in narrative
    assert "Each attempt draws 10 items, per competency:" in narrative
    assert "| competency | weight | items |" in narrative
    for competency in earned["assessment"]["blueprint"]["competencies"]:
        label = competency["criterion"].replace("-", " ").capitalize()
        assert f"| {label} | {competency['weight'] * 100:.0f}% | {competency['items_per_attempt']} |" in narrative
    assert evidence.json()["blueprint"] == earned["assessment"]["blueprint"]
    public = client.get(credential["credentialSubject"]["achievement"]["id"]).json()["criteria"]["narrative"]
    assert descriptor in public and "Each attempt draws 20 items" in public


def test_an_assessment_without_a_blueprint_issues_the_narrative_as_before(client: TestClient) -> None:
    earned = earn_credential(client, skill="sql", level="foundation", item_count=3, item_types=["numeric"])
    narrative = earned["credential"]["credential"]["credentialSubject"]["achievement"]["criteria"]["narrative"]
    assert narrative == (
        "Scored at least 70% on a timed, auto-graded SQL for data work assessment at foundation level, taken under "
        "Skillproof's published rules."
    )
