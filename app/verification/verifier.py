"""The verdict on a credential: parse, algorithm, issuer, key, signature, then validity and status.

PURE: keys come from a resolver, status bits from a lookup and time from `now`; nothing else is read.
Up to the signature the first failure stops (the payload is untrusted); after it every problem is reported.
Only achievements verify here: an OpenBadgeCredential or AchievementCredential with a `credentialStatus`
(a status list, or any other VC the same key signs, is `invalid_credential`).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Final, NamedTuple, Protocol, TypeGuard

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from app.credentials import data_integrity, jose
from app.status_lists import bitstring, messages
from app.verification.errors import StatusUnavailable, UnknownKey, UntrustedIssuer, VerificationError

__all__ = [
    "CHECKS",
    "KeyResolver",
    "OpenedToken",
    "PendingStatus",
    "Problem",
    "PublicKey",
    "StatusLookup",
    "StatusUnavailable",
    "UnknownKey",
    "UntrustedIssuer",
    "VerificationError",
    "VerificationResult",
    "check_credential",
    "check_signature",
    "check_signed",
    "is_data_integrity",
    "open_token",
    "verify_credential",
]

PublicKey = jose.PublicKey

CHECKS: Final = (
    "parse",
    "algorithm",
    "issuer",
    "key",
    "signature",
    "credential",
    "validity_period",
    "status:revocation",
    "status:suspension",
)
VC_V2_CONTEXT: Final = "https://www.w3.org/ns/credentials/v2"
OB_V3_CONTEXT_PREFIX: Final = "https://purl.imsglobal.org/spec/ob/v3p0/context"
ENVELOPE_PREFIX: Final = "data:application/vc+jwt,"
OB_CREDENTIAL_TYPES: Final = frozenset({"OpenBadgeCredential", "AchievementCredential"})
STATUS_ENTRY_TYPE: Final = "BitstringStatusListEntry"
_STATUS_ERRORS: Final = {"revocation": "revoked", "suspension": "suspended"}
_BOTH_PURPOSES: Final = ("revocation", "suspension")

# VC DM 2.0 §4.6 / XML Schema 1.1 dateTimeStamp: a dateTime that must carry a time zone.
_DATETIME_STAMP: Final = re.compile(
    r"(?P<year>-?(?:[1-9][0-9]{3,}|0[0-9]{3}))-(?P<month>0[1-9]|1[0-2])-(?P<day>0[1-9]|[12][0-9]|3[01])"
    r"T(?:(?P<hour>[01][0-9]|2[0-3]):(?P<minute>[0-5][0-9]):(?P<second>[0-5][0-9])(?:\.(?P<fraction>[0-9]+))?"
    r"|(?P<midnight>24:00:00(?:\.0+)?))"
    r"(?P<tz>Z|(?P<sign>[+-])(?P<tzh>0[0-9]|1[0-3]):(?P<tzm>[0-5][0-9])|(?P<tzmax>[+-]14:00))"
)
# Clock skew allowed between issuer and verifier on validFrom/validUntil and nbf/exp.
DEFAULT_LEEWAY: Final = timedelta(seconds=60)
_ABSOLUTE_URL: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s]+")
_MAX_MESSAGE: Final = 200
_DEFAULT_MESSAGES: Final = {
    UntrustedIssuer.code: "The issuer is not trusted or cannot be resolved.",
    UnknownKey.code: "The issuer publishes no key with this kid.",
}


class KeyResolver(Protocol):
    """Finds the key `key_id` (a DID URL, or a bare thumbprint) of `issuer`; raises UntrustedIssuer or UnknownKey."""

    def __call__(self, issuer: str, key_id: str) -> PublicKey: ...


class StatusLookup(Protocol):
    """Reads one entry's value (statusSize bits at index*size; 0 = unset); raises StatusUnavailable."""

    def __call__(self, status_list_credential: str, index: int, purpose: str, size: int) -> int: ...


