"""app.verification.verifier: the verdict, its order of checks, and a case for every error code."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.credentials import jose
from app.verification import verifier
from app.verification.verifier import (
    CHECKS,
    Problem,
    StatusUnavailable,
    UnknownKey,
    UntrustedIssuer,
    VerificationResult,
    verify_credential,
)
from tests import vectors

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ISSUER = vectors.ISSUER
P256_KID = jose.jwk_thumbprint(jose.public_jwk(vectors.p256_key().public_key()))
REVOCATION_LIST = "https://skillproof.example/v1/status-lists/1"
SUSPENSION_LIST = "https://skillproof.example/v1/status-lists/2"
HEADER = {"alg": "EdDSA", "cty": "vc", "kid": vectors.ED25519_KID, "typ": "vc+jwt"}


class Resolver:
    """Our issuer with its two keys; every other issuer is untrusted."""

    def __init__(self) -> None:
        self.keys: dict[tuple[str, str], jose.PublicKey] = {
            (ISSUER, vectors.ED25519_KID): vectors.ed25519_key().public_key(),
            (ISSUER, P256_KID): vectors.p256_key().public_key(),
        }
        self.calls: list[tuple[str, str]] = []

    def __call__(self, issuer: str, kid: str) -> jose.PublicKey:
        self.calls.append((issuer, kid))
        if issuer != ISSUER:
            raise UntrustedIssuer(f"The issuer {issuer[:40]} is not trusted.")
        try:
            return self.keys[(issuer, kid)]
        except KeyError:
            raise UnknownKey("No published key has this kid.") from None


class Statuses:
    """Entry values by (list URL, index): 1 for those in `set_bits`, else `values`, else 0.

    URLs in `unavailable` cannot be fetched.
    """

    def __init__(
        self,
        set_bits: set[tuple[str, int]] | None = None,
        unavailable: set[str] | None = None,
        values: dict[tuple[str, int], int] | None = None,
    ) -> None:
        self.values = {**(values or {}), **{key: 1 for key in set_bits or ()}}
        self.unavailable = unavailable or set()
        self.calls: list[tuple[str, int, str, int]] = []

    def __call__(self, status_list_credential: str, index: int, purpose: str, size: int) -> int:
        self.calls.append((status_list_credential, index, purpose, size))
        if status_list_credential in self.unavailable:
            raise StatusUnavailable("The status list could not be fetched.")
        return self.values.get((status_list_credential, index), 0)


def verify(vc: object, statuses: Statuses | None = None, now: datetime = NOW, **kw: Any) -> VerificationResult:
    return verify_credential(
        vc, resolve_key=kw.pop("resolver", Resolver()), lookup_status=statuses or Statuses(), now=now, **kw
    )


def sign(payload: dict[str, Any], key: Any = None, kid: str = vectors.ED25519_KID, alg: str = "EdDSA") -> str:
    return jose.sign_compact(payload, key or vectors.ed25519_key(), kid=kid, alg=alg)


def forge(payload: dict[str, Any], header: dict[str, Any] | None = None) -> str:
    """Sign without sign_compact's own checks (for payloads it refuses to sign)."""
    return vectors.sign_raw(json.dumps(header or HEADER).encode(), json.dumps(payload).encode())


def codes(result: VerificationResult) -> list[str]:
    return [problem.code for problem in result.errors]


def assert_stopped(result: VerificationResult, code: str) -> None:
    assert result.verified is False
    assert result.credential is None
    assert codes(result) == [code]
    assert "signature" not in result.checks
    assert result.errors[0].message and "Traceback" not in result.errors[0].message


def credential(**changes: Any) -> dict[str, Any]:
    payload = vectors.credential()
    for key, value in changes.items():
        if value is None:
            payload.pop(key, None)
        else:
            payload[key] = value
    return payload


# -- the good path ---------------------------------------------------------------------------------


def test_the_golden_credential_verifies_with_every_check() -> None:
    statuses = Statuses()
    result = verify(vectors.golden_token(), statuses)
    assert result.verified is True
    assert result.errors == [] and result.warnings == []
    assert result.checks == list(CHECKS)
    assert result.credential == vectors.credential()
    assert statuses.calls == [
        (REVOCATION_LIST, 94567, "revocation", 1), (SUSPENSION_LIST, 23452, "suspension", 1)
    ]


def test_the_resolver_gets_the_issuer_id_and_the_header_kid() -> None:
    resolver = Resolver()
    verify(vectors.golden_token(), resolver=resolver)
    assert resolver.calls == [(ISSUER, vectors.ED25519_KID)]


def test_to_json_has_the_contract_shape() -> None:
    body = verify(vectors.golden_token()).to_json()
    assert set(body) == {"verified", "credential", "checks", "warnings", "errors"}
    assert body["verified"] is True and body["checks"] == list(CHECKS)
    failed = verify("not a token").to_json()
    assert failed["credential"] is None
    assert failed["errors"] == [{"code": "malformed", "message": failed["errors"][0]["message"]}]
    json.dumps(body), json.dumps(failed)


