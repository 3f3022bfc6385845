"""The installed `skillproof` console script: every input form of verify, and every error as one clean line."""

from __future__ import annotations

import http.server
import json
import os
import sqlite3
import stat
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_server_flow import ADMIN_KEY, SKILLPROOF, earn_credential_over_http, running_server

POSTGRES_ENV = "SKILLPROOF_TEST_DATABASE_URL"


def run(*args: str, env: dict[str, str] | None = None, stdin: str | None = None,
        cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The console script as a user runs it, with SKILLPROOF_* settings from `env` only."""
    base = {key: value for key, value in os.environ.items() if not key.startswith("SKILLPROOF_")}
    return subprocess.run(
        [SKILLPROOF, *args], env={**base, **(env or {})}, input=stdin, capture_output=True, text=True,
        timeout=60, check=False, cwd=cwd,
    )


def assert_one_clean_error_line(result: subprocess.CompletedProcess[str], *words: str) -> None:
    """A non-zero exit whose stderr ends with one `skillproof: ...` line, and no traceback anywhere."""
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("skillproof: "), output
    for word in words:
        assert word in last, (word, last)


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A running server and one credential it issued: the server URL and the GET /v1/credentials/{id} JSON."""
    with running_server(tmp_path_factory.mktemp("cli-server")) as server:
        earned = earn_credential_over_http(server)
        yield {"server": server, **earned}


def _verified(result: subprocess.CompletedProcess[str]) -> bool:
    assert "Traceback" not in result.stderr, result.stderr
    verdict = json.loads(result.stdout)
    return bool(verdict["verified"]) and result.returncode == 0


def test_verify_takes_a_compact_jws_argument(issued: dict[str, Any]) -> None:
    result = run("verify", issued["credential"]["jwt"], "--url", issued["server"])
    assert _verified(result), result.stdout + result.stderr


def test_verify_takes_the_json_the_api_returns_saved_to_a_file(issued: dict[str, Any], tmp_path: Path) -> None:
    saved = tmp_path / "credential.json"
    saved.write_text(json.dumps(issued["credential"], indent=2))
    assert _verified(run("verify", str(saved), "--url", issued["server"]))
    jws_file = tmp_path / "credential.jwt"
    jws_file.write_text(issued["credential"]["jwt"] + "\n")
    assert _verified(run("verify", str(jws_file), "--url", issued["server"]))


def test_verify_reads_standard_input(issued: dict[str, Any]) -> None:
    assert _verified(run("verify", "-", "--url", issued["server"], stdin=issued["credential"]["jwt"]))
    assert _verified(run("verify", "-", "--url", issued["server"], stdin=json.dumps(issued["credential"])))


class _OneFile(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def serving(body: bytes) -> Iterator[str]:
    """A throwaway HTTP server on 127.0.0.1 that answers every GET with `body`; yields its base URL."""
    handler = type("Handler", (_OneFile,), {"body": body})
    host = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=host.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{host.server_address[1]}"
    finally:
        host.shutdown()
        host.server_close()


def test_verify_fetches_a_url(issued: dict[str, Any]) -> None:
    with serving(json.dumps(issued["credential"]).encode()) as url:
        assert _verified(run("verify", f"{url}/credential.json", "--url", issued["server"]))
    page = f"<html><body><p>Badge</p><pre>{issued['credential']['jwt']}</pre></body></html>".encode()
    with serving(page) as url:
        assert _verified(run("verify", f"{url}/c/share-id", "--url", issued["server"]))
    # The API itself, with the owner's key.
    api_url = f"{issued['server']}/v1/credentials/{issued['credential']['id']}"
    assert _verified(run("verify", api_url, "--url", issued["server"], "--api-key", issued["learner_key"]))
    assert_one_clean_error_line(run("verify", api_url, "--url", issued["server"]), "401")


def test_verify_a_tampered_credential_fails_with_its_reason(issued: dict[str, Any]) -> None:
    header, payload, signature = issued["credential"]["jwt"].split(".")
    tampered = f"{header}.{payload}.{'A' * len(signature)}"
    result = run("verify", tampered, "--url", issued["server"])
    assert result.returncode == 1 and json.loads(result.stdout)["verified"] is False
    assert_one_clean_error_line(result, "NOT verified", "invalid_signature")


def test_verify_errors_are_one_clean_line(issued: dict[str, Any], tmp_path: Path) -> None:
    jws = issued["credential"]["jwt"]
    assert_one_clean_error_line(run("verify", jws, "--url", "http://127.0.0.1:1"), "cannot reach")
    assert_one_clean_error_line(run("verify", str(tmp_path / "missing.json"), "--url", issued["server"]),
                                "no such file")
    broken = tmp_path / "broken.json"
    broken.write_text('{"jwt": ')
    assert_one_clean_error_line(run("verify", str(broken), "--url", issued["server"]), "not valid JSON")
    binary = tmp_path / "badge.bin"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    assert_one_clean_error_line(run("verify", str(binary), "--url", issued["server"]))
    assert_one_clean_error_line(run("verify", jws, "--url", f"{issued['server']}/nothing-here"), "404")
    assert_one_clean_error_line(run("verify", "http://127.0.0.1:1/x.json", "--url", issued["server"]),
                                "cannot reach")


def _postgres_server() -> str:
    return os.environ.get(POSTGRES_ENV) or "postgresql+psycopg://postgres@127.0.0.1:1/postgres"


def test_bad_database_settings_are_one_clean_line(tmp_path: Path) -> None:
    missing_database = _postgres_server().rsplit("/", 1)[0] + "/skillproof_no_such_database"
    keys = {"SKILLPROOF_KEYS_DIR": str(tmp_path / "k")}
    for url, words in (
        ("not a url", ("SKILLPROOF_DATABASE_URL",)),
        ("mysql+nodriver://x@127.0.0.1/db", ("SKILLPROOF_DATABASE_URL", "driver")),
        ("postgresql+psycopg://postgres:s3cret-pw@127.0.0.1:1/x", ("database", "***")),
        (missing_database, ("database",)),
    ):
        result = run("migrate", env={"SKILLPROOF_DATABASE_URL": url, **keys})
        assert_one_clean_error_line(result, *words)
        assert "s3cret-pw" not in result.stderr
    # Every other command that opens the database says the same, each tried with one bad URL.
    for command, url in ((["admin", "create-key"], missing_database), (["regrade", "--check"], "not a url"),
                         (["demo"], "postgresql+psycopg://postgres@127.0.0.1:1/x")):
        assert_one_clean_error_line(run(*command, env={"SKILLPROOF_DATABASE_URL": url, **keys}), "database")


def test_regrade_check_and_demo_on_a_fresh_database_say_to_migrate(tmp_path: Path) -> None:
    (tmp_path / "empty.db").touch()
    for command, name in ((["regrade", "--check"], "never-created.db"), (["regrade", "--check"], "empty.db"),
                          (["demo", "--url", "http://127.0.0.1:1"], "empty.db")):
        env = {"SKILLPROOF_DATABASE_URL": f"sqlite:///{tmp_path / name}", "SKILLPROOF_KEYS_DIR": str(tmp_path / "k")}
        assert_one_clean_error_line(run(*command, env=env), "skillproof migrate")
    assert not (tmp_path / "never-created.db").exists()


def test_demo_against_a_wrong_port_is_one_clean_line(tmp_path: Path) -> None:
    result = run("demo", "--url", "http://127.0.0.1:1", "--admin-key", ADMIN_KEY)
    assert_one_clean_error_line(result, "cannot reach")


def test_bad_settings_are_one_clean_line(tmp_path: Path) -> None:
    for name, value, command in (("SKILLPROOF_SIGNING_ALG", "RSA", ["migrate"]),
                                 ("SKILLPROOF_PORT", "eighty", ["keys", "list"]),
                                 ("SKILLPROOF_PUBLIC_URL", "ftp://x", ["regrade", "--check"])):
        env = {name: value, "SKILLPROOF_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
               "SKILLPROOF_KEYS_DIR": str(tmp_path / "keys")}
        assert_one_clean_error_line(run(*command, env=env), name)


def test_migrate_makes_the_database_private(tmp_path: Path) -> None:
    database = tmp_path / "data" / "skillproof.db"
    result = run("migrate", env={"SKILLPROOF_DATABASE_URL": f"sqlite:///{database}"})
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(database.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    # SQLite gives its -wal and -shm files the database file's mode: check it does.
    connection = sqlite3.connect(database)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("CREATE TABLE probe (x)")
    connection.commit()
    for suffix in ("-wal", "-shm"):
        assert stat.S_IMODE(database.with_name(database.name + suffix).stat().st_mode) == 0o600, suffix
    connection.close()
    # A file left world-readable by an older version is tightened on the next start.
    database.chmod(0o644)
    assert run("migrate", env={"SKILLPROOF_DATABASE_URL": f"sqlite:///{database}"}).returncode == 0
    assert stat.S_IMODE(database.stat().st_mode) == 0o600


def test_cli_admin_key_is_audited_and_works(issued: dict[str, Any], tmp_path: Path) -> None:
    database = tmp_path / "audit.db"
    env = {"SKILLPROOF_DATABASE_URL": f"sqlite:///{database}", "SKILLPROOF_KEYS_DIR": str(tmp_path / "k")}
    result = run("admin", "create-key", "--label", "ops laptop", env=env)
    assert result.returncode == 0, result.stderr
    raw_key = result.stdout.strip().splitlines()[-1]
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT action, actor_label, details FROM audit_events").fetchall()
        dumped = " ".join(str(value) for row in connection.execute("SELECT * FROM api_keys") for value in row)
    assert [(action, actor) for action, actor, _ in rows] == [("api_key.create", "skillproof CLI")]
    assert raw_key not in str(rows) and raw_key.removeprefix("sk_")[:8] not in dumped
