"""Public keys as DID documents carry them: Multikey (multibase + multicodec) and JWK, with the refusals.

PURE: no I/O. Accepted: Ed25519 (multicodec ed25519-pub 0xed) and P-256 (p256-pub 0x1200, compressed point);
any other key type is refused. Ed25519 keys of small order, or in a non-canonical encoding, are refused.
"""

from __future__ import annotations

from typing import Any, Final

import base58
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from nacl.bindings import crypto_core_ed25519_is_valid_point

from app.credentials import jose

__all__ = [
    "ED25519_PREFIX",
    "P256_PREFIX",
    "SMALL_ORDER_ED25519",
    "BadKey",
    "PublicKey",
    "check_ed25519",
    "key_from_jwk",
    "key_from_multikey",
    "multikey",
]

PublicKey = jose.PublicKey

# Multicodec table (github.com/multiformats/multicodec, table.csv) as unsigned varints:
# ed25519-pub 0xed -> 0xed 0x01; p256-pub 0x1200 -> 0x80 0x24 (did:key §3.1.4 / Multikey, VC-DI §2.2.2).
ED25519_PREFIX: Final = b"\xed\x01"
P256_PREFIX: Final = b"\x80\x24"

_P: Final = 2**255 - 19
# The y-coordinate of the order-8 points of edwards25519 (the other is p - y).
_Y8: Final = 2707385501144840649318225287225658788936804267575313519463743609750303402022


def _y_encoding(y: int, negative_x: bool) -> bytes:
    return (y | (1 << 255 if negative_x else 0)).to_bytes(32, "little")


# Every encoding of a small-order point, each with either sign bit: the 8 points of order 1, 2, 4 and 8
# (y = 1, p-1, 0, y8, p-y8) and the non-canonical spellings y + p of y = 0 and y = 1 (y = p, p+1).
# Source: libsodium ed25519_ref10.c `ge25519_has_small_order` blocklist; "Taming the many EdDSAs"
# (Chalkias, Garillot, Nikolaenko, SSR 2020) §3; RFC 8032 §5.1.3 step 1 (y >= p fails to decode).
SMALL_ORDER_ED25519: Final = frozenset(
    _y_encoding(y, negative)
    for y in (0, 1, _P - 1, _Y8, _P - _Y8, _P, _P + 1)
    for negative in (False, True)
)


class BadKey(ValueError):
    """A key that is malformed, of a refused type, or weak."""


def check_ed25519(raw: bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from its 32 bytes; small-order, non-canonical or off-curve points are refused."""
    if len(raw) != 32:
        raise BadKey("An Ed25519 public key is 32 bytes.")
    if raw in SMALL_ORDER_ED25519:
        raise BadKey("The Ed25519 public key is a small-order point.")
    if int.from_bytes(raw, "little") & ((1 << 255) - 1) >= _P:
        raise BadKey("The Ed25519 public key is not canonically encoded (y >= p, RFC 8032 §5.1.3).")
    # libsodium: canonical, on the curve, in the prime-order subgroup, not of small order.
    if not crypto_core_ed25519_is_valid_point(raw):
        raise BadKey("The Ed25519 public key is not a valid point of the prime-order group.")
    return Ed25519PublicKey.from_public_bytes(raw)


def key_from_multikey(value: object) -> PublicKey:
    """A key from `publicKeyMultibase` / a did:key id: 'z' + base58btc(multicodec varint + key bytes)."""
    if not isinstance(value, str) or not value.startswith("z") or len(value) > 1000:
        raise BadKey("A Multikey must be a base58btc multibase string (starting with 'z').")
    try:
        data = base58.b58decode(value[1:])
    except ValueError:
        raise BadKey("The Multikey is not valid base58btc.") from None
    if base58.b58encode(data).decode("ascii") != value[1:]:
        raise BadKey("The Multikey is not canonical base58btc.")
    if data.startswith(ED25519_PREFIX):
        return check_ed25519(data[2:])
    if data.startswith(P256_PREFIX):
        point = data[2:]
        if len(point) != 33 or point[0] not in (2, 3):
            raise BadKey("A P-256 Multikey holds a 33-byte compressed point.")
        try:
            return EllipticCurvePublicKey.from_encoded_point(SECP256R1(), point)
        except ValueError:
            raise BadKey("The P-256 Multikey is not a point on the curve.") from None
    raise BadKey("Only Ed25519 (z6Mk...) and P-256 (zDn...) Multikeys are accepted.")


def multikey(key: PublicKey) -> str:
    """The Multikey (publicKeyMultibase) of a public key; P-256 points compressed."""
    try:
        return jose.public_key_multibase(key)
    except jose.JoseError as exc:
        raise BadKey(exc.message) from None


def key_from_jwk(jwk: Any) -> PublicKey:
    """A key from `publicKeyJwk`; the JWK rules of app.credentials.jose plus the Ed25519 refusals."""
    try:
        key = jose.public_key_from_jwk(jwk)
    except jose.JoseError as exc:
        raise BadKey(exc.message) from None
    if isinstance(key, Ed25519PublicKey):
        check_ed25519(key.public_bytes(Encoding.Raw, PublicFormat.Raw))
    return key
