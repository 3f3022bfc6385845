"""Pure: Data Integrity proofs with the eddsa-rdfc-2022 cryptosuite (W3C vc-di-eddsa §3.3, VC Data Integrity §4).

Transformation: RDFC-1.0 canonical N-Quads of the document (safe-mode JSON-LD, bundled contexts only).
Hashing: SHA-256 of the canonical proof configuration, then of the canonical document, concatenated in that order.
Signature: Ed25519 over those 64 bytes; proofValue is multibase base58btc ('z').

DataIntegrityError (code: the verify response's error code)
 ├── MalformedProof          malformed: no proof, several proofs, fields missing or of the wrong type
 ├── UnsupportedCryptosuite  unsupported_algorithm: another proof type or cryptosuite, a key that is not Ed25519
 ├── InvalidDocument         invalid_credential: an undefined term or unknown context (safe mode)
 └── InvalidProofSignature   invalid_signature: the signature does not match
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import base58
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from app.credentials import jsonld

__all__ = [
    "CRYPTOSUITE",
    "PROOF_TYPE",
    "DataIntegrityError",
    "Hasher",
    "InvalidDocument",
    "InvalidProofSignature",
    "MalformedProof",
    "UnsupportedCryptosuite",
    "VerifiedProof",
    "add_proof",
    "hash_data",
    "verify_proof",
]

PROOF_TYPE: Final = "DataIntegrityProof"
CRYPTOSUITE: Final = "eddsa-rdfc-2022"
# Multicodec prefixes (varint): ed25519-pub 0xed, ed25519-priv 0x1300 (Controlled Identifiers §2.2.2, Multikey).
_ED25519_PRIV: Final = b"\x80\x26"
# XML Schema dateTimeStamp with seconds precision and a time zone, as `created` must be (VC Data Integrity §2.1).
_DATETIME: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")


class DataIntegrityError(Exception):
    """A proof that does not verify; `code` is the error code the verify endpoint reports."""

    code = "invalid_signature"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class MalformedProof(DataIntegrityError):
    code = "malformed"


class UnsupportedCryptosuite(DataIntegrityError):
    code = "unsupported_algorithm"


class InvalidDocument(DataIntegrityError):
    code = "invalid_credential"


class InvalidProofSignature(DataIntegrityError):
    code = "invalid_signature"


@dataclass(frozen=True)
class VerifiedProof:
    """A proof that verified: the document without it, and who signed when for what."""

    document: dict[str, Any]
    verification_method: str
    proof_purpose: str
    created: str | None


def private_key_from_multikey(value: str) -> ed25519.Ed25519PrivateKey:
    """The Ed25519 key of a secretKeyMultibase (0x1300 multicodec), as the W3C test vectors give it."""
    raw = _multibase_decode(value)
    if len(raw) != 34 or raw[:2] != _ED25519_PRIV:
        raise ValueError("not an Ed25519 secret Multikey (expected 0x8026 and 32 bytes)")
    return ed25519.Ed25519PrivateKey.from_private_bytes(raw[2:])


def _multibase_decode(value: str) -> bytes:
    if not value.startswith("z"):
        raise ValueError("multibase value must be base58btc ('z')")
    try:
        return bytes(base58.b58decode(value[1:]))
    except ValueError:
        raise ValueError("multibase value is not base58btc") from None


# hash_data's shape: add_proof takes another one (app.credentials.canonical_pool runs it in a worker process).
Hasher = Callable[[Mapping[str, Any], Mapping[str, Any], "Mapping[str, Any] | None"], bytes]


def hash_data(
    document: Mapping[str, Any], proof_config: Mapping[str, Any], extra_contexts: Mapping[str, Any] | None = None
) -> bytes:
    """proofConfigHash || transformedDocumentHash (vc-di-eddsa §3.3.4), both over RDFC-1.0 N-Quads."""
    try:
        canonical_config = jsonld.canonize(proof_config, extra_contexts)
        canonical_document = jsonld.canonize(document, extra_contexts)
    except jsonld.JsonLdError as exc:
        raise InvalidDocument(str(exc)) from exc
    return (
        hashlib.sha256(canonical_config.encode("utf-8")).digest()
        + hashlib.sha256(canonical_document.encode("utf-8")).digest()
    )


def add_proof(
    unsecured: Mapping[str, Any],
    private_key: ed25519.Ed25519PrivateKey,
    verification_method: str,
    created: datetime,
    proof_purpose: str = "assertionMethod",
    *,
    extra_contexts: Mapping[str, Any] | None = None,
    hasher: Hasher | None = None,
) -> dict[str, Any]:
    """The document with an embedded DataIntegrityProof (vc-di-eddsa §3.3.1); safe mode refuses undefined terms.

    hasher: computes hash_data's bytes (default: hash_data itself, in this thread).
    """
    if "proof" in unsecured:
        raise MalformedProof("The document already has a proof; proof sets and chains are not supported.")
    if created.tzinfo is None:
        raise ValueError("created must be timezone-aware")
    proof: dict[str, Any] = {
        "type": PROOF_TYPE,
        "cryptosuite": CRYPTOSUITE,
        "created": created.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "verificationMethod": verification_method,
        "proofPurpose": proof_purpose,
    }
    document = copy.deepcopy(dict(unsecured))
    # §3.3.5 proof configuration: the proof options with the document's @context.
    config = {**proof, "@context": document.get("@context")}
    signature = private_key.sign((hasher or hash_data)(document, config, extra_contexts))
    proof["proofValue"] = "z" + base58.b58encode(signature).decode("ascii")
    return {**document, "proof": proof}


def verify_proof(
    secured: Mapping[str, Any],
    resolve_public_key: Callable[[str], object],
    *,
    expected_purpose: str = "assertionMethod",
    extra_contexts: Mapping[str, Any] | None = None,
    hasher: Hasher | None = None,
) -> VerifiedProof:
    """Verify the document's one eddsa-rdfc-2022 proof (vc-di-eddsa §3.3.2); raise DataIntegrityError if not.

    `resolve_public_key(verificationMethod)` returns the key or raises (its errors pass through unchanged).
    """
    raw_proof = secured.get("proof")
    if isinstance(raw_proof, list):
        if len(raw_proof) != 1:
            raise MalformedProof("Exactly one proof is supported (no proof sets or chains).")
        raw_proof = raw_proof[0]
    if not isinstance(raw_proof, dict):
        raise MalformedProof("The credential proof must be an object.")
    proof = dict(raw_proof)
    if proof.get("type") != PROOF_TYPE:
        raise UnsupportedCryptosuite(f"Proof type {str(proof.get('type'))[:60]!r} is not supported; use {PROOF_TYPE}.")
    if proof.get("cryptosuite") != CRYPTOSUITE:
        shown = str(proof.get("cryptosuite"))[:60]
        raise UnsupportedCryptosuite(f"Cryptosuite {shown!r} is not supported; use {CRYPTOSUITE}.")
    proof_value = proof.pop("proofValue", None)
    method, purpose, created = proof.get("verificationMethod"), proof.get("proofPurpose"), proof.get("created")
    if not isinstance(proof_value, str) or not isinstance(method, str) or not method:
        raise MalformedProof("The proof needs a verificationMethod and a proofValue string.")
    if purpose != expected_purpose:
        raise MalformedProof(f"The proof purpose must be {expected_purpose!r}.")
    if created is not None and not (isinstance(created, str) and _DATETIME.fullmatch(created)):
        raise MalformedProof("The proof's created must be an XML Schema dateTimeStamp.")
    try:
        signature = _multibase_decode(proof_value)
    except ValueError:
        raise MalformedProof("The proofValue must be multibase base58btc ('z...').") from None
    if len(signature) != 64:
        raise InvalidProofSignature("The proofValue is not a 64-byte Ed25519 signature.")

    document = {key: value for key, value in secured.items() if key != "proof"}
    context = document.get("@context")
    proof_context = proof.get("@context")
    if proof_context is not None:
        # §3.3.2 step 3: the proof's @context must be a prefix of the document's, in the same order.
        doc_list = context if isinstance(context, list) else [context]
        own = proof_context if isinstance(proof_context, list) else [proof_context]
        if doc_list[: len(own)] != own:
            raise MalformedProof("The proof @context must start the document's @context.")
        context = proof_context
        document["@context"] = proof_context
    proof["@context"] = context

    public_key = resolve_public_key(method)
    if not isinstance(public_key, ed25519.Ed25519PublicKey):
        raise UnsupportedCryptosuite(f"{CRYPTOSUITE} needs an Ed25519 key; {method[:80]} is another kind of key.")
    try:
        public_key.verify(signature, (hasher or hash_data)(document, proof, extra_contexts))
    except InvalidSignature:
        raise InvalidProofSignature("The Data Integrity proof does not match the credential.") from None
    return VerifiedProof(document=document, verification_method=method, proof_purpose=purpose, created=created)
