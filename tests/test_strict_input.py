"""Bad input never 500s: strict JSON on every body, NUL-free paths and queries, refused before anything is stored."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from app import strict_json
from tests.factories import ADMIN, correct_responses, keyed, new_assessment, new_learner, start

JSON = {"content-type": "application/json"}

# Each breaks one rule; `{}` stands where a valid answer would go.
BAD_ANSWERS = {
    "NaN": "NaN",
    "Infinity": "Infinity",
    "-Infinity": "-Infinity",
    "overflowing float": "1e400",
    "integer beyond 2^53": "9007199254740993",
    "negative integer beyond 2^53": "-9007199254740993",
    "huge integer": "9" * 5000,
    "lone surrogate": '"\\ud800"',
    "NUL character": '"a\\u0000b"',
    "deep nesting": "[" * 100 + "]" * 100,
}


def _submit_raw(client: TestClient, attempt_id: str, raw: str, headers: dict[str, str]) -> object:
    return client.post(f"/v1/attempts/{attempt_id}/submit", content=raw.encode(), headers={**headers, **JSON})


@pytest.mark.parametrize("graded", [False, True], ids=["in_progress", "graded"])
def test_submit_with_non_i_json_answers_is_422_and_stores_nothing(client: TestClient, graded: bool) -> None:
    learner = new_learner(client)
    assessment = new_assessment(client)
    attempt = start(client, assessment, learner)
    item_id = attempt["items"][0]["id"]
    if graded:
        responses = correct_responses(keyed(client, attempt))  # under the attempt's own item ids
        done = client.post(f"/v1/attempts/{attempt['id']}/submit", json={"responses": responses},
                           headers=learner["headers"])
        assert done.status_code == 200, done.text
    for name, answer in BAD_ANSWERS.items():
        raw = f'{{"responses": [{{"item_id": "{item_id}", "answer": {answer}}}]}}'
        response = _submit_raw(client, attempt["id"], raw, learner["headers"])
        assert response.status_code == 422, (name, response.text)  # type: ignore[attr-defined]
        body = response.json()  # type: ignore[attr-defined]
        assert body["error"] == "invalid_json" and body["detail"], name
    duplicate = f'{{"responses": [], "responses": [{{"item_id": "{item_id}", "answer": 1}}]}}'
    response = _submit_raw(client, attempt["id"], duplicate, learner["headers"])
    assert response.status_code == 422 and "duplicate" in response.json()["detail"]  # type: ignore[attr-defined]
    status = client.get(f"/v1/attempts/{attempt['id']}", headers=learner["headers"]).json()["status"]
    assert status == ("graded" if graded else "in_progress")


def test_details_say_which_rule_was_broken(client: TestClient) -> None:
    learner = new_learner(client)
    cases = {
        '{"name": NaN}': "NaN",
        '{"name": "x", "n": 9007199254740992}': "integer beyond",
        '{"name": "\\udfff"}': "lone surrogate",
        '{"name": "a\\u0000"}': "NUL",
        '{"name": ' + "[" * 65 + "]" * 65 + "}": "nested deeper than 64",
        '{"name": ' + "{\"a\": " * 5000 + "1" + "}" * 5000 + "}": "nested deeper",
    }
    for raw, words in cases.items():
        response = client.post("/v1/learners", content=raw.encode(), headers={**ADMIN, **JSON})
        assert response.status_code == 422 and words in response.json()["detail"], (raw[:40], response.text)
    # Nothing was created by any of them.
    response = client.post("/v1/learners", content=b'{"name": "fine"}', headers={**ADMIN, **JSON})
    assert response.status_code == 201
    assert learner["id"] != response.json()["id"]


def test_big_bodies_are_held_to_the_same_rules(client: TestClient) -> None:
    padding = ", ".join(f'"k{n}": {{"a": 1}}' for n in range(20_000))  # ~300 KB of small objects
    # The last one is strict JSON: refused by the model (extra fields), not by the parser.
    cases = (('"z": NaN', "invalid_json"), ('"z": 1, "z": 2', "invalid_json"), ('"z": 1', "validation_error"))
    for tail, error in cases:
        raw = f'{{"name": "big", {padding}, {tail}}}'
        response = client.post("/v1/learners", content=raw.encode(), headers={**ADMIN, **JSON})
        assert response.status_code == 422 and response.json()["error"] == error, (tail, response.text[:200])


def test_invalid_utf8_body_is_422_not_400(client: TestClient) -> None:
    response = client.post("/v1/learners", content=b'{"name": "\xff\xfe"}', headers={**ADMIN, **JSON})
    assert response.status_code == 422 and response.json()["error"] == "invalid_json"


def test_nul_in_text_field_is_refused_on_every_backend(client: TestClient) -> None:
    response = client.post("/v1/learners", json={"name": "Ada\x00Lovelace"}, headers=ADMIN)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_json"


def test_nul_in_path_or_query_never_reaches_the_database(client: TestClient) -> None:
    learner = new_learner(client)
    paths = (
        "/v1/status-lists/%00", "/v1/assessments/%00", "/v1/attempts/a%00b", "/v1/credentials/%00x",
        "/v1/achievements/%00/foundation", "/v1/status-lists/" + "x" * 5000, "/v1/assessments/%ED%A0%80",
    )
    for path in paths:
        response = client.get(path, headers=learner["headers"])
        assert response.status_code == 404, (path, response.text)
        assert set(response.json()) == {"error", "detail"}
    response = client.get("/v1/assessments?status=%00", headers=ADMIN)
    assert response.status_code == 422 and "NUL" in response.json()["detail"]
    # A literal "%00" (escaped percent) is an ordinary value, answered by the route itself.
    assert client.get("/v1/assessments?status=%2500", headers=ADMIN).status_code == 422


def test_deeply_nested_verify_body_is_422_for_anyone(client: TestClient) -> None:
    raw = '{"verifiableCredential": ' + "[" * 1000 + "]" * 1000 + "}"
    response = client.post("/v1/credentials/verify", content=raw.encode(), headers=JSON)
    assert response.status_code == 422 and "nested" in response.json()["detail"]
    nested_object = '{"verifiableCredential": {"a": ' + '{"a": ' * 999 + "1" + "}" * 1000 + "}"
    response = client.post("/v1/credentials/verify", content=nested_object.encode(), headers=JSON)
    assert response.status_code == 422


def test_verify_answers_its_own_413_before_judging_the_json(client: TestClient) -> None:
    raw = '{"verifiableCredential": NaN, "pad": "' + "x" * 70_000 + '"}'
    response = client.post("/v1/credentials/verify", content=raw.encode(), headers=JSON)
    assert response.status_code == 413
    response = client.post("/v1/credentials/verify", content=b'{"verifiableCredential": NaN}', headers=JSON)
    assert response.status_code == 422 and "NaN" in response.json()["detail"]


def test_verify_keeps_duplicate_keys_as_a_malformed_verdict(client: TestClient) -> None:
    raw = b'{"verifiableCredential": "a.b.c", "verifiableCredential": "a.b.c"}'
    response = client.post("/v1/credentials/verify", content=raw, headers=JSON)
    assert response.status_code == 200 and response.json()["errors"][0]["code"] == "malformed"


def test_parser_accepts_ordinary_json_unchanged() -> None:
    raw = json.dumps({"a": [1, -2, 2**53 - 1, -(2**53 - 1), 1.5e300, "é😀", None, True], "b": {"c": "d"}})
    assert strict_json.loads(raw.encode()) == json.loads(raw)
    assert strict_json.loads(b'"\\ud83d\\ude00"') == "😀"  # a surrogate pair is not a lone surrogate
    with pytest.raises(strict_json.JsonSyntaxError):
        strict_json.loads(b"not json")


@pytest.mark.parametrize("name", sorted(BAD_ANSWERS))
def test_compact_json_breaking_a_rule_is_refused_like_any_other(name: str) -> None:
    """Compact and spaced bodies take orjson's path (app.strict_json._fast); each rule still holds on it."""
    compact = f'{{"answer":[{BAD_ANSWERS[name]}]}}'.encode()
    spaced = f'{{"answer": [{BAD_ANSWERS[name]}], "note": "a: b"}}'.encode()
    for raw in (compact, spaced):
        with pytest.raises(strict_json.StrictJsonError):
            strict_json.loads(raw)


