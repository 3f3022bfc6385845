"""Request and response bodies of assessments and attempts."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

ItemType = Literal[
    "single_choice", "multiple_response", "numeric", "short_text", "ordering", "matching", "sql_query",
    "python_function",
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MasteryBand(Strict):
    name: str = Field(min_length=1, max_length=100)
    min_percent: float = Field(ge=0, le=100)


class AssessmentCreate(Strict):
    skill: str = Field(min_length=1, max_length=100)
    level: str = Field(min_length=1, max_length=100)
    item_count: int = Field(ge=1, le=100)
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1, description="Same seed, same draft.")
    title: str | None = Field(default=None, min_length=1, max_length=300)
    time_limit_seconds: int | None = Field(default=None, ge=1, le=86400, description="Server-side limit per attempt.")
    pass_percent: float = Field(default=70, ge=0, le=100)
    credential_valid_days: int | None = Field(default=None, ge=1, le=3650)
    generator: Literal["bank", "llm"] | None = None
    attempt_item_count: int | None = Field(
        default=None, ge=1, le=100, description="Items one attempt draws from the pool (default: all)."
    )
    max_attempts: int | None = Field(
        default=None, ge=1, le=100,
        description="Attempts per learner. Omit for the service default (SKILLPROOF_DEFAULT_MAX_ATTEMPTS, 3); "
        "null for no cap.",
    )
    retake_cooldown_seconds: int | None = Field(
        default=None, ge=0, le=365 * 86400,
        description="Wait after an attempt ends before the next may start. Omit or null for the service default "
        "(SKILLPROOF_DEFAULT_RETAKE_COOLDOWN_SECONDS, 86400); 0 for none.",
    )
    multiple_response_scoring: Literal["all_or_nothing", "right_minus_wrong", "every_decision"] = "right_minus_wrong"
    ordering_scoring: Literal["all_or_nothing", "adjacent_pairs"] = "all_or_nothing"
    mastery_bands: list[MasteryBand] | None = Field(default=None, max_length=10)
    item_types: list[ItemType] | None = Field(
        default=None, description="Item types to generate (llm) or draw (bank); default: all but the performance "
        "tasks (sql_query, python_function), which are drawn or written only when named."
    )

    @model_validator(mode="after")
    def _attempt_fits_the_pool(self) -> AssessmentCreate:
        if self.attempt_item_count is not None and self.attempt_item_count > self.item_count:
            raise ValueError("attempt_item_count cannot exceed item_count (the pool)")
        return self


class CompetencyOut(BaseModel):
    criterion: str = Field(description="the item criterion this competency is")
    weight: float = Field(description="its share of an attempt")
    items: int = Field(description="its items in an attempt of the blueprint's standard length")
    items_per_attempt: int | None = Field(
        default=None, description="its items in this assessment's attempts (the counts scaled by largest remainder)"
    )


class BlueprintOut(BaseModel):
    """What one attempt covers, and what the level means for someone reading a pass."""

    level_descriptor: str = Field(description="what a pass at this level says the holder can do (Markdown)")
    attempt_items: int = Field(description="the standard attempt length the item counts are for")
    competencies: list[CompetencyOut]


class Skill(BaseModel):
    id: str
    name: str
    description: str
    levels: list[str]


class SkillDetail(Skill):
    """A skill with, per level, what a pass means and the blueprint its attempts follow."""

    blueprints: dict[str, BlueprintOut] = Field(
        description="per level: its descriptor and blueprint (levels without one are absent)"
    )


class OmitAbsent(BaseModel):
    """Serialises without null fields: items keep exactly the fields they have (so views hash as stored)."""

    @model_serializer(mode="wrap")
    def _omit_absent(self, handler: SerializerFunctionWrapHandler):  # type: ignore[no-untyped-def]  # keeps field schema
        data: dict[str, Any] = handler(self)
        return {key: value for key, value in data.items() if value is not None}


class OptionOut(OmitAbsent):
    id: str
    text: str
    side: Literal["left", "right"] | None = Field(default=None, description="matching items only")


class ColumnOut(BaseModel):
    name: str
    type: Literal["INTEGER", "REAL", "TEXT"]


class TableOut(OmitAbsent):
    name: str
    columns: list[ColumnOut]
    rows: list[list[JsonValue]] = Field(description="the first rows (all of them when row_count is no larger)")
    row_count: int | None = Field(default=None, description="the table's rows in all (learner view)")


class FixtureOut(BaseModel):
    """The data a sql_query item's query runs on, as the learner sees it (the graded variants stay hidden)."""

    tables: list[TableOut]


