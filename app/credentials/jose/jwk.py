"""Public keys as JWK (RFC 7517, RFC 8037), RFC 7638 thumbprints, and Multikey (Controlled Identifiers §2.2.2).

Only Ed25519 and P-256 keys exist here; anything else is refused with UnsupportedAlgorithm.
"""

from __future__ import annotations

import hashlib
from typing import Any, Final

import base58
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ec import (
    SECP256R1,
    EllipticCurvePrivateKey,
    EllipticCurvePublicKey,
    EllipticCurvePublicNumbers,
)
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from app.credentials.jose.b64 import b64url_decode, b64url_encode
from app.credentials.jose.errors import JoseError, MalformedJose, UnsupportedAlgorithm

__all__ = [
    "ED25519_ALGORITHMS",
    "PrivateKey",
    "PublicKey",
    "alg_for_key",
    "algorithms_for_key",
    "jwk_thumbprint",
    "public_jwk",
    "public_key_from_jwk",
    "public_key_from_multibase",
    "public_key_multibase",
]

PublicKey = Ed25519PublicKey | EllipticCurvePublicKey
PrivateKey = Ed25519PrivateKey | EllipticCurvePrivateKey

# RFC 9864 §2.2: "Ed25519" is the fully-specified name; "EdDSA" (RFC 8037) is deprecated but still what most
# JOSE libraries emit, so an Ed25519 key signs as EdDSA and verifies either.
ED25519_ALGORITHMS: Final = frozenset({"EdDSA", "Ed25519"})
_ES256_ALGORITHMS: Final = frozenset({"ES256"})
_PRIVATE_JWK_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_THUMBPRINT_MEMBERS: Final = {"OKP": ("crv", "kty", "x"), "EC": ("crv", "kty", "x", "y")}
# Multicodec prefixes as varints (Controlled Identifiers v1.0 §2.2.2 table): ed25519-pub 0xed, p256-pub 0x1200.
_MULTICODEC_ED25519: Final = b"\xed\x01"
_MULTICODEC_P256: Final = b"\x80\x24"
_MAX_MULTIBASE: Final = 128


def alg_for_key(key: PublicKey | PrivateKey) -> str:
    """The JWS algorithm a key signs with (EdDSA for Ed25519, ES256 for P-256)."""
    if isinstance(key, Ed25519PublicKey | Ed25519PrivateKey):
        return "EdDSA"
    if isinstance(key, EllipticCurvePublicKey | EllipticCurvePrivateKey) and isinstance(key.curve, SECP256R1):
        return "ES256"
    raise UnsupportedAlgorithm("Only Ed25519 and P-256 keys are supported.")


def algorithms_for_key(key: PublicKey | PrivateKey) -> frozenset[str]:
    """Every JWS `alg` a token signed by this key may name."""
    return ED25519_ALGORITHMS if alg_for_key(key) == "EdDSA" else _ES256_ALGORITHMS


def public_jwk(public_key: PublicKey) -> dict[str, str]:
    """The public JWK (RFC 8037 OKP or RFC 7518 EC P-256), without private members."""
    if isinstance(public_key, Ed25519PublicKey):
        raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(raw)}
    if isinstance(public_key, EllipticCurvePublicKey) and isinstance(public_key.curve, SECP256R1):
        numbers = public_key.public_numbers()
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url_encode(numbers.x.to_bytes(32, "big")),
            "y": b64url_encode(numbers.y.to_bytes(32, "big")),
        }
    raise UnsupportedAlgorithm("Only Ed25519 and P-256 public keys are supported.")


def _jwk_member(jwk: dict[str, Any], name: str, length: int) -> bytes:
    value = jwk.get(name)
    if not isinstance(value, str):
        raise MalformedJose(f"The JWK member {name!r} must be a string.")
    try:
        data = b64url_decode(value)
    except JoseError:
        raise MalformedJose(f"The JWK member {name!r} is not base64url.") from None
    if len(data) != length:
        raise MalformedJose(f"The JWK member {name!r} must be {length} bytes.")
    return data


