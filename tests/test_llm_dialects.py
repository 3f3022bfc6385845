"""Structured output against each server dialect, spoken exactly by the scripted server (tests/llm_server.py).

Every row of the README's dialect table is one test here. What each server accepts, and how it refuses the
rest, from its source:

- OpenAI (API reference, Chat Completions `response_format`: `text`, `json_object`, `json_schema`; errors are
  `{"error": {"message", "type": "invalid_request_error", "param", "code"}}`): an unknown type is a 400
  `invalid_value` on `response_format.type`; `json_object` needs the word "json" in the messages (400 on
  `messages`).
- vLLM (vllm-project/vllm `vllm/entrypoints/openai/protocol.py`: `ResponseFormat.type:
  Literal["text", "json_object", "json_schema"]`, plus `structural_tag`; request validation errors answer 400
  with `ErrorResponse{error: ErrorInfo(message, type="BadRequestError", param, code=400)}`). `OpenAIBaseModel`
  allows extra fields, so a `schema` beside `json_object` is ignored: any JSON object.
- Ollama >= 0.5 (ollama/ollama `openai/openai.go`, `FromChatRequest`: `json_object` becomes `format: "json"`,
  `json_schema` becomes `format: <schema>`; any other type is ignored, never refused, and the model answers
  free text).
- llama.cpp's llama-server (ggml-org/llama.cpp `tools/server/server-common.cpp`,
  `oaicompat_chat_params_parse`: `json_object` takes `response_format.schema`, `json_schema` takes
  `json_schema.schema`, anything else throws `std::invalid_argument("response_format type must be one of
  \\"text\\" or \\"json_object\\", but got: ...")`, which `ex_wrapper` answers as 400 `invalid_request_error`,
  body `{"error": {"code": 400, "message", "type"}}`).
- llama-cpp-python 0.3.36 (abetlen/llama-cpp-python `llama_cpp/llama_types.py`:
  `ChatCompletionRequestResponseFormat.type: Literal["text", "json_object"]` with an optional `schema` that
  `llama_chat_format._grammar_for_response_format` compiles to a grammar; `llama_cpp/server/errors.py`:
  `RouteErrorHandler` catches every exception of a route, FastAPI's request validation error too, and answers
  500 `{"error": {"message": str(exc), "type": "internal_server_error", "param": null, "code": null}}`). This
  is the server of issue 11, and tests/e2e/test_real_llm.py runs it for real.
- A server with no structured output at all (proxies, older builds): any `response_format` is a 400.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from app.assessments import rules, validation
from app.assessments.generators import prompts, solver
from app.assessments.generators.llm import LlmConfig, LlmGenerator
from app.assessments.generators.prompts import SYSTEM_PROMPT
from app.llm.client import LlmClient, LlmError, LlmOutputError
from app.llm.structured import SCHEMA_INSTRUCTION, compact_schema, extract_json_object
from tests.llm_server import DIALECTS, FakeLlmServer, FakeModel, Received, Reply, completion

SKILL: dict[str, Any] = {
    "skill_id": "python", "skill_name": "Python programming",
    "skill_description": "Writing and reading everyday Python 3 code.", "level": "foundation",
}


def _script(model: FakeModel) -> None:
    model.batch("single_choice", model.single_choice(
        "What does `len({1, 2, 2, 3})` return?", ["4", "3", "2", "It raises TypeError"], [1]))
    model.batch("numeric", model.numeric("What is the value of `7 // 2 + 7 % 2`? Give a whole number.", 4.0))


@pytest.fixture
def model() -> FakeModel:
    model = FakeModel()
    _script(model)
    return model


def _server(dialect: str, model: FakeModel) -> FakeLlmServer:
    return FakeLlmServer(handler=model, dialect=DIALECTS[dialect])


def _config(server: FakeLlmServer, **changes: Any) -> LlmConfig:
    return LlmConfig(base_url=server.base_url, model="fake-model", backoff_base_seconds=0.01, timeout_seconds=5.0,
                     **changes)


def _generate(server: FakeLlmServer, client: LlmClient | None = None) -> Any:
    generator = LlmGenerator(client.config if client else _config(server), client)
    try:
        with generator.client.recording() as calls:
            result = generator.generate(**SKILL, item_count=2, item_types=["single_choice", "numeric"], seed=3)
        return result, calls
    finally:
        generator.close()


def _assert_kept_and_valid(result: Any) -> None:
    assert [item["type"] for item in result.kept] == ["single_choice", "numeric"]
    assert result.dropped == [] and result.notes == []
    for index, item in enumerate(result.kept):
        assert rules.rule_problems(item, result.kept[:index]) == [] and validation.item_problems(item) == []


# The requests one generation of a single-choice and a numeric item makes: 2 item batches, a critic pass for
# each item, one options-only guess for the choice item (it misses, which ends that test), and 3 solver runs
# for each (single-answer items need every run to agree).
CALLS = 2 + 2 + 1 + 3 + 3


def _forms(server: FakeLlmServer) -> list[str]:
    return [received.form for received in server.requests]


@pytest.mark.parametrize("dialect", ["openai", "vllm", "ollama", "llama.cpp"])
def test_servers_with_json_schema_get_json_schema_every_time(dialect: str, model: FakeModel) -> None:
    with _server(dialect, model) as server:
        result, calls = _generate(server)
    _assert_kept_and_valid(result)
    assert result.provenance["structured_output"] == "json_schema"
    assert set(_forms(server)) == {"json_schema"} and len(server.requests) == CALLS
    for received in server.requests:
        assert received.json["response_format"]["json_schema"]["strict"] is True
        assert SCHEMA_INSTRUCTION not in received.messages[0]["content"]  # the schema is not paid for twice
    assert [call.outcome for call in calls] == ["answered"] * CALLS
    assert all(call.prompt_tokens and call.completion_tokens for call in calls)


def test_llama_cpp_python_refuses_json_schema_once_then_gets_json_object_with_the_schema(model: FakeModel) -> None:
    with _server("llama-cpp-python", model) as server:
        client = LlmClient(_config(server))
        result, calls = _generate(server, client)
        _script(model)  # the same items again, for a second generation with the same client
        again, _ = _generate(server, client)
    _assert_kept_and_valid(result)
    assert result.provenance["structured_output"] == "json_object"
    # One refused request (500, not retried as it was), then json_object for this and the next generation.
    forms = _forms(server)
    assert forms[0] == "json_schema" and set(forms[1:]) == {"json_object"} and len(forms) > 1 + CALLS
    assert [call.outcome for call in calls] == ["refused"] + ["answered"] * CALLS
    assert [call.form for call in calls] == ["json_schema"] + ["json_object"] * CALLS
    for received in server.requests[1:]:
        response_format = received.json["response_format"]
        assert response_format["type"] == "json_object"
        # The schema: a grammar for the server, and (without titles) a guide in the prompt for the model.
        assert json.loads(compact_schema(response_format["schema"])) == received.schema_in_prompt
        assert response_format["schema"]["additionalProperties"] is False
    assert client.breaker.state == "closed"
    assert again.provenance["structured_output"] == "json_object"


def test_a_server_without_structured_output_gets_plain_text_and_one_json_object_is_taken(model: FakeModel) -> None:
    with _server("no-structured-output", model) as server:
        result, calls = _generate(server)
    _assert_kept_and_valid(result)
    assert result.provenance["structured_output"] == "text"
    assert _forms(server) == ["json_schema", "json_object"] + ["text"] * CALLS
    assert [call.outcome for call in calls] == ["refused", "refused"] + ["answered"] * CALLS
    for received in server.requests[2:]:
        assert "response_format" not in received.json
        system = received.messages[0]["content"]
        assert system.startswith((SYSTEM_PROMPT, prompts.CRITIC_SYSTEM_PROMPT)) or "Question" in received.body.decode()
        assert received.schema_in_prompt["type"] == "object"


def test_ollama_ignores_what_it_does_not_know_and_never_refuses(model: FakeModel) -> None:
    # Before 0.5 Ollama ignored json_schema the same way: the model answers free text. Here it serves
    # json_schema; an unknown type would go through unrefused (nothing to fall back from).
    assert DIALECTS["ollama"].refusal(Received("POST", "/v1/chat/completions", {}, b'{"messages": [], '
                                                b'"response_format": {"type": "regex"}}')) is None
    with _server("ollama", model) as server:
        result, _ = _generate(server)
    assert result.provenance["structured_output"] == "json_schema"


def test_openai_json_object_needs_the_word_json_and_our_prompts_say_it() -> None:
    openai = DIALECTS["openai"]

    def request(*contents: str) -> Received:
        body = {"messages": [{"role": "user", "content": text} for text in contents],
                "response_format": {"type": "json_object"}}
        return Received("POST", "/v1/chat/completions", {}, json.dumps(body).encode())

    refused = openai.refusal(request("Write items."))
    assert refused is not None and refused.status == 400
    assert openai.refusal(request(SYSTEM_PROMPT, "Write items.")) is None  # "Answer with JSON only"


def test_a_refusal_on_every_form_is_one_clear_error(model: FakeModel) -> None:
    def refuse_all(received: Received) -> Reply:
        return Reply(status=400, body={"error": {"message": "grammar support is disabled on this server"}})

    with FakeLlmServer(handler=refuse_all) as server:
        client = LlmClient(_config(server))
        with pytest.raises(LlmError, match=r"HTTP 400 .*grammar support is disabled"):
            client.complete_json([{"role": "user", "content": "hi"}], solver.SolverText, name="t")
    # json_schema and json_object were refused; the plain-text request has no response_format to refuse,
    # so its 400 is an ordinary client error.
    assert _forms(server) == ["json_schema", "json_object", "text"]


def test_a_server_error_that_is_not_about_the_format_is_retried_not_downgraded() -> None:
    with FakeLlmServer() as server:
        server.script(Reply(status=500, body={"error": {"message": "CUDA out of memory"}}),
                      completion('{"reasoning": "r", "answer": "len"}'))
        client = LlmClient(_config(server))
        answer = client.complete_json([{"role": "user", "content": "hi"}], solver.SolverText, name="t")
    assert answer.answer == "len"
    assert _forms(server) == ["json_schema", "json_schema"] and client.form == "json_schema"


def test_plain_text_answers_must_hold_exactly_one_json_object() -> None:
    one = '{"a": [1, 2], "b": "x}"}'
    assert extract_json_object(one) == one
    assert extract_json_object(f"```json\n{one}\n```") == one
    assert extract_json_object(f"Sure, here it is:\n{one}\nHope this helps.") == one
    with pytest.raises(ValueError, match="no JSON object"):
        extract_json_object("I cannot do that.")
    with pytest.raises(ValueError, match="more than one JSON value"):
        extract_json_object(f"{one}\n{one}")
    with pytest.raises(ValueError, match="incomplete or malformed"):
        extract_json_object('{"a": [1, 2')


def test_two_objects_in_a_plain_text_answer_go_back_with_the_reason(model: FakeModel) -> None:
    answers = iter([
        completion('{"reasoning": "r", "answer": "len"} {"reasoning": "r", "answer": "size"}'),
        completion('Answer: {"reasoning": "r", "answer": "len"}'),
    ])
    with FakeLlmServer(handler=lambda received: next(answers), dialect=DIALECTS["no-structured-output"]) as server:
        client = LlmClient(_config(server))
        answer = client.complete_json([{"role": "user", "content": "hi"}], solver.SolverText, name="t")
    assert answer.answer == "len"
    repair = server.requests[-1].messages[-1]["content"]
    assert "more than one JSON value" in repair


def test_the_prompt_and_the_answer_fit_the_context_window() -> None:
    with FakeLlmServer() as server:
        server.handler = lambda received: completion('{"reasoning": "r", "answer": "len"}')
        client = LlmClient(_config(server, context_tokens=1024, max_tokens=900))
        client.complete_json([{"role": "user", "content": "x" * 600}], solver.SolverText, name="t")
        sent = server.requests[-1].json["max_tokens"]
        assert 256 <= sent < 900  # cut to the room the prompt leaves
        with pytest.raises(LlmError, match=r"prompt too long: about \d+ tokens .* 1024 tokens"):
            client.complete_json([{"role": "user", "content": "x" * 3000}], solver.SolverText, name="t")
    assert len(server.requests) == 1  # the one that cannot fit is never sent


def test_no_max_tokens_is_sent_when_set_to_zero() -> None:
    with FakeLlmServer() as server:
        server.handler = lambda received: completion('{"reasoning": "r", "answer": "len"}')
        LlmClient(_config(server, max_tokens=0)).complete_json(
            [{"role": "user", "content": "hi"}], solver.SolverText, name="t")
    assert "max_tokens" not in server.requests[0].json


@pytest.fixture
def never_valid() -> Iterator[FakeLlmServer]:
    with FakeLlmServer(handler=lambda received: completion("no JSON here")) as server:
        yield server


def test_output_errors_in_plain_text_are_repaired_then_reported(never_valid: FakeLlmServer) -> None:
    never_valid.dialect = DIALECTS["no-structured-output"]
    client = LlmClient(_config(never_valid, repair_attempts=1))
    with pytest.raises(LlmOutputError, match="no valid answer after 2 attempts; last error: the answer holds no JSON"):
        client.complete_json([{"role": "user", "content": "hi"}], solver.SolverText, name="t")
