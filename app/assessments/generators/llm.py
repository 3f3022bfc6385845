"""The LLM generator: asks an OpenAI-compatible endpoint for items and keeps only the checked ones.

It works from a GenerationBrief (brief.py: skill, level descriptor, competencies with target counts, bank
exemplars), asks for items per type and competency, and turns the model's texts and indexes into internal
items (the model never chooses ids, and never states a numeric key: compute.py evaluates its computation).
Each item then passes, cheapest first: the conversion checks (keys among the options, a rationale for every
distractor, a computation that evaluates to the stated key), its competency's target, the rule and flaw
checks (app.assessments.rules), no copy of an exemplar, the critic pass (critic.py), the options-only test
and the solver check (solver.py); the critic and the solver may run on their own endpoint and model. Every
dropped item is returned with its named reasons.
Performance tasks (sql_query, python_function; written only when named in item_types) become the same item
dicts the bank makes, pass the bank's task checks (task_checks.py, python_checks.py: the reference earns
full marks, the must-fail answers do not; the mutation score is kept on the item as `task_checks`), and then
the solver, whose solution, written from the learner's view, is run and must earn full marks (no critic or
options-only pass: they judge keys and options). The transport (retries, breaker, structured-output forms,
token records) is `app.llm.client`; its names are re-exported here for the modules that import them.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.assessments import rules
from app.assessments.generators import compute, critic, prompts, solver
from app.assessments.generators.bank import option_id
from app.assessments.generators.brief import GenerationBrief, from_criteria, slug
from app.grading import python_task, sql_task
from app.grading import rubric as grading
from app.grading.performance import PERFORMANCE_TYPES
from app.llm.client import ChatReply as ChatReply
from app.llm.client import CircuitBreaker as CircuitBreaker
from app.llm.client import CircuitOpenError as CircuitOpenError
from app.llm.client import LlmClient as LlmClient
from app.llm.client import LlmConfig as LlmConfig
from app.llm.client import LlmError as LlmError
from app.llm.client import LlmOutputError as LlmOutputError
from app.llm.client import derive_seed as derive_seed
from app.llm.client import public_url
from app.llm.structured import strict_schema as strict_schema
from app.strict_json import MAX_SAFE_INTEGER

__all__ = [
    "TASK_TYPES", "WRITABLE_TYPES", "CircuitBreaker", "CircuitOpenError", "GenerationResult", "LlmClient",
    "LlmConfig", "LlmError", "LlmGenerator", "LlmOutputError", "derive_seed", "solver_config", "strict_schema",
    "to_item",
]

ITEM_TYPES = ("single_choice", "multiple_response", "numeric", "short_text", "ordering", "matching")
# Performance tasks: written only when asked for by name, as the bank draws them (they run in the grading pool).
TASK_TYPES = PERFORMANCE_TYPES
WRITABLE_TYPES = ITEM_TYPES + TASK_TYPES
POINTS = {"single_choice": 1, "multiple_response": 2, "numeric": 1, "short_text": 1, "ordering": 2, "matching": 2,
          "sql_query": 2, "python_function": 2}
# A task is long (tables and variants, or code and tests): this many per request keeps an answer within max_tokens.
TASKS_PER_REQUEST = {"sql_query": 1, "python_function": 2}


# -- what the model returns, per item type (strict: no coercion, no extra fields) ------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


class _Draft(_Strict):
    """What every generated item has."""

    prompt: str = Field(min_length=1)
    explanation: str = Field(min_length=1)
    difficulty: int = Field(ge=1, le=3)
    competency: str = Field(min_length=1)


class Rationale(_Strict):
    """Why one distractor is wrong, and the misconception that makes a learner choose it."""

    option: int
    why_wrong: str
    misconception: str


class _ChoiceDraft(_Draft):
    options: list[str] = Field(min_length=2, max_length=8)
    correct_option_indexes: list[int]
    distractor_rationales: list[Rationale]


class SingleChoiceDraft(_ChoiceDraft):
    pass


class MultipleResponseDraft(_ChoiceDraft):
    pass


class NumericDraft(_Draft):
    computation: str = Field(min_length=1)  # before "answer", so the model works it out before stating it
    answer: float
    absolute_tolerance: float = Field(ge=0)
    relative_tolerance: float = Field(ge=0)


class ShortTextDraft(_Draft):
    answer: str = Field(min_length=1)
    accepted_answers: list[str]
    case_sensitive: bool
    pattern: str | None


class OrderingDraft(_Draft):
    options: list[str] = Field(min_length=2, max_length=8)
    correct_order: list[int]


class Pair(_Strict):
    left: int
    right: int


class MatchingDraft(_Draft):
    left: list[str] = Field(min_length=2, max_length=8)
    right: list[str] = Field(min_length=2, max_length=8)
    pairs: list[Pair]


# A sql_query task: the tables the learner sees, the reference query, hidden variants and the comparison rule.
# A number is a float here (JSON numbers; whole ones become integers in INTEGER columns): a shorter schema. Cells
# are short, so that the solver's view of the largest tables the schema allows still fits an 8k context.
DRAFT_CELL_CHARS = 60
DRAFT_TABLES, DRAFT_COLUMNS, DRAFT_ROWS = 3, 6, 12
Cell = float | Annotated[str, Field(max_length=DRAFT_CELL_CHARS)] | None
Name = Annotated[str, Field(max_length=40)]  # checked as an identifier when the item is validated


class ColumnDraft(_Strict):
    name: Name
    type: Literal["INTEGER", "REAL", "TEXT"]


class TableDraft(_Strict):
    name: Name
    columns: list[ColumnDraft] = Field(min_length=1, max_length=DRAFT_COLUMNS)
    rows: list[list[Cell]] = Field(min_length=1, max_length=DRAFT_ROWS)


class TableRowsDraft(_Strict):  # new rows for one table in a variant (the tables it does not name keep theirs)
    table: Name
    rows: list[list[Cell]] = Field(min_length=1, max_length=DRAFT_ROWS)


class VariantDraft(_Strict):
    tables: list[TableRowsDraft] = Field(min_length=1, max_length=DRAFT_TABLES)


class SqlQueryDraft(_Draft):
    tables: list[TableDraft] = Field(min_length=1, max_length=DRAFT_TABLES)
    reference_query: str = Field(min_length=1)
    hidden_variants: list[VariantDraft] = Field(min_length=2, max_length=3)
    ordered: bool
    column_names: bool
    tolerance: float = Field(ge=0, le=1)


# A python_function task: the signature, the reference solution, visible examples and weighted hidden tests.
# Calls and values are Python literals in strings: any JSON value fits a strict schema that way, and a model
# writes `f([1, 2])` more reliably than JSON-in-JSON.
class CallDraft(_Strict):
    call: str = Field(min_length=1, max_length=300)
    expected: str = Field(min_length=1, max_length=300)


class HiddenTestDraft(CallDraft):
    weight: int = Field(ge=1, le=3)


class PythonFunctionDraft(_Draft):
    function_name: Name
    parameters: list[Name] = Field(max_length=5)
    reference_solution: str = Field(min_length=1)
    examples: list[CallDraft] = Field(min_length=1, max_length=3)
    hidden_tests: list[HiddenTestDraft] = Field(min_length=3, max_length=12)


Draft = (SingleChoiceDraft | MultipleResponseDraft | NumericDraft | ShortTextDraft | OrderingDraft | MatchingDraft
         | SqlQueryDraft | PythonFunctionDraft)


class SingleChoiceBatch(_Strict):
    items: list[SingleChoiceDraft] = Field(min_length=1)


class MultipleResponseBatch(_Strict):
    items: list[MultipleResponseDraft] = Field(min_length=1)


class NumericBatch(_Strict):
    items: list[NumericDraft] = Field(min_length=1)


class ShortTextBatch(_Strict):
    items: list[ShortTextDraft] = Field(min_length=1)


class OrderingBatch(_Strict):
    items: list[OrderingDraft] = Field(min_length=1)


class MatchingBatch(_Strict):
    items: list[MatchingDraft] = Field(min_length=1)


class SqlQueryBatch(_Strict):
    items: list[SqlQueryDraft] = Field(min_length=1)


class PythonFunctionBatch(_Strict):
    items: list[PythonFunctionDraft] = Field(min_length=1)


BATCH_MODELS: dict[str, type[BaseModel]] = {
    "single_choice": SingleChoiceBatch,
    "multiple_response": MultipleResponseBatch,
    "numeric": NumericBatch,
    "short_text": ShortTextBatch,
    "ordering": OrderingBatch,
    "matching": MatchingBatch,
    "sql_query": SqlQueryBatch,
    "python_function": PythonFunctionBatch,
}


# -- from what the model wrote to internal items ---------------------------------------------------------------


def _number(value: float) -> int | float:
    """4.0 -> 4: whole numbers are stored as integers."""
    if value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


_LABEL = re.compile(r"\(?([A-Za-z]|[1-9])[.)]\s+")


def _unlabelled(texts: Sequence[str]) -> list[str]:
    """Option texts without the "A. " / "1) " labels models like to add (only when they run A, B, C ... or 1, 2 ...)."""
    texts = [text.strip() for text in texts]
    matches = [_LABEL.match(text) for text in texts]
    labels = [match.group(1).upper() if match else "" for match in matches]
    in_sequence = labels in ([chr(ord("A") + n) for n in range(len(texts))], [str(n + 1) for n in range(len(texts))])
    if len(texts) < 2 or not in_sequence:
        return texts
    return [text[match.end() :].strip() if match else text for text, match in zip(texts, matches, strict=True)]


def _side_option(item_id: str, text: str, side: str) -> dict[str, str]:
    """A matching option; the side is part of the id's input so equal texts on both sides get distinct ids."""
    return {"id": option_id(item_id, f"{side}\x1f{text.strip()}"), "text": text.strip(), "side": side}


