"""Pure: the Open Badges 3.0 OpenBadgeCredential for a passing grade or a manual award (VC Data Model 2.0).

How the credential is secured (vc+jwt today, Data Integrity or SD-JWT later) is not this module's concern.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.status_lists import messages

VC_CONTEXT_V2 = "https://www.w3.org/ns/credentials/v2"
OB_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
# Skillproof's own terms (VC DM 2.0 §5.2.1: every property must be defined). An inline context, last in @context,
# so every verifier has it offline and the credential's own signature pins it (credentials issued with the terms
# written out in full keep theirs: the IRIs are the same). The namespace is a fixed UUID URN: the same for every
# deployment, and ours without registering a domain (w3id.org would need a redirect we do not own).
TERMS_NAMESPACE = "urn:uuid:3d49a165-5e34-442d-b543-f6df1ae7b733#"
# Each term is a compact IRI on the prefix `sp` (JSON-LD 1.1 §4.4): the same IRIs as written out in full, at a
# third of the bytes every credential carries and every verify parses.
TERMS_PREFIX = "sp"
SKILLPROOF_TERMS = (
    "assessmentId", "attemptId", "contentHash",
    # What the pass rests on (issue 9): the attempt's conditions, where OB 3.0 has no term for them.
    "itemsPresented", "itemsAnswered", "attemptNumber", "timeLimitSeconds", "proctoring", "itemSource",
    # Work that ran (issue 10): performance tasks graded by running the answer, and their part of the score.
    "performanceTasks", "performanceTaskShare", "performanceTaskPercent",
    "calibration", "standardError", "measurementScale",
)
SKILLPROOF_CONTEXT: dict[str, Any] = {
    "@protected": True,
    TERMS_PREFIX: TERMS_NAMESPACE,
    **{term: f"{TERMS_PREFIX}:{term}" for term in SKILLPROOF_TERMS},
}
CREDENTIAL_CONTEXT: list[Any] = [VC_CONTEXT_V2, OB_CONTEXT, SKILLPROOF_CONTEXT]
ACHIEVEMENTS_PATH = "/v1/achievements/"


@dataclass(frozen=True)
class Issuer:
    did: str
    name: str
    url: str


@dataclass(frozen=True)
class StatusEntryRef:
    purpose: str
    index: int
    list_url: str


@dataclass(frozen=True)
class MasteryBand:
    name: str
    min_percent: float


@dataclass(frozen=True)
class CompetencyLine:
    """One competency of a blueprint: its criterion, its share of an attempt and its items in one attempt."""

    criterion: str
    weight: float
    items: int


@dataclass(frozen=True)
class Achievement:
    skill_id: str
    skill_name: str
    skill_description: str
    level: str
    # The score an assessment required; None for a manual award (no score, no ResultDescription).
    pass_percent: float | None
    mastery_bands: tuple[MasteryBand, ...] = ()
    # What the level means and the blueprint an attempt followed (may be empty): stated at the criteria id.
    level_descriptor: str = ""
    competencies: tuple[CompetencyLine, ...] = ()


@dataclass(frozen=True)
class Evidence:
    assessment_id: str
    assessment_title: str
    content_hash: str
    attempt_id: str
    item_count: int
    item_source: str = ""  # an ITEM_SOURCES key
    # The retake policy the attempt was taken under (None: not recorded).
    attempt_number: int | None = None
    max_attempts: int | None = None
    retake_cooldown_seconds: int = 0
    items_answered: int | None = None
    time_limit_seconds: int | None = None
    proctoring: str = "unproctored"
    # Performance tasks among the graded items: how many, their share of the maximum score (0 to 1), and the
    # percent of their points earned (None when the attempt had none).
    performance_tasks: int = 0
    performance_task_share: float | None = None
    performance_task_percent: float | None = None
    calibration: str | None = None  # a CALIBRATION key
    # The design's precision as computed at publish (grading/precision.py Precision.to_json); None: not stated.
    precision: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class AwardEvidence:
    """A manual award by an admin: no assessment, no attempt; `awarded_by` names the admin (key and label)."""

    awarded_by: str


# Where an assessment's items came from, as its credentials state it (the bundled bank's keys are public).
ITEM_SOURCES = {
    "demo-bank": "demo bank (public): the items and their keys are published with Skillproof",
    "private-bank": "private bank: items the issuer keeps unpublished",
    "llm-reviewed": (
        "LLM-generated, checked: every item passed the rule checks and independent solver runs, and a person's "
        "recorded review approved them before publishing"
    ),
    "llm-unreviewed": (
        "LLM-generated, checked: every item passed the rule checks and independent solver runs (published before "
        "a recorded review was required)"
    ),
}
# Whether the scored items had Rasch difficulties from real responses (app/calibration) when the draft was made.
CALIBRATION = {
    "calibrated": "every scored item calibrated on one Rasch scale from first attempts",
    "partial": "some scored items calibrated from first attempts, the others not yet",
    "uncalibrated": "items not yet calibrated: their difficulty is the author's judgement",
}


@dataclass(frozen=True)
class AbilityEstimate:
    """A Rasch ability estimate of the attempt (grading/ability.py) on a calibration's logit scale."""

    estimate: float
    standard_error: float
    scale: str


