"""The schema comes from Alembic only, the invariants are constraints, and OpenAPI is checked in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect, text

from app.config import PROJECT_ROOT, Settings
from app.main import create_app
from app.openapi_export import openapi_document
from tests.conftest import ADMIN_KEY, PUBLIC_URL, alembic_config, migrated_database
from tests.factories import ADMIN, earn_credential, new_learner


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
        ("credential_shares", ["active_credential_id"]),
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


def test_every_reference_in_the_openapi_document_resolves() -> None:
    """A `$ref` is a JSON Pointer into the whole document (OpenAPI 3.1 §4.8.24): each must name something there."""
    document = openapi_document()
    references: list[str] = []

    def collect(value: object) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "$ref" and isinstance(item, str):
                    references.append(item)
                collect(item)
        elif isinstance(value, list):
            for item in value:
                collect(item)

    collect(document)
    assert references
    for reference in set(references):
        assert reference.startswith("#/"), reference
        target: object = document
        for part in reference[2:].split("/"):
            assert isinstance(target, dict) and part in target, f"{reference} resolves to nothing"
            target = target[part]


def test_every_operation_declares_its_error_responses() -> None:
    document = openapi_document()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if path in ("/health", "/.well-known/jwks.json", "/.well-known/did.json"):
                continue
            errors = {code for code in operation["responses"] if code.startswith(("4", "5"))}
            assert errors, f"{method.upper()} {path} declares no error responses"
            for code in errors:
                if path == "/c/{share_id}" and code in ("404", "410", "429"):  # the share page answers a person
                    assert list(operation["responses"][code]["content"]) == ["text/html"]
                    continue
                if path == "/verify" and code != "503":  # so does the verify page (busy database: JSON)
                    assert list(operation["responses"][code]["content"]) == ["text/html"]
                    continue
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



def test_the_one_entry_status_migration_keeps_legacy_credentials_working(
    tmp_path, keys_dir, monkeypatch  # type: ignore[no-untyped-def]
) -> None:
    """0004 on a database with two-entry credentials: set bits become values, they verify and change as before."""
    from sqlalchemy import text

    from app.config import Settings
    from app.main import create_app
    from app.status_lists import service as status_lists
    from tests.conftest import ADMIN_KEY, PUBLIC_URL
    from tests.factories import ADMIN, earn_credential

    url = f"sqlite:///{tmp_path / 'legacy.db'}"
    config = alembic_config(url)
    command.upgrade(config, "head")
    settings = Settings(database_url=url, keys_dir=keys_dir, public_url=PUBLIC_URL, admin_api_key=ADMIN_KEY,
                        default_max_attempts=0, default_retake_cooldown_seconds=0, precision_gate="off")
    monkeypatch.setattr(status_lists, "PURPOSES", status_lists.LEGACY_PURPOSES)  # issuance as it was
    with TestClient(create_app(settings), base_url=PUBLIC_URL) as client:
        revoked, suspended = (earn_credential(client, item_count=2, legacy_status=True)["credential"] for _ in range(2))
        client.post(f"/v1/credentials/{revoked['id']}/revoke", headers=ADMIN)
        client.post(f"/v1/credentials/{suspended['id']}/suspend", headers=ADMIN)
    monkeypatch.undo()
    command.downgrade(config, "0003_verifier_issuer_identity")  # the schema they were issued under
    engine = create_engine(url)
    with engine.connect() as connection:
        set_bits = connection.execute(text("SELECT count(*) FROM status_entries WHERE is_set")).scalar_one()
    assert set_bits == 2

    command.upgrade(config, "head")
    with engine.connect() as connection:
        values = connection.execute(text("SELECT purpose, value FROM status_entries WHERE value <> 0")).all()
        sizes = set(connection.execute(text("SELECT status_size FROM status_lists")).scalars())
    assert sorted(values) == [("revocation", 1), ("suspension", 1)] and sizes == {1}
    with TestClient(create_app(settings), base_url=PUBLIC_URL) as client:
        def codes(token: str) -> list[str]:
            body = client.post("/v1/credentials/verify", json={"verifiableCredential": token}).json()
            return [error["code"] for error in body["errors"]]

        assert codes(revoked["jwt"]) == ["revoked"] and codes(suspended["jwt"]) == ["suspended"]
        assert client.post(f"/v1/credentials/{suspended['id']}/reinstate", headers=ADMIN).status_code == 200
        assert codes(suspended["jwt"]) == []
        assert client.post(f"/v1/credentials/{revoked['id']}/reinstate", headers=ADMIN).status_code == 409
        earn_credential(client, item_count=2)  # a one-entry credential: a message list now exists
    # The previous schema cannot hold a message list, so the downgrade refuses instead of losing it.
    with pytest.raises(RuntimeError, match="message"):
        command.downgrade(config, "0003_verifier_issuer_identity")
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of this test's own at the migration head (a migration test changes the schema)."""
    with migrated_database(request, tmp_path) as url:
        yield url


def test_the_awards_migration_refuses_to_downgrade_while_awards_exist(fresh_database: str, keys_dir: Path) -> None:
    """0006 down: refused while a manual award exists (nothing changes); once none is left, graded ones survive it."""
    url = fresh_database
    config = alembic_config(url)
    settings = Settings(database_url=url, keys_dir=keys_dir, public_url=PUBLIC_URL, admin_api_key=ADMIN_KEY,
                        default_max_attempts=0, default_retake_cooldown_seconds=0, precision_gate="off")
    with TestClient(create_app(settings), base_url=PUBLIC_URL) as client:
        graded = earn_credential(client, item_count=2)["credential"]
        subject_id = new_learner(client)["subject_id"]
        issued = client.post("/credentials/issue", headers=ADMIN, json={"credential": {"credentialSubject": {
            "id": subject_id, "achievement": {"id": f"{PUBLIC_URL}/v1/achievements/python/foundation"}}}})
        assert issued.status_code == 201, issued.text
    award_id = issued.headers["Location"].rsplit("/", 1)[1]
    engine = create_engine(url)
    # Down to 0006 first: on PostgreSQL a refused downgrade rolls back all of its steps, later ones included.
    command.downgrade(config, "0006_credential_awards")

    with pytest.raises(RuntimeError, match=r"1 manually awarded credential\(s\) exist"):
        command.downgrade(config, "0005_credential_ldp")
    with engine.connect() as connection:
        version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        kinds = dict(connection.execute(text("SELECT id, kind FROM credentials")).all())
    assert version == "0006_credential_awards" and kinds == {graded["id"]: "graded", award_id: "award"}

    # Deleting issued credentials is the operator's deliberate act, not the migration's.
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM status_entries WHERE credential_id = :id"), {"id": award_id})
        connection.execute(text("DELETE FROM credentials WHERE id = :id"), {"id": award_id})
    command.downgrade(config, "0005_credential_ldp")
    columns = {column["name"]: column for column in inspect(engine).get_columns("credentials")}
    assert "kind" not in columns and not columns["attempt_id"]["nullable"] and not columns["assessment_id"]["nullable"]
    command.upgrade(config, "head")
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT id, kind, attempt_id FROM credentials")).all()
    engine.dispose()
    assert [tuple(row) for row in rows] == [(graded["id"], "graded", graded["attempt_id"])]
