"""The grade is not an answer oracle: retake policy by default, no per-item results or bank ids for learners."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app import cli
from app.assessments.freeze import learner_criteria
from app.assessments.generators.bank import BANK_DIR, BankError
from app.config import Settings
from app.credentials.builder import item_source
from app.deps import get_clock
from app.main import create_app
from tests.conftest import ADMIN_KEY, PUBLIC_URL
from tests.factories import ADMIN, correct_responses, keyed, new_assessment, new_learner, start

DAY = 86400
# Twelve single-choice items: the kind of item a blind learner can work out from per-item scores alone.
ORACLE_ASSESSMENT = {"skill": "spreadsheets", "level": "intermediate", "item_count": 12, "seed": 5,
                     "item_types": ["single_choice"]}


@contextmanager
def _client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), base_url=PUBLIC_URL) as test_client:
        yield test_client


@pytest.fixture
def product(database_url: str, keys_dir: Path) -> Iterator[TestClient]:
    """The app with the retake and feedback settings a deployment gets by default (the precision gate off: these
    small assessments are about retakes; tests/test_precision.py runs the gate's default)."""
    with _client(Settings(database_url=database_url, keys_dir=keys_dir, public_url=PUBLIC_URL,
                          admin_api_key=ADMIN_KEY, precision_gate="off")) as test_client:
        yield test_client


class Clock:
    """Moves the app's clock forward (the cooldown is a day; tests do not wait for it)."""

    def __init__(self, client: TestClient):
        self.client, self.now = client, dt.datetime.now(dt.UTC)
        client.app.dependency_overrides[get_clock] = lambda: self.now  # type: ignore[attr-defined]

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def clock(product: TestClient) -> Iterator[Clock]:
    yield Clock(product)
    product.app.dependency_overrides.clear()  # type: ignore[attr-defined]


ItemReader = Callable[[dict[str, Any], dict[str, Any]], list[dict[str, Any]] | None]


def _attack(client: TestClient, assessment: dict[str, Any], learner: dict[str, Any], read_items: ItemReader,
            *, tries: int, between: Callable[[int], None] = lambda _: None) -> dict[str, Any]:
    """A learner who knows nothing: tries the options in turn and learns from whatever the grades show.

    Items are recognised by their prompt (ids may change between attempts); option ids are stable.
    """
    known: dict[str, str] = {}
    wrong: dict[str, set[str]] = {}
    report: dict[str, Any] = {"attempts": 0, "passed": False, "refusal": None}
    for round_number in range(tries):
        response = client.post(f"/v1/assessments/{assessment['id']}/attempts", headers=learner["headers"])
        if response.status_code != 201:
            report["refusal"] = response
            break
        report["attempts"] += 1
        attempt = response.json()
        guesses: dict[str, tuple[str, str]] = {}
        for item in attempt["items"]:
            prompt = item["prompt"]
            candidates = sorted(o["id"] for o in item["options"] if o["id"] not in wrong.get(prompt, set()))
            # With feedback, the first option not yet ruled out; without it, the next option in turn.
            choice = known.get(prompt) or candidates[(0 if wrong.get(prompt) else round_number) % len(candidates)]
            guesses[item["id"]] = (prompt, choice)
        grade = client.post(f"/v1/attempts/{attempt['id']}/submit", headers=learner["headers"],
                            json={"responses": [{"item_id": i, "answer": c} for i, (_, c) in guesses.items()]}).json()
        if grade["passed"]:
            report["passed"] = True
            break
        for entry in read_items(attempt, grade) or []:
            prompt, choice = guesses[entry["item_id"]]
            if entry["score"] == entry["max_score"]:
                known[prompt] = choice
            else:
                wrong.setdefault(prompt, set()).add(choice)
        between(report["attempts"])
    # Facts about single items: a key confirmed, or an option ruled out.
    report["facts_learned"] = len(known) + sum(len(options) for options in wrong.values())
    return report


def test_with_per_item_scores_and_free_retakes_a_blind_learner_passes(client: TestClient) -> None:
    """The attack the defaults stop: per-item scores (here read through the admin view) and instant retakes."""
    assessment = new_assessment(client, **ORACLE_ASSESSMENT, max_attempts=None, retake_cooldown_seconds=0)
    learner = new_learner(client)

    def admin_items(attempt: dict[str, Any], _: dict[str, Any]) -> list[dict[str, Any]]:
        return keyed(client, attempt)["grade"]["items"]  # type: ignore[no-any-return]

    report = _attack(client, assessment, learner, admin_items, tries=20)
    print(f"\noracle open: a blind learner passed in {report['attempts']} attempts")
    assert report["passed"] and report["attempts"] <= 6


def test_with_the_defaults_the_grade_is_no_oracle(product: TestClient, clock: Clock) -> None:
    assessment = new_assessment(product, **ORACLE_ASSESSMENT)
    assert (assessment["max_attempts"], assessment["retake_cooldown_seconds"]) == (3, DAY)
    learner = new_learner(product)
    seen_cooldowns: list[int] = []

    def learner_items(_: dict[str, Any], grade: dict[str, Any]) -> list[dict[str, Any]] | None:
        return grade.get("items")  # type: ignore[no-any-return]

    def wait_for_the_cooldown(attempts: int) -> None:
        if attempts < 3:
            early = product.post(f"/v1/assessments/{assessment['id']}/attempts", headers=learner["headers"])
            assert early.status_code == 409 and early.json()["error"] == "retake_cooldown"
            seen_cooldowns.append(int(early.headers["retry-after"]))
        clock.advance(DAY)

    report = _attack(product, assessment, learner, learner_items, tries=20, between=wait_for_the_cooldown)
    print(f"\ndefaults: {report['attempts']} attempts over {len(seen_cooldowns)} days, "
          f"facts about single items learned {report['facts_learned']}, passed {report['passed']}")
    assert report["attempts"] == 3 and not report["passed"] and report["facts_learned"] == 0
    assert seen_cooldowns == [DAY] * 2
    refusal = report["refusal"]
    assert refusal.status_code == 409 and refusal.json()["error"] == "attempts_exhausted"
    assert set(refusal.json()) == {"error", "detail"}
    clock.advance(365 * DAY)
    assert product.post(f"/v1/assessments/{assessment['id']}/attempts",
                        headers=learner["headers"]).status_code == 409


def test_learner_views_hold_no_bank_ids_answers_or_per_item_results(client: TestClient) -> None:
    assessment = new_assessment(client, skill="sql", item_count=8)
    bank_ids = {item["id"] for item in assessment["items"]}
    explanations = [item["explanation"] for item in assessment["items"]]
    learner = new_learner(client)
    first, second = start(client, assessment, learner), start(client, assessment, learner)
    assert not {item["id"] for item in first["items"]} & {item["id"] for item in second["items"]}
    grade = client.post(f"/v1/attempts/{first['id']}/submit", headers=learner["headers"],
                        json={"responses": correct_responses(keyed(client, first))}).json()
    assert grade["passed"] and "items" not in grade
    credential = client.get(f"/v1/credentials/{grade['credential_id']}", headers=learner["headers"]).json()
    bodies = [
        first, second, grade, credential,
        client.get(f"/v1/attempts/{first['id']}", headers=learner["headers"]).json(),
        client.get("/v1/learners/me/credentials", headers=learner["headers"]).json(),
        client.get(f"/v1/assessments/{assessment['id']}", headers=learner["headers"]).json(),
    ]
    for body in bodies:
        text = json.dumps(body)
        assert not any(f'"{bank_id}"' in text or f" {bank_id} " in text for bank_id in bank_ids), text[:300]
        assert not any(explanation in text for explanation in explanations)
        assert '"answer"' not in text and '"bank_item_id"' not in text
    assert "items" not in bodies[4]["grade"]
    # The admin view maps every opaque id back to the assessment's item and its key.
    admin_view = keyed(client, first)
    assert {item["bank_item_id"] for item in admin_view["items"]} == bank_ids
    assert {item["item_id"] for item in admin_view["grade"]["items"]} == {item["id"] for item in first["items"]}


def test_per_item_feedback_after_the_final_attempt_when_the_setting_allows_it(settings: Settings) -> None:
    allowing = settings.model_copy(update={"learner_item_feedback": "after_final_attempt"})
    with _client(allowing) as client:
        assessment = new_assessment(client, item_count=6, max_attempts=2, retake_cooldown_seconds=0)
        learner = new_learner(client)
        first = start(client, assessment, learner)
        url = f"/v1/attempts/{first['id']}/submit"
        assert "items" not in client.post(url, json={"responses": []}, headers=learner["headers"]).json()
        second = start(client, assessment, learner)
        final = client.post(f"/v1/attempts/{second['id']}/submit", headers=learner["headers"],
                            json={"responses": correct_responses(keyed(client, second))}).json()
        assert {entry["item_id"] for entry in final["items"]} == {item["id"] for item in second["items"]}
        assert all(set(entry) == {"item_id", "score", "max_score"} for entry in final["items"])
        earlier = client.get(f"/v1/attempts/{first['id']}", headers=learner["headers"]).json()["grade"]
        assert [entry["score"] for entry in earlier["items"]] == [0] * 6


def test_credentials_state_the_retake_policy_they_were_earned_under(product: TestClient) -> None:
    narrative = _evidence_narrative(product)
    assert "(4 items)" in narrative and "Items from the demo bank (public)" in narrative
    assert "attempt 1; the assessment allows at most 3 attempts, at least 24 h apart." in narrative


def test_explicit_retake_policies_override_the_defaults(product: TestClient) -> None:
    unlimited = new_assessment(product, item_count=3, max_attempts=None, retake_cooldown_seconds=0)
    assert (unlimited["max_attempts"], unlimited["retake_cooldown_seconds"]) == (None, 0)
    custom = new_assessment(product, item_count=3, max_attempts=5, retake_cooldown_seconds=3600)
    assert (custom["max_attempts"], custom["retake_cooldown_seconds"]) == (5, 3600)
    learner = new_learner(product)
    for _ in range(4):
        start(product, unlimited, learner)


def _private_bank(tmp_path: Path) -> Path:
    bank = tmp_path / "bank"
    bank.mkdir()
    shutil.copy(BANK_DIR / "git.toml", bank / "acme-git.toml")
    return bank


def test_a_private_bank_serves_only_its_skills_and_credentials_say_so(settings: Settings, tmp_path: Path) -> None:
    with _client(settings) as client:
        demo = _evidence_narrative(client)
    assert "demo bank (public)" in demo and "attempt 1; the assessment allows no limit on attempts" in demo
    with _client(settings.model_copy(update={"bank_dir": _private_bank(tmp_path)})) as client:
        assert [skill["id"] for skill in client.get("/v1/skills", headers=ADMIN).json()] == ["git"]
        private = _evidence_narrative(client)
    assert "private bank" in private and "demo bank" not in private


def _evidence_narrative(client: TestClient) -> str:
    assessment = new_assessment(client, skill="git", item_count=4)
    learner = new_learner(client)
    attempt = start(client, assessment, learner)
    grade = client.post(f"/v1/attempts/{attempt['id']}/submit", headers=learner["headers"],
                        json={"responses": correct_responses(keyed(client, attempt))}).json()
    credential = client.get(f"/v1/credentials/{grade['credential_id']}", headers=learner["headers"]).json()
    return str(credential["credential"]["evidence"][0]["narrative"])


@pytest.mark.parametrize("mutation", [
    lambda text: text.replace("answer = 2", "answer = 9", 1),
    lambda text: text.replace('levels = ["foundation", "intermediate"]', "levels = 3", 1),
    lambda text: text + "\n[[items]]\nid = 7\n",
    lambda text: text.replace("points = 1", 'points = "one"', 1),
    lambda text: text + "\nnot toml at all\n",
])
def test_a_bad_private_bank_stops_the_start_with_one_line(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    mutation: Callable[[str], str],
) -> None:
    bank = _private_bank(tmp_path)
    path = bank / "acme-git.toml"
    path.write_text(mutation(path.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(BankError, match=r"acme-git\.toml"):
        create_app(settings.model_copy(update={"bank_dir": bank}))
    monkeypatch.setenv("SKILLPROOF_BANK_DIR", str(bank))
    monkeypatch.setenv("SKILLPROOF_DATABASE_URL", f"sqlite:///{tmp_path / 'never.db'}")
    monkeypatch.setenv("SKILLPROOF_KEYS_DIR", str(tmp_path / "keys"))
    assert cli.main(["serve", "--port", "0"]) == 2
    _, err = capsys.readouterr()
    assert err.count("\n") == 1 and "acme-git.toml" in err and "Traceback" not in err
    assert not (tmp_path / "never.db").exists() and not (tmp_path / "keys").exists()


def _items(spec: dict[str, str]) -> list[dict[str, Any]]:
    return [{"id": item_id, "criteria": {criterion: 1}} for item_id, criterion in spec.items()]


def _results(*names: str) -> list[dict[str, Any]]:
    return [{"criterion": name, "score": 1, "max_score": 2, "percent": 50.0} for name in names]


@pytest.mark.parametrize("spec, voided, shown", [
    ({"1": "a", "2": "a", "3": "a"}, (), ["a"]),
    ({"1": "a", "2": "a", "3": "b", "4": "b"}, (), ["a", "b"]),
    # b rests on item 3 alone; showing a would give item 3's score as the total minus a.
    ({"1": "a", "2": "a", "3": "b"}, (), []),
    ({"1": "a", "2": "a", "3": "b", "4": "b", "5": "c"}, (), ["b"]),
    ({"1": "a", "2": "a", "3": "b", "4": "b", "5": "c", "6": "d"}, (), ["a", "b"]),
    # A voided item counts for nothing: b then rests on item 4 alone.
    ({"1": "a", "2": "a", "3": "b", "4": "b"}, ("3",), []),
])
def test_learners_see_no_criterion_that_gives_away_one_item(
    spec: dict[str, str], voided: tuple[str, ...], shown: list[str]
) -> None:
    criteria = _results(*sorted(set(spec.values())))
    assert [entry["criterion"] for entry in learner_criteria(criteria, _items(spec), voided)] == shown


def test_no_learner_view_of_a_grade_rests_a_criterion_on_one_item(client: TestClient) -> None:
    assessment = new_assessment(client, skill="git", item_count=12, attempt_item_count=6, seed=3)
    criteria_of = {item["id"]: set(item.get("criteria") or {"general": 1}) for item in assessment["items"]}
    for _ in range(4):
        learner = new_learner(client)
        attempt = start(client, assessment, learner)
        admin_view = keyed(client, attempt)
        grade = client.post(f"/v1/attempts/{attempt['id']}/submit", headers=learner["headers"],
                            json={"responses": correct_responses(admin_view)[:3]}).json()
        shown = client.get(f"/v1/attempts/{attempt['id']}", headers=learner["headers"]).json()["grade"]["criteria"]
        assert grade["criteria"] == shown
        drawn = [item["bank_item_id"] for item in admin_view["items"]]
        for entry in shown:
            assert sum(entry["criterion"] in criteria_of[item_id] for item_id in drawn) >= 2
        hidden = {item_id for item_id in drawn if criteria_of[item_id] - {e["criterion"] for e in shown}}
        assert len(hidden) != 1
        assert len(keyed(client, attempt)["grade"]["criteria"]) >= len(shown)  # admins see every criterion
    # Technical writing's foundation blueprint (10, 7 and 3 of 20) gives a 6-item draft criteria of 3, 2 and 1
    # items: the single one is left out, and so is the pair, since the total minus the rest would give the single
    # item's score.
    fixed = new_assessment(client, skill="technical-writing", item_count=6, seed=0)
    learner = new_learner(client)
    attempt = start(client, fixed, learner)
    grade = client.post(f"/v1/attempts/{attempt['id']}/submit", headers=learner["headers"],
                        json={"responses": []}).json()
    assert [entry["criterion"] for entry in grade["criteria"]] == ["clarity-and-style"]
    assert len(keyed(client, attempt)["grade"]["criteria"]) == 3


@pytest.mark.parametrize("generator, bank, said", [
    ("bank", "demo", "demo bank (public)"),
    ("bank", None, "demo bank (public)"),  # bank drafts made before bank kinds were recorded
    ("bank", "private", "private bank"),
    ("llm", None, "LLM-generated, checked"),
])
def test_credentials_name_the_kind_of_source_their_items_came_from(generator: str, bank: str | None,
                                                                   said: str) -> None:
    assert item_source(generator, bank).startswith(said)
