"""The LLM pipeline that earns trust: briefs from the bank, distractor rationales, computed numeric keys, a
critic pass, an options-only cue test, unanimous solvers, and a solver on its own endpoint.

Everything runs against the scripted OpenAI-compatible server (tests/llm_server.py) over real HTTP; each
check drops the item it should, with its named reason, and keeps a good one.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter, deque
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.assessments import rules, validation
from app.assessments.generators import brief as briefs
from app.assessments.generators import compute, prompts, solver
from app.assessments.generators.bank import load_bank
from app.assessments.generators.llm import (
    BATCH_MODELS,
    ITEM_TYPES,
    TASKS_PER_REQUEST,
    WRITABLE_TYPES,
    LlmConfig,
    LlmGenerator,
    solver_config,
)
from app.assessments.review import REVIEW_CHECKLIST
from app.config import Settings
from app.llm.structured import strict_schema
from app.main import create_app
from tests.conftest import PUBLIC_URL
from tests.factories import ADMIN, new_learner, start
from tests.llm_server import FakeLlmServer, FakeModel, Received, script_every_type

SKILL: dict[str, Any] = {
    "skill_id": "python", "skill_name": "Python programming",
    "skill_description": "Writing and reading everyday Python 3 code.", "level": "foundation",
}
GOOD_SINGLE = ("What does `max([3, 7, 5])` return?", ["3", "7", "5", "15"], [1])


@pytest.fixture
def server() -> Iterator[FakeLlmServer]:
    with FakeLlmServer() as running:
        yield running
        assert running.errors == [], "the fake model's handler failed"


def config_for(server: FakeLlmServer, **changes: Any) -> LlmConfig:
    return LlmConfig(**{"base_url": server.base_url, "model": "fake-model", "api_key": "sk-generator",
                        "backoff_base_seconds": 0.01, "timeout_seconds": 5.0, **changes})


def generate(server: FakeLlmServer, item_count: int, item_types: list[str], **kwargs: Any) -> Any:
    generator = LlmGenerator(kwargs.pop("config", None) or config_for(server))
    try:
        return generator.generate(**SKILL, item_count=item_count, item_types=item_types, seed=11, **kwargs)
    finally:
        generator.close()


def named(server: FakeLlmServer, prefix: str) -> list[Received]:
    return [received for received in server.requests if received.schema_name.startswith(prefix)]


def reasons_of(result: Any) -> dict[str, list[str]]:
    return {entry["prompt"]: entry["reasons"] for entry in result.dropped}


# -- the brief: blueprint (today the bank pool), level descriptor, exemplars ------------------------------------


def test_a_brief_from_the_bank_plans_competencies_and_shows_exemplars_without_keys() -> None:
    skill = load_bank()["python"]
    brief = briefs.from_bank(skill, "foundation", 10, ["single_choice", "numeric"], seed=3)

    pool = [item for item in skill.items if item["level"] == "foundation"]
    # The level's blueprint drives the plan: its descriptor, its competencies' weights.
    blueprint = skill.blueprints["foundation"]
    weights = {c.criterion: c.weight for c in blueprint.competencies}
    assert brief.source == "blueprint" and brief.level_descriptor == blueprint.descriptor
    planned = {c.criterion: c.weight for c in brief.competencies}  # a criterion given no item is left out
    assert planned == {name: weight for name, weight in weights.items() if name in planned}
    assert sum(c.target for c in brief.competencies) == 10
    assert {c.criterion: c.target for c in brief.competencies} == briefs.plan_counts(weights, 10)
    # A skill without blueprints falls back to the bank pool's shares and the level's generic descriptor.
    bare = dataclasses.replace(skill, blueprints={})
    fallback = briefs.from_bank(bare, "foundation", 10, ["single_choice", "numeric"], seed=3)
    shares = Counter(min(item["criteria"], key=lambda n: (-item["criteria"][n], n)) for item in pool)
    assert fallback.source == "bank-pool" and fallback.level_descriptor == briefs.LEVEL_DESCRIPTORS["foundation"]
    assert {c.criterion: c.target for c in fallback.competencies} == briefs.plan_counts(dict(shares), 10)
    by_id = {item["id"]: item for item in pool}
    assert [e.type for e in brief.exemplars] == ["single_choice"] * 2 + ["numeric"] * 2
    for exemplar in brief.exemplars:  # from this skill and level, and free of flaws
        assert exemplar.id in by_id and rules.all_problems(by_id[exemplar.id], []) == []
    assert briefs.from_bank(skill, "foundation", 10, ["single_choice", "numeric"], seed=3) == brief  # seeded

    messages = prompts.generation_messages(brief=brief, item_type="single_choice", count=3,
                                           plan={brief.criteria[0]: 2, brief.criteria[1]: 1})
    user = messages[1]["content"]
    assert brief.level_descriptor in user
    assert f'each measuring one competency: 2 on "{brief.criteria[0]}", 1 on "{brief.criteria[1]}"' in user
    for exemplar in brief.exemplars_for("single_choice"):
        shown = by_id[exemplar.id]
        assert exemplar.prompt in user
        assert shown["explanation"] not in user  # the key's giveaway stays out
        assert all(option["text"] in user for option in shown["options"])
        assert shown["answer"] not in user  # option ids never leave the service


def test_plan_counts_is_largest_remainder() -> None:
    assert briefs.plan_counts({"a": 0.45, "b": 0.25, "c": 0.2, "d": 0.1}, 20) == {"a": 9, "b": 5, "c": 4, "d": 2}
    assert briefs.plan_counts({"a": 1, "b": 1, "c": 1}, 2) == {"a": 1, "b": 1}  # ties: the name
    assert sum(briefs.plan_counts({"x": 0.37, "y": 0.33, "z": 0.3}, 7).values()) == 7


def test_items_carry_their_competency_and_the_plan_is_kept_per_competency(server: FakeLlmServer) -> None:
    model = FakeModel()
    server.handler = model
    drafts = [model.single_choice(f"What does `max([{n}, {n + 4}, 1])` return?", [str(n), str(n + 4), "1",
                                  str(2 * n + 5)], [1]) for n in (3, 6, 9, 12)]
    on = ["functions", "functions", "functions", "loops"]  # the model writes one too many on functions
    model.batch("single_choice", *[{**draft, "competency": tag} for draft, tag in zip(drafts, on, strict=True)])
    brief = briefs.from_criteria(**SKILL, item_count=3, criteria=["functions", "loops", "strings"])
    assert {c.criterion: c.target for c in brief.competencies} == {"functions": 1, "loops": 1, "strings": 1}
    generator = LlmGenerator(config_for(server, max_rounds=1))
    result = generator.generate(brief, item_types=["single_choice"], seed=1)

    assert [item["criteria"] for item in result.kept] == [{"functions": 1}, {"loops": 1}]
    assert reasons_of(result) == {
        drafts[1]["prompt"]: ["over_target: the 1 planned items on 'functions' are kept already"],
        drafts[2]["prompt"]: ["over_target: the 1 planned items on 'functions' are kept already"],
    }
    assert result.notes[-1] == "competencies short of their target: strings 1"
    assert result.provenance["brief"]["competencies"] == {"functions": 1, "loops": 1, "strings": 1}


# -- distractor rationales ----------------------------------------------------------------------------------


def test_every_distractor_needs_a_rationale_and_it_is_stored_for_admins(server: FakeLlmServer) -> None:
    model = FakeModel()
    server.handler = model
    missing = model.single_choice("Which keyword starts a generator expression's loop part?",
                                  ["for", "in", "yield", "while"], [0])
    missing["distractor_rationales"] = missing["distractor_rationales"][:2]  # "while" has none
    for_key = model.single_choice("Which method adds one element to the end of a list?",
                                  ["append", "extend", "insert", "add"], [0])
    for_key["distractor_rationales"].append({"option": 0, "why_wrong": "x", "misconception": "y"})
    good = model.single_choice(*GOOD_SINGLE)
    model.batch("single_choice", missing, for_key, good)
    result = generate(server, 1, ["single_choice"])

    assert reasons_of(result) == {
        missing["prompt"]: ["rationale_missing: no reason and misconception for the distractor 'while'"],
        for_key["prompt"]: ["rationale_for_key: the model explains why the key 'append' is wrong"],
    }
    (item,) = result.kept
    texts = {option["id"]: option["text"] for option in item["options"]}
    assert {texts[option]: why for option, why in item["distractor_rationales"].items()} == {
        "3": {"why_wrong": "3 is not what the code gives.", "misconception": "Confuses this with 3."},
        "5": {"why_wrong": "5 is not what the code gives.", "misconception": "Confuses this with 5."},
        "15": {"why_wrong": "15 is not what the code gives.", "misconception": "Confuses this with 15."},
    }
    assert validation.item_problems(item) == []


# -- numeric keys computed by code ----------------------------------------------------------------------------


def test_numeric_keys_come_from_the_evaluator_never_from_the_model(server: FakeLlmServer) -> None:
    model = FakeModel()
    server.handler = model
    eggs = "A box holds 12 eggs. How many eggs are in 7 boxes? Give a whole number."
    stated_wrong = model.numeric(eggs, 74, computation="12 * 7")  # the model's arithmetic slipped
    bare = model.numeric("How many bits are in 3 bytes? Give a whole number.", 24, computation="24")
    foreign = model.numeric("A loop runs `for i in range(5)`; how many times does its body run?", 5,
                            computation="15 // 3")
    hostile = model.numeric("What is `2 ** 3`? Give a whole number.", 8, computation="__import__('os').getpid()")
    rounding = model.numeric("A meal costs 40.50 and the tip is 15%. What is the tip, to 2 decimal places?", 6.08,
                             computation="round(40.50 * 15 / 100, 2)")
    rounding["absolute_tolerance"] = 0.005
    model.batch("numeric", stated_wrong, bare, foreign, hostile, rounding,
                model.numeric("A box holds 12 eggs. How many eggs are in 9 boxes? Give a whole number.", 108,
                              computation="12 * 9"))
    result = generate(server, 2, ["numeric"], config=config_for(server, batch_size=6))

    assert reasons_of(result) == {
        eggs: ["stated_key_disagrees: the model stated 74; its computation '12 * 7' gives 84"],
        bare["prompt"]: ["key_not_computed: the computation '24' is a bare number, not a calculation"],
        foreign["prompt"]: ["computation_unanchored: 15, 3 in '15 // 3' is not a number the prompt states"],
        hostile["prompt"]: ["computation_invalid: \"__import__('os').getpid()\": Call is not allowed: use "
                            "numbers, + - * / // % **, round, abs, min, max, sum and len"],
    }
    tip, box = result.kept
    assert tip["answer"] == 6.08 and tip["computation"] == "round(40.50 * 15 / 100, 2)"  # half up: 6.075 -> 6.08
    assert box["answer"] == 108 and isinstance(box["answer"], int)


@pytest.mark.parametrize(("expression", "value"), [
    ("7 // 2 + 7 % 2", 4), ("round(2.675, 2)", 2.68), ("round(2.5)", 3), ("round(-2.5)", -3),
    ("sum([1, 2, 3]) / 3", 2), ("max(3, 4.5)", 4.5), ("min([7, 2, 9])", 2), ("abs(-3) ** 2", 9),
    ('len("hello")', 5), ("round(1234.5, -2)", 1200), ("-(2 - 5)", 3), ("`3 * 4`", 12),
])
def test_the_evaluator_computes(expression: str, value: float) -> None:
    assert compute.evaluate(expression)[0] == value


@pytest.mark.parametrize(("expression", "message"), [
    ("__import__('os')", "__import__() is not allowed"), ("(1).__class__", "Attribute is not allowed"),
    ("x + 1", "Name is not allowed"), ("[i for i in range(9)]", "ListComp is not allowed"),
    ("2 ** 10 ** 10", "limited to exponents"), ("10 ** 15 * 10 ** 15", "exceeds"), ("1 / 0", "division by zero"),
    ("(-8) ** 0.5", "fractional power"), ("'a' * 3", "Constant is not allowed"), ("len([1, 2])", "string literal"),
    ("round(1.5, 2.5)", "whole-number literal"), ("1 +", "not an expression"), ("9" * 301, "over 300 characters"),
    ("True + 1", "Constant is not allowed"), ("max()", "at least one number"), ("lambda: 1", "Lambda is not allowed"),
])
def test_the_evaluator_refuses(expression: str, message: str) -> None:
    with pytest.raises(compute.ComputationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        compute.evaluate(expression)


# -- the critic pass ------------------------------------------------------------------------------------------


def test_the_critic_drops_ambiguous_items_and_blocking_flaws_and_warns_on_style(server: FakeLlmServer) -> None:
    model = FakeModel()
    server.handler = model
    ambiguous = model.single_choice("Which expression makes an empty list?", ["[]", "list()", "{}", "set()"], [0])
    model.critiques[ambiguous["prompt"]] = {"defensible": ["[]", "list()"]}
    disputed = model.single_choice("What does `min([4, 2, 8])` return?", ["4", "2", "8", "14"], [0], solution="4")
    model.critiques[disputed["prompt"]] = {"defensible": ["2"]}
    cued = model.single_choice("What does `sorted([3, 1, 2])[0]` return?", ["1", "3", "2", "6"], [0])
    model.critiques[cued["prompt"]] = {"flaws": [("answer_given_away", "The stem shows the sorted list first.")]}
    styled = model.single_choice(*GOOD_SINGLE)
    model.critiques[styled["prompt"]] = {"flaws": [("vague_or_absolute_wording", "'return' could say 'evaluate to'.")]}
    model.batch("single_choice", ambiguous, disputed, cued, styled)
    result = generate(server, 1, ["single_choice"])

    assert reasons_of(result) == {
        ambiguous["prompt"]: ["critic_ambiguous: the critic also defends 'list()'"],
        disputed["prompt"]: ["critic_disputes_key: the critic does not defend the key '4'",
                             "critic_ambiguous: the critic also defends '2'"],
        cued["prompt"]: ["critic_answer_given_away: The stem shows the sorted list first."],
    }
    (kept,) = result.kept
    assert kept["review_warnings"] == ["critic: vague_or_absolute_wording: 'return' could say 'evaluate to'."]
    critic_requests = named(server, "skillproof_critic_")
    assert len(critic_requests) == 4 and all("Key: " in r.messages[1]["content"] for r in critic_requests)
    asked = " ".join(r.messages[1]["content"] for r in named(server, "skillproof_solver_"))
    assert ambiguous["prompt"] not in asked and cued["prompt"] not in asked  # dropped before the solver


def test_the_critic_finds_correct_short_answers_the_grader_would_refuse(server: FakeLlmServer) -> None:
    model = FakeModel()
    server.handler = model
    narrow = model.short_text("Which string method returns a copy of the string in upper case?", "upper", [])
    model.critiques[narrow["prompt"]] = {"other_correct_answers": ["str.upper", "UPPER"]}
    wide = model.short_text("Which built-in function returns the number of items in a list?", "len", ["len()"])
    model.critiques[wide["prompt"]] = {"other_correct_answers": ["len()", "LEN"]}  # both already accepted
    model.batch("short_text", narrow, wide)
    result = generate(server, 1, ["short_text"])

    assert reasons_of(result) == {
        narrow["prompt"]: ["critic_unaccepted_answer: 'str.upper' is also correct but not accepted"],
    }
    assert [item["answer"] for item in result.kept] == ["len"]


# -- the options-only test ------------------------------------------------------------------------------------


def test_an_item_whose_options_give_the_key_away_is_dropped(server: FakeLlmServer) -> None:
    model = FakeModel()
    server.handler = model
    cued = model.single_choice("Which built-in function turns the text '42' into a whole number?",
                               ["int", "str", "float", "ord"], [0])
    model.cued.add(cued["prompt"])
    good = model.single_choice(*GOOD_SINGLE)
    model.batch("single_choice", cued, good)
    result = generate(server, 1, ["single_choice"])

    assert reasons_of(result) == {cued["prompt"]: [
        "options_cue: with the question hidden, the solver found the key from the options alone in 3 of 3 runs"
    ]}
    assert [item["prompt"] for item in result.kept] == [good["prompt"]]
    hidden = named(server, "skillproof_options_only_")
    assert len(hidden) == 3 + 1  # the cued item every run; the good one ends at the first miss
    for received in hidden:  # the stem is never sent
        assert cued["prompt"] not in received.body.decode() and good["prompt"] not in received.body.decode()
    assert len({tuple(r.messages[1]["content"].splitlines()) for r in hidden[:3]}) > 1  # reshuffled each run


# -- unanimity and a solver of its own -------------------------------------------------------------------------


def test_single_answer_items_need_every_solver_run_others_the_configured_agreement(server: FakeLlmServer) -> None:
    model = FakeModel()
    server.handler = model
    single = model.single_choice(*GOOD_SINGLE)
    model.solver_answers[single["prompt"]] = deque(["7", "7", "15"])  # 2 of 3 was enough before
    other = model.single_choice("What does `min([4, 2, 8])` return?", ["4", "2", "8", "14"], [1])
    multiple = model.multiple_response("Which of these names are Python keywords? Select all that apply.",
                                       ["lambda", "print", "yield", "len"], [0, 2])
    model.solver_answers[multiple["prompt"]] = deque([["lambda", "yield"], ["lambda"], ["lambda", "yield"]])
    model.batch("single_choice", single, other)
    model.batch("multiple_response", multiple)
    result = generate(server, 2, ["single_choice", "multiple_response"])

    assert reasons_of(result) == {single["prompt"]: [
        "solver_disagrees: 2 of 3 solver answers matched the key (3 needed); the solver answered '15'"
    ]}
    assert sorted(item["prompt"] for item in result.kept) == sorted([other["prompt"], multiple["prompt"]])
    assert solver.required_agreement("numeric", 3, 2) == 3 and solver.required_agreement("matching", 3, 2) == 2


def test_the_solver_and_critic_run_on_their_own_endpoint_and_model() -> None:
    model = FakeModel()
    script_every_type(model)
    with FakeLlmServer(handler=model) as generator_server, FakeLlmServer(handler=model) as judge_server:
        settings = Settings(llm_base_url=generator_server.base_url, llm_model="gen-model", llm_api_key="sk-gen",
                            solver_base_url=judge_server.base_url, solver_model="judge-model",
                            solver_api_key="sk-judge")
        config = LlmConfig.from_settings(settings, backoff_base_seconds=0.01)
        judge = solver_config(settings, config)
        generator = LlmGenerator(config, solver_config=judge)
        try:
            result = generator.generate(**SKILL, item_count=6, item_types=list(ITEM_TYPES), seed=5)
        finally:
            generator.close()
        assert len(result.kept) == 6 and result.dropped == []

        assert all(r.schema_name.startswith("skillproof_items_") for r in generator_server.requests)
        judged = Counter(r.schema_name.split("_")[1] for r in judge_server.requests)
        assert judged["solver"] == 15 and judged["critic"] == 6 and judged["options"] == 2
        assert {r.json["model"] for r in generator_server.requests} == {"gen-model"}
        assert {r.json["model"] for r in judge_server.requests} == {"judge-model"}
        assert {r.headers["authorization"] for r in generator_server.requests} == {"Bearer sk-gen"}
        assert {r.headers["authorization"] for r in judge_server.requests} == {"Bearer sk-judge"}
        assert result.provenance["model"] == "gen-model"
        assert result.provenance["base_url"] == generator_server.base_url
        assert result.provenance["solver"]["model"] == "judge-model"
        assert result.provenance["solver"]["base_url"] == judge_server.base_url


def test_solver_settings_default_to_the_generator_but_never_lend_it_the_key() -> None:
    settings = Settings(llm_base_url="http://gen.example/v1", llm_model="gen", llm_api_key="sk-gen")
    config = LlmConfig.from_settings(settings)
    assert solver_config(settings, config) == config  # nothing set: the same endpoint, model and key
    other_model = solver_config(settings.model_copy(update={"solver_model": "judge"}), config)
    assert (other_model.base_url, other_model.model, other_model.api_key) == ("http://gen.example/v1", "judge",
                                                                                "sk-gen")
    elsewhere = solver_config(settings.model_copy(update={"solver_base_url": "http://judge.example/v1"}), config)
    assert (elsewhere.base_url, elsewhere.model, elsewhere.api_key) == ("http://judge.example/v1", "gen", None)


# -- over HTTP: a job's draft, rationales for admins only -------------------------------------------------------


def test_a_job_plans_by_competency_and_learners_never_see_rationales(settings: Settings) -> None:
    model = FakeModel()
    script_every_type(model)
    with FakeLlmServer(handler=model) as llm:
        configured = settings.model_copy(update={"llm_base_url": llm.base_url, "llm_model": "fake-model"})
        with TestClient(create_app(configured), base_url=PUBLIC_URL) as client:
            accepted = client.post("/v1/assessments", headers=ADMIN, json={
                "skill": "python", "level": "foundation", "item_count": 6, "generator": "llm", "seed": 8,
                "item_types": list(ITEM_TYPES),
            })
            deadline = time.monotonic() + 20
            while (job := client.get(f"/v1/jobs/{accepted.json()['job_id']}", headers=ADMIN).json())["status"] in (
                "queued", "running"
            ) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert job["status"] == "succeeded", job
            draft = client.get(f"/v1/assessments/{job['assessment_id']}", headers=ADMIN).json()
            brief = draft["provenance"]["brief"]
            assert brief["source"] == "blueprint" and sum(brief["competencies"].values()) == 6
            assert Counter(next(iter(item["criteria"])) for item in draft["items"]) == brief["competencies"]
            assert len(brief["exemplars"]) >= 6  # up to two bank items per requested type
            choice = [item for item in draft["items"] if item["type"] in ("single_choice", "multiple_response")]
            for item in choice:
                distractors = {o["id"] for o in item["options"]} - set(
                    [item["answer"]] if isinstance(item["answer"], str) else item["answer"])
                assert set(item["distractor_rationales"]) == distractors
            numeric = next(item for item in draft["items"] if item["type"] == "numeric")
            assert numeric["computation"] == "2 ** 4 - 10 // 3" and numeric["answer"] == 13

            approved = client.post(f"/v1/assessments/{draft['id']}/reviews", headers=ADMIN, json={
                "decision": "approved", "checklist": dict.fromkeys(REVIEW_CHECKLIST, True)})
            assert approved.status_code == 201, approved.text
            assert client.post(f"/v1/assessments/{draft['id']}/publish", headers=ADMIN).status_code == 200
            learner = new_learner(client)
            attempt = start(client, draft, learner)
            shown = json.dumps(attempt) + client.get(f"/v1/attempts/{attempt['id']}", headers=learner["headers"]).text
            assert "why_wrong" not in shown and "misconception" not in shown and "computation" not in shown


# -- the prompt budget ---------------------------------------------------------------------------------------


def test_the_longest_prompts_fit_a_small_model_with_an_8k_context() -> None:
    """tokens ~ chars / 4, schema included; the worst case: the longest bank exemplars, a full avoid list."""
    bank = load_bank()
    worst = 0
    for skill in bank.values():
        for level in skill.levels:
            brief = briefs.from_bank(skill, level, 40, list(WRITABLE_TYPES), seed=1)
            avoid = ["x" * 400] * 40
            for item_type in WRITABLE_TYPES:
                plan = {c.criterion: c.target for c in brief.competencies}
                messages = prompts.generation_messages(brief=brief, item_type=item_type,
                                                       count=TASKS_PER_REQUEST.get(item_type, 8), plan=plan,
                                                       avoid_prompts=avoid)
                schema = json.dumps(strict_schema(BATCH_MODELS[item_type]))
                chars = sum(len(m["content"]) for m in messages) + len(schema)
                worst = max(worst, chars)
    # ~2,200 tokens measured for the choice types (a batch of 8 items, ~250 tokens each, fits in 8k with room to
    # spare); ~2,400 for a SQL task (its schema holds tables and variants), asked for one at a time.
    assert worst / 4 <= 2500, f"the longest generation prompt is ~{worst / 4:.0f} tokens"
