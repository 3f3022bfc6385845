"""Property-based fuzzing from our OpenAPI document (schemathesis): every phase, as admin, learner and nobody.

Asserts 0 server errors, 0 responses outside the documented statuses, content types, headers and schemas, and
an OpenAPI document that is valid and complete (no dangling $ref). Bounded: a fixed seed, few examples per
operation and a time limit per identity, on a database of its own (SQLite, and PostgreSQL when set).
"""

from __future__ import annotations

import collections
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events, from_schema
from schemathesis.python import asgi

from app.config import Settings
from app.main import VC_API_PATHS, create_app
from app.openapi_export import openapi_document
from tests import conftest
from tests.conftest import ADMIN_KEY, PUBLIC_URL
from tests.factories import new_assessment, new_learner

PHASES = ("examples", "coverage", "fuzzing", "stateful")
# identity: (examples per operation, seconds per group of phases); about 40 s per backend in all. Each group
# runs apart, so a slow machine cutting one group short never skips the next.
PHASE_GROUPS = (("examples", "coverage"), ("fuzzing",), ("stateful",))
BUDGETS = {"admin": (3, (7, 8, 5)), "learner": (3, (4, 4, 3)), "nobody": (2, (2, 3, 2))}
# positive_data_acceptance is off: schema-valid bodies can still fail content rules (an item whose key is not
# an option, a pattern that accepts "xyzzy"), and those are documented 422s, not bugs.
CHECKS_OFF = ("positive_data_acceptance",)


@dataclass
class FuzzFigures:
    identity: str
    operations: set[str] = field(default_factory=set)
    cases: collections.Counter[str] = field(default_factory=collections.Counter)
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stop_reasons: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def line(self) -> str:
        """One line of figures for the test log."""
        cases = ", ".join(f"{phase} {self.cases[phase]}" for phase in PHASES)
        server_errors = sum(count for status, count in self.statuses.items() if status >= 500 and status != 503)
        return (
            f"fuzz[{self.identity}]: {len(self.operations)} operations, {sum(self.cases.values())} cases ({cases}), "
            f"{sum(self.statuses.values())} responses, {server_errors} 5xx (503 apart), {len(self.failures)} failures, "
            f"{len(self.errors)} errors, {self.seconds:.1f} s (runs: {', '.join(self.stop_reasons)})"
        )


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fuzz_settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A database of the fuzz run's own: what it creates never meets other tests."""
    root = tmp_path_factory.mktemp("fuzz")
    with conftest.migrated_database(request, root) as url:
        try:
            yield Settings(database_url=url, keys_dir=Path(root / "keys"), public_url=PUBLIC_URL,
                           admin_api_key=ADMIN_KEY, rate_limits="off",  # far more requests than one client sends
                           precision_gate="off")
        finally:
            asgi.shutdown_lifespans()


def _config(identity: str, authorization: str | None, group: int) -> SchemathesisConfig:
    max_examples, seconds = BUDGETS[identity]
    phases: dict[str, dict[str, object]] = {phase: {"enabled": phase in PHASE_GROUPS[group]} for phase in PHASES}
    phases["examples"]["fill-missing"] = True  # few operations carry examples: generate the rest
    if identity != "admin":  # 405s do not depend on who asks: one identity tries them
        phases["coverage"]["unexpected-methods"] = []
    return SchemathesisConfig.from_dict({
        "seed": 20261201,
        "max-time": seconds[group],
        "headers": {"Authorization": authorization} if authorization else {},
        "generation": {"max-examples": max_examples, "deterministic": True},
        "phases": phases,
        "checks": {
            "enabled": True,
            **{name: {"enabled": False} for name in CHECKS_OFF},
            # 503 + Retry-After is the deliberate answer of an exhausted pool; it must still be documented.
            "not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", "503"]},
        },
        # A 404 for an unknown item id of a real assessment reads to the check as "the assessment is gone".
        "operations": [
            {
                "include-path-regex": "/items/\\{item_id\\}",
                "checks": {"ensure_resource_availability": {"enabled": False}},
            }
        ],
    })


def _run(app: object, identity: str, authorization: str | None) -> FuzzFigures:
    figures = FuzzFigures(identity)
    started = time.perf_counter()
    for group in range(len(PHASE_GROUPS)):
        schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=_config(identity, authorization, group))
        for event in from_schema(schema).execute():
            _record(figures, event)
    figures.seconds = time.perf_counter() - started
    return figures


def _record(figures: FuzzFigures, event: events.EngineEvent) -> None:
    if isinstance(event, events.ScenarioFinished):
        if event.label:
            figures.operations.add(event.label)
        figures.cases[event.phase.value] += len(event.recorder.cases)
        for interaction in event.recorder.interactions.values():
            if interaction.response is not None:
                figures.statuses[interaction.response.status_code] += 1
        for checks in event.recorder.checks.values():
            for check in checks:
                if check.failure_info is not None:
                    figures.failures.append(f"{event.label}: {check.name}: {check.failure_info.failure}"[:600])
    elif isinstance(event, events.NonFatalError | events.FatalError):
        figures.errors.append(f"{getattr(event, 'label', '')}: {getattr(event, 'value', None) or event}"[:600])
    elif isinstance(event, events.EngineFinished):
        figures.stop_reasons.append(event.stop_reason.value)


def test_openapi_document_is_complete() -> None:
    document = openapi_document()
    schemathesis.openapi.from_dict(document).validate()  # against the OpenAPI 3.1 meta-schema
    text = json.dumps(document)
    defined = set(document["components"]["schemas"])
    dangling = {name for name in re.findall(r'"#/components/schemas/([^"]+)"', text) if name not in defined}
    assert not dangling, dangling
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            statuses = set(operation["responses"])
            # Every body a route reads may be refused as not strict JSON (422; 400 on the W3C VC API routes, as
            # that spec answers invalid input); every path may hold a NUL (404).
            if "requestBody" in operation:
                assert ("400" if path in VC_API_PATHS else "422") in statuses, (method, path)
            if "{" in path:
                assert "404" in statuses, (method, path)


def test_fuzz_every_operation_as_admin_learner_and_nobody(
    fuzz_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    with TestClient(create_app(fuzz_settings), base_url=PUBLIC_URL) as client:
        new_assessment(client)  # something published for the learner to start
        learner = new_learner(client)
    app = create_app(fuzz_settings)
    runs = [
        _run(app, "admin", f"Bearer {ADMIN_KEY}"),
        _run(app, "learner", f"Bearer {learner['api_key']}"),
        _run(app, "nobody", None),
    ]
    with capsys.disabled():
        print()
        for figures in runs:
            print(figures.line())
            print(*figures.failures[:5], sep="\n")
    for figures in runs:
        assert figures.operations, figures.line()
        assert not figures.errors, figures.errors[:5]
        assert not figures.failures, "\n".join(figures.failures[:10])
        assert not [status for status in figures.statuses if status >= 500 and status != 503], figures.statuses
