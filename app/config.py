"""Settings read from the environment (prefix SKILLPROOF_)."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
from functools import cached_property
from pathlib import Path
from typing import Literal
from urllib.parse import quote, urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
STRONG_KEY_CHARS = 22  # 128 bits in base64url
logger = logging.getLogger("skillproof")


class Settings(BaseSettings):
    """Runtime configuration; refuses settings that would make the issuer unsafe or unverifiable."""

    model_config = SettingsConfigDict(env_prefix="SKILLPROOF_", extra="ignore")

    database_url: str = ""
    keys_dir: Path = PROJECT_ROOT / "keys"
    port: int = 8000
    public_url: str = ""
    admin_api_key: str | None = None
    signing_alg: Literal["EdDSA", "ES256"] = "EdDSA"
    generator: Literal["bank", "llm"] = "bank"
    llm_base_url: str | None = None
    llm_api_key: str | None = None
    llm_model: str | None = None
    llm_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    llm_temperature: float = Field(default=0.2, ge=0, le=2)
    # The solver check keeps an item when at least `agreement` of `runs` keyless answers match its key.
    llm_solver_runs: int = Field(default=3, ge=1, le=9)
    llm_solver_agreement: int = Field(default=2, ge=1, le=9)
    issuer_name: str = "Skillproof"
    status_list_ttl_seconds: int = Field(default=300, ge=0, le=86400)
    default_time_limit_seconds: int = Field(default=1800, ge=30)
    verify_max_body_bytes: int = 64 * 1024
    # Requests holding a database session at once, per process (default 8);
    # the connection pool is sized to it. Others queue up to db_queue_seconds (long enough for a class
    # of 500 submitting at once on SQLite), then get 503 busy with Retry-After.
    # Entries per status list before a new one opens (default 3/4 of 131,072 bits); smaller only for tests.
    status_list_capacity: int = Field(default=98_304, ge=1, le=98_304)
    db_sessions: int | None = Field(default=None, ge=1, le=200)
    db_queue_seconds: float = Field(default=60.0, gt=0, le=600)

    @field_validator("public_url")
    @classmethod
    def _public_url_is_http(cls, value: str) -> str:
        if not value:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("SKILLPROOF_PUBLIC_URL must be an http(s) URL with a host name")
        try:
            address = ipaddress.ip_address(parts.hostname)
        except ValueError:
            return value.rstrip("/")
        if address.is_loopback:
            return value.rstrip("/")  # the DID then names localhost (see issuer_did)
        raise ValueError("SKILLPROOF_PUBLIC_URL must use a host name, not an IP address (did:web forbids IPs)")

    @field_validator("admin_api_key")
    @classmethod
    def _admin_key_is_set(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("SKILLPROOF_ADMIN_API_KEY is empty")
        if value is not None and len(value) < STRONG_KEY_CHARS:
            logger.warning(
                "SKILLPROOF_ADMIN_API_KEY has fewer than %d characters (128 random bits); use a longer one "
                "outside development", STRONG_KEY_CHARS,
            )
        return value

    @cached_property
    def base_url(self) -> str:
        """The URL clients reach the service at."""
        return self.public_url or f"http://localhost:{self.port}"

    @cached_property
    def issuer_did(self) -> str:
        """did:web of the public host; a port is percent-encoded as the did:web spec requires."""
        parts = urlsplit(self.base_url)
        host = parts.hostname or "localhost"
        with contextlib.suppress(ValueError):
            if ipaddress.ip_address(host).is_loopback:
                host = "localhost"  # did:web forbids IP addresses; loopback is localhost
        if parts.port:
            host = f"{host}:{parts.port}"
        did = "did:web:" + quote(host, safe="")
        path = parts.path.strip("/")
        if path:
            did += ":" + ":".join(quote(segment, safe="") for segment in path.split("/"))
        return did

    @cached_property
    def sqlalchemy_url(self) -> str:
        """The database URL, defaulting to the embedded SQLite file under var/."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{PROJECT_ROOT / 'var' / 'skillproof.db'}"
