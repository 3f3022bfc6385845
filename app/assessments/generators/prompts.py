"""Versioned prompts for the LLM generator: one instruction per item type (performance tasks have their own
system prompt), and the solver prompt.

Changing any text here changes what the model is asked: bump PROMPT_VERSION (or SOLVER_PROMPT_VERSION)
so a draft's provenance names the prompt it was generated with.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from app.grading.performance import PERFORMANCE_TYPES

if TYPE_CHECKING:
    from app.assessments.generators.brief import Exemplar, GenerationBrief

PROMPT_VERSION = "items-v4"  # v4: sql_query and python_function tasks
SOLVER_PROMPT_VERSION = "solver-v3"  # v2: the options-only question joins the solver's; v3: tasks
CRITIC_PROMPT_VERSION = "critic-v1"
MAX_AVOID_PROMPTS = 20
MAX_AVOID_CHARS = 160
MAX_DESCRIPTOR_CHARS = 700

SYSTEM_PROMPT = """You are an experienced assessment author who writes items for professional skill tests.
Every item you write must:
- test one idea that matters in real work at the requested level, in plain and unambiguous language;
- have exactly the key(s) you mark and no other defensible answer: check each option against the prompt;
- be answerable from the prompt alone by someone with the skill (no trick wording, no outside context);
- use plausible distractors that reflect real misconceptions, similar in length and style to the key;
- never use "all of the above", "none of the above", "both A and B" or options that refer to other options;
- not give the key away by length, wording overlap with the prompt, or grammatical cues (a stem ending
  in "a" or "an");
- ask a complete, positive question: no "NOT"/"EXCEPT" (unless written in capitals), no blank to fill in
  the middle of the stem, no bare "Which statement is true?";
- never combine options ("1 and 3 only", "A and B"), never use vague words (usually, sometimes, often) or
  absolute words (always, never) that only distractors have; numeric distractors are numbers a learner
  with a real misconception would compute;
- carry a short explanation of why the key is right and why the most tempting distractor is wrong.
Answer with JSON only, exactly in the requested schema."""

TASK_SYSTEM_PROMPT = """You are an experienced assessment author who writes performance tasks for professional
skill tests: the candidate writes code, graded by running it. Every task you write must:
- ask for real work at the requested level, in plain and unambiguous language;
- define the result exactly (columns or return value, order, ties, empty input, NULL or None), so that
  a competent candidate gets the one correct result from the prompt alone;
- come with a reference solution that is correct and runs as written;
- come with hidden data or tests on which plausible wrong solutions fail: a missing condition, an
  off-by-one boundary, a forgotten edge case, the visible example hard-coded, a constant answer.
Answer with JSON only, exactly in the requested schema."""

COMMON_FIELDS = """Fields of every item:
- "prompt": the question (at most 600 characters; code in backticks);
- "explanation": why the key is correct (1-3 sentences);
- "difficulty": 1 (recall), 2 (application) or 3 (analysis) within the requested level;
- "competency": the competency the item measures{competency_rule}."""

_RATIONALES = """- "distractor_rationales": one object per WRONG option, {"option": its 0-based index,
  "why_wrong": why it is wrong (one sentence), "misconception": the mistake that leads a learner to
  choose it}; none for a key."""

TYPE_INSTRUCTIONS: dict[str, str] = {
    "single_choice": """Write single-choice items: 4 options, exactly ONE of them correct.
- "options": the option texts (4 of them, each at most 150 characters, all different);
- "correct_option_indexes": a list holding the 0-based index of the one correct option;
""" + _RATIONALES + """
Before answering, check that no distractor could also be argued to be correct.""",
    "multiple_response": """Write multiple-response items ("select all that apply"): 4 to 6 options, at least
one and not all of them correct.
- "options": the option texts (each at most 150 characters, all different);
- "correct_option_indexes": the 0-based indexes of every correct option;
""" + _RATIONALES + """
The prompt must say "Select all that apply". Each option must be clearly true or clearly false on its own.""",
    "numeric": """Write numeric items: the answer is a single number the candidate types in, worked out from
