"""The W3C VC API shapes: POST /credentials/verify and /presentations/verify."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.factories import ADMIN, earn_credential


@pytest.fixture
def earned(client: TestClient) -> dict[str, Any]:
    return earn_credential(client, item_count=3)


def test_verified_credential_is_200_with_checks(client: TestClient, earned: dict[str, Any]) -> None:
    response = client.post("/credentials/verify", json={"verifiableCredential": earned["credential"]["jwt"]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["verified"] is True
    assert body["errors"] == [] and body["problemDetails"] == []
    assert {"signature", "validity_period", "status:revocation"} <= set(body["checks"])
    assert body["credential"]["id"] == earned["credential"]["credential"]["id"]


def test_enveloped_credential_verifies(client: TestClient, earned: dict[str, Any]) -> None:
    envelope = {"@context": ["https://www.w3.org/ns/credentials/v2"], "type": "EnvelopedVerifiableCredential",
                "id": "data:application/vc+jwt," + earned["credential"]["jwt"]}
    assert client.post("/credentials/verify", json={"verifiableCredential": envelope}).status_code == 200


def test_failed_verification_is_400_with_problem_details(client: TestClient, earned: dict[str, Any]) -> None:
    assert client.post(f"/v1/credentials/{earned['credential']['id']}/revoke", json={},
                       headers=ADMIN).status_code == 200
    response = client.post("/credentials/verify", json={"verifiableCredential": earned["credential"]["jwt"]})
    assert response.status_code == 400
    body = response.json()
    assert body["verified"] is False and body["errors"] == ["revoked"]
    assert body["problemDetails"][0]["title"] == "revoked"
    garbage = client.post("/credentials/verify", json={"verifiableCredential": "abc"}).json()
    assert garbage["problemDetails"][0]["type"] == "https://www.w3.org/TR/vc-data-model-2.0/#PARSING_ERROR"


def test_expected_holder_mismatch_fails(client: TestClient, earned: dict[str, Any]) -> None:
    response = client.post("/credentials/verify", json={
        "verifiableCredential": earned["credential"]["jwt"], "options": {"expectedHolder": "did:example:other"}})
    assert response.status_code == 400
    assert response.json()["errors"] == ["holder_mismatch"]


@pytest.mark.parametrize("body", [b"nope", b"[]", b'{"credential": {}}',
                                  b'{"verifiableCredential": "x", "options": {"expectedHolder": 5}}',
                                  # not I-JSON: refused before the route, still with the VC API's 400
                                  b'{"verifiableCredential": 1e999}', b'{"verifiableCredential": "\\ud800"}'])
def test_invalid_input_is_400(client: TestClient, body: bytes) -> None:
    response = client.post("/credentials/verify", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["error"] in ("invalid_json", "validation_error")


def _presentation(*credentials: Any, **extra: Any) -> dict[str, Any]:
    return {"@context": ["https://www.w3.org/ns/credentials/v2"], "type": ["VerifiablePresentation"],
            "verifiableCredential": list(credentials), **extra}


def test_unsecured_presentation_verifies_each_credential(client: TestClient, earned: dict[str, Any]) -> None:
    other = earn_credential(client, item_count=3)
    vp = _presentation(earned["credential"]["jwt"], other["credential"]["jwt"])
    response = client.post("/presentations/verify", json={"verifiablePresentation": vp})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["verified"] is True
    assert [result["verified"] for result in body["results"]["credentials"]] == [True, True]
    # One bad credential: still 200 (verification ran), not verified, that credential's errors shown.
    bad = client.post("/presentations/verify", json={"presentation": _presentation(earned["credential"]["jwt"], "x")})
    assert bad.status_code == 200
    assert bad.json()["verified"] is False
    assert bad.json()["results"]["credentials"][1]["errors"] == ["malformed"]


def test_presentation_with_a_proof_is_not_verified(client: TestClient, earned: dict[str, Any]) -> None:
    vp = _presentation(earned["credential"]["jwt"], proof={"type": "DataIntegrityProof",
                                                           "cryptosuite": "eddsa-rdfc-2022", "proofValue": "z1"})
    response = client.post("/presentations/verify", json={"verifiablePresentation": vp})
    assert response.status_code == 200
    body = response.json()
    assert body["verified"] is False
    assert body["errors"][0] == "unsupported_algorithm"
    assert body["results"]["credentials"][0]["verified"] is True


@pytest.mark.parametrize("body", [{"verifiablePresentation": "x"}, {"verifiablePresentation": {"type": "Thing"}},
                                  {}])
def test_presentation_bad_input_is_400(client: TestClient, body: dict[str, Any]) -> None:
    response = client.post("/presentations/verify", json=body)
    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"


def test_empty_presentation_is_not_verified(client: TestClient) -> None:
    response = client.post("/presentations/verify", json={"verifiablePresentation": _presentation()})
    assert response.status_code == 200
    assert response.json()["verified"] is False
