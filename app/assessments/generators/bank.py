"""The offline generator: hand-written items bundled as TOML files, validated when loaded."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import random
import tomllib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from app.assessments import blueprints, freeze, rules, task_checks
from app.assessments.blueprints import Blueprint, Competency
from app.assessments.generators import templates as item_templates
from app.assessments.validation import PERFORMANCE_TYPES, item_problems, spare_right_problems
from app.grading import python_task, sql_task

logger = logging.getLogger("skillproof")

BANK_DIR = Path(__file__).parent / "bank_data"
SKILL_KEYS = {"id", "name", "description", "levels", "items"}
OPTIONAL_SKILL_KEYS = {"blueprints"}
ITEM_KEYS = {
    "id", "level", "type", "points", "prompt", "options", "answer", "explanation",
    "tolerance", "relative_tolerance", "accepted_answers", "case_sensitive", "pattern",
    "pairs", "extra_right", "criteria", "difficulty", "enemies", "keep_order", "fixture", "variants", "compare",
    "runner", "function", "examples", "tests",
}
# Performance tasks live in bank_data/tasks/<skill>.toml: shared fixtures by name, then items naming one.
TASKS_DIR_NAME = "tasks"
TASK_FILE_KEYS = {"skill", "fixtures", "items"}  # fixtures: sql_query only, may be left out of a Python tasks file
TASK_ITEM_KEYS = {
    "id", "level", "type", "points", "prompt", "answer", "explanation", "criteria", "difficulty", "fixture",
    "ordered", "column_names", "tolerance", "function", "examples", "tests", "runner",
}
BLUEPRINT_KEYS = {"attempt_items", "descriptor", "competencies"}
COMPETENCY_KEYS = {"criterion", "weight", "items"}


class BankError(Exception):
    """A bank file is not valid; the message names the file and the item."""


@dataclass(frozen=True)
class Skill:
    id: str
    name: str
    description: str
    levels: tuple[str, ...]
    items: tuple[dict[str, Any], ...]
    # Per level: the competencies one attempt covers and what the level means (optional for a private bank).
    blueprints: Mapping[str, Blueprint] = field(default_factory=dict, hash=False)
    # Template id -> its enemies (item and template ids), both sides of every declaration.
    template_enemies: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "description": self.description, "levels": list(self.levels)}

    def detail(self) -> dict[str, Any]:
        """The summary with each level's blueprint and descriptor."""
        return {
            **self.summary(),
            "blueprints": {level: blueprint.to_json() for level, blueprint in self.blueprints.items()},
        }


def option_id(item_id: str, text: str) -> str:
    """Opaque, stable option id: reveals nothing about the option's position or correctness."""
    return "o" + hashlib.sha256(f"{item_id}\x1f{text}".encode()).hexdigest()[:10]


def _to_item(raw: dict[str, Any], where: str) -> dict[str, Any]:
    item = item_from_raw(raw, where)
    # Bank items are written now: a matching item needs a spare right option (validation.spare_right_problems).
    problems = item_problems(item) + spare_right_problems(item)
    if not problems and item["type"] in PERFORMANCE_TYPES:
        problems = task_checks.task_report(item).problems
    if problems:
        raise BankError(f"{where}: {'; '.join(problems)}")
    return item


