"""options.expectedHolder: an email against the hashed IdentityObject, a DID against credentialSubject.id."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from app.verification.holder import InvalidExpectedHolder, check_holder, parse_expected_holder, with_holder
from app.verification.verifier import VerificationResult

SALT = "c2FsdHk"


def _identity(email: str, salt: str = SALT, algorithm: str = "sha256") -> dict[str, Any]:
    digest = hashlib.new(algorithm, (email + salt).encode()).hexdigest()
    return {"type": "IdentityObject", "identityHash": f"{algorithm}${digest}", "identityType": "emailAddress",
            "hashed": True, "salt": salt}


def _credential(**subject: Any) -> dict[str, Any]:
    return {"credentialSubject": {"type": ["AchievementSubject"], **subject}}


def test_email_matches_its_salted_hash_after_trimming_and_lower_casing() -> None:
    credential = _credential(identifier=[_identity("ada@example.org")])
    assert check_holder(credential, "ada@example.org") is None
    assert check_holder(credential, "  Ada@Example.ORG ") is None


def test_other_email_or_other_salt_is_a_mismatch() -> None:
    credential = _credential(identifier=[_identity("ada@example.org")])
    problem = check_holder(credential, "eve@example.org")
    assert problem is not None and problem.code == "holder_mismatch"
    unsalted = _credential(identifier=[{**_identity("ada@example.org"), "salt": "other"}])
    assert check_holder(unsalted, "ada@example.org") is not None


def test_hash_hex_may_be_upper_case_and_md5_is_allowed() -> None:
    upper = _identity("ada@example.org")
    upper["identityHash"] = "sha256$" + upper["identityHash"].split("$")[1].upper()
    assert check_holder(_credential(identifier=[upper]), "ada@example.org") is None
    assert check_holder(_credential(identifier=[_identity("ada@example.org", algorithm="md5")]),
                        "ada@example.org") is None


def test_any_of_several_identifiers_may_match_and_a_single_object_counts() -> None:
    credential = _credential(identifier=[_identity("old@example.org"), _identity("ada@example.org")])
    assert check_holder(credential, "ada@example.org") is None
    assert check_holder(_credential(identifier=_identity("ada@example.org")), "ada@example.org") is None


def test_plain_identity_compares_the_text() -> None:
    plain = {"type": "IdentityObject", "identityHash": "ada@example.org", "identityType": "emailAddress",
             "hashed": False}
    assert check_holder(_credential(identifier=[plain]), "ADA@example.org") is None


def test_no_identifier_says_so() -> None:
    problem = check_holder(_credential(id="urn:uuid:1"), "ada@example.org")
    assert problem is not None and problem.code == "holder_mismatch"
    assert "no email identifier" in problem.message


def test_unknown_hash_algorithm_never_matches() -> None:
    identity = _identity("ada@example.org")
    sha1 = hashlib.new("sha1", b"ada@example.orgc2FsdHk", usedforsecurity=False)
    identity["identityHash"] = "sha1$" + sha1.hexdigest()
    assert check_holder(_credential(identifier=[identity]), "ada@example.org") is not None


def test_did_against_subject_id() -> None:
    did = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
    credential = _credential(id=did, identifier=[_identity("ada@example.org")])
    assert check_holder(credential, did) is None
    assert check_holder(credential, did + "#" + did.split(":")[2]) is None
    problem = check_holder(credential, "did:key:z6Mkother")
    assert problem is not None and problem.code == "holder_mismatch"


@pytest.mark.parametrize("value", [3, "", "   ", "ada", "did:", "did:key", "ada @example.org", "x" * 3000, ["a@b"]])
def test_expected_holder_must_be_an_email_or_a_did(value: object) -> None:
    with pytest.raises(InvalidExpectedHolder):
        parse_expected_holder(value)


def test_with_holder_adds_a_check_or_an_error() -> None:
    good = VerificationResult(True, _credential(identifier=[_identity("ada@example.org")]), ["signature"], [], [])
    matched = with_holder(good, "ada@example.org")
    assert matched.verified and matched.checks == ["signature", "holder"]
    mismatched = with_holder(good, "eve@example.org")
    assert not mismatched.verified and [e.code for e in mismatched.errors] == ["holder_mismatch"]
    assert with_holder(good, None) is good
    unsigned = VerificationResult(False, None, [], [], [])
    assert with_holder(unsigned, "ada@example.org") is unsigned
