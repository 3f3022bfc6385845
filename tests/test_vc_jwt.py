"""The OB 3.0 VC-JWT profile: claims, DID URL kids, the Ed25519 alg name, Multikey, and our key resolver."""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import base58
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from joserfc import jws as joserfc_jws
from joserfc.jwk import ECKey, OKPKey

from app.credentials import jose
from app.keys.keystore import FileKeyStore
from app.verification import verifier
from app.verification.service import LocalKeyResolver
from tests import vectors

ISSUER = vectors.ISSUER
P256_KID = jose.jwk_thumbprint(jose.public_jwk(vectors.p256_key().public_key()))
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
# validFrom 2026-01-15T10:00:00Z and validUntil 2028-01-15T10:00:00Z of tests/vectors/credential.json, in seconds.
NBF = int(datetime(2026, 1, 15, 10, 0, tzinfo=UTC).timestamp())
EXP = int(datetime(2028, 1, 15, 10, 0, tzinfo=UTC).timestamp())


class Statuses:
    """Every status entry clear (value 0)."""

    def __call__(self, status_list_credential: str, index: int, purpose: str, size: int) -> int:
        return 0


def _install(directory: Path, private_key: Any) -> None:
    """A checked-in test key as a key file of our keystore (`<thumbprint>.pem`, 0600), made the active one."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    kid = jose.jwk_thumbprint(jose.public_jwk(private_key.public_key()))
    path = directory / f"{kid}.pem"
    path.write_bytes(private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ))
    os.chmod(path, 0o600)
    (directory / "active").write_text(kid + "\n")


@pytest.fixture
def keystore(tmp_path: Path) -> FileKeyStore:
    """Our real keystore holding the test keys: P-256 signs vc+jwt (active), Ed25519 retired, Ed25519 for DI."""
    _install(tmp_path, vectors.ed25519_key())
    _install(tmp_path, vectors.p256_key())
    _install(tmp_path / "data-integrity", vectors.ed25519_second_key())
    store = FileKeyStore(tmp_path)
    store.ensure()
    return store


def _verify(token: str, keystore: FileKeyStore, former: frozenset[str] = frozenset()) -> verifier.VerificationResult:
    resolver = LocalKeyResolver(keystore, ISSUER, former)
    return verifier.verify_credential(token, resolve_key=resolver, lookup_status=Statuses(), now=NOW)


def _codes(result: verifier.VerificationResult) -> list[str]:
    return [problem.code for problem in result.errors]


def _payload(token: str) -> dict[str, Any]:
    segment = token.split(".")[1]
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    return data


def _sign(payload: dict[str, Any], kid: str = f"{ISSUER}#{P256_KID}") -> str:
    return jose.sign_compact(payload, vectors.p256_key(), kid=kid, alg="ES256")


# -- the claims ------------------------------------------------------------------------------------


def test_claims_are_the_credential_plus_iss_jti_sub_nbf_exp_and_no_iat() -> None:
    credential = vectors.credential()
    claims = jose.claims_for(credential)
    extra = {key: value for key, value in claims.items() if key not in credential}
    assert extra == {"iss": ISSUER, "jti": credential["id"], "sub": "did:example:learner-42", "nbf": NBF, "exp": EXP}
    assert {key: claims[key] for key in credential} == credential
    assert claims == vectors.credential_claims()  # the payload of the new golden vectors
    without_end = {key: value for key, value in credential.items() if key != "validUntil"}
    assert "exp" not in jose.claims_for(without_end)


def test_fractional_seconds_give_a_fractional_numeric_date() -> None:
    credential = {**vectors.credential(), "validFrom": "2026-01-15T10:00:00.250Z"}
    assert jose.claims_for(credential)["nbf"] == NBF + 0.25


@pytest.mark.parametrize("value", ["2026-01-15T10:00:00", "yesterday", 1768471200])
def test_claims_refuse_a_credential_whose_dates_are_not_datetime_stamps(value: object) -> None:
    with pytest.raises(jose.MalformedJose, match="validFrom"):
        jose.claims_for({**vectors.credential(), "validFrom": value})


def test_the_es256_did_url_vector_verifies_with_every_check(keystore: FileKeyStore) -> None:
    token = vectors.vector_token("credential.p256-did-url.jwt")
    parsed = jose.parse_compact(token)
    assert parsed.header == {"alg": "ES256", "cty": "vc", "kid": f"{ISSUER}#{P256_KID}", "typ": "vc+jwt"}
    assert parsed.payload == vectors.credential_claims()
    result = _verify(token, keystore)
    assert result.verified is True, result.errors
    assert "signature" in result.checks and "credential" in result.checks and "validity_period" in result.checks


def test_joserfc_verifies_the_new_vectors_from_the_public_jwk_alone() -> None:
    es256 = vectors.vector_token("credential.p256-did-url.jwt")
    public = ECKey.import_key({**jose.public_jwk(vectors.p256_key().public_key())})
    assert json.loads(joserfc_jws.deserialize_compact(es256, public, algorithms=["ES256"]).payload) == _payload(es256)
    ed25519_token = vectors.vector_token("credential.ed25519-alg-did-url.jwt")
    okp = OKPKey.import_key({**jose.public_jwk(vectors.ed25519_key().public_key())})
    result = joserfc_jws.deserialize_compact(ed25519_token, okp, algorithms=["Ed25519"])
    assert result.protected["alg"] == "Ed25519"


def test_the_fully_specified_ed25519_vector_is_reproduced_and_verifies(keystore: FileKeyStore) -> None:
    token = jose.sign_compact(vectors.credential_claims(), vectors.ed25519_key(),
                              kid=f"{ISSUER}#{vectors.ED25519_KID}", alg="Ed25519")
    assert token == vectors.vector_token("credential.ed25519-alg-did-url.jwt")  # Ed25519 is deterministic
    assert _verify(token, keystore).verified is True
    # The same key under the deprecated name still verifies (RFC 9864 §2.2 keeps EdDSA registered).
    assert _verify(_sign_ed25519(vectors.credential_claims(), "EdDSA"), keystore).verified is True


def _sign_ed25519(payload: dict[str, Any], alg: str) -> str:
    return jose.sign_compact(payload, vectors.ed25519_key(), kid=f"{ISSUER}#{vectors.ED25519_KID}", alg=alg)


def test_the_ed25519_alg_name_on_a_p256_key_is_an_invalid_signature(keystore: FileKeyStore) -> None:
    good = vectors.vector_token("credential.p256-did-url.jwt")
    header = {"alg": "Ed25519", "cty": "vc", "kid": f"{ISSUER}#{P256_KID}", "typ": "vc+jwt"}
    forged = vectors.sign_raw(json.dumps(header).encode(), json.dumps(_payload(good)).encode())
    assert _codes(_verify(forged, keystore)) == ["invalid_signature"]
    with pytest.raises(jose.UnsupportedAlgorithm, match="does not match the key type"):
        jose.sign_compact(vectors.credential(), vectors.p256_key(), kid="k", alg="Ed25519")


def test_old_tokens_without_jti_sub_nbf_keep_verifying(keystore: FileKeyStore) -> None:
    golden = vectors.golden_token()  # issued before: a bare thumbprint kid and none of these claims
    assert {"jti", "sub", "nbf", "exp"}.isdisjoint(_payload(golden))
    assert _verify(golden, keystore).verified is True


@pytest.mark.parametrize(
    ("claim", "value", "message"),
    [
        ("jti", "urn:uuid:00000000-0000-4000-8000-000000000000", "'jti' differs from the credential id"),
        ("sub", "did:example:someone-else", "'sub' differs from credentialSubject.id"),
        ("nbf", NBF - 3600, "'nbf' differs from validFrom"),
        ("exp", EXP + 86400, "'exp' differs from validUntil"),
        ("exp", "2028-01-15T10:00:00Z", "'exp' claim must be a number"),
    ],
)
def test_a_claim_that_disagrees_with_the_credential_is_invalid(
    keystore: FileKeyStore, claim: str, value: object, message: str
) -> None:
    payload = {**vectors.credential_claims(), claim: value}
    result = _verify(_sign(payload), keystore)
    assert "invalid_credential" in _codes(result)
    assert any(message in problem.message for problem in result.errors), result.errors


def test_claims_within_a_second_of_the_dates_agree(keystore: FileKeyStore) -> None:
    payload = {**vectors.credential_claims(), "validFrom": "2026-01-15T10:00:00.900Z"}
    assert payload["nbf"] == NBF  # a NumericDate truncated to whole seconds
    assert _verify(_sign(payload), keystore).verified is True


def test_sub_without_a_subject_id_and_jti_without_an_id_are_invalid(keystore: FileKeyStore) -> None:
    payload = vectors.credential_claims()
    del payload["id"]
    payload["credentialSubject"] = {k: v for k, v in payload["credentialSubject"].items() if k != "id"}
    result = _verify(_sign(payload), keystore)
    assert [problem.message for problem in result.errors] == [
        "The JWT 'jti' differs from the credential id.", "The JWT 'sub' differs from credentialSubject.id."
    ]


# -- kid as a DID URL, resolved by our keystore ------------------------------------------------------


def test_the_keystore_signs_with_a_did_url_kid_from_iss(keystore: FileKeyStore) -> None:
    token, kid = keystore.sign(vectors.credential_claims())
    assert kid == P256_KID  # what the credential row records: the keystore's kid
    assert jose.parse_compact(token).header["kid"] == f"{ISSUER}#{P256_KID}"
    assert _verify(token, keystore).verified is True
    token, _ = keystore.sign(vectors.credential_claims(), did="did:web:other.example")
    assert jose.parse_compact(token).header["kid"] == f"did:web:other.example#{P256_KID}"


@pytest.mark.parametrize(
    ("kid", "former", "code"),
    [
        (f"{ISSUER}#{P256_KID}", frozenset(), None),
        (P256_KID, frozenset(), None),  # a bare thumbprint: tokens issued before
        (f"#{P256_KID}", frozenset(), None),  # relative to the issuer
        (f"did:web:old.example#{P256_KID}", frozenset({"did:web:old.example"}), None),  # a former DID of ours
        (f"did:web:evil.example#{P256_KID}", frozenset(), "unknown_key"),  # our key, claimed for another DID
        (f"{ISSUER}#{P256_KID}#x", frozenset(), "unknown_key"),
        (f"{ISSUER}#not-a-kid", frozenset(), "unknown_key"),
        (f"{ISSUER}", frozenset(), "unknown_key"),
        (f"{ISSUER}?versionId=1#{P256_KID}", frozenset(), "unknown_key"),
    ],
)
def test_the_local_resolver_takes_did_urls_of_ours_and_bare_thumbprints(
    keystore: FileKeyStore, kid: str, former: frozenset[str], code: str | None
) -> None:
    result = _verify(_sign(vectors.credential_claims(), kid=kid), keystore, former)
    assert _codes(result) == ([code] if code else []), result.errors


def test_an_untrusted_issuer_is_refused_before_its_kid_is_read(keystore: FileKeyStore) -> None:
    payload = {**vectors.credential_claims(), "issuer": {"id": "did:web:evil.example"}, "iss": "did:web:evil.example"}
    assert _codes(_verify(_sign(payload), keystore)) == ["untrusted_issuer"]


def test_the_data_integrity_key_resolves_by_its_did_url(keystore: FileKeyStore) -> None:
    di_key = keystore.data_integrity_key()
    assert di_key.public_key.public_bytes_raw() == vectors.ed25519_second_key().public_key().public_bytes_raw()
    resolver = LocalKeyResolver(keystore, ISSUER)
    assert resolver(ISSUER, f"{ISSUER}#{di_key.kid}") is di_key.public_key


# -- Multikey -------------------------------------------------------------------------------------


def test_multikey_reproduces_the_vc_di_eddsa_test_key() -> None:
    # W3C vc-di-eddsa §A.1: secretKeyMultibase (0x8026 ed25519-priv + seed) and its publicKeyMultibase.
    secret = base58.b58decode("3u2en7t5LR2WtQH5PfFqMqwVHBeXouLzo6haApm8XHqvjxq")
    assert secret[:2] == b"\x80\x26"
    public = ed25519.Ed25519PrivateKey.from_private_bytes(secret[2:]).public_key()
    multibase = "z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"
    assert jose.public_key_multibase(public) == multibase
    decoded = jose.public_key_from_multibase(multibase)
    assert isinstance(decoded, ed25519.Ed25519PublicKey) and decoded.public_bytes_raw() == public.public_bytes_raw()


def test_multikey_round_trips_a_compressed_p256_key() -> None:
    public = vectors.p256_key().public_key()
    multibase = jose.public_key_multibase(public)
    assert multibase.startswith("zDn")  # Controlled Identifiers §2.2.2: 0x8024 + 33-byte compressed point
    decoded = jose.public_key_from_multibase(multibase)
    assert isinstance(decoded, ec.EllipticCurvePublicKey)
    assert decoded.public_numbers() == public.public_numbers()


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2", "malformed"),  # no multibase header
        ("z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ0", "malformed"),  # 0 is not base58
        ("z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ", "unsupported_algorithm"),  # 33 bytes
        ("z" + base58.b58encode(b"\xe7\x01" + b"\x02" * 33).decode(), "unsupported_algorithm"),  # secp256k1
        ("z" + base58.b58encode(b"\x80\x24" + b"\x05" + b"\x00" * 32).decode(), "malformed"),  # not a point
        ("z" + "1" * 200, "malformed"),
        (42, "malformed"),
    ],
)
def test_multikey_refuses_what_is_not_an_ed25519_or_p256_key(value: object, code: str) -> None:
    with pytest.raises(jose.JoseError) as info:
        jose.public_key_from_multibase(value)
    assert info.value.code == code


def test_a_jwk_may_name_either_ed25519_algorithm() -> None:
    jwk = jose.public_jwk(vectors.ed25519_key().public_key())
    for alg in ("EdDSA", "Ed25519"):
        assert isinstance(jose.public_key_from_jwk({**jwk, "alg": alg}), ed25519.Ed25519PublicKey)
    with pytest.raises(jose.MalformedJose, match="'alg' does not match"):
        jose.public_key_from_jwk({**jwk, "alg": "ES256"})


def test_the_jose_package_keeps_its_flat_names() -> None:
    from app.credentials.jose import claims, jwk, jws

    assert jose.parse_compact is jws.parse_compact and jose.claims_for is claims.claims_for
    assert jose.public_jwk is jwk.public_jwk and {"EdDSA", "Ed25519", "ES256"} == jose.ALLOWED_ALGORITHMS


# -- what the service issues ------------------------------------------------------------------------


def test_issued_credentials_and_status_lists_carry_the_profile_claims(client: Any) -> None:
    from tests.factories import earn_credential

    body = earn_credential(client, item_count=2)["credential"]
    token = body["jwt"]
    parsed = jose.parse_compact(token)
    did = client.get("/.well-known/did.json").json()
    assert parsed.header["alg"] == "ES256"
    assert parsed.header["kid"] in did["assertionMethod"]
    assert parsed.header["kid"] in {key["kid"] for key in client.get("/.well-known/jwks.json").json()["keys"]}
    credential = body["credential"]
    payload = parsed.payload
    assert (payload["iss"], payload["jti"], payload["sub"]) == (
        did["id"], credential["id"], credential["credentialSubject"]["id"]
    )
    assert payload["nbf"] == int(datetime.fromisoformat(credential["validFrom"]).timestamp())
    assert ("exp" in payload) == ("validUntil" in credential) and "iat" not in payload
    statuses = credential["credentialStatus"]
    list_url = (statuses[0] if isinstance(statuses, list) else statuses)["statusListCredential"]
    listing = client.get(list_url.removeprefix("https://skillproof.test"), headers={"Accept": "application/vc+jwt"})
    assert listing.status_code == 200
    status_list = jose.parse_compact(listing.text.strip())
    assert status_list.header["kid"] == parsed.header["kid"]
    claims = status_list.payload
    assert claims["jti"] == claims["id"] == list_url and claims["sub"] == claims["credentialSubject"]["id"]
    assert claims["nbf"] == int(datetime.fromisoformat(claims["validFrom"]).timestamp())
    assert claims["exp"] == int(datetime.fromisoformat(claims["validUntil"]).timestamp())
