"""A learner registers a did:key or did:jwk by signing a challenge; later credentials name that DID."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from fastapi.testclient import TestClient

from app.credentials import jose
from app.deps import get_clock
from app.dids.keys import multikey
from tests.factories import ADMIN, correct_responses, keyed, new_assessment, new_learner, start

ISSUER_DID = "did:web:skillproof.test"  # the did:web of tests.conftest.PUBLIC_URL


def _b64(data: dict[str, Any]) -> str:
    return jose.b64url_encode(json.dumps(data).encode())


def _jws(header: dict[str, Any], payload: dict[str, Any], key: jose.PrivateKey) -> str:
    """A compact JWS signed with cryptography directly (not our signing code)."""
    signing_input = f"{_b64(header)}.{_b64(payload)}".encode()
    if isinstance(key, ed25519.Ed25519PrivateKey):
        signature = key.sign(signing_input)
    else:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        s = min(s, jose.P256_ORDER - s)
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return f"{signing_input.decode()}.{jose.b64url_encode(signature)}"


def did_key(key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> tuple[str, str]:
    fingerprint = multikey(key.public_key())
    return f"did:key:{fingerprint}", f"did:key:{fingerprint}#{fingerprint}"


def did_jwk(key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> tuple[str, str]:
    did = "did:jwk:" + _b64(jose.public_jwk(key.public_key()))
    return did, f"{did}#0"


def _challenge(client: TestClient, learner: dict[str, Any]) -> str:
    response = client.post("/v1/learners/me/did-challenge", headers=learner["headers"])
    assert response.status_code == 201, response.text
    body = response.json()
    expires = dt.datetime.fromisoformat(body["expires_at"])
    assert dt.timedelta(minutes=4, seconds=55) < expires - dt.datetime.now(dt.UTC) <= dt.timedelta(minutes=5)
    challenge: str = body["challenge"]
    return challenge


def _register(client: TestClient, learner: dict[str, Any], did: str, proof: str) -> Any:
    return client.post("/v1/learners/me/did", json={"did": did, "proof": proof}, headers=learner["headers"])


def _alg(key: object) -> str:
    return "EdDSA" if isinstance(key, ed25519.Ed25519PrivateKey) else "ES256"


@pytest.mark.parametrize(
    ("make_did", "make_key"),
    [(did_key, ed25519.Ed25519PrivateKey.generate), (did_key, lambda: ec.generate_private_key(ec.SECP256R1())),
     (did_jwk, ed25519.Ed25519PrivateKey.generate), (did_jwk, lambda: ec.generate_private_key(ec.SECP256R1()))],
    ids=["did:key-ed25519", "did:key-p256", "did:jwk-ed25519", "did:jwk-p256"],
)
def test_registered_did_becomes_the_credential_subject(client: TestClient, make_did: Any, make_key: Any) -> None:
    key = make_key()
    did, kid = make_did(key)
    learner = new_learner(client)
    proof = _jws({"alg": _alg(key), "kid": kid}, {"challenge": _challenge(client, learner), "aud": ISSUER_DID}, key)
    response = _register(client, learner, did, proof)
    assert response.status_code == 200, response.text
    assert response.json()["did"] == did and response.json()["subject_id"] == did
    assert client.get("/v1/learners/me", headers=learner["headers"]).json()["did"] == did

    assessment = new_assessment(client, item_count=3)
    attempt = start(client, assessment, learner)
    grade = client.post(f"/v1/attempts/{attempt['id']}/submit", headers=learner["headers"],
                        json={"responses": correct_responses(keyed(client, attempt))}).json()
    issued = client.get(f"/v1/credentials/{grade['credential_id']}", headers=learner["headers"]).json()
    assert issued["credential"]["credentialSubject"]["id"] == did
    assert jose.parse_compact(issued["jwt"]).payload["credentialSubject"]["id"] == did


def test_refusals(client: TestClient) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    did, kid = did_key(key)
    learner = new_learner(client)

    def attempt(did: str, proof: str) -> tuple[int, str]:
        response = _register(client, learner, did, proof)
        return response.status_code, response.json()["error"]

    challenge = _challenge(client, learner)
    good = {"challenge": challenge, "aud": ISSUER_DID}
    other_key = ed25519.Ed25519PrivateKey.generate()
    # Signed by another key under this DID's kid.
    assert attempt(did, _jws({"alg": "EdDSA", "kid": kid}, good, other_key)) == (422, "invalid_proof")
    # The kid of another DID (the signer's own): proves control of that DID, not of this one.
    other_did, other_kid = did_key(other_key)
    assert attempt(did, _jws({"alg": "EdDSA", "kid": other_kid}, good, other_key)) == (422, "invalid_proof")
    # Meant for another audience, or without a challenge.
    assert attempt(did, _jws({"alg": "EdDSA", "kid": kid}, {**good, "aud": "did:web:evil.example"}, key)) == (
        422, "invalid_proof")
    assert attempt(did, _jws({"alg": "EdDSA", "kid": kid}, {"aud": ISSUER_DID}, key)) == (422, "invalid_proof")
    # alg none, HMAC, garbage.
    unsigned = f"{_b64({'alg': 'none', 'kid': kid})}.{_b64(good)}."
    assert attempt(did, unsigned) == (422, "invalid_proof")
    assert attempt(did, "not-a-jws") == (422, "invalid_proof")
    # A challenge never issued, or issued to another learner.
    assert attempt(did, _jws({"alg": "EdDSA", "kid": kid}, {**good, "challenge": "made-up"}, key)) == (
        422, "invalid_challenge")
    someone_else = new_learner(client)
    theirs = _challenge(client, someone_else)
    assert attempt(did, _jws({"alg": "EdDSA", "kid": kid}, {**good, "challenge": theirs}, key)) == (
        422, "invalid_challenge")
    # Unsupported methods and malformed DIDs.
    assert attempt("did:web:learner.example", _jws({"alg": "EdDSA", "kid": kid}, good, key)) == (
        422, "unsupported_did_method")
    assert attempt("did:key:z6MkNotAKey", _jws({"alg": "EdDSA", "kid": kid}, good, key)) == (422, "invalid_did")
    assert attempt("not a did", "x")[0] == 422
    # None of that changed the learner.
    assert client.get("/v1/learners/me", headers=learner["headers"]).json()["did"] is None

    # The good proof works once; the same challenge again is refused.
    proof = _jws({"alg": "EdDSA", "kid": kid}, good, key)
    assert _register(client, learner, did, proof).status_code == 200
    assert attempt(did, proof) == (409, "challenge_used")
    assert attempt(other_did, _jws({"alg": "EdDSA", "kid": other_kid}, good, other_key)) == (409, "challenge_used")


def test_expired_challenge(client: TestClient) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    did, kid = did_jwk(key)
    learner = new_learner(client)
    proof = _jws({"alg": "ES256", "kid": kid}, {"challenge": _challenge(client, learner), "aud": ISSUER_DID}, key)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5, seconds=1)
    client.app.dependency_overrides[get_clock] = lambda: later  # type: ignore[attr-defined]
    try:
        response = _register(client, learner, did, proof)
    finally:
        client.app.dependency_overrides.clear()  # type: ignore[attr-defined]
    assert (response.status_code, response.json()["error"]) == (422, "challenge_expired")


def test_only_learners_register(client: TestClient) -> None:
    assert client.post("/v1/learners/me/did-challenge").status_code == 401
    assert client.post("/v1/learners/me/did-challenge", headers=ADMIN).status_code == 403
