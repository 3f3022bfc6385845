"""The issuer identity: a strict SKILLPROOF_PUBLIC_URL, fixed at first start, changed only on purpose."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.config import Settings

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
