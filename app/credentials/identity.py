"""Pure: the holder's email as an Open Badges 3.0 IdentityObject (salted SHA-256), and matching an email to one.

OB 3.0 §B.1.x IdentityHash: "sha256$" + hex(SHA-256(UTF-8(identifier + salt))); the email is normalised first
(trimmed, lower-cased) so that the learner's own spelling of it later still matches.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Any


def normalise_email(email: str) -> str:
    return email.strip().lower()


def identity_hash(identifier: str, salt: str) -> str:
    """OB 3.0 IdentityHash: the algorithm, `$`, and the hex SHA-256 of the identifier with the salt appended."""
    return "sha256$" + hashlib.sha256((identifier + salt).encode("utf-8")).hexdigest()


def email_identity(email: str, salt: str) -> dict[str, Any]:
    """The IdentityObject for an email address, hashed with this salt."""
    return {
        "type": "IdentityObject",
        "identityHash": identity_hash(normalise_email(email), salt),
        "identityType": "emailAddress",
        "hashed": True,
        "salt": salt,
    }


def matches_email(identifiers: Iterable[Mapping[str, Any]], email: str) -> bool:
    """Whether any emailAddress IdentityObject names this email (hashed with its salt, or in plain text)."""
    wanted = normalise_email(email)
    for entry in identifiers:
        if not isinstance(entry, Mapping) or entry.get("identityType") != "emailAddress":
            continue
        value = entry.get("identityHash")
        if not isinstance(value, str):
            continue
        if entry.get("hashed") is True:
            salt = entry.get("salt", "")
            algorithm, _, digest = value.partition("$")
            # OB 3.0 allows upper- or lower-case hex; only sha256 is accepted (md5 is not evidence of anything).
            if algorithm == "sha256" and isinstance(salt, str) and hmac.compare_digest(
                identity_hash(wanted, salt), f"sha256${digest.lower()}"
            ):
                return True
        elif normalise_email(value) == wanted:
            return True
    return False
