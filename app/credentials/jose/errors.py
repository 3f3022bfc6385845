"""The JOSE exception tree; each class names the verify error `code` it stands for (CONTRACT.md).

JoseError
 ├── MalformedJose          malformed: not a compact JWS, bad JSON or base64url, a header rule broken
 ├── UnsupportedAlgorithm   unsupported_algorithm: alg outside the allow-list, or a key type we refuse
 └── InvalidSignature       invalid_signature: the signature does not match, or is not in canonical form
"""

from __future__ import annotations

from typing import ClassVar

__all__ = ["InvalidSignature", "JoseError", "MalformedJose", "UnsupportedAlgorithm"]


class JoseError(Exception):
    """A token or key that cannot be used; `code` is the verify error it becomes."""

    code: ClassVar[str] = "malformed"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MalformedJose(JoseError):
    """Not a usable compact JWS, JWK or Multikey."""

    code = "malformed"


class UnsupportedAlgorithm(JoseError):
    """An algorithm or key type outside the allow-list."""

    code = "unsupported_algorithm"


class InvalidSignature(JoseError):
    """The signature does not verify under the key, or is not in canonical (low-S) form."""

    code = "invalid_signature"
