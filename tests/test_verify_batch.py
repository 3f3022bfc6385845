"""POST /v1/credentials/verify-batch: one verdict per credential, in order, the same as single verify."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.factories import ADMIN, earn_credential, verify_response

BATCH = "/v1/credentials/verify-batch"


def _batch(client: TestClient, credentials: list[Any], **extra: Any) -> list[dict[str, Any]]:
    response = client.post(BATCH, json={"verifiableCredentials": credentials, **extra})
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    assert len(results) == len(credentials)
    return results


@pytest.fixture
def earned(client: TestClient) -> list[dict[str, Any]]:
    return [earn_credential(client, item_count=3) for _ in range(3)]


def test_results_in_order_and_equal_to_single_verify(client: TestClient, earned: list[dict[str, Any]]) -> None:
    good = [item["credential"]["jwt"] for item in earned]
    tampered = good[1][:-4] + ("AAAA" if not good[1].endswith("AAAA") else "BBBB")
    credentials: list[Any] = [good[0], "not a jws", tampered, {"no": "proof"}, good[2], 42, good[0]]
    results = _batch(client, credentials)
    assert [result["verified"] for result in results] == [True, False, False, False, True, False, True]
    assert results == [verify_response(client, credential) for credential in credentials]
    assert results[0]["credential"]["id"] == earned[0]["credential"]["credential"]["id"]
    assert results[4]["credential"]["id"] == earned[2]["credential"]["credential"]["id"]


def test_revocation_and_suspension_show_at_once(client: TestClient, earned: list[dict[str, Any]]) -> None:
    ids = [item["credential"]["id"] for item in earned]
    tokens = [item["credential"]["jwt"] for item in earned]
    assert client.post(f"/v1/credentials/{ids[0]}/revoke", json={}, headers=ADMIN).status_code == 200
    assert client.post(f"/v1/credentials/{ids[2]}/suspend", json={}, headers=ADMIN).status_code == 200
    results = _batch(client, tokens)
    codes = [[error["code"] for error in result["errors"]] for result in results]
    assert codes == [["revoked"], [], ["suspended"]]
    assert results == [verify_response(client, token) for token in tokens]
    assert client.post(f"/v1/credentials/{ids[2]}/reinstate", json={}, headers=ADMIN).status_code == 200
    assert [result["verified"] for result in _batch(client, tokens)] == [False, True, True]


def test_verdicts_stay_in_order_across_chunks(client: TestClient, earned: list[dict[str, Any]]) -> None:
    """Batches are checked and status-read CHUNK at a time: positions and status hold across the seams."""
    from app.verification.batch import CHUNK

    tokens = [item["credential"]["jwt"] for item in earned]
    assert client.post(f"/v1/credentials/{earned[1]['credential']['id']}/revoke", json={},
                       headers=ADMIN).status_code == 200
    count = 2 * CHUNK + 7
    credentials: list[Any] = [tokens[index % 3] for index in range(count)]
    for position in (CHUNK - 1, CHUNK, count - 1):
        credentials[position] = "not a jws"
    expected = ["malformed" if credential == "not a jws" else "revoked" if credential == tokens[1] else None
                for credential in credentials]
    results = _batch(client, credentials)
    assert [result["errors"][0]["code"] if result["errors"] else None for result in results] == expected
    assert [result["credential"]["id"] for result in results if result["verified"]] == [
        next(item["credential"]["credential"]["id"] for item in earned if item["credential"]["jwt"] == credential)
        for credential, code in zip(credentials, expected, strict=True) if code is None
    ]


def test_empty_batch_is_empty_results(client: TestClient) -> None:
    assert _batch(client, []) == []


def test_expected_holder_applies_to_each(client: TestClient, earned: list[dict[str, Any]]) -> None:
    token = earned[0]["credential"]["jwt"]
    subject = earned[0]["credential"]["credential"]["credentialSubject"]
    results = _batch(client, [token, "x"], options={"expectedHolder": "did:example:someone-else"})
    assert [error["code"] for error in results[0]["errors"]] == ["holder_mismatch"]
    assert [error["code"] for error in results[1]["errors"]] == ["malformed"]  # no payload: no holder check
    if subject["id"].startswith("did:"):
        assert "holder" in _batch(client, [token], options={"expectedHolder": subject["id"]})[0]["checks"]


def test_over_the_item_limit_is_422(client: TestClient) -> None:
    response = client.post(BATCH, json={"verifiableCredentials": ["x"] * 1001})
    assert response.status_code == 422
    assert response.json()["error"] == "validation_error"
    assert "1000" in response.json()["detail"]


def test_thousand_credentials_pass_the_body_limits(client: TestClient, earned: list[dict[str, Any]]) -> None:
    token = earned[0]["credential"]["jwt"]
    assert len(token) > 2000
    results = _batch(client, [token] * 1000)
    assert all(result["verified"] for result in results)


def test_body_over_the_batch_cap_is_413(client: TestClient) -> None:
    body = json.dumps({"verifiableCredentials": ["x" * 17000] * 1000}).encode()
    assert len(body) > 16 * 1024 * 1024
    response = client.post(BATCH, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"not json", "invalid_json"),
        (b"[]", "validation_error"),
        (b'{"verifiableCredential": "x"}', "validation_error"),
        (b'{"verifiableCredentials": "x"}', "validation_error"),
        (b'{"verifiableCredentials": [], "options": 3}', "validation_error"),
        (b'{"verifiableCredentials": [], "options": {"expectedHolder": "nobody"}}', "validation_error"),
        (b'{"verifiableCredentials": [], "verifiableCredentials": ["x"]}', "invalid_json"),
        (b'{"verifiableCredentials": [], "options": {"expectedHolder": "a@b.c", "expectedHolder": "d@e.f"}}',
         "invalid_json"),
        (b'{"verifiableCredentials": [NaN]}', "invalid_json"),
    ],
)
def test_bad_requests_are_clear_422s(client: TestClient, body: bytes, code: str) -> None:
    response = client.post(BATCH, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["error"] == code


def test_duplicate_keys_inside_one_credential_make_only_it_malformed(
    client: TestClient, earned: list[dict[str, Any]]
) -> None:
    token = earned[0]["credential"]["jwt"]
    body = ('{"verifiableCredentials": [' + json.dumps(token)
            + ', {"type": "VerifiableCredential", "type": "x"}]}').encode()
    response = client.post(BATCH, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert results[0]["verified"] is True
    assert [error["code"] for error in results[1]["errors"]] == ["malformed"]
    assert "duplicate" in results[1]["errors"][0]["message"]


def test_batches_sent_at_once_each_get_their_own_verdicts_and_free_their_turn(
    client: TestClient, earned: list[dict[str, Any]]
) -> None:
    """A process verifies one batch per core at a time: a dozen sent together (some refused with 422 after
    their body was read) all answer, each with its own results, and every turn is free again afterwards."""
    slots = client.app.state.batch_slots  # type: ignore[attr-defined]
    free = slots.value
    tokens = [item["credential"]["jwt"] for item in earned]

    def send(number: int) -> tuple[int, Any]:
        if number % 4 == 3:
            response = client.post(BATCH, json={"verifiableCredentials": ["x"] * 1001})
        else:
            response = client.post(BATCH, json={"verifiableCredentials": [tokens[number % 3], "x"] * (20 + number)})
        return response.status_code, response.json()

    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(send, range(12)))
    for number, (status, body) in enumerate(answers):
        if number % 4 == 3:
            assert status == 422 and body["error"] == "validation_error"
            continue
        assert status == 200
        results = body["results"]
        assert len(results) == 2 * (20 + number)
        assert {result["credential"]["id"] for result in results[::2]} == {
            earned[number % 3]["credential"]["credential"]["id"]}
        assert all(result["verified"] for result in results[::2])
        assert all(result["errors"][0]["code"] == "malformed" for result in results[1::2])
    assert slots.value == free