class ItemOut(OmitAbsent):
    """An item as a learner sees it."""

    id: str
    type: ItemType
    prompt: str
    options: list[OptionOut] | None = None
    fixture: FixtureOut | None = Field(
        default=None, description="sql_query: the tables the query runs on (schema and sample rows)"
    )
    function: dict[str, JsonValue] | None = Field(
        default=None, description="python_function: the function to define, {name, params}"
    )
    examples: list[dict[str, JsonValue]] | None = Field(
        default=None, description="python_function: visible examples, {args, expected} (not graded)"
    )
    points: int


class AdminItemOut(ItemOut):
    """An item with its key, explanation and scoring details."""

    answer: JsonValue
    explanation: str
    tolerance: dict[str, float] | None = Field(default=None, description="numeric: absolute and relative")
    accepted_answers: list[str] | None = Field(default=None, description="short_text: other accepted answers")
    case_sensitive: bool | None = Field(default=None, description="short_text")
    pattern: str | None = Field(default=None, description="short_text: a full-match regular expression")
    scoring: str | None = Field(default=None, description="overrides the rubric's mode for this item")
    criteria: dict[str, float] | None = Field(default=None, description="competency tags and their weights")
    difficulty: Literal[1, 2, 3] | None = None
    variants: list[dict[str, JsonValue]] | None = Field(
        default=None, description="sql_query: the hidden fixture variants the answer is graded on"
    )
    compare: dict[str, JsonValue] | None = Field(
        default=None, description="sql_query: ordered, column_names, tolerance"
    )
    runner: dict[str, JsonValue] | None = Field(
        default=None, description="sql_query: VM-instruction budget, row and character caps, the fixed now"
    )
    tests: list[dict[str, JsonValue]] | None = Field(
        default=None, description="python_function: the hidden tests, {args or expr, expected, weight}"
    )
    keep_order: bool | None = Field(
        default=None, description="single_choice and multiple_response: options are shown in this order, unshuffled"
    )
    pretest: bool | None = Field(
        default=None, description="true: a pretest item, shown but never scored (learners are not told which)"
    )
    calibration: ItemCalibrationFrozen | None = Field(
        default=None, description="the Rasch difficulty frozen into the item when the draft was made"
    )
    enemies: list[str] | None = Field(
        default=None, description="ids of items (or templates) that give this one away: never in one attempt with it"
    )
    distractor_rationales: dict[str, DistractorRationale] | None = Field(
        default=None, description="LLM items: option id -> why that distractor is wrong (never shown to learners)"
    )
    computation: str | None = Field(
        default=None, description="LLM numeric items: the expression the key was computed from"
    )
    review_warnings: list[str] | None = Field(
        default=None, description="LLM items: what the critic pass flagged for the reviewer (style, not validity)"
    )
    task_checks: TaskChecks | None = Field(
        default=None, description="LLM performance tasks: how strong the hidden variants or tests are (never shown "
        "to learners)"
    )


class TaskChecks(BaseModel):
    """What a generated task's checks measured: the wrong answers its hidden variants or tests catch."""

    mutation_score: float = Field(description="killed / mutants, 0 to 1")
    killed: int = Field(description="generated wrong answers that lose points")
    mutants: int = Field(description="generated wrong answers: the must-fail ones and small edits of the reference")


class DistractorRationale(BaseModel):
    """Why a distractor is wrong and the misconception it catches (written by the generator)."""

    why_wrong: str
    misconception: str


class ItemCalibrationFrozen(BaseModel):
    """The calibration an item was frozen with: grading uses these figures, never the live table."""

    difficulty: float = Field(description="logits on `scale`")
    se: float = Field(description="standard error of the difficulty")
    scale: str = Field(description="`rasch:<skill>/<level>@<fitted_at>`: abilities are comparable on one scale only")


class PrecisionSummaryOut(BaseModel):
    """How precise a pass is (computed at publish from the design): what a learner or a client reads."""

    attempt_length: int = Field(description="items one attempt answers")
    pass_percent: float
    margin_points: float = Field(description="how far either side of the pass mark the error rates are taken")
    pass_below_cut: float = Field(
        description="probability that a candidate whose true score is margin_points below the pass mark passes"
    )
    fail_above_cut: float = Field(
        description="probability that a candidate whose true score is margin_points above the pass mark fails"
    )
    decision_consistency: float = Field(
        description="probability that two attempts by one candidate both pass or both fail, over the reference "
        "distribution of true scores"
    )
    reference_distribution: str
    meets_rule: bool = Field(description="pass_below_cut is within the issuer's limit")