# How the attempt was supervised; Skillproof attempts are taken online, unsupervised, over its API.
PROCTORING = {
    "unproctored": "unproctored: taken online without supervision or an identity check during the attempt",
}


def retake_policy_text(evidence: Evidence) -> str:
    """One sentence on which attempt this was and the retakes allowed, for a reader of the credential."""
    if evidence.attempt_number is None:
        return ""
    limit = f"at most {evidence.max_attempts} attempts" if evidence.max_attempts else "no limit on attempts"
    hours = evidence.retake_cooldown_seconds / 3600
    spacing = f", at least {hours:g} h apart" if evidence.retake_cooldown_seconds else ", no wait between them"
    return f" It was the learner's attempt {evidence.attempt_number}; the assessment allows {limit}{spacing}."


def precision_text(precision: Mapping[str, Any] | None) -> str:
    """One or two sentences on how precise the pass is, and whether the design met the issuer's rule."""
    if not precision:
        return ""
    margin = precision["margin_points"]
    text = (
        f" By the design's score model, a candidate whose true score is {margin:g} points below the pass mark "
        f"passes {precision['pass_below_cut']:.1%} of the time, and one {margin:g} points above fails "
        f"{precision['fail_above_cut']:.1%} of the time."
    )
    if not precision["meets_rule"]:
        text += (
            f" The assessment was published without meeting the issuer's precision rule (at most "
            f"{precision['max_pass_below_cut']:.0%} below the mark)."
        )
    return text


def item_source_code(generator: str, bank: str | None, reviewed: bool = False) -> str:
    """The ITEM_SOURCES key for an assessment's generator, bank kind (drafts before kinds: demo) and review."""
    if generator == "llm":
        return "llm-reviewed" if reviewed else "llm-unreviewed"
    return "private-bank" if bank == "private" else "demo-bank"


def item_source(generator: str, bank: str | None, reviewed: bool = False) -> str:
    """The ITEM_SOURCES text for an assessment's generator, bank kind and review."""
    return ITEM_SOURCES[item_source_code(generator, bank, reviewed)]


def attempt_conditions_text(evidence: Evidence) -> str:
    """The attempt's conditions in words: items answered, time limit, supervision."""
    parts = []
    if evidence.items_answered is not None:
        parts.append(f"{evidence.items_answered} of {evidence.item_count} items answered")
    if evidence.time_limit_seconds is not None:
        parts.append(f"a time limit of {evidence.time_limit_seconds / 60:g} minutes")
    parts.append(PROCTORING.get(evidence.proctoring, evidence.proctoring))
    if evidence.calibration is not None:
        parts.append(CALIBRATION[evidence.calibration])
    return " Conditions: " + "; ".join(parts) + "."


