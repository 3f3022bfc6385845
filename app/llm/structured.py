"""Structured output across server dialects: the three request forms, refusals, and strict JSON extraction.

Servers differ in what `response_format` they accept (see the README's dialect table). The client tries the
forms in order and moves on when a server refuses one because of the request's shape:

- `json_schema`: `{"type": "json_schema", "json_schema": {"name", "strict": true, "schema"}}` (OpenAI, vLLM,
  llama.cpp's llama-server, Ollama >= 0.5);
- `json_object`: `{"type": "json_object", "schema": ...}`: llama-cpp-python turns the `schema` into a grammar;
  servers that ignore it still force JSON, and the schema is in the prompt as well;
- `text`: no `response_format`; the schema is in the prompt and exactly one JSON object is taken from the answer.

Pure functions: no I/O, no clock.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel

Form = Literal["json_schema", "json_object", "text"]
FORMS: tuple[Form, ...] = ("json_schema", "json_object", "text")

# Statuses a server answers when the request's shape is the problem: 400/422 (validation), 500 (llama-cpp-python
# wraps its request validation errors as 500), 501 (llama.cpp's "not supported").
_REFUSAL_STATUS = frozenset({400, 422, 500, 501})
_REFUSAL_WORDS = re.compile(r"response_format|json_schema|json_object|\bschema\b|grammar|structured output", re.I)

SCHEMA_INSTRUCTION = (
    "Answer with exactly one JSON object, and nothing before or after it, that is valid against this JSON Schema "
    "(every property is required; add no other property):\n"
)


def strict_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with $refs inlined (llama.cpp/Ollama grammars and OpenAI strict mode accept it)."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                name = node["$ref"].rsplit("/", 1)[-1]
                return inline(definitions[name])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(value) for value in node]
        return node

    result: dict[str, Any] = with_small_ranges_listed(inline(schema))
    return result


def with_small_ranges_listed(node: Any) -> Any:
    """Integers bounded on both sides by at most 16 values also get an `enum` of them: llama-cpp-python's grammar
    ignores `minimum`/`maximum` (its converter's TODO) but honours `enum`, and every server accepts it."""
    if isinstance(node, list):
        return [with_small_ranges_listed(value) for value in node]
    if not isinstance(node, dict):
        return node
    node = {key: with_small_ranges_listed(value) for key, value in node.items()}
    low, high = node.get("minimum"), node.get("maximum")
    if node.get("type") == "integer" and isinstance(low, int) and isinstance(high, int) and 0 <= high - low < 16:
        node["enum"] = list(range(low, high + 1))
    return node


def compact_schema(schema: dict[str, Any]) -> str:
    """The schema as short JSON for a prompt: no titles (they cost tokens and say nothing the names do not)."""

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: strip(value) for key, value in node.items() if key != "title"}
        if isinstance(node, list):
            return [strip(value) for value in node]
        return node

    return json.dumps(strip(schema), separators=(",", ":"), ensure_ascii=False)


def request_fields(form: Form, *, name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """The `response_format` part of the request body for `form` (empty for plain text)."""
    if form == "json_schema":
        return {"response_format": {"type": "json_schema", "json_schema": {"name": name, "strict": True,
                                                                           "schema": schema}}}
    if form == "json_object":
        return {"response_format": {"type": "json_object", "schema": schema}}
    return {}


def with_schema_in_prompt(form: Form, messages: list[dict[str, str]], schema: dict[str, Any]) -> list[dict[str, str]]:
    """The messages to send: for `json_object` and `text`, the schema is added to the (first) system message."""
    if form == "json_schema":
        return messages
    instruction = SCHEMA_INSTRUCTION + compact_schema(schema)
    if messages and messages[0].get("role") == "system":
        first = {**messages[0], "content": f"{messages[0]['content']}\n\n{instruction}"}
        return [first, *messages[1:]]
    return [{"role": "system", "content": instruction}, *messages]


def is_refusal(status: int, body: str) -> bool:
    """Whether an error answer refuses the structured-output request (its shape), not the call as such."""
    return status in _REFUSAL_STATUS and bool(_REFUSAL_WORDS.search(body))


_FENCED = re.compile(r"\A```[A-Za-z]*[ \t]*\n(?P<inner>.*)\n```\Z", re.S)


def extract_json_object(text: str) -> str:
    """The one JSON object in a plain-text answer, or ValueError naming why there is not exactly one.

    Accepted: the object alone, inside one code fence, or after a lead-in line; nothing that could be a second
    object may follow it.
    """
    body = text.strip()
    fenced = _FENCED.match(body)
    if fenced:
        body = fenced.group("inner").strip()
    start = body.find("{")
    if start < 0:
        raise ValueError("the answer holds no JSON object")
    try:
        _, end = json.JSONDecoder().raw_decode(body, start)
    except ValueError as exc:
        raise ValueError(f"the JSON object in the answer is incomplete or malformed: {exc}") from None
    if "{" in body[end:] or "[" in body[end:]:
        raise ValueError("the answer holds more than one JSON value: give exactly one JSON object")
    return body[start:end]