class PrecisionOut(PrecisionSummaryOut):
    """The admin's view of a design's precision: the rule, the fix, and the model behind the figures."""

    max_pass_below_cut: float = Field(description="the issuer's limit (SKILLPROOF_MAX_PASS_BELOW_CUT)")
    minimum_attempt_length: int | None = Field(
        description="the least attempt length (same mix of item points) from which every longer one meets the rule; "
        "null if none up to 100 does"
    )
    item_model: Literal["equal_facility", "item_difficulties"]
    method: str
    forms: int = Field(description="attempt forms the figures are averaged over (1 unless the attempt draws from a "
                                   "pool)")


class AssessmentOut(BaseModel):
    """An assessment as a learner sees it (no items until an attempt starts)."""

    id: str
    skill: str
    level: str
    title: str
    status: str
    item_count: int
    time_limit_seconds: int
    pass_percent: float
    content_hash: str | None
    published_at: dt.datetime | None
    version: int
    supersedes_id: str | None
    max_attempts: int | None
    retake_cooldown_seconds: int
    precision: PrecisionSummaryOut | None = Field(
        default=None, description="the decision precision computed at publish (null for drafts and for "
        "assessments published before it was computed)"
    )
    blueprint: BlueprintOut | None = Field(
        default=None, description="the frozen blueprint its draws follow (null: drawn in proportion to the pool)"
    )


class EvidenceOut(BaseModel):
    """What a credential's evidence id shows anyone: the frozen assessment's facts, never its items or keys."""

    id: str
    assessment_id: str
    title: str
    skill: str
    skill_name: str
    level: str
    status: str
    content_hash: str | None
    item_count: int
    time_limit_seconds: int
    pass_percent: float
    published_at: dt.datetime | None
    version: int
    precision: PrecisionSummaryOut | None = None
    criteria: str = Field(description=(
        "The achievement's criteria in full (Markdown): the pass mark, what the level means and the blueprint "
        "each attempt follows; a credential's `criteria.id` names this member (`…/evidence#criteria`)"
    ))
    blueprint: BlueprintOut | None = None


class AdminAssessmentOut(AssessmentOut):
    generator: str
    seed: int
    created_at: dt.datetime
    pool_size: int
    items: list[AdminItemOut]
    rubric: dict[str, Any]
    provenance: dict[str, Any] | None = Field(description="model, prompt version, temperature, seed (llm)")
    dropped_items: list[dict[str, Any]] = Field(description="generated items dropped by the checks, with reasons")
    precision: PrecisionOut | None = None  # the fuller form of the learner's field


class Response(Strict):
    item_id: str = Field(max_length=200)
    answer: JsonValue


class SubmitRequest(Strict):
    responses: list[Response] = Field(max_length=500)


class ItemScoreOut(BaseModel):
    item_id: str
    score: float
    max_score: float


class CriterionScoreOut(BaseModel):
    criterion: str
    score: float
    max_score: float
    percent: float


class AdminItemScoreOut(ItemScoreOut, OmitAbsent):
    bank_item_id: str = Field(description="the item's id in the assessment (admins only)")
    run: dict[str, JsonValue] | None = Field(
        default=None, description="performance tasks: hidden variants passed, their count, why each failed, engine"
    )


class AbilityOut(BaseModel):
    """A Rasch ability estimate on a calibrated scale (present only when every scored item was calibrated)."""

    estimate: float = Field(description="ability in logits on `scale` (anchor: mean calibrated item difficulty 0)")
    standard_error: float = Field(description="standard error of the estimate, 1/sqrt(test information)")
    scale: str = Field(description="the calibration scale: `rasch:<skill>/<level>@<fitted_at>`")
    method: Literal["WLE"] = Field(description="Warm's weighted likelihood estimate")
    items: int = Field(description="scored items the estimate rests on")