def item_from_raw(raw: dict[str, Any], where: str) -> dict[str, Any]:
    """The internal item of one bank entry (option texts -> ids, indexes -> keys), not yet validated."""
    unknown = set(raw) - ITEM_KEYS
    if unknown:
        raise BankError(f"{where}: unknown fields {sorted(unknown)}")
    item: dict[str, Any] = {
        "id": raw["id"],
        "type": raw.get("type"),
        "prompt": raw.get("prompt"),
        "points": raw.get("points"),
    }
    kind = raw.get("type")
    answer = raw.get("answer")
    if kind in ("single_choice", "multiple_response", "ordering"):
        texts = raw.get("options")
        if not isinstance(texts, list) or not all(isinstance(text, str) for text in texts):
            raise BankError(f"{where}: options must be a list of strings")
        options = [{"id": option_id(raw["id"], text), "text": text} for text in texts]
        item["options"] = options

        def key_of(index: object) -> str:
            if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(options):
                raise BankError(f"{where}: answer index {index!r} is not an option")
            return str(options[index]["id"])

        if kind == "single_choice":
            if not isinstance(answer, int) or isinstance(answer, bool):
                raise BankError(f"{where}: a single_choice answer is exactly one option index")
            item["answer"] = key_of(answer)
        else:
            if not isinstance(answer, list):
                raise BankError(f"{where}: a {kind} answer is a list of option indexes")
            item["answer"] = [key_of(index) for index in answer]
    elif kind == "matching":
        item.update(_matching_from_pairs(raw, where))
    elif kind == "sql_query":
        item["answer"] = answer
        for name in ("fixture", "variants", "compare"):
            item[name] = raw.get(name)
        item["runner"] = {**sql_task.DEFAULT_RUNNER, **(raw.get("runner") or {})}
    elif kind == "python_function":
        item["answer"] = answer
        for name in ("function", "examples", "tests"):
            item[name] = raw.get(name)
        item["runner"] = {**python_task.DEFAULT_RUNNER, **(raw.get("runner") or {})}
    elif kind == "short_text":
        item["answer"] = answer
        item["accepted_answers"] = raw.get("accepted_answers", [])
        item["case_sensitive"] = raw.get("case_sensitive", False)
        if "pattern" in raw:
            item["pattern"] = raw["pattern"]
    else:
        item["answer"] = answer
        if "tolerance" in raw:
            item["tolerance"] = {"absolute": raw["tolerance"], "relative": raw.get("relative_tolerance", 0)}
    for optional in ("criteria", "difficulty"):
        if optional in raw:
            item[optional] = raw[optional]
    enemies = raw.get("enemies", [])
    if not isinstance(enemies, list) or not all(isinstance(other, str) and other for other in enemies):
        raise BankError(f"{where}: enemies must be a list of item or template ids")
    if raw.get("keep_order") is not None:
        item["keep_order"] = raw["keep_order"]
    item["explanation"] = raw.get("explanation")
    return item


def _matching_from_pairs(raw: dict[str, Any], where: str) -> dict[str, Any]:
    """pairs = [[left, right], ...] and extra_right = [...] -> options with sides and the key."""
    pairs = raw.get("pairs")
    extra = raw.get("extra_right", [])
    if (
        not isinstance(pairs, list)
        or not all(isinstance(pair, list) and len(pair) == 2 and all(isinstance(t, str) for t in pair)
                   for pair in pairs)
        or not isinstance(extra, list)
        or not all(isinstance(text, str) for text in extra)
    ):
        raise BankError(f"{where}: matching needs pairs = [[left, right], ...] and optional extra_right = [...]")
    left = [{"id": option_id(raw["id"], "L:" + text), "text": text, "side": "left"} for text, _ in pairs]
    right = [{"id": option_id(raw["id"], "R:" + text), "text": text, "side": "right"} for _, text in pairs]
    right += [{"id": option_id(raw["id"], "R:" + text), "text": text, "side": "right"} for text in extra]
    key = {l_opt["id"]: r_opt["id"] for l_opt, r_opt in zip(left, right, strict=False)}
    return {"options": left + right, "answer": key}


