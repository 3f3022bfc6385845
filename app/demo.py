"""`skillproof demo`: the whole flow against a running service, printed step by step."""

from __future__ import annotations

import json
from typing import Any

import httpx


def _show(title: str, payload: Any) -> None:
    print(f"\n== {title}")
    print(json.dumps(payload, indent=2) if not isinstance(payload, str) else payload)


def _check(response: httpx.Response, expected: int) -> Any:
    if response.status_code != expected:
        raise SystemExit(f"{response.request.method} {response.request.url} -> {response.status_code}: {response.text}")
    return response.json()


def run_demo(base_url: str, admin_key: str) -> int:
    """Learner, assessment, a perfect attempt, the credential, verify, revoke, verify again."""
    admin = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {admin_key}"}, timeout=30)
    learner = _check(admin.post("/v1/learners", json={"name": "Demo Learner"}), 201)
    _show("1. learner created (API key shown once)", {"id": learner["id"], "api_key": learner["api_key"]})
    skills = _check(admin.get("/v1/skills"), 200)
    skill = skills[0]
    draft = _check(
        # 25 items: enough for the precision rule at a 70% pass mark (a 5-item draft would be refused).
        admin.post("/v1/assessments", json={"skill": skill["id"], "level": skill["levels"][0], "item_count": 25,
                                            "seed": 7}),
        201,
    )
    published = _check(admin.post(f"/v1/assessments/{draft['id']}/publish"), 200)
    _show("2. assessment published", {k: published[k] for k in ("id", "title", "status", "content_hash")})

    me = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {learner['api_key']}"}, timeout=30)
    attempt = _check(me.post(f"/v1/assessments/{published['id']}/attempts"), 201)
    _show("3. attempt started", {"id": attempt["id"], "expires_at": attempt["expires_at"],
                                 "first item": attempt["items"][0]})
    # The attempt's item ids are its own: the admin view of the attempt holds the keys under them.
    keyed = _check(admin.get(f"/v1/attempts/{attempt['id']}"), 200)
    responses = [{"item_id": item["id"], "answer": item["answer"]} for item in keyed["items"]]
    grade = _check(me.post(f"/v1/attempts/{attempt['id']}/submit", json={"responses": responses}), 200)
    _show("4. graded", {k: grade[k] for k in ("score", "max_score", "percent", "passed", "credential_id")})
    credential = _check(me.get(f"/v1/credentials/{grade['credential_id']}"), 200)
    _show("5. the credential (Open Badges 3.0, secured as vc+jwt)", credential["credential"])
    _show("   its compact JWS", credential["jwt"])
    verdict = _check(httpx.post(f"{base_url}/v1/credentials/verify",
                                json={"verifiableCredential": credential["jwt"]}), 200)
    _show("6. verified by anyone", {k: verdict[k] for k in ("verified", "checks", "errors")})
    _check(admin.post(f"/v1/credentials/{credential['id']}/revoke", json={"reason": "demo"}), 200)
    verdict = _check(httpx.post(f"{base_url}/v1/credentials/verify",
                                json={"verifiableCredential": credential["jwt"]}), 200)
    _show("7. after revocation", {k: verdict[k] for k in ("verified", "errors")})
    return 0 if not verdict["verified"] else 1
