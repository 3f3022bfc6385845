"""Named checks an item must pass before it is kept: rule checks (pure) and the solver check (LLM calls).

Every problem is a short reason `name: detail`, so an admin can see why an item was dropped.

Rules, beyond app.assessments.validation.item_problems:
- all_or_none_of_the_above: no option like "All of the above", "None of these", "Both A and B" (case,
  accents, punctuation and spacing ignored; English and a few other languages); a bare "None" is allowed
  (it is a legitimate answer, for example Python's None).
- key_giveaway_length (single_choice): the key is more than 1.5 times as long as the longest distractor
  and at least 20 characters longer.
- near_duplicate: the normalised word sets of the two prompts have a Jaccard similarity of 0.8 or more;
  when both items have options, their option words must also overlap (Jaccard 0.5 or more), so two items
  with a generic stem ("Which statement is true?") but different options are not duplicates.
- length limits: prompts 10 to 2000 characters, options 300, explanations 2000.
- performance tasks (sql_query), once the rules above hold: app/assessments/task_checks.py (the reference
  earns full marks, the hidden variants catch the must-fail wrong answers).
The structural rules of each item type (keys, options, tolerances, short-text patterns) are validation.py's.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from app.assessments import task_checks, validation
from app.assessments.generators import prompts
from app.grading import rubric as grading

if TYPE_CHECKING:
    from app.assessments.generators.llm import LlmClient

MAX_PROMPT_CHARS = validation.MAX_PROMPT_CHARS
MAX_OPTION_CHARS = validation.MAX_OPTION_CHARS
MIN_PROMPT_CHARS = 10
MAX_EXPLANATION_CHARS = 2000
GIVEAWAY_RATIO, GIVEAWAY_MIN_EXTRA_CHARS = 1.5, 20
NEAR_DUPLICATE_JACCARD = 0.8
NEAR_DUPLICATE_OPTIONS_JACCARD = 0.5


# -- rule checks --------------------------------------------------------------------------------------------


def rule_problems(item: dict[str, Any], others: Sequence[dict[str, Any]]) -> list[str]:
    """Every rule this item breaks, given the other items of its assessment; empty when it may be kept."""
    problems = validation.item_problems(item)
    if any(problem.startswith("type_unknown") for problem in problems):
        return problems
    problems += _length_problems(item)
    problems += _all_or_none_problems(item)
    problems += _giveaway_problems(item)
    problems += near_duplicate_problems(item, others)
    if not problems and item.get("type") in validation.PERFORMANCE_TYPES:
        problems += task_checks.task_report(item).problems  # runs the reference and the wrong answers
    return problems


def _texts(options: object) -> list[str] | None:
    """The option texts, or None when the options are not a list of {"text": str} objects."""
    if not isinstance(options, list):
        return None
    texts = [option.get("text") for option in options if isinstance(option, dict)]
    if len(texts) != len(options) or not all(isinstance(text, str) for text in texts):
        return None
    return [str(text) for text in texts]


def _length_problems(item: dict[str, Any]) -> list[str]:
    problems = []
    prompt = item.get("prompt")
    if isinstance(prompt, str) and prompt.strip() and len(prompt.strip()) < MIN_PROMPT_CHARS:
        problems.append(f"prompt_too_short: under {MIN_PROMPT_CHARS} characters")
    explanation = item.get("explanation")
    if isinstance(explanation, str) and len(explanation) > MAX_EXPLANATION_CHARS:
        problems.append(f"explanation_too_long: over {MAX_EXPLANATION_CHARS} characters")
    return problems


def _plain(text: str) -> str:
    """Accents, case and punctuation dropped: 'Toutes les réponses ci-dessus.' -> 'toutes les reponses ci dessus'."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()
    return " ".join(re.sub(r"[\W_]+", " ", stripped).split())


