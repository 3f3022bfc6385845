"""Digital Bazaar's `@digitalbazaar/vc` verifies the `ldp` credential of a running server and reads its status."""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN_KEY  # the factories authenticate as this admin
from tests.factories import bearer, earn_credential, new_learner
from tests.node import INTEROP, node_or_skip
from tests.servers import fresh_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """skillproof serve on 127.0.0.1; yields (public URL on localhost, the address it listens on)."""
    node_or_skip("@digitalbazaar/vc")
    with fresh_server(tmp_path_factory.mktemp("di-server"), ADMIN_KEY, public_host="localhost") as addresses:
        yield addresses


@pytest.fixture
def client(server: tuple[str, str]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server[1], headers=bearer(ADMIN_KEY), timeout=30) as http:
        yield http


def digital_bazaar(server: tuple[str, str], credential: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "credential.json"
    path.write_text(json.dumps(credential))
    done = subprocess.run(
        [node_or_skip("@digitalbazaar/vc"), str(INTEROP / "di_verify.mjs"), server[0], str(path), server[1]],
        capture_output=True, text=True, timeout=120, cwd=INTEROP,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def earned_ldp(client: httpx.Client) -> dict[str, Any]:
    earned = earn_credential(client, item_count=3)  # type: ignore[arg-type]  # httpx.Client is TestClient's base
    if earned["credential"]["ldp"] is None:
        pytest.skip("the issued credential still has terms no context defines (i7-doc defines them); no ldp")
    return earned


def status_values(result: dict[str, Any]) -> dict[str, str]:
    """Per purpose, the state a verifier reads: 'valid', 'revoked' or 'suspended' (one- or two-bit entries)."""
    states: dict[str, str] = {}
    for status in result["statuses"]:
        value = status["value"]
        if status["purpose"] == "message":  # statusSize 2: 0 valid, 1 suspended, 2 and 3 revoked
            states["message"] = ["valid", "suspended", "revoked", "revoked"][value]
        else:
            states[status["purpose"]] = {"revocation": "revoked", "suspension": "suspended"}[status["purpose"]] \
                if value else "valid"
    return states


def test_digital_bazaar_verifies_the_ldp_credential_and_reads_revocation(
    server: tuple[str, str], client: httpx.Client, tmp_path: Path
) -> None:
    earned = earned_ldp(client)
    ldp = earned["credential"]["ldp"]
    result = digital_bazaar(server, ldp, tmp_path)
    assert result["verified"] is True, result
    assert set(status_values(result).values()) == {"valid"}
    assert all(url.startswith(f"{server[0]}/v1/status-lists/") for url in result["fetched"])

    assert client.post(f"/v1/credentials/{earned['credential']['id']}/revoke", json={}).status_code == 200
    assert "revoked" in status_values(digital_bazaar(server, ldp, tmp_path)).values()


def test_digital_bazaar_reads_suspension_and_its_lifting(
    server: tuple[str, str], client: httpx.Client, tmp_path: Path
) -> None:
    earned = earned_ldp(client)
    ldp, credential_id = earned["credential"]["ldp"], earned["credential"]["id"]
    assert client.post(f"/v1/credentials/{credential_id}/suspend", json={}).status_code == 200
    states = status_values(digital_bazaar(server, ldp, tmp_path))
    assert "suspended" in states.values() and "revoked" not in states.values()
    assert client.post(f"/v1/credentials/{credential_id}/reinstate", json={}).status_code == 200
    assert set(status_values(digital_bazaar(server, ldp, tmp_path)).values()) == {"valid"}


def test_digital_bazaar_refuses_a_tampered_ldp_credential(
    server: tuple[str, str], client: httpx.Client, tmp_path: Path
) -> None:
    ldp = copy.deepcopy(earned_ldp(client)["credential"]["ldp"])
    ldp["credentialSubject"]["result"][0]["value"] = "99"  # earned with every answer right: 100
    result = digital_bazaar(server, ldp, tmp_path)
    assert result["verified"] is False
    assert result["errors"]


def test_digital_bazaar_verifies_a_manual_award_and_reads_its_revocation(
    server: tuple[str, str], client: httpx.Client, tmp_path: Path
) -> None:
    learner = new_learner(client)  # type: ignore[arg-type]  # httpx.Client is TestClient's base
    achievement = f"{server[0]}/v1/achievements/python/foundation"
    response = client.post("/credentials/issue", json={"credential": {"credentialSubject": {
        "id": learner["subject_id"], "achievement": {"id": achievement}}}})
    assert response.status_code == 201, response.text
    ldp = response.json()["verifiableCredential"]
    assert ldp["evidence"][0]["name"] == "Manual award"
    result = digital_bazaar(server, ldp, tmp_path)
    assert result["verified"] is True, result
    assert set(status_values(result).values()) == {"valid"}

    assert client.post(f"{response.headers['Location']}/revoke", json={}).status_code == 200
    assert "revoked" in status_values(digital_bazaar(server, ldp, tmp_path)).values()
