"""Proof of control of a DID: a compact JWS over {"challenge", "aud"} signed by one of the DID's keys.

PURE: no I/O, no clock. The key is the verification method the header's `kid` names (did:key, did:jwk);
the algorithm must fit that key (RFC 8725 §3.1), as app.credentials.jose checks it.
"""

from __future__ import annotations

from typing import Any, Final

from app.credentials import jose
from app.dids import documents

__all__ = ["ProofError", "verify_control"]

MAX_PROOF_LENGTH: Final = 8 * 1024
_ALGORITHMS: Final = {"ES256": "ES256", "EdDSA": "EdDSA", "Ed25519": "EdDSA"}  # RFC 9864: Ed25519 = EdDSA here


class ProofError(ValueError):
    """The proof is malformed, signed by another key, or not over the expected challenge and audience."""


def verify_control(did: str, proof: str, document: documents.DidDocument, audience: str) -> str:
    """The challenge a valid proof signs for `audience`; ProofError otherwise."""
    if not isinstance(proof, str) or len(proof) > MAX_PROOF_LENGTH or not proof.isascii():
        raise ProofError("The proof must be a compact JWS of at most 8 KB.")
    parts = proof.split(".")
    if len(parts) != 3:
        raise ProofError("The proof must be a compact JWS (three dot-separated parts).")
    try:
        header = jose.loads_strict(jose.b64url_decode(parts[0]), "proof header")
        payload = jose.loads_strict(jose.b64url_decode(parts[1]), "proof payload")
        signature = jose.b64url_decode(parts[2])
    except jose.JoseError as exc:
        raise ProofError(exc.message) from None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise ProofError("The proof's header and payload must be JSON objects.")
    alg = header.get("alg")
    if alg not in _ALGORITHMS:
        raise ProofError("The proof's alg must be ES256 or EdDSA (Ed25519).")
    if "crit" in header or header.get("b64", True) is not True:
        raise ProofError("The proof may not use critical or unencoded-payload JOSE extensions.")
    kid = header.get("kid")
    if not isinstance(kid, str) or (documents.did_of(kid) != did and not kid.startswith("#")):
        raise ProofError("The proof's kid must be a verification method of the DID being registered.")
    key = document.key(kid)
    if key is None:
        raise ProofError("The proof's kid is not a verification method of the DID.")
    parsed = jose.ParsedJws(
        header={**header, "alg": _ALGORITHMS[alg]}, payload=payload,
        signing_input=f"{parts[0]}.{parts[1]}".encode("ascii"), signature=signature,
    )
    try:
        jose.verify_signature(parsed, key)
    except jose.JoseError:
        raise ProofError("The proof's signature does not verify with the DID's key.") from None
    aud: Any = payload.get("aud")
    if audience not in ([aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []):
        raise ProofError(f"The proof's aud must be {audience}.")
    challenge = payload.get("challenge")
    if not isinstance(challenge, str) or not challenge:
        raise ProofError("The proof must sign the challenge (payload member 'challenge').")
    return challenge
