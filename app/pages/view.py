"""Pure: what the share page shows, from the credential document and facts read elsewhere; no I/O, no clock.

The page states only what the signed credential says (achievement, issuer, dates, result, evidence) plus the
live verdict and the assessment facts the caller passes in; the holder's choices (name, score) decide what of
it is shown.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import segno

LINKEDIN_ADD_URL = "https://www.linkedin.com/profile/add"


@dataclass(frozen=True)
class LiveStatus:
    """The verdict in words: `key` is valid, revoked, suspended, expired, not_yet_valid or invalid."""

    key: str
    label: str
    explanation: str


# Most serious first: a revoked credential that has also expired is shown as revoked.
_STATUS_ORDER = (
    ("revoked", "Revoked", "The issuer has revoked this credential for good. It no longer certifies anything."),
    ("suspended", "Suspended", "The issuer has suspended this credential. It does not count while suspended; "
                               "the issuer may reinstate it."),
    ("expired", "Expired", "This credential's validity period has ended."),
    ("not_yet_valid", "Not yet valid", "This credential's validity period has not begun."),
)


def live_status(verified: bool, error_codes: list[str]) -> LiveStatus:
    """The page's status from a verify result (the same verdict POST /v1/credentials/verify gives)."""
    if verified:
        return LiveStatus("valid", "Valid", "The issuer's signature holds, the credential is within its validity "
                                            "period, and the issuer has neither revoked nor suspended it.")
    for code, label, explanation in _STATUS_ORDER:
        if code in error_codes:
            return LiveStatus(code, label, explanation)
    reasons = ", ".join(error_codes) or "unknown"
    return LiveStatus("invalid", "Not valid", f"This credential did not verify ({reasons}).")


@dataclass(frozen=True)
class AssessmentFacts:
    """What the records say about how a graded credential was earned (None: an award, no assessment taken)."""

    items_shown: int
    items_answered: int
    time_limit_seconds: int
    time_taken_seconds: int | None
    pass_percent: float
    score: float | None  # None unless the holder chose to show the score
    max_score: float | None
    attempt_number: int | None
    max_attempts: int | None
    item_source: str
    content_hash: str
    assessment_title: str
    evidence_url: str
    # What the level means, from the frozen blueprint (the credential states it at its criteria id); "" if none.
    level_descriptor: str = ""


@dataclass(frozen=True)
class SharePage:
    """Everything the share template renders; strings are escaped by the template, never here."""

    page_url: str
    title: str
    achievement_name: str
    skill_name: str
    level: str
    description: str
    criteria: str
    holder_name: str | None
    mastery: str | None
    score_percent: str | None
    issued: dt.datetime | None
    expires: dt.datetime | None
    issuer_name: str
    issuer_did: str
    issuer_url: str
    credential_id: str
    kind: str
    evidence_narrative: str
    status: LiveStatus
    checked_at: dt.datetime
    facts: AssessmentFacts | None
    badge_data_uri: str
    qr_svg: str
    linkedin_url: str
    downloads: dict[str, str] = field(default_factory=dict)
    jwt: str | None = None


def parse_timestamp(value: object) -> dt.datetime | None:
    """A VC dateTimeStamp (`2026-12-03T10:00:00Z`) as an aware datetime; None if absent or unreadable."""
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def achievement_of(document: dict[str, Any]) -> dict[str, Any]:
    subject = document.get("credentialSubject")
    achievement = subject.get("achievement") if isinstance(subject, dict) else None
    return achievement if isinstance(achievement, dict) else {}


def skill_and_level(document: dict[str, Any]) -> tuple[str, str, str]:
    """(skill id, skill name, level) as the credential states them (tags, and the name `Skill (level)`)."""
    achievement = achievement_of(document)
    found = achievement.get("tag")
    tags: list[Any] = found if isinstance(found, list) else []
    skill_id = _text(tags[0]) if len(tags) > 0 else ""
    level = _text(tags[1]) if len(tags) > 1 else ""
    name = _text(achievement.get("name"))
    suffix = f" ({level})"
    skill_name = name[: -len(suffix)] if level and name.endswith(suffix) else name
    return skill_id, skill_name or skill_id, level


def mastery_of(document: dict[str, Any]) -> str | None:
    """The name of the mastery level reached (the Result's achievedLevel, looked up in the achievement)."""
    subject = document.get("credentialSubject")
    results = subject.get("result") if isinstance(subject, dict) else None
    achieved = next(
        (result["achievedLevel"] for result in results or [] if isinstance(result, dict) and "achievedLevel" in result),
        None,
    ) if isinstance(results, list) else None
    if achieved is None:
        return None
    for description in achievement_of(document).get("resultDescription") or []:
        for level in (description.get("rubricCriterionLevel") or []) if isinstance(description, dict) else []:
            if isinstance(level, dict) and level.get("id") == achieved:
                return _text(level.get("name")) or None
    return None


def score_of(document: dict[str, Any]) -> str | None:
    """The score in percent as the credential states it (the Result with a `value`), or None."""
    subject = document.get("credentialSubject")
    results = subject.get("result") if isinstance(subject, dict) else None
    for result in results if isinstance(results, list) else []:
        if isinstance(result, dict) and isinstance(result.get("value"), str):
            return str(result["value"])
    return None


def linkedin_url(
    *, name: str, organization: str, issued: dt.datetime | None, expires: dt.datetime | None, cert_url: str,
    cert_id: str,
) -> str:
    """LinkedIn's public "Add to profile" link for a certification, filled in (its documented query parameters)."""
    params: dict[str, str] = {"startTask": "CERTIFICATION_NAME", "name": name, "organizationName": organization}
    if issued is not None:
        params["issueYear"], params["issueMonth"] = str(issued.year), str(issued.month)
    if expires is not None:
        params["expirationYear"], params["expirationMonth"] = str(expires.year), str(expires.month)
    params["certUrl"] = cert_url
    params["certId"] = cert_id
    return f"{LINKEDIN_ADD_URL}?{urlencode(params)}"


def qr_svg(url: str) -> str:
    """An inline SVG QR code of `url` (segno, error correction M), labelled for assistive technology."""
    out = io.BytesIO()
    segno.make(url, error="m", micro=False).save(
        out, kind="svg", xmldecl=False, svgns=True, nl=False, scale=4, border=4, dark="#000", light="#fff",
        title="QR code of this page's address", svgclass="qr", lineclass=None,
    )
    svg = out.getvalue().decode("ascii")
    return svg.replace("<svg ", '<svg role="img" aria-label="QR code of this page\'s address" focusable="false" ', 1)


def svg_data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def duration_text(seconds: int) -> str:
    """`30 minutes`, `1 hour 30 minutes`, `45 seconds`."""
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    hours, rest = divmod(seconds, 3600)
    minutes = round(rest / 60)
    parts = [f"{hours} hour{'s' if hours != 1 else ''}"] if hours else []
    if minutes or not parts:
        parts.append(f"{minutes} minute{'s' if minutes != 1 else ''}")
    return " ".join(parts)
