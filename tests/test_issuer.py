"""The issuer identity: a strict SKILLPROOF_PUBLIC_URL, fixed at first start, changed only on purpose."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from fastapi.testclient import TestClient
from pydantic import ValidationError

from app.config import Settings
from app.issuer.service import IdentityMismatch
from app.main import create_app
from tests.conftest import ADMIN_KEY, alembic_config, migrated_database
from tests.factories import earn_credential

# -- SKILLPROOF_PUBLIC_URL ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://user:pw@skills.example.com", "user name or password"),
        ("https://admin@skills.example.com", "user name or password"),
        ("https://:@skills.example.com", "user name or password"),
        ("http://127.1", "unusual form"),
        ("http://127.1:8000", "unusual form"),
        ("http://0x7f.1", "unusual form"),
        ("http://0x7f000001", "unusual form"),
        ("http://2130706433", "unusual form"),
        ("http://0177.0.0.1", "unusual form"),
        ("http://127.0.0.01", "unusual form"),
        ("http://1.2.3.4.5", "unusual form"),
        ("http://example.0x10", "unusual form"),
        ("http://10.1.2.3:8000", "not an IP address"),
        ("http://[2001:db8::1]", "not an IP address"),
        ("https://skills.example.com/?x=1", "query"),
        ("https://skills.example.com?", "query"),
        ("https://skills.example.com/#top", "fragment"),
        ("https://skills.example.com/a%2Fb", "path segments"),
        ("https://skills.example.com/a/../b", "path segments"),
        ("https://skills.example.com//b", "path segments"),
        ("https://skills_example.com", "DNS host name"),
        ("https://skills.example.com.", "DNS host name"),
        ("https://-skills.example.com", "DNS host name"),
        ("https://skïlls.example.com", "ASCII"),
        ("https://skills.example.com /x", "ASCII"),
        ("https://skills.example.com:99999", "port"),
        ("https://skills.example.com:", "empty port"),
        ("ftp://skills.example.com", "http(s) URL"),
        ("skills.example.com", "http(s) URL"),
        ("https://", "http(s) URL"),
    ],
)
def test_public_url_refuses_what_a_did_must_not_hold(url: str, reason: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Settings(public_url=url)
    errors = raised.value.errors()
    assert len(errors) == 1 and "\n" not in errors[0]["msg"]
    assert reason in errors[0]["msg"] and "SKILLPROOF_PUBLIC_URL" in errors[0]["msg"]


@pytest.mark.parametrize(
    ("url", "canonical", "did"),
    [
        ("https://skills.example.com", "https://skills.example.com", "did:web:skills.example.com"),
        ("HTTPS://Skills.Example.COM/", "https://skills.example.com", "did:web:skills.example.com"),
        ("https://skills.example.com:443", "https://skills.example.com", "did:web:skills.example.com"),
        ("http://localhost:8000", "http://localhost:8000", "did:web:localhost%3A8000"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000", "did:web:localhost%3A8000"),
        ("http://[::1]:8000", "http://[::1]:8000", "did:web:localhost%3A8000"),
        ("https://example.com/skills/x/", "https://example.com/skills/x", "did:web:example.com:skills:x"),
        ("https://xn--sklls-3ra.example.com", "https://xn--sklls-3ra.example.com", "did:web:xn--sklls-3ra.example.com"),
    ],
)
def test_public_url_is_kept_in_one_canonical_spelling(url: str, canonical: str, did: str) -> None:
    settings = Settings(public_url=url)
    assert settings.base_url == canonical
    assert settings.issuer_did == did


def test_a_bad_public_url_is_one_clear_line_from_the_cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from app import cli

    monkeypatch.setenv("SKILLPROOF_PUBLIC_URL", "http://alice:s3cr3t-pass@skills.example.com")
    assert cli.main(["keys", "list"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "user name or password" in err and "Traceback" not in err
    assert "s3cr3t" not in err and "alice" not in err


# -- the identity is fixed at first start ------------------------------------------------------------



@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated database of its own (the identity is stored per database)."""
    with migrated_database(request, tmp_path) as url:
        yield url


def _settings(database_url: str, keys_dir: Path, **fields: Any) -> Settings:
    return Settings(database_url=database_url, keys_dir=keys_dir, admin_api_key=ADMIN_KEY, precision_gate="off",
                    **fields)


def _client(settings: Settings) -> TestClient:
    client = TestClient(create_app(settings), base_url=f"http://127.0.0.1:{settings.port}")
    client.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
    return client


def _verify(client: TestClient, token: str) -> list[str]:
    response = client.post("/v1/credentials/verify", json={"verifiableCredential": token})
    assert response.status_code == 200
    return [error["code"] for error in response.json()["errors"]]


def test_a_restart_on_another_port_keeps_the_did_and_earlier_credentials_verify(
    fresh_database_url: str, tmp_path: Path
) -> None:
    """Issue 6: the DID followed the port, so a restart on another port made every credential untrusted_issuer."""
    with _client(_settings(fresh_database_url, tmp_path / "keys", port=8123)) as first:
        token = earn_credential(first, item_count=2)["credential"]["jwt"]
        assert first.get("/.well-known/did.json").json()["id"] == "did:web:localhost%3A8123"
    with _client(_settings(fresh_database_url, tmp_path / "keys", port=9456)) as second:
        assert second.get("/.well-known/did.json").json()["id"] == "did:web:localhost%3A8123"
        assert _verify(second, token) == []
        again = earn_credential(second, item_count=2)["credential"]
        assert again["credential"]["issuer"]["id"] == "did:web:localhost%3A8123"
        assert again["credential"]["credentialStatus"]["statusListCredential"].startswith("http://localhost:8123/")


