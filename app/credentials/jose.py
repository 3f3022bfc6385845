"""Compact JWS for `vc+jwt` (VC-JOSE-COSE §3.1.1): sign with PyJWT, parse strictly, verify with cryptography.

PURE: no I/O, no clock, no environment. The verification algorithm is chosen by the key's type, never by
the token's `alg`; `alg` must be in the allow-list and must match the key (RFC 8725 §3.1, §2.1).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Any, ClassVar, Final

import jwt
import rfc8785
from cryptography import exceptions as crypto_exceptions
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ec import (
    ECDSA,
    SECP256R1,
    EllipticCurvePrivateKey,
    EllipticCurvePublicKey,
    EllipticCurvePublicNumbers,
)
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from nacl.bindings import crypto_sign_open
from nacl.exceptions import BadSignatureError

from app import strict_json

__all__ = [
    "ALLOWED_ALGORITHMS",
    "MAX_JSON_DEPTH",
    "MAX_TOKEN_LENGTH",
    "InvalidSignature",
    "JoseError",
    "MalformedJose",
    "ParsedJws",
    "PrivateKey",
    "PublicKey",
    "UnsupportedAlgorithm",
    "alg_for_key",
    "b64url_decode",
    "b64url_encode",
    "jwk_thumbprint",
    "loads_strict",
    "parse_compact",
    "public_jwk",
    "public_key_from_jwk",
    "sign_compact",
    "verify_signature",
]

ALLOWED_ALGORITHMS: Final = frozenset({"EdDSA", "ES256"})
MAX_TOKEN_LENGTH: Final = 64 * 1024
MAX_JSON_DEPTH: Final = strict_json.MAX_DEPTH
TYP: Final = "vc+jwt"

PublicKey = Ed25519PublicKey | EllipticCurvePublicKey
PrivateKey = Ed25519PrivateKey | EllipticCurvePrivateKey

_B64URL_ALPHABET: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_B64URL_VALUE: Final = bytes(_B64URL_ALPHABET.find(bytes([byte])) & 0x3F for byte in range(256))
_TO_STANDARD_B64: Final = bytes.maketrans(b"-_", b"+/")
_ACCEPTED_TYP: Final = frozenset({"vc+jwt", "application/vc+jwt"})  # RFC 7515 §4.1.9: prefix optional
_PRIVATE_JWK_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_THUMBPRINT_MEMBERS: Final = {"OKP": ("crv", "kty", "x"), "EC": ("crv", "kty", "x", "y")}
_ACCEPTED_CTY: Final = frozenset({"vc", "application/vc"})  # RFC 7515 §4.1.10: prefix optional
# The order n of the P-256 group (SEC 2 §2.4.2). ECDSA accepts (r, s) and (r, n - s) alike; only s <= n/2
# ("low-S", as BIP 62 and libsecp256k1 require) is accepted, so a signed credential has one spelling.
P256_ORDER: Final = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_P256_HALF_ORDER: Final = P256_ORDER // 2


class JoseError(Exception):
    """A token or key that cannot be used; each subclass names its verify error `code` (CONTRACT.md).

    JoseError
     ├── MalformedJose          malformed: not a compact JWS, bad JSON or base64url, a header rule broken
     ├── UnsupportedAlgorithm   unsupported_algorithm: alg outside the allow-list, or a key type we refuse
     └── InvalidSignature       invalid_signature: the signature does not match, or is not in canonical form
    """

    code: ClassVar[str] = "malformed"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MalformedJose(JoseError):
    """Not a usable compact JWS or JWK."""

    code = "malformed"


class UnsupportedAlgorithm(JoseError):
    """An algorithm or key type outside the allow-list."""

    code = "unsupported_algorithm"


class InvalidSignature(JoseError):
    """The signature does not verify under the key, or is not in canonical (low-S) form."""

    code = "invalid_signature"


@dataclass(frozen=True, slots=True)
class ParsedJws:
    """A compact JWS split and decoded, not yet verified."""

    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes


# -- base64url ------------------------------------------------------------------------------------


def b64url_encode(data: bytes) -> str:
    """Base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode_checked(segment: bytes) -> bytes:
    """Decode ASCII base64url already known to hold no '=', '+' or '/'; reject non-canonical forms."""
    rem = len(segment) % 4
    if rem == 1 or not segment:
        raise MalformedJose("A token part is empty or has an impossible base64url length.")
    if rem:
        # RFC 4648 §3.5: the unused low bits of the last character must be zero (one spelling per value).
        if _B64URL_VALUE[segment[-1]] & (0b1111 if rem == 2 else 0b11):
            raise MalformedJose("A token part is not canonical base64url.")
        segment += b"==" if rem == 2 else b"="
    try:
        # strict_mode refuses any byte outside the alphabet (whitespace included) and misplaced padding.
        return binascii.a2b_base64(segment.translate(_TO_STANDARD_B64), strict_mode=True)
    except binascii.Error:
        raise MalformedJose("The token parts must be base64url without padding or whitespace.") from None