@pytest.mark.parametrize("raw", [
    b'{"a":1,"a":2}', b'{"a":{"b":1,"b":1}}', b'[{"k":"v","k":"v"}]',
    # Spaced, so counted by members: colons inside strings, in names, and spelt as an escape must not hide one.
    b'{"a": 1, "a": 2}', b'{"url": "https://x:1/y", "url": "z"}', b'{"a:b": "c:d", "a:b": 1}',
    b'{"k": "\\u003a", "k": ":"}', b'{"k\\u003a": 1, "k:": 2, "k:": 3}',
    b'[{"v": [1, {"w": "x"}], "v": 2}, {"t": "::::"}]',
])
def test_json_repeating_a_key_is_refused(raw: bytes) -> None:
    with pytest.raises(strict_json.DuplicateKeyError):
        strict_json.loads(raw)
    assert strict_json.loads(raw, allow_duplicate_keys=True) == json.loads(raw)


def test_compact_and_spaced_json_parse_to_the_same_value() -> None:
    value = {"a": [1, -2, 0, 2**53 - 1, -(2**53 - 1), 1.5e300, 0.1, -0.0, "é😀", "\n\"/", None, True, False, {}],
             "b": {"c": "d", "e": []}}
    spaced = json.dumps(value).encode()
    compact = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    assert strict_json.loads(compact) == strict_json.loads(spaced) == value
    assert strict_json.loads(b"[" * 64 + b"]" * 64) is not None  # the deepest accepted nesting, compact
    with pytest.raises(strict_json.StrictJsonError):
        strict_json.loads(b"[" * 65 + b"]" * 65)
    with pytest.raises(strict_json.StrictJsonError):
        strict_json.loads(b"[" * 300 + b"]" * 300)  # deeper than orjson writes


def test_405_names_every_method_the_path_takes(client: TestClient) -> None:
    response = client.delete("/v1/assessments", headers=ADMIN)
    assert response.status_code == 405 and response.json()["error"] == "method_not_allowed"
    assert set(response.headers["allow"].split(", ")) == {"GET", "POST"}
    response = client.post("/v1/assessments/x/items/y", headers=ADMIN)
    assert response.status_code == 405
    assert set(response.headers["allow"].split(", ")) == {"PATCH", "PUT", "DELETE"}
    # The literal path wins over /v1/credentials/{credential_id}, as OpenAPI documents it.
    response = client.delete("/v1/credentials/verify")
    assert response.status_code == 405 and response.headers["allow"] == "POST"