def llm_item_id(skill_id: str, seed: int, number: int) -> str:
    """A generated item's id: unique across jobs (statistics and calibration follow an item by its id across
    assessments), and the same for the same job seed and position (reproducible tests and reruns)."""
    digest = hashlib.sha256(f"{skill_id}/{seed}/{number}".encode()).hexdigest()[:8]
    return f"{skill_id}-llm-{digest}-{number}"


def to_item(item_type: str, draft: Any, item_id: str) -> tuple[dict[str, Any], list[str]]:
    """The internal item for a model's draft, and the problems found converting it (indexes out of range ...)."""
    problems: list[str] = []
    item: dict[str, Any] = {"id": item_id, "type": item_type, "prompt": draft.prompt.strip()}
    if item_type in ("single_choice", "multiple_response", "ordering"):
        options = [{"id": option_id(item_id, text), "text": text} for text in _unlabelled(draft.options)]
        item["options"] = options
        indexes = draft.correct_order if item_type == "ordering" else draft.correct_option_indexes
        bad = [index for index in indexes if not 0 <= index < len(options)]
        if bad:
            problems.append(f"key_not_an_option: index {bad[0]} is not one of the {len(options)} options")
        keys = [options[index]["id"] for index in indexes if 0 <= index < len(options)]
        if item_type == "single_choice":
            # Exactly one key is stored as an id; anything else stays a list so the key_count rule names it.
            item["answer"] = keys[0] if len(keys) == 1 and not bad else keys
        else:
            item["answer"] = keys
        if item_type != "ordering":
            rationales, found = _rationales(options, set(indexes), draft.distractor_rationales)
            item["distractor_rationales"] = rationales
            problems += found
    elif item_type == "matching":
        lefts = [_side_option(item_id, text, "left") for text in _unlabelled(draft.left)]
        rights = [_side_option(item_id, text, "right") for text in _unlabelled(draft.right)]
        item["options"] = lefts + rights
        answer: dict[str, str] = {}
        for pair in draft.pairs:
            if not (0 <= pair.left < len(lefts) and 0 <= pair.right < len(rights)):
                problems.append(f"key_not_an_option: pair ({pair.left}, {pair.right}) names a missing entry")
                break
            left_id = lefts[pair.left]["id"]
            if left_id in answer:
                problems.append(f"key_not_a_matching: left entry {pair.left} is matched more than once")
                break
            answer[left_id] = rights[pair.right]["id"]
        item["answer"] = answer
    elif item_type == "numeric":
        item["tolerance"] = {
            "absolute": _number(draft.absolute_tolerance),
            "relative": _number(draft.relative_tolerance),
        }
        item["computation"] = " ".join(draft.computation.strip().strip("`").split())
        key, found = _computed_key(item["prompt"], item["computation"], draft.answer, item["tolerance"])
        item["answer"] = key if key is not None else _number(draft.answer)
        problems += found
    elif item_type == "sql_query":
        problems += _sql_task(draft, item)
    elif item_type == "python_function":
        problems += _python_task(draft, item)
    elif item_type == "short_text":
        key = draft.answer.strip()
        accepted: list[str] = []
        seen = {grading.normalise_text(key, case_sensitive=draft.case_sensitive)}
        for text in (text.strip() for text in draft.accepted_answers):
            form = grading.normalise_text(text, case_sensitive=draft.case_sensitive)
            if text and form not in seen:
                seen.add(form)
                accepted.append(text)
        pattern = draft.pattern if draft.pattern and draft.pattern.strip() else None  # "" means none
        item.update(answer=key, accepted_answers=accepted, case_sensitive=draft.case_sensitive, pattern=pattern)
    else:
        raise ValueError(f"unknown item type {item_type!r}")
    item["points"] = POINTS[item_type]
    item["explanation"] = draft.explanation.strip()
    item["criteria"] = {slug(draft.competency) or "general": 1}
    item["difficulty"] = draft.difficulty
    return item, problems