@dataclass(frozen=True)
class Problem:
    """One error or warning: a stable code and a short human sentence."""

    code: str
    message: str

    def to_json(self) -> dict[str, str]:
        """The JSON form {"code", "message"}."""
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class VerificationResult:
    """The verdict; `verified` is true iff there are no errors."""

    verified: bool
    credential: dict[str, Any] | None
    checks: list[str]
    warnings: list[Problem]
    errors: list[Problem]
    # The credential's JSON as signed, when it is exactly orjson's serialisation of `credential`.
    credential_json: bytes | None = field(default=None, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        """The response body of POST /v1/credentials/verify."""
        return {
            "verified": self.verified,
            "credential": self.credential,
            "checks": list(self.checks),
            "warnings": [problem.to_json() for problem in self.warnings],
            "errors": [problem.to_json() for problem in self.errors],
        }

    def to_response(self) -> dict[str, Any]:
        """to_json() for orjson to write: the credential as the token's own bytes when they are what orjson
        would write for it (no second serialisation of a 5 KB credential)."""
        credential_json = self.credential_json
        return {
            "verified": self.verified,
            "credential": self.credential if credential_json is None or self.credential is None
            else orjson.Fragment(credential_json),
            "checks": self.checks,
            "warnings": [problem.to_json() for problem in self.warnings],
            "errors": [problem.to_json() for problem in self.errors],
        }


class _StatusEntry(NamedTuple):
    purpose: str
    list_index: int
    list_url: str
    size: int
    messages: dict[int, str] | None
    ours: bool  # a `message` entry with Skillproof's table: bit 2 revocation, bit 1 suspension


@dataclass
class _Findings:
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    def error(self, code: str, message: str) -> None:
        self.errors.append(Problem(code, message))

    def warn(self, code: str, message: str) -> None:
        self.warnings.append(Problem(code, message))


def _stop(checks: list[str], code: str, message: str) -> VerificationResult:
    return VerificationResult(False, None, checks, [], [Problem(code, message)])


def _message(exc: Exception, default: str) -> str:
    text = " ".join(str(exc).split())
    return text[:_MAX_MESSAGE] if text else default


def _types(value: object) -> list[str] | None:
    """A `type` value as a list of strings; None if it is neither a string nor a list of strings."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        for item in value:  # a loop, not all() over a generator: this runs several times per credential
            if not isinstance(item, str):
                return None
        return list(value)
    return None


def _issuer_id(credential: dict[str, Any]) -> str | None:
    issuer = credential.get("issuer")
    if isinstance(issuer, dict):
        issuer = issuer.get("id")
    return issuer if isinstance(issuer, str) and issuer else None


_PLAIN_UTC_STAMP: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z", re.ASCII)


def parse_datetime_stamp(value: object) -> datetime | None:
    """An XML Schema dateTimeStamp as an aware UTC datetime; None if invalid. Years past 9999 clamp to max."""
    if not isinstance(value, str):
        return None
    if _PLAIN_UTC_STAMP.fullmatch(value):  # the common form, e.g. 2026-11-26T08:00:00Z: parsed in C
        with contextlib.suppress(ValueError):  # 24:00:00, year 0 and the like take the full path below
            return datetime.fromisoformat(value)
    match = _DATETIME_STAMP.fullmatch(value)
    if match is None:
        return None
    year = int(match["year"])
    if year > 9999 or year < 1:
        return datetime.max.replace(tzinfo=UTC) if year > 9999 else datetime.min.replace(tzinfo=UTC)
    if match["tz"] == "Z":
        tz = UTC
    else:
        sign = -1 if match["tz"][0] == "-" else 1
        hours, minutes = (14, 0) if match["tzmax"] else (int(match["tzh"]), int(match["tzm"]))
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        if match["midnight"]:
            base = datetime(year, int(match["month"]), int(match["day"]), tzinfo=tz) + timedelta(days=1)
        else:
            micro = int((match["fraction"] or "0")[:6].ljust(6, "0"))
            base = datetime(
                year,
                int(match["month"]),
                int(match["day"]),
                int(match["hour"]),
                int(match["minute"]),
                int(match["second"]),
                micro,
                tzinfo=tz,
            )
        return base.astimezone(UTC)
    except (ValueError, OverflowError):
        if year == 9999:
            return datetime.max.replace(tzinfo=UTC)
        if year == 1:
            return datetime.min.replace(tzinfo=UTC)
        return None


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _status_entries(value: object, found: _Findings) -> list[_StatusEntry]:
    """Validate `credentialStatus` (Bitstring Status List §2.1); return the entries that can be looked up."""
    raw_items: list[Any] = value if isinstance(value, list) else [value]
    items: list[dict[str, Any]] = [item for item in raw_items if isinstance(item, dict)]
    if not items or len(items) != len(raw_items):
        found.error("invalid_credential", "credentialStatus must be an object or a list of objects.")
        return []
    entries: list[_StatusEntry] = []
    for item in items:
        types = _types(item.get("type"))
        if types is None:
            found.error("invalid_credential", "Every credentialStatus entry needs a type.")
            continue
        if STATUS_ENTRY_TYPE not in types:
            # VC-JOSE-COSE §5.4: a status mechanism whose type is not understood is ignored.
            found.warn("unsupported_status_type", f"A credentialStatus of type {types[0][:60]!r} was not checked.")
            continue
        raw_purpose, raw_url, raw_size = (
            item.get("statusPurpose"),
            item.get("statusListCredential"),
            item.get("statusSize", 1),
        )
        purpose = raw_purpose if isinstance(raw_purpose, str) and raw_purpose else ""
        list_url = raw_url if isinstance(raw_url, str) and _ABSOLUTE_URL.fullmatch(raw_url) else ""
        size = raw_size if isinstance(raw_size, int) and not isinstance(raw_size, bool) and raw_size > 0 else 0
        problems = []
        if not purpose:
            problems.append("a statusPurpose string")
        try:
            index = bitstring.parse_index(item.get("statusListIndex"))
        except ValueError:
            index = -1
            problems.append("a statusListIndex that is a base-10 integer string")
        if not list_url:
            problems.append("a statusListCredential URL")
        elif item.get("id") == list_url:
            problems.append("an id that is not the status list URL")
        if not size:
            problems.append("a statusSize that is a positive integer")
        table = None
        if size and (size > 1 or "statusMessage" in item):
            # §2.1 statusMessage: MUST be present when statusSize > 1, with one element per value (2^statusSize).
            table = messages.parse_status_messages(item.get("statusMessage"), size)
            if table is None:
                problems.append(f"a statusMessage of {2 ** min(size, 16)} {{status, message}} elements, one per value")
        if problems:
            found.error("invalid_credential", f"A BitstringStatusListEntry needs {', '.join(problems)}.")
            continue
        ours = purpose == messages.MESSAGE_PURPOSE and size == messages.STATUS_SIZE and table is not None and (
            messages.is_skillproof_table(table))
        entries.append(_StatusEntry(purpose, index, list_url, size, table, ours))
    return entries


def _is_read(entry: _StatusEntry) -> bool:
    """Whether _check_status_entry looks this entry up (others are reported without a read)."""
    return entry.purpose == messages.MESSAGE_PURPOSE or (entry.purpose in _STATUS_ERRORS and entry.size == 1)


def _check_status_entry(
    entry: _StatusEntry, lookup_status: StatusLookup, found: _Findings, passed: dict[str, int], failed: dict[str, int]
) -> None:
    """Read one entry and record what it says about revocation and suspension."""
    is_message = entry.purpose == messages.MESSAGE_PURPOSE
    if not is_message and entry.purpose not in _STATUS_ERRORS:
        found.warn("unsupported_status_purpose", f"The status purpose {entry.purpose[:40]!r} was not checked.")
        return
    if not is_message and entry.size != 1:
        found.error("status_unavailable", "Revocation and suspension entries wider than one bit are not supported.")
        failed[entry.purpose] += 1
        return
    # Our table: bit 2 revocation, bit 1 suspension. Another message table is reported, not interpreted.
    ours = entry.ours
    covers = _BOTH_PURPOSES if ours else () if is_message else (entry.purpose,)
    try:
        value = lookup_status(entry.list_url, entry.list_index, entry.purpose, entry.size)
    except StatusUnavailable as exc:
        found.error(exc.code, _message(exc, f"The {entry.purpose} status list is unavailable."))
        for purpose in covers:
            failed[purpose] += 1
        return
    if not is_message:
        _record_status(entry.purpose, bool(value), found, passed, failed)
    elif ours:
        _record_status("revocation", bool(value & messages.REVOKED), found, passed, failed)
        _record_status("suspension", bool(value & messages.SUSPENDED), found, passed, failed)
    else:
        text = (entry.messages or {}).get(value, "set" if value else "unset")
        found.warn("status_message", f"The status list gives this credential the status {value:#x}: {text[:80]!r}.")


def _record_status(
    purpose: str, is_set: bool, found: _Findings, passed: dict[str, int], failed: dict[str, int]
) -> None:
    if is_set:
        found.error(_STATUS_ERRORS[purpose], f"The credential has been {_STATUS_ERRORS[purpose]}.")
        failed[purpose] += 1
    else:
        passed[purpose] += 1


def _check_credential(
    credential: dict[str, Any], issuer_id: str, found: _Findings
) -> tuple[datetime | None, datetime | None, bool]:
    """VC Data Model 2.0 and Open Badges 3.0 rules; returns (validFrom, validUntil, dates_ok)."""
    problems: list[str] = []
    context = credential.get("@context")
    contexts = [context] if isinstance(context, str) else context if isinstance(context, list) else []
    if not contexts or contexts[0] != VC_V2_CONTEXT:
        problems.append(f"@context must start with {VC_V2_CONTEXT}.")
    types = _types(credential.get("type"))
    if types is None or "VerifiableCredential" not in types:
        problems.append("type must include VerifiableCredential.")
    is_badge = types is not None and not OB_CREDENTIAL_TYPES.isdisjoint(types)
    if types is not None and not is_badge:
        # This endpoint verifies achievements only: a status list (or any other VC) signed by the same key
        # must not pass for one (issue 6: a BitstringStatusListCredential verified as `verified: true`).
        problems.append("type must include OpenBadgeCredential or AchievementCredential.")
    if "id" in credential and not isinstance(credential["id"], str):
        problems.append("id must be a URL string.")
    if "vc" in credential or "vp" in credential:
        problems.append("The JWT claims 'vc' and 'vp' are not allowed (VC-JOSE-COSE §1.1.2.1).")
    if "iss" in credential and credential["iss"] != issuer_id:
        problems.append("The JWT 'iss' differs from the credential issuer.")
    for claim in ("nbf", "exp", "iat"):
        if claim in credential and not _is_number(credential[claim]):
            problems.append(f"The JWT '{claim}' claim must be a number.")

    subject = credential.get("credentialSubject")
    subjects = subject if isinstance(subject, list) else [subject]
    if subject is None or not subjects or not all(isinstance(item, dict) for item in subjects):
        problems.append("credentialSubject must be an object (or a list of objects).")
    if is_badge:
        if not any(isinstance(c, str) and c.startswith(OB_V3_CONTEXT_PREFIX) for c in contexts):
            problems.append("An Open Badge must list the Open Badges 3.0 @context.")
        if not isinstance(subject, dict):
            problems.append("An Open Badge credentialSubject must be a single AchievementSubject.")
        else:
            subject_types = _types(subject.get("type"))
            if subject_types is None or "AchievementSubject" not in subject_types:
                problems.append("An Open Badge credentialSubject must have type AchievementSubject.")
            if not isinstance(subject.get("achievement"), dict):
                problems.append("An Open Badge credentialSubject must hold an achievement.")

    dates_ok = True
    valid_from = valid_until = None
    if "validFrom" in credential:
        valid_from = parse_datetime_stamp(credential["validFrom"])
        if valid_from is None:
            problems.append("validFrom must be an XML Schema dateTimeStamp (with a time zone).")
            dates_ok = False
    elif is_badge:
        problems.append("An Open Badge must have validFrom.")
    if "validUntil" in credential:
        valid_until = parse_datetime_stamp(credential["validUntil"])
        if valid_until is None:
            problems.append("validUntil must be an XML Schema dateTimeStamp (with a time zone).")
            dates_ok = False
    if valid_from is not None and valid_until is not None and valid_until < valid_from:
        problems.append("validUntil is before validFrom.")
        dates_ok = False
    # OB 3.0 §8.2.4.1: jti, sub, nbf and exp, when present, must agree with id, subject, validFrom, validUntil.
    problems += jose.claim_conflicts(credential, valid_from, valid_until)
    for problem in problems:
        found.error("invalid_credential", problem)
    return valid_from, valid_until, dates_ok


def _check_period(
    credential: dict[str, Any],
    valid_from: datetime | None,
    valid_until: datetime | None,
    now: datetime,
    leeway: timedelta,
    found: _Findings,
) -> bool:
    """validFrom/validUntil and the JWT nbf/exp (RFC 7519 §4.1.4, §4.1.5), each with leeway."""
    ok = True
    seconds = leeway.total_seconds()
    now_ts = now.timestamp()
    nbf, exp = _number(credential.get("nbf")), _number(credential.get("exp"))
    if valid_from is not None and valid_from > now + leeway:
        found.error("not_yet_valid", f"The credential is not valid before {str(credential['validFrom'])[:64]}.")
        ok = False
    elif nbf is not None and nbf > now_ts + seconds:
        found.error("not_yet_valid", "The token is not valid yet (JWT 'nbf').")
        ok = False
    if valid_until is not None and valid_until < now - leeway:
        found.error("expired", f"The credential expired at {str(credential['validUntil'])[:64]}.")
        ok = False
    elif exp is not None and exp <= now_ts - seconds:
        found.error("expired", "The token has expired (JWT 'exp').")
        ok = False
    return ok


def _unwrap(vc: object) -> tuple[str | None, Problem | None]:
    """The compact JWS inside `vc`, or the problem that stops verification."""
    if isinstance(vc, str):
        return vc, None
    if not isinstance(vc, dict):
        return None, Problem("malformed", "verifiableCredential must be a compact JWS or a credential object.")
    types = _types(vc.get("type")) or []
    if "EnvelopedVerifiableCredential" in types:
        # VC DM 2.0 §4.13: the secured credential travels in `id` as a data: URL.
        envelope = vc.get("id")
        if not isinstance(envelope, str) or not envelope.startswith(ENVELOPE_PREFIX):
            return None, Problem("malformed", f"An EnvelopedVerifiableCredential id must start with {ENVELOPE_PREFIX}")
        return envelope[len(ENVELOPE_PREFIX) :], None
    return None, Problem("malformed", "The credential has no proof: send a vc+jwt or a Data Integrity credential.")


class VerifiedTokens:
    """A bounded LRU of tokens whose signature already verified, each with the key that verified it.

    Sound because a signature over fixed bytes under a fixed key never changes its verdict: a hit still parses
    the token and resolves the issuer's key afresh (trust and kid checked every time), and skips only the
    signature, when that key is the very object that verified the token; everything after the signature
    (credential rules, validity period, status) runs on every call. Parsed payloads are not kept: a cache of a
    thousand decoded credentials cost every miss more (allocation in cold memory, freeing an evicted tree) than
    the signature it saved on a hit.

    An entry is found by one of two keys. ES256 (any key but Ed25519): the SHA-256 of the signing input
    followed by the signature, since ES256 verifies that hash anyway. Ed25519 verifies the message itself, so
    hashing ~7 KB only for the cache cost a tenth of the signature: its entries are found by the signature
    bytes alone and keep the signing input, compared in full on a hit (a token with the same signature over
    other bytes is a miss and is verified). Those inputs are the memory: at most `max_bytes` of them.
    """

    def __init__(self, max_entries: int = 1024, max_bytes: int = 12 * 1024 * 1024):
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: OrderedDict[bytes, tuple[bytes | None, object]] = OrderedDict()
        self._bytes = 0  # the kept signing inputs and cache keys
        self._lock = threading.Lock()

    @staticmethod
    def cache_key(signature: bytes, signing_input_sha256: bytes | None) -> bytes:
        """The entry's key: the signature alone (Ed25519, no hash given) or the hash followed by it."""
        return signature if signing_input_sha256 is None else signing_input_sha256 + signature

    def key_for(self, cache_key: bytes, signing_input: bytes | None = None) -> object | None:
        """The key that verified the token, if remembered; `signing_input` for entries found by signature."""
        with self._lock:
            found = self._entries.get(cache_key)
            if found is None or found[0] != signing_input:
                return None
            self._entries.move_to_end(cache_key)
            return found[1]

    def get(self, token: str) -> object | None:
        """The key that verified this compact JWS, if remembered (either kind of entry)."""
        signing_input, _, signature = token.encode("ascii").rpartition(b".")
        raw = jose.b64url_decode(signature.decode("ascii"))
        return self.key_for(raw, signing_input) or self.key_for(hashlib.sha256(signing_input).digest() + raw)

    def put(self, cache_key: bytes, key: object, signing_input: bytes | None = None) -> None:
        with self._lock:
            old = self._entries.pop(cache_key, None)
            if old is not None:
                self._bytes -= len(cache_key) + len(old[0] or b"")
            self._entries[cache_key] = (signing_input, key)
            self._bytes += len(cache_key) + len(signing_input or b"")
            while self._entries and (len(self._entries) > self.max_entries or self._bytes > self.max_bytes):
                evicted_key, (evicted_input, _) = self._entries.popitem(last=False)
                self._bytes -= len(evicted_key) + len(evicted_input or b"")

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0


def verify_credential(
    vc: object,
    *,
    resolve_key: KeyResolver,
    lookup_status: StatusLookup,
    now: datetime,
    leeway: timedelta = DEFAULT_LEEWAY,
    verified_tokens: VerifiedTokens | None = None,
    status_optional_issuers: frozenset[str] = frozenset(),
    data_integrity_hasher: data_integrity.Hasher | None = None,
) -> VerificationResult:
    """Verify a `vc+jwt` (compact, or enveloped) or a Data Integrity credential; never raises for bad input.

    A credential without `credentialStatus` is `invalid_credential`, unless its issuer is in
    `status_optional_issuers` (then it is a `no_status` warning). `data_integrity_hasher` computes a Data
    Integrity proof's hash (default: in this thread).
    """
    checked = check_credential(
        vc, resolve_key=resolve_key, now=now, leeway=leeway, verified_tokens=verified_tokens,
        status_optional_issuers=status_optional_issuers, data_integrity_hasher=data_integrity_hasher,
    )
    return checked if isinstance(checked, VerificationResult) else checked.finish(lookup_status)


def check_credential(
    vc: object,
    *,
    resolve_key: KeyResolver,
    now: datetime,
    leeway: timedelta = DEFAULT_LEEWAY,
    verified_tokens: VerifiedTokens | None = None,
    status_optional_issuers: frozenset[str] = frozenset(),
    data_integrity_hasher: data_integrity.Hasher | None = None,
) -> VerificationResult | PendingStatus:
    """Everything but the status reads: the verdict if it is already final, else what is left to read.

    verify_credential is this followed by PendingStatus.finish; a batch checks all its credentials first,
    reads every status entry they name together, then finishes each one.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if is_data_integrity(vc):
        proven = _open_data_integrity(vc, resolve_key, data_integrity_hasher)
        if isinstance(proven, VerificationResult):
            return proven
        return _check_all_but_status(*proven, now, leeway, status_optional_issuers)
    opened = open_token(vc, resolve_key)
    if isinstance(opened, VerificationResult):
        return opened
    stopped = check_signature(opened, verified_tokens)
    if stopped is not None:
        return stopped
    return check_signed(opened, now, leeway, status_optional_issuers)


def is_data_integrity(vc: object) -> TypeGuard[dict[str, Any]]:
    """Whether `vc` is a credential with an embedded proof (checked whole by check_credential, not by phases)."""
    return isinstance(vc, dict) and "proof" in vc


@dataclass(slots=True)
class OpenedToken:
    """A vc+jwt parsed, its issuer named and the key resolved: only the signature stands between it and its rules."""

    parsed: jose.ParsedJws
    issuer_id: str
    public_key: PublicKey
    checks: list[str]


def open_token(vc: object, resolve_key: KeyResolver) -> OpenedToken | VerificationResult:
    """The first phase of a vc+jwt's check_credential: unwrap, parse, issuer and key (or the stopping verdict)."""
    token, problem = _unwrap(vc)
    if problem is not None or token is None:
        problem = problem or Problem("malformed", "No credential was given.")
        return _stop(["parse"] if problem.code == "unsupported_algorithm" else [], problem.code, problem.message)
    try:
        parsed = jose.parse_compact(token)
    except jose.JoseError as exc:
        return _stop(["parse"] if isinstance(exc, jose.UnsupportedAlgorithm) else [], exc.code, exc.message)
    checks = ["parse", "algorithm"]
    issuer_id = _issuer_id(parsed.payload)
    if issuer_id is None:
        return _stop(checks, "invalid_credential", "The credential has no issuer (a URL, or an object with an id).")
    checks.append("issuer")
    try:
        public_key = resolve_key(issuer_id, parsed.header["kid"])
    except (UntrustedIssuer, UnknownKey) as exc:
        return _stop(checks, exc.code, _message(exc, _DEFAULT_MESSAGES[exc.code]))
    checks.append("key")
    return OpenedToken(parsed, issuer_id, public_key, checks)


def check_signature(opened: OpenedToken, verified_tokens: VerifiedTokens | None = None) -> VerificationResult | None:
    """The second phase: None when the signature holds (then `signature` is in opened.checks), else the verdict."""
    parsed, public_key = opened.parsed, opened.public_key
    try:
        if verified_tokens is None:
            jose.verify_signature(parsed, public_key)
        else:
            # ES256 verifies the SHA-256 of the signing input, which also keys its cache entry: computed once.
            # Ed25519 entries are found by their signature and compared on their signing input, no hash.
            is_ed25519 = isinstance(public_key, Ed25519PublicKey)
            signed_hash = None if is_ed25519 else hashlib.sha256(parsed.signing_input).digest()
            kept_input = parsed.signing_input if is_ed25519 else None
            cache_key = VerifiedTokens.cache_key(parsed.signature, signed_hash)
            if verified_tokens.key_for(cache_key, kept_input) is not public_key:
                jose.verify_signature(parsed, public_key, signed_hash)
                verified_tokens.put(cache_key, public_key, kept_input)
    except jose.JoseError as exc:
        return _stop(opened.checks, exc.code, exc.message)
    opened.checks.append("signature")
    return None


def check_signed(
    opened: OpenedToken, now: datetime, leeway: timedelta, status_optional_issuers: frozenset[str]
) -> PendingStatus:
    """The third phase, once the signature holds: the credential rules and validity, all but the status reads."""
    parsed = opened.parsed
    return _check_all_but_status(parsed.payload, opened.issuer_id, opened.checks, now, leeway,
                                 status_optional_issuers, parsed.payload_json)


class _NoIssuer(Exception):
    """The credential names no issuer, so no key can be resolved."""


def _open_data_integrity(
    vc: dict[str, Any], resolve_key: KeyResolver, hasher: data_integrity.Hasher | None
) -> tuple[dict[str, Any], str, list[str]] | VerificationResult:
    """A credential with an embedded eddsa-rdfc-2022 proof: (credential, issuer, checks) or the stopping verdict."""
    issuer_id = _issuer_id(vc)
    resolved = False

    def resolve(method: str) -> PublicKey:
        nonlocal resolved
        if issuer_id is None:
            raise _NoIssuer
        key = resolve_key(issuer_id, method)  # the DID URL; its DID must be the issuer's (KeyResolver)
        resolved = True
        return key

    try:
        proven = data_integrity.verify_proof(vc, resolve, hasher=hasher)
    except _NoIssuer:
        return _stop(["parse", "algorithm"], "invalid_credential", "The credential has no issuer (a URL or an id).")
    except (UntrustedIssuer, UnknownKey) as exc:
        return _stop(["parse", "algorithm", "issuer"], exc.code, _message(exc, _DEFAULT_MESSAGES[exc.code]))
    except data_integrity.DataIntegrityError as exc:
        done = ["parse", "algorithm", "issuer", "key"] if resolved else []
        if exc.code == "unsupported_algorithm" and not resolved:
            done = ["parse"]
        return _stop(done, exc.code, exc.message[:_MAX_MESSAGE])
    assert issuer_id is not None  # resolve() ran
    return proven.document, issuer_id, ["parse", "algorithm", "issuer", "key", "signature"]


@dataclass
class PendingStatus:
    """A credential checked up to its status: what the verdict needs is the value of each entry it names."""

    credential: dict[str, Any]
    checks: list[str]
    found: _Findings
    entries: list[_StatusEntry]
    credential_json: bytes | None = None

    @property
    def status_requests(self) -> list[tuple[str, int, str, int]]:
        """(list URL, index, purpose, size) of each entry finish() will look up."""
        return [(entry.list_url, entry.list_index, entry.purpose, entry.size)
                for entry in self.entries if _is_read(entry)]

    def finish(self, lookup_status: StatusLookup) -> VerificationResult:
        """The verdict, with each entry read through `lookup_status`."""
        found, checks = _Findings(list(self.found.errors), list(self.found.warnings)), list(self.checks)
        passed = {"revocation": 0, "suspension": 0}
        failed = {"revocation": 0, "suspension": 0}
        for entry in self.entries:
            _check_status_entry(entry, lookup_status, found, passed, failed)
        if passed["revocation"] and not failed["revocation"]:
            checks.append("status:revocation")
        if passed["suspension"] and not failed["suspension"]:
            checks.append("status:suspension")
        return VerificationResult(not found.errors, self.credential, checks, found.warnings, found.errors,
                                  self.credential_json)


def _check_all_but_status(
    payload: dict[str, Any],
    issuer_id: str,
    checks: list[str],
    now: datetime,
    leeway: timedelta,
    status_optional_issuers: frozenset[str],
    credential_json: bytes | None = None,
) -> PendingStatus:
    """Everything after the signature but the status reads, the same for vc+jwt and Data Integrity."""
    found = _Findings()
    valid_from, valid_until, dates_ok = _check_credential(payload, issuer_id, found)
    if "credentialStatus" in payload:
        entries = _status_entries(payload["credentialStatus"], found)
    elif issuer_id in status_optional_issuers:
        entries = []
        found.warn("no_status", "The credential has no credentialStatus, so revocation cannot be checked.")
    else:
        # Every credential this issuer makes carries status; one without could never be revoked.
        entries = []
        found.error("invalid_credential", "The credential has no credentialStatus, so it cannot be revoked.")
    if not found.errors:
        checks.append("credential")
    if _check_period(payload, valid_from, valid_until, now, leeway, found) and dates_ok:
        checks.append("validity_period")
    return PendingStatus(payload, checks, found, entries, credential_json)