def test_an_es256_credential_verifies() -> None:
    result = verify(sign(vectors.credential(), vectors.p256_key(), P256_KID, "ES256"))
    assert result.verified is True and result.checks == list(CHECKS)


def test_an_issuer_given_as_a_string_works() -> None:
    result = verify(sign(credential(issuer=ISSUER)))
    assert result.verified is True


def test_the_enveloped_form_is_unwrapped() -> None:
    enveloped = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": "data:application/vc+jwt," + vectors.golden_token(),
        "type": "EnvelopedVerifiableCredential",
    }
    result = verify(enveloped)
    assert result.verified is True and result.credential == vectors.credential()


@pytest.mark.parametrize(
    "envelope_id",
    [
        "data:application/vc+sd-jwt,{token}",
        "data:application/jwt,{token}",
        "data:application/vc+jwt;base64,{token}",
        "{token}",
        "data:application/vc+jwt,",
        "data:application/vc+jwt,{token} ",
        None,
    ],
)
def test_a_bad_envelope_is_malformed(envelope_id: str | None) -> None:
    vc: dict[str, Any] = {"type": ["EnvelopedVerifiableCredential"]}
    if envelope_id is not None:
        vc["id"] = envelope_id.format(token=vectors.golden_token())
    assert_stopped(verify(vc), "malformed")


def test_an_embedded_proof_goes_to_its_key_through_the_resolver() -> None:
    # Issue 7 changed this: eddsa-rdfc-2022 proofs are verified (tests/test_data_integrity.py, the API tests);
    # this one names a key the issuer does not publish.
    vc = {
        **vectors.credential(),
        "proof": {
            "type": "DataIntegrityProof",
            "cryptosuite": "eddsa-rdfc-2022",
            "proofPurpose": "assertionMethod",
            "verificationMethod": f"{ISSUER}#key-1",
            "proofValue": "z58DAdFfa9SkqZMVPxAQpic7ndSayn1PzZs6ZjWp1CktyGesjuTSwRdoWhAfGFCF5bppETSTojQCrfFPP2oumHKtz",
        },
    }
    result = verify(vc)
    assert_stopped(result, "unknown_key")
    assert result.checks == ["parse", "algorithm", "issuer"]


def test_an_embedded_proof_of_another_cryptosuite_is_not_supported() -> None:
    vc = {**vectors.credential(), "proof": [{"type": "DataIntegrityProof", "cryptosuite": "eddsa-jcs-2022"}]}
    result = verify(vc)
    assert_stopped(result, "unsupported_algorithm")
    assert "eddsa-jcs-2022" in result.errors[0].message


@pytest.mark.parametrize("vc", [vectors.credential(), {**vectors.credential(), "proof": "abc"}, {"proof": []}])
def test_a_credential_object_without_a_usable_proof_is_malformed(vc: dict[str, Any]) -> None:
    assert_stopped(verify(vc), "malformed")


@pytest.mark.parametrize("vc", [None, 42, 1.5, True, [vectors.golden_token()], b"eyJ", ""])
def test_anything_else_is_malformed(vc: object) -> None:
    result = verify(vc)
    assert_stopped(result, "malformed")
    assert result.checks == []


# -- parse, algorithm, issuer, key, signature: the first failure stops ----------------------------


@pytest.mark.parametrize(
    "token",
    [
        vectors.golden_token() + ".AAAA",  # four segments
        vectors.golden_token() + "=",  # padding
        " " + vectors.golden_token(),  # whitespace
        vectors.golden_token().replace(".", ". ", 1),
    ],
)
def test_structural_damage_is_malformed(token: str) -> None:
    result = verify(token)
    assert_stopped(result, "malformed")
    assert result.checks == []


def test_duplicate_keys_are_malformed() -> None:
    header = json.dumps(HEADER).encode()
    payload = json.dumps(vectors.credential()).encode()
    duplicated_header = header.replace(b'"typ"', b'"kid": "other", "typ"')
    duplicated_payload = payload.replace(b'"validFrom"', b'"issuer": "did:web:evil.example", "validFrom"')
    assert_stopped(verify(vectors.sign_raw(duplicated_header, payload)), "malformed")
    assert_stopped(verify(vectors.sign_raw(header, duplicated_payload)), "malformed")


def test_a_wrong_typ_is_malformed() -> None:
    assert_stopped(verify(forge(vectors.credential(), {**HEADER, "typ": "JWT"})), "malformed")


def test_alg_none_is_an_unsupported_algorithm() -> None:
    header = vectors.b64url(json.dumps({**HEADER, "alg": "none"}).encode())
    payload = vectors.b64url(json.dumps(vectors.credential()).encode())
    result = verify(f"{header}.{payload}.AAAA")
    assert_stopped(result, "unsupported_algorithm")
    assert result.checks == ["parse"]