def _rows(rows: Sequence[Sequence[Any]], columns: Sequence[dict[str, str]]) -> list[list[Any]]:
    """Rows as the fixture stores them: a whole float in an INTEGER column is the integer (`3.0` -> 3); what
    does not fit its column is left for the fixture check to name."""
    types = [column["type"] for column in columns]
    tidied = []
    for row in rows:
        cells = list(row)
        if len(cells) == len(types):
            cells = [int(cell) if kind == "INTEGER" and isinstance(cell, float) and cell.is_integer()
                     and abs(cell) <= MAX_SAFE_INTEGER else cell for cell, kind in zip(cells, types, strict=True)]
        tidied.append(cells)
    return tidied


def _sql_task(draft: SqlQueryDraft, item: dict[str, Any]) -> list[str]:
    """Fill in a sql_query item as the bank makes one: the visible fixture, each variant whole (the tables it
    does not name keep the visible rows), the comparison rule and the default runner; the problems found."""
    problems: list[str] = []
    tables: list[dict[str, Any]] = []
    for table in draft.tables:
        columns = [{"name": column.name.strip().lower(), "type": column.type} for column in table.columns]
        tables.append({"name": table.name.strip().lower(), "columns": columns, "rows": _rows(table.rows, columns)})
    by_name = {table["name"]: table for table in tables}
    variants = []
    for index, variant in enumerate(draft.hidden_variants, start=1):
        rows_of: dict[str, list[list[Any]]] = {}
        for given in variant.tables:
            name = given.table.strip().lower()
            if name not in by_name:
                problems.append(f"variant_schema: variant {index} names {given.table!r}, not a table of the fixture")
            elif name in rows_of:
                problems.append(f"variant_schema: variant {index} gives the rows of {name} twice")
            else:
                rows_of[name] = _rows(given.rows, by_name[name]["columns"])
        variants.append({"tables": [{**table, "rows": rows_of.get(table["name"], table["rows"])}
                                    for table in tables]})
    item.update(
        answer=solver.unfenced(draft.reference_query), fixture={"tables": tables}, variants=variants,
        compare={"ordered": draft.ordered, "column_names": draft.column_names,
                 "tolerance": _number(draft.tolerance)},
        runner=dict(sql_task.DEFAULT_RUNNER),
    )
    return problems


