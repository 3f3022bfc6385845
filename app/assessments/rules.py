"""The rule checks on items: pure functions of item dicts, no I/O (the LLM solver check is generators/solver.py).

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
The structural rules of each item type (keys, options, tolerances, short-text patterns) are validation.py's.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any

from app.assessments import validation
from app.grading import rubric as grading

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
