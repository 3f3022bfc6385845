"""DID resolution: did:key and did:jwk from the specs' examples and fresh keys, did:web URLs and documents,
and the keys refused (small-order and non-canonical Ed25519, other key types)."""

from __future__ import annotations

import json
from typing import Any

import base58
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from app.credentials import jose
from app.dids import documents, keys
from app.dids.documents import InvalidDid, UnsupportedDid

P = 2**255 - 19
D = (-121665 * pow(121666, -1, P)) % P  # edwards25519: -x^2 + y^2 = 1 + d x^2 y^2 (RFC 8032 §5.1)


def _raw(key: ed25519.Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _did_key_of(data: bytes) -> str:
    return "did:key:z" + base58.b58encode(data).decode()


# -- did:key (W3C CCG did:key v0.7 §2, examples; multicodec table) ----------------------------------


def test_did_key_spec_examples_resolve() -> None:
    ed = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
    document = documents.resolve_local(ed)
    key = document.key(f"{ed}#z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK")
    assert isinstance(key, ed25519.Ed25519PublicKey)
    assert document.key("#z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK") is key
    p256 = "did:key:zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169"
    key = documents.resolve_local(p256).key(f"{p256}#zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169")
    assert isinstance(key, ec.EllipticCurvePublicKey)


@pytest.mark.parametrize("make", [ed25519.Ed25519PrivateKey.generate, lambda: ec.generate_private_key(ec.SECP256R1())])
def test_did_key_round_trips_fresh_keys(make: Any) -> None:
    private = make()
    fingerprint = keys.multikey(private.public_key())
    assert fingerprint.startswith("z6Mk" if isinstance(private, ed25519.Ed25519PrivateKey) else "zDn")
    did = f"did:key:{fingerprint}"
    key = documents.resolve_local(did).key(f"{did}#{fingerprint}")
    assert key is not None and jose.public_jwk(key) == jose.public_jwk(private.public_key())


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\xe7\x01" + b"\x02" * 33, "Only Ed25519"),  # secp256k1-pub
        (b"\xec\x01" + b"\x09" * 32, "Only Ed25519"),  # x25519-pub: key agreement, not signing
        (b"\x85\x24" + b"\x00" * 270, "Only Ed25519"),  # rsa-pub
        (b"\xed\x01" + b"\x01" * 31, "32 bytes"),
        (b"\x80\x24" + b"\x04" + b"\x01" * 64, "compressed"),  # uncompressed P-256 point
        (b"\x80\x24" + b"\x02" + b"\xff" * 32, "not a point"),
    ],
)
def test_did_key_refuses_other_types_and_bad_points(data: bytes, reason: str) -> None:
    with pytest.raises(InvalidDid, match=reason):
        documents.resolve_local(_did_key_of(data))


def test_did_key_refuses_non_base58btc() -> None:
    for did in ("did:key:z6MkNotBase58l0O", "did:key:mO2Rw", "did:key:"):
        with pytest.raises(InvalidDid):
            documents.resolve_local(did)


# -- small-order Ed25519 keys ------------------------------------------------------------------------