numbers stated in the prompt.
- "computation": an expression that computes the answer from the prompt's numbers, for example
  "round(1250 * 0.15, 2)"; only numbers, + - * / // % ** and round(x, digits), abs, min, max, sum([...]),
  len("text"); no variables. The key is what this expression evaluates to, so it must be exact;
- "answer": the number you expect the computation to give;
- "absolute_tolerance": how far a response may be from the answer and still count (0 for whole numbers);
- "relative_tolerance": the same as a fraction of the answer (0 if not needed).
The prompt must state the unit and the rounding expected (for example "to 2 decimal places"); round the
computation the same way.""",
    "short_text": """Write short-text items: the answer is a word, name, keyword or short expression (at most
60 characters) that the candidate types in.
- "answer": the canonical correct answer;
- "accepted_answers": other spellings or forms that are equally correct (may be empty);
- "case_sensitive": true only if letter case matters (for example code identifiers);
- "pattern": null, or an RE2 regular expression (no backreferences or lookaround) that a correct answer
  fully matches (only when the accepted answers cannot list every correct form; it must not match wrong
  answers).
Ask only questions with one short unambiguous answer.""",
    "ordering": """Write ordering items: the candidate puts 3 to 6 steps or elements in the right order.
- "options": the elements (each at most 150 characters, all different), in any order;
- "correct_order": the 0-based indexes of the options, from first to last, each index exactly once.
The prompt must say what the order is (for example "from first to last step").
Only one order may be defensible.""",
    "matching": """Write matching items: the candidate matches each left entry to one right entry.
- "left": 3 or 4 entries (terms, situations ...), all different;
- "right": one or two entries more than "left", all different: the extra entries are plausible answers
  of the same kind that match no left entry, so the last pair cannot be found by elimination;
- "pairs": one object {"left": i, "right": j} per left entry (0-based indexes), each right entry used
  at most once (the extra ones not at all).
Each left entry must have exactly one defensible match, and no extra entry may be a defensible match.""",
    "sql_query": """Write SQL tasks: the candidate writes one SQLite query, run on hidden variants of the tables;
it must return the rows your reference query returns on each variant.
- "tables": 1 to 3 tables {"name", "columns": [{"name", "type"}], "rows": 4 to 8 rows}, lower-case names;
- "reference_query": the correct query (one SELECT; no PRAGMA, ATTACH, random() or printf());
- "hidden_variants": 2 variants {"tables": [{"table", "rows"}]} with new rows for some tables (the
  others keep theirs): the reference returns rows on each, not the visible tables' result, and some
  rows trip a wrong query (a boundary value, a NULL, a tie, a row only a LEFT JOIN keeps);
- "ordered": true if the prompt fixes the row order; "column_names": true if it names the output
  columns; "tolerance": 0, or the allowed error of REAL results.
The prompt names the tables, the columns to return in order, and any rounding.""",
    "python_function": """Write Python tasks: the candidate writes one Python function (standard library only),
called on your hidden tests; each call must return the expected value.
- "function_name", "parameters": the function's name and parameter names;
- "reference_solution": the correct function's complete source, `def name(params): ...`;
- "examples": 1 or 2 calls shown to the candidate, {"call": "name(args)", "expected": the result};
- "hidden_tests": 5 to 8 other calls in the same form with a "weight" 1 to 3 (3: the cases that matter
  most): typical cases, edge cases (empty, one element, negative, ties, boundaries) and cases a
  plausible wrong solution gets wrong; not all expecting the same value.
