"""The issued credential: its shape, its JWS, its status, and independent verification."""

from __future__ import annotations

import base64
import gzip
import json
import warnings
from typing import Any

from fastapi.testclient import TestClient
from joserfc import jws
from joserfc.errors import SecurityWarning
from joserfc.jwk import KeySet

from tests.factories import (
    ADMIN,
    correct_responses,
    earn_credential,
    keyed,
    new_assessment,
    new_learner,
    start,
    verify_response,
)

VC_V2 = "https://www.w3.org/ns/credentials/v2"


def _independent_verify(token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    """Verify with joserfc and only the published JWKS (it warns that RFC 9864 deprecates "EdDSA")."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        result = jws.deserialize_compact(token, KeySet.import_key_set(jwks), algorithms=["EdDSA", "ES256"])
    payload: dict[str, Any] = json.loads(result.payload)
    return payload


def test_credential_is_an_open_badge_with_evidence_and_status(client: TestClient) -> None:
    earned = earn_credential(client, skill="sql", level="intermediate", item_count=5)
    body = earned["credential"]
    vc = body["credential"]
    assert body["status"] == {"revoked": False, "suspended": False}
    assert vc["@context"][0] == VC_V2
    assert {"VerifiableCredential", "OpenBadgeCredential"} <= set(vc["type"])
    issuer_did = client.get("/.well-known/did.json").json()["id"]
    assert vc["issuer"]["id"] == issuer_did and "Profile" in vc["issuer"]["type"]
    assert vc["validFrom"].endswith("Z")
    subject = vc["credentialSubject"]
    assert "AchievementSubject" in subject["type"]
    assert subject["id"] == earned["learner"]["subject_id"].strip() and subject["id"].startswith("urn:uuid:")
    assert subject["achievement"]["criteria"]["narrative"]
    assert "sql" in subject["achievement"]["id"] and "intermediate" in subject["achievement"]["id"]
    assert subject["result"][0]["value"] == "100"
    evidence = vc["evidence"][0]
    assert evidence["assessmentId"] == earned["assessment"]["id"]
    assert evidence["contentHash"] == earned["assessment"]["content_hash"]
    assert evidence["attemptId"] == earned["attempt"]["id"]
    # One BitstringStatusListEntry object (OB 3.0 CredentialStatus 0..1): a 2-bit `message` status.
    entry = vc["credentialStatus"]
    assert isinstance(entry, dict)
    assert entry["type"] == "BitstringStatusListEntry" and entry["statusPurpose"] == "message"
    assert entry["statusListIndex"].isdigit() and entry["statusSize"] == 2
    assert entry["id"] == f"{entry['statusListCredential']}#{entry['statusListIndex']}"
    assert entry["statusMessage"] == [
        {"status": "0x0", "message": "valid"},
        {"status": "0x1", "message": "suspended"},
        {"status": "0x2", "message": "revoked"},
        {"status": "0x3", "message": "revoked"},
    ]


def test_subject_is_the_learners_did_when_given(client: TestClient) -> None:
    learner = new_learner(client, did="did:example:alice")
    assert learner["subject_id"] == "did:example:alice"


def test_jws_header_and_payload_follow_vc_jose_cose(client: TestClient) -> None:
    body = earn_credential(client)["credential"]
    header_b64, payload_b64, _ = body["jwt"].split(".")
    header = json.loads(base64.urlsafe_b64decode(header_b64 + "=" * (-len(header_b64) % 4)))
    payload = json.loads(base64.urlsafe_b64decode(payload_b64 + "=" * (-len(payload_b64) % 4)))
    assert header["typ"] == "vc+jwt" and header["cty"] == "vc" and header["alg"] == "ES256"  # the default
    assert set(header) == {"alg", "typ", "cty", "kid"}
    jwks = client.get("/.well-known/jwks.json").json()
    assert header["kid"] in {key["kid"] for key in jwks["keys"]}
    assert payload == body["credential"] and "vc" not in payload
    assert payload["iss"] == payload["issuer"]["id"]


def test_independent_library_verifies_with_only_the_jwks(client: TestClient) -> None:
    token = earn_credential(client)["credential"]["jwt"]
    payload = _independent_verify(token, client.get("/.well-known/jwks.json").json())
    assert payload["type"][0] == "VerifiableCredential"


def test_verify_endpoint_accepts_a_fresh_credential(client: TestClient) -> None:
    body = earn_credential(client)["credential"]
    result = verify_response(client, body["jwt"])
    assert result["verified"] is True and result["errors"] == []
    assert result["credential"] == body["credential"]
    assert {"signature", "status:revocation", "status:suspension"} <= set(result["checks"])


def test_revoke_suspend_reinstate_show_at_once(client: TestClient) -> None:
    body = earn_credential(client)["credential"]
    credential_id, token = body["id"], body["jwt"]
    suspended = client.post(f"/v1/credentials/{credential_id}/suspend", json={"reason": "review"}, headers=ADMIN)
    assert suspended.status_code == 200 and suspended.json()["status"] == {"revoked": False, "suspended": True}
    assert [e["code"] for e in verify_response(client, token)["errors"]] == ["suspended"]
    reinstated = client.post(f"/v1/credentials/{credential_id}/reinstate", headers=ADMIN)
    assert reinstated.json()["status"]["suspended"] is False
    assert verify_response(client, token)["verified"] is True
    revoked = client.post(f"/v1/credentials/{credential_id}/revoke", json={"reason": "cheating"}, headers=ADMIN)
    assert revoked.status_code == 200 and revoked.json()["status"]["revoked"] is True
    result = verify_response(client, token)
    assert result["verified"] is False and [e["code"] for e in result["errors"]] == ["revoked"]
    again = client.post(f"/v1/credentials/{credential_id}/reinstate", headers=ADMIN)
    assert again.status_code == 409 and again.json()["error"] == "credential_revoked"


def test_status_changes_need_an_admin(client: TestClient) -> None:
    earned = earn_credential(client)
    path = f"/v1/credentials/{earned['credential']['id']}/revoke"
    assert client.post(path).status_code == 401
    assert client.post(path, headers=earned["learner"]["headers"]).status_code == 403
    assert client.post("/v1/credentials/no-such-id/revoke", headers=ADMIN).status_code == 404


def _list_bits(client: TestClient, url: str) -> tuple[bytes, dict[str, Any], Any]:
    path = url.removeprefix("https://skillproof.test")
    response = client.get(path)
    assert response.status_code == 200
    token = response.text
    payload = _independent_verify(token, client.get("/.well-known/jwks.json").json())
    encoded = payload["credentialSubject"]["encodedList"]
    assert encoded.startswith("u")
    raw = base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4))
    return gzip.decompress(raw), payload, response


def _entry_value(client: TestClient, entry: dict[str, Any]) -> int:
    """The entry's statusSize bits at statusListIndex * statusSize, most significant first, from the list."""
    bits, payload, _ = _list_bits(client, entry["statusListCredential"])
    assert payload["credentialSubject"]["statusPurpose"] == entry["statusPurpose"]
    size, index = entry.get("statusSize", 1), int(entry["statusListIndex"])
    value = 0
    for position in range(index * size, index * size + size):
        value = value << 1 | bits[position // 8] >> (7 - position % 8) & 1
    return value


def test_status_list_is_signed_cacheable_and_reflects_every_change(client: TestClient) -> None:
    body = earn_credential(client)["credential"]
    entry = body["credential"]["credentialStatus"]
    bits, payload, response = _list_bits(client, entry["statusListCredential"])
    assert response.headers["content-type"].startswith("application/vc+jwt")
    ttl_ms = payload["credentialSubject"]["ttl"]
    assert response.headers["cache-control"] == f"public, max-age={ttl_ms // 1000}"
    assert "BitstringStatusListCredential" in payload["type"]
    subject = payload["credentialSubject"]
    assert subject["type"] == "BitstringStatusList" and subject["statusPurpose"] == "message"
    # statusSize/statusMessage live in the entry (§2.1); the list context defines neither for the list.
    assert set(subject) == {"id", "type", "statusPurpose", "encodedList", "ttl"}
    # §3.2 step 9: at least 131,072 entries of statusSize bits.
    assert len(bits) * 8 >= 131072 * 2
    assert _entry_value(client, entry) == 0
    credential_id = body["id"]
    client.post(f"/v1/credentials/{credential_id}/suspend", headers=ADMIN)
    assert _entry_value(client, entry) == 1
    client.post(f"/v1/credentials/{credential_id}/reinstate", headers=ADMIN)
    assert _entry_value(client, entry) == 0
    client.post(f"/v1/credentials/{credential_id}/revoke", headers=ADMIN)
    assert _entry_value(client, entry) == 2
    assert client.get("/v1/status-lists/no-such-list").status_code == 404


def test_revoked_while_suspended_is_value_3_and_final(client: TestClient) -> None:
    body = earn_credential(client)["credential"]
    credential_id, token, entry = body["id"], body["jwt"], body["credential"]["credentialStatus"]
    path = f"/v1/credentials/{credential_id}"
    assert client.post(f"{path}/reinstate", headers=ADMIN).json()["error"] == "not_suspended"
    assert client.post(f"{path}/suspend", headers=ADMIN).status_code == 200
    again = client.post(f"{path}/suspend", headers=ADMIN)
    assert again.status_code == 409 and again.json()["error"] == "already_suspended"
    revoked = client.post(f"{path}/revoke", json={"reason": "fraud"}, headers=ADMIN)
    assert revoked.status_code == 200 and revoked.json()["status"] == {"revoked": True, "suspended": True}
    assert _entry_value(client, entry) == 3
    result = verify_response(client, token)
    assert result["verified"] is False and [e["code"] for e in result["errors"]] == ["revoked", "suspended"]
    assert not {"status:revocation", "status:suspension"} & set(result["checks"])
    for action, code in (("reinstate", "credential_revoked"), ("suspend", "credential_revoked"),
                         ("revoke", "already_revoked")):
        refused = client.post(f"{path}/{action}", headers=ADMIN)
        assert refused.status_code == 409 and refused.json()["error"] == code, action
    assert _entry_value(client, entry) == 3
    assert client.get(path, headers=ADMIN).json()["status"] == {"revoked": True, "suspended": True}


def test_suspended_verifies_as_not_revoked(client: TestClient) -> None:
    body = earn_credential(client)["credential"]
    client.post(f"/v1/credentials/{body['id']}/suspend", headers=ADMIN)
    result = verify_response(client, body["jwt"])
    assert [e["code"] for e in result["errors"]] == ["suspended"]
    assert "status:revocation" in result["checks"] and "status:suspension" not in result["checks"]


def test_a_legacy_two_entry_credential_still_verifies_suspends_and_revokes(
    client: TestClient, monkeypatch: Any
) -> None:
    """Credentials issued before one-entry status hold a revocation and a suspension entry, each one bit."""
    from app.status_lists import service as status_lists

    # The issuance path as it was: one entry in a revocation list and one in a suspension list.
    monkeypatch.setattr(status_lists, "PURPOSES", status_lists.LEGACY_PURPOSES)
    body = earn_credential(client, legacy_status=True)["credential"]
    monkeypatch.undo()
    entries = body["credential"]["credentialStatus"]
    assert [entry["statusPurpose"] for entry in entries] == ["revocation", "suspension"]
    assert all("statusSize" not in entry for entry in entries)
    revocation, suspension = entries
    credential_id, token = body["id"], body["jwt"]
    assert verify_response(client, token)["verified"] is True
    assert {"status:revocation", "status:suspension"} <= set(verify_response(client, token)["checks"])

    client.post(f"/v1/credentials/{credential_id}/suspend", headers=ADMIN)
    assert (_entry_value(client, revocation), _entry_value(client, suspension)) == (0, 1)
    assert [e["code"] for e in verify_response(client, token)["errors"]] == ["suspended"]
    client.post(f"/v1/credentials/{credential_id}/reinstate", headers=ADMIN)
    assert verify_response(client, token)["verified"] is True
    # A new credential now gets a message entry, while the legacy one keeps its lists.
    assert isinstance(earn_credential(client, item_count=2)["credential"]["credential"]["credentialStatus"], dict)
    revoked = client.post(f"/v1/credentials/{credential_id}/revoke", headers=ADMIN)
    assert revoked.json()["status"] == {"revoked": True, "suspended": False}
    assert (_entry_value(client, revocation), _entry_value(client, suspension)) == (1, 0)
    assert [e["code"] for e in verify_response(client, token)["errors"]] == ["revoked"]
    refused = client.post(f"/v1/credentials/{credential_id}/suspend", headers=ADMIN)
    assert refused.status_code == 409 and refused.json()["error"] == "credential_revoked"


def test_status_indexes_are_random_and_unique(client: TestClient) -> None:
    indexes = []
    for _ in range(6):
        vc = earn_credential(client, item_count=2)["credential"]["credential"]
        indexes.append(int(vc["credentialStatus"]["statusListIndex"]))
    assert len(set(indexes)) == len(indexes)
    assert indexes != sorted(indexes) or max(indexes) > 1000


def test_rotated_key_keeps_old_credentials_verifying(client: TestClient) -> None:
    old = earn_credential(client)["credential"]["jwt"]
    keystore = client.app.state.keystore  # type: ignore[attr-defined]
    old_kid = keystore.active().kid
    new_kid = keystore.rotate().kid
    assert new_kid != old_kid
    kids = {key["kid"] for key in client.get("/.well-known/jwks.json").json()["keys"]}
    assert {old_kid, new_kid} <= kids
    methods = client.get("/.well-known/did.json").json()["verificationMethod"]
    assert {m["id"].split("#")[1] for m in methods} >= {old_kid, new_kid}
    new = earn_credential(client)["credential"]["jwt"]
    assert verify_response(client, old)["verified"] is True
    assert verify_response(client, new)["verified"] is True
    header = json.loads(base64.urlsafe_b64decode(new.split(".")[0] + "=="))
    assert header["kid"] == f"{client.get('/.well-known/did.json').json()['id']}#{new_kid}"


def test_a_full_status_list_makes_way_for_a_new_one(client: TestClient, settings: Any) -> None:
    from sqlalchemy import create_engine, update
    from sqlalchemy.orm import Session

    from app.status_lists.models import StatusList

    engine = create_engine(settings.sqlalchemy_url)
    with Session(engine) as session:  # every existing list is declared full
        session.execute(update(StatusList).values(capacity=StatusList.allocated))
        session.commit()
        before = {row.id for row in session.query(StatusList.id)}
    vc = earn_credential(client, item_count=2)["credential"]["credential"]
    with Session(engine) as session:
        after = {row.id for row in session.query(StatusList.id)}
        new_lists = session.query(StatusList).filter(StatusList.id.in_(after - before)).all()
    engine.dispose()
    assert [(status_list.purpose, status_list.status_size) for status_list in new_lists] == [("message", 2)]
    assert {vc["credentialStatus"]["statusListCredential"].rsplit("/", 1)[1]} == after - before
    assert all(status_list.length == 131072 and status_list.allocated == 1 for status_list in new_lists)


def test_the_achievement_id_resolves(client: TestClient) -> None:
    vc = earn_credential(client, skill="git", level="foundation", item_count=2)["credential"]["credential"]
    achievement = vc["credentialSubject"]["achievement"]
    public = client.get(achievement["id"].removeprefix("https://skillproof.test"))
    assert public.status_code == 200
    body = public.json()
    assert body["id"] == achievement["id"] and body["type"] == ["Achievement"] and body["name"] == achievement["name"]
    assert client.get("/v1/achievements/git/wizard").status_code == 404


def test_the_credential_says_what_the_pass_rests_on(client: TestClient) -> None:
    """Items presented and answered, attempt number, time limit, supervision and item source, as data and words."""
    learner = new_learner(client)
    assessment = new_assessment(client, skill="sql", item_count=5, pass_percent=60, time_limit_seconds=900)
    attempt = start(client, assessment, learner)
    responses = correct_responses(keyed(client, attempt))[:4]  # one item left unanswered: 80% still passes
    grade = client.post(f"/v1/attempts/{attempt['id']}/submit", json={"responses": responses},
                        headers=learner["headers"]).json()
    assert grade["passed"] is True
    document = client.get(f"/v1/credentials/{grade['credential_id']}", headers=learner["headers"]).json()
    evidence = document["credential"]["evidence"][0]
    assert (evidence["itemsPresented"], evidence["itemsAnswered"]) == (5, 4)
    assert evidence["attemptNumber"] == 1 and evidence["timeLimitSeconds"] == 900
    assert evidence["proctoring"] == "unproctored" and evidence["itemSource"] == "demo-bank"
    narrative = evidence["narrative"]
    assert "4 of 5 items answered" in narrative and "15 minutes" in narrative and "unproctored" in narrative
    assert "demo bank (public)" in narrative
    # The signed forms say the same: the JWS payload and the Data Integrity form.
    payload = json.loads(base64.urlsafe_b64decode(document["jwt"].split(".")[1] + "=="))
    assert payload["evidence"][0]["itemsAnswered"] == 4
    assert document["ldp"]["evidence"][0]["proctoring"] == "unproctored"