class GradeOut(BaseModel):
    """A grade; learners get per-item scores only where SKILLPROOF_LEARNER_ITEM_FEEDBACK allows it."""

    attempt_id: str
    status: Literal["graded"]
    score: float
    max_score: float
    percent: float
    passed: bool
    mastery: str | None = Field(description="the highest mastery band reached, or null")
    items: list[AdminItemScoreOut] | list[ItemScoreOut] | None = Field(
        default=None, description="per-item scores, by the attempt's item ids: admins; learners where allowed"
    )
    criteria: list[CriterionScoreOut] = Field(
        description="per criterion; learners are not shown a criterion that would give away a single item's score"
    )
    credential_id: str | None
    graded_at: dt.datetime
    amended: bool = Field(default=False, description="true when an amendment regraded this attempt")
    ability: AbilityOut | None = Field(
        default=None, description="Rasch ability and its standard error; only when every scored item was calibrated"
    )

    @model_serializer(mode="wrap")
    def _omit_hidden_items(self, handler: SerializerFunctionWrapHandler):  # type: ignore[no-untyped-def]
        data: dict[str, Any] = handler(self)
        if data.get("items") is None:
            data.pop("items", None)
        if data.get("ability") is None:
            data.pop("ability", None)
        return data


class AttemptOut(BaseModel):
    """An attempt; its item ids are opaque and belong to this attempt alone."""

    id: str
    assessment_id: str
    learner_id: str
    status: Literal["in_progress", "graded", "expired"]
    started_at: dt.datetime
    expires_at: dt.datetime
    items: list[ItemOut]
    grade: GradeOut | None = None


class AdminAttemptItemOut(ItemOut):
    """An attempt's item as an admin sees it: its key, and the assessment item it stands for."""

    bank_item_id: str = Field(description="the item's id in the assessment")
    answer: JsonValue
    explanation: str


class AdminAttemptOut(AttemptOut):
    items: list[AdminAttemptItemOut]  # type: ignore[assignment]


class OptionIn(Strict):
    id: str | None = Field(default=None, max_length=100, description="omit to derive an opaque id from the text")
    text: str = Field(min_length=1, max_length=1000)
    side: Literal["left", "right"] | None = None


class _ItemDetails(Strict):
    """The optional parts of an item, shared by whole items and edits."""

    options: list[OptionIn] | None = Field(default=None, max_length=20)
    tolerance: dict[str, float] | None = None
    accepted_answers: list[str] | None = Field(default=None, max_length=50)
    case_sensitive: bool | None = None
    pattern: str | None = Field(default=None, max_length=500)
    scoring: Literal["all_or_nothing", "right_minus_wrong", "every_decision", "adjacent_pairs"] | None = None
    criteria: dict[str, float] | None = None
    difficulty: Literal[1, 2, 3] | None = None
    fixture: dict[str, JsonValue] | None = Field(default=None, description="sql_query: {tables: [...]}, shown")
    variants: list[dict[str, JsonValue]] | None = Field(
        default=None, max_length=3, description="sql_query: 2 or 3 hidden fixtures, same tables"
    )
    compare: dict[str, JsonValue] | None = Field(
        default=None, description="sql_query: ordered, column_names, tolerance"
    )
    runner: dict[str, JsonValue] | None = Field(
        default=None, description="sql_query, python_function: omit for the defaults"
    )
    function: dict[str, JsonValue] | None = Field(default=None, description="python_function: {name, params}")
    examples: list[dict[str, JsonValue]] | None = Field(
        default=None, max_length=5, description="python_function: visible examples, {args, expected}"
    )
    tests: list[dict[str, JsonValue]] | None = Field(
        default=None, max_length=30, description="python_function: hidden tests, {args or expr, expected, weight}"
    )
    enemies: list[str] | None = Field(
        default=None, max_length=50, description="ids of items never to be drawn into one attempt with this one"
    )
    keep_order: bool | None = Field(
        default=None, description="single_choice and multiple_response: show the options in the order given "
        "(numbers, ranges, versions), never shuffled"
    )


class ItemIn(_ItemDetails):
    """A whole item, as an admin writes it (the checks run before it is kept)."""

    id: str | None = Field(default=None, min_length=1, max_length=200)
    type: ItemType
    prompt: str = Field(min_length=1, max_length=5000)
    points: int = Field(ge=1, le=100)
    explanation: str = Field(min_length=1, max_length=5000)
    answer: JsonValue


class ItemEdit(_ItemDetails):
    """Some fields of an item; the edited item must still pass every check."""

    prompt: str | None = Field(default=None, min_length=1, max_length=5000)
    points: int | None = Field(default=None, ge=1, le=100)
    explanation: str | None = Field(default=None, min_length=1, max_length=5000)
    answer: JsonValue = None


