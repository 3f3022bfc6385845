"""API keys and roles."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select

from app.auth.models import ApiKey
from app.auth.service import ensure_admin_key, hash_key
from app.config import Settings
from app.db import Database
from tests.conftest import ADMIN_KEY
from tests.factories import ADMIN, bearer, new_learner


def test_missing_or_unknown_key_is_401_json(client: TestClient) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        response = client.get("/v1/skills", headers=headers)
        assert response.status_code == 401
        assert response.json()["error"] == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"


def test_learner_key_cannot_do_admin_work(client: TestClient) -> None:
    learner = new_learner(client)
    assert client.post("/v1/learners", json={"name": "x"}, headers=learner["headers"]).status_code == 403
    body = {"skill": "python", "level": "foundation", "item_count": 3}
    assert client.post("/v1/assessments", json=body, headers=learner["headers"]).status_code == 403


def test_admin_cannot_take_attempts(client: TestClient) -> None:
    response = client.get("/v1/learners/me/credentials", headers=ADMIN)
    assert response.status_code == 403


def test_api_keys_are_random_and_no_part_is_stored_in_clear(client: TestClient, settings: Settings) -> None:
    first, second = new_learner(client), new_learner(client)
    assert first["api_key"] != second["api_key"]
    assert len(first["api_key"]) >= 22 + 3  # >= 128 random bits in base64url, after the prefix
    engine = create_engine(settings.sqlalchemy_url)
    with engine.connect() as connection:
        rows = [tuple(row) for row in connection.execute(select(ApiKey.__table__)).all()]
    engine.dispose()
    stored_text = " ".join(str(value) for row in rows for value in row)
    assert hash_key(first["api_key"]) in stored_text
    for key in (first["api_key"], second["api_key"], ADMIN_KEY):
        secret = key.removeprefix("sk_")
        # No 6 consecutive characters of any key appear anywhere in the table (all-hex pieces aside: hashes
        # and ids are hex, so they could match by chance).
        pieces = {secret[i:i + 6] for i in range(len(secret) - 5)} - {""}
        pieces = {piece for piece in pieces if not set(piece) <= set("0123456789abcdef-")}
        leaked = {piece for piece in pieces if piece in stored_text}
        assert not leaked, f"key material stored in clear: {leaked}"
    me = client.get("/v1/learners/me", headers=bearer(first["api_key"]))
    assert me.status_code == 200 and me.json()["id"] == first["id"] and "api_key" not in me.json()


def test_learner_bodies_are_validated(client: TestClient) -> None:
    for body in (
        {},
        {"name": ""},
        {"name": "a", "email": "not-an-email"},
        {"name": "a", "did": "http://x"},
        {"name": "a", "unexpected": 1},
    ):
        response = client.post("/v1/learners", json=body, headers=ADMIN)
        assert response.status_code == 422, body
        assert response.json()["error"] == "validation_error"


def test_admin_create_key_cli_makes_a_working_key(settings: Settings, client: TestClient, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    from app import cli

    monkeypatch.setenv("SKILLPROOF_DATABASE_URL", settings.sqlalchemy_url)
    monkeypatch.setenv("SKILLPROOF_KEYS_DIR", str(settings.keys_dir))
    assert cli.main(["admin", "create-key", "--label", "ops"]) == 0
    raw_key = capsys.readouterr().out.strip()
    assert client.get("/v1/skills", headers=bearer(raw_key)).status_code == 200


def test_bodies_over_a_megabyte_are_413_before_parsing(client: TestClient) -> None:
    huge = b'{"name": "' + b"x" * (1024 * 1024 + 10) + b'"}'
    response = client.post("/v1/learners", content=huge, headers={**ADMIN, "content-type": "application/json"})
    assert response.status_code == 413 and response.json()["error"] == "payload_too_large"


def test_two_workers_registering_the_admin_key_at_once_both_start(database_url: str) -> None:
    """Two processes starting together both register SKILLPROOF_ADMIN_API_KEY: the second must not fail."""
    raw_key = f"race-admin-key-{uuid.uuid4().hex}"
    now = dt.datetime.now(dt.UTC)
    first, second = Database(database_url), Database(database_url)
    failures: list[BaseException] = []

    def register_late() -> None:
        try:
            with second.sessions.begin() as session:
                ensure_admin_key(session, raw_key, now)
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)

    try:
        with first.sessions.begin() as session:
            ensure_admin_key(session, raw_key, now)  # inserted, not yet committed
            late = threading.Thread(target=register_late)
            late.start()
            time.sleep(0.5)  # the other worker is now past its look-up (PostgreSQL: waiting on our row)
        late.join(timeout=30)
        assert not late.is_alive() and failures == []
        with first.sessions() as session:
            rows = session.scalars(select(ApiKey).where(ApiKey.key_hash == hash_key(raw_key))).all()
        assert len(rows) == 1
    finally:
        first.dispose()
        second.dispose()