def test_hs256_keyed_with_the_public_key_is_an_unsupported_algorithm() -> None:
    import hashlib
    import hmac

    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    secret = vectors.ed25519_key().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    header = vectors.b64url(json.dumps({**HEADER, "alg": "HS256"}).encode())
    payload = vectors.b64url(json.dumps(vectors.credential()).encode())
    mac = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    assert_stopped(verify(f"{header}.{payload}.{vectors.b64url(mac)}"), "unsupported_algorithm")


def test_es256_on_the_ed25519_key_is_an_invalid_signature() -> None:
    # Signed with the P-256 key but naming the Ed25519 key's kid: the key's type decides, so it fails.
    token = vectors.sign_raw(
        json.dumps({**HEADER, "alg": "ES256"}).encode(),
        json.dumps(vectors.credential()).encode(),
        key=vectors.p256_key(),
        alg="ES256",
    )
    result = verify(token)
    assert_stopped(result, "invalid_signature")
    assert result.checks == ["parse", "algorithm", "issuer", "key"]


def test_another_kid_is_an_unknown_key() -> None:
    result = verify(sign(vectors.credential(), vectors.ed25519_second_key(), kid="another-kid"))
    assert_stopped(result, "unknown_key")
    assert result.checks == ["parse", "algorithm", "issuer"]


def test_the_right_kid_with_another_key_is_an_invalid_signature() -> None:
    result = verify(sign(vectors.credential(), vectors.ed25519_second_key()))
    assert_stopped(result, "invalid_signature")


def test_an_unknown_issuer_is_untrusted() -> None:
    payload = credential(issuer={"id": "did:web:evil.example", "type": ["Profile"]})
    result = verify(sign(payload, vectors.ed25519_second_key()))
    assert_stopped(result, "untrusted_issuer")
    assert result.checks == ["parse", "algorithm", "issuer"]


@pytest.mark.parametrize("issuer", [None, "", 7, {"name": "no id"}, {"id": ""}, ["did:web:a"]])
def test_a_missing_issuer_is_an_invalid_credential_and_stops(issuer: Any) -> None:
    payload = vectors.credential()
    if issuer is None:
        del payload["issuer"]
    else:
        payload["issuer"] = issuer
    result = verify(sign(payload))
    assert_stopped(result, "invalid_credential")
    assert result.checks == ["parse", "algorithm"]


def test_an_altered_score_re_encoded_without_re_signing_is_an_invalid_signature() -> None:
    header, _, signature = vectors.golden_token().split(".")
    payload = vectors.credential()
    payload["credentialSubject"]["result"][0]["value"] = "100"
    altered = vectors.b64url(json.dumps(payload, separators=(",", ":")).encode())
    result = verify(f"{header}.{altered}.{signature}")
    assert_stopped(result, "invalid_signature")


def test_every_single_character_change_is_rejected_before_the_credential_is_trusted() -> None:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    token = vectors.golden_token()
    allowed = {
        "malformed",
        "invalid_signature",
        "unsupported_algorithm",
        "unknown_key",
        # A flip inside the payload can change the issuer (untrusted) or remove it (invalid) before the
        # signature is checked; either way nothing of the payload is returned.
        "untrusted_issuer",
        "invalid_credential",
    }
    for position, char in enumerate(token):
        if char == ".":
            continue
        tampered = token[:position] + alphabet[(alphabet.index(char) + 1) % 64] + token[position + 1 :]
        result = verify(tampered)
        assert result.verified is False and result.credential is None, position
        assert codes(result)[0] in allowed and len(result.errors) == 1, position


# -- after the signature: every problem is reported ------------------------------------------------


def test_not_yet_valid() -> None:
    result = verify(vectors.golden_token(), now=datetime(2026, 1, 15, 9, 58, tzinfo=UTC))
    assert result.verified is False
    assert codes(result) == ["not_yet_valid"]
    assert result.credential == vectors.credential()
    assert "validity_period" not in result.checks and "credential" in result.checks


def test_validity_period_has_leeway() -> None:
    just_before = datetime(2026, 1, 15, 9, 59, 30, tzinfo=UTC)
    assert verify(vectors.golden_token(), now=just_before).verified is True
    assert verify(vectors.golden_token(), now=just_before, leeway=timedelta(0)).verified is False
    just_after = datetime(2028, 1, 15, 10, 0, 30, tzinfo=UTC)
    assert verify(vectors.golden_token(), now=just_after).verified is True
    assert codes(verify(vectors.golden_token(), now=just_after, leeway=timedelta(0))) == ["expired"]


def test_expired() -> None:
    result = verify(vectors.golden_token(), now=datetime(2028, 1, 15, 10, 2, tzinfo=UTC))
    assert codes(result) == ["expired"]
    assert "2028-01-15T10:00:00Z" in result.errors[0].message