def b64url_decode(segment: str) -> bytes:
    """Strict base64url without padding: no '=', '+', '/', whitespace or non-zero trailing bits."""
    if not isinstance(segment, str) or not segment.isascii() or "=" in segment or "+" in segment or "/" in segment:
        raise MalformedJose("Not base64url without padding.")
    return _b64url_decode_checked(segment.encode("ascii"))


# -- strict JSON: the one parser every request body goes through (app.strict_json) ----------------


def loads_strict(raw: bytes, what: str) -> Any:
    """UTF-8 I-JSON: duplicate keys, NaN/Infinity, unsafe integers, lone surrogates, NUL and deep nesting rejected."""
    try:
        return strict_json.loads(raw)
    except strict_json.StrictJsonError as exc:
        raise MalformedJose(f"The {what} is not acceptable JSON ({exc}).") from None
    except strict_json.JsonSyntaxError:
        raise MalformedJose(f"The {what} is not valid UTF-8 JSON.") from None


# -- keys -----------------------------------------------------------------------------------------


def alg_for_key(key: PublicKey | PrivateKey) -> str:
    """The one JWS algorithm a key may be used with."""
    if isinstance(key, Ed25519PublicKey | Ed25519PrivateKey):
        return "EdDSA"
    if isinstance(key, EllipticCurvePublicKey | EllipticCurvePrivateKey) and isinstance(key.curve, SECP256R1):
        return "ES256"
    raise UnsupportedAlgorithm("Only Ed25519 and P-256 keys are supported.")


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
    if "alg" in jwk and jwk["alg"] != alg_for_key(key):
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


# -- sign -----------------------------------------------------------------------------------------


def claims_for(credential: dict[str, Any]) -> dict[str, Any]:
    """The JWT claims set of a credential: the credential itself plus `iss` = issuer id.

    VC-JOSE-COSE §4.3: when `iss` is absent and the issuer is a URL, `kid` would have to be a URL to a
    verification method; with `iss` present (§4.1.2: it MUST equal issuer.id) the kid can stay the RFC 7638
    thumbprint that standard JWKS clients look up.
    """
    issuer = credential.get("issuer")
    issuer_id = issuer.get("id") if isinstance(issuer, dict) else issuer
    if not isinstance(issuer_id, str) or not issuer_id:
        raise MalformedJose("The credential has no issuer id.")
    return {**credential, "iss": issuer_id}


def sign_compact(payload: dict[str, Any], private_key: PrivateKey, *, kid: str, alg: str) -> str:
    """Sign `payload` as a compact JWS with header {alg, typ: vc+jwt, cty: vc, kid}."""
    if alg not in ALLOWED_ALGORITHMS:
        raise UnsupportedAlgorithm(f"The algorithm {alg!r} is not allowed.")
    if alg_for_key(private_key) != alg:
        raise UnsupportedAlgorithm(f"The algorithm {alg!r} does not match the key type.")
    if not isinstance(kid, str) or not kid:
        raise MalformedJose("A signing key id (kid) is required.")
    if not isinstance(payload, dict):
        raise MalformedJose("The payload must be a JSON object.")
    if "vc" in payload or "vp" in payload:
        raise MalformedJose("VC-JOSE-COSE forbids the 'vc' and 'vp' claims.")
    token = jwt.encode(payload, private_key, algorithm=alg, headers={"typ": TYP, "cty": "vc", "kid": kid})
    return _with_low_s(token) if alg == "ES256" else token


def _with_low_s(token: str) -> str:
    """The same ES256 token with s replaced by n - s when s is in the upper half (equally valid, canonical)."""
    signing_input, _, signature_b64 = token.rpartition(".")
    signature = b64url_decode(signature_b64)
    s = int.from_bytes(signature[32:], "big")
    if s <= _P256_HALF_ORDER:
        return token
    return f"{signing_input}.{b64url_encode(signature[:32] + (P256_ORDER - s).to_bytes(32, 'big'))}"


# -- parse and verify -----------------------------------------------------------------------------


# An issuer's tokens share a few headers; a checked header is a pure function of its bytes, so it is kept.
_HEADERS: dict[bytes, dict[str, Any]] = {}
_MAX_CACHED_HEADERS: Final = 256


