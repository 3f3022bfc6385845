"""The public documents: JWKS (RFC 7517) and the did:web DID document."""

from __future__ import annotations

from typing import Any

from app.credentials import data_integrity, jose
from app.keys.keystore import FileKeyStore


def jwks(store: FileKeyStore) -> dict[str, Any]:
    """Every published public key with kid, alg and use."""
    keys = []
    for key in store.all_keys():
        jwk = jose.public_jwk(key.public_key)
        keys.append({**jwk, "kid": key.kid, "alg": key.alg, "use": "sig"})
    return {"keys": keys}


def did_document(store: FileKeyStore, did: str) -> dict[str, Any]:
    """did:web document: each key a JsonWebKey verification method usable for assertions."""
    methods = []
    for key in store.all_keys():
        jwk = jose.public_jwk(key.public_key)
        methods.append(
            {
                "id": f"{did}#{key.kid}",
                "type": "JsonWebKey",
                "controller": did,
                "publicKeyJwk": {**jwk, "kid": key.kid, "alg": key.alg},
            }
        )
    # STAND-IN (i7-di) until i7-keys: the Data Integrity key as a Multikey, for eddsa-rdfc-2022 proofs.
    di_key = store.data_integrity_key()
    methods.append(
        {
            "id": f"{did}#{di_key.kid}",
            "type": "Multikey",
            "controller": did,
            "publicKeyMultibase": data_integrity.ed25519_multikey(di_key.public_key),  # type: ignore[arg-type]
        }
    )
    return {
        "@context": [
            "https://www.w3.org/ns/did/v1",
            "https://w3id.org/security/jwk/v1",
            "https://w3id.org/security/multikey/v1",
        ],
        "id": did,
        "verificationMethod": methods,
        "assertionMethod": [method["id"] for method in methods],
    }