_QUANTIFIERS = frozenset({"all", "none", "any", "both", "neither", "each", "every"})
_REFERENCES = frozenset({
    "above", "below", "these", "those", "previous", "preceding", "listed", "aforementioned", "mentioned",
    "given", "other", "others", "options", "answers", "choices", "statements", "former", "latter",
})
_FILLERS = _REFERENCES | {
    "of", "the", "are", "is", "correct", "true", "right", "valid", "answer", "option", "choice",
    "statement", "and", "only", "apply", "stated",
}
_OTHER_LANGUAGES = (
    "toutes les reponses", "toutes les propositions", "tous les choix", "aucune des reponses",
    "aucune de ces reponses", "aucune des propositions", "aucun de ces choix",
    "todas las anteriores", "ninguna de las anteriores", "todas las respuestas", "ninguna de las respuestas",
    "todas as anteriores", "nenhuma das anteriores", "todas as respostas", "nenhuma das respostas",
    "alle oben", "alle obigen", "alle der oben", "alle genannten", "alle antworten",
    "keine der oben", "keine der obigen", "keine der genannten", "keine davon", "keine der antworten",
    "tutte le precedenti", "nessuna delle precedenti", "tutte le risposte", "nessuna delle risposte",
    "alle bovenstaande", "geen van de bovenstaande", "alle antwoorden", "geen van deze",
)
_LETTER_COMBINATION = re.compile(
    r"(?:Both |Only )?[A-H](?:,? (?:and |or |& )?[A-H])+(?: only| are (?:correct|true))?\.?"
)


def refers_to_other_options(text: str) -> bool:
    """'All of the above', 'None of these', 'Both A and B', 'Toutes les réponses' ... (not a bare 'None')."""
    plain = _plain(text)
    tokens = plain.split()
    if (
        len(tokens) > 1
        and tokens[0] in _QUANTIFIERS
        and all(token in _FILLERS for token in tokens[1:])
        and any(token in _REFERENCES for token in tokens[1:])
    ):
        return True
    if any(plain == phrase or plain.startswith(phrase + " ") for phrase in _OTHER_LANGUAGES):
        return True
    return _LETTER_COMBINATION.fullmatch(text.strip()) is not None


def _all_or_none_problems(item: dict[str, Any]) -> list[str]:
    texts = _texts(item.get("options")) or []
    found = [text for text in texts if refers_to_other_options(text)]
    if found:
        return [f"all_or_none_of_the_above: option {found[0]!r} refers to the other options"]
    return []


def _giveaway_problems(item: dict[str, Any]) -> list[str]:
    if item.get("type") != "single_choice":
        return []
    options = item.get("options")
    texts = _texts(options)
    if not texts or not isinstance(options, list):
        return []
    keys = [option["text"] for option in options if option.get("id") == item.get("answer")]
    distractors = [option["text"] for option in options if option.get("id") != item.get("answer")]
    if len(keys) != 1 or not distractors:
        return []
    key_length, longest = len(keys[0].strip()), max(len(text.strip()) for text in distractors)
    if key_length > GIVEAWAY_RATIO * longest and key_length - longest >= GIVEAWAY_MIN_EXTRA_CHARS:
        return [f"key_giveaway_length: the key has {key_length} characters, the longest distractor {longest}"]
    return []


def _words(text: str) -> frozenset[str]:
    # Operators count as tokens: `7 // 2` and `2 ** 3` are different questions with the same words around them.
    return frozenset(re.findall(r"\w+|[^\w\s`.,;:?!'\"()\[\]]+", grading.normalise_text(text)))


def jaccard(first: frozenset[str], second: frozenset[str]) -> float:
    if not first and not second:
        return 1.0
    return len(first & second) / len(first | second)