Arguments and results are Python literals: numbers, strings, True, False, None, lists, dicts with string
keys. The prompt gives the signature and defines the result exactly.""",
}


def _exemplar_lines(exemplar: Exemplar) -> list[str]:
    lines = [f"[{exemplar.type}, {exemplar.criterion}] {exemplar.prompt}"]
    if exemplar.options:
        lines.append("  Options: " + " | ".join(exemplar.options))
    if exemplar.left:
        lines.append("  Left: " + " | ".join(exemplar.left) + "  Right: " + " | ".join(exemplar.right))
    return lines


def _counts(plan: Mapping[str, int]) -> str:
    parts = [f'{number} on "{name}"' for name, number in plan.items() if number]
    return ", ".join(parts)


def generation_messages(
    *,
    brief: GenerationBrief,
    item_type: str,
    count: int,
    plan: Mapping[str, int] | None = None,
    avoid_prompts: Sequence[str] = (),
) -> list[dict[str, str]]:
    """The conversation asking for `count` items of one type, on the competencies `plan` names (a GenerationBrief)."""
    criteria = list(brief.criteria)
    competency_rule = (
        ": one of " + ", ".join(f'"{name}"' for name in criteria) if criteria
        else " (a short tag: lowercase words joined by hyphens)"
    )
    level = f"Level: {brief.level}"
    if brief.level_descriptor:
        level += f". At this level a candidate: {_shorten(brief.level_descriptor, MAX_DESCRIPTOR_CHARS)}"
    ask = f"Write {count} different items."
    if plan and criteria:
        ask = f"Write {count} different items, each measuring one competency: {_counts(plan)}."
        if count > sum(plan.values()):
            ask += " Write the extra items on any of these competencies."
    parts = [
        f"Skill: {brief.skill_name}",
        f"What the skill covers: {_shorten(brief.skill_description, MAX_DESCRIPTOR_CHARS)}",
        level,
        "",
        ask,
        TYPE_INSTRUCTIONS[item_type],
        "",
        COMMON_FIELDS.format(competency_rule=competency_rule),
    ]
    exemplars = brief.exemplars_for(item_type)
    if exemplars:
        parts += ["", "Bank items showing the style and level wanted (keys not shown; do not copy them or test "
                      "the same points):"]
        for exemplar in exemplars:
            parts += _exemplar_lines(exemplar)
    recent = [prompt for prompt in avoid_prompts if prompt.strip()][-MAX_AVOID_PROMPTS:]
    if recent:
        parts += ["", "The assessment already holds these items; write items on other points:"]
        parts += [f"- {_shorten(prompt)}" for prompt in recent]
    parts += ["", 'Return {"items": [...]} with exactly the fields above.']
    system = TASK_SYSTEM_PROMPT if item_type in PERFORMANCE_TYPES else SYSTEM_PROMPT
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n".join(parts)}]


SOLVER_SYSTEM_PROMPT = """You are a careful expert taking a skill test. Work out the answer yourself, then give it
in the requested JSON schema. Think briefly in "reasoning" (at most 5 sentences) before answering."""

SOLVER_INSTRUCTIONS: dict[str, str] = {
    "single_choice": 'Exactly one option is correct. Put its letter in "choice".',
    "multiple_response": 'Select all that apply: put the letters of every correct option in "choices".',
    "numeric": 'Put the number in "answer" (a JSON number, no unit).',
    "short_text": 'Put the short answer in "answer" (a word or short expression, no sentence).',
    "ordering": 'Put the letters of all the options in "order", from first to last.',
    "matching": (
        'Match every numbered left entry to one lettered right entry: one {"left": number, "right": letter} '
        'object per left entry in "pairs"; a right entry is used at most once.'
    ),
    "sql_query": 'Write one SQLite query (SELECT or WITH ... SELECT) that answers the question for these tables '
                 'whatever rows they hold. Put it in "query".',
    "python_function": 'Write the function so that it is correct for every input, not just the examples (standard '
                       'library only). Put its complete source in "code".',
}


def solver_messages(
    *,
    item_type: str,
    prompt: str,
    options: Sequence[tuple[str, str]] = (),
    left: Sequence[tuple[str, str]] = (),
    right: Sequence[tuple[str, str]] = (),
) -> list[dict[str, str]]:
    """The conversation asking the solver to answer an item; labels are already assigned (and shuffled)."""
    parts = ["Question:", prompt.strip()]
    if options:
        parts += ["", "Options:"] + [f"{label}. {text}" for label, text in options]
    if left:
        parts += ["", "Left:"] + [f"{label}. {text}" for label, text in left]
        parts += ["", "Right:"] + [f"{label}. {text}" for label, text in right]
    parts += ["", SOLVER_INSTRUCTIONS[item_type]]
    return [{"role": "system", "content": SOLVER_SYSTEM_PROMPT}, {"role": "user", "content": "\n".join(parts)}]


def task_solver_messages(*, item_type: str, view: Mapping[str, Any]) -> list[dict[str, str]]:
    """The conversation asking the solver to solve a performance task from `view`, the task as a learner sees it."""
    parts = ["Question:", str(view["prompt"]).strip()]
    if item_type == "sql_query":
        parts += ["", "Tables:"]
        for table in view["fixture"]["tables"]:
            columns = ", ".join(f"{column['name']} {column['type']}" for column in table["columns"])
            parts.append(f"{table['name']}({columns}), {table['row_count']} rows:")
            parts += [f"  {json.dumps(row)}" for row in table["rows"]]
    else:
        name = view["function"]["name"]
        parts += ["", f"Function: {name}({', '.join(view['function']['params'])})", "", "Examples:"]
        parts += [f"{name}({', '.join(repr(arg) for arg in example['args'])}) returns {example['expected']!r}"
                  for example in view["examples"]]
    parts += ["", SOLVER_INSTRUCTIONS[item_type]]
    return [{"role": "system", "content": SOLVER_SYSTEM_PROMPT}, {"role": "user", "content": "\n".join(parts)}]


OPTIONS_ONLY_INSTRUCTIONS: dict[str, str] = {
    "single_choice": 'The question is hidden. Guess from the options alone which one is the correct answer; '
                     'put its letter in "choice".',
    "multiple_response": 'The question is hidden. Guess from the options alone which ones are correct; put '
                         'their letters in "choices".',
}


def options_only_messages(*, item_type: str, options: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    """The options-only question: the stem is withheld, so a key found anyway was cued by the options."""
    parts = ["Question: (hidden)", "", "Options:"] + [f"{label}. {text}" for label, text in options]
    parts += ["", OPTIONS_ONLY_INSTRUCTIONS[item_type]]
    return [{"role": "system", "content": SOLVER_SYSTEM_PROMPT}, {"role": "user", "content": "\n".join(parts)}]


CRITIC_SYSTEM_PROMPT = """You are a strict reviewer of skill-test items. You judge one item: its key is shown.
Judge every option on its own, as an expert would, not by the key marked. Report only real problems.
Answer with JSON only, exactly in the requested schema; "reasoning" at most 5 sentences."""

CRITIC_FLAWS = """"flaws": the problems you see, each {"flaw": name, "detail": one sentence}, names from:
more_than_one_defensible_answer, key_is_wrong, answer_given_away (the stem or options reveal the key),
needs_outside_context, negative_stem, unclear_wording, vague_or_absolute_wording, implausible_distractor,
off_level (trivia, or not the skill at the stated level). An empty list when the item is sound."""

CRITIC_TASKS: dict[str, str] = {
    "single_choice": '"defensible": the letters of EVERY option an expert could defend as a correct answer.',
    "multiple_response": '"defensible": the letters of EVERY option that is correct.',
    "short_text": '"other_correct_answers": other answers a competent candidate might type that are also correct '
                  "(an empty list if there are none).",
    "numeric": "",
    "ordering": "",
    "matching": "",
}


def critic_messages(
    *, item_type: str, prompt: str, key: str, options: Sequence[tuple[str, str]] = (),
    left: Sequence[tuple[str, str]] = (), right: Sequence[tuple[str, str]] = (), level: str = "",
) -> list[dict[str, str]]:
    """The critic's question: the item with its key, and what to list."""
    parts = [f"Item (level: {level}):" if level else "Item:", prompt.strip()]
    if options:
        parts += ["", "Options:"] + [f"{label}. {text}" for label, text in options]
    if left:
        parts += ["", "Left:"] + [f"{label}. {text}" for label, text in left]
        parts += ["", "Right:"] + [f"{label}. {text}" for label, text in right]
    parts += ["", f"Key: {key}", "", "Fill in:"]
    if CRITIC_TASKS[item_type]:
        parts.append(CRITIC_TASKS[item_type])
    parts.append(CRITIC_FLAWS)
    return [{"role": "system", "content": CRITIC_SYSTEM_PROMPT}, {"role": "user", "content": "\n".join(parts)}]


def _shorten(text: str, limit: int = MAX_AVOID_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
