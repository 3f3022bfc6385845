"""Versioned prompts for the LLM generator: one instruction per item type, the solver prompt, the repair prompt.

Changing any text here changes what the model is asked: bump PROMPT_VERSION (or SOLVER_PROMPT_VERSION)
so a draft's provenance names the prompt it was generated with.
"""

from __future__ import annotations

from collections.abc import Sequence

PROMPT_VERSION = "items-v2"
SOLVER_PROMPT_VERSION = "solver-v1"
MAX_AVOID_PROMPTS = 30
MAX_AVOID_CHARS = 200

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

COMMON_FIELDS = """Fields of every item:
- "prompt": the question (at most 600 characters; code in backticks);
- "explanation": why the key is correct (1-3 sentences);
- "difficulty": 1 (recall), 2 (application) or 3 (analysis) within the requested level;
- "competencies": 1 to 3 short competency tags the item measures{criteria_rule}."""

TYPE_INSTRUCTIONS: dict[str, str] = {
    "single_choice": """Write single-choice items: 4 options, exactly ONE of them correct.
- "options": the option texts (4 of them, each at most 150 characters, all different);
- "correct_option_indexes": a list holding the 0-based index of the one correct option.
Before answering, check that no distractor could also be argued to be correct.""",
    "multiple_response": """Write multiple-response items ("select all that apply"): 4 to 6 options, at least
one and not all of them correct.
- "options": the option texts (each at most 150 characters, all different);
- "correct_option_indexes": the 0-based indexes of every correct option.
The prompt must say "Select all that apply". Each option must be clearly true or clearly false on its own.""",
    "numeric": """Write numeric items: the answer is a single number the candidate types in.
- "answer": the exact correct number;
- "absolute_tolerance": how far a response may be from the answer and still count (0 for whole numbers);
- "relative_tolerance": the same as a fraction of the answer (0 if not needed).
The prompt must state the unit and the rounding expected (for example "to 2 decimal places").""",
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
}


def generation_messages(
    *,
    item_type: str,
    count: int,
    skill_name: str,
    skill_description: str,
    level: str,
    criteria: Sequence[str] = (),
    avoid_prompts: Sequence[str] = (),
) -> list[dict[str, str]]:
    """The conversation asking for `count` items of one type."""
    criteria_rule = (
        "; use only these tags: " + ", ".join(criteria) if criteria else " (lowercase words joined by hyphens)"
    )
    parts = [
        f"Skill: {skill_name}",
        f"What the skill covers: {skill_description}",
        f"Level: {level}",
        "",
        f"Write {count} different items.",
        TYPE_INSTRUCTIONS[item_type],
        "",
        COMMON_FIELDS.format(criteria_rule=criteria_rule),
    ]
    recent = [prompt for prompt in avoid_prompts if prompt.strip()][-MAX_AVOID_PROMPTS:]
    if recent:
        parts += ["", "The assessment already holds these items; write items on other points:"]
        parts += [f"- {_shorten(prompt)}" for prompt in recent]
    parts += ["", 'Return {"items": [...]} with exactly the fields above.']
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": "\n".join(parts)}]


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


def repair_message(error: str) -> dict[str, str]:
    """The follow-up after an answer that did not parse or validate."""
    return {
        "role": "user",
        "content": (
            "Your answer could not be used: "
            + error
            + "\nAnswer again with the complete JSON only, exactly in the requested schema, fixing that problem."
        ),
    }


def _shorten(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= MAX_AVOID_CHARS else flat[: MAX_AVOID_CHARS - 1] + "…"
