"""The rule checks on items: pure functions of item dicts, no I/O (the LLM solver check is generators/solver.py).

Every problem is a short reason `name: detail`, so an admin can see why an item was dropped. Two kinds:

Refusals (`rule_problems`): an item that breaks one is never published. Beyond validation.item_problems:
- all_or_none_of_the_above: no option like "All of the above", "None of these", "Both A and B" (case,
  accents, punctuation and spacing ignored; English and a few other languages); a bare "None" is allowed
  (it is a legitimate answer, for example Python's None).
- key_giveaway_length (single_choice): the key is more than 1.5 times as long as the longest distractor
  and at least 20 characters longer.
- near_duplicate: the normalised word sets of the two prompts have a Jaccard similarity of 0.8 or more;
  when both items have options, their option words must also overlap (Jaccard 0.5 or more), so two items
  with a generic stem ("Which statement is true?") but different options are not duplicates.
- length limits: prompts 10 to 2000 characters, options 300, explanations 2000.
- performance tasks (sql_query, python_function), once the rules above hold: app/assessments/task_checks.py and
  python_checks.py (the reference earns full marks, the hidden variants or tests catch the must-fail wrong answers).

Flaws (`flaws`): the classic item-writing flaws, found by heuristics on the prose (code cut out), so they
warn rather than refuse: the LLM generator drops an item that shows one (`all_problems`), while a human
author (the bank, a reviewer) decides. negative_stem, blank_in_stem, true_false_disguise, k_type,
absolute_in_distractors, key_longest, vague_options, convergence_cue, implausible_distractors,
tolerance_too_wide, tolerance_too_tight, word_repeat, matching_no_extras, grammatical_cue: each rule's
docstring says what it looks for. Measured on the labelled set tests/data/item_flaws.toml
(`python -m bench.item_flaws`; the figures are in the README).
The structural rules of each item type (keys, options, tolerances, short-text patterns) are validation.py's.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any

from app.assessments import task_checks, validation
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
    return rule_report(item, others)[0]


def rule_report(
    item: dict[str, Any], others: Sequence[dict[str, Any]], *, run_tasks: bool = True
) -> tuple[list[str], task_checks.TaskReport | None]:
    """rule_problems, and a performance task's report when its checks ran (its mutation score, for reviewers).

    `run_tasks=False` leaves out running a task's reference and wrong answers (a bank task ran them when the
    bank loaded)."""
    problems = validation.item_problems(item)
    if any(problem.startswith("type_unknown") for problem in problems):
        return problems, None
    problems += _length_problems(item)
    problems += _all_or_none_problems(item)
    problems += _giveaway_problems(item)
    problems += near_duplicate_problems(item, others)
    if problems or not run_tasks or item.get("type") not in validation.PERFORMANCE_TYPES:
        return problems, None
    report = task_checks.task_report(item)  # runs the reference and the wrong answers
    return problems + report.problems, report


def new_item_problems(item: dict[str, Any], others: Sequence[dict[str, Any]]) -> list[str]:
    """rule_problems plus the rules for items written from now on (admin-written items): matching items need a
    spare right option. Drafts and frozen items written before the rule still publish."""
    return new_item_report(item, others)[0]


def new_item_report(
    item: dict[str, Any], others: Sequence[dict[str, Any]]
) -> tuple[list[str], task_checks.TaskReport | None]:
    """new_item_problems, and a performance task's report when its checks ran (rule_report)."""
    problems, report = rule_report(item, others)
    if any(problem.startswith("type_unknown") for problem in problems):
        return problems, report
    return problems + validation.spare_right_problems(item), report


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
    folded = grading.normalise_text(text, version=grading.FOLD_ONLY_VERSION)
    return frozenset(re.findall(r"\w+|[^\w\s`.,;:?!'\"()\[\]]+", folded))


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


# -- item-writing flaws (warnings) ----------------------------------------------------------------------------
# The classic flaws of Haladyna, Downing & Rodriguez (2002) and the NBME item-writing guide, found by
# heuristics on the text. They are warnings: the LLM generator drops an item that shows one, a human author
# (bank, review) decides. Each heuristic looks at prose only: code spans and fences are cut out first.