def test_no_valid_until_never_expires() -> None:
    result = verify(sign(credential(validUntil=None)), now=datetime(2099, 1, 1, tzinfo=UTC))
    assert result.verified is True


def test_jwt_exp_and_nbf_are_checked_too() -> None:
    # exp without validUntil stands for it (OB 3.0 §8.2.4.1); nbf must equal validFrom (tests/test_vc_jwt.py).
    expired = sign(credential(exp=int(NOW.timestamp()) - 3600, validUntil=None))
    assert codes(verify(expired)) == ["expired"]
    early = sign(credential(nbf=int(NOW.timestamp()) + 3600, validFrom="2026-06-01T13:00:00Z"))
    assert codes(verify(early)) == ["not_yet_valid"]
    fine = sign(credential(nbf=int(NOW.timestamp()) - 10, validFrom="2026-06-01T11:59:50Z",
                           exp=int(NOW.timestamp()) + 10, validUntil="2026-06-01T12:00:10Z", iat=0))
    assert verify(fine).verified is True


def test_revoked() -> None:
    result = verify(vectors.golden_token(), Statuses({(REVOCATION_LIST, 94567)}))
    assert codes(result) == ["revoked"]
    assert "status:revocation" not in result.checks and "status:suspension" in result.checks
    assert result.credential == vectors.credential()


def test_suspended() -> None:
    result = verify(vectors.golden_token(), Statuses({(SUSPENSION_LIST, 23452)}))
    assert codes(result) == ["suspended"]
    assert "status:revocation" in result.checks and "status:suspension" not in result.checks


def test_a_neighbouring_bit_does_not_count() -> None:
    result = verify(vectors.golden_token(), Statuses({(REVOCATION_LIST, 94566), (REVOCATION_LIST, 94568)}))
    assert result.verified is True


def test_status_unavailable() -> None:
    result = verify(vectors.golden_token(), Statuses(unavailable={REVOCATION_LIST}))
    assert codes(result) == ["status_unavailable"]
    assert result.errors[0].message == "The status list could not be fetched."
    assert "status:revocation" not in result.checks and "status:suspension" in result.checks


def test_all_problems_after_the_signature_are_collected() -> None:
    payload = credential(iss="did:web:someone-else.example", validUntil="2026-02-01T00:00:00Z")
    statuses = Statuses({(REVOCATION_LIST, 94567)}, unavailable={SUSPENSION_LIST})
    result = verify(sign(payload), statuses)
    assert codes(result) == ["invalid_credential", "expired", "revoked", "status_unavailable"]
    assert result.checks == ["parse", "algorithm", "issuer", "key", "signature"]
    assert result.credential == payload


def test_a_credential_of_ours_without_status_is_invalid() -> None:
    """Every credential we issue carries status; one without could never be revoked, so it does not verify."""
    statuses = Statuses()
    token = vectors.vector_token("credential-no-status.ed25519.jwt")
    result = verify(token, statuses)
    assert result.verified is False
    assert codes(result) == ["invalid_credential"]
    assert "credentialStatus" in result.errors[0].message
    assert "credential" not in result.checks and "signature" in result.checks
    assert statuses.calls == []
    # The same payload with status (the golden token) verifies: only the missing status is at fault.
    assert verify(vectors.golden_token()).verified is True


def test_no_status_is_only_a_warning_for_an_issuer_listed_as_status_optional() -> None:
    statuses = Statuses()
    token = vectors.vector_token("credential-no-status.ed25519.jwt")
    result = verify(token, statuses, status_optional_issuers=frozenset({ISSUER}))
    assert result.verified is True
    assert [w.code for w in result.warnings] == ["no_status"]
    assert result.checks == list(CHECKS[:7])
    assert statuses.calls == []
    other = verify(token, statuses, status_optional_issuers=frozenset({"did:web:other.example"}))
    assert codes(other) == ["invalid_credential"]


def test_a_single_status_object_is_accepted() -> None:
    entry = vectors.credential()["credentialStatus"][0]
    result = verify(sign(credential(credentialStatus=entry)))
    assert result.verified is True
    assert "status:revocation" in result.checks and "status:suspension" not in result.checks


def test_other_status_purposes_and_types_are_warnings() -> None:
    entries = [
        *vectors.credential()["credentialStatus"],
        {
            "type": "BitstringStatusListEntry",
            "statusPurpose": "refresh",
            "statusListIndex": "7",
            "statusListCredential": "https://skillproof.example/v1/status-lists/3",
        },
        {"type": "StatusList2021Entry", "statusListIndex": "7", "statusListCredential": "https://x.example/1"},
    ]
    statuses = Statuses()
    result = verify(sign(credential(credentialStatus=entries)), statuses)
    assert result.verified is True
    assert [w.code for w in result.warnings] == ["unsupported_status_type", "unsupported_status_purpose"]
    assert [call[2] for call in statuses.calls] == ["revocation", "suspension"]


