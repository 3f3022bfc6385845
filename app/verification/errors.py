"""The verifier's exception tree; each class names the verify error code it stands for (CONTRACT.md).

Exception
 ├── jose.JoseError                 (app.credentials.jose: the token itself)
 │    ├── MalformedJose              malformed
 │    ├── UnsupportedAlgorithm       unsupported_algorithm
 │    └── InvalidSignature           invalid_signature
 └── VerificationError              (raised by the resolver and the status lookup the verifier is given)
      ├── UntrustedIssuer            untrusted_issuer
      ├── UnknownKey                 unknown_key
      └── StatusUnavailable          status_unavailable

The verifier turns any of these into a Problem with `exc.code`; nothing else maps errors to codes.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = ["StatusUnavailable", "UnknownKey", "UntrustedIssuer", "VerificationError"]


class VerificationError(Exception):
    """A failure outside the token: trust, key lookup or status."""

    code: ClassVar[str]


class UntrustedIssuer(VerificationError):
    """The issuer is not one this verifier trusts, or it cannot be resolved."""

    code = "untrusted_issuer"


class UnknownKey(VerificationError):
    """The issuer publishes no key with this kid."""

    code = "unknown_key"


class StatusUnavailable(VerificationError):
    """The status list could not be fetched or verified."""

    code = "status_unavailable"