FLAW_NAMES = (
    "negative_stem", "blank_in_stem", "true_false_disguise", "k_type", "absolute_in_distractors",
    "key_longest", "vague_options", "convergence_cue", "implausible_distractors", "tolerance_too_wide",
    "tolerance_too_tight", "word_repeat", "matching_no_extras", "grammatical_cue",
)
KEY_LONGEST_RATIO, KEY_LONGEST_MIN_EXTRA_CHARS = 1.25, 8
CONVERGENCE_MIN_SHARED = 5  # fewer shared words than this say nothing about a centre
CONVERGENCE_MARGIN = 0.1  # summed Jaccard similarity to the other options, key over the best distractor
NUMERIC_OUTLIER_RATIO = 20  # a distractor this many times away from every other option is implausible
TOLERANCE_MAX_SHARE = 0.1  # a tolerance of 10% of the key or more accepts answers of another kind

_CODE = re.compile(r"```.*?(?:```|$)|`[^`\n]*`", re.DOTALL)
_QUOTED = re.compile(r"\"[^\"\n]*\"|“[^”\n]*”")
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")
_SENTENCE_END = re.compile(r"(?<=[.?!:])\s+|\n+")
_STOPWORDS = frozenset({
    "a", "an", "the", "of", "to", "in", "on", "at", "by", "for", "from", "with", "without", "into", "onto", "over",
    "under", "about", "as", "and", "or", "but", "nor", "not", "no", "so", "is", "are", "was", "were", "be", "been",
    "being", "am", "do", "does", "did", "done", "has", "have", "had", "having", "it", "its", "it's", "this", "that",
    "these", "those", "there", "here", "which", "what", "who", "whom", "whose", "when", "where", "why", "how",
    "whether", "than", "then", "if", "else", "each", "any", "some", "such", "can", "could", "will", "would",
    "should", "shall", "may", "might", "must", "you", "your", "yours", "we", "our", "they", "their", "them", "he",
    "she", "his", "her", "i", "me", "my", "one", "ones", "two", "three", "four", "five", "six", "first", "last",
    "next", "new", "same", "other", "another", "own", "more", "most", "less", "least", "only", "just", "also",
    "very", "too", "still", "yet", "ever", "even", "all", "every", "both", "either", "neither", "none", "nothing",
    "something", "following", "below", "above", "given", "true", "correct", "false", "statement", "statements",
    "option", "options", "answer", "answers", "choice", "choices", "select", "apply", "use", "used", "using", "uses",
    "give", "gives", "write", "written", "called", "name", "named", "best",
})


def _prose(text: str) -> str:
    """The text without code: `spans` and ``` fences become a gap that holds no word."""
    return _CODE.sub(" \x00 ", text)


def _tokens(text: str) -> list[str]:
    return [word.casefold().strip("'’-") for word in _WORD.findall(_prose(text))]