def test_a_wider_revocation_entry_fails_closed() -> None:
    entry = {**vectors.credential()["credentialStatus"][0], "statusSize": 2,
             "statusMessage": [{"status": f"0x{value}", "message": str(value)} for value in range(4)]}
    result = verify(sign(credential(credentialStatus=[entry])))
    assert codes(result) == ["status_unavailable"]


# -- one message entry (statusPurpose "message", statusSize 2): bit 2 revoked, bit 1 suspended ----------

MESSAGE_LIST = "https://skillproof.example/v1/status-lists/8"
MESSAGE_TABLE = [
    {"status": "0x0", "message": "valid"},
    {"status": "0x1", "message": "suspended"},
    {"status": "0x2", "message": "revoked"},
    {"status": "0x3", "message": "revoked"},
]


def message_entry(**changes: Any) -> dict[str, Any]:
    entry = {
        "id": f"{MESSAGE_LIST}#492847",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "message",
        "statusListIndex": "492847",
        "statusSize": 2,
        "statusMessage": [dict(item) for item in MESSAGE_TABLE],
        "statusListCredential": MESSAGE_LIST,
    }
    for key, value in changes.items():
        if value is None:
            entry.pop(key, None)
        else:
            entry[key] = value
    return entry


def test_the_issued_entry_shape_is_what_the_verifier_reads() -> None:
    from app.status_lists import messages

    assert messages.entry(MESSAGE_LIST, 492847) == message_entry()


@pytest.mark.parametrize(
    "value, errors, checks",
    [
        (0, [], ["status:revocation", "status:suspension"]),
        (1, ["suspended"], ["status:revocation"]),
        (2, ["revoked"], ["status:suspension"]),
        (3, ["revoked", "suspended"], []),
    ],
)
def test_one_message_entry_gives_revocation_and_suspension(value: int, errors: list[str], checks: list[str]) -> None:
    statuses = Statuses(values={(MESSAGE_LIST, 492847): value})
    result = verify(sign(credential(credentialStatus=message_entry())), statuses)
    assert codes(result) == errors
    assert [check for check in result.checks if check.startswith("status:")] == checks
    assert result.warnings == []
    assert statuses.calls == [(MESSAGE_LIST, 492847, "message", 2)]
    if not errors:
        assert result.checks == list(CHECKS)


def test_an_unavailable_message_list_fails_both_status_checks() -> None:
    result = verify(sign(credential(credentialStatus=message_entry())), Statuses(unavailable={MESSAGE_LIST}))
    assert codes(result) == ["status_unavailable"]
    assert not [check for check in result.checks if check.startswith("status:")]


def test_an_unknown_message_table_is_a_warning_with_its_text() -> None:
    table = [{"status": "0x0", "message": "pending_review"}, {"status": "0x1", "message": "accepted"},
             {"status": "0x2", "message": "rejected"}, {"status": "0x3", "message": "undefined"}]
    statuses = Statuses(values={(MESSAGE_LIST, 492847): 2})
    result = verify(sign(credential(credentialStatus=message_entry(statusMessage=table))), statuses)
    assert result.verified is True and result.errors == []
    assert [w.code for w in result.warnings] == ["status_message"]
    assert "0x2" in result.warnings[0].message and "rejected" in result.warnings[0].message
    assert not [check for check in result.checks if check.startswith("status:")]
    # A one-bit message entry without statusMessage reads "set" / "unset" (§2.1).
    one_bit = message_entry(statusSize=None, statusMessage=None)
    result = verify(sign(credential(credentialStatus=one_bit)), Statuses(values={(MESSAGE_LIST, 492847): 1}))
    assert [w.code for w in result.warnings] == ["status_message"] and "'set'" in result.warnings[0].message


@pytest.mark.parametrize(
    "changes",
    [
        {"statusMessage": None},  # MUST be present when statusSize > 1
        {"statusMessage": MESSAGE_TABLE[:3]},  # 2^statusSize elements
        {"statusMessage": [*MESSAGE_TABLE, {"status": "0x4", "message": "extra"}]},
        {"statusMessage": [*MESSAGE_TABLE[:3], {"status": "0x2", "message": "revoked"}]},  # a value twice
        {"statusMessage": [*MESSAGE_TABLE[:3], {"status": "3", "message": "revoked"}]},  # not 0x-prefixed hex
        {"statusMessage": [*MESSAGE_TABLE[:3], {"status": "0x3"}]},  # no message
        {"statusMessage": [*MESSAGE_TABLE[:3], "0x3"]},
        {"statusMessage": {"status": "0x0", "message": "valid"}},
        {"statusSize": 3},  # 8 values, 4 messages
        {"statusSize": 1},  # 2 values, 4 messages
        {"statusSize": 64},
        {"statusSize": True},
    ],
)
def test_invalid_message_entries(changes: dict[str, Any]) -> None:
    statuses = Statuses()
    result = verify(sign(credential(credentialStatus=message_entry(**changes))), statuses)
    assert codes(result) == ["invalid_credential"]
    assert statuses.calls == []