def _parse_header(header_b64: bytes) -> dict[str, Any]:
    """Decode and check a JOSE header; JoseError malformed or unsupported_algorithm."""
    header = loads_strict(_b64url_decode_checked(header_b64), "JOSE header")
    if not isinstance(header, dict):
        raise MalformedJose("The JOSE header must be a JSON object.")
    # The allow-list comes first, so `alg: none` (with its empty signature) is named for what it is.
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in ALLOWED_ALGORITHMS:
        shown = f"The algorithm {alg!r}" if isinstance(alg, str) and len(alg) <= 20 else "This algorithm"
        raise UnsupportedAlgorithm(f"{shown} is not allowed; only EdDSA and ES256 are.")
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() not in _ACCEPTED_TYP:
        raise MalformedJose("The JOSE header 'typ' must be 'vc+jwt'.")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise MalformedJose("The JOSE header needs a non-empty 'kid'.")
    # VC-JOSE-COSE §3.1.1: cty, when present, says the payload is a credential ("vc"), not e.g. a presentation.
    if "cty" in header and (not isinstance(header["cty"], str) or header["cty"].lower() not in _ACCEPTED_CTY):
        raise MalformedJose("The JOSE header 'cty' must be 'vc' when present.")
    if "crit" in header:
        raise MalformedJose("Critical JOSE header extensions ('crit') are not supported.")
    if "b64" in header and header["b64"] is not True:
        raise MalformedJose("Unencoded payloads (b64: false) are not supported.")
    return header


def parse_compact(token: object) -> ParsedJws:
    """Split and decode a compact `vc+jwt` JWS strictly; JoseError code malformed or unsupported_algorithm."""
    if not isinstance(token, str):
        raise MalformedJose("A compact JWS must be a string.")
    if len(token) > MAX_TOKEN_LENGTH:
        raise MalformedJose("The token is larger than 64 KiB.")
    if not token.isascii():
        raise MalformedJose("The token must be ASCII base64url.")
    data = token.encode("ascii")
    parts = data.split(b".")
    if len(parts) != 3:
        raise MalformedJose("A compact JWS has exactly three dot-separated parts.")
    if b"=" in data or b"+" in data or b"/" in data:
        raise MalformedJose("The token parts must be base64url without padding.")
    header_b64, payload_b64, signature_b64 = parts
    header = _HEADERS.get(header_b64)
    if header is None:
        header = _parse_header(header_b64)
        if len(_HEADERS) >= _MAX_CACHED_HEADERS:
            _HEADERS.clear()
        _HEADERS[header_b64] = header
    payload = loads_strict(_b64url_decode_checked(payload_b64), "payload")
    if not isinstance(payload, dict):
        raise MalformedJose("The JWS payload must be a JSON object.")
    signature = _b64url_decode_checked(signature_b64)

    signing_input = data[: len(header_b64) + 1 + len(payload_b64)]
    return ParsedJws(header=header, payload=payload, signing_input=signing_input, signature=signature)


def verify_signature(parsed: ParsedJws, public_key: PublicKey) -> None:
    """Check the signature with the key's own algorithm; raises InvalidSignature."""
    alg = parsed.header.get("alg")
    signature = parsed.signature
    try:
        if isinstance(public_key, Ed25519PublicKey):
            if alg != "EdDSA":
                raise InvalidSignature("The token's algorithm does not match the issuer's key.")
            if len(signature) != 64:  # RFC 8032 §5.1.6: R || S, 32 bytes each
                raise InvalidSignature("An Ed25519 signature must be 64 bytes.")
            # libsodium (PyNaCl, also PyCA) verifies Ed25519 about 1.4x faster than OpenSSL on credential-sized
            # messages, and strictly: non-canonical S and small-order points are refused (RFC 8032 §5.1.7).
            crypto_sign_open(signature + parsed.signing_input, public_key.public_bytes_raw())
        elif isinstance(public_key, EllipticCurvePublicKey) and isinstance(public_key.curve, SECP256R1):
            if alg != "ES256":
                raise InvalidSignature("The token's algorithm does not match the issuer's key.")
            if len(signature) != 64:  # RFC 7518 §3.4: R || S, 32 bytes each
                raise InvalidSignature("An ES256 signature must be 64 bytes.")
            r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            if not 0 < s <= _P256_HALF_ORDER:
                # (r, n - s) is the malleated twin of a valid signature: refused, so each credential has one form.
                raise InvalidSignature("An ES256 signature must be in low-S form (s <= n/2).")
            der = encode_dss_signature(r, s)
            public_key.verify(der, parsed.signing_input, ECDSA(hashes.SHA256()))
        else:
            raise InvalidSignature("The issuer's key type is not supported.")
    except (crypto_exceptions.InvalidSignature, BadSignatureError):
        raise InvalidSignature("The signature does not match the credential.") from None
    except (ValueError, binascii.Error):
        raise InvalidSignature("The signature could not be checked.") from None
