"""API keys (list, create with expiry, revoke, learner rotation) and the audit log of admin actions."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from app.auth.service import hash_key
from app.config import Settings
from app.deps import get_clock
from app.main import create_app
from tests.conftest import ADMIN_KEY, PUBLIC_URL, alembic_config
from tests.factories import ADMIN, bearer, earn_credential, new_assessment, new_learner


def _events(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/v1/audit-events", params={"limit": 1000, **params}, headers=ADMIN)
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["events"]
    return events


def _last_seq(client: TestClient) -> int:
    seq = 0
    while True:
        page = client.get("/v1/audit-events", params={"after": seq, "limit": 1000}, headers=ADMIN).json()
        if not page["events"]:
            return seq
        seq = page["events"][-1]["seq"]


def test_admin_creates_lists_and_revokes_keys_and_never_sees_a_hash(client: TestClient) -> None:
    created = client.post("/v1/api-keys", json={"label": "ops robot", "reason": "nightly job"}, headers=ADMIN)
    assert created.status_code == 201, created.text
    key = created.json()
    assert key["role"] == "admin" and key["label"] == "ops robot" and key["api_key"].startswith("sk_")
    assert client.get("/v1/skills", headers=bearer(key["api_key"])).status_code == 200

    listed = client.get("/v1/api-keys", params={"limit": 1000}, headers=ADMIN)
    assert listed.status_code == 200
    mine = [row for row in listed.json() if row["id"] == key["id"]]
    assert len(mine) == 1 and "api_key" not in mine[0] and "key_hash" not in mine[0]
    assert key["api_key"] not in listed.text

    revoked = client.post(f"/v1/api-keys/{key['id']}/revoke", json={"reason": "leaked in a log"}, headers=ADMIN)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    refused = client.get("/v1/skills", headers=bearer(key["api_key"]))
    assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"
    again = client.post(f"/v1/api-keys/{key['id']}/revoke", headers=ADMIN)
    assert again.status_code == 409 and again.json()["error"] == "already_revoked"
    assert key["id"] not in {row["id"] for row in client.get("/v1/api-keys", headers=ADMIN).json()}
    with_revoked = client.get("/v1/api-keys", params={"include_revoked": True, "limit": 1000}, headers=ADMIN)
    assert key["id"] in {row["id"] for row in with_revoked.json()}


def test_an_expired_key_is_refused_from_its_expiry_on(client: TestClient) -> None:
    now = dt.datetime.now(dt.UTC)
    expiry = now + dt.timedelta(hours=1)
    created = client.post("/v1/api-keys", json={"label": "contractor", "expires_at": expiry.isoformat()}, headers=ADMIN)
    assert created.status_code == 201, created.text
    headers = bearer(created.json()["api_key"])
    assert client.get("/v1/skills", headers=headers).status_code == 200
    client.app.dependency_overrides[get_clock] = lambda: expiry + dt.timedelta(seconds=1)  # type: ignore[attr-defined]
    try:
        response = client.get("/v1/skills", headers=headers)
        assert response.status_code == 401 and "expired" in response.json()["detail"]
        assert client.get("/v1/skills", headers=ADMIN).status_code == 200
    finally:
        client.app.dependency_overrides.clear()  # type: ignore[attr-defined]


def test_an_admin_gives_an_existing_key_an_expiry(client: TestClient) -> None:
    learner = new_learner(client)
    key_id = client.get("/v1/api-keys", params={"learner_id": learner["id"]}, headers=ADMIN).json()[0]["id"]
    expiry = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    for body in ({"expires_at": "2020-01-01T00:00:00Z"}, {"expires_at": "2099-01-01T00:00:00"}, {}):
        assert client.patch(f"/v1/api-keys/{key_id}", json=body, headers=ADMIN).status_code == 422, body
    response = client.patch(f"/v1/api-keys/{key_id}", json={"expires_at": expiry.isoformat(), "reason": "term ends"},
                            headers=ADMIN)
    assert response.status_code == 200, response.text
    assert dt.datetime.fromisoformat(response.json()["expires_at"]) == expiry
    assert client.get("/v1/learners/me", headers=learner["headers"]).status_code == 200
    client.app.dependency_overrides[get_clock] = lambda: expiry  # type: ignore[attr-defined]
    try:
        assert client.get("/v1/learners/me", headers=learner["headers"]).status_code == 401
        late = client.patch(f"/v1/api-keys/{key_id}", json={"expires_at": None}, headers=ADMIN)
        assert late.status_code == 409 and late.json()["error"] == "key_not_usable"
    finally:
        client.app.dependency_overrides.clear()  # type: ignore[attr-defined]
    assert _events(client, target_id=key_id)[-1]["reason"] == "term ends"
    assert client.patch("/v1/api-keys/nope", json={"expires_at": None}, headers=ADMIN).status_code == 404


def test_key_bodies_are_validated_and_change_nothing(client: TestClient) -> None:
    before = len(client.get("/v1/api-keys", params={"limit": 1000}, headers=ADMIN).json())
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).isoformat()
    for body, status in (
        ({}, 422),
        ({"label": ""}, 422),
        ({"label": "x", "expires_at": past}, 422),
        ({"label": "x", "expires_at": "2099-01-01T00:00:00"}, 422),  # no timezone
        ({"label": "x", "role": "learner"}, 422),  # no learner_id
        ({"label": "x", "role": "learner", "learner_id": "00000000-0000-0000-0000-000000000000"}, 404),
        ({"label": "x", "role": "root"}, 422),
        ({"label": "x\u0000y"}, 422),
        ({"label": "x", "unexpected": 1}, 422),
    ):
        response = client.post("/v1/api-keys", json=body, headers=ADMIN)
        assert response.status_code == status, (body, response.text)
        assert set(response.json()) == {"error", "detail"}
    assert len(client.get("/v1/api-keys", params={"limit": 1000}, headers=ADMIN).json()) == before
    assert client.post("/v1/api-keys/nope/revoke", headers=ADMIN).status_code == 404


def test_learners_cannot_manage_keys_or_read_the_audit_log(client: TestClient) -> None:
    learner = new_learner(client)
    assert client.get("/v1/api-keys", headers=learner["headers"]).status_code == 403
    assert client.post("/v1/api-keys", json={"label": "x"}, headers=learner["headers"]).status_code == 403
    assert client.get("/v1/audit-events", headers=learner["headers"]).status_code == 403
    assert client.get("/v1/audit-events").status_code == 401


def test_a_learner_rotates_their_key_and_the_old_one_stops_at_once(client: TestClient) -> None:
    learner = new_learner(client)
    rotated = client.post("/v1/learners/me/api-key", headers=learner["headers"])
    assert rotated.status_code == 201, rotated.text
    new_key = rotated.json()["api_key"]
    assert new_key != learner["api_key"] and rotated.json()["learner_id"] == learner["id"]
    assert client.get("/v1/learners/me", headers=learner["headers"]).status_code == 401
    me = client.get("/v1/learners/me", headers=bearer(new_key))
    assert me.status_code == 200 and me.json()["id"] == learner["id"]
    assert client.post("/v1/learners/me/api-key", headers=ADMIN).status_code == 403


def test_an_admin_gives_a_learner_an_expiring_extra_key(client: TestClient) -> None:
    learner = new_learner(client)
    expiry = (dt.datetime.now(dt.UTC) + dt.timedelta(days=7)).isoformat()
    body = {"label": "exam day", "role": "learner", "learner_id": learner["id"], "expires_at": expiry}
    created = client.post("/v1/api-keys", json=body, headers=ADMIN)
    assert created.status_code == 201, created.text
    me = client.get("/v1/learners/me", headers=bearer(created.json()["api_key"]))
    assert me.status_code == 200 and me.json()["id"] == learner["id"]
    keys = client.get("/v1/api-keys", params={"learner_id": learner["id"]}, headers=ADMIN).json()
    assert len(keys) == 2 and {key["role"] for key in keys} == {"learner"}


def test_every_admin_action_is_in_the_audit_log_with_who_what_when_why(client: TestClient) -> None:
    start = _last_seq(client)
    learner = new_learner(client)
    draft = new_assessment(client, publish=False)
    item_id = draft["items"][0]["id"]
    edit = client.patch(f"/v1/assessments/{draft['id']}/items/{item_id}", json={"points": 2},
                        headers={**ADMIN, "X-Audit-Reason": "weight the first item double"})
    assert edit.status_code == 200, edit.text
    assert client.post(f"/v1/assessments/{draft['id']}/publish", headers=ADMIN).status_code == 200
    earned = earn_credential(client)
    credential_id = earned["credential"]["id"]
    for action in ("suspend", "reinstate", "revoke"):
        response = client.post(f"/v1/credentials/{credential_id}/{action}", json={"reason": f"test {action}"},
                               headers=ADMIN)
        assert response.status_code == 200, response.text
    key = client.post("/v1/api-keys", json={"label": "auditor"}, headers=ADMIN).json()
    client.post(f"/v1/api-keys/{key['id']}/revoke", json={"reason": "done"}, headers=ADMIN)

    events = _events(client, after=start)
    seen = [(event["action"], event["target_id"]) for event in events]
    for expected in (
        ("learner.create", learner["id"]),
        ("assessment.create", draft["id"]),
        ("assessment.item_edit", draft["id"]),
        ("assessment.publish", draft["id"]),
        ("credential.suspend", credential_id),
        ("credential.reinstate", credential_id),
        ("credential.revoke", credential_id),
        ("api_key.create", key["id"]),
        ("api_key.revoke", key["id"]),
    ):
        assert expected in seen, expected
    by_action = {event["action"]: event for event in events}
    assert by_action["credential.revoke"]["reason"] == "test revoke"
    assert by_action["api_key.revoke"]["reason"] == "done"
    assert by_action["assessment.item_edit"]["reason"] == "weight the first item double"
    assert by_action["assessment.item_edit"]["details"]["item_id"] == item_id
    assert by_action["learner.create"]["actor_label"] == "SKILLPROOF_ADMIN_API_KEY"
    assert by_action["learner.create"]["actor_key_id"] and by_action["learner.create"]["actor_role"] == "admin"
    assert [event["seq"] for event in events] == sorted(event["seq"] for event in events)
    # Never a secret: neither the new keys nor the learner's key nor the admin key appear.
    text = json.dumps(events)
    for secret in (key["api_key"], learner["api_key"], "test-admin-key"):
        assert secret not in text


def test_a_refused_action_leaves_no_audit_record(client: TestClient) -> None:
    earned = earn_credential(client)
    credential_id = earned["credential"]["id"]
    assert client.post(f"/v1/credentials/{credential_id}/revoke", headers=ADMIN).status_code == 200
    start = _last_seq(client)
    refused = client.post(f"/v1/credentials/{credential_id}/suspend", json={"reason": "x"}, headers=ADMIN)
    assert refused.status_code == 409
    assert _events(client, after=start) == []


def test_audit_log_pages_and_filters(client: TestClient) -> None:
    start = _last_seq(client)
    learners = [new_learner(client) for _ in range(3)]
    first = client.get("/v1/audit-events", params={"after": start, "limit": 2}, headers=ADMIN).json()
    assert len(first["events"]) == 2 and first["next_after"] == first["events"][-1]["seq"]
    rest = client.get("/v1/audit-events", params={"after": first["next_after"], "limit": 2}, headers=ADMIN).json()
    assert [e["target_id"] for e in first["events"] + rest["events"]] == [learner["id"] for learner in learners]
    only = _events(client, target_id=learners[1]["id"])
    assert [event["action"] for event in only] == ["learner.create"]
    for params in ({"limit": 0}, {"limit": 1001}, {"after": -1}, {"action": "DROP TABLE"}):
        response = client.get("/v1/audit-events", params=params, headers=ADMIN)
        assert response.status_code == 422 and response.json()["error"] == "validation_error", params
    bad_reason = client.post("/v1/learners", json={"name": "x"}, headers={**ADMIN, "X-Audit-Reason": "a%00b"})
    assert bad_reason.status_code == 422


def test_keys_made_before_the_upgrade_keep_working(tmp_path: Path, keys_dir: Path) -> None:
    """The migration drops the clear prefix; keys (the configured admin key too) still authenticate."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    config = alembic_config(url)
    command.upgrade(config, "0002_pools_jobs")
    learner_key = "sk_" + "L" * 43
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO learners (id, name, subject_urn, created_at) VALUES ('l1', 'Old', 'urn:uuid:1', :now)"
        ), {"now": dt.datetime(2026, 1, 1)})
        for key_id, raw, role, learner in (("k1", ADMIN_KEY, "admin", None), ("k2", learner_key, "learner", "l1")):
            connection.execute(text(
                "INSERT INTO api_keys (id, key_hash, prefix, role, label, learner_id, created_at) "
                "VALUES (:id, :hash, :prefix, :role, 'old', :learner, :now)"
            ), {"id": key_id, "hash": hash_key(raw), "prefix": raw[:8], "role": role, "learner": learner,
                "now": dt.datetime(2026, 1, 1)})
    command.upgrade(config, "head")
    with engine.connect() as connection:
        columns = {row[1] for row in connection.execute(text("PRAGMA table_info(api_keys)"))}
    engine.dispose()
    assert "prefix" not in columns
    settings = Settings(database_url=url, keys_dir=keys_dir, public_url=PUBLIC_URL, admin_api_key=ADMIN_KEY)
    with TestClient(create_app(settings), base_url=PUBLIC_URL) as client:
        assert client.get("/v1/skills", headers=ADMIN).status_code == 200
        me = client.get("/v1/learners/me", headers=bearer(learner_key))
        assert me.status_code == 200 and me.json()["id"] == "l1"
        keys = client.get("/v1/api-keys", headers=ADMIN).json()
        assert sorted(key["id"] for key in keys) == ["k1", "k2"]  # the configured admin key was not added twice