def test_extra_properties_in_status_messages_are_allowed() -> None:
    table = [{**item, "description": "see statusReference"} for item in MESSAGE_TABLE]
    entry = message_entry(statusMessage=table, statusReference="https://skillproof.example/status")
    result = verify(sign(credential(credentialStatus=entry)), Statuses(values={(MESSAGE_LIST, 492847): 2}))
    assert codes(result) == ["revoked"]


def test_iss_equal_to_the_issuer_is_fine_and_different_is_invalid() -> None:
    assert verify(sign(credential(iss=ISSUER))).verified is True
    result = verify(sign(credential(iss="did:web:evil.example")))
    assert codes(result) == ["invalid_credential"]
    assert "iss" in result.errors[0].message
    assert "credential" not in result.checks and "validity_period" in result.checks


def _subject(**changes: Any) -> dict[str, Any]:
    subject: dict[str, Any] = vectors.credential()["credentialSubject"]
    for key, value in changes.items():
        if value is None:
            subject.pop(key)
        else:
            subject[key] = value
    return subject


@pytest.mark.parametrize(
    "changes",
    [
        {"@context": None},
        {"@context": ["https://www.w3.org/2018/credentials/v1"]},
        {
            "@context": [
                "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
                "https://www.w3.org/ns/credentials/v2",
            ]
        },
        {"@context": ["https://www.w3.org/ns/credentials/v2"]},  # an Open Badge without the OB context
        {"type": None},
        {"type": ["OpenBadgeCredential"]},
        {"type": ["VerifiableCredential", 7]},
        {"id": 7},
        {"credentialSubject": None},
        {"credentialSubject": "did:example:learner"},
        {"credentialSubject": [_subject()]},
        {"credentialSubject": _subject(achievement=None)},
        {"credentialSubject": _subject(achievement="python")},
        {"credentialSubject": _subject(type=None)},
        {"credentialSubject": _subject(type=["Person"])},
        {"validFrom": None},
        {"validFrom": "2026-01-15T10:00:00"},  # no time zone
        {"validFrom": "2026-01-15"},
        {"validFrom": "2026-02-30T10:00:00Z"},
        {"validFrom": "2026-01-15T10:00:00z"},
        {"validFrom": 1768471200},
        {"validUntil": "next year"},
        {"validUntil": "2025-01-15T10:00:00Z"},  # before validFrom
        {"exp": "2030-01-01"},
        {"nbf": True},
        {"credentialStatus": "revocation"},
        {"credentialStatus": []},
        {"credentialStatus": [{"statusPurpose": "revocation"}]},
    ],
)
def test_invalid_credentials(changes: dict[str, Any]) -> None:
    result = verify(forge(credential(**changes)))
    assert result.verified is False
    assert "invalid_credential" in codes(result)
    assert "credential" not in result.checks
    assert result.credential is not None


@pytest.mark.parametrize("claim", ["vc", "vp"])
def test_vc_and_vp_claims_are_invalid(claim: str) -> None:
    result = verify(forge({**vectors.credential(), claim: {"type": "VerifiableCredential"}}))
    assert codes(result) == ["invalid_credential"]


@pytest.mark.parametrize(
    "changes",
    [
        {"statusListIndex": "01"},
        {"statusListIndex": 94567},
        {"statusListIndex": "-1"},
        {"statusListIndex": "0x10"},
        {"statusListIndex": None},
        {"statusPurpose": None},
        {"statusPurpose": ""},
        {"statusListCredential": None},
        {"statusListCredential": "not a url"},
        {"statusListCredential": "/v1/status-lists/1"},
        {"id": REVOCATION_LIST},  # MUST NOT be the URL of the status list (§2.1)
        {"statusSize": 0},
        {"statusSize": "1"},
        {"type": None},
    ],
)
def test_invalid_status_entries(changes: dict[str, Any]) -> None:
    entry = vectors.credential()["credentialStatus"][0]
    for key, value in changes.items():
        if value is None:
            entry.pop(key, None)
        else:
            entry[key] = value
    statuses = Statuses()
    result = verify(sign(credential(credentialStatus=[entry])), statuses)
    assert codes(result) == ["invalid_credential"]
    assert statuses.calls == []


def test_our_status_list_credential_is_not_a_verifiable_achievement() -> None:
    """Issue 6: a BitstringStatusListCredential signed by our key verified as `verified: true`."""
    token = vectors.vector_token("status-list.ed25519.jwt")
    assert jose.parse_compact(token).payload == vectors.status_list()
    result = verify(token)
    assert result.verified is False
    assert "invalid_credential" in codes(result)
    assert any("OpenBadgeCredential" in problem.message for problem in result.errors)
    assert "signature" in result.checks and "credential" not in result.checks


