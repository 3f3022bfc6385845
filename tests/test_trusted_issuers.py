"""Credentials of other issuers: trusted DIDs (did:web over local HTTPS, did:key) verify, others do not."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from fastapi.testclient import TestClient

from app.config import Settings
from app.credentials import jose
from app.dids.keys import multikey
from app.main import create_app
from app.status_lists import bitstring
from tests.conftest import PUBLIC_URL
from tests.factories import earn_credential
from tests.tls_server import Route, Running, ca_bundle, serve

VC_V2 = "https://www.w3.org/ns/credentials/v2"
OB_V3 = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
REVOKED, SUSPENDED, GOOD = 3, 5, 4


def _sign(payload: dict[str, Any], key: jose.PrivateKey, kid: str) -> str:
    return jose.sign_compact(jose.claims_for(payload), key, kid=kid, alg=jose.alg_for_key(key))


class Issuer:
    """Another issuer: a DID, its key, and the documents it publishes on the local HTTPS server."""

    def __init__(self, did: str, key: jose.PrivateKey, kid: str, server: Running):
        self.did, self.key, self.kid, self.server = did, key, kid, server

    def status_list(self, path: str, purpose: str, set_bits: list[int], **extra: Any) -> str:
        url = self.server.url(path)
        document = {
            "@context": [VC_V2], "id": url, "type": ["VerifiableCredential", "BitstringStatusListCredential"],
            "issuer": self.did, "validFrom": "2026-11-01T00:00:00Z",
            "credentialSubject": {"id": f"{url}#list", "type": "BitstringStatusList", "statusPurpose": purpose,
                                  "encodedList": bitstring.encode(set_bits), "ttl": 60_000},
            **extra,
        }
        self.server.routes[path] = Route(body=_sign(document, self.key, self.kid).encode(),
                                         headers={"Content-Type": "application/vc+jwt"})
        return url

    def credential(self, list_url: str, index: int, purpose: str = "revocation", **changes: Any) -> str:
        payload = {
            "@context": [VC_V2, OB_V3], "id": f"urn:uuid:{uuid.uuid4()}",
            "type": ["VerifiableCredential", "OpenBadgeCredential"],
            "issuer": {"id": self.did, "type": ["Profile"], "name": "Other Academy"},
            "validFrom": "2026-11-01T00:00:00Z",
            "credentialSubject": {
                "id": "did:example:learner", "type": ["AchievementSubject"],
                "achievement": {"id": "https://academy.example/achievements/welding", "type": ["Achievement"],
                                "name": "Welding", "description": "Welds.", "criteria": {"narrative": "Passed."}},
            },
            "credentialStatus": {"id": f"{list_url}#{index}", "type": "BitstringStatusListEntry",
                                 "statusPurpose": purpose, "statusListIndex": str(index),
                                 "statusListCredential": list_url},
        }
        payload.update(changes)
        return _sign(payload, self.key, self.kid)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def server(ca: trustme.CA) -> Iterator[Running]:
    with serve(ca) as running:
        yield running


@pytest.fixture
def web_issuer(server: Running) -> Issuer:
    """did:web:localhost%3A<port>: a P-256 JsonWebKey and an Ed25519 Multikey in its did.json."""
    did = f"did:web:localhost%3A{server.port}"
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = jose.public_jwk(key.public_key())
    thumbprint = jose.jwk_thumbprint(jwk)
    other = ed25519.Ed25519PrivateKey.generate()
    document = {
        "@context": ["https://www.w3.org/ns/did/v1"], "id": did,
        "verificationMethod": [
            {"id": f"{did}#{thumbprint}", "type": "JsonWebKey", "controller": did, "publicKeyJwk": jwk},
            {"id": "#ed", "type": "Multikey", "controller": did, "publicKeyMultibase": multikey(other.public_key())},
        ],
        "assertionMethod": [f"{did}#{thumbprint}"],  # #ed is defined but not for assertions
    }
    server.routes["/.well-known/did.json"] = Route(body=json.dumps(document).encode(),
                                                   headers={"Content-Type": "application/did+json"})
    issuer = Issuer(did, key, f"{did}#{thumbprint}", server)
    issuer.ed_key = other  # type: ignore[attr-defined]
    return issuer


@pytest.fixture
def key_issuer(server: Running) -> Issuer:
    key = ed25519.Ed25519PrivateKey.generate()
    fingerprint = multikey(key.public_key())
    did = f"did:key:{fingerprint}"
    return Issuer(did, key, f"{did}#{fingerprint}", server)


def _app(settings: Settings, tmp_path: Path, ca: trustme.CA, server: Running, trusted: str) -> TestClient:
    configured = Settings.model_validate({
        **settings.model_dump(), "trusted_issuers": trusted, "fetch_ca_bundle": ca_bundle(ca, tmp_path),
        "fetch_allow_addresses": server.allow,
    })
    return TestClient(create_app(configured), base_url=PUBLIC_URL)


def _verify(client: TestClient, token: str) -> dict[str, Any]:
    response = client.post("/v1/credentials/verify", json={"verifiableCredential": token})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _codes(result: dict[str, Any]) -> list[str]:
    return [error["code"] for error in result["errors"]]


def test_did_web_issuer_verifies_when_trusted_and_not_otherwise(
    settings: Settings, tmp_path: Path, ca: trustme.CA, server: Running, web_issuer: Issuer,
) -> None:
    list_url = web_issuer.status_list("/status/1", "revocation", [REVOKED])
    good = web_issuer.credential(list_url, GOOD)
    revoked = web_issuer.credential(list_url, REVOKED)
    with _app(settings, tmp_path, ca, server, web_issuer.did) as client:
        result = _verify(client, good)
        assert result["verified"] is True, result
        assert "status:revocation" in result["checks"]
        assert _codes(_verify(client, revoked)) == ["revoked"]
        # Our own credentials still verify beside the trusted issuer's.
        assert _verify(client, earn_credential(client, item_count=3)["credential"]["jwt"])["verified"] is True
    accepted = server.accepted
    with _app(settings, tmp_path, ca, server, "") as client:
        assert _codes(_verify(client, good)) == ["untrusted_issuer"]
    with _app(settings, tmp_path, ca, server, "did:web:elsewhere.example") as client:
        assert _codes(_verify(client, good)) == ["untrusted_issuer"]
    assert server.accepted == accepted  # an untrusted issuer is never fetched


def test_did_web_documents_and_lists_are_fetched_once(
    settings: Settings, tmp_path: Path, ca: trustme.CA, server: Running, web_issuer: Issuer,
) -> None:
    list_url = web_issuer.status_list("/status/1", "revocation", [])
    token = web_issuer.credential(list_url, GOOD)
    with _app(settings, tmp_path, ca, server, web_issuer.did) as client:
        for _ in range(5):
            assert _verify(client, token)["verified"] is True
    assert server.accepted == 2  # did.json once, the status list once


def test_suspension_list_of_a_did_key_issuer(
    settings: Settings, tmp_path: Path, ca: trustme.CA, server: Running, key_issuer: Issuer,
) -> None:
    list_url = key_issuer.status_list("/status/s", "suspension", [SUSPENDED])
    with _app(settings, tmp_path, ca, server, key_issuer.did) as client:
        assert _verify(client, key_issuer.credential(list_url, GOOD, "suspension"))["verified"] is True
        assert _codes(_verify(client, key_issuer.credential(list_url, SUSPENDED, "suspension"))) == ["suspended"]


def test_keys_and_lists_must_be_the_issuers_own(
    settings: Settings, tmp_path: Path, ca: trustme.CA, server: Running, web_issuer: Issuer, key_issuer: Issuer,
) -> None:
    trusted = f"{web_issuer.did},{key_issuer.did}"
    key_list = key_issuer.status_list("/status/k", "revocation", [])
    web_list = web_issuer.status_list("/status/w", "revocation", [])
    expired_list = web_issuer.status_list("/status/old", "revocation", [], validUntil="2026-11-15T00:00:00Z")
    purpose_list = web_issuer.status_list("/status/susp", "suspension", [])
    with _app(settings, tmp_path, ca, server, trusted) as client:
        # A trusted issuer's credential pointing at another trusted issuer's list.
        assert _codes(_verify(client, web_issuer.credential(key_list, GOOD))) == ["status_unavailable"]
        assert _verify(client, web_issuer.credential(web_list, GOOD))["verified"] is True
        assert _codes(_verify(client, web_issuer.credential(expired_list, GOOD))) == ["status_unavailable"]
        assert _codes(_verify(client, web_issuer.credential(purpose_list, GOOD))) == ["status_unavailable"]
        missing = web_issuer.server.url("/status/none")
        assert _codes(_verify(client, web_issuer.credential(missing, GOOD))) == ["status_unavailable"]
        # The kid names the did:key issuer's key while the issuer is the did:web one.
        forged = jose.sign_compact(
            jose.claims_for(_payload(web_issuer, web_list)), key_issuer.key, kid=key_issuer.kid, alg="EdDSA")
        assert _codes(_verify(client, forged)) == ["unknown_key"]
        # A key in did.json but not in assertionMethod does not sign credentials.
        ed_kid = f"{web_issuer.did}#ed"
        not_assertion = jose.sign_compact(
            jose.claims_for(_payload(web_issuer, web_list)), web_issuer.ed_key, kid=ed_kid,  # type: ignore[attr-defined]
            alg="EdDSA")
        assert _codes(_verify(client, not_assertion)) == ["unknown_key"]
        # Signed by the issuer's DID but with a key that is not in its document.
        stranger = ec.generate_private_key(ec.SECP256R1())
        bad = jose.sign_compact(jose.claims_for(_payload(web_issuer, web_list)), stranger, kid=web_issuer.kid,
                                alg="ES256")
        assert _codes(_verify(client, bad)) == ["invalid_signature"]


def test_unresolvable_did_web_is_untrusted_issuer(
    settings: Settings, tmp_path: Path, ca: trustme.CA, server: Running, web_issuer: Issuer,
) -> None:
    list_url = web_issuer.status_list("/status/1", "revocation", [])
    token = web_issuer.credential(list_url, GOOD)
    del server.routes["/.well-known/did.json"]
    with _app(settings, tmp_path, ca, server, web_issuer.did) as client:
        result = _verify(client, token)
    assert _codes(result) == ["untrusted_issuer"]
    assert "could not be resolved" in result["errors"][0]["message"]


def test_trusted_issuers_setting_is_checked(settings: Settings) -> None:
    for bad in ("did:example:123", "did:web:127.0.0.1", "did:key:zQ3notakey", "https://issuer.example"):
        with pytest.raises(ValueError, match="SKILLPROOF_TRUSTED_ISSUERS"):
            Settings.model_validate({**settings.model_dump(), "trusted_issuers": bad})


def _payload(issuer: Issuer, list_url: str) -> dict[str, Any]:
    token = issuer.credential(list_url, GOOD)
    return jose.parse_compact(token).payload
