"""app.credentials.jose: golden vectors, interop with joserfc, strict parsing, and a tamper corpus."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import warnings
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from joserfc import jws as joserfc_jws
from joserfc.errors import SecurityWarning
from joserfc.jwk import ECKey, OKPKey

from app.credentials import jose
from tests import vectors

B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
HEADER = {"alg": "EdDSA", "cty": "vc", "kid": vectors.ED25519_KID, "typ": "vc+jwt"}


b64 = vectors.b64url
raw_token = vectors.sign_raw


def token_with(header: dict[str, Any] | None = None, payload: dict[str, Any] | None = None, **kw: Any) -> str:
    h = json.dumps(HEADER if header is None else header).encode()
    p = json.dumps(vectors.credential() if payload is None else payload).encode()
    return raw_token(h, p, **kw)


def check(token: object, key: Any = None) -> jose.ParsedJws:
    parsed = jose.parse_compact(token)
    jose.verify_signature(parsed, key or vectors.ed25519_key().public_key())
    return parsed


def error_code(token: object, key: Any = None) -> str:
    with pytest.raises(jose.JoseError) as info:
        check(token, key)
    assert info.value.message and "Traceback" not in info.value.message
    return info.value.code


def flip(text: str, position: int, replacement: str | None = None) -> str:
    char = text[position]
    new = replacement or B64URL[(B64URL.index(char) + 1) % 64]
    return text[:position] + new + text[position + 1 :]


# -- golden vectors --------------------------------------------------------------------------------


def test_sign_reproduces_the_golden_vector() -> None:
    token = jose.sign_compact(vectors.credential(), vectors.ed25519_key(), kid=vectors.ED25519_KID, alg="EdDSA")
    assert token == vectors.golden_token()


def test_golden_vector_verifies_and_has_exactly_the_contract_header() -> None:
    parsed = check(vectors.golden_token())
    assert parsed.header == HEADER
    assert list(parsed.header) == ["alg", "cty", "kid", "typ"]
    assert parsed.payload == vectors.credential()
    assert "vc" not in parsed.payload and "vp" not in parsed.payload


def test_payload_json_is_compact() -> None:
    payload_b64 = vectors.golden_token().split(".")[1]
    text = base64.urlsafe_b64decode(payload_b64 + "==").decode()
    assert text == json.dumps(vectors.credential(), separators=(",", ":"))


def test_rfc8037_a2_public_jwk_and_a3_thumbprint() -> None:
    jwk = jose.public_jwk(vectors.ed25519_key().public_key())
    assert jwk == {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    assert jose.jwk_thumbprint(jwk) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_thumbprint_uses_required_members_only() -> None:
    jwk = jose.public_jwk(vectors.ed25519_key().public_key())
    decorated = {**jwk, "kid": "anything", "alg": "EdDSA", "use": "sig"}
    assert jose.jwk_thumbprint(decorated) == jose.jwk_thumbprint(jwk)


def test_rfc8037_a4_eddsa_signature_verifies() -> None:
    parsed = jose.ParsedJws(
        header={"alg": "EdDSA"},
        payload={},
        signing_input=b"eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc",
        signature=jose.b64url_decode(
            "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
        ),
    )
    jose.verify_signature(parsed, vectors.ed25519_key().public_key())


def test_rfc7515_a3_es256_signature_is_high_s_so_only_its_low_s_twin_verifies() -> None:
    """RFC 7515 A.3's s is in the upper half of the group: a valid ECDSA signature, but not the one form
    we accept; its twin (r, n - s) is the same signature in low-S form and verifies."""
    signature = jose.b64url_decode(
        "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"
    )
    signing_input = (
        b"eyJhbGciOiJFUzI1NiJ9."
        b"eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
    )
    s = int.from_bytes(signature[32:], "big")
    assert s > vectors.P256_ORDER // 2
    rfc = jose.ParsedJws(header={"alg": "ES256"}, payload={}, signing_input=signing_input, signature=signature)
    with pytest.raises(jose.InvalidSignature, match="low-S"):
        jose.verify_signature(rfc, vectors.p256_key().public_key())
    low_s = signature[:32] + (vectors.P256_ORDER - s).to_bytes(32, "big")
    twin = jose.ParsedJws(header={"alg": "ES256"}, payload={}, signing_input=signing_input, signature=low_s)
    jose.verify_signature(twin, vectors.p256_key().public_key())
    jwk = jose.public_jwk(vectors.p256_key().public_key())
    assert jwk == {
        "kty": "EC",
        "crv": "P-256",
        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
    }


def test_rfc7638_rsa_example_cannot_be_used_because_rsa_is_refused() -> None:
    # RFC 7638 §3.1's example is an RSA key; Skillproof accepts only OKP Ed25519 and EC P-256.
    with pytest.raises(jose.JoseError) as info:
        jose.jwk_thumbprint({"kty": "RSA", "e": "AQAB", "n": "0vx7agoebGcQSuu"})
    assert info.value.code == "unsupported_algorithm"


def test_p256_thumbprint_is_sha256_of_the_jcs_form() -> None:
    jwk = jose.public_jwk(vectors.p256_key().public_key())
    canonical = '{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}'.format(**jwk).encode()
    assert jose.jwk_thumbprint(jwk) == b64(hashlib.sha256(canonical).digest())


# -- interoperability with joserfc ----------------------------------------------------------------


@pytest.fixture
def _joserfc_eddsa() -> Any:
    # joserfc flags "EdDSA" as deprecated by RFC 9864 (fully-specified "Ed25519"); the contract fixes EdDSA.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        yield


@pytest.mark.usefixtures("_joserfc_eddsa")
def test_joserfc_verifies_our_eddsa_token_from_the_public_jwk_only() -> None:
    jwk: dict[str, str | list[str]] = {**jose.public_jwk(vectors.ed25519_key().public_key())}
    public = OKPKey.import_key(jwk)
    result = joserfc_jws.deserialize_compact(vectors.golden_token(), public, algorithms=["EdDSA"])
    assert result.protected == HEADER
    assert json.loads(result.payload) == vectors.credential()


def test_joserfc_verifies_our_es256_token_from_the_public_jwk_only() -> None:
    kid = jose.jwk_thumbprint(jose.public_jwk(vectors.p256_key().public_key()))
    token = jose.sign_compact(vectors.credential(), vectors.p256_key(), kid=kid, alg="ES256")
    jwk: dict[str, str | list[str]] = {**jose.public_jwk(vectors.p256_key().public_key())}
    public = ECKey.import_key(jwk)
    result = joserfc_jws.deserialize_compact(token, public, algorithms=["ES256"])
    assert result.protected == {"alg": "ES256", "cty": "vc", "kid": kid, "typ": "vc+jwt"}
    check(token, vectors.p256_key().public_key())


@pytest.mark.usefixtures("_joserfc_eddsa")
def test_a_joserfc_signed_eddsa_token_verifies_with_ours() -> None:
    private = OKPKey.import_key(vectors.ed25519_key())
    payload = json.dumps(vectors.credential()).encode()
    token = joserfc_jws.serialize_compact(HEADER, payload, private, algorithms=["EdDSA"])
    assert check(token).payload == vectors.credential()


def test_a_joserfc_signed_es256_token_verifies_with_ours_when_low_s() -> None:
    private = ECKey.import_key(vectors.p256_key())
    header = {"alg": "ES256", "typ": "vc+jwt", "kid": "k1"}
    seen = set()
    for _ in range(40):  # joserfc (like OpenSSL) gives either form, each about half the time
        token = joserfc_jws.serialize_compact(header, json.dumps({"a": 1}).encode(), private, algorithms=["ES256"])
        high_s = int.from_bytes(jose.b64url_decode(token.rpartition(".")[2])[32:], "big") > vectors.P256_ORDER // 2
        seen.add(high_s)
        if high_s:
            assert error_code(token, vectors.p256_key().public_key()) == "invalid_signature"
        else:
            assert check(token, vectors.p256_key().public_key()).payload == {"a": 1}
    assert seen == {True, False}


def test_sign_compact_gives_es256_signatures_in_low_s_form_only() -> None:
    kid = jose.jwk_thumbprint(jose.public_jwk(vectors.p256_key().public_key()))
    for _ in range(64):  # without normalising, about half would be high-S (1 in 2**64 to miss it here)
        token = jose.sign_compact({"a": 1}, vectors.p256_key(), kid=kid, alg="ES256")
        s = int.from_bytes(jose.b64url_decode(token.rpartition(".")[2])[32:], "big")
        assert 0 < s <= vectors.P256_ORDER // 2
        check(token, vectors.p256_key().public_key())


def test_an_es256_high_s_twin_is_an_invalid_signature() -> None:
    header = {**HEADER, "alg": "ES256"}
    high = token_with(header=header, key=vectors.p256_key(), alg="ES256", high_s=True)
    assert error_code(high, vectors.p256_key().public_key()) == "invalid_signature"
    low = token_with(header=header, key=vectors.p256_key(), alg="ES256")
    check(low, vectors.p256_key().public_key())


@pytest.mark.parametrize("s", [0, vectors.P256_ORDER // 2 + 1, vectors.P256_ORDER, 2**256 - 1])
def test_es256_s_outside_the_lower_half_is_an_invalid_signature(s: int) -> None:
    token = token_with(header={**HEADER, "alg": "ES256"}, key=vectors.p256_key(), alg="ES256")
    parsed = jose.parse_compact(token)
    forged = jose.ParsedJws(parsed.header, parsed.payload, parsed.signing_input,
                            parsed.signature[:32] + s.to_bytes(32, "big"))
    with pytest.raises(jose.InvalidSignature):
        jose.verify_signature(forged, vectors.p256_key().public_key())


@pytest.mark.parametrize(("cty", "ok"), [("vc", True), ("application/vc", True), ("vp", False), ("", False)])
def test_parse_checks_cty_when_present(cty: str, ok: bool) -> None:
    token = token_with(header={**HEADER, "cty": cty})
    if ok:
        check(token)
    else:
        assert error_code(token) == "malformed"


# -- signing ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "alg"),
    [
        (vectors.ed25519_key(), "ES256"),
        (vectors.p256_key(), "EdDSA"),
        (vectors.ed25519_key(), "HS256"),
        (vectors.ed25519_key(), "none"),
        (ec.generate_private_key(ec.SECP384R1()), "ES256"),
    ],
)
def test_sign_refuses_algorithms_that_do_not_fit_the_key(key: Any, alg: str) -> None:
    with pytest.raises(jose.JoseError) as info:
        jose.sign_compact({"a": 1}, key, kid="k", alg=alg)
    assert info.value.code == "unsupported_algorithm"


@pytest.mark.parametrize("payload", [{"vc": {}}, {"vp": {}}])
def test_sign_refuses_vc_and_vp_claims(payload: dict[str, Any]) -> None:
    with pytest.raises(jose.JoseError):
        jose.sign_compact(payload, vectors.ed25519_key(), kid="k", alg="EdDSA")


def test_sign_requires_a_kid() -> None:
    with pytest.raises(jose.JoseError):
        jose.sign_compact({"a": 1}, vectors.ed25519_key(), kid="", alg="EdDSA")


# -- JWK import ------------------------------------------------------------------------------------


def test_public_key_from_jwk_round_trips_with_jwks_members() -> None:
    for key in (vectors.ed25519_key(), vectors.p256_key()):
        jwk = jose.public_jwk(key.public_key())
        published = {**jwk, "kid": jose.jwk_thumbprint(jwk), "alg": jose.alg_for_key(key), "use": "sig"}
        assert jose.public_jwk(jose.public_key_from_jwk(published)) == jwk


def _p256_jwk() -> dict[str, str]:
    return jose.public_jwk(vectors.p256_key().public_key())


@pytest.mark.parametrize(
    ("jwk", "code"),
    [
        (
            {**jose.public_jwk(vectors.ed25519_key().public_key()), "d": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"},
            "malformed",
        ),
        ({**_p256_jwk(), "d": "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}, "malformed"),
        ({"kty": "RSA", "e": "AQAB", "n": "0vx7"}, "unsupported_algorithm"),
        ({"kty": "oct", "k": "c2VjcmV0"}, "malformed"),
        ({"kty": "OKP", "crv": "X25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}, "unsupported_algorithm"),
        ({"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"}, "unsupported_algorithm"),
        ({"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHUR"}, "malformed"),
        ({"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo="}, "malformed"),
        ({"kty": "OKP", "crv": "Ed25519"}, "malformed"),
        ({**_p256_jwk(), "y": _p256_jwk()["x"]}, "malformed"),  # not on the curve
        ({**jose.public_jwk(vectors.ed25519_key().public_key()), "alg": "ES256"}, "malformed"),
        ({**_p256_jwk(), "use": "enc"}, "malformed"),
        ("not a jwk", "malformed"),
    ],
)
def test_public_key_from_jwk_is_strict(jwk: Any, code: str) -> None:
    with pytest.raises(jose.JoseError) as info:
        jose.public_key_from_jwk(jwk)
    assert info.value.code == code


def test_public_jwk_refuses_other_curves() -> None:
    with pytest.raises(jose.JoseError):
        jose.public_jwk(ec.generate_private_key(ec.SECP384R1()).public_key())


# -- strict parsing --------------------------------------------------------------------------------


def test_parse_returns_the_exact_signing_input() -> None:
    token = vectors.golden_token()
    parsed = jose.parse_compact(token)
    assert parsed.signing_input == token.rsplit(".", 1)[0].encode()
    assert len(parsed.signature) == 64


@pytest.mark.parametrize(
    "token",
    [
        None,
        42,
        b"eyJ.eyJ.sig",
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "..",
        "eyJhbGciOiJFZERTQSJ9..c2ln",
    ],
)
def test_parse_rejects_non_tokens(token: object) -> None:
    assert error_code(token) == "malformed"


def test_parse_rejects_four_segments() -> None:
    assert error_code(vectors.golden_token() + ".AAAA") == "malformed"


def test_parse_rejects_tokens_over_64_kib() -> None:
    payload = {**vectors.credential(), "filler": "x" * (64 * 1024)}
    assert error_code(token_with(payload=payload)) == "malformed"


@pytest.mark.parametrize("segment", [0, 1, 2])
@pytest.mark.parametrize("bad", ["=", "==", "+", "/", " ", "\n", "\t", "é"])
def test_parse_rejects_padding_whitespace_and_foreign_characters(segment: int, bad: str) -> None:
    parts = vectors.golden_token().split(".")
    parts[segment] = parts[segment] + bad
    assert error_code(".".join(parts)) == "malformed"
    parts = vectors.golden_token().split(".")
    parts[segment] = bad + parts[segment]
    assert error_code(".".join(parts)) == "malformed"


def test_parse_rejects_surrounding_whitespace() -> None:
    assert error_code(" " + vectors.golden_token()) == "malformed"
    assert error_code(vectors.golden_token() + "\n") == "malformed"


def test_parse_rejects_non_canonical_trailing_bits() -> None:
    header, payload, signature = vectors.golden_token().split(".")
    assert len(signature) % 4 == 2  # 64 bytes: the last character carries 4 unused bits
    value = B64URL.index(signature[-1])
    for low in range(1, 16):
        sibling = B64URL[(value & ~0b1111) | low]
        # The same 64 bytes would decode; a lax decoder would accept this second spelling of the token.
        assert base64.urlsafe_b64decode(signature[:-1] + sibling + "==") == base64.urlsafe_b64decode(signature + "==")
        assert error_code(f"{header}.{payload}.{signature[:-1]}{sibling}") == "malformed"


def test_parse_rejects_impossible_base64_length() -> None:
    header, payload, signature = vectors.golden_token().split(".")
    assert error_code(f"{header}.{payload}.{signature}AAA") == "malformed"  # len % 4 == 1


@pytest.mark.parametrize(
    ("header", "payload"),
    [
        (b'{"alg":"EdDSA","alg":"EdDSA","typ":"vc+jwt","kid":"k"}', b'{"a":1}'),
        (b'{"alg":"EdDSA","typ":"vc+jwt","kid":"k","kid":"other"}', b'{"a":1}'),
        (b'{"alg":"EdDSA","typ":"vc+jwt","kid":"k"}', b'{"issuer":"did:web:a","issuer":"did:web:b"}'),
        (b'{"alg":"EdDSA","typ":"vc+jwt","kid":"k"}', b'{"credentialSubject":{"id":"a","id":"b"}}'),
        (b'{"alg":"EdDSA","typ":"vc+jwt","kid":"k"}', b'{"a":[{"x":1,"x":1}]}'),
    ],
)
def test_parse_rejects_duplicate_keys(header: bytes, payload: bytes) -> None:
    assert error_code(raw_token(header, payload)) == "malformed"


@pytest.mark.parametrize(
    "payload",
    [
        b'{"a":NaN}',
        b'{"a":Infinity}',
        b'{"a":-Infinity}',
        b'{"a":1e400}',
        b'{"a":"\\ud800"}',
        b'{"\\udc00":1}',
        b"\xff\xfe{}",
        b'{"a":"\xc3"}',
        b"\xef\xbb\xbf{}",
        b"[1,2]",
        b'"a string"',
        b"null",
        b"{",
        b'{"a":' + b"[" * 70 + b"]" * 70 + b"}",
        b"[" * 20_000 + b"]" * 20_000,  # below 64 KiB, far beyond the recursion limit
        b'{"a":' + b"9" * 5000 + b"}",
    ],
)
def test_parse_rejects_bad_payload_json(payload: bytes) -> None:
    header = json.dumps(HEADER).encode()
    assert error_code(raw_token(header, payload)) == "malformed"


def test_parse_accepts_moderate_nesting_and_escaped_non_ascii() -> None:
    payload = b'{"a":' + b"[" * 20 + b"]" * 20 + b',"b":"\\u00e9\\ud83d\\ude00"}'
    parsed = check(raw_token(json.dumps(HEADER).encode(), payload))
    assert parsed.payload["b"] == "é😀"


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "EdDSA", "kid": "k"},
        {"alg": "EdDSA", "kid": "k", "typ": "JWT"},
        {"alg": "EdDSA", "kid": "k", "typ": "vc+ld+jwt"},
        {"alg": "EdDSA", "kid": "k", "typ": "vp+jwt"},
        {"alg": "EdDSA", "kid": "k", "typ": ["vc+jwt"]},
        {"alg": "EdDSA", "typ": "vc+jwt"},
        {"alg": "EdDSA", "typ": "vc+jwt", "kid": ""},
        {"alg": "EdDSA", "typ": "vc+jwt", "kid": 7},
        {"alg": "EdDSA", "typ": "vc+jwt", "kid": "k", "crit": ["exp"]},
        {"alg": "EdDSA", "typ": "vc+jwt", "kid": "k", "crit": ["b64"], "b64": False},
        {"alg": "EdDSA", "typ": "vc+jwt", "kid": "k", "b64": False},
    ],
)
def test_parse_rejects_bad_headers(header: dict[str, Any]) -> None:
    assert error_code(token_with(header=header)) == "malformed"


@pytest.mark.parametrize("typ", ["vc+jwt", "application/vc+jwt", "VC+JWT"])
def test_parse_accepts_rfc7515_equivalent_typ_spellings(typ: str) -> None:
    check(token_with(header={**HEADER, "typ": typ}))


@pytest.mark.parametrize(
    "alg", ["none", "None", "HS256", "HS512", "RS256", "PS256", "ES384", "ES256K", "Ed448", "ed25519", "", 5, None]
)
def test_parse_rejects_algorithms_outside_the_allow_list(alg: object) -> None:
    header = {**HEADER, "alg": alg}
    assert error_code(token_with(header=header)) == "unsupported_algorithm"


def test_algorithm_is_judged_before_the_rest_of_the_header() -> None:
    assert error_code(token_with(header={"alg": "none", "typ": "JWT", "kid": "k"})) == "unsupported_algorithm"


def test_parse_rejects_missing_alg() -> None:
    header = {key: value for key, value in HEADER.items() if key != "alg"}
    assert error_code(token_with(header=header)) == "unsupported_algorithm"


def test_alg_none_with_empty_signature_is_rejected() -> None:
    header = b64(json.dumps({**HEADER, "alg": "none"}).encode())
    payload = b64(json.dumps(vectors.credential()).encode())
    assert error_code(f"{header}.{payload}.") == "unsupported_algorithm"
    assert error_code(f"{header}.{payload}.AAAA") == "unsupported_algorithm"


def test_hs256_forged_with_the_public_key_bytes_is_rejected() -> None:
    public = vectors.ed25519_key().public_key()
    secret = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    header = b64(json.dumps({**HEADER, "alg": "HS256"}).encode())
    payload = b64(json.dumps(vectors.credential()).encode())
    mac = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    forged = f"{header}.{payload}.{b64(mac)}"
    assert error_code(forged) == "unsupported_algorithm"
    # Even past the parser, the key decides the algorithm: an HMAC tag is not an Ed25519 signature.
    parsed = jose.ParsedJws({**HEADER, "alg": "HS256"}, {}, f"{header}.{payload}".encode(), mac)
    with pytest.raises(jose.JoseError) as info:
        jose.verify_signature(parsed, public)
    assert info.value.code == "invalid_signature"


# -- signature verification ------------------------------------------------------------------------


def test_es256_header_on_an_ed25519_key_is_an_invalid_signature() -> None:
    token = token_with(header={**HEADER, "alg": "ES256"}, key=vectors.p256_key(), alg="ES256")
    check(token, vectors.p256_key().public_key())
    assert error_code(token, vectors.ed25519_key().public_key()) == "invalid_signature"


def test_eddsa_header_on_a_p256_key_is_an_invalid_signature() -> None:
    assert error_code(vectors.golden_token(), vectors.p256_key().public_key()) == "invalid_signature"


def test_another_key_is_an_invalid_signature() -> None:
    assert error_code(vectors.golden_token(), vectors.ed25519_second_key().public_key()) == "invalid_signature"


def test_unsupported_key_types_are_an_invalid_signature() -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    for key in (rsa_key, p384, ed25519.Ed25519PrivateKey.generate()):
        assert error_code(vectors.golden_token(), key) == "invalid_signature"


@pytest.mark.parametrize("length", [0, 63, 65, 70, 72])
def test_es256_signatures_must_be_64_bytes(length: int) -> None:
    token = token_with(header={**HEADER, "alg": "ES256"}, key=vectors.p256_key(), alg="ES256")
    header, payload, _ = token.split(".")
    bad = f"{header}.{payload}.{b64(bytes(range(length)))}" if length else f"{header}.{payload}."
    expected = "malformed" if length == 0 else "invalid_signature"
    assert error_code(bad, vectors.p256_key().public_key()) == expected


def test_der_encoded_es256_signature_is_refused() -> None:
    token = token_with(header={**HEADER, "alg": "ES256"}, key=vectors.p256_key(), alg="ES256")
    header, payload, _ = token.split(".")
    der = vectors.p256_key().sign(f"{header}.{payload}".encode(), ec.ECDSA(hashes.SHA256()))
    assert error_code(f"{header}.{payload}.{b64(der)}", vectors.p256_key().public_key()) == "invalid_signature"


def test_an_altered_score_re_encoded_without_re_signing_is_an_invalid_signature() -> None:
    header, _, signature = vectors.golden_token().split(".")
    payload = vectors.credential()
    payload["credentialSubject"]["result"][0]["value"] = "100"
    altered = b64(json.dumps(payload, separators=(",", ":")).encode())
    assert error_code(f"{header}.{altered}.{signature}") == "invalid_signature"


def test_a_re_serialised_but_identical_payload_is_an_invalid_signature() -> None:
    header, _, signature = vectors.golden_token().split(".")
    spaced = b64(json.dumps(vectors.credential(), indent=1).encode())
    assert error_code(f"{header}.{spaced}.{signature}") == "invalid_signature"


# -- tamper corpus ---------------------------------------------------------------------------------


def _positions() -> list[tuple[int, int]]:
    token = vectors.golden_token()
    header, payload, _ = token.split(".")
    starts = [0, len(header) + 1, len(header) + len(payload) + 2]
    ends = [len(header), len(header) + 1 + len(payload), len(token)]
    return [(segment, pos) for segment in range(3) for pos in range(starts[segment], ends[segment])]


def test_every_single_character_change_is_rejected() -> None:
    token = vectors.golden_token()
    seen: dict[str, int] = {}
    for _, position in _positions():
        code = error_code(flip(token, position))
        assert code in {"malformed", "invalid_signature", "unsupported_algorithm"}
        seen[code] = seen.get(code, 0) + 1
    assert seen["invalid_signature"] > 0 and seen["malformed"] > 0


def test_every_replacement_of_each_segment_end_is_rejected() -> None:
    token = vectors.golden_token()
    header, payload, _ = token.split(".")
    for position in (len(header) - 1, len(header) + len(payload), len(token) - 1, 0):
        for replacement in B64URL:
            if replacement != token[position]:
                assert error_code(flip(token, position, replacement)) in {
                    "malformed",
                    "invalid_signature",
                    "unsupported_algorithm",
                }


def test_ed25519_signatures_are_verified_strictly_non_canonical_s_refused() -> None:
    """RFC 8032 §5.1.7: S must be below the group order L; S + L is the classic malleated signature."""
    order = 2**252 + 27742317777372353535851937790883648493
    token = jose.sign_compact(vectors.credential(), vectors.ed25519_key(), kid=vectors.ED25519_KID, alg="EdDSA")
    parsed = jose.parse_compact(token)
    jose.verify_signature(parsed, vectors.ed25519_key().public_key())
    r, s = parsed.signature[:32], int.from_bytes(parsed.signature[32:], "little")
    malleated = r + (s + order).to_bytes(32, "little")
    forged = jose.ParsedJws(parsed.header, parsed.payload, parsed.signing_input, malleated)
    with pytest.raises(jose.JoseError) as raised:
        jose.verify_signature(forged, vectors.ed25519_key().public_key())
    assert raised.value.code == "invalid_signature"
