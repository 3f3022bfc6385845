"""Digital Bazaar's vc-bitstring-status-list decodes our one-entry status (2 bits: revoked, suspended)."""

from __future__ import annotations

import json
import subprocess
import warnings
from typing import Any

from fastapi.testclient import TestClient
from joserfc import jws
from joserfc.errors import SecurityWarning
from joserfc.jwk import KeySet

from tests.factories import ADMIN, earn_credential
from tests.node import INTEROP, node_or_skip


def _list_payload(client: TestClient, url: str) -> dict[str, Any]:
    """The status list credential from GET /v1/status-lists/{id}: the vc+jwt payload, signature checked."""
    response = client.get(url.removeprefix("https://skillproof.test"))
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/vc+jwt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        keys = KeySet.import_key_set(client.get("/.well-known/jwks.json").json())
        result = jws.deserialize_compact(response.text, keys, algorithms=["EdDSA", "ES256"])
    payload: dict[str, Any] = json.loads(result.payload)
    return payload


def test_digital_bazaar_decode_list_reads_revoked_suspended_and_valid(client: TestClient) -> None:
    node = node_or_skip("@digitalbazaar/vc-bitstring-status-list")
    states: dict[str, list[str]] = {
        "valid": [], "suspended": ["suspend"], "revoked": ["revoke"],
        "revoked while suspended": ["suspend", "revoke"], "reinstated": ["suspend", "reinstate"],
    }
    entries: dict[str, dict[str, Any]] = {}
    for name, actions in states.items():
        body = earn_credential(client, item_count=2)["credential"]
        for action in actions:
            assert client.post(f"/v1/credentials/{body['id']}/{action}", headers=ADMIN).status_code == 200
        entries[name] = body["credential"]["credentialStatus"]
    urls = {entry["statusListCredential"] for entry in entries.values()}
    assert len(urls) == 1, "credentials issued in turn share the list that has room"
    subject = _list_payload(client, urls.pop())["credentialSubject"]
    assert subject["statusPurpose"] == "message"
    request = {
        "encodedList": subject["encodedList"],
        "entries": [
            {"index": int(entry["statusListIndex"]), "size": entry["statusSize"]} for entry in entries.values()
        ],
    }
    done = subprocess.run(
        [node, str(INTEROP / "status_decode.mjs")], input=json.dumps(request), capture_output=True, text=True,
        cwd=INTEROP, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    decoded = json.loads(done.stdout)
    # 131,072 entries of statusSize 2 bits (§3.2 step 9).
    assert decoded["length"] == 131072 * 2
    values = dict(zip(entries, decoded["values"], strict=True))
    assert values == {"valid": 0, "suspended": 1, "revoked": 2, "revoked while suspended": 3, "reinstated": 0}
    # Each value means what its statusMessage says.
    messages = {name: entries[name]["statusMessage"][value]["message"] for name, value in values.items()}
    assert messages == {"valid": "valid", "suspended": "suspended", "revoked": "revoked",
                        "revoked while suspended": "revoked", "reinstated": "valid"}