def _json_value(value: object) -> object:
    """A Python literal as the JSON value a function's result is compared in: tuples are lists; sets, bytes,
    complex numbers, keys that are not strings, non-finite floats and integers beyond 2**53 have no such form."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        if not math.isfinite(value) or abs(value) > MAX_SAFE_INTEGER:
            raise ValueError(f"{value!r} is not a finite number within 2**53")
        return value
    if isinstance(value, list | tuple):
        return [_json_value(element) for element in value]
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        return {key: _json_value(element) for key, element in value.items()}
    raise ValueError(f"a {type(value).__name__} has no JSON form (use lists, dicts with string keys, numbers, "
                     "strings, True/False/None)")


def _call(text: str, name: str) -> list[object]:
    """The arguments of `name(arg, ...)`, each a Python literal; ValueError saying what is wrong."""
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise ValueError("is not Python syntax") from None
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name):
        raise ValueError(f"is not a call of {name}()")
    if node.keywords or any(isinstance(arg, ast.Starred) for arg in node.args):
        raise ValueError("passes arguments by keyword or with *; pass each by position")
    return [_literal(arg, "has an argument that") for arg in node.args]


def _literal(source: str | ast.expr, what: str) -> object:
    try:
        value = ast.literal_eval(source.strip() if isinstance(source, str) else source)
    except (SyntaxError, ValueError, TypeError, RecursionError, MemoryError):
        raise ValueError(f"{what} is not a Python literal (numbers, strings, lists, dicts, True/False/None)") from None
    try:
        return _json_value(value)
    except ValueError as exc:
        raise ValueError(f"{what} has no JSON form: {exc}") from None


def _python_task(draft: PythonFunctionDraft, item: dict[str, Any]) -> list[str]:
    """Fill in a python_function item as the bank makes one: {name, params}, the reference source, examples and
    hidden tests as {args, expected[, weight]} and the default runner; the problems found."""
    problems: list[str] = []
    name = draft.function_name.strip()
    calls: dict[str, list[dict[str, Any]]] = {"examples": [], "tests": []}
    for where, given in (("examples", draft.examples), ("tests", draft.hidden_tests)):
        for index, entry in enumerate(given, start=1):
            label = (f"examples_invalid: example {index}" if where == "examples"
                     else f"test_invalid: hidden test {index}")
            try:
                args = _call(entry.call, name)
                expected = _literal(entry.expected, "its expected value")
            except ValueError as exc:
                problems.append(f"{label}: {entry.call[:80]!r} {exc}")
                continue
            call: dict[str, Any] = {"args": args, "expected": expected}
            weight = getattr(entry, "weight", 1)
            if weight != 1:
                call["weight"] = weight
            calls[where].append(call)
    item.update(
        function={"name": name, "params": [param.strip() for param in draft.parameters]},
        answer=solver.unfenced(draft.reference_solution) + "\n", examples=calls["examples"], tests=calls["tests"],
        runner=dict(python_task.DEFAULT_RUNNER),
    )
    return problems


def _rationales(
    options: list[dict[str, str]], keys: set[int], given: Sequence[Rationale]
) -> tuple[dict[str, dict[str, str]], list[str]]:
    """Option id -> its rationale, for every distractor; the problems: one missing, empty or given for a key."""
    problems: list[str] = []
    found: dict[str, dict[str, str]] = {}
    for rationale in given:
        why, misconception = " ".join(rationale.why_wrong.split()), " ".join(rationale.misconception.split())
        if not 0 <= rationale.option < len(options):
            problems.append(f"rationale_not_an_option: index {rationale.option} is not one of the options")
        elif rationale.option in keys:
            text = options[rationale.option]["text"]
            problems.append(f"rationale_for_key: the model explains why the key {text[:60]!r} is wrong")
        elif why and misconception:
            found[options[rationale.option]["id"]] = {"why_wrong": why, "misconception": misconception}
    for index, option in enumerate(options):
        if index not in keys and option["id"] not in found:
            problems.append(f"rationale_missing: no reason and misconception for the distractor "
                            f"{option['text'][:60]!r}")
    return found, problems


def _computed_key(
    prompt: str, computation: str, stated: float, tolerance: dict[str, int | float]
) -> tuple[int | float | None, list[str]]:
    """The key the computation evaluates to, and the problems: refused, a bare number, numbers the prompt does
    not state, or a stated key outside the tolerance of the computed one."""
    if compute.is_bare_number(computation):
        return None, [f"key_not_computed: the computation {computation!r} is a bare number, not a calculation"]
    try:
        value, literals = compute.evaluate(computation)
    except compute.ComputationError as exc:
        return None, [f"computation_invalid: {computation[:80]!r}: {exc}"]
    problems: list[str] = []
    foreign = compute.unanchored(literals, prompt)
    if foreign:
        problems.append(
            f"computation_unanchored: {', '.join(f'{n:g}' for n in foreign[:3])} in {computation[:80]!r} "
            "is not a number the prompt states"
        )
    allowed = max(float(tolerance["absolute"]), float(tolerance["relative"]) * abs(value))
    if not math.isclose(stated, value, rel_tol=1e-9, abs_tol=allowed + 1e-12):
        problems.append(f"stated_key_disagrees: the model stated {stated:g}; its computation {computation[:80]!r} "
                        f"gives {value:g}")
    return value, problems


@dataclass
class GenerationResult:
    """Kept items (each passed every check), dropped ones with their reasons, and how they were made."""

    kept: list[dict[str, Any]]
    dropped: list[dict[str, Any]]
    provenance: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def solver_config(settings: Any, generator: LlmConfig) -> LlmConfig:
    """The solver's (and critic's) endpoint: SKILLPROOF_SOLVER_BASE_URL, _API_KEY and _MODEL, each defaulting to
    the generator's; the generator's API key is never sent to another endpoint."""
    base_url = getattr(settings, "solver_base_url", None) or generator.base_url
    same_endpoint = base_url.rstrip("/") == generator.base_url.rstrip("/")
    api_key = getattr(settings, "solver_api_key", None) or (generator.api_key if same_endpoint else None)
    model = getattr(settings, "solver_model", None) or generator.model
    return dataclasses.replace(generator, base_url=base_url, api_key=api_key, model=model)


# What the prompts ask for, as schema bounds (the validation of an answer keeps the rule checks' wider limits).
STRING_BOUNDS = {"prompt": 600, "explanation": 600, "options": 150, "left": 150, "right": 150, "competency": 40,
                 "answer": 60, "accepted_answers": 60, "pattern": 200, "reference_query": 600,
                 "reference_solution": 600}
# 600 at most: llama-cpp-python writes maxLength n as n nested optional characters, and its grammar parser fails
# (the server process dies) on a few thousand; the bank's longest reference is under 300 characters.
ARRAY_BOUNDS = {"correct_option_indexes": 8, "correct_order": 8, "pairs": 8, "accepted_answers": 10}


def _bound(item_schema: dict[str, Any]) -> None:
    """Add maxLength / maxItems from STRING_BOUNDS and ARRAY_BOUNDS to one item's schema, in place."""
    for name, node in item_schema["properties"].items():
        if name in ARRAY_BOUNDS and node.get("type") == "array":
            node["maxItems"] = min(node.get("maxItems", ARRAY_BOUNDS[name]), ARRAY_BOUNDS[name])
        targets = [node["items"]] if node.get("type") == "array" else [node, *node.get("anyOf", [])]
        for target in targets:
            if name in STRING_BOUNDS and target.get("type") == "string" and "enum" not in target:
                target["maxLength"] = STRING_BOUNDS[name]


