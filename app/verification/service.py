"""Wires the pure verifier to this service's keys, trusted issuers and status lists."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from app.keys.keystore import FileKeyStore, PublicKey
from app.ops import metrics
from app.verification import verifier as pure
from app.verification.verifier import Problem, VerificationResult


class LocalKeyResolver:
    """Trusts this service's own issuer DID and resolves kids in its keystore."""

    def __init__(self, keystore: FileKeyStore, issuer_did: str):
        self.keystore = keystore
        self.issuer_did = issuer_did

    def __call__(self, issuer: str, kid: str) -> PublicKey:
        if issuer != self.issuer_did:
            raise pure.UntrustedIssuer(f"issuer {issuer} is not trusted by this service")
        key = self.keystore.public_key(kid)
        if key is None:
            raise pure.UnknownKey(f"no published key has kid {kid}")
        return key


class Verifier:
    """verify(credential) with this service's resolver, status lookup and clock."""

    def __init__(
        self,
        resolve_key: pure.KeyResolver,
        lookup_status: pure.StatusLookup,
        clock: Callable[[], dt.datetime],
    ):
        self.resolve_key = resolve_key
        self.lookup_status = lookup_status
        self.clock = clock
        # Process memory only as a cache: another replica without it reaches the same verdicts.
        self.verified_tokens = pure.VerifiedTokens()

    def verify(self, credential: object) -> VerificationResult:
        result = pure.verify_credential(
            credential, resolve_key=self.resolve_key, lookup_status=self.lookup_status, now=self.clock(),
            verified_tokens=self.verified_tokens,
        )
        metrics.record_verification(result.verified, [problem.code for problem in result.errors])
        return result


def malformed(message: str) -> VerificationResult:
    """A verdict for input rejected before the verifier runs."""
    return VerificationResult(
        verified=False, credential=None, checks=[], warnings=[], errors=[Problem("malformed", message)]
    )
