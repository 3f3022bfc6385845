"""The schema comes from Alembic only, the invariants are constraints, and OpenAPI is checked in."""

from __future__ import annotations

import json

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect

from app.config import PROJECT_ROOT
from app.openapi_export import openapi_document
from tests.conftest import alembic_config


def test_models_match_the_migrations(database_url: str) -> None:
    command.check(alembic_config(database_url))


def test_migrations_downgrade_and_upgrade_again(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'roundtrip.db'}"
    config = alembic_config(url)
    command.upgrade(config, "head")
    command.downgrade(config, "base")
    command.upgrade(config, "head")
    engine = create_engine(url)
    assert "credentials" in inspect(engine).get_table_names()
    engine.dispose()


@pytest.mark.parametrize(
    "table, columns",
    [
        ("grades", ["attempt_id"]),
        ("credentials", ["attempt_id"]),
        ("status_entries", ["list_id", "status_index"]),
        ("status_entries", ["credential_id", "purpose"]),
        ("api_keys", ["key_hash"]),
    ],
)
def test_invariants_are_unique_constraints(database_url: str, table: str, columns: list[str]) -> None:
    engine = create_engine(database_url)
    uniques = [sorted(u["column_names"]) for u in inspect(engine).get_unique_constraints(table)]
    engine.dispose()
    assert sorted(columns) in uniques


def test_checked_in_openapi_is_what_the_app_serves(client: TestClient) -> None:
    checked_in = json.loads((PROJECT_ROOT / "openapi" / "openapi.json").read_text())
    assert checked_in == openapi_document(), "run `make openapi` and commit openapi/openapi.json"
    assert client.get("/openapi.json").json() == checked_in


def test_every_operation_declares_its_error_responses() -> None:
    document = openapi_document()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if path in ("/health", "/.well-known/jwks.json", "/.well-known/did.json"):
                continue
            errors = {code for code in operation["responses"] if code.startswith(("4", "5"))}
            assert errors, f"{method.upper()} {path} declares no error responses"
            for code in errors:
                schema = operation["responses"][code]["content"]["application/json"]["schema"]
                if (path, code) == ("/credentials/verify", "400"):  # the VC API answers a failed verdict with 400
                    assert {"$ref": "#/components/schemas/ErrorBody"} in schema["anyOf"]
                    continue
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (path, code)


def test_operations_that_queue_for_the_database_document_503_busy() -> None:
    paths = openapi_document()["paths"]
    for path, method in (("/v1/learners", "post"), ("/v1/attempts/{attempt_id}/submit", "post"),
                         ("/v1/status-lists/{list_id}", "get"), ("/v1/credentials/{credential_id}", "get")):
        busy = paths[path][method]["responses"]["503"]
        assert "Retry-After" in busy["headers"], (method, path)
    assert "503" not in paths["/health"]["get"]["responses"]  # /health never touches the database
