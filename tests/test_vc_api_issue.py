"""The W3C VC API issuer: POST /credentials/issue, a manual award by an admin."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from app.config import Settings
from tests.conformance import assert_issued
from tests.conftest import PUBLIC_URL
from tests.factories import ADMIN, bearer, earn_credential, new_learner, verify_response

ACHIEVEMENT = f"{PUBLIC_URL}/v1/achievements/sql/intermediate"
VC_V2 = "https://www.w3.org/ns/credentials/v2"


def issuer_did(client: TestClient) -> str:
    did: str = client.get("/.well-known/did.json").json()["id"]
    return did


def award_body(subject_id: str, achievement: str = ACHIEVEMENT, **credential: Any) -> dict[str, Any]:
    return {"credential": {
        "@context": [VC_V2, "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"],
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "credentialSubject": {"id": subject_id, "type": ["AchievementSubject"], "achievement": {"id": achievement}},
        **credential,
    }, "options": {}}


def award(client: TestClient, learner: dict[str, Any], **credential: Any) -> dict[str, Any]:
    """Award ACHIEVEMENT to the learner; returns the GET /v1/credentials/{id} record, checked like every credential."""
    response = client.post("/credentials/issue", json=award_body(learner["subject_id"], **credential), headers=ADMIN)
    assert response.status_code == 201, response.text
    record = client.get(response.headers["Location"], headers=learner["headers"])
    assert record.status_code == 200, record.text
    body: dict[str, Any] = record.json()
    assert_issued(body)
    assert body["ldp"] == response.json()["verifiableCredential"]
    return body


def written(settings: Settings) -> dict[str, int]:
    """What issuing writes: credential rows, status entries, status slots reserved, audit events."""
    engine = create_engine(settings.sqlalchemy_url)
    with engine.connect() as connection:
        counts = dict(connection.execute(text(
            "SELECT 'credentials', count(*) FROM credentials UNION ALL SELECT 'status_entries', count(*) FROM "
            "status_entries UNION ALL SELECT 'audit_events', count(*) FROM audit_events UNION ALL SELECT "
            "'reserved', coalesce(sum(allocated), 0) FROM status_lists"
        )).all())
    engine.dispose()
    return counts


def test_an_award_is_issued_in_both_forms_and_verifies(client: TestClient, settings: Settings) -> None:
    learner = new_learner(client, email="grace@example.com")
    before = written(settings)
    response = client.post("/credentials/issue", headers=ADMIN, json=award_body(
        learner["subject_id"], issuer={"id": issuer_did(client), "type": ["Profile"]}))
    assert response.status_code == 201, response.text
    vc = response.json()["verifiableCredential"]
    [proof] = vc["proof"]
    assert proof["type"] == "DataIntegrityProof" and proof["cryptosuite"] == "eddsa-rdfc-2022"
    credential_id = vc["id"].removeprefix("urn:uuid:")
    assert response.headers["Location"] == f"/v1/credentials/{credential_id}"
    after = written(settings)
    assert {key: after[key] - before[key] for key in after} == {
        "credentials": 1, "status_entries": 1, "audit_events": 1, "reserved": 1}

    record = client.get(f"/v1/credentials/{credential_id}", headers=learner["headers"]).json()
    assert_issued(record)
    assert record["kind"] == "award" and record["attempt_id"] is None and record["assessment_id"] is None
    assert record["learner_id"] == learner["id"] and record["ldp"] == vc
    assert record["status"] == {"revoked": False, "suspended": False}
    document = record["credential"]
    assert document["issuer"]["id"] == issuer_did(client)
    subject = document["credentialSubject"]
    assert subject["id"] == learner["subject_id"]
    sql = next(skill for skill in client.get("/v1/skills", headers=ADMIN).json() if skill["id"] == "sql")
    assert subject["achievement"]["id"] == ACHIEVEMENT
    assert subject["achievement"]["name"] == f"{sql['name']} (intermediate)"
    assert "without a Skillproof assessment" in subject["achievement"]["criteria"]["narrative"]
    assert "result" not in subject  # no assessment, so no score is claimed
    [evidence] = document["evidence"]
    assert evidence["name"] == "Manual award"
    assert evidence["narrative"].startswith("Awarded by admin SKILLPROOF_ADMIN_API_KEY (API key ")
    assert not {"assessmentId", "attemptId", "contentHash"} & set(evidence)
    assert document["credentialStatus"]["type"] == "BitstringStatusListEntry"
    [mine] = client.get("/v1/learners/me/credentials", headers=learner["headers"]).json()
    assert mine["id"] == credential_id and mine["kind"] == "award"

    for form in (record["jwt"], record["ldp"]):
        result = verify_response(client, form)
        assert result["verified"] is True, result["errors"]
        assert {"signature", "status:revocation", "status:suspension"} <= set(result["checks"])
    holder = client.post("/v1/credentials/verify", json={"verifiableCredential": record["jwt"],
                                                         "options": {"expectedHolder": "grace@example.com"}})
    assert holder.json()["verified"] is True and "holder" in holder.json()["checks"]
    assert client.post("/credentials/verify", json={"verifiableCredential": vc}).status_code == 200

    [event] = [e for e in client.get("/v1/audit-events", params={"action": "credential.award", "limit": 1000},
                                     headers=ADMIN).json()["events"] if e["target_id"] == credential_id]
    assert event["actor_role"] == "admin" and event["actor_key_id"] in evidence["narrative"]
    assert event["details"] == {"learner_id": learner["id"], "achievement": ACHIEVEMENT}


def test_a_minimal_request_and_a_learner_with_a_did(client: TestClient) -> None:
    """Only credentialSubject is needed; a learner with a registered DID is named, and awarded, by it."""
    did = f"did:example:{uuid.uuid4().hex}"
    learner = new_learner(client, did=did)
    response = client.post("/credentials/issue", headers=ADMIN, json={"credential": {"credentialSubject": {
        "id": did, "achievement": {"id": f"{PUBLIC_URL}/v1/achievements/python/foundation"}}}})
    assert response.status_code == 201, response.text
    assert response.json()["verifiableCredential"]["credentialSubject"]["id"] == did
    record = client.get(response.headers["Location"], headers=learner["headers"]).json()
    assert_issued(record)
    assert "identifier" not in record["credential"]["credentialSubject"]  # no email given, so no hashed email


def test_revoking_or_suspending_an_award_shows_in_verify(client: TestClient) -> None:
    record = award(client, new_learner(client))
    credential_id = record["id"]
    assert client.post(f"/v1/credentials/{credential_id}/suspend", json={}, headers=ADMIN).status_code == 200
    assert [e["code"] for e in verify_response(client, record["jwt"])["errors"]] == ["suspended"]
    assert client.post(f"/v1/credentials/{credential_id}/reinstate", json={}, headers=ADMIN).status_code == 200
    assert verify_response(client, record["ldp"])["verified"] is True
    revoked = client.post(f"/v1/credentials/{credential_id}/revoke", json={"reason": "awarded in error"},
                          headers=ADMIN)
    assert revoked.status_code == 200 and revoked.json()["status"] == {"revoked": True, "suspended": False}
    for form in (record["jwt"], record["ldp"]):
        assert [e["code"] for e in verify_response(client, form)["errors"]] == ["revoked"]
    vc_api = client.post("/credentials/verify", json={"verifiableCredential": record["ldp"]})
    assert vc_api.status_code == 400 and vc_api.json()["errors"] == ["revoked"]
    assert client.get(f"/v1/credentials/{credential_id}", headers=ADMIN).json()["status"]["revoked"] is True


def test_graded_credentials_say_so(client: TestClient) -> None:
    record = earn_credential(client, item_count=2)["credential"]
    assert record["kind"] == "graded" and record["attempt_id"] and record["assessment_id"]


def _learner_id(client: TestClient) -> str:
    subject_id: str = new_learner(client)["subject_id"]
    return subject_id


INVALID_JSON = [b"nope", b"", b'{"credential": 1e999}', b'{"credential": {}, "credential": {}}', b'{"a": "\\u0000"}']
INVALID = [
    [], {}, {"credential": {}}, {"credential": "x"},
    {"credential": {"credentialSubject": {"id": "urn:uuid:x"}}},  # no achievement
    {"credential": {"credentialSubject": {"achievement": {"id": ACHIEVEMENT}}}},  # no subject id
    {"credential": {"credentialSubject": {"id": 7, "achievement": {"id": ACHIEVEMENT}}}},
]


def _with(subject_id: str, *, options: Any = None, subject: dict[str, Any] | None = None,
          **credential: Any) -> dict[str, Any]:
    body = award_body(subject_id, **credential)
    body["credential"]["credentialSubject"].update(subject or {})
    if options is not None:
        body["options"] = options
    return body


@pytest.mark.parametrize("case", [
    "raw", "invalid", "extra_id", "extra_subject_result", "context", "type", "subject_type", "options",
    "status_option",
])
def test_invalid_requests_are_400_and_write_nothing(client: TestClient, settings: Settings, case: str) -> None:
    subject_id = _learner_id(client)
    bodies: list[Any] = {
        "raw": INVALID_JSON,
        "invalid": INVALID,
        "extra_id": [_with(subject_id, id="urn:uuid:00000000-0000-4000-8000-000000000000")],
        "extra_subject_result": [_with(subject_id, subject={"result": [{"type": ["Result"], "value": "100"}]})],
        "context": [_with(subject_id, **{"@context": ["https://www.w3.org/2018/credentials/v1"]}),
                    _with(subject_id, **{"@context": []})],
        "type": [_with(subject_id, type=["VerifiableCredential", "UniversityDegreeCredential"]),
                 _with(subject_id, type="OpenBadgeCredential")],
        "subject_type": [_with(subject_id, subject={"type": "Person"})],
        "options": [_with(subject_id, options={"mandatoryPointers": ["/issuer"]}), _with(subject_id, options=[])],
        "status_option": [_with(subject_id, options={"credentialStatus": {"type": "StatusList2021Entry"}})],
    }[case]
    before = written(settings)
    for body in bodies:
        if isinstance(body, bytes):
            response = client.post("/credentials/issue", content=body,
                                   headers={**ADMIN, "Content-Type": "application/json"})
            expected = "invalid_json"
        else:
            response = client.post("/credentials/issue", json=body, headers=ADMIN)
            expected = "validation_error"
        assert response.status_code == 400, (body, response.text)
        assert response.json()["error"] == expected, (body, response.json())
        assert isinstance(response.json()["detail"], str) and response.json()["detail"]
    assert written(settings) == before


@pytest.mark.parametrize("achievement", [
    f"{PUBLIC_URL}/v1/achievements/sql/grandmaster",  # a skill without that level
    f"{PUBLIC_URL}/v1/achievements/underwater-basket-weaving/foundation",  # no such skill
    f"{PUBLIC_URL}/v1/achievements/sql",
    f"{PUBLIC_URL}/v1/achievements/sql/intermediate/extra",
    "https://other-issuer.example/v1/achievements/sql/intermediate",  # someone else's achievement
    "urn:uuid:5b2f3d8e-0000-4000-8000-000000000000",
])
def test_an_unknown_achievement_is_400_and_writes_nothing(
    client: TestClient, settings: Settings, achievement: str
) -> None:
    subject_id = _learner_id(client)
    before = written(settings)
    response = client.post("/credentials/issue", json=award_body(subject_id, achievement), headers=ADMIN)
    assert response.status_code == 400 and response.json()["error"] == "unknown_achievement", response.text
    assert "/v1/skills" in response.json()["detail"]
    assert written(settings) == before


def test_an_unknown_learner_is_400_and_writes_nothing(client: TestClient, settings: Settings) -> None:
    twin_did = f"did:example:{uuid.uuid4().hex}"
    for _ in range(2):
        new_learner(client, did=twin_did)
    with_did = new_learner(client, did=f"did:example:{uuid.uuid4().hex}")
    engine = create_engine(settings.sqlalchemy_url)
    with engine.connect() as connection:
        urn_of_did_holder = connection.execute(text("SELECT subject_urn FROM learners WHERE id = :id"),
                                               {"id": with_did["id"]}).scalar_one()
    engine.dispose()
    plain = new_learner(client)
    before = written(settings)
    for subject_id, says in (
        (f"urn:uuid:{uuid.uuid4()}", "names no learner"),
        (plain["id"], "names no learner"),  # the learner's id is not their subject id
        (twin_did, "More than one learner"),
        (urn_of_did_holder, "registered a DID"),
    ):
        response = client.post("/credentials/issue", json=award_body(subject_id), headers=ADMIN)
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "unknown_learner" and says in response.json()["detail"]
    assert written(settings) == before


@pytest.mark.parametrize("issuer", ["did:web:other-issuer.example", {"id": "did:web:other-issuer.example"},
                                    f"{PUBLIC_URL}"])
def test_another_issuer_is_400_and_writes_nothing(client: TestClient, settings: Settings, issuer: Any) -> None:
    subject_id = _learner_id(client)
    before = written(settings)
    response = client.post("/credentials/issue", json=award_body(subject_id, issuer=issuer), headers=ADMIN)
    assert response.status_code == 400 and response.json()["error"] == "issuer_mismatch", response.text
    assert issuer_did(client) in response.json()["detail"]
    assert written(settings) == before


def test_only_an_admin_may_issue(client: TestClient, settings: Settings) -> None:
    learner = new_learner(client)
    body = award_body(learner["subject_id"])
    before = written(settings)
    for headers, status, code in (
        ({}, 401, "unauthorized"),
        (bearer("sk_not-a-key"), 401, "unauthorized"),
        (learner["headers"], 403, "forbidden"),  # not even for themselves
    ):
        response = client.post("/credentials/issue", json=body, headers=headers)
        assert response.status_code == status and response.json()["error"] == code, response.text
        # Authentication comes before the body: a stranger learns nothing about what the body lacks.
        bad = client.post("/credentials/issue", content=b"nope",
                          headers={**headers, "Content-Type": "application/json"})
        assert bad.status_code == status, bad.text
    assert written(settings) == before
    assert client.get("/v1/learners/me/credentials", headers=learner["headers"]).json() == []
