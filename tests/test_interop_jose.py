"""npm `jose` (panva) verifies our vc+jwt from the served JWKS, and from the DID document the kid names.

A real `skillproof serve` process answers over HTTP; node fetches the JWKS and did.json itself.
"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

import httpx

from app.credentials import jose
from app.keys.keystore import FileKeyStore
from tests.e2e.test_server_flow import earn_credential_over_http, running_server
from tests.node import INTEROP, node_or_skip

SCRIPT = INTEROP / "jose_verify.mjs"


def _node_verify(node: str, tokens: dict[str, str], server: str, issuer: str) -> dict[str, Any]:
    request = {"tokens": tokens, "jwks_url": f"{server}/.well-known/jwks.json", "issuer": issuer, "did_base": server}
    done = subprocess.run([node, str(SCRIPT)], input=json.dumps(request), capture_output=True, text=True,
                          cwd=INTEROP, timeout=60)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _tampered(token: str) -> str:
    """The same token with the score changed in the payload, re-encoded, signature kept."""
    header, payload_b64, signature = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(payload_b64 + "=" * (-len(payload_b64) % 4)))
    payload["credentialSubject"]["result"][0]["value"] = "1"
    return f"{header}.{jose.b64url_encode(json.dumps(payload).encode())}.{signature}"


def test_npm_jose_verifies_with_the_jwks_and_through_the_did_document(tmp_path: Path) -> None:
    node = node_or_skip("jose")
    with running_server(tmp_path) as server:
        body = earn_credential_over_http(server)["credential"]
        token = body["jwt"]
        issuer = httpx.get(f"{server}/.well-known/did.json").json()["id"]
        header = jose.parse_compact(token).header
        assert header["alg"] == "ES256" and header["kid"].startswith(f"{issuer}#")
        # A token as issued before kids became DID URLs: the same key, its bare thumbprint as kid.
        key = FileKeyStore(tmp_path / "keys").ensure(strict=False)
        legacy = jose.sign_compact(jose.parse_compact(token).payload, key.private_key, kid=key.kid, alg=key.alg)
        results = _node_verify(node, {"new": token, "tampered": _tampered(token), "legacy": legacy}, server, issuer)

    new = results["new"]
    assert new["jwks"]["ok"] is True, new["jwks"]
    assert new["jwks"]["header"]["kid"] == header["kid"]
    assert new["jwks"]["payload"] == jose.parse_compact(token).payload
    payload = new["jwks"]["payload"]
    assert (payload["iss"], payload["jti"], payload["sub"]) == (
        issuer, body["credential"]["id"], body["credential"]["credentialSubject"]["id"]
    )
    assert new["did"]["ok"] is True, new["did"]
    for path in ("jwks", "did"):
        assert results["tampered"][path] == {
            "ok": False, "code": "ERR_JWS_SIGNATURE_VERIFICATION_FAILED", "message": "signature verification failed"
        }
    assert results["legacy"]["jwks"]["ok"] is True, results["legacy"]["jwks"]  # the bare-thumbprint JWKS entry
    assert results["legacy"]["did"]["code"] == "WRONG_DID"  # a bare kid names no DID: only the JWKS finds it
