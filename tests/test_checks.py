"""Item checks: every rule by name, and the solver check against a real OpenAI-compatible HTTP server."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from app.assessments import rules
from app.assessments.generators.bank import option_id
from app.assessments.generators.llm_client import LlmClient, LlmConfig, LlmError
from app.assessments.generators.solver import solver_agrees
from tests.llm_server import FakeLlmServer, Received, Reply, completion, parse_solver_question


def options(item_id: str, *texts: str) -> list[dict[str, str]]:
    return [{"id": option_id(item_id, text), "text": text} for text in texts]


def single(item_id: str = "i1", prompt: str = "Which keyword defines a function in Python?",
           texts: tuple[str, ...] = ("def", "func", "lambda:", "function"), key: int = 0) -> dict[str, Any]:
    opts = options(item_id, *texts)
    return {
        "id": item_id, "type": "single_choice", "prompt": prompt, "options": opts, "answer": opts[key]["id"],
        "points": 1, "explanation": "`def` starts a function definition.", "criteria": {"functions": 1},
        "difficulty": 1,
    }


def multiple() -> dict[str, Any]:
    opts = options("m1", "tuple", "list", "frozenset", "dict")
    return {
        "id": "m1", "type": "multiple_response", "prompt": "Which of these built-in types are immutable? "
        "Select all that apply.", "options": opts, "answer": [opts[0]["id"], opts[2]["id"]], "points": 2,
        "explanation": "Tuples and frozensets cannot change after creation.",
    }


def numeric() -> dict[str, Any]:
    return {
        "id": "n1", "type": "numeric", "prompt": "What is the value of `7 // 2 + 7 % 2`?", "answer": 4,
        "tolerance": {"absolute": 0, "relative": 0}, "points": 1, "explanation": "3 + 1 = 4.",
    }


def short_text(**changes: Any) -> dict[str, Any]:
    item = {
        "id": "s1", "type": "short_text", "prompt": "Which built-in function returns the length of a list?",
        "answer": "len", "accepted_answers": ["len()"], "case_sensitive": True, "pattern": None, "points": 1,
        "explanation": "len(x) returns the number of items.",
    }
    item.update(changes)
    return item


def ordering() -> dict[str, Any]:
    opts = options("r1", "git add", "git commit", "git push")
    return {
        "id": "r1", "type": "ordering", "prompt": "Order these steps to publish a change, first to last.",
        "options": opts, "answer": [option["id"] for option in opts], "points": 2,
        "explanation": "Stage, then commit, then push.",
    }


def matching() -> dict[str, Any]:
    lefts = [{"id": option_id("x1", "l" + text), "text": text, "side": "left"} for text in ("GET", "POST", "DELETE")]
    rights = [
        {"id": option_id("x1", "r" + text), "text": text, "side": "right"}
        for text in ("read a resource", "create a resource", "remove a resource")
    ]
    return {
        "id": "x1", "type": "matching", "prompt": "Match each HTTP method to what it usually does.",
        "options": lefts + rights,
        "answer": {left["id"]: right["id"] for left, right in zip(lefts, rights, strict=True)},
        "points": 2, "explanation": "GET reads, POST creates, DELETE removes.",
    }


SOUND_ITEMS = [single, multiple, numeric, short_text, ordering, matching]


def names(problems: list[str]) -> list[str]:
    return [problem.split(":", 1)[0] for problem in problems]


# -- rule checks ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", SOUND_ITEMS, ids=lambda make: make.__name__)
def test_sound_items_of_every_type_pass(make: Callable[[], dict[str, Any]]) -> None:
    assert rules.rule_problems(make(), []) == []


def test_unknown_type_is_named() -> None:
    assert names(rules.rule_problems({**single(), "type": "essay"}, [])) == ["type_unknown"]


def test_two_keys_for_single_choice_is_key_count() -> None:
    item = single()
    item["answer"] = [item["options"][0]["id"], item["options"][1]["id"]]
    assert "key_count" in names(rules.rule_problems(item, []))


def test_key_not_among_options() -> None:
    item = single()
    item["answer"] = option_id("i1", "not an option")
    assert "key_not_an_option" in names(rules.rule_problems(item, []))


def test_options_not_distinct_after_normalisation() -> None:
    item = single(texts=("def", "DEF ", "lambda:", "function"))
    assert "options_not_distinct" in names(rules.rule_problems(item, []))


@pytest.mark.parametrize(
    "text",
    [
        "All of the above", "all the above.", "ALL OF THESE", "None of the above", "None of these",
        "none of the options are correct", "Neither of the above", "Both A and B", "A and C only", "A, B and D",
        "Toutes les réponses ci-dessus", "Aucune de ces réponses", "Ninguna de las anteriores",
        "Keine der oben genannten", "Tutte le precedenti",
    ],
)
def test_all_or_none_of_the_above_in_any_form(text: str) -> None:
    item = single(texts=("def", "func", "lambda:", text))
    problems = rules.rule_problems(item, [])
    assert names(problems) == ["all_or_none_of_the_above"], problems
    assert text in problems[0]


@pytest.mark.parametrize("text", ["None", "all()", "any()", "Both", "a and b", "None of the values change"])
def test_options_that_merely_look_like_all_or_none_are_fine(text: str) -> None:
    assert rules.rule_problems(single(texts=("def", "func", "lambda:", text)), []) == []


def test_key_giveaway_length() -> None:
    key = "It starts a function definition with a name and parameters"
    item = single(texts=(key, "A loop", "A class", "An import"))
    problems = rules.rule_problems(item, [])
    assert names(problems) == ["key_giveaway_length"]
    assert f"{len(key)} characters" in problems[0]
    # 1.5 times longer but fewer than 20 characters more: not a give-away.
    assert rules.rule_problems(single(texts=("abcdefghijklmnop", "abcdefghij", "klmnopqrst", "uvwxyzabcd")), []) == []
    # A long distractor is no give-away either.
    assert rules.rule_problems(single(texts=("A loop", key, "A class", "An import"), key=0), []) == []


def test_near_duplicate_prompt() -> None:
    first = single("i1", prompt="Which keyword defines a function in Python?")
    second = single("i2", prompt="In Python, which keyword defines a function?")
    problems = rules.rule_problems(second, [first])
    assert names(problems) == ["near_duplicate"]
    assert "item i1" in problems[0]
    # The same item is not its own duplicate; an existing prompt (no id, no options) counts too.
    assert rules.rule_problems(first, [first]) == []
    assert names(rules.rule_problems(second, [{"prompt": "which KEYWORD defines a function in python"}])) == [
        "near_duplicate"
    ]


def test_generic_stem_with_different_options_is_not_a_duplicate() -> None:
    first = single("i1", prompt="Which statement about Python is true?", texts=("def", "func", "lambda:", "function"))
    second = single("i2", prompt="Which statement about Python is true?",
                    texts=("Lists are mutable", "Tuples are mutable", "Strings are mutable", "Ints are mutable"))
    assert rules.rule_problems(second, [first]) == []
    third = single("i3", prompt="Which statement about Python is true?", texts=("def", "func", "lambda:", "fn"))
    assert names(rules.rule_problems(third, [first])) == ["near_duplicate"]


def test_length_limits() -> None:
    assert names(rules.rule_problems(single(prompt="Define?"), [])) == ["prompt_too_short"]
    assert names(rules.rule_problems(single(prompt="x" * 2001), [])) == ["prompt_too_long"]
    assert "option_too_long" in names(rules.rule_problems(single(texts=("def", "y" * 301, "a", "b")), []))
    assert names(rules.rule_problems({**single(), "explanation": "e" * 2001}, [])) == ["explanation_too_long"]
    assert "answer_too_long" in names(rules.rule_problems(short_text(answer="z" * 201), []))


def test_numeric_answers_finite_with_tolerance() -> None:
    assert "key_not_finite_number" in names(rules.rule_problems({**numeric(), "answer": float("nan")}, []))
    assert "tolerance_missing" in names(rules.rule_problems({**numeric(), "tolerance": None}, []))
    assert "tolerance_invalid" in names(
        rules.rule_problems({**numeric(), "tolerance": {"absolute": -1, "relative": 0}}, [])
    )


@pytest.mark.parametrize(
    ("changes", "name"),
    [
        ({"pattern": "(l+e)+n"}, None),  # nested repetition is harmless on RE2 (linear time)
        ({"pattern": "(l)e\\1?n"}, "pattern_invalid"),  # backreference: Python re has it, RE2 does not
        ({"pattern": "le(?=n)n"}, "pattern_invalid"),  # lookahead
        ({"pattern": "l(e){1001}n|len"}, "pattern_invalid"),  # RE2 caps counted repetition at 1000
        ({"pattern": "(len|size)+"}, None),
        ({"pattern": "len(\\(\\))?"}, None),
        ({"pattern": ".*"}, "pattern_too_broad"),
        ({"pattern": "size"}, "pattern_rejects_key"),
        ({"pattern": "(len"}, "pattern_invalid"),
        ({"pattern": "len|" + "x" * 200}, "pattern_too_long"),
        ({"accepted_answers": ["len", "size"]}, "accepted_answers_not_distinct"),
        ({"accepted_answers": [f"a{n}" for n in range(21)]}, "accepted_answers_count"),
        ({"case_sensitive": "yes"}, "case_sensitive_invalid"),
        ({"options": []}, "short_text_has_options"),
    ],
)
def test_short_text_rules(changes: dict[str, Any], name: str | None) -> None:
    problems = rules.rule_problems(short_text(**changes), [])
    assert names(problems) == ([name] if name else []), problems


def test_items_with_nul_or_lone_surrogates_are_refused_wherever_the_text_is() -> None:
    for changes in ({"prompt": "Which built-in\x00 returns the length?"}, {"accepted_answers": ["len\ud800"]},
                    {"explanation": "len(x)\x00"}):
        assert "text_invalid" in names(rules.rule_problems(short_text(**changes), [])), changes
    assert "text_invalid" in names(rules.rule_problems({**numeric(), "criteria": {"a\x00": 1}}, []))


def test_numeric_keys_beyond_2_53_are_refused_so_every_draft_can_be_published() -> None:
    for key in (2**53, -(2**53), 2**60, 1e300, float("inf")):
        assert "key_not_finite_number" in names(rules.rule_problems({**numeric(), "answer": key}, [])), key
    assert names(rules.rule_problems({**numeric(), "answer": 2**53 - 1}, [])) == []
    assert "tolerance_invalid" in names(
        rules.rule_problems({**numeric(), "tolerance": {"absolute": 2**60, "relative": 0}}, [])
    )


def test_ordering_needs_three_options_and_a_full_order() -> None:
    item = ordering()
    item["options"] = item["options"][:2]
    item["answer"] = item["answer"][:2]
    assert names(rules.rule_problems(item, [])) == ["options_count"]
    item = ordering()
    item["answer"] = item["answer"][:2]
    assert names(rules.rule_problems(item, [])) == ["key_not_an_order"]


def test_matching_needs_two_left_options_and_a_one_to_one_key() -> None:
    item = matching()
    lefts = [option for option in item["options"] if option["side"] == "left"]
    item["options"] = [lefts[0]] + [option for option in item["options"] if option["side"] == "right"]
    item["answer"] = {lefts[0]["id"]: next(iter(item["answer"].values()))}
    assert names(rules.rule_problems(item, [])) == ["options_count"]
    item = matching()
    first_right = next(iter(item["answer"].values()))
    item["answer"] = dict.fromkeys(item["answer"], first_right)
    assert "key_reuses_right_option" in names(rules.rule_problems(item, []))


def test_rule_problems_never_raise_on_malformed_items() -> None:
    for broken in (
        {}, {"type": "single_choice"}, {"type": "single_choice", "options": "x"},
        {"type": "matching", "options": [1, 2]}, {"type": "short_text", "pattern": 3},
        {"type": "ordering", "options": [{"text": 1}]},
    ):
        assert rules.rule_problems(broken, [{"prompt": None}, {}])


# -- the solver check ---------------------------------------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[FakeLlmServer]:
    with FakeLlmServer() as running:
        yield running
        assert running.errors == []


def client_for(server: FakeLlmServer, **changes: Any) -> LlmClient:
    config = LlmConfig(base_url=server.base_url, model="fake-model", backoff_base_seconds=0.01, **changes)
    return LlmClient(config)


def solver(correct: Callable[[Received], dict[str, Any]], wrong_runs: tuple[int, ...] = (),
           wrong: Callable[[Received], dict[str, Any]] | None = None) -> Callable[[Received], Reply]:
    """A fake solver that answers correctly except on the runs (0-based call numbers) in `wrong_runs`."""
    calls = {"count": 0}

    def handle(received: Received) -> Reply:
        run = calls["count"]
        calls["count"] += 1
        answer = wrong(received) if wrong is not None and run in wrong_runs else correct(received)
        return completion({"reasoning": "I worked it out.", **answer})

    return handle


def choose(*texts: str) -> Callable[[Received], dict[str, Any]]:
    def answer(received: Received) -> dict[str, Any]:
        question = parse_solver_question(received)
        letters = [question.label_of(text) for text in texts]
        return {"choice": letters[0]} if received.schema_name.endswith("single_choice") else {"choices": letters}

    return answer


def test_solver_agrees_with_a_sound_single_choice_item(server: FakeLlmServer) -> None:
    item = single()
    server.handler = solver(choose("def"))
    with client_for(server) as client:
        assert solver_agrees(client, item, runs=3, agreement=2, seed=7) == (True, None)
    assert len(server.requests) == 2  # two agreeing answers settle it
    for received in server.requests:
        body = received.body.decode()
        assert received.schema_name == "skillproof_solver_single_choice"
        assert item["explanation"] not in body and item["answer"] not in body  # the key is never sent
        assert received.schema["properties"]["choice"]["enum"] == ["A", "B", "C", "D"]
    orders = [list(parse_solver_question(received).options.values()) for received in server.requests]
    assert all(sorted(order) == sorted(("def", "func", "lambda:", "function")) for order in orders)


def test_shuffles_are_seeded_and_vary_per_run(server: FakeLlmServer) -> None:
    item = single()
    server.handler = solver(choose("def"))
    with client_for(server) as client:
        orders = []
        for seed in range(8):
            solver_agrees(client, item, runs=1, agreement=1, seed=seed)
            orders.append(tuple(parse_solver_question(server.requests[-1]).options.values()))
        solver_agrees(client, item, runs=1, agreement=1, seed=3)
        assert tuple(parse_solver_question(server.requests[-1]).options.values()) == orders[3]
    assert len(set(orders)) > 1


def test_solver_disagrees_one_of_three(server: FakeLlmServer) -> None:
    server.handler = solver(choose("def"), wrong_runs=(1, 2), wrong=choose("lambda:"))
    with client_for(server) as client:
        agrees, reason = solver_agrees(client, single(), runs=3, agreement=2, seed=1)
    assert not agrees
    assert reason == (
        "solver_disagrees: 1 of 3 solver answers matched the key (2 needed); the solver answered 'lambda:'"
    )


def test_solver_stops_once_agreement_is_out_of_reach(server: FakeLlmServer) -> None:
    server.handler = solver(choose("def"), wrong_runs=(0, 1), wrong=choose("func"))
    with client_for(server) as client:
        agrees, reason = solver_agrees(client, single(), runs=3, agreement=2, seed=1)
    assert not agrees and reason is not None
    assert reason.startswith("solver_disagrees: 0 of 2 solver answers matched the key")
    assert len(server.requests) == 2


def test_solver_answers_every_item_type(server: FakeLlmServer) -> None:
    def answer(received: Received) -> dict[str, Any]:
        question = parse_solver_question(received)
        kind = received.schema_name.removeprefix("skillproof_solver_")
        if kind == "multiple_response":
            return {"choices": [question.label_of("frozenset"), question.label_of("tuple")]}
        if kind == "numeric":
            return {"answer": 4.0}
        if kind == "short_text":
            return {"answer": " len "}
        if kind == "ordering":
            return {"order": [question.label_of(text) for text in ("git add", "git commit", "git push")]}
        assert kind == "matching"
        match = {"GET": "read a resource", "POST": "create a resource", "DELETE": "remove a resource"}
        return {
            "pairs": [
                {"left": int(number), "right": question.label_of(match[text], "right")}
                for number, text in question.left.items()
            ]
        }

    server.handler = solver(answer)
    with client_for(server) as client:
        for make in (multiple, numeric, short_text, ordering, matching):
            assert solver_agrees(client, make(), runs=3, agreement=2, seed=5) == (True, None), make.__name__


def test_numeric_solver_answer_outside_tolerance_disagrees(server: FakeLlmServer) -> None:
    server.handler = solver(lambda received: {"answer": 4.5})
    item = numeric()
    with client_for(server) as client:
        assert not solver_agrees(client, item, runs=3, agreement=2, seed=5)[0]
        tolerant = copy.deepcopy(item)
        tolerant["tolerance"] = {"absolute": 0.5, "relative": 0}
        assert solver_agrees(client, tolerant, runs=3, agreement=2, seed=5) == (True, None)


def test_solver_answer_with_an_unknown_letter_is_repaired(server: FakeLlmServer) -> None:
    item = single()
    server.script(completion({"reasoning": "hm", "choice": "Z"}))
    server.handler = solver(choose("def"))
    with client_for(server) as client:
        assert solver_agrees(client, item, runs=1, agreement=1, seed=2) == (True, None)
    assert len(server.requests) == 2
    repair = server.requests[1].messages[-1]["content"]
    assert "['Z'], which are not among the letters ['A', 'B', 'C', 'D']" in repair


def test_solver_that_never_answers_validly_counts_as_disagreeing(server: FakeLlmServer) -> None:
    server.handler = lambda received: completion("not json at all")
    with client_for(server, repair_attempts=1) as client:
        agrees, reason = solver_agrees(client, single(), runs=1, agreement=1, seed=2)
    assert not agrees
    assert reason == (
        "solver_disagrees: 0 of 1 solver answers matched the key (1 needed); the solver answered '(no valid answer)'"
    )


def test_solver_outage_raises_instead_of_keeping_the_item(server: FakeLlmServer) -> None:
    server.handler = lambda received: Reply(status=503, body=json.dumps({"error": "down"}))
    with client_for(server, max_retries=0) as client, pytest.raises(LlmError, match="HTTP 503"):
        solver_agrees(client, single(), runs=3, agreement=2, seed=2)