def _recover_x(y: int, sign: int) -> int | None:
    """RFC 8032 §5.1.3 decoding, steps 2-4: x from y and the sign bit; None if there is none."""
    u, v = (y * y - 1) % P, (D * y * y + 1) % P
    x = (u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P)) % P
    if (v * x * x - u) % P:
        x = (x * pow(2, (P - 1) // 4, P)) % P
        if (v * x * x - u) % P:
            return None
    if x == 0 and sign:
        return None
    return P - x if x % 2 != sign else x


def _add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    (x1, y1), (x2, y2) = a, b
    t = D * x1 * x2 * y1 * y2 % P
    return ((x1 * y2 + x2 * y1) * pow(1 + t, -1, P) % P, (y1 * y2 + x1 * x2) * pow(1 - t, -1, P) % P)


def _small_order_encodings() -> set[bytes]:
    """Every 32-byte string that decodes (leniently: y taken mod p) to a point whose order divides 8."""
    found = set()
    # Candidates: y in {1, -1, 0} and the order-8 y listed by libsodium (checked here, not trusted), each also
    # spelled y + p where that fits in 255 bits, with either sign bit.
    for y in {0, 1, P - 1, keys._Y8, P - keys._Y8}:
        for spelled in (y, y + P):
            if spelled >= 2**255:
                continue
            for sign in (0, 1):
                x = _recover_x(y, sign)
                if x is None:
                    continue
                eight = (x, y)
                for _ in range(3):  # 8P by three doublings
                    eight = _add(eight, eight)
                if eight == (0, 1):  # the identity: the order divides 8
                    found.add((spelled | (sign << 255)).to_bytes(32, "little"))
    return found


def test_small_order_list_is_every_small_order_encoding() -> None:
    computed = _small_order_encodings()
    # 8 points: identity, order 2, two of order 4, four of order 8; plus y+p spellings of y = 0, 1 (2 and 2).
    canonical = {e for e in computed if int.from_bytes(e, "little") & ((1 << 255) - 1) < P}
    assert len(canonical) == 8
    assert computed <= keys.SMALL_ORDER_ED25519
    assert len(keys.SMALL_ORDER_ED25519) == 14  # libsodium's 7 y values, either sign bit


@pytest.mark.parametrize("encoding", sorted(keys.SMALL_ORDER_ED25519))
def test_small_order_keys_are_refused_in_every_form(encoding: bytes) -> None:
    with pytest.raises(InvalidDid, match="small-order"):
        documents.resolve_local(_did_key_of(keys.ED25519_PREFIX + encoding))
    did = "did:jwk:" + jose.b64url_encode(json.dumps({"kty": "OKP", "crv": "Ed25519",
                                                      "x": jose.b64url_encode(encoding)}).encode())
    with pytest.raises(InvalidDid, match="small-order"):
        documents.resolve_local(did)


def test_non_canonical_and_off_curve_ed25519_keys_are_refused() -> None:
    good = _raw(ed25519.Ed25519PrivateKey.generate().public_key())
    y = int.from_bytes(good, "little") & ((1 << 255) - 1)
    for value in (P + 5, 2**255 - 1):  # y >= p
        with pytest.raises(keys.BadKey, match="canonical"):
            keys.check_ed25519(value.to_bytes(32, "little"))
    # A y with no x on the curve (2 is not a valid y: (y^2-1)/(dy^2+1) is a non-square).
    off = next(v for v in range(2, 100) if _recover_x(v, 0) is None)
    with pytest.raises(keys.BadKey, match="not a valid point"):
        keys.check_ed25519(off.to_bytes(32, "little"))
    assert keys.check_ed25519(good) is not None and y < P


# -- did:jwk (did:jwk spec §2, example) -------------------------------------------------------------


def test_did_jwk_spec_example_resolves() -> None:
    did = ("did:jwk:eyJjcnYiOiJQLTI1NiIsImt0eSI6IkVDIiwieCI6ImFjYklRaXVNczNpOF91c3pFakoydHBUdFJNNEVVM3l6OTFQ"
           "SDZDZEgyVjAiLCJ5IjoiX0tjeUxqOXZXTXB0bm1LdG00NkdxRHo4d2Y3NEk1TEtncmwyR3pIM25TRSJ9")
    key = documents.resolve_local(did).key(f"{did}#0")
    assert jose.public_jwk(key) == {  # type: ignore[arg-type]
        "kty": "EC", "crv": "P-256", "x": "acbIQiuMs3i8_uszEjJ2tpTtRM4EU3yz91PH6CdH2V0",
        "y": "_KcyLj9vWMptnmKtm46GqDz8wf74I5LKgrl2GzH3nSE"}


@pytest.mark.parametrize(
    "jwk",
    [
        {"kty": "RSA", "n": "AQAB", "e": "AQAB"},
        {"kty": "EC", "crv": "secp256k1", "x": "AA", "y": "AA"},
        {"kty": "OKP", "crv": "X25519", "x": jose.b64url_encode(b"\x09" * 32)},
        {"kty": "oct", "k": "c2VjcmV0"},
    ],
)
def test_did_jwk_refuses_other_key_types(jwk: dict[str, str]) -> None:
    with pytest.raises(InvalidDid):
        documents.resolve_local("did:jwk:" + jose.b64url_encode(json.dumps(jwk).encode()))


def test_did_jwk_refuses_private_and_encryption_keys() -> None:
    private = ed25519.Ed25519PrivateKey.generate()
    jwk = jose.public_jwk(private.public_key())
    with_d = {**jwk, "d": jose.b64url_encode(b"\x01" * 32)}
    for bad in (with_d, {**jwk, "use": "enc"}):
        with pytest.raises(InvalidDid):
            documents.resolve_local("did:jwk:" + jose.b64url_encode(json.dumps(bad).encode()))
    with pytest.raises(InvalidDid, match="base64url"):
        documents.resolve_local("did:jwk:eyJhIjoxfQ-")  # a non-canonical last character


def test_other_methods_are_unsupported() -> None:
    for did in ("did:example:123", "did:ethr:0xabc", "did:peer:0z6Mk"):
        with pytest.raises(UnsupportedDid):
            documents.resolve_local(did)
    with pytest.raises(UnsupportedDid):
        documents.resolve_local("did:web:example.com")  # needs a fetch


# -- did:web (did:web method spec §3.2.2) -----------------------------------------------------------


@pytest.mark.parametrize(
    ("did", "url"),
    [
        ("did:web:w3c-ccg.github.io", "https://w3c-ccg.github.io/.well-known/did.json"),
        ("did:web:w3c-ccg.github.io:user:alice", "https://w3c-ccg.github.io/user/alice/did.json"),
        ("did:web:example.com%3A3000", "https://example.com:3000/.well-known/did.json"),
        ("did:web:example.com%3A3000:user:alice", "https://example.com:3000/user/alice/did.json"),
        ("did:web:Example.COM", "https://example.com/.well-known/did.json"),
    ],
)
def test_did_web_urls(did: str, url: str) -> None:
    assert documents.web_document_url(did) == url


@pytest.mark.parametrize(
    "did",
    ["did:web:127.0.0.1", "did:web:2130706433", "did:web:example.com%3A0", "did:web:example.com%3A99999",
     "did:web:example.com%3Ahttp", "did:web:exa_mple.com", "did:web:example.com:..", "did:web:example.com:a%2Fb",
     "did:web:example.com%2F..%2Fadmin", "did:web:user%40example.com"],
)
def test_did_web_refuses_bad_hosts_and_paths(did: str) -> None:
    with pytest.raises(InvalidDid):
        documents.web_document_url(did)


def _document(did: str, **changes: Any) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    document = {
        "id": did,
        "verificationMethod": [{"id": "#k1", "type": "JsonWebKey", "controller": did,
                                "publicKeyJwk": jose.public_jwk(key.public_key())}],
        "assertionMethod": ["#k1"],
        **changes,
    }
    return json.dumps(document).encode()


def test_did_web_document_checks() -> None:
    did = "did:web:issuer.example"
    document = documents.document_from_json(did, _document(did))
    assert document.key("#k1") is not None and document.key(f"{did}#k1") is document.key("#k1")
    with pytest.raises(InvalidDid, match="id is not the DID"):
        documents.document_from_json(did, _document("did:web:other.example"))
    with pytest.raises(InvalidDid, match="no usable assertionMethod"):
        documents.document_from_json(did, _document(did, assertionMethod=[]))
    with pytest.raises(InvalidDid, match="does not define it"):
        documents.document_from_json(did, _document(did, assertionMethod=["#missing"]))
    with pytest.raises(InvalidDid, match="not acceptable JSON"):
        documents.document_from_json(did, b'{"id": "a", "id": "b"}')
    # A method controlled by another DID, or of an unknown type, gives no key.
    ed_multikey = keys.multikey(ed25519.Ed25519PrivateKey.generate().public_key())
    other = documents.document_from_json(did, _document(did, verificationMethod=[
        {"id": "#k1", "type": "JsonWebKey", "controller": "did:web:evil.example",
         "publicKeyJwk": jose.public_jwk(ec.generate_private_key(ec.SECP256R1()).public_key())},
    ], assertionMethod=["#k1", {"id": "#k2", "type": "Multikey", "controller": did,
                                "publicKeyMultibase": ed_multikey}]))
    assert other.key("#k1") is None and other.key("#k2") is not None
    with pytest.raises(InvalidDid, match="no usable"):
        documents.document_from_json(did, _document(did, verificationMethod=[
            {"id": "#k1", "type": "EcdsaSecp256k1VerificationKey2019", "controller": did, "publicKeyHex": "02"}]))