def performance_text(evidence: Evidence) -> str:
    """The performance tasks in words: the part of the score that came from answers that were run."""
    if not evidence.performance_tasks or evidence.performance_task_share is None:
        return ""
    return (
        f" Performance tasks: {evidence.performance_tasks} of the graded items were graded by running the answer "
        f"(SQL queries on hidden data, Python functions against hidden tests), "
        f"{evidence.performance_task_share * 100:g}% of the maximum score; "
        f"{evidence.performance_task_percent:g}% of their points earned."
    )


def timestamp(moment: dt.datetime) -> str:
    """XMLSchema dateTimeStamp in UTC with seconds precision, as VC DM 2.0 §4.9 uses."""
    return moment.astimezone(dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def achievement_id(base_url: str, skill_id: str, level: str) -> str:
    return f"{base_url}{ACHIEVEMENTS_PATH}{skill_id}/{level}"


def evidence_id(base_url: str, assessment_id: str) -> str:
    """The public evidence view of an assessment (no key needed)."""
    return f"{base_url}/v1/assessments/{assessment_id}/evidence"


def criteria_id(base_url: str, assessment_id: str) -> str:
    """Where a credential's criteria are stated in full: the evidence view's `criteria` (level and blueprint)."""
    return f"{evidence_id(base_url, assessment_id)}#criteria"


def parse_achievement_id(base_url: str, value: str) -> tuple[str, str] | None:
    """(skill id, level) of one of our achievement ids (achievement_id's inverse), or None."""
    prefix = f"{base_url}{ACHIEVEMENTS_PATH}"
    if not value.startswith(prefix):
        return None
    skill_id, slash, level = value[len(prefix):].partition("/")
    if not skill_id or not slash or not level or "/" in level:
        return None
    return skill_id, level


def achievement_image(base_url: str, skill_id: str, skill_name: str, level: str) -> dict[str, Any]:
    """OB 3.0 Image: the achievement's SVG badge."""
    return {
        "id": f"{achievement_id(base_url, skill_id, level)}/image.svg",
        "type": "Image",
        "caption": f"{skill_name} ({level}) badge",
    }


def _criterion_label(criterion: str) -> str:
    return criterion.replace("-", " ").capitalize()


def blueprint_narrative(level: str, descriptor: str, competencies: tuple[CompetencyLine, ...]) -> str:
    """Markdown: what the level means, and the competencies an attempt covers (weight, items)."""
    parts = []
    if descriptor:
        parts.append(f"**What {level} means.** {descriptor}")
    if competencies:
        total = sum(line.items for line in competencies)
        rows = "\n".join(
            f"| {_criterion_label(line.criterion)} | {line.weight * 100:.0f}% | {line.items} |" for line in competencies
        )
        parts.append(
            f"**Blueprint.** Each attempt draws {total} items, per competency:\n\n"
            f"| competency | weight | items |\n|---|---|---|\n{rows}"
        )
    return "\n\n".join(parts)


def _passed_text(skill_name: str, level: str, pass_percent: float) -> str:
    return (
        f"Scored at least {_percent_text(pass_percent)}% on a timed, auto-graded {skill_name} assessment at "
        f"{level} level, taken under Skillproof's published rules."
    )


def criteria_narrative(
    *, skill_name: str, level: str, pass_percent: float, level_descriptor: str,
    competencies: tuple[CompetencyLine, ...],
) -> str:
    """Markdown: the pass mark, what the level means and the blueprint (what a criteria id resolves to)."""
    narrative = _passed_text(skill_name, level, pass_percent)
    described = blueprint_narrative(level, level_descriptor, competencies)
    return f"{narrative}\n\n{described}" if described else narrative


def _criteria(achievement: Achievement, stated_at: str | None) -> dict[str, Any]:
    """OB 3.0 Criteria. The level descriptor and the blueprint (a kilobyte, the same in every credential of an
    assessment) are stated at `stated_at`, which the credential names as the criteria id."""
    if achievement.pass_percent is None:
        return {"narrative": (
            f"Awarded by the issuer for {achievement.skill_name} at {achievement.level} level, without a "
            "Skillproof assessment; the credential's evidence names who awarded it."
        )}
    narrative = _passed_text(achievement.skill_name, achievement.level, achievement.pass_percent)
    if stated_at is None or not (achievement.level_descriptor or achievement.competencies):
        return {"narrative": narrative}
    return {"id": stated_at, "narrative": (
        f"{narrative} What {achievement.level} means and the blueprint each attempt follows are stated at this "
        "criteria's id."
    )}


def achievement_document(achievement: Achievement, issuer: Issuer, criteria_url: str | None = None) -> dict[str, Any]:
    """The OB 3.0 Achievement: what was shown, at which level, by which criteria (stated at `criteria_url`)."""
    achievement_uri = achievement_id(issuer.url, achievement.skill_id, achievement.level)
    document: dict[str, Any] = {
        "id": achievement_uri,
        "type": ["Achievement"],
        "achievementType": "Competency",
        "name": f"{achievement.skill_name} ({achievement.level})",
        "description": achievement.skill_description,
        "image": achievement_image(issuer.url, achievement.skill_id, achievement.skill_name, achievement.level),
        "criteria": _criteria(achievement, criteria_url),
        "creator": {"id": issuer.did, "type": ["Profile"], "name": issuer.name, "url": issuer.url},
        "tag": [achievement.skill_id, achievement.level],
    }
    if achievement.pass_percent is None:
        return document  # a manual award required no score: no ResultDescription to state one against
    document["resultDescription"] = [
        {
            "id": f"{achievement_uri}#score",
            "type": ["ResultDescription"],
            "name": "Score (percent of the maximum)",
            "resultType": "Percent",
            "valueMin": "0",
            "valueMax": "100",
            "requiredValue": _percent_text(achievement.pass_percent),
        },
        *([_mastery_description(achievement, achievement_uri)] if achievement.mastery_bands else []),
    ]
    return document


def public_achievement(
    *, base_url: str, issuer: Issuer, skill_id: str, skill_name: str, skill_description: str, level: str,
    level_descriptor: str = "", competencies: tuple[CompetencyLine, ...] = (),
) -> dict[str, Any]:
    """The Achievement an achievement id resolves to: what every credential of it shares, with the level's
    descriptor and the bank's standard blueprint (a credential's criteria id names its assessment's own)."""
    narrative = (
        f"Passed a timed, auto-graded {skill_name} assessment at {level} level under Skillproof's "
        "published rules; each credential states the score it required and the score achieved."
    )
    described = blueprint_narrative(level, level_descriptor, competencies)
    return {
        "@context": [VC_CONTEXT_V2, OB_CONTEXT],
        "id": achievement_id(base_url, skill_id, level),
        "type": ["Achievement"],
        "achievementType": "Competency",
        "name": f"{skill_name} ({level})",
        "description": skill_description,
        "image": achievement_image(base_url, skill_id, skill_name, level),
        "criteria": {"narrative": f"{narrative}\n\n{described}" if described else narrative},
        "creator": {"id": issuer.did, "type": ["Profile"], "name": issuer.name, "url": issuer.url},
        "tag": [skill_id, level],
    }


def _slug(name: str) -> str:
    return "".join(char if char.isalnum() else "-" for char in name.lower()).strip("-") or "level"


def mastery_level_id(achievement_uri: str, name: str) -> str:
    return f"{achievement_uri}#mastery-{_slug(name)}"


def _mastery_description(achievement: Achievement, achievement_uri: str) -> dict[str, Any]:
    """OB 3.0 ResultDescription of type RubricCriterionLevel: the mastery bands, lowest first.

    OB 3.0 ResultDescription.rubricCriterionLevel: "The levels should be ordered from low to high".
    """
    bands = sorted(achievement.mastery_bands, key=lambda band: band.min_percent)
    return {
        "id": f"{achievement_uri}#mastery",
        "type": ["ResultDescription"],
        "name": "Mastery level",
        "resultType": "RubricCriterionLevel",
        "rubricCriterionLevel": [
            {
                "id": mastery_level_id(achievement_uri, band.name),
                "type": ["RubricCriterionLevel"],
                "name": band.name,
                "description": f"At least {_percent_text(band.min_percent)}% of the maximum score.",
                "level": band.name,
            }
            for band in bands
        ],
    }


def _percent_text(value: float) -> str:
    return f"{value:g}"


def _status_entry(entry: StatusEntryRef) -> dict[str, Any]:
    if entry.purpose == messages.MESSAGE_PURPOSE:
        return messages.entry(entry.list_url, entry.index)
    return {
        "id": f"{entry.list_url}#{entry.index}",
        "type": "BitstringStatusListEntry",
        "statusPurpose": entry.purpose,
        "statusListIndex": str(entry.index),
        "statusListCredential": entry.list_url,
    }


def _credential_status(entries: list[StatusEntryRef]) -> dict[str, Any] | list[dict[str, Any]]:
    """One entry as one object (OB 3.0 `credentialStatus` is 0..1); the legacy pair as a list."""
    built = [_status_entry(entry) for entry in entries]
    return built[0] if len(built) == 1 else built


def _results(
    achievement: Achievement, achievement_json: dict[str, Any], score_percent: float | None, mastery: str | None
) -> list[dict[str, Any]]:
    """The subject's Results: the score and, with mastery bands, the level reached; none without a score."""
    if score_percent is None:
        return []
    return [
        {
            "type": ["Result"],
            "resultDescription": achievement_json["resultDescription"][0]["id"],
            "value": _percent_text(score_percent),
            "status": "Completed",
        },
        *(
            [
                {
                    "type": ["Result"],
                    "resultDescription": achievement_json["resultDescription"][1]["id"],
                    "achievedLevel": mastery_level_id(achievement_json["id"], mastery),
                }
            ]
            if mastery is not None and achievement.mastery_bands
            else []
        ),
    ]


def _ability_result(achievement_json: dict[str, Any], ability: AbilityEstimate) -> dict[str, Any]:
    """A second Result: the Rasch ability estimate and its standard error, described on the achievement."""
    description_id = f"{achievement_json['id']}#ability"
    achievement_json["resultDescription"].append({
        "id": description_id,
        "type": ["ResultDescription"],
        "name": "Ability estimate (Rasch, logits; 0 is the calibrated items' mean difficulty)",
        "resultType": "ScaledScore",
        "valueMin": "-10",
        "valueMax": "10",
    })
    return {
        "type": ["Result"],
        "resultDescription": description_id,
        "value": f"{ability.estimate:.2f}",
        "standardError": f"{ability.standard_error:.2f}",
        "measurementScale": ability.scale,
    }


def _performance_result(achievement_json: dict[str, Any], evidence: Evidence) -> dict[str, Any]:
    """A Result for the performance tasks alone, described on the achievement, so a verifier reading only the
    results sees that part of the pass was work that ran (the evidence gives the same figures in words)."""
    description_id = f"{achievement_json['id']}#performance"
    achievement_json["resultDescription"].append({
        "id": description_id,
        "type": ["ResultDescription"],
        "name": (
            f"Performance tasks graded by running the answer ({evidence.performance_tasks}, "
            f"{_percent_text((evidence.performance_task_share or 0) * 100)}% of the maximum score): "
            "percent of their points"
        ),
        "resultType": "Percent",
        "valueMin": "0",
        "valueMax": "100",
    })
    return {
        "type": ["Result"],
        "resultDescription": description_id,
        "value": _percent_text(evidence.performance_task_percent or 0),
        "status": "Completed",
    }


def _evidence(evidence: Evidence | AwardEvidence, issuer: Issuer) -> dict[str, Any]:
    """OB 3.0 Evidence: the frozen assessment and the attempt, or who awarded it by hand."""
    if isinstance(evidence, AwardEvidence):
        return {
            "type": ["Evidence"],
            "name": "Manual award",
            "narrative": f"Awarded by admin {evidence.awarded_by}, not earned in a Skillproof assessment.",
            "genre": "Award",
        }
    document: dict[str, Any] = {
        "id": evidence_id(issuer.url, evidence.assessment_id),
        "type": ["Evidence"],
        "name": evidence.assessment_title,
        "narrative": (
            f"An attempt ({evidence.item_count} items) on the assessment frozen under contentHash (SHA-256)."
            + (f" Items from the {ITEM_SOURCES[evidence.item_source]}." if evidence.item_source else "")
            + retake_policy_text(evidence)
            + attempt_conditions_text(evidence)
            + performance_text(evidence)
            + precision_text(evidence.precision)
        ),
        "genre": "Assessment",
        "assessmentId": evidence.assessment_id,
        "contentHash": evidence.content_hash,
        "attemptId": evidence.attempt_id,
        "itemsPresented": evidence.item_count,
        "proctoring": evidence.proctoring,
    }
    optional = {
        "itemsAnswered": evidence.items_answered, "attemptNumber": evidence.attempt_number,
        "timeLimitSeconds": evidence.time_limit_seconds, "itemSource": evidence.item_source or None,
        "performanceTasks": evidence.performance_tasks or None,
        "performanceTaskShare": evidence.performance_task_share if evidence.performance_tasks else None,
        "performanceTaskPercent": evidence.performance_task_percent if evidence.performance_tasks else None,
        "calibration": evidence.calibration,
    }
    document.update({term: value for term, value in optional.items() if value is not None})
    return document


def build_credential(
    *,
    credential_id: str,
    issuer: Issuer,
    subject_id: str,
    achievement: Achievement,
    evidence: Evidence | AwardEvidence,
    score_percent: float | None,
    mastery: str | None = None,
    status_entries: list[StatusEntryRef],
    issued_at: dt.datetime,
    valid_until: dt.datetime | None = None,
    identifier: list[dict[str, Any]] | None = None,
    ability: AbilityEstimate | None = None,
) -> dict[str, Any]:
    """The unsigned credential document; `identifier` holds the holder's IdentityObjects (identity.py).

    A manual award (AwardEvidence) has no score: its subject carries no `result` (OB 3.0 AchievementSubject
    result is 0..*), and its achievement, built with pass_percent None, no ResultDescription.
    """
    criteria_url = criteria_id(issuer.url, evidence.assessment_id) if isinstance(evidence, Evidence) else None
    achievement_json = achievement_document(achievement, issuer, criteria_url)
    subject: dict[str, Any] = {"id": subject_id, "type": ["AchievementSubject"], "achievement": achievement_json}
    results = _results(achievement, achievement_json, score_percent, mastery)
    if ability is not None and results:
        results.append(_ability_result(achievement_json, ability))
    if isinstance(evidence, Evidence) and evidence.performance_tasks and results:
        results.append(_performance_result(achievement_json, evidence))
    if results:
        subject["result"] = results
    credential: dict[str, Any] = {
        "@context": CREDENTIAL_CONTEXT,
        "id": f"urn:uuid:{credential_id}",
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": achievement_json["name"],
        "issuer": {"id": issuer.did, "type": ["Profile"], "name": issuer.name, "url": issuer.url},
        "validFrom": timestamp(issued_at),
        "credentialSubject": subject,
        "evidence": [_evidence(evidence, issuer)],
        "credentialStatus": _credential_status(status_entries),
    }
    if identifier:
        subject["identifier"] = identifier
    if valid_until is not None:
        credential["validUntil"] = timestamp(valid_until)
    return credential