def load_skill(path: Path, templates: Sequence[item_templates.Template] = ()) -> Skill:
    """Parse and validate one bank file; raises BankError naming the file and item.

    `templates`: the parametric templates drawn beside this skill's items (their ids may be named as enemies).
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BankError(f"{path.name}: {exc}") from None
    unknown = set(data) - SKILL_KEYS - OPTIONAL_SKILL_KEYS
    missing = SKILL_KEYS - set(data)
    if unknown or missing:
        raise BankError(f"{path.name}: unknown fields {sorted(unknown)}, missing fields {sorted(missing)}")
    if (
        not all(isinstance(data[key], str) for key in ("id", "name", "description"))
        or not isinstance(data["levels"], list) or not all(isinstance(level, str) for level in data["levels"])
        or not isinstance(data["items"], list) or not all(isinstance(raw, dict) for raw in data["items"])
    ):
        raise BankError(
            f"{path.name}: id, name and description must be strings, levels a list of strings, "
            "and items [[items]] tables"
        )
    levels = tuple(data["levels"])
    templates = tuple(template for template in templates if template.skill_id == data["id"])
    items: list[dict[str, Any]] = []
    declared: dict[str, list[str]] = {template.id: list(template.enemies) for template in templates}
    seen: set[str] = set()
    for position, raw in enumerate(data["items"], start=1):
        where = f"{path.name}: item {raw.get('id', f'#{position}')!s}"
        if not isinstance(raw.get("id"), str) or raw["id"] in seen or raw["id"] in declared:
            raise BankError(f"{where}: missing or repeated id")
        seen.add(raw["id"])
        if raw.get("level") not in levels:
            raise BankError(f"{where}: level {raw.get('level')!r} is not one of {list(levels)}")
        try:
            item = _to_item(raw, where)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise BankError(f"{where}: {exc}") from None  # a value of the wrong type; BankError is not among these
        declared[raw["id"]] = list(raw.get("enemies", []))
        items.append({**item, "level": raw["level"]})
    partners = _enemy_partners(declared, path.name)
    items = [{**item, "enemies": partners[item["id"]]} if partners.get(item["id"]) else item for item in items]
    skill = Skill(
        id=data["id"], name=data["name"], description=data["description"], levels=levels, items=tuple(items),
        template_enemies={template.id: tuple(partners.get(template.id, ())) for template in templates},
    )
    raw_blueprints = data.get("blueprints", {})
    if not isinstance(raw_blueprints, dict):
        raise BankError(f"{path.name}: blueprints must be a table of levels")
    found = {level: _blueprint(skill, level, raw, templates, path.name) for level, raw in raw_blueprints.items()}
    return Skill(
        id=skill.id, name=skill.name, description=skill.description, levels=levels, items=skill.items,
        blueprints=found, template_enemies=skill.template_enemies,
    )


def _enemy_partners(declared: Mapping[str, list[str]], where: str) -> dict[str, list[str]]:
    """Every item's and template's enemies, both sides of each declaration; an unknown id is an error."""
    partners: dict[str, set[str]] = {}
    for item_id, enemies in declared.items():
        for other in enemies:
            if other not in declared or other == item_id:
                raise BankError(f"{where}: item {item_id}: enemy {other!r} is not another item or template of "
                                "this skill")
            partners.setdefault(item_id, set()).add(other)
            partners.setdefault(other, set()).add(item_id)
    return {item_id: sorted(ids) for item_id, ids in partners.items()}


def _blueprint(
    skill: Skill, level: object, raw: object, templates: Sequence[item_templates.Template], where: str
) -> Blueprint:
    """One level's blueprint, checked against the items (and one variant per template) of that level."""
    where = f"{where}: blueprint {level}"
    if level not in skill.levels:
        raise BankError(f"{where}: {level!r} is not one of {list(skill.levels)}")
    assert isinstance(level, str)
    if not isinstance(raw, dict) or set(raw) != BLUEPRINT_KEYS:
        raise BankError(f"{where}: needs exactly {sorted(BLUEPRINT_KEYS)}")
    competencies = raw["competencies"]
    if (
        not isinstance(raw["attempt_items"], int) or not isinstance(raw["descriptor"], str)
        or not isinstance(competencies, list)
        or not all(isinstance(c, dict) and set(c) == COMPETENCY_KEYS for c in competencies)
        or not all(isinstance(c["criterion"], str) and isinstance(c["weight"], int | float)
                   and isinstance(c["items"], int) for c in competencies)
    ):
        raise BankError(f"{where}: attempt_items is a whole number, descriptor a string, and competencies a "
                        "list of { criterion = str, weight = number, items = whole number }")
    blueprint = Blueprint(
        level=level, attempt_items=raw["attempt_items"], descriptor=raw["descriptor"].strip(),
        competencies=tuple(Competency(c["criterion"], float(c["weight"]), c["items"]) for c in competencies),
    )
    pool = [item for item in skill.items if item["level"] == level]
    pool += [
        {"id": template.id, "criteria": dict(template.criteria), "enemies": list(skill.template_enemies[template.id])}
        for template in templates if template.level == level
    ]
    graph = blueprints.enemy_graph(pool)
    by_criterion: dict[str, list[str]] = {}
    for item in pool:
        by_criterion.setdefault(freeze.primary_criterion(item), []).append(item["id"])
    capacity = {name: blueprints.capacity(ids, graph) for name, ids in by_criterion.items()}
    problems = blueprints.problems(blueprint, capacity, blueprints.capacity((item["id"] for item in pool), graph))
    if problems:
        raise BankError(f"{where}: {'; '.join(problems)}")
    return blueprint


