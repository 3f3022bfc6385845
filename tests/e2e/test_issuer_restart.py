"""A real server restarted on another port keeps its issuer identity (issue 6)."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.e2e.test_server_flow import ADMIN_KEY, running_server


def _earn_credential(server: str) -> str:
    with httpx.Client(base_url=server, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as admin:
        learner = admin.post("/v1/learners", json={"name": "Ada"}).json()
        draft = admin.post("/v1/assessments", json={"skill": "git", "level": "intermediate", "item_count": 6}).json()
        assessment = admin.post(f"/v1/assessments/{draft['id']}/publish").json()
    with httpx.Client(base_url=server, headers={"Authorization": f"Bearer {learner['api_key']}"}) as me:
        attempt = me.post(f"/v1/assessments/{assessment['id']}/attempts").json()
        responses = [{"item_id": item["id"], "answer": item["answer"]} for item in assessment["items"]]
        grade = me.post(f"/v1/attempts/{attempt['id']}/submit", json={"responses": responses}).json()
        token: str = me.get(f"/v1/credentials/{grade['credential_id']}").json()["jwt"]
    return token


def test_a_restart_on_another_port_keeps_the_did_and_earlier_credentials_verify(tmp_path: Path) -> None:
    with running_server(tmp_path) as first:
        token = _earn_credential(first)
        did = httpx.get(f"{first}/.well-known/did.json").json()["id"]
        assert did == "did:web:localhost%3A" + first.rsplit(":", 1)[1]
    with running_server(tmp_path) as second:
        assert second.rsplit(":", 1)[1] != first.rsplit(":", 1)[1]
        assert httpx.get(f"{second}/.well-known/did.json").json()["id"] == did
        verdict = httpx.post(f"{second}/v1/credentials/verify", json={"verifiableCredential": token}).json()
        assert verdict["verified"] is True, verdict["errors"]