class VoidRequest(Strict):
    reason: str = Field(min_length=1, max_length=1000)


class AmendmentOut(BaseModel):
    id: str
    assessment_id: str
    action: Literal["void_item"]
    item_id: str
    reason: str
    regraded_attempts: int
    newly_passed: int
    created_at: dt.datetime


class ReviewIn(Strict):
    decision: Literal["approved", "changes_requested"]
    checklist: dict[str, bool] = Field(
        max_length=20,
        description="Each point of the review checklist (GET .../reviews lists them) and whether it holds; "
                    "an approval confirms every one.",
    )
    notes: str | None = Field(default=None, max_length=4000)


class ReviewOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    assessment_id: str
    reviewer: str = Field(description="the admin key's label (or id) that recorded the review")
    decision: str
    checklist: dict[str, bool]
    notes: str | None
    items_hash: str = Field(description="SHA-256 of the items as reviewed; an edit after it makes it stale")
    reviewed_at: dt.datetime


class ReviewsOut(BaseModel):
    checklist: dict[str, str] = Field(description="the checklist points and what each confirms")
    review_required: bool = Field(description="publishing needs an approving review (LLM-generated items)")
    current_approval: ReviewOut | None = Field(description="the latest review, if it approves the items as they are")
    reviews: list[ReviewOut]


class ItemStatisticsOut(BaseModel):
    item_id: str
    attempts: int = Field(description="graded attempts that showed the item")
    share_correct: float | None = Field(description="share of those attempts with full marks")
    mean_score: float | None = Field(description="mean share of the item's points earned")
    discrimination: float | None = Field(description="point-biserial correlation of the item with the rest score")
    flagged: bool = Field(description="negative discrimination")


class ReliabilityOut(BaseModel):
    """Score reliability from first attempts; the figures are null until there are min_first_attempts of them."""

    assessment_id: str
    first_attempts: int = Field(description="graded first attempts (retakes are left out)")
    min_first_attempts: int = Field(description="first attempts needed before figures are given "
                                                "(SKILLPROOF_RELIABILITY_MIN_FIRST_ATTEMPTS)")
    coefficient: float | None = Field(description="KR-20 (right/wrong items) or Cronbach's alpha")
    method: Literal["kr20", "cronbach_alpha"] | None
    estimation: Literal["complete", "pairwise"] | None = Field(
        description="complete: every first attempt answered the same items; pairwise: items drawn from a pool, "
        "item variances and covariances each estimated from the attempts that answered them"
    )
    items_per_attempt: int | None
    mean_percent: float | None
    sem_points: float | None = Field(description="standard error of measurement, in points")
    sem_percent: float | None = Field(description="standard error of measurement, in percent of the maximum")
    effective_items: float | None = Field(
        description="Livingston-Lewis effective test length: the number of equally weighted right/wrong items "
        "the scores behave like"
    )


class LlmCallOut(BaseModel):
    purpose: str = Field(description="the schema asked for: skillproof_items_<type> or skillproof_solver_<type>")
    form: Literal["json_schema", "json_object", "text"] = Field(description="the structured-output form sent")
    outcome: Literal["answered", "refused"] = Field(description="refused: the server refused the form; the "
                                                    "next form was tried")
    prompt_tokens: int | None = Field(description="as the server counted them (usage); null if it did not say")
    completion_tokens: int | None
    finish_reason: str | None
    seconds: float


class LlmUsageOut(BaseModel):
    structured_output: Literal["json_schema", "json_object", "text"] = Field(
        description="the form the endpoint accepted (json_schema, else json_object with the schema, else plain "
                    "text with the schema in the prompt)"
    )
    calls: list[LlmCallOut] = Field(description="every request to the endpoint, in order (the last 500 at most)")
    calls_omitted: int = Field(description="earlier calls left out of `calls`")
    prompt_tokens: int = Field(description="sum over the calls that reported usage")
    completion_tokens: int
    largest_prompt_tokens: int | None = Field(description="the largest prompt of one call, in tokens")


class JobOut(BaseModel):
    id: str
    status: Literal["queued", "running", "succeeded", "failed"]
    assessment_id: str | None
    kept: int
    dropped: list[dict[str, Any]]
    error: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    llm: LlmUsageOut | None = Field(default=None, description="the LLM calls the job made, once it has finished")


class JobAccepted(BaseModel):
    job_id: str
    status: Literal["queued"]
    location: str
