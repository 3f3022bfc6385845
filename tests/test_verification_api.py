"""POST /v1/credentials/verify over HTTP: every error code a caller can meet."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from fastapi.testclient import TestClient

from app.credentials import jose
from tests.conftest import ADMIN_KEY
from tests.factories import earn_credential, verify_codes


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segments(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, payload, signature = token.split(".")
    return (json.loads(base64.urlsafe_b64decode(header + "==")), json.loads(base64.urlsafe_b64decode(payload + "==")),
            signature)


def _token(header: dict[str, Any], payload: dict[str, Any], signature: str) -> str:
    return ".".join([_b64(json.dumps(header).encode()), _b64(json.dumps(payload).encode()), signature])


@pytest.fixture
def token(client: TestClient) -> str:
    jwt: str = earn_credential(client, item_count=3)["credential"]["jwt"]
    return jwt


def test_good_credential_verifies(client: TestClient, token: str) -> None:
    assert verify_codes(client, token) == []


def _issuer_gone(segment: str) -> bool:
    """Whether a (flipped) payload segment still parses but no longer names an issuer id."""
    try:
        payload = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except ValueError:
        return False
    issuer = payload.get("issuer") if isinstance(payload, dict) else None
    return not isinstance(issuer.get("id") if isinstance(issuer, dict) else issuer, str)


def test_every_character_flip_is_rejected(client: TestClient, token: str) -> None:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    parts = token.split(".")
    rejected = 0
    for segment in range(3):
        text = parts[segment]
        # Every position of header and signature; payload positions sampled evenly (it is long).
        positions = range(len(text)) if segment != 1 else range(0, len(text), max(1, len(text) // 150))
        for position in positions:
            flipped = alphabet[(alphabet.index(text[position]) + 1) % 64]
            changed = list(parts)
            changed[segment] = text[:position] + flipped + text[position + 1:]
            codes = verify_codes(client, ".".join(changed))
            assert codes, (segment, position)
            allowed = {"malformed", "invalid_signature", "unsupported_algorithm", "unknown_key", "untrusted_issuer"}
            if segment == 1 and _issuer_gone(changed[1]):
                allowed.add("invalid_credential")  # e.g. {"id": ...} flipped to {"md": ...}: no key owner to ask
            assert set(codes) <= allowed, codes
            rejected += 1
    assert rejected > 200


def test_altered_score_is_invalid_signature(client: TestClient, token: str) -> None:
    header, payload, signature = _segments(token)
    payload["credentialSubject"]["result"][0]["value"] = "100" if payload["credentialSubject"]["result"][0][
        "value"] != "100" else "99"
    assert verify_codes(client, _token(header, payload, signature)) == ["invalid_signature"]


def test_alg_none_and_hs256_with_the_public_key_are_unsupported(client: TestClient, token: str) -> None:
    header, payload, _ = _segments(token)
    assert verify_codes(client, _token({**header, "alg": "none"}, payload, "")) == ["unsupported_algorithm"]
    jwk = client.get("/.well-known/jwks.json").json()["keys"][0]
    public_bytes = base64.urlsafe_b64decode(jwk["x"] + "==")
    forged_header = {**header, "alg": "HS256"}
    signing_input = f"{_b64(json.dumps(forged_header).encode())}.{_b64(json.dumps(payload).encode())}"
    for secret in (public_bytes, json.dumps(jwk).encode()):
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        assert verify_codes(client, f"{signing_input}.{_b64(mac)}") == ["unsupported_algorithm"]


def test_unknown_kid_wrong_typ_and_foreign_key(client: TestClient, token: str) -> None:
    header, payload, signature = _segments(token)
    assert verify_codes(client, _token({**header, "kid": "not-a-published-kid"}, payload, signature)) == ["unknown_key"]
    assert verify_codes(client, _token({**header, "typ": "JWT"}, payload, signature)) == ["malformed"]
    stranger = ed25519.Ed25519PrivateKey.generate()
    forged = jose.sign_compact(payload, stranger, kid=header["kid"], alg="EdDSA")
    assert verify_codes(client, forged) == ["invalid_signature"]
    other_issuer = {**payload, "issuer": {**payload["issuer"], "id": "did:web:evil.example"}}
    stranger_token = jose.sign_compact(other_issuer, stranger, kid="k1", alg="EdDSA")
    assert verify_codes(client, stranger_token) == ["untrusted_issuer"]


def test_duplicate_keys_are_malformed(client: TestClient, token: str) -> None:
    raw = f'{{"verifiableCredential": "{token}", "verifiableCredential": "{token}"}}'
    response = client.post("/v1/credentials/verify", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 200 and response.json()["errors"][0]["code"] == "malformed"
    header_b64, payload_b64, signature = token.split(".")
    doubled = _b64(base64.urlsafe_b64decode(header_b64 + "==")[:-1] + b',"alg":"EdDSA"}')
    assert verify_codes(client, f"{doubled}.{payload_b64}.{signature}") == ["malformed"]


def test_enveloped_form_verifies(client: TestClient, token: str) -> None:
    enveloped = {"@context": ["https://www.w3.org/ns/credentials/v2"], "type": "EnvelopedVerifiableCredential",
                 "id": f"data:application/vc+jwt,{token}"}
    assert verify_codes(client, enveloped) == []


def test_not_json_missing_field_and_oversize_bodies(client: TestClient, token: str) -> None:
    url = "/v1/credentials/verify"
    headers = {"content-type": "application/json"}
    for content in (b"not json", b"[1]", b'{"credential": "x"}', b'{"verifiableCredential": "x", "options": 3}'):
        response = client.post(url, content=content, headers=headers)
        assert response.status_code == 422, content
        assert set(response.json()) == {"error", "detail"}
    big = json.dumps({"verifiableCredential": token, "options": {"pad": "x" * 70_000}}).encode()
    response = client.post(url, content=big, headers=headers)
    assert response.status_code == 413 and response.json()["error"] == "payload_too_large"

    def chunks():  # type: ignore[no-untyped-def]  # no Content-Length: the limit holds while streaming
        yield big[:40_000]
        yield big[40_000:]

    response = client.post(url, content=chunks(), headers=headers)
    assert response.status_code == 413
    for credential in (42, None, ["a"], "", {"no": "proof"}):
        assert verify_codes(client, credential) == ["malformed"], credential


def test_repeat_verifications_hit_the_verified_tokens_cache(client: TestClient, token: str) -> None:
    verifier = client.app.state.verifier  # type: ignore[attr-defined]
    keystore = client.app.state.keystore  # type: ignore[attr-defined]
    kid = _segments(token)[0]["kid"].rpartition("#")[2]  # the keystore's kid: the DID URL's fragment
    assert verify_codes(client, token) == []
    cached = verifier.verified_tokens.get(token)
    # A hit needs the resolver to hand back the very key object that verified the token.
    assert cached is not None and cached is keystore.public_key(kid)
    assert verify_codes(client, token) == []


def test_our_own_status_list_credential_does_not_verify(client: TestClient, token: str) -> None:
    """Issue 6: GET /v1/status-lists/{id} is signed by our key and verified as `verified: true`."""
    payload = _segments(token)[1]
    list_url = payload["credentialStatus"]["statusListCredential"]
    status_list = client.get(list_url.removeprefix("https://skillproof.test"))
    assert status_list.status_code == 200
    list_jwt = status_list.text.strip()
    assert _segments(list_jwt)[0]["kid"] == _segments(token)[0]["kid"]  # the same signing key
    response = client.post("/v1/credentials/verify", json={"verifiableCredential": list_jwt}).json()
    assert response["verified"] is False
    assert {error["code"] for error in response["errors"]} == {"invalid_credential"}
    assert any("OpenBadgeCredential" in error["message"] for error in response["errors"])


def test_a_cty_vp_header_on_a_signed_credential_is_malformed(client: TestClient, token: str) -> None:
    import jwt as pyjwt

    keystore = client.app.state.keystore  # type: ignore[attr-defined]
    key = keystore.active()
    _, payload, _ = _segments(token)
    resigned = pyjwt.encode(payload, key.private_key, algorithm=key.alg,
                            headers={"typ": "vc+jwt", "cty": "vp", "kid": key.kid})
    assert verify_codes(client, resigned) == ["malformed"]
    # ES256 by default now: signed by jose, which gives the low-S form the verifier requires.
    same_with_vc = jose.sign_compact(payload, key.private_key, kid=key.kid, alg=key.alg)
    assert verify_codes(client, same_with_vc) == []


def test_an_es256_issuer_has_one_signature_per_credential(settings: Any, tmp_path: Any) -> None:
    """Issue 6: the `(r, n - s)` twin of an ES256 credential verified too."""
    from app.main import create_app
    from tests.conftest import PUBLIC_URL

    es256 = settings.model_copy(update={"signing_alg": "ES256", "keys_dir": tmp_path / "keys"})
    with TestClient(create_app(es256), base_url=PUBLIC_URL) as es_client:
        es_client.headers["Authorization"] = f"Bearer {settings.admin_api_key}"
        jws = earn_credential(es_client, item_count=2)["credential"]["jwt"]
        header, _, signature = _segments(jws)
        assert header["alg"] == "ES256"
        raw = base64.urlsafe_b64decode(signature + "==")
        order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
        s = int.from_bytes(raw[32:], "big")
        assert s <= order // 2  # we issue low-S only
        twin = jws.rpartition(".")[0] + "." + _b64(raw[:32] + (order - s).to_bytes(32, "big"))
        assert verify_codes(es_client, jws) == []
        assert verify_codes(es_client, twin) == ["invalid_signature"]


def test_the_fast_path_answers_as_the_routed_endpoint(client: TestClient, token: str) -> None:
    """POST /v1/credentials/verify is served ahead of routing (app.verification.fast_path); a query string sends
    the same request through the framework's routing to the documented endpoint. Both answer every input alike."""
    header, payload, signature = _segments(token)
    ldp = client.get(f"/v1/credentials/{payload['jti'].removeprefix('urn:uuid:')}",
                     headers={"Authorization": f"Bearer {ADMIN_KEY}"}).json()["ldp"]
    tampered = _token(header, {**payload, "name": "Forged"}, signature)
    bodies: list[bytes] = [
        json.dumps({"verifiableCredential": token}).encode(),
        json.dumps({"verifiableCredential": ldp}).encode(),
        json.dumps({"verifiableCredential": tampered}).encode(),
        json.dumps({"verifiableCredential": token, "options": {"expectedHolder": "did:key:z6Mkwrong"}}).encode(),
        json.dumps({"verifiableCredential": token, "options": {"expectedHolder": 7}}).encode(),
        b'{"verifiableCredential": "a", "verifiableCredential": "b"}',
        b"not json", b"[1]", b'{"n": 1e999}', b'{"s": "\\ud800"}', b"",
        json.dumps({"verifiableCredential": token, "pad": "x" * 70_000}).encode(),
    ]
    for body in bodies:
        fast = client.post("/v1/credentials/verify", content=body, headers={"content-type": "application/json"})
        routed = client.post("/v1/credentials/verify?via=router", content=body,
                             headers={"content-type": "application/json"})
        assert (fast.status_code, fast.json()) == (routed.status_code, routed.json()), body[:80]
        assert fast.headers["content-type"] == routed.headers["content-type"] == "application/json"
        assert fast.headers["x-request-id"] and fast.headers["x-request-id"] != routed.headers["x-request-id"]
    assert fast.status_code == 413  # the last body is over the verify route's 64 KB