def _stem_of(word: str) -> str:
    """A crude English stem, enough to match 'drag' and 'dragging', 'joins' and 'join'."""
    for suffix in ("ing", "ed", "es"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    if word.endswith("s") and not word.endswith("ss") and len(word) >= 4:
        return word[:-1]
    return word


def _content(text: str) -> frozenset[str]:
    return frozenset(_stem_of(word) for word in _tokens(text) if word not in _STOPWORDS and len(word) > 2)


def _keyed(item: dict[str, Any]) -> tuple[list[str], list[str]] | None:
    """(key texts, distractor texts) of a single_choice or multiple_response item, or None."""
    kind, options, answer = item.get("type"), item.get("options"), item.get("answer")
    texts = _texts(options)
    if kind not in ("single_choice", "multiple_response") or texts is None or not isinstance(options, list):
        return None
    keys = {answer} if isinstance(answer, str) else set(answer) if isinstance(answer, list) else set()
    chosen = [option["text"] for option in options if option.get("id") in keys]
    others = [option["text"] for option in options if option.get("id") not in keys]
    if not chosen or not others:
        return None
    return chosen, others


def _question(prompt: str) -> str:
    """The sentences that ask (end in '?'), or the last sentence when none does."""
    sentences = [part.strip() for part in _SENTENCE_END.split(_prose(prompt)) if part.strip()]
    asking = [sentence for sentence in sentences if sentence.endswith("?")]
    return " ".join(asking) if asking else (sentences[-1] if sentences else "")


def flaws(item: dict[str, Any]) -> list[str]:
    """The item-writing flaws this item shows (warnings, each `name: detail`); empty when none is found."""
    if item.get("type") not in validation.ITEM_TYPES or not isinstance(item.get("prompt"), str):
        return []
    found: list[str] = []
    for rule in _FLAW_RULES:
        found += rule(item)
    return found


def all_problems(item: dict[str, Any], others: Sequence[dict[str, Any]]) -> list[str]:
    """What an item without an author must pass: its refusals (rule_problems) or, when it has none, its flaws."""
    # A refused item is rewritten anyway; its flaws would mostly restate the refusal (a give-away key is also
    # the longest option, "All of the above" is long too).
    return rule_problems(item, others) or flaws(item)


_NEGATIVE = re.compile(
    r"(?<![\w*_])(not|cannot|except|least|never|\w+n[’']t)(?![\w*_])", re.IGNORECASE
)
_NOT_NEGATIVE = re.compile(r"\b(?:whether or not|or not|not only|if not|not to)\b", re.IGNORECASE)
_SUBORDINATE = re.compile(r"\b(?:that|than)\b", re.IGNORECASE)


def _negative_stem(item: dict[str, Any]) -> list[str]:
    """A negative in the question (NOT, EXCEPT, LEAST, cannot, don't...) that is not emphasised."""
    if item["type"] not in ("single_choice", "multiple_response"):
        return []
    # The main clause only: "what can X do that Y cannot?" and "tells you not to use" ask positively.
    question = _SUBORDINATE.split(_NOT_NEGATIVE.sub(" ", _question(item["prompt"])))[0]
    for match in _NEGATIVE.finditer(question):
        word = match.group(1)
        if word.isupper() and len(word) > 1:
            continue  # NOT, EXCEPT, LEAST in capitals: emphasised, as the guidelines allow
        return [f"negative_stem: the question says {word!r} without emphasis; ask positively, or write it in "
                "capitals or bold"]
    return []


_GAP = re.compile(r"_{3,}|\[blank\]|\(blank\)", re.IGNORECASE)


def _blank_in_stem(item: dict[str, Any]) -> list[str]:
    """A fill-in gap before the end of the stem (a gap inside code or a quoted sentence is the object asked about)."""
    prose = _QUOTED.sub(" ", _prose(item["prompt"]))
    for match in _GAP.finditer(prose):
        if _WORD.search(prose[match.end():].split("?")[0]):
            return ["blank_in_stem: a gap in the middle of the stem; ask a complete question instead"]
    return []


_GENERIC_TRUE = re.compile(
    r"\bwhich\b.*\b(?:is|are)\s+(?:true|correct|accurate|right|valid|false|incorrect|untrue)\b|"
    r"\b(?:what|which)\b.*\b(?:is|are)\s+(?:true|correct)\s+(?:of|about)\b",
    re.IGNORECASE,
)
_GENERIC_WORDS = frozenset({"statement", "statements", "sentence", "sentences", "one", "following", "these"})


def _true_false_disguise(item: dict[str, Any]) -> list[str]:
    """'Which statement is true?' with nothing else in the stem: true/false items in disguise, unfocused."""
    if item["type"] != "single_choice":
        return []
    sentences = [part for part in _SENTENCE_END.split(_prose(item["prompt"]).strip()) if part.strip()]
    if len(sentences) != 1 or not _GENERIC_TRUE.search(sentences[0]):
        return []
    topic = [word for word in _content(sentences[0]) if word not in _GENERIC_WORDS]
    if len(topic) > 3:
        return []
    return ["true_false_disguise: 'which statement is true' with no problem in the stem; ask a focused question"]


_LABEL = r"\(?(?:[IVX]{1,4}|[1-9]|[a-hA-H])\)?"
_LABEL_COMBINATION = re.compile(
    rf"(?:both\s+|only\s+)?{_LABEL}(?:\s*(?:,|and|&|or)\s*(?:and\s+)?{_LABEL})+(?:\s+only)?\.?", re.IGNORECASE
)
_JOINER = re.compile(r"\s*,\s*(?:and\s+|or\s+)?|\s+and\s+|\s+or\s+|\s*&\s*")


def _k_type(item: dict[str, Any]) -> list[str]:
    """Complex multiple choice: options that combine other options or numbered statements ('1 and 3 only')."""
    keyed = _keyed(item)
    if keyed is None:
        return []
    texts = keyed[0] + keyed[1]
    combos = [text for text in texts if _LABEL_COMBINATION.fullmatch(text.strip())]
    if len(combos) >= 2:
        return [f"k_type: options such as {combos[0]!r} combine numbered statements; ask about each one separately"]
    plain = {_plain(text) for text in texts}
    for text in texts:
        body = re.sub(r"^(?:both|either)\s+|\s+only\.?$", "", text.strip(), flags=re.IGNORECASE)
        parts = [part for part in _JOINER.split(body) if part.strip()]
        if len(parts) >= 2 and all(_plain(part) in plain - {_plain(text)} for part in parts):
            return [f"k_type: option {text!r} combines other options; use multiple_response instead"]
    return []


# Specific determiners; "all", "only" and "any" are left out: they qualify ordinary technical statements
# ("only the staged changes", "all three terms") too often to be a cue.
_ABSOLUTE = frozenset({
    "always", "never", "every", "everything", "nothing", "completely", "entirely", "totally", "absolutely",
    "impossible", "guarantees", "guaranteed", "guarantee",
})


def _has_absolute(text: str) -> bool:
    words = _tokens(text)
    return any(word in _ABSOLUTE for word in words) or "none of" in " ".join(words)


def _absolute_in_distractors(item: dict[str, Any]) -> list[str]:
    """Absolute words (always, never, every...) in two or more distractors and in no key: a testwise cue."""
    keyed = _keyed(item)
    if keyed is None:
        return []
    keys, distractors = keyed
    marked = [text for text in distractors if _has_absolute(text)]
    if len(marked) >= 2 and not any(_has_absolute(text) for text in keys):
        return [f"absolute_in_distractors: {len(marked)} distractors use absolute words (always, never, every...) "
                "and no key does"]
    return []


_CODE_LIKE = re.compile(
    r"^\s*(?:`|<\w|=|(?:SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER|DROP|WITH)\b|git\s|\w+\()"
)


def _key_longest(item: dict[str, Any]) -> list[str]:
    """The key of a single_choice item is markedly longer than every distractor (prose options only)."""
    keyed = _keyed(item)
    if keyed is None or item["type"] != "single_choice":
        return []
    keys, distractors = keyed
    if all(_CODE_LIKE.match(text) for text in keys + distractors):
        return []  # code options are as long as their syntax needs: a correct query often needs one more clause
    key, longest = len(keys[0].strip()), max(len(text.strip()) for text in distractors)
    if key >= KEY_LONGEST_RATIO * longest and key - longest >= KEY_LONGEST_MIN_EXTRA_CHARS:
        return [f"key_longest: the key has {key} characters, the longest distractor {longest}; even out the lengths"]
    return []


_FREQUENCY = frozenset({
    "sometimes", "usually", "often", "occasionally", "rarely", "seldom", "frequently", "generally", "typically",
    "normally", "mostly", "commonly",
})
_HEDGES = frozenset({"may", "might", "possibly", "probably", "perhaps", "somewhat", "likely"})


def _vague_options(item: dict[str, Any]) -> list[str]:
    """Vague frequency words (sometimes, usually, often) in two or more options, or a hedge in the key alone."""
    keyed = _keyed(item)
    if keyed is None:
        return []
    keys, distractors = keyed
    vague = [text for text in keys + distractors if _FREQUENCY & set(_tokens(text))]
    if len(vague) >= 2:
        return [f"vague_options: {len(vague)} options use vague frequency words such as 'usually' or 'sometimes'"]
    hedged = [text for text in keys + distractors if (_HEDGES | _FREQUENCY) & set(_tokens(text))]
    if item["type"] == "single_choice" and hedged and set(hedged) <= set(keys):
        return ["vague_options: only the key is hedged ('may', 'usually'...), which cues it"]
    return []


def _convergence_cue(item: dict[str, Any]) -> list[str]:
    """The key is the 'centre' of the options: it shares the most words with the others, by count and by Jaccard."""
    keyed = _keyed(item)
    if keyed is None or item["type"] != "single_choice":
        return []
    keys, distractors = keyed
    texts = keys + distractors
    if len(texts) < 4 or any(_CODE_LIKE.match(text) or len(_tokens(text)) < 3 for text in texts):
        return []
    words = [_content(text) for text in texts]
    shared = [sum(len(mine & theirs) for other, theirs in enumerate(words) if other != index)
              for index, mine in enumerate(words)]
    similar = [sum(jaccard(mine, theirs) for other, theirs in enumerate(words) if other != index)
               for index, mine in enumerate(words)]
    central = shared[0] > max(shared[1:]) and similar[0] >= max(similar[1:]) + CONVERGENCE_MARGIN
    if central and shared[0] >= CONVERGENCE_MIN_SHARED:
        return [f"convergence_cue: the key shares {shared[0]} words with the other options, a distractor at most "
                f"{max(shared[1:])}; vary the distractors independently"]
    return []


_NUMBER = re.compile(r"[$€£]?\s*(-?\d+(?:[.,]\d+)?)\s*(?::\s*1|%|[a-zA-Z]{0,3})\.?")


def _number_of(text: str) -> float | None:
    match = _NUMBER.fullmatch(text.strip().strip("`'\""))
    if match is None:
        return None
    return float(match.group(1).replace(",", "."))


def _implausible_distractors(item: dict[str, Any]) -> list[str]:
    """Numeric options where a distractor is orders of magnitude from every other option, or not a count."""
    keyed = _keyed(item)
    if keyed is None:
        return []
    keys, distractors = keyed
    values = [_number_of(text) for text in keys + distractors]
    numbers = [value for value in values if value is not None]
    if len(numbers) < 3 or len(numbers) < len(values) - 1:
        return []
    key_values = [value for value in values[: len(keys)] if value is not None]
    for text, value in zip(distractors, values[len(keys):], strict=True):
        if value is None or value == 0:
            continue
        others = [abs(other) for other in numbers if other is not value and other != 0]
        if others and min(max(abs(value) / other, other / abs(value)) for other in others) >= NUMERIC_OUTLIER_RATIO:
            return [f"implausible_distractors: {text!r} is orders of magnitude away from every other option"]
    counting = re.search(r"\bhow many\b", _prose(item["prompt"]), re.IGNORECASE)
    if counting and key_values and all(value >= 0 and value.is_integer() for value in key_values):
        odd = [text for text, value in zip(distractors, values[len(keys):], strict=True)
               if value is not None and (value < 0 or not value.is_integer())]
        if odd:
            return [f"implausible_distractors: {odd[0]!r} cannot be a count"]
    return []


_PLACES = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
_ROUNDING = re.compile(
    r"\bto\s+(\d|one|two|three|four|five|six)\s+decimal\s+places?\b|\b(whole\s+number|integer)\b|"
    r"\bnearest\s+(whole number|integer|tenth|hundredth|thousandth|ten|hundred|thousand)\b",
    re.IGNORECASE,
)
_NEAREST = {"whole number": 0, "integer": 0, "tenth": 1, "hundredth": 2, "thousandth": 3, "ten": -1,
            "hundred": -2, "thousand": -3}


def _stated_places(prompt: str) -> int | None:
    """The rounding the stem asks for, as decimal places (0: whole number, -2: hundreds), or None."""
    match = _ROUNDING.search(_prose(prompt))
    if match is None:
        return None
    if match.group(1):
        word = match.group(1).casefold()
        return int(word) if word.isdigit() else _PLACES[word]
    if match.group(2):
        return 0
    return _NEAREST[" ".join(match.group(3).casefold().split())]


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _tolerance_sanity(item: dict[str, Any]) -> list[str]:
    """A numeric tolerance that rejects the correctly rounded answer, or accepts a neighbouring one."""
    if item["type"] != "numeric":
        return []
    key, tolerance = item.get("answer"), item.get("tolerance")
    if not isinstance(key, int | float) or not _finite(key) or not isinstance(tolerance, dict):
        return []
    absolute, relative = tolerance.get("absolute", 0), tolerance.get("relative", 0)
    if not (_finite(absolute) and _finite(relative)):
        return []
    value = float(key)
    allowed = float(absolute) + float(relative) * abs(value)
    places = _stated_places(item["prompt"])
    if places is not None:
        unit = 10.0 ** -places
        off = abs(value - round(value, places))
        if off > 1e-9 * max(1.0, abs(value)) and allowed + 1e-12 < off:
            return [f"tolerance_too_tight: the stem asks for {places} decimal places but the key {key} is not "
                    "rounded, and the tolerance rejects the rounded answer"]
        # A whole-number answer has no rounding error to absorb; a rounded decimal may be one unit off when
        # the learner rounded intermediate results, so one unit is allowed there.
        if (places <= 0 and allowed >= unit - 1e-12) or (places > 0 and allowed > unit * (1 + 1e-9)):
            return [f"tolerance_too_wide: ±{allowed:g} accepts a neighbouring answer at the requested rounding"]
        return []
    if value != 0 and allowed >= TOLERANCE_MAX_SHARE * abs(value):
        return [f"tolerance_too_wide: ±{allowed:g} is {allowed / abs(value):.0%} of the key"]
    if round(value, 4) != value and allowed < 5e-5:
        return [f"tolerance_too_tight: the key {key} has more decimals than a learner can be expected to give, "
                "and no rounding is asked for"]
    return []


def _word_repeat(item: dict[str, Any]) -> list[str]:
    """The key repeats stem words no distractor has: two of them, or one from the question sentence itself."""
    keyed = _keyed(item)
    if keyed is None or item["type"] != "single_choice":
        return []
    keys, distractors = keyed
    stem = {word for word in _content(item["prompt"]) if len(word) >= 4}
    question = _content(_question(item["prompt"]))
    in_distractors: set[str] = set().union(*(_content(text) for text in distractors))
    shared = sorted(word for word in _content(keys[0]) if _near_any(word, stem) and not _near_any(word, in_distractors))
    if len(shared) >= 2 or any(_near_any(word, question) for word in shared):
        return [f"word_repeat: the key repeats {', '.join(map(repr, shared))} from the stem and no distractor does"]
    return []


def _near_any(word: str, words: set[str] | frozenset[str]) -> bool:
    """Whether a word equals one of `words`, or one starts the other (4 letters at least: drag, dragging)."""
    return any(
        word == other or (min(len(word), len(other)) >= 4 and (word.startswith(other) or other.startswith(word)))
        for other in words
    )


def _matching_no_extras(item: dict[str, Any]) -> list[str]:
    """A matching item with no spare right-hand option: the last pair follows by elimination."""
    if item["type"] != "matching" or not isinstance(item.get("options"), list):
        return []
    sides = [option.get("side") for option in item["options"] if isinstance(option, dict)]
    if sides.count("left") > 0 and sides.count("right") <= sides.count("left"):
        return ["matching_no_extras: as many right-hand options as left; add at least one that matches nothing"]
    return []


_ARTICLE_AT_END = re.compile(r"\b(a|an)\s*(?:_{3,}\s*)?[.:…]*\s*$", re.IGNORECASE)
_ARTICLE_BEFORE_GAP = re.compile(r"\b(a|an)\s+_{3,}", re.IGNORECASE)
_LETTER_SOUNDS_VOWEL = frozenset("AEFHILMNORSX")
_CONSONANT_SOUND_STARTS = ("uni", "use", "usu", "uti", "ure", "one", "once", "eu", "ewe")
_VOWEL_SOUND_STARTS = ("hour", "honest", "honor", "honour", "heir")


def _takes_an(text: str) -> bool | None:
    """Whether the text's first word takes 'an' (vowel sound), by spelling; None when there is no word."""
    match = _WORD.search(text.strip().strip("`'\"<"))
    if match is None:
        return None
    word = match.group(0)
    if len(word) > 1 and word.isupper():
        return word[0] in _LETTER_SOUNDS_VOWEL  # an acronym is read letter by letter: an SQL, a URL
    lower = word.casefold()
    if lower.startswith(_VOWEL_SOUND_STARTS):
        return True
    if lower.startswith(_CONSONANT_SOUND_STARTS):
        return False
    return lower[0] in "aeiou"


def _grammatical_cue(item: dict[str, Any]) -> list[str]:
    """'a' or 'an' right before the answer's place agrees with the key and not with some distractor."""
    keyed = _keyed(item)
    if keyed is None:
        return []
    keys, distractors = keyed
    prose = _prose(item["prompt"])
    match = _ARTICLE_BEFORE_GAP.search(prose) or _ARTICLE_AT_END.search(prose)
    if match is None:
        return []
    wants_an = match.group(1).casefold() == "an"
    agrees = all(_takes_an(text) == wants_an for text in keys)
    if agrees and any(_takes_an(text) is not wants_an for text in distractors):
        return [f"grammatical_cue: the stem ends in '{match.group(1)}', which fits the key but not every distractor"]
    return []


_FLAW_RULES: tuple[Callable[[dict[str, Any]], list[str]], ...] = (
    _negative_stem, _blank_in_stem, _true_false_disguise, _k_type, _absolute_in_distractors, _key_longest,
    _vague_options, _convergence_cue, _implausible_distractors, _tolerance_sanity, _word_repeat,
    _matching_no_extras, _grammatical_cue,
)