def test_a_start_with_another_public_url_refuses_and_names_the_command(
    fresh_database_url: str, tmp_path: Path
) -> None:
    with _client(_settings(fresh_database_url, tmp_path / "keys", public_url="https://skills.example.com")):
        pass
    moved = _settings(fresh_database_url, tmp_path / "keys", public_url="https://other.example.com")
    with pytest.raises(IdentityMismatch) as refused, _client(moved):
        pass
    message = str(refused.value)
    assert "\n" not in message
    assert "skillproof issuer set-url https://other.example.com" in message and "did:web:skills.example.com" in message
    # The same URL, spelled differently, is the same identity.
    with _client(_settings(fresh_database_url, tmp_path / "keys", public_url="HTTPS://Skills.Example.com/")) as same:
        assert same.get("/.well-known/did.json").json()["id"] == "did:web:skills.example.com"


def _cli(monkeypatch: pytest.MonkeyPatch, database_url: str, keys_dir: Path, *argv: str,
         public_url: str | None = None) -> int:
    from app import cli

    monkeypatch.setenv("SKILLPROOF_DATABASE_URL", database_url)
    monkeypatch.setenv("SKILLPROOF_KEYS_DIR", str(keys_dir))
    if public_url is None:
        monkeypatch.delenv("SKILLPROOF_PUBLIC_URL", raising=False)
    else:
        monkeypatch.setenv("SKILLPROOF_PUBLIC_URL", public_url)
    return cli.main(list(argv))


def test_serve_with_a_changed_public_url_exits_with_one_line(
    fresh_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _cli(monkeypatch, fresh_database_url, tmp_path / "keys", "issuer", "set-url", "https://a.example") == 0
    capsys.readouterr()
    code = _cli(monkeypatch, fresh_database_url, tmp_path / "keys", "serve", "--port", "65531",
                public_url="https://b.example")
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "skillproof issuer set-url https://b.example" in err


def test_set_url_moves_the_identity_and_earlier_credentials_keep_verifying_here(
    fresh_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = tmp_path / "keys"
    with _client(_settings(fresh_database_url, keys, public_url="https://old.example")) as before:
        earned = earn_credential(before, item_count=2)
        token, credential_id = earned["credential"]["jwt"], earned["credential"]["id"]
    assert _cli(monkeypatch, fresh_database_url, keys, "issuer", "set-url", "https://new.example/") == 0
    out = capsys.readouterr().out
    assert "issuer did:web:new.example at https://new.example" in out
    assert "former did:web:old.example at https://old.example" in out
    assert "keep naming did:web:old.example" in out and "keeps verifying them" in out
    with _client(_settings(fresh_database_url, keys)) as after:
        assert after.get("/.well-known/did.json").json()["id"] == "did:web:new.example"
        assert _verify(after, token) == []
        new = earn_credential(after, item_count=2)["credential"]
        assert new["credential"]["issuer"]["id"] == "did:web:new.example" and _verify(after, new["jwt"]) == []
        # Status of an earlier credential is still read (its list URL names the old host).
        assert after.post(f"/v1/credentials/{credential_id}/revoke", json={}).status_code == 200
        assert _verify(after, token) == ["revoked"]
    with pytest.raises(IdentityMismatch), _client(_settings(fresh_database_url, keys, public_url="https://old.example")):
        pass
    assert _cli(monkeypatch, fresh_database_url, keys, "issuer", "show") == 0
    assert capsys.readouterr().out.splitlines()[0] == "issuer did:web:new.example at https://new.example"


def test_set_url_refuses_a_bad_url_with_one_line(
    fresh_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _cli(monkeypatch, fresh_database_url, tmp_path / "keys", "issuer", "set-url", "http://127.1") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unusual form" in err
    assert _cli(monkeypatch, fresh_database_url, tmp_path / "keys", "issuer", "show") == 0
    assert "no issuer identity yet" in capsys.readouterr().out


# -- the migration -------------------------------------------------------------------------------------


def test_the_migration_rewrites_stored_high_s_es256_credentials_to_low_s(tmp_path: Path) -> None:
    """Credentials issued before low-S signing keep verifying: their stored token is rewritten, key-free."""
    import sqlite3

    from app.credentials import jose
    from tests import vectors

    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(alembic_config(url), "0002_pools_jobs")
    high = vectors.vector_token("credential.p256-high-s-twin.jwt")
    low = vectors.vector_token("credential.p256.jwt")
    eddsa = vectors.golden_token()
    with sqlite3.connect(tmp_path / "old.db") as connection:  # foreign keys are off in a plain connection
        for number, token in enumerate((high, low, eddsa, None)):
            connection.execute(
                "INSERT INTO credentials (id, attempt_id, learner_id, assessment_id, document, jwt, kid, issued_at)"
                " VALUES (?, ?, 'l', 'a', '{}', ?, 'k', '2026-01-01 00:00:00')",
                (f"c{number}", f"t{number}", token),
            )
    command.upgrade(alembic_config(url), "head")
    with sqlite3.connect(tmp_path / "old.db") as connection:
        stored = dict(connection.execute("SELECT id, jwt FROM credentials").fetchall())
    assert stored == {"c0": low, "c1": low, "c2": eddsa, "c3": None}
    jose.verify_signature(jose.parse_compact(stored["c0"]), vectors.p256_key().public_key())
