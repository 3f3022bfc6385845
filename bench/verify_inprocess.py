"""Credentials verified per second in-process: the full verifier vs the bare Ed25519 signature check."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from nacl.bindings import crypto_sign_open

from app.credentials import builder, jose
from app.verification import verifier
from bench.common import ISSUER_DID, PUBLIC_URL, BenchResult, Table, Target, main_of, ratio, time_interleaved

TARGET = 0.70  # the full verifier at >= 0.7x the raw signature check
PYJWT_EXPECTED = 0.48


MASTERY_BANDS = (("Advanced", 90.0), ("Proficient", 70.0), ("Foundation", 50.0))


def signed_credential() -> tuple[str, Ed25519PublicKey, str]:
    """A credential shaped as app.credentials.service issues one (achievement with mastery bands, evidence, two
    status entries, `iss` claim), signed EdDSA."""
    private_key = Ed25519PrivateKey.generate()
    public_key = private_key.public_key()
    kid = jose.jwk_thumbprint(jose.public_jwk(public_key))
    issued_at = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    list_url = f"{PUBLIC_URL}/v1/status-lists/"
    document = builder.build_credential(
        credential_id=str(uuid.uuid4()),
        issuer=builder.Issuer(did=ISSUER_DID, name="Skillproof", url=PUBLIC_URL),
        subject_id=f"urn:uuid:{uuid.uuid4()}",
        achievement=builder.Achievement(
            skill_id="python", skill_name="Python",
            skill_description="Writing, reading and debugging everyday Python: data types, control flow, "
                              "functions, the standard library, errors and idioms.",
            level="foundation", pass_percent=70.0,
            mastery_bands=tuple(builder.MasteryBand(name, percent) for name, percent in MASTERY_BANDS),
        ),
        evidence=builder.Evidence(
            assessment_id=str(uuid.uuid4()), assessment_title="Python (foundation)",
            content_hash=hashlib.sha256(b"assessment").hexdigest(), attempt_id=str(uuid.uuid4()), item_count=10,
        ),
        score_percent=90.0,
        mastery="Advanced",
        status_entries=[builder.StatusEntryRef("message", 48_213, list_url + str(uuid.uuid4()))],
        issued_at=issued_at,
        valid_until=issued_at + dt.timedelta(days=365),
    )
    return jose.sign_compact(jose.claims_for(document), private_key, kid=kid, alg="EdDSA"), public_key, kid


def run(quick: bool = False) -> BenchResult:
    token, public_key, kid = signed_credential()
    keys = {(ISSUER_DID, kid): public_key}
    status_values: dict[tuple[str, int], int] = {}

    def resolve_key(issuer: str, key_id: str) -> jose.PublicKey:
        try:
            return keys[(issuer, key_id)]
        except KeyError:
            raise verifier.UnknownKey(key_id) from None

    def lookup_status(list_url: str, index: int, purpose: str, size: int) -> int:
        return status_values.get((list_url, index), 0)

    now = dt.datetime.now(dt.UTC)
    parsed = jose.parse_compact(token)
    signing_input, signature = parsed.signing_input, parsed.signature
    raw_public_key = public_key.public_bytes_raw()
    result = verifier.verify_credential(token, resolve_key=resolve_key, lookup_status=lookup_status, now=now)
    if not result.verified or result.warnings:
        raise RuntimeError(f"the benchmark credential does not verify cleanly: {result.to_json()}")
    public_key.verify(signature, signing_input)
    jwt.decode(token, public_key, algorithms=["EdDSA"])

    cache = verifier.VerifiedTokens()
    candidates = {
        "cryptography Ed25519PublicKey.verify (baseline)": lambda: public_key.verify(signature, signing_input),
        "verifier.verify_credential (full)": lambda: verifier.verify_credential(
            token, resolve_key=resolve_key, lookup_status=lookup_status, now=now
        ),
        "verifier.verify_credential (repeat, verified-token cache)": lambda: verifier.verify_credential(
            token, resolve_key=resolve_key, lookup_status=lookup_status, now=now, verified_tokens=cache
        ),
        "libsodium Ed25519 verify (what the verifier uses; reference)": lambda: crypto_sign_open(
            signature + signing_input, raw_public_key
        ),
        "PyJWT jwt.decode (reference)": lambda: jwt.decode(token, public_key, algorithms=["EdDSA"]),
        "  part: jose.parse_compact": lambda: jose.parse_compact(token),
        "  part: jose.verify_signature": lambda: jose.verify_signature(parsed, public_key),
    }
    timings = time_interleaved(candidates, repeats=3 if quick else 7, repeat_seconds=0.1 if quick else 0.25)
    baseline = timings["cryptography Ed25519PublicKey.verify (baseline)"]
    full = timings["verifier.verify_credential (full)"]
    warm = timings["verifier.verify_credential (repeat, verified-token cache)"]
    pyjwt = timings["PyJWT jwt.decode (reference)"]
    sodium = timings["libsodium Ed25519 verify (what the verifier uses; reference)"]
    rows = [
        [name, f"{t.best:,.0f}", f"{t.median:,.0f}", f"{1e6 / t.median:.1f}", ratio(t.best, baseline.best),
         ratio(t.median, baseline.median)]
        for name, t in timings.items()
    ]
    return BenchResult(
        key="verify_inprocess",
        title="1. In-process verification (Ed25519, vc+jwt)",
        tables=[Table(["what", "best /s", "median /s", "median µs", "ratio best", "ratio median"], rows,
                      f"token {len(token):,} characters, payload {len(parsed.payload)} top-level members; "
                      f"{len(full.rates)} repeats each, interleaved")],
        targets=[
            Target(f"verify_credential ≥ {TARGET}× raw Ed25519 verify", full.median / baseline.median >= TARGET,
                   f"{full.median / baseline.median:.2f}× median, {full.best / baseline.best:.2f}× best"),
            Target(f"repeat verification (verified-token cache) ≥ {TARGET}×", warm.median / baseline.median >= TARGET,
                   f"{warm.median / baseline.median:.2f}× median"),
        ],
        headline=[
            ["verify_credential, in-process", f"{full.median:,.0f} /s", f"{baseline.median:,.0f} /s Ed25519 verify",
             ratio(full.median, baseline.median)],
            ["  repeat, verified-token cache", f"{warm.median:,.0f} /s", f"{baseline.median:,.0f} /s Ed25519 verify",
             ratio(warm.median, baseline.median)],
            ["PyJWT jwt.decode (reference)", f"{pyjwt.median:,.0f} /s", f"{baseline.median:,.0f} /s Ed25519 verify",
             ratio(pyjwt.median, baseline.median)],
        ],
        notes=[f"PyJWT jwt.decode of the same token: {pyjwt.median / baseline.median:.2f}× "
               f"(about {PYJWT_EXPECTED}× expected); it checks less (no strict JSON, no VC rules, no status).",
               f"The verifier checks Ed25519 with libsodium (PyNaCl), {sodium.median / baseline.median:.2f}× the "
               f"speed of cryptography's OpenSSL on this message; against libsodium itself the full verification "
               f"runs at {full.median / sodium.median:.2f}×: the rest is strict base64url and JSON parsing and the "
               f"VC, OB 3.0 and status rules."],
    )


def main() -> None:
    main_of(run, __doc__)


if __name__ == "__main__":
    main()
