"""The LLM generator and its client, against a real OpenAI-compatible HTTP server on 127.0.0.1.

What an admin checks: no invalid item is ever kept, each dropped item names its reason, and the client
copes with malformed output, timeouts, rate limits, server errors, oversized bodies and outages.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import socket
import time
import tracemalloc
from collections import deque
from collections.abc import Iterator
from typing import Any

import pytest

from app.assessments import rules, validation
from app.assessments.generators import brief, prompts, solver
from app.assessments.generators.bank import load_bank, option_id
from app.assessments.generators.llm import (
    BATCH_MODELS,
    DRAFT_CELL_CHARS,
    DRAFT_COLUMNS,
    DRAFT_ROWS,
    DRAFT_TABLES,
    ITEM_TYPES,
    TASKS_PER_REQUEST,
    CircuitBreaker,
    CircuitOpenError,
    LlmClient,
    LlmConfig,
    LlmError,
    LlmGenerator,
    LlmOutputError,
    llm_item_id,
    strict_schema,
)
from app.grading import sql_task
from app.llm.client import parse_retry_after
from tests.llm_server import (
    FakeLlmServer,
    FakeModel,
    Received,
    Reply,
    completion,
    script_every_type,
)

SKILL: dict[str, Any] = {
    "skill_id": "python",
    "skill_name": "Python programming",
    "skill_description": "Writing and reading everyday Python 3 code.",
    "level": "foundation",
}
MB = 1024 * 1024


@pytest.fixture
def server() -> Iterator[FakeLlmServer]:
    with FakeLlmServer() as running:
        yield running
        assert running.errors == [], "the fake model's handler failed"


def config_for(server: FakeLlmServer, **changes: Any) -> LlmConfig:
    settings: dict[str, Any] = {
        "base_url": server.base_url, "model": "fake-model", "api_key": "sk-test-secret",
        "backoff_base_seconds": 0.01, "timeout_seconds": 5.0, **changes,
    }
    return LlmConfig(**settings)


def generate(server: FakeLlmServer, item_count: int, item_types: tuple[str, ...] | list[str], *, seed: int = 42,
             config: LlmConfig | None = None, **kwargs: Any) -> Any:
    generator = LlmGenerator(config or config_for(server))
    try:
        return generator.generate(**SKILL, item_count=item_count, item_types=item_types, seed=seed, **kwargs)
    finally:
        generator.close()


def assert_all_valid(kept: list[dict[str, Any]]) -> None:
    """The promise: every kept item passes every rule (against the items before it) and the validator."""
    for index, item in enumerate(kept):
        assert rules.rule_problems(item, kept[:index]) == [], item
        assert validation.item_problems(item) == [], item


def item_requests(server: FakeLlmServer) -> list[Received]:
    return [received for received in server.requests if received.schema_name.startswith("skillproof_items_")]


def solver_requests(server: FakeLlmServer) -> list[Received]:
    return [received for received in server.requests if received.schema_name.startswith("skillproof_solver_")]


def requests_named(server: FakeLlmServer, prefix: str) -> list[Received]:
    return [received for received in server.requests if received.schema_name.startswith(prefix)]


# -- generation -----------------------------------------------------------------------------------------------


def test_good_items_of_every_type_are_kept(server: FakeLlmServer) -> None:
    model = FakeModel()
    script_every_type(model)
    server.handler = model
    result = generate(server, 6, ITEM_TYPES)

    assert [item["id"] for item in result.kept] == [llm_item_id("python", 42, n) for n in range(1, 7)]
    assert [item["type"] for item in result.kept] == list(ITEM_TYPES)
    assert result.dropped == [] and result.notes == []
    assert_all_valid(result.kept)  # 0 invalid items
    single, multiple, numeric, short, ordering, matching = result.kept
    assert single["answer"] == option_id(llm_item_id("python", 42, 1), "7")
    assert single["criteria"] == {"core-syntax": 1} and single["difficulty"] == 1
    second = llm_item_id("python", 42, 2)
    assert multiple["answer"] == [option_id(second, "lambda"), option_id(second, "yield")]
    assert numeric["answer"] == 13 and isinstance(numeric["answer"], int)
    assert numeric["computation"] == "2 ** 4 - 10 // 3"
    assert numeric["tolerance"] == {"absolute": 0, "relative": 0}
    assert short["answer"] == "len" and short["accepted_answers"] == ["len()"] and short["pattern"] is None
    texts = {option["id"]: option["text"] for option in ordering["options"]}
    assert [texts[key] for key in ordering["answer"]] == ["try", "except", "finally"]
    texts = {option["id"]: option["text"] for option in matching["options"]}
    assert {texts[left]: texts[right] for left, right in matching["answer"].items()} == {
        "len": "3", "max": "4", "min": "1"
    }
    assert result.provenance == {
        "generator": "llm", "model": "fake-model", "prompt_version": prompts.PROMPT_VERSION,
        "solver_prompt_version": prompts.SOLVER_PROMPT_VERSION, "critic_prompt_version": prompts.CRITIC_PROMPT_VERSION,
        "temperature": 0.2, "seed": 42, "base_url": server.base_url, "structured_output": "json_schema",
        "solver": {"model": "fake-model", "base_url": server.base_url, "runs": 3, "agreement": 2,
                   "unanimous_types": ["numeric", "short_text", "single_choice"], "options_only_runs": 3},
        "brief": {"source": "request", "level_descriptor": brief.LEVEL_DESCRIPTORS["foundation"],
                  "competencies": {}, "exemplars": []},
    }
    # Single-answer items need all three solver answers, the others two of three.
    assert len(item_requests(server)) == 6 and len(solver_requests(server)) == 3 + 2 + 3 + 3 + 2 + 2
    assert len(requests_named(server, "skillproof_critic_")) == 6  # one critic pass per item
    assert len(requests_named(server, "skillproof_options_only_")) == 2  # choice items; the first guess misses
    for received in item_requests(server):  # one item wanted per type, two asked: no more may come back
        assert received.schema["properties"]["items"]["maxItems"] == 2
    for received in server.requests:
        body = received.json
        assert received.path == "/v1/chat/completions"
        assert received.headers["authorization"] == "Bearer sk-test-secret"
        assert body["model"] == "fake-model" and body["temperature"] == 0.2 and isinstance(body["seed"], int)
        assert body["max_tokens"] == 2048  # bounded: the prompt and the answer fit an 8k context window
        assert body["response_format"]["type"] == "json_schema"
        assert body["response_format"]["json_schema"]["strict"] is True
        assert "$ref" not in json.dumps(received.schema)
    for received in solver_requests(server):  # the solver never sees a key or an explanation
        assert "Because that is how Python works." not in received.body.decode()
        assert not re.search(r'"o[0-9a-f]{10}"', received.body.decode())


def test_model_habits_are_tidied_labels_and_empty_patterns(server: FakeLlmServer) -> None:
    model = FakeModel()
    labelled = model.single_choice("What does `len({1, 2, 2, 3})` return?", ["4", "3", "2", "1"], [1])
    model.batch("single_choice", {**labelled, "options": ["A. 4", "B. 3", "C) 2", "D. 1"]})
    short = model.short_text("Which built-in function returns the number of items in a list?", "len", ["LEN", "size"])
    model.solutions[short["prompt"]] = "len"
    model.batch("short_text", {**short, "pattern": ""})
    server.handler = model
    result = generate(server, 2, ["single_choice", "short_text"])

    single, text = result.kept
    assert [option["text"] for option in single["options"]] == ["4", "3", "2", "1"]
    assert single["answer"] == option_id(llm_item_id("python", 42, 1), "3")
    assert text["pattern"] is None and text["accepted_answers"] == ["size"]  # "LEN" is the key, case-folded
    assert_all_valid(result.kept)


def test_the_same_seed_sends_the_same_requests_and_gives_the_same_items() -> None:
    runs = []
    for _ in range(2):
        with FakeLlmServer() as running:
            model = FakeModel()
            script_every_type(model)
            running.handler = model
            result = generate(running, 6, ITEM_TYPES, seed=7)
            runs.append((result.kept, [received.json for received in running.requests]))
    assert runs[0] == runs[1]


def test_malformed_json_then_good_json_after_the_repair_prompt(server: FakeLlmServer) -> None:
    model = FakeModel()
    model.raw("numeric", '{"items": [{"prompt": "What is 2 + 2?"')
    model.batch("numeric", model.numeric("What is the value of `2 ** 3`? Give a whole number.", 8))
    server.handler = model
    result = generate(server, 1, ["numeric"])

    assert [item["answer"] for item in result.kept] == [8]
    assert_all_valid(result.kept)
    first, second = item_requests(server)
    assert len(second.messages) == len(first.messages) + 2
    echoed, repair = second.messages[-2:]
    assert echoed == {"role": "assistant", "content": '{"items": [{"prompt": "What is 2 + 2?"'}
    assert repair["role"] == "user"
    assert "Invalid JSON: EOF while parsing" in repair["content"]
    assert second.json["seed"] == first.json["seed"]


def test_schema_violations_are_repaired_with_the_error(server: FakeLlmServer) -> None:
    model = FakeModel()
    good = model.numeric("What is the value of `2 ** 3`? Give a whole number.", 8)
    model.batch("numeric", {**good, "answer": "8", "extra": True})
    model.batch("numeric", good)
    server.handler = model
    result = generate(server, 1, ["numeric"])
    assert len(result.kept) == 1
    repair = item_requests(server)[1].messages[-1]["content"]
    assert "items.0.answer: Input should be a valid number" in repair
    assert "items.0.extra: Extra inputs are not permitted" in repair


def test_a_key_not_among_the_options_is_dropped_with_its_reason(server: FakeLlmServer) -> None:
    model = FakeModel()
    bad = model.single_choice("Which keyword starts a function definition?", ["def", "fun", "fn", "lambda"], [7])
    good = model.single_choice("What does `len({1, 2, 2, 3})` return?", ["4", "3", "2", "1"], [1])
    model.batch("single_choice", bad, good)
    server.handler = model
    result = generate(server, 1, ["single_choice"])

    assert [item["prompt"] for item in result.kept] == [good["prompt"]]
    assert result.kept[0]["id"] == llm_item_id("python", 42, 1)
    assert result.dropped == [
        {"prompt": bad["prompt"], "reasons": ["key_not_an_option: index 7 is not one of the 4 options"]}
    ]
    assert all(bad["prompt"] not in received.body.decode() for received in solver_requests(server))


def test_two_keys_marked_for_single_choice_is_dropped_as_key_count(server: FakeLlmServer) -> None:
    model = FakeModel()
    two = model.single_choice("Which of these create an empty list?", ["[]", "list()", "{}", "()"], [0, 1])
    model.batch("single_choice", two)
    model.batch("single_choice", model.single_choice("What does `len({1, 2, 2, 3})` return?", ["4", "3", "2"], [1]))
    server.handler = model
    result = generate(server, 1, ["single_choice"])

    assert len(result.kept) == 1
    assert result.dropped == [{"prompt": two["prompt"], "reasons": ["key_count: exactly one key is required"]}]
    assert len(item_requests(server)) == 2  # a second round replaced it


def test_two_defensible_options_are_caught_by_the_solver(server: FakeLlmServer) -> None:
    model = FakeModel()
    # Marked with one key, but `list()` is just as correct: the solver picks it.
    two = model.single_choice("Which expression creates an empty list?", ["[]", "list()", "{}", "set()"], [0],
                              solution="list()")
    model.batch("single_choice", two)
    model.batch("single_choice", model.single_choice("What does `len({1, 2, 2, 3})` return?", ["4", "3", "2"], [1]))
    server.handler = model
    result = generate(server, 1, ["single_choice"])

    assert len(result.kept) == 1
    assert result.dropped == [{  # single-answer items need every solver run: the first miss ends it
        "prompt": two["prompt"],
        "reasons": ["solver_disagrees: 0 of 1 solver answers matched the key (3 needed); the solver answered 'list()'"],
    }]


def test_a_wrong_key_is_dropped_when_the_solver_disagrees(server: FakeLlmServer) -> None:
    model = FakeModel()
    # The computation is consistent with the stated key but is the wrong formula (/ for //).
    wrong = model.numeric("What is the value of the Python expression `9 // 2 + 9 % 2`?", 5.5, solution=5,
                          computation="9 / 2 + 9 % 2")
    model.solver_answers[wrong["prompt"]] = deque([5.5, 5, 5])  # one solver run agrees with the wrong key
    model.batch("numeric", wrong)
    model.batch("numeric", model.numeric("What is the value of `2 ** 3`? Give a whole number.", 8))
    server.handler = model
    result = generate(server, 1, ["numeric"])

    assert [item["answer"] for item in result.kept] == [8]
    assert result.dropped == [{  # a numeric item needs every run: one agreeing answer is not enough
        "prompt": wrong["prompt"],
        "reasons": ["solver_disagrees: 1 of 2 solver answers matched the key (3 needed); the solver answered '5'"],
    }]


def test_rule_failures_are_dropped_with_named_reasons(server: FakeLlmServer) -> None:
    model = FakeModel()
    existing = "Which keyword starts the definition of a function in Python?"
    duplicate = model.single_choice("In Python, which keyword starts the definition of a function?",
                                    ["def", "fun", "fn", "lambda"], [0])
    above = model.single_choice("Which of these are Python keywords?", ["def", "class", "if", "All of the above"], [3])
    giveaway = model.single_choice("What does `a, b = b, a` do?",
                                   ["It swaps the values of a and b in one statement", "Error", "Nothing", "Copies"],
                                   [0])
    model.batch("single_choice", duplicate, above, giveaway)
    model.batch("single_choice", model.single_choice("What does `len({1, 2, 2, 3})` return?", ["4", "3", "2"], [1]))
    server.handler = model
    result = generate(server, 1, ["single_choice"], existing_prompts=[existing])

    assert len(result.kept) == 1
    assert_all_valid(result.kept)
    reasons = {entry["prompt"]: entry["reasons"] for entry in result.dropped}
    assert reasons == {
        duplicate["prompt"]: ["near_duplicate: the prompt is 100% like that of an item already in the assessment"],
        above["prompt"]: ["all_or_none_of_the_above: option 'All of the above' refers to the other options"],
        giveaway["prompt"]: ["key_giveaway_length: the key has 47 characters, the longest distractor 7"],
    }
    first_request = item_requests(server)[0].messages[-1]["content"]
    assert "The assessment already holds these items" in first_request and existing in first_request
    second_request = item_requests(server)[1].messages[-1]["content"]
    assert existing in second_request and duplicate["prompt"] not in second_request  # dropped: not "held"


def test_items_with_writing_flaws_are_dropped_before_the_solver_is_asked(server: FakeLlmServer) -> None:
    model = FakeModel()
    negative = model.single_choice("Which of these is not a Python keyword?", ["def", "class", "elif", "then"], [3])
    no_spare = model.matching("Match each literal to the type it creates.", ["[]", "{}"], ["list", "dict"],
                              [(0, 0), (1, 1)])
    good = model.single_choice("What does `len({1, 2, 2, 3})` return?", ["4", "3", "2"], [1])
    spare = model.matching("Match each literal to the type of object it creates.", ["[]", "{}"],
                           ["list", "dict", "set"], [(0, 0), (1, 1)])
    model.batch("single_choice", negative, good)
    model.batch("matching", no_spare, spare)
    server.handler = model
    result = generate(server, 2, ["single_choice", "matching"])

    assert sorted(item["type"] for item in result.kept) == ["matching", "single_choice"]
    reasons = {entry["prompt"]: [reason.split(":")[0] for reason in entry["reasons"]] for entry in result.dropped}
    assert reasons == {negative["prompt"]: ["negative_stem"], no_spare["prompt"]: ["matching_no_extras"]}
    asked = {received.messages[-1]["content"] for received in solver_requests(server)}
    assert not any(negative["prompt"] in text for text in asked)  # dropped by the rules, never solved


def test_a_type_that_yields_nothing_is_left_out_and_the_others_make_up_the_count(server: FakeLlmServer) -> None:
    model = FakeModel()
    model.batch("numeric", model.numeric("What is the value of `2 ** 3`? Give a whole number.", 8))
    model.batch("numeric", model.numeric("What is the value of `10 % 4`? Give a whole number.", 2))
    model.raw("short_text", "no JSON here")
    server.handler = model
    result = generate(server, 2, ["numeric", "short_text"], config=config_for(server, repair_attempts=0))

    assert [item["answer"] for item in result.kept] == [8, 2]
    assert_all_valid(result.kept)
    assert result.notes == [
        "round 1, short_text: invalid_output: no valid answer after 1 attempt; last error: (whole answer): "
        "Invalid JSON: expected ident at line 1 column 2",
        "round 1, short_text: no item kept; not asked for again",
    ]
    asked = [received.schema_name for received in item_requests(server)]
    assert asked == ["skillproof_items_numeric", "skillproof_items_short_text", "skillproof_items_numeric"]


def test_output_that_never_validates_is_noted_and_does_not_trip_the_breaker(server: FakeLlmServer) -> None:
    server.handler = lambda received: completion("Sure! Here are your items: ...")
    config = config_for(server, repair_attempts=1, max_rounds=2, breaker_threshold=2)
    generator = LlmGenerator(config)
    result = generator.generate(**SKILL, item_count=2, item_types=["single_choice"], seed=1)
    assert result.kept == [] and result.dropped == []
    assert len(server.requests) == 4
    assert all("invalid_output" in note for note in result.notes[:2])
    assert generator.client.breaker.state == "closed"  # the endpoint answered: it is not an outage


def test_an_outage_fails_the_generation_with_a_clear_error(server: FakeLlmServer) -> None:
    server.handler = lambda received: Reply(status=503, body={"error": {"message": "overloaded"}})
    with pytest.raises(LlmError, match=r"HTTP 503 from the LLM endpoint \(gave up after 3 attempts\)"):
        generate(server, 2, ["single_choice"])


def test_criteria_restrict_the_competency_tags(server: FakeLlmServer) -> None:
    model = FakeModel()
    draft = model.numeric("What is the value of `2 ** 3`? Give a whole number.", 8)
    model.batch("numeric", {**draft, "competency": "arithmetic"})
    model.batch("numeric", {**draft, "competency": "Operators"})
    server.handler = model
    result = generate(server, 2, ["numeric"], criteria=["operators", "data types"], config=config_for(server,
                      max_rounds=1))

    assert result.kept[0]["criteria"] == {"operators": 1}
    first, second = item_requests(server)
    competency = first.schema["properties"]["items"]["items"]["properties"]["competency"]
    assert competency == {"type": "string", "enum": ["operators", "data-types"]}
    repair = second.messages[-1]["content"]
    assert "items.0.competency: 'arithmetic' is not one of ['operators', 'data-types']" in repair
    assert 'each measuring one competency: 1 on "operators", 1 on "data-types"' in first.messages[-1]["content"]


def test_generation_arguments_are_checked(server: FakeLlmServer) -> None:
    generator = LlmGenerator(config_for(server))
    with pytest.raises(ValueError, match="essay"):
        generator.generate(**SKILL, item_count=1, item_types=["essay"], seed=1)
    with pytest.raises(ValueError, match="item_count"):
        generator.generate(**SKILL, item_count=0, item_types=["numeric"], seed=1)
    generator.close()
    assert server.requests == []


# -- the client: retries, timeouts, size cap, breaker ---------------------------------------------------------


def chat(client: LlmClient) -> Any:
    return client.chat([{"role": "user", "content": "hi"}], schema_name="t", schema={"type": "object"})


@pytest.mark.serial  # asserts wall-clock time: run alone, in `make pytest`'s serial pass
def test_a_timeout_is_retried_then_reported(server: FakeLlmServer) -> None:
    server.handler = lambda received: Reply(delay=2.0, body="{}")
    client = LlmClient(config_for(server, timeout_seconds=0.2, max_retries=2))
    started = time.monotonic()
    with pytest.raises(LlmError) as caught:
        chat(client)
    elapsed = time.monotonic() - started
    assert caught.value.reason == (
        "timeout: the LLM endpoint did not answer within 0.2 s (gave up after 3 attempts)"
    )
    assert len(server.requests) == 3
    assert 0.6 <= elapsed < 1.5


@pytest.mark.serial  # asserts wall-clock time: run alone, in `make pytest`'s serial pass
def test_a_slow_drip_hits_the_total_deadline(server: FakeLlmServer) -> None:
    def drip() -> Iterator[bytes]:
        for _ in range(40):
            time.sleep(0.05)
            yield b" "

    server.script(Reply(chunks=drip()))
    client = LlmClient(config_for(server, timeout_seconds=0.5, max_retries=0))
    started = time.monotonic()
    with pytest.raises(LlmError, match=r"did not finish within 0\.5 s"):
        chat(client)
    assert time.monotonic() - started < 1.2


@pytest.mark.serial  # asserts wall-clock time: run alone, in `make pytest`'s serial pass
def test_429_with_retry_after_waits_then_succeeds(server: FakeLlmServer) -> None:
    server.script(
        Reply(status=429, headers={"Retry-After": "1"}, body={"error": "slow down"}),
        completion({"ok": True}),
    )
    client = LlmClient(config_for(server))
    started = time.monotonic()
    reply = chat(client)
    elapsed = time.monotonic() - started
    assert json.loads(reply.content) == {"ok": True}
    assert len(server.requests) == 2
    assert 1.0 <= elapsed < 1.8


@pytest.mark.serial  # asserts wall-clock time: run alone, in `make pytest`'s serial pass
def test_retry_after_is_capped(server: FakeLlmServer) -> None:
    server.script(Reply(status=429, headers={"Retry-After": "3600"}), completion({"ok": True}))
    client = LlmClient(config_for(server, retry_after_cap_seconds=0.3))
    started = time.monotonic()
    chat(client)
    assert 0.3 <= time.monotonic() - started < 1.0


def test_retry_after_as_seconds_or_http_date() -> None:
    now = dt.datetime(2025, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
    assert parse_retry_after("7", lambda: now) == 7.0
    assert parse_retry_after("Wed, 01 Jan 2025 12:00:30 GMT", lambda: now) == 30.0
    assert parse_retry_after("Wed, 01 Jan 2025 11:00:00 GMT", lambda: now) == 0.0
    assert parse_retry_after("soon", lambda: now) is None
    assert parse_retry_after(None, lambda: now) is None


def test_a_500_then_success(server: FakeLlmServer) -> None:
    server.script(Reply(status=500, body="oops"), completion({"ok": True}))
    client = LlmClient(config_for(server))
    assert json.loads(chat(client).content) == {"ok": True}
    assert len(server.requests) == 2
    assert client.breaker.state == "closed"


def test_retries_are_bounded(server: FakeLlmServer) -> None:
    server.handler = lambda received: Reply(status=502, body="bad gateway")
    with pytest.raises(LlmError, match=r"HTTP 502 from the LLM endpoint \(gave up after 2 attempts\)"):
        chat(LlmClient(config_for(server, max_retries=1)))
    assert len(server.requests) == 2


def test_a_client_error_is_not_retried(server: FakeLlmServer) -> None:
    server.handler = lambda received: Reply(status=400, body={"error": {"message": "unknown model fake-model"}})
    with pytest.raises(LlmError, match=r"HTTP 400 from the LLM endpoint: .*unknown model fake-model"):
        chat(LlmClient(config_for(server)))
    assert len(server.requests) == 1


def test_a_refused_connection_is_retried_then_reported() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = LlmConfig(base_url=f"http://127.0.0.1:{port}/v1", model="m", backoff_base_seconds=0.01)
    with pytest.raises(LlmError, match=r"connection error: ConnectError.*\(gave up after 3 attempts\)"):
        chat(LlmClient(config))


def test_a_200_that_is_not_json_is_an_error(server: FakeLlmServer) -> None:
    server.script(Reply(body="<html>proxy login</html>"), Reply(body={"object": "error"}))
    client = LlmClient(config_for(server))
    with pytest.raises(LlmError, match="did not return JSON"):
        chat(client)
    with pytest.raises(LlmError, match="no choices"):
        chat(client)


def fifty_megabytes() -> Iterator[bytes]:
    block = b" " * (64 * 1024)
    for _ in range(50 * MB // len(block)):
        yield block


def wait_for_sender(server: FakeLlmServer) -> int:
    """Bytes the server managed to send once it stopped (the client hung up)."""
    last, deadline = -1, time.monotonic() + 2
    while time.monotonic() < deadline and server.bytes_sent != last:
        last = server.bytes_sent
        time.sleep(0.1)
    return server.bytes_sent


@pytest.mark.parametrize("announced", [True, False], ids=["content-length", "close-delimited"])
def test_a_50_mb_body_is_rejected_quickly_without_reading_it(server: FakeLlmServer, announced: bool) -> None:
    server.script(Reply(chunks=fifty_megabytes(), content_length=50 * MB if announced else None))
    client = LlmClient(config_for(server))
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(LlmError, match="response too large") as caught:
            chat(client)
        elapsed = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < 1.0
    assert peak < 8 * MB  # the cap is 2 MB; never the 50 MB body
    assert len(server.requests) == 1  # not retried
    if announced:
        assert caught.value.reason == "response too large: 52428800 bytes announced, the limit is 2097152"
    else:
        assert caught.value.reason == "response too large: over 2097152 bytes"
    assert wait_for_sender(server) < 25 * MB  # the client hung up long before the end


def breaker_state(client: LlmClient) -> str:
    return client.breaker.state


def test_the_breaker_opens_fails_fast_and_half_opens_after_the_reset(server: FakeLlmServer) -> None:
    client = LlmClient(config_for(server, max_retries=0, breaker_threshold=3, breaker_reset_seconds=0.3))
    server.script(*[Reply(status=500, body="down")] * 3)
    for _ in range(3):
        with pytest.raises(LlmError, match="HTTP 500"):
            chat(client)
    assert breaker_state(client) == "open"

    started = time.monotonic()
    with pytest.raises(CircuitOpenError, match="circuit open: the LLM endpoint failed 3 times in a row"):
        chat(client)
    assert time.monotonic() - started < 0.05
    assert len(server.requests) == 3  # the endpoint was not called

    time.sleep(0.35)
    assert breaker_state(client) == "half_open"
    server.script(Reply(status=500, body="still down"))
    with pytest.raises(LlmError, match="HTTP 500"):
        chat(client)  # the trial call fails: open again at once
    assert breaker_state(client) == "open"
    with pytest.raises(CircuitOpenError):
        chat(client)

    time.sleep(0.35)
    server.script(completion({"ok": True}))
    assert json.loads(chat(client).content) == {"ok": True}
    assert breaker_state(client) == "closed"
    assert len(server.requests) == 5


def test_the_breaker_lets_one_trial_call_through() -> None:
    now = [0.0]
    breaker = CircuitBreaker(threshold=2, reset_seconds=10, clock=lambda: now[0])
    breaker.record_failure()
    breaker.before_call()  # still closed after one failure
    breaker.record_failure()
    with pytest.raises(CircuitOpenError, match="calls resume in 10 s"):
        breaker.before_call()
    now[0] = 10.0
    breaker.before_call()  # the trial
    with pytest.raises(CircuitOpenError, match="trial call"):
        breaker.before_call()
    breaker.record_success()
    assert breaker.state == "closed"
    breaker.before_call()


def test_the_breaker_makes_generation_fail_fast(server: FakeLlmServer) -> None:
    server.handler = lambda received: Reply(status=500, body="down")
    client = LlmClient(config_for(server, max_retries=0, breaker_threshold=2, breaker_reset_seconds=60))
    generator = LlmGenerator(client.config, client)
    for _ in range(2):
        with pytest.raises(LlmError):
            generator.generate(**SKILL, item_count=1, item_types=["numeric"], seed=1)
    started = time.monotonic()
    with pytest.raises(CircuitOpenError):
        generator.generate(**SKILL, item_count=1, item_types=["numeric"], seed=1)
    assert time.monotonic() - started < 0.05
    assert len(server.requests) == 2


# -- configuration ---------------------------------------------------------------------------------------------


def test_config_hides_the_api_key_and_provenance_hides_credentials(server: FakeLlmServer) -> None:
    config = LlmConfig(base_url=f"http://user:pw@127.0.0.1:{server.port}/v1/?token=x", model="m", api_key="sk-1")
    assert "sk-1" not in repr(config)
    provenance = LlmGenerator(config).provenance(3)
    assert provenance["base_url"] == f"http://127.0.0.1:{server.port}/v1"


def test_config_is_validated_and_read_from_settings() -> None:
    with pytest.raises(ValueError, match="http"):
        LlmConfig(base_url="localhost:11434", model="m")
    with pytest.raises(ValueError, match="solver_agreement"):
        LlmConfig(base_url="http://localhost:11434/v1", model="m", solver_runs=1, solver_agreement=2)

    class Settings:
        llm_base_url = "http://localhost:11434/v1"
        llm_api_key = None
        llm_model: str | None = "llama3.1"

    config = LlmConfig.from_settings(Settings(), timeout_seconds=10)
    assert (config.base_url, config.model, config.timeout_seconds) == ("http://localhost:11434/v1", "llama3.1", 10)
    Settings.llm_model = None
    with pytest.raises(ValueError, match="SKILLPROOF_LLM_MODEL"):
        LlmConfig.from_settings(Settings())


def test_schemas_sent_to_the_model_are_strict() -> None:


    def objects(node: Any) -> Iterator[dict[str, Any]]:
        if isinstance(node, dict):
            if node.get("type") == "object":
                yield node
            for value in node.values():
                yield from objects(value)
        elif isinstance(node, list):
            for value in node:
                yield from objects(value)

    for model in BATCH_MODELS.values():
        schema = strict_schema(model)
        assert "$defs" not in schema and "$ref" not in json.dumps(schema)
        for node in objects(schema):
            assert node["additionalProperties"] is False
            assert set(node["required"]) == set(node["properties"])
        # llama-cpp-python's grammar ignores minimum/maximum but keeps to an enum: a small range is listed too.
        assert schema["properties"]["items"]["items"]["properties"]["difficulty"]["enum"] == [1, 2, 3]


def test_complete_json_gives_up_after_the_repair_attempts(server: FakeLlmServer) -> None:
    server.handler = lambda received: completion("[1, 2")
    client = LlmClient(config_for(server, repair_attempts=2))
    expected = r"invalid_output: no valid answer after 3 attempts; last error: .*Invalid JSON"
    with pytest.raises(LlmOutputError, match=expected):
        client.complete_json([{"role": "user", "content": "x"}], solver.SolverText, name="t")
    assert len(server.requests) == 3
    # The question, then only the last rejected answer and its repair: the prompt does not grow with repairs.
    question, answer, repair = server.requests[-1].messages
    assert question["content"] == "x" and answer == {"role": "assistant", "content": "[1, 2"}
    assert repair["role"] == "user" and "Invalid JSON" in repair["content"]


def test_settings_tune_the_solver_check_and_timeouts() -> None:
    from app.config import Settings

    settings = Settings(llm_base_url="http://localhost:11434/v1", llm_model="llama3.1", llm_solver_runs=5,
                        llm_solver_agreement=4, llm_timeout_seconds=12)
    config = LlmConfig.from_settings(settings)
    assert (config.solver_runs, config.solver_agreement, config.timeout_seconds) == (5, 4, 12)
    with pytest.raises(ValueError, match="solver_agreement"):
        LlmConfig.from_settings(settings.model_copy(update={"llm_solver_agreement": 6}))


def test_generated_item_ids_are_unique_across_jobs_and_stable_for_a_seed() -> None:
    """Statistics and calibration follow an item by its id across assessments: two jobs never share ids."""
    first = {llm_item_id("python", 42, n) for n in range(1, 51)}
    second = {llm_item_id("python", 43, n) for n in range(1, 51)}
    assert len(first) == len(second) == 50 and not first & second
    assert llm_item_id("python", 42, 7) == llm_item_id("python", 42, 7)
    assert not {llm_item_id("sql", 42, n) for n in range(1, 51)} & first


def test_the_longest_prompts_fit_the_default_context_window() -> None:
    """Estimated high (3 characters a token; SmolLM2's tokenizer counts are in tests/e2e/test_real_llm.py):
    the longest generation and solver prompts, schema included, plus an echoed answer and a new one fit 8k."""
    from app.llm.client import MAX_ECHO_CHARS, estimate_tokens, repair_message
    from app.llm.structured import with_schema_in_prompt

    config = LlmConfig(base_url="http://localhost:8080/v1", model="m")
    avoid = ["x" * 500] * 100  # more and longer than are ever sent: the prompt keeps 20, shortened
    longest = 0
    for skill in load_bank().values():  # every skill and level's brief: its blueprint and longest exemplars
        for level in skill.levels:
            worst_case = brief.from_bank(skill, level, 40, list(BATCH_MODELS), seed=1)
            plan = {c.criterion: c.target for c in worst_case.competencies}
            for kind, model in BATCH_MODELS.items():
                messages = prompts.generation_messages(
                    brief=worst_case, item_type=kind, count=min(config.batch_size, TASKS_PER_REQUEST.get(kind, 99)),
                    plan=plan, avoid_prompts=avoid,
                )
                repair = [{"role": "assistant", "content": "a" * MAX_ECHO_CHARS}, repair_message("e" * 600)]
                for form in ("json_schema", "json_object", "text"):
                    sent = with_schema_in_prompt(form, [*messages, *repair], strict_schema(model))
                    longest = max(longest, estimate_tokens(sent))
    assert longest + config.max_tokens <= config.context_tokens == 8192, longest
    options = [(chr(65 + n), "o" * 300) for n in range(8)]
    for kind, answer in (("matching", solver.SolverPairs), ("multiple_response", solver.SolverChoices)):
        sent = with_schema_in_prompt("text", prompts.solver_messages(
            item_type=kind, prompt="p" * 2000, options=options, left=options, right=options), strict_schema(answer))
        assert estimate_tokens(sent) + config.max_tokens <= config.context_tokens
    # A task's solver sees what a learner sees: the largest tables a SQL draft may hold, or a long signature.
    table = {"name": "t" * 40, "columns": [{"name": "c" * 40, "type": "TEXT"}] * DRAFT_COLUMNS,
             "rows": [["v" * DRAFT_CELL_CHARS] * DRAFT_COLUMNS] * DRAFT_ROWS}
    views = {
        "sql_query": {"prompt": "p" * 2000,
                      "fixture": sql_task.learner_fixture({"tables": [table] * DRAFT_TABLES}, 20)},
        "python_function": {"prompt": "p" * 2000, "function": {"name": "f" * 40, "params": ["a" * 40] * 5},
                            "examples": [{"args": ["x" * 300], "expected": "y" * 300}] * 3},
    }
    for kind, answer in (("sql_query", solver.SolverQuery), ("python_function", solver.SolverCode)):
        sent = with_schema_in_prompt("text", prompts.task_solver_messages(item_type=kind, view=views[kind]),
                                     strict_schema(answer))
        assert estimate_tokens(sent) + config.max_tokens <= config.context_tokens, (kind, estimate_tokens(sent))