@pytest.mark.parametrize(
    "types",
    [
        ["VerifiableCredential"],
        ["VerifiableCredential", "BitstringStatusListCredential"],
        ["VerifiableCredential", "VerifiablePresentation"],
        ["VerifiableCredential", "OpenBadgeCredentialX"],
        "VerifiableCredential",
    ],
)
def test_any_other_credential_type_is_invalid(types: object) -> None:
    payload = credential(type=types)
    result = verify(sign(payload))
    assert result.verified is False
    assert codes(result) == ["invalid_credential"]


@pytest.mark.parametrize("badge_type", ["OpenBadgeCredential", "AchievementCredential"])
def test_both_open_badge_types_verify(badge_type: str) -> None:
    assert verify(sign(credential(type=["VerifiableCredential", badge_type]))).verified is True


def test_cty_vp_is_malformed() -> None:
    """Issue 6: `cty` was ignored, even "vp"; the golden credential under a `cty: vp` header is refused."""
    token = vectors.vector_token("credential.cty-vp.ed25519.jwt")
    result = verify(token)
    assert_stopped(result, "malformed")
    assert "cty" in result.errors[0].message


@pytest.mark.parametrize("cty", ["vp", "application/vp", "jwt", "JWT", "vc+jwt", "", "vc ", 7, None, ["vc"]])
def test_a_cty_other_than_vc_is_malformed(cty: object) -> None:
    assert_stopped(verify(forge(vectors.credential(), {**HEADER, "cty": cty})), "malformed")


@pytest.mark.parametrize("cty", ["vc", "application/vc", "VC"])
def test_cty_vc_in_its_rfc7515_spellings_verifies(cty: str) -> None:
    assert verify(forge(vectors.credential(), {**HEADER, "cty": cty})).verified is True


def test_cty_may_be_absent() -> None:
    header = {key: value for key, value in HEADER.items() if key != "cty"}
    assert verify(forge(vectors.credential(), header)).verified is True


def test_the_es256_golden_vector_verifies_and_its_high_s_twin_does_not() -> None:
    """Issue 6: the `(r, n - s)` twin of a valid ES256 signature verified too; now only low-S does."""
    token = vectors.vector_token("credential.p256.jwt")
    twin = vectors.vector_token("credential.p256-high-s-twin.jwt")
    assert token.rpartition(".")[0] == twin.rpartition(".")[0] and token != twin
    r, s = jose.b64url_decode(token.rpartition(".")[2])[:32], jose.b64url_decode(token.rpartition(".")[2])[32:]
    twin_signature = jose.b64url_decode(twin.rpartition(".")[2])
    assert twin_signature[:32] == r
    assert int.from_bytes(twin_signature[32:], "big") == jose.P256_ORDER - int.from_bytes(s, "big")
    assert verify(token).verified is True
    result = verify(twin)
    assert_stopped(result, "invalid_signature")
    assert "low-S" in result.errors[0].message


def test_achievement_credential_is_treated_as_an_open_badge() -> None:
    payload = credential(type=["VerifiableCredential", "AchievementCredential"], validFrom=None)
    assert "invalid_credential" in codes(verify(sign(payload)))


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        verify(vectors.golden_token(), now=datetime(2026, 6, 1))


def test_resolver_failures_other_than_the_contract_propagate() -> None:
    def broken(issuer: str, kid: str) -> jose.PublicKey:
        raise RuntimeError("database is down")

    with pytest.raises(RuntimeError):
        verify(vectors.golden_token(), resolver=broken)


def test_problem_and_result_are_frozen() -> None:
    problem = Problem("expired", "The credential expired.")
    with pytest.raises(AttributeError):
        problem.code = "other"  # type: ignore[misc]
    assert problem.to_json() == {"code": "expired", "message": "The credential expired."}


# -- dateTimeStamp -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-15T10:00:00Z", datetime(2026, 1, 15, 10, tzinfo=UTC)),
        ("2026-01-15T10:00:00.5Z", datetime(2026, 1, 15, 10, 0, 0, 500000, tzinfo=UTC)),
        ("2026-01-15T10:00:00.123456789Z", datetime(2026, 1, 15, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2026-01-15T12:00:00+02:00", datetime(2026, 1, 15, 10, tzinfo=UTC)),
        ("2026-01-15T05:30:00-04:30", datetime(2026, 1, 15, 10, tzinfo=UTC)),
        ("2026-01-15T24:00:00Z", datetime(2026, 1, 16, tzinfo=UTC)),
        ("2026-01-15T10:00:00+14:00", datetime(2026, 1, 14, 20, tzinfo=UTC)),
        ("2024-02-29T00:00:00Z", datetime(2024, 2, 29, tzinfo=UTC)),
        ("10000-01-01T00:00:00Z", datetime.max.replace(tzinfo=UTC)),
        ("9999-12-31T23:00:00-05:00", datetime.max.replace(tzinfo=UTC)),
    ],
)
def test_datetime_stamp_parsing(text: str, expected: datetime) -> None:
    assert verifier.parse_datetime_stamp(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2026-01-15T10:00:00",
        "2026-01-15 10:00:00Z",
        "2026-01-15t10:00:00Z",
        "2026-01-15T10:00Z",
        "2026-1-15T10:00:00Z",
        "2025-02-29T00:00:00Z",
        "2026-01-15T10:00:60Z",
        "2026-01-15T24:00:01Z",
        "2026-01-15T10:00:00+15:00",
        "2026-01-15T10:00:00+14:30",
        "2026-01-15T10:00:00.Z",
        "0000-01-01T00:00:00Z",
        "\uff12026-01-15T10:00:00Z",
        "",
        None,
    ],
)
def test_datetime_stamp_rejects(text: object) -> None:
    if text == "0000-01-01T00:00:00Z":
        # Year 0000 is valid in XML Schema 1.1 (1 BCE); it clamps to the earliest representable instant.
        assert verifier.parse_datetime_stamp(text) == datetime.min.replace(tzinfo=UTC)
        return
    assert verifier.parse_datetime_stamp(text) is None


