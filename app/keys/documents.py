"""The public documents: JWKS (RFC 7517) and the did:web DID document."""

from __future__ import annotations

from typing import Any, Final

from app.credentials import jose
from app.keys.keystore import FileKeyStore, verification_method_id

__all__ = ["DID_CONTEXTS", "DID_MEDIA_TYPE", "did_document", "jwks", "verification_method_id"]

# DID Core §7.1.2 / did:web §2.5: the document is served as JSON (application/did+json) with these contexts:
# DID v1, then the two that define JsonWebKey and Multikey (Controlled Identifiers v1.0 §2.2.1, §2.2.2).
DID_CONTEXTS: Final = (
    "https://www.w3.org/ns/did/v1",
    "https://w3id.org/security/jwk/v1",
    "https://w3id.org/security/multikey/v1",
)
DID_MEDIA_TYPE: Final = "application/did+json"


def jwks(store: FileKeyStore, did: str) -> dict[str, Any]:
    """Every published vc+jwt key with kid, alg and use: first under its DID URL kid, then under the bare thumbprint.

    The DID URL (`<did>#<thumbprint>`) is the kid of every token signed since keys became DID URLs, so a plain
    JOSE client finds the key by the header's kid. The second entry, same key under the bare thumbprint, is for
    tokens issued before (their kid is the thumbprint alone). Data Integrity keys are not JOSE keys and are
    published in the DID document only.
    """
    keys = store.all_keys()
    entries = []
    for key in keys:
        jwk = jose.public_jwk(key.public_key)
        entries.append({**jwk, "kid": verification_method_id(did, key.kid), "alg": key.alg, "use": "sig"})
    for key in keys:
        jwk = jose.public_jwk(key.public_key)
        entries.append({**jwk, "kid": key.kid, "alg": key.alg, "use": "sig"})
    return {"keys": entries}


def did_document(store: FileKeyStore, did: str) -> dict[str, Any]:
    """did:web document: each vc+jwt key a JsonWebKey, each Data Integrity key a Multikey, all for assertions."""
    methods: list[dict[str, Any]] = []
    for key in store.all_keys():
        jwk = jose.public_jwk(key.public_key)
        methods.append(
            {
                "id": verification_method_id(did, key.kid),
                "type": "JsonWebKey",
                "controller": did,
                # CID §2.2.1: the JWK kid is the thumbprint, which is also the method's fragment.
                "publicKeyJwk": {**jwk, "kid": key.kid, "alg": key.alg},
            }
        )
    for key in store.data_integrity_keys():
        methods.append(
            {
                "id": verification_method_id(did, key.kid),
                "type": "Multikey",
                "controller": did,
                "publicKeyMultibase": jose.public_key_multibase(key.public_key),
            }
        )
    return {
        "@context": list(DID_CONTEXTS),
        "id": did,
        "verificationMethod": methods,
        "assertionMethod": [method["id"] for method in methods],
    }
