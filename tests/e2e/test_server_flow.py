"""The whole flow against a real `skillproof serve` process over real HTTP."""

from __future__ import annotations

import base64
import gzip
import json
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jws
from joserfc.errors import SecurityWarning
from joserfc.jwk import KeySet

from app.config import PROJECT_ROOT
from tests.conformance import assert_issued
from tests.llm_server import FakeLlmServer, FakeModel, script_every_type
from tests.servers import free_port, wait_until_healthy

ADMIN_KEY = "e2e-admin-key-0123456789abcdef"
SKILLPROOF = str(Path(sys.executable).parent / "skillproof")


@contextmanager
def running_server(workdir: Path, extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """A real `skillproof serve` process on SQLite in `workdir`; yields its base URL."""
    port = free_port()
    env = {
        **os.environ,
        "SKILLPROOF_DATABASE_URL": f"sqlite:///{workdir / 'skillproof.db'}",
        "SKILLPROOF_KEYS_DIR": str(workdir / "keys"),
        "SKILLPROOF_ADMIN_API_KEY": ADMIN_KEY,
        "SKILLPROOF_PRECISION_GATE": "off",  # small assessments; tests/test_precision.py runs the gate
        **(extra_env or {}),
    }
    env.pop("SKILLPROOF_PUBLIC_URL", None)
    log = (workdir / "server.log").open("w")
    process = subprocess.Popen(
        [SKILLPROOF, "serve", "--port", str(port)], env=env, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        if not wait_until_healthy(base_url, process, seconds=30):
            raise RuntimeError((workdir / "server.log").read_text())
        keys = list((workdir / "keys").glob("*.pem"))
        assert keys and all(oct(k.stat().st_mode & 0o777) == "0o600" for k in keys)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def earn_credential_over_http(server: str, skill: str = "git", level: str = "foundation") -> dict[str, Any]:
    """A new learner passes a new assessment: the GET /v1/credentials/{id} JSON and the learner's key."""
    with httpx.Client(base_url=server, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30) as admin:
        learner = admin.post("/v1/learners", json={"name": "Ada"}).json()
        draft = admin.post("/v1/assessments", json={"skill": skill, "level": level, "item_count": 5}).json()
        assessment = admin.post(f"/v1/assessments/{draft['id']}/publish").json()
        me = {"Authorization": f"Bearer {learner['api_key']}"}
        attempt = httpx.post(f"{server}/v1/assessments/{assessment['id']}/attempts", headers=me).json()
        keyed = admin.get(f"/v1/attempts/{attempt['id']}").json()  # the admin view maps the attempt's own ids
        responses = [{"item_id": item["id"], "answer": item["answer"]} for item in keyed["items"]]
        grade = httpx.post(f"{server}/v1/attempts/{attempt['id']}/submit", json={"responses": responses},
                           headers=me, timeout=30).json()
        credential: dict[str, Any] = httpx.get(f"{server}/v1/credentials/{grade['credential_id']}", headers=me).json()
    assert_issued(credential)
    return {"credential": credential, "learner_key": learner["api_key"]}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_server(tmp_path_factory.mktemp("server")) as base_url:
        yield base_url


def _independent_check(base_url: str, token: str) -> dict[str, Any]:
    """What a platform does with no help from us but the public documents: JWKS and the status list."""
    key_set = KeySet.import_key_set(httpx.get(f"{base_url}/.well-known/jwks.json").json())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)  # RFC 9864 deprecates the name "EdDSA"
        credential = json.loads(jws.deserialize_compact(token, key_set, algorithms=["EdDSA", "ES256"]).payload)
        # One `message` entry of statusSize 2: its value's bit 2 is revocation, bit 1 suspension.
        entry = credential["credentialStatus"]
        url = entry["statusListCredential"].replace("http://localhost:", "http://127.0.0.1:")
        list_token = httpx.get(url).text
        listing = json.loads(jws.deserialize_compact(list_token, key_set, algorithms=["EdDSA", "ES256"]).payload)
        assert listing["credentialSubject"]["statusPurpose"] == entry["statusPurpose"] == "message"
        encoded = listing["credentialSubject"]["encodedList"][1:]
        bits = gzip.decompress(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
        size, index = entry["statusSize"], int(entry["statusListIndex"])
        value = 0
        for position in range(index * size, index * size + size):
            value = value << 1 | bits[position // 8] >> (7 - position % 8) & 1
        message = entry["statusMessage"][value]["message"]
        status = {"revocation": message == "revoked", "suspension": message == "suspended"}
    return {"credential": credential, "status": status}


def test_whole_flow_over_real_http(server: str) -> None:
    with httpx.Client(base_url=server, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as admin:
        learner = admin.post("/v1/learners", json={"name": "Grace", "did": "did:example:grace"}).json()
        with httpx.Client(base_url=server, headers={"Authorization": f"Bearer {learner['api_key']}"}) as me:
            _flow(server, admin, me)


def _flow(server: str, admin: httpx.Client, me: httpx.Client) -> None:
    draft = admin.post("/v1/assessments", json={"skill": "git", "level": "intermediate", "item_count": 6}).json()
    assessment = admin.post(f"/v1/assessments/{draft['id']}/publish").json()
    attempt = me.post(f"/v1/assessments/{assessment['id']}/attempts").json()
    keyed = admin.get(f"/v1/attempts/{attempt['id']}").json()  # the keys under the attempt's own item ids
    responses = [{"item_id": item["id"], "answer": item["answer"]} for item in keyed["items"]]
    grade = me.post(f"/v1/attempts/{attempt['id']}/submit", json={"responses": responses},
                    headers={"Idempotency-Key": "e2e-1"}).json()
    assert grade["passed"] is True
    body = me.get(f"/v1/credentials/{grade['credential_id']}").json()
    token = body["jwt"]

    checked = _independent_check(server, token)
    assert checked["credential"]["credentialSubject"]["id"] == "did:example:grace"
    assert checked["status"] == {"revocation": False, "suspension": False}
    verdict = httpx.post(f"{server}/v1/credentials/verify", json={"verifiableCredential": token}).json()
    assert verdict["verified"] is True

    assert admin.post(f"/v1/credentials/{body['id']}/revoke", json={"reason": "e2e"}).status_code == 200
    verdict = httpx.post(f"{server}/v1/credentials/verify", json={"verifiableCredential": token}).json()
    assert verdict["verified"] is False and [e["code"] for e in verdict["errors"]] == ["revoked"]
    assert _independent_check(server, token)["status"]["revocation"] is True


def test_demo_command_runs_the_flow(server: str) -> None:
    result = subprocess.run(
        [SKILLPROOF, "demo", "--url", server, "--admin-key", ADMIN_KEY],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"verified": true' in result.stdout and '"code": "revoked"' in result.stdout


def test_verify_cli_against_the_server(server: str, tmp_path: Path) -> None:
    result = subprocess.run([SKILLPROOF, "verify", "not.a.credential", "--url", server],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1 and '"malformed"' in result.stdout


def test_llm_generation_with_three_variables(tmp_path: Path) -> None:
    """A newcomer points three variables at an OpenAI-compatible endpoint and gets a validated draft."""
    model = FakeModel()
    script_every_type(model)
    with FakeLlmServer(handler=model) as llm:
        settings = {"SKILLPROOF_GENERATOR": "llm", "SKILLPROOF_LLM_BASE_URL": llm.base_url,
                    "SKILLPROOF_LLM_MODEL": "fake-model"}
        with running_server(tmp_path, settings) as base_url, httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}
        ) as admin:
            types = ["single_choice", "multiple_response", "numeric", "short_text", "ordering", "matching"]
            accepted = admin.post("/v1/assessments", json={
                "skill": "python", "level": "foundation", "item_count": 6, "item_types": types,
            })
            assert accepted.status_code == 202, accepted.text
            deadline = time.monotonic() + 30
            while (job := admin.get(f"/v1/jobs/{accepted.json()['job_id']}").json())["status"] in (
                "queued", "running"
            ) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert job["status"] == "succeeded", job
            publish = f"/v1/assessments/{job['assessment_id']}/publish"
            assert admin.post(publish).json()["error"] == "review_required"  # a person reviews LLM items first
            checklist = admin.get(f"/v1/assessments/{job['assessment_id']}/reviews").json()["checklist"]
            reviewed = admin.post(f"/v1/assessments/{job['assessment_id']}/reviews", json={
                "decision": "approved", "checklist": dict.fromkeys(checklist, True),
            })
            assert reviewed.status_code == 201, reviewed.text
            published = admin.post(publish)
            assert published.status_code == 200 and published.json()["generator"] == "llm"