def test_golden_token_payload_is_the_vector_credential() -> None:
    payload = vectors.golden_token().split(".")[1]
    assert json.loads(base64.urlsafe_b64decode(payload + "==")) == vectors.credential()


def test_the_verified_tokens_cache_changes_no_verdict() -> None:
    """A cache hit skips only the repeated parse and signature; trust, key, time and status still decide."""
    from app.verification.verifier import VerifiedTokens

    cache = VerifiedTokens(max_entries=2)
    resolver = Resolver()
    token = sign(credential())
    first = verify(token, resolver=resolver, verified_tokens=cache)
    assert first.verified and cache.get(token) is not None
    assert verify(token, resolver=resolver, verified_tokens=cache) == first
    # The kid is no longer published: the cached signature does not help.
    del resolver.keys[(ISSUER, vectors.ED25519_KID)]
    assert codes(verify(token, resolver=resolver, verified_tokens=cache)) == ["unknown_key"]
    # Another key object under the same kid is checked afresh, never trusted from the cache.
    resolver.keys[(ISSUER, vectors.ED25519_KID)] = vectors.ed25519_second_key().public_key()
    assert codes(verify(token, resolver=resolver, verified_tokens=cache)) == ["invalid_signature"]
    # Status and time are judged on every call.
    fresh = Resolver()
    verify(token, resolver=fresh, verified_tokens=cache)
    revoked = Statuses(set_bits={(entry["statusListCredential"], int(entry["statusListIndex"]))
                                 for entry in credential()["credentialStatus"]})
    assert set(codes(verify(token, revoked, resolver=fresh, verified_tokens=cache))) == {"revoked", "suspended"}
    later = NOW + timedelta(days=365 * 50)
    assert "expired" in codes(verify(sign(credential(validUntil="2030-01-01T00:00:00Z")), now=later,
                                     resolver=fresh, verified_tokens=cache))


def test_ed25519_cache_hits_need_the_same_signed_bytes_and_the_cache_stays_bounded() -> None:
    """Ed25519 entries are found by the signature alone: a hit also needs the very bytes that were signed."""
    from app.verification.verifier import VerifiedTokens

    cache = VerifiedTokens()
    resolver = Resolver()
    token = sign(credential())
    assert verify(token, resolver=resolver, verified_tokens=cache).verified and cache.get(token) is not None
    signature = token.rpartition(".")[2]
    other = sign(credential(name="Another badge")).rpartition(".")[0]
    assert codes(verify(f"{other}.{signature}", resolver=resolver, verified_tokens=cache)) == ["invalid_signature"]
    assert cache.get(token) is not None  # the failed token took nothing out

    one_entry = len(token.rpartition(".")[0]) + 64
    small = VerifiedTokens(max_bytes=3 * one_entry)
    tokens = [sign(credential(id=f"urn:uuid:00000000-0000-4000-8000-00000000000{n}")) for n in range(6)]
    for each in tokens:
        assert verify(each, resolver=resolver, verified_tokens=small).verified
    assert [small.get(each) is not None for each in tokens] == [False] * 3 + [True] * 3
    assert small._bytes <= small.max_bytes


def test_every_error_class_stands_for_one_contract_code() -> None:
    from app.verification import errors

    tree = {
        jose.MalformedJose: "malformed",
        jose.UnsupportedAlgorithm: "unsupported_algorithm",
        jose.InvalidSignature: "invalid_signature",
        errors.UntrustedIssuer: "untrusted_issuer",
        errors.UnknownKey: "unknown_key",
        errors.StatusUnavailable: "status_unavailable",
    }
    for error_class, code in tree.items():
        assert error_class("x").code == code
    assert issubclass(UnknownKey, errors.VerificationError) and issubclass(jose.InvalidSignature, jose.JoseError)
