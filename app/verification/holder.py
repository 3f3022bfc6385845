"""PURE: does a credential name the holder a relying party expects (`options.expectedHolder`)?

An email is matched against the OB 3.0 IdentityObjects in `credentialSubject.identifier` (OB 3.0 §B.1.14
IdentityObject, §B.3.5 IdentityHash: "sha256$" or "md5$" + hex digest of the UTF-8 identifier with its salt
appended); a DID against `credentialSubject.id`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any, Final

from app.verification.verifier import Problem, VerificationResult

__all__ = ["HOLDER_CHECK", "HOLDER_MISMATCH", "InvalidExpectedHolder", "check_holder", "parse_expected_holder",
           "with_holder"]

HOLDER_CHECK: Final = "holder"
HOLDER_MISMATCH: Final = "holder_mismatch"
MAX_EXPECTED_HOLDER: Final = 2000
# OB 3.0 §B.3.5: the only hash algorithms an IdentityHash may name.
_HASHES: Final = {"sha256": hashlib.sha256, "md5": hashlib.md5}


class InvalidExpectedHolder(ValueError):
    """`options.expectedHolder` is neither an email address nor a DID."""


def parse_expected_holder(value: object) -> str | None:
    """The expected holder as given (None when absent); raises InvalidExpectedHolder for any other value."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_EXPECTED_HOLDER:
        raise InvalidExpectedHolder("options.expectedHolder must be an email address or a DID (a string).")
    text = value.strip()
    if text.startswith("did:"):
        if len(text.split(":", 2)) < 3 or not all(text.split(":", 2)):
            raise InvalidExpectedHolder("options.expectedHolder is not a DID (did:<method>:<id>).")
        return text
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain or any(char.isspace() for char in text):
        raise InvalidExpectedHolder("options.expectedHolder must be an email address or a DID.")
    return text


def _email_candidates(email: str) -> list[str]:
    # Skillproof hashes the trimmed, lower-cased address; another issuer may have hashed it as typed.
    trimmed = email.strip()
    return list(dict.fromkeys([trimmed.lower(), trimmed]))


def _identity_matches(identity: Mapping[str, Any], candidates: list[str]) -> bool:
    value = identity.get("identityHash")
    if not isinstance(value, str):
        return False
    if identity.get("hashed") is False:
        return any(hmac.compare_digest(value.strip().lower(), c.lower()) for c in candidates)
    algorithm, dollar, digest = value.partition("$")
    hash_function = _HASHES.get(algorithm.lower())
    if not dollar or hash_function is None:
        return False
    salt = identity.get("salt")
    salt = salt if isinstance(salt, str) else ""
    expected = digest.lower().encode()
    return any(
        hmac.compare_digest(hash_function((candidate + salt).encode()).hexdigest().encode(), expected)
        for candidate in candidates
    )


def check_holder(credential: Mapping[str, Any], expected: str) -> Problem | None:
    """None when the credential names `expected` (a DID or an email) as its subject; else the problem."""
    subject = credential.get("credentialSubject")
    subjects: list[Mapping[str, Any]] = [
        item for item in (subject if isinstance(subject, list) else [subject]) if isinstance(item, Mapping)
    ]
    if expected.startswith("did:"):
        # A DID URL names the same subject as its DID (DID Core §3.2): compare without path or fragment.
        did = expected.split("#", 1)[0]
        if any(item.get("id") in (did, expected) for item in subjects):
            return None
        return Problem(HOLDER_MISMATCH, "The credential subject is not the expected DID.")
    identities = []
    for item in subjects:
        identifier = item.get("identifier")
        for identity in identifier if isinstance(identifier, list) else [identifier]:
            if isinstance(identity, Mapping) and identity.get("identityType", "emailAddress") == "emailAddress":
                identities.append(identity)
    if not identities:
        return Problem(HOLDER_MISMATCH, "The credential carries no email identifier, so no email can match it.")
    candidates = _email_candidates(expected)
    if any(_identity_matches(identity, candidates) for identity in identities):
        return None
    return Problem(HOLDER_MISMATCH, "The credential's hashed email identifier does not match the expected holder.")


def with_holder(result: VerificationResult, expected: str | None) -> VerificationResult:
    """The verdict with the holder check added; unchanged when nothing is expected or the payload is untrusted."""
    if expected is None or result.credential is None:
        # No payload means it failed before its signature checked out: its claims prove nothing about anyone.
        return result
    problem = check_holder(result.credential, expected)
    if problem is None:
        return dataclasses.replace(result, checks=[*result.checks, HOLDER_CHECK])
    return dataclasses.replace(result, verified=False, errors=[*result.errors, problem])