def public_key_from_jwk(jwk: object) -> PublicKey:
    """A public key from an OKP Ed25519 or EC P-256 JWK; anything else, or private members, is refused."""
    if not isinstance(jwk, dict):
        raise MalformedJose("A JWK must be a JSON object.")
    private = _PRIVATE_JWK_MEMBERS.intersection(jwk)
    if private:
        raise MalformedJose("The JWK holds private key members; only public keys are accepted.")
    kty, crv = jwk.get("kty"), jwk.get("crv")
    key: PublicKey
    if kty == "OKP" and crv == "Ed25519":
        key = Ed25519PublicKey.from_public_bytes(_jwk_member(jwk, "x", 32))
    elif kty == "EC" and crv == "P-256":
        x = int.from_bytes(_jwk_member(jwk, "x", 32), "big")
        y = int.from_bytes(_jwk_member(jwk, "y", 32), "big")
        try:
            key = EllipticCurvePublicNumbers(x, y, SECP256R1()).public_key()
        except ValueError:
            raise MalformedJose("The JWK point is not on the P-256 curve.") from None
    else:
        raise UnsupportedAlgorithm("Only OKP Ed25519 and EC P-256 keys are supported.")
    if "alg" in jwk and jwk["alg"] not in algorithms_for_key(key):
        raise MalformedJose("The JWK 'alg' does not match its key type.")
    if "use" in jwk and jwk["use"] != "sig":
        raise MalformedJose("The JWK is not a signature key ('use' is not 'sig').")
    return key


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 thumbprint: required members only, JCS (RFC 8785) canonical form, SHA-256, base64url."""
    kty = jwk.get("kty")
    members = _THUMBPRINT_MEMBERS.get(kty) if isinstance(kty, str) else None
    if members is None:
        raise UnsupportedAlgorithm("Thumbprints are computed for OKP and EC keys only.")
    required: dict[str, str] = {}
    for name in members:
        value = jwk.get(name)
        if not isinstance(value, str) or not value:
            raise MalformedJose(f"The JWK lacks the required member {name!r}.")
        required[name] = value
    return b64url_encode(hashlib.sha256(rfc8785.dumps(required)).digest())


def public_key_multibase(public_key: PublicKey) -> str:
    """The Multikey `publicKeyMultibase`: 'z' + base58btc(multicodec prefix + key); Ed25519 gives z6Mk..."""
    if isinstance(public_key, Ed25519PublicKey):
        data = _MULTICODEC_ED25519 + public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    elif isinstance(public_key, EllipticCurvePublicKey) and isinstance(public_key.curve, SECP256R1):
        data = _MULTICODEC_P256 + public_key.public_bytes(Encoding.X962, PublicFormat.CompressedPoint)
    else:
        raise UnsupportedAlgorithm("Only Ed25519 and P-256 public keys are supported.")
    return "z" + base58.b58encode(data).decode("ascii")


def public_key_from_multibase(value: object) -> PublicKey:
    """The public key of a Multikey `publicKeyMultibase` (Ed25519 or compressed P-256), in its one spelling."""
    if not isinstance(value, str) or not value.isascii() or len(value) > _MAX_MULTIBASE or value[:1] != "z":
        raise MalformedJose("publicKeyMultibase must be a base58btc multibase string ('z...').")
    try:
        data = base58.b58decode(value[1:])
    except ValueError:
        raise MalformedJose("publicKeyMultibase is not base58btc.") from None
    key: PublicKey
    try:
        if data[:2] == _MULTICODEC_ED25519 and len(data) == 34:
            key = Ed25519PublicKey.from_public_bytes(data[2:])
        elif data[:2] == _MULTICODEC_P256 and len(data) == 35:
            key = EllipticCurvePublicKey.from_encoded_point(SECP256R1(), data[2:])
        else:
            raise UnsupportedAlgorithm("Only Ed25519 (z6Mk...) and P-256 (zDn...) Multikeys are supported.")
    except ValueError:
        raise MalformedJose("publicKeyMultibase does not hold a valid public key.") from None
    if public_key_multibase(key) != value:
        raise MalformedJose("publicKeyMultibase is not in its canonical form.")
    return key