class LlmGenerator:
    """Generates items through an LLM and keeps only those that pass every check (see the module docstring)."""

    name = "llm"

    def __init__(
        self, config: LlmConfig, client: LlmClient | None = None, *, solver_config: LlmConfig | None = None,
        solver_client: LlmClient | None = None,
    ):
        self.config = config
        self.client = client or LlmClient(config)
        self._owns_client = client is None
        self.solver_config = solver_config or config
        self._owns_solver_client = False
        if solver_client is not None:
            self.solver_client = solver_client
        elif self.solver_config == config:
            self.solver_client = self.client  # one endpoint: one client, one breaker
        else:
            self.solver_client = LlmClient(self.solver_config)
            self._owns_solver_client = True

    def close(self) -> None:
        if self._owns_client:
            self.client.close()
        if self._owns_solver_client:
            self.solver_client.close()

    def provenance(self, seed: int, brief: GenerationBrief | None = None) -> dict[str, Any]:
        found: dict[str, Any] = {
            "generator": "llm",
            "model": self.config.model,
            "prompt_version": prompts.PROMPT_VERSION,
            "solver_prompt_version": prompts.SOLVER_PROMPT_VERSION,
            "critic_prompt_version": prompts.CRITIC_PROMPT_VERSION,
            "temperature": self.config.temperature,
            "seed": seed,
            "base_url": public_url(self.config.base_url),
            "structured_output": self.client.form,
            "solver": {
                "model": self.solver_config.model,
                "base_url": public_url(self.solver_config.base_url),
                "runs": self.config.solver_runs,
                "agreement": self.config.solver_agreement,
                "unanimous_types": sorted(solver.UNANIMOUS_TYPES),
                "options_only_runs": solver.OPTIONS_ONLY_RUNS,
            },
        }
        if brief is not None:
            found["brief"] = brief.provenance()
        return found

    def generate(
        self,
        brief: GenerationBrief | None = None,
        *,
        item_types: Sequence[str],
        seed: int,
        existing_prompts: Sequence[str] = (),
        id_start: int = 1,
        skill_id: str = "",
        skill_name: str = "",
        skill_description: str = "",
        level: str = "",
        item_count: int | None = None,
        criteria: Sequence[str] = (),
    ) -> GenerationResult:
        """Up to the brief's item count of checked items in at most `max_rounds` rounds; raises LlmError if the
        endpoint fails. Without a brief, one is made from the skill fields, `item_count` and `criteria`."""
        types = list(dict.fromkeys(item_types))
        unknown = [kind for kind in types if kind not in WRITABLE_TYPES]
        if not types or unknown:
            raise ValueError(f"item_types must name some of {list(WRITABLE_TYPES)}; unknown: {unknown}")
        if brief is None:
            brief = from_criteria(
                skill_id=skill_id, skill_name=skill_name, skill_description=skill_description, level=level,
                item_count=item_count or 0, criteria=criteria,
            )
        targets = {c.criterion: c.target for c in brief.competencies}
        kept: list[dict[str, Any]] = []
        dropped: list[dict[str, Any]] = []
        notes: list[str] = []
        others: list[dict[str, Any]] = [{"prompt": prompt} for prompt in existing_prompts]
        kept_by_type = dict.fromkeys(types, 0)
        kept_by_competency: Counter[str] = Counter()
        active = list(types)
        number = id_start
        for round_index in range(self.config.max_rounds):
            need = brief.item_count - len(kept)
            if need <= 0:
                break
            plan = self._plan(need, active, types, kept_by_type)
            competency_plan = self._competency_plan(plan, types, targets, kept_by_competency)
            for item_type in [kind for kind in types if plan.get(kind)]:
                wanted = plan[item_type]
                ask = min(self.config.batch_size, TASKS_PER_REQUEST.get(item_type, self.config.batch_size),
                          wanted + math.ceil(wanted / 2))
                try:
                    drafts = self._ask(
                        brief, item_type, ask, competency_plan[item_type],
                        avoid=[str(other["prompt"]) for other in others],
                        seed=derive_seed(seed, "items", round_index, item_type),
                    )
                except LlmOutputError as exc:
                    notes.append(f"round {round_index + 1}, {item_type}: {exc.reason}")
                    drafts = []
                taken = 0
                for draft in drafts:
                    if taken >= wanted or len(kept) >= brief.item_count:
                        break
                    item_id = llm_item_id(brief.skill_id, seed, number)
                    item, reasons = to_item(item_type, draft, item_id)
                    criterion = next(iter(item["criteria"]))
                    if not reasons and targets and kept_by_competency[criterion] >= targets.get(criterion, 0):
                        reasons = [f"over_target: the {targets.get(criterion, 0)} planned items on {criterion!r} "
                                   "are kept already"]
                    if not reasons:
                        # An LLM item has no author to judge a flaw: drop it. A task's checks run its reference
                        # and the must-fail answers; its mutation score is kept for the reviewer.
                        reasons, report = rules.rule_report(item, others)
                        reasons = reasons or rules.flaws(item)
                        if report is not None and not reasons:
                            item["task_checks"] = report.figures()
                    if not reasons:
                        reasons = self._copies_exemplar(item, brief)
                    if not reasons:
                        reasons, warnings = self._judge(item, brief, seed)
                        if warnings:
                            item["review_warnings"] = warnings
                    if reasons:
                        dropped.append({"prompt": item["prompt"], "reasons": reasons})
                        continue
                    kept.append(item)
                    others.append(item)
                    kept_by_type[item_type] += 1
                    kept_by_competency[criterion] += 1
                    taken += 1
                    number += 1
                if taken == 0 and len(active) > 1:
                    active.remove(item_type)
                    notes.append(f"round {round_index + 1}, {item_type}: no item kept; not asked for again")
        for index, item in enumerate(kept):
            # The promise: never an invalid item (the near-duplicate check compares with the other kept items).
            if rules.all_problems(item, kept[:index]):
                raise AssertionError(f"item {item['id']} was kept but fails the rule checks")
        if len(kept) < brief.item_count:
            notes.append(
                f"kept {len(kept)} of the {brief.item_count} items asked for in {self.config.max_rounds} rounds"
            )
            short = {name: target - kept_by_competency[name] for name, target in targets.items()
                     if kept_by_competency[name] < target}
            if short:
                notes.append("competencies short of their target: "
                             + ", ".join(f"{name} {number_short}" for name, number_short in short.items()))
        return GenerationResult(kept=kept, dropped=dropped, provenance=self.provenance(seed, brief), notes=notes)

    def _judge(self, item: dict[str, Any], brief: GenerationBrief, seed: int) -> tuple[list[str], list[str]]:
        """The model checks, cheapest first: the critic, the options-only test, the solver (all on the solver's
        endpoint). The drop reasons, or none and the critic's warnings for the reviewer. A performance task gets
        the solver only: its solution is run like a learner's (the critic's questions are about keys and options,
        and the task's own checks have run its reference and the wrong answers)."""
        if item["type"] in TASK_TYPES:
            agrees, reason = solver.solver_agrees(
                self.solver_client, item, runs=self.config.solver_runs,
                agreement=solver.required_agreement(item["type"], self.config.solver_runs,
                                                    self.config.solver_agreement),
                seed=derive_seed(seed, "solver", item["prompt"]),
            )
            return ([] if agrees else [reason or "solver_disagrees"]), []
        verdict = critic.critique(
            self.solver_client, item, seed=derive_seed(seed, "critic", item["prompt"]), level=brief.level
        )
        if verdict.reasons:
            return verdict.reasons, []
        cue = solver.cued_by_options(self.solver_client, item, seed=derive_seed(seed, "options-only", item["prompt"]))
        if cue:
            return [cue], []
        runs = self.config.solver_runs
        agrees, reason = solver.solver_agrees(
            self.solver_client, item, runs=runs,
            agreement=solver.required_agreement(item["type"], runs, self.config.solver_agreement),
            seed=derive_seed(seed, "solver", item["prompt"]),
        )
        if not agrees:
            return [reason or "solver_disagrees"], []
        return [], verdict.warnings

    @staticmethod
    def _copies_exemplar(item: dict[str, Any], brief: GenerationBrief) -> list[str]:
        """An item too like an exemplar the model was shown is a copy, not a new item."""
        for exemplar in brief.exemplars:
            texts = exemplar.options + exemplar.left + exemplar.right
            shown = {"prompt": exemplar.full_prompt or exemplar.prompt, "options": [{"text": text} for text in texts]}
            if rules.near_duplicate_problems(item, [shown if texts else {"prompt": shown["prompt"]}]):
                return [f"copies_exemplar: the prompt is a near-duplicate of the bank item {exemplar.id} shown as an "
                        "example"]
        return []

    @staticmethod
    def _plan(need: int, active: list[str], types: list[str], kept_by_type: dict[str, int]) -> dict[str, int]:
        """Spread the items still needed over the active types, evening out the per-type counts."""
        plan = dict.fromkeys(active, 0)
        for _ in range(need):
            kind = min(active, key=lambda name: (kept_by_type[name] + plan[name], types.index(name)))
            plan[kind] += 1
        return plan

    @staticmethod
    def _competency_plan(
        plan: dict[str, int], types: list[str], targets: dict[str, int], kept: Counter[str]
    ) -> dict[str, dict[str, int]]:
        """Per type, how many of its items go to each competency still short of its target (most short first)."""
        remaining = {name: target - kept[name] for name, target in targets.items() if target > kept[name]}
        order = list(targets)
        found: dict[str, dict[str, int]] = {kind: {} for kind in plan}
        for kind in [name for name in types if plan.get(name)]:
            for _ in range(plan[kind]):
                if not remaining:
                    break
                name = max(remaining, key=lambda tag: (remaining[tag], -order.index(tag)))
                found[kind][name] = found[kind].get(name, 0) + 1
                remaining[name] -= 1
                if remaining[name] == 0:
                    del remaining[name]
        return found

    def _ask(
        self, brief: GenerationBrief, item_type: str, count: int, plan: dict[str, int], *, avoid: list[str], seed: int,
    ) -> list[Any]:
        model = BATCH_MODELS[item_type]
        schema = strict_schema(model)
        criteria = brief.criteria
        # At most the items asked for, each within the lengths the prompt states: a server that compiles the
        # schema to a grammar (llama.cpp, llama-cpp-python) then always ends the answer within max_tokens.
        schema["properties"]["items"]["maxItems"] = count
        _bound(schema["properties"]["items"]["items"])
        if criteria:
            item_schema = schema["properties"]["items"]["items"]
            item_schema["properties"]["competency"] = {"type": "string", "enum": criteria}

        def check(batch: BaseModel) -> None:
            if criteria:
                for position, draft in enumerate(getattr(batch, "items", [])):
                    if slug(draft.competency) not in criteria:
                        raise ValueError(f"items.{position}.competency: {draft.competency!r} is not one of {criteria}")

        messages = prompts.generation_messages(
            brief=brief, item_type=item_type, count=count, plan=plan, avoid_prompts=avoid,
        )
        batch = self.client.complete_json(
            messages, model, name=f"skillproof_items_{item_type}", seed=seed, schema=schema, check=check
        )
        drafts: list[Any] = list(getattr(batch, "items", []))
        return drafts