def _null(value: Any) -> Any:
    """TOML has no null: an empty inline table `{}` in a fixture row stands for SQL NULL."""
    return None if value == {} else value


def _fixture_tables(raw: object, where: str) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not all(isinstance(table, dict) for table in raw):
        raise BankError(f"{where}: tables = [[...]] with name, columns = [\"name TYPE\", ...] and rows")
    tables = []
    for table in raw:
        if set(table) != {"name", "columns", "rows"} or not all(isinstance(c, str) for c in table["columns"]):
            raise BankError(f"{where}: a table has exactly name, columns = [\"name TYPE\", ...] and rows")
        columns = [dict(zip(("name", "type"), column.split(None, 1), strict=False)) for column in table["columns"]]
        rows = [[_null(cell) for cell in row] if isinstance(row, list) else row for row in table["rows"]]
        tables.append({"name": table["name"], "columns": columns, "rows": rows})
    return tables


def _fixture_set(name: str, raw: object, where: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The visible fixture and its hidden variants; a variant gives new rows for some tables by name."""
    if not isinstance(raw, dict) or set(raw) != {"tables", "variants"} or not isinstance(raw["variants"], list):
        raise BankError(f"{where}: fixture {name!r} has tables = [[...]] and variants = [{{table = rows}}, ...]")
    visible = {"tables": _fixture_tables(raw["tables"], f"{where}: fixture {name!r}")}
    variants = []
    for index, edits in enumerate(raw["variants"], start=1):
        names = {table["name"] for table in visible["tables"]}
        if not isinstance(edits, dict) or not set(edits) <= names:
            raise BankError(f"{where}: fixture {name!r} variant {index} names a table it does not have")
        variants.append({"tables": [
            {**table, "rows": [[_null(cell) for cell in row] for row in edits[table["name"]]]}
            if table["name"] in edits else table
            for table in visible["tables"]
        ]})
    return visible, variants


def load_tasks(path: Path, skills: dict[str, Skill]) -> Skill:
    """A tasks file: its items join the skill it names (fixtures inlined, so each item is frozen whole)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BankError(f"tasks/{path.name}: {exc}") from None
    where = f"tasks/{path.name}"
    data.setdefault("fixtures", {})
    if set(data) != TASK_FILE_KEYS or data["skill"] not in skills or not isinstance(data["fixtures"], dict):
        raise BankError(f"{where}: skill (a bank skill's id), [fixtures.<name>] and [[items]] are required")
    skill = skills[data["skill"]]
    try:
        fixtures = {name: _fixture_set(name, raw, where) for name, raw in data["fixtures"].items()}
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise BankError(f"{where}: {exc}") from None
    seen = {item["id"] for item in skill.items}
    items = list(skill.items)
    for position, raw in enumerate(data["items"], start=1):
        item_where = f"{where}: item {raw.get('id', f'#{position}')!s}"
        if set(raw) - TASK_ITEM_KEYS:
            raise BankError(f"{item_where}: unknown fields {sorted(set(raw) - TASK_ITEM_KEYS)}")
        if not isinstance(raw.get("id"), str) or raw["id"] in seen:
            raise BankError(f"{item_where}: missing or repeated id")
        seen.add(raw["id"])
        if raw.get("type") == "python_function":
            if raw.get("level") not in skill.levels:
                raise BankError(f"{item_where}: level must be one of {list(skill.levels)}")
            if not python_task.available():  # checked when the sandbox is there; never given unchecked
                logger.warning("%s: skipped, bubblewrap (bwrap) is not installed", item_where)
                continue
            try:
                item = _to_item(raw, item_where)
            except (TypeError, ValueError, KeyError, AttributeError) as exc:
                raise BankError(f"{item_where}: {exc}") from None
            items.append({**item, "level": raw["level"]})
            continue
        if raw.get("level") not in skill.levels or raw.get("fixture") not in fixtures:
            raise BankError(
                f"{item_where}: level must be one of {list(skill.levels)} and fixture one of {list(fixtures)}"
            )
        visible, variants = fixtures[raw["fixture"]]
        compare = {key: raw[key] for key in ("ordered", "column_names", "tolerance") if key in raw}
        fields = {key: value for key, value in raw.items() if key not in ("ordered", "column_names", "tolerance")}
        try:
            item = _to_item({**fields, "fixture": visible, "variants": variants, "compare": compare}, item_where)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise BankError(f"{item_where}: {exc}") from None
        items.append({**item, "level": raw["level"]})
    return dataclasses.replace(skill, items=tuple(items))


@cache
def load_bank(directory: Path = BANK_DIR) -> dict[str, Skill]:
    """Every skill in the bank directory, by id (the bundled bank's with its parametric templates), with the
    performance tasks of its tasks/ directory."""
    templates = item_templates.TEMPLATES if directory.resolve() == BANK_DIR.resolve() else ()
    skills: dict[str, Skill] = {}
    for path in sorted(directory.glob("*.toml")):
        skill = load_skill(path, templates)
        if skill.id in skills:
            raise BankError(f"{path.name}: skill id {skill.id!r} is defined twice")
        skills[skill.id] = skill
    if not skills:
        raise BankError(f"no bank files in {directory}")
    for path in sorted((directory / TASKS_DIR_NAME).glob("*.toml")):
        skill = load_tasks(path, skills)
        skills[skill.id] = skill
    return skills


# One variant of each parametric template joins a draft's pool: two variants of one template would be
# near-duplicates, and different seeds still give different variants.
TEMPLATE_VARIANTS = 1


class BankGenerator:
    """Draws items from the bundled bank plus seeded template variants; the same seed gives the same draft."""

    name = "bank"

    def __init__(self, directory: Path = BANK_DIR, template_variants: int = TEMPLATE_VARIANTS):
        self.skills = load_bank(directory)
        self.template_variants = template_variants
        # The bundled bank is public (keys included): credentials say which kind their items came from.
        self.kind = "demo" if directory.resolve() == BANK_DIR.resolve() else "private"
        if self.kind == "private":
            self.template_variants = 0  # the numeric templates are public code: a private bank's drafts hold its own

    def _variants(
        self, skill_id: str, level: str, types: tuple[str, ...] | None, seed: int
    ) -> list[dict[str, Any]]:
        if self.template_variants <= 0 or (types is not None and "numeric" not in types):
            return []
        bank_items = self._pool(skill_id, level, types)
        found: list[dict[str, Any]] = []
        for template in item_templates.templates_for(skill_id, level):
            template_seed = random.Random(f"{seed}/{template.id}").randrange(2**31)  # noqa: S311 - reproducible
            for variant in item_templates.variants(template, self.template_variants, template_seed):
                # A variant that happens to echo a hand-written item would fail publishing: leave it out.
                if not rules.near_duplicate_problems(variant, bank_items):
                    found.append(variant)
        return _with_variant_enemies(found, self.skills[skill_id].template_enemies)

    def list_skills(self) -> list[dict[str, Any]]:
        return [skill.summary() for skill in self.skills.values()]

    def _pool(self, skill_id: str, level: str, types: tuple[str, ...] | None) -> list[dict[str, Any]]:
        """The level's items of these types; without types, every type but the performance tasks, which an
        assessment asks for by name (they run in the grading pool: a class submitting at once must not queue)."""
        return [
            item for item in self.skills[skill_id].items
            if item["level"] == level
            and (item["type"] in types if types is not None else item["type"] not in PERFORMANCE_TYPES)
        ]

    def pool(
        self, skill_id: str, level: str, seed: int, types: tuple[str, ...] | None = None,
        exclude: Collection[str] = (),
    ) -> list[dict[str, Any]]:
        """Everything a draft with this seed may draw: hand-written items and this seed's template variants
        (less `exclude`: quarantined items, or new items when the draft's scored items are drawn)."""
        found = self._pool(skill_id, level, types) + self._variants(skill_id, level, types, seed)
        return [item for item in found if item["id"] not in exclude] if exclude else found

    def blueprint(self, skill_id: str, level: str) -> Blueprint | None:
        return self.skills[skill_id].blueprints.get(level)

    def capacity(
        self, skill_id: str, level: str, seed: int, types: tuple[str, ...] | None = None,
        exclude: Collection[str] = (),
    ) -> int:
        """The largest draft this seed allows: the pool (less `exclude`), less what enemies rule out."""
        pool = self.pool(skill_id, level, seed, types, exclude)
        return blueprints.capacity((item["id"] for item in pool), blueprints.enemy_graph(pool))

    def draft(
        self, skill_id: str, level: str, count: int, seed: int, types: tuple[str, ...] | None = None,
        exclude: Collection[str] = (),
    ) -> list[dict[str, Any]]:
        """`count` distinct items of that skill and level, drawn with random.Random(seed): never two enemies, and
        per competency as the level's blueprint says (scaled to `count`) unless the item types are restricted."""
        pool = self.pool(skill_id, level, seed, types, exclude)
        rng = random.Random(seed)  # noqa: S311 - reproducible draw, not a secret
        blueprint = self.blueprint(skill_id, level) if types is None else None
        graph = blueprints.enemy_graph(pool)
        if blueprint is None and not graph:
            chosen = rng.sample(pool, count)  # a bank without enemies or blueprints drafts as it always did
        else:
            chosen = freeze.planned_draw(pool, count, rng, graph=graph,
                                         blueprint=blueprint.to_json() if blueprint else None)
            rng.shuffle(chosen)
        return [{key: value for key, value in item.items() if key != "level"} for item in chosen]


def _with_variant_enemies(
    variants: list[dict[str, Any]], template_enemies: Mapping[str, tuple[str, ...]]
) -> list[dict[str, Any]]:
    """Variants carry their template's enemies, and the ids of the variants of enemy templates in this pool."""
    variant_ids: dict[str, list[str]] = {}
    for variant in variants:
        variant_ids.setdefault(variant["id"].rsplit("-v", 1)[0], []).append(variant["id"])
    marked = []
    for variant in variants:
        declared = template_enemies.get(variant["id"].rsplit("-v", 1)[0], ())
        enemies = sorted({*declared, *(vid for other in declared for vid in variant_ids.get(other, ()))})
        marked.append({**variant, "enemies": enemies} if enemies else variant)
    return marked