def near_duplicate_problems(item: dict[str, Any], others: Sequence[dict[str, Any]]) -> list[str]:
    prompt = item.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        return []
    words = _words(prompt)
    option_words = _words(" ".join(_texts(item.get("options")) or []))
    for other in others:
        if other is item or (item.get("id") is not None and other.get("id") == item.get("id")):
            continue
        other_prompt = other.get("prompt")
        if not isinstance(other_prompt, str):
            continue
        similarity = jaccard(words, _words(other_prompt))
        if similarity < NEAR_DUPLICATE_JACCARD:
            continue
        other_option_words = _words(" ".join(_texts(other.get("options")) or []))
        options_differ = jaccard(option_words, other_option_words) < NEAR_DUPLICATE_OPTIONS_JACCARD
        if option_words and other_option_words and options_differ:
            continue
        name = f"item {other['id']}" if other.get("id") else "an item already in the assessment"
        return [f"near_duplicate: the prompt is {similarity:.0%} like that of {name}"]
    return []


# -- the solver check -----------------------------------------------------------------------------------------


class _SolverAnswer(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


class SolverChoice(_SolverAnswer):
    reasoning: str
    choice: str


class SolverChoices(_SolverAnswer):
    reasoning: str
    choices: list[str]


class SolverNumber(_SolverAnswer):
    reasoning: str
    answer: float


class SolverText(_SolverAnswer):
    reasoning: str
    answer: str


class SolverOrder(_SolverAnswer):
    reasoning: str
    order: list[str]


class SolverPair(_SolverAnswer):
    left: int
    right: str


class SolverPairs(_SolverAnswer):
    reasoning: str
    pairs: list[SolverPair]


LETTERS = "ABCDEFGHIJKLMNOP"


@dataclass
class _Question:
    """One way of putting the item to the solver (labels shuffled), and how to read its answer back."""

    messages: list[dict[str, str]]
    model: type[BaseModel]
    schema: dict[str, Any]
    check: Callable[[Any], None]
    response: Callable[[Any], tuple[object, str]]  # the answer as a learner would submit it, and as text


def _letters_check(field: str, labels: list[str], *, every: bool = False) -> Callable[[Any], None]:
    def check(answer: Any) -> None:
        value = getattr(answer, field)
        chosen = [value] if isinstance(value, str) else list(value)
        unknown = [label for label in chosen if label not in labels]
        if unknown:
            raise ValueError(f'"{field}" holds {unknown}, which are not among the letters {labels}')
        if every and sorted(chosen) != sorted(labels):
            raise ValueError(f'"{field}" must list every letter {labels} exactly once')

    return check


def _no_check(answer: Any) -> None:
    return None


def full_marks(item: dict[str, Any], response: object) -> bool:
    """Whether the grader gives this response every point: the solver's answer 'matches the key'."""
    return grading.score_item(item, response, {}) == Fraction(item["points"])


def _pose(item: dict[str, Any], rng: random.Random) -> _Question:
    from app.assessments.generators.llm import strict_schema

    kind = item["type"]
    prompt = item["prompt"]
    if kind in ("single_choice", "multiple_response", "ordering"):
        options = list(item["options"])
        rng.shuffle(options)
        labels = list(LETTERS[: len(options)])
        by_label = dict(zip(labels, options, strict=True))
        messages = prompts.solver_messages(
            item_type=kind, prompt=prompt, options=[(label, by_label[label]["text"]) for label in labels]
        )
        if kind == "single_choice":
            schema = strict_schema(SolverChoice)
            schema["properties"]["choice"]["enum"] = labels

            def one(answer: Any) -> tuple[object, str]:
                return by_label[answer.choice]["id"], by_label[answer.choice]["text"]

            return _Question(messages, SolverChoice, schema, _letters_check("choice", labels), one)
        if kind == "multiple_response":
            schema = strict_schema(SolverChoices)
            schema["properties"]["choices"]["items"]["enum"] = labels

            def many(answer: Any) -> tuple[object, str]:
                chosen = [by_label[label] for label in dict.fromkeys(answer.choices)]
                return [option["id"] for option in chosen], " | ".join(option["text"] for option in chosen)

            return _Question(messages, SolverChoices, schema, _letters_check("choices", labels), many)
        schema = strict_schema(SolverOrder)
        schema["properties"]["order"]["items"]["enum"] = labels

        def order(answer: Any) -> tuple[object, str]:
            chosen = [by_label[label] for label in answer.order]
            return [option["id"] for option in chosen], " > ".join(option["text"] for option in chosen)

        return _Question(messages, SolverOrder, schema, _letters_check("order", labels, every=True), order)
    if kind == "matching":
        lefts = [option for option in item["options"] if option.get("side") == "left"]
        rights = [option for option in item["options"] if option.get("side") == "right"]
        rng.shuffle(lefts)
        rng.shuffle(rights)
        numbers = list(range(1, len(lefts) + 1))
        right_labels = list(LETTERS[: len(rights)])
        left_of = dict(zip(numbers, lefts, strict=True))
        right_of = dict(zip(right_labels, rights, strict=True))
        messages = prompts.solver_messages(
            item_type=kind, prompt=prompt,
            left=[(str(number), left_of[number]["text"]) for number in numbers],
            right=[(label, right_of[label]["text"]) for label in right_labels],
        )
        schema = strict_schema(SolverPairs)
        schema["properties"]["pairs"]["items"]["properties"]["right"]["enum"] = right_labels

        def check_pairs(answer: Any) -> None:
            if sorted(pair.left for pair in answer.pairs) != numbers:
                raise ValueError(f'"pairs" must hold exactly one pair for each left number {numbers}')
            unknown = [pair.right for pair in answer.pairs if pair.right not in right_labels]
            if unknown:
                raise ValueError(f'"right" holds {unknown}, which are not among the letters {right_labels}')

        def pairs(answer: Any) -> tuple[object, str]:
            mapping = {left_of[pair.left]["id"]: right_of[pair.right]["id"] for pair in answer.pairs}
            text = "; ".join(f"{left_of[pair.left]['text']} -> {right_of[pair.right]['text']}" for pair in answer.pairs)
            return mapping, text

        return _Question(messages, SolverPairs, schema, check_pairs, pairs)
    messages = prompts.solver_messages(item_type=kind, prompt=prompt)
    if kind == "numeric":

        def number(answer: Any) -> tuple[object, str]:
            value = answer.answer
            return (int(value) if value.is_integer() and abs(value) < 2**53 else value), f"{value:g}"

        return _Question(messages, SolverNumber, strict_schema(SolverNumber), _no_check, number)
    if kind == "short_text":

        def text(answer: Any) -> tuple[object, str]:
            return answer.answer, answer.answer

        return _Question(messages, SolverText, strict_schema(SolverText), _no_check, text)
    raise ValueError(f"the solver cannot answer items of type {kind!r}")


def _shorten(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def solver_agrees(
    client: LlmClient, item: dict[str, Any], *, runs: int, agreement: int, seed: int
) -> tuple[bool, str | None]:
    """Ask a solver (without the key, options shuffled) up to `runs` times; keep the item if `agreement` agree.

    Call it only for items that pass rule_problems. Transport failures raise LlmError; an answer that never
    validates counts as a disagreeing one.
    """
    from app.assessments.generators.llm import LlmOutputError, derive_seed

    if not 1 <= agreement <= runs:
        raise ValueError("agreement must be between 1 and runs")
    matched = asked = 0
    others: Counter[str] = Counter()
    for run in range(runs):
        run_seed = derive_seed(seed, "solver-run", run)
        question = _pose(item, random.Random(run_seed))  # noqa: S311 - a reproducible shuffle, not a secret
        try:
            answer = client.complete_json(
                question.messages, question.model, name=f"skillproof_solver_{item['type']}",
                seed=run_seed, schema=question.schema, check=question.check,
            )
        except LlmOutputError:
            correct, label = False, "(no valid answer)"
        else:
            response, label = question.response(answer)
            correct = full_marks(item, response)
        asked += 1
        if correct:
            matched += 1
        else:
            others[label] += 1
        if matched >= agreement:
            return True, None
        if matched + (runs - asked) < agreement:
            break
    answered = others.most_common(1)[0][0] if others else ""
    return False, (
        f"solver_disagrees: {matched} of {asked} solver answers matched the key ({agreement} needed); "
        f"the solver answered {_shorten(answered)!r}"
    )
