"""Settings read from the environment (prefix SKILLPROOF_)."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import re
from functools import cached_property
from pathlib import Path
from typing import Literal
from urllib.parse import quote, urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
STRONG_KEY_CHARS = 22  # 128 bits in base64url
logger = logging.getLogger("skillproof")


_DNS_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_PATH_SEGMENT = re.compile(r"[A-Za-z0-9._~-]+")  # RFC 3986 unreserved characters: one spelling per path
_NUMERIC_LABEL = re.compile(r"(?:0[xX][0-9a-fA-F]*|[0-9]+)")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def canonical_public_url(value: str) -> str:
    """SKILLPROOF_PUBLIC_URL in one canonical spelling; ValueError (one line) for anything a DID must not hold.

    Refused: userinfo (it would be signed into credentials), query, fragment, IP addresses other than a
    canonical loopback (did:web forbids IPs; 127.1, 0x7f.1, 2130706433 and 0177.0.0.1 are IPs in disguise,
    WHATWG URL §3.5 "ends in a number"), non-DNS host names and path segments outside the unreserved set.
    """
    name = "SKILLPROOF_PUBLIC_URL"
    if not value.isascii() or any(char.isspace() or not char.isprintable() or char == "\\" for char in value):
        raise ValueError(f"{name} must be a plain ASCII http(s) URL (no spaces; use punycode for IDNs)")
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.netloc:
        raise ValueError(f"{name} must be an http(s) URL with a host name, e.g. https://skills.example.com")
    if "@" in parts.netloc:
        raise ValueError(f"{name} must not hold a user name or password (user:pw@); they would be signed into "
                         "every credential")
    if "?" in value or "#" in value:
        raise ValueError(f"{name} must not have a query (?...) or fragment (#...)")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{name} has an invalid port") from None
    if parts.netloc.endswith(":"):
        raise ValueError(f"{name} has an empty port")
    host = (parts.hostname or "").lower()
    address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None
    if parts.netloc.startswith("["):  # IPv6 literal
        try:
            address = ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{name} has an invalid IPv6 address") from None
        shown = f"[{address.compressed}]"
    elif _NUMERIC_LABEL.fullmatch(host.rsplit(".", 1)[-1]):
        try:
            address = ipaddress.IPv4Address(host)  # dotted decimal only, no leading zeros
        except ValueError:
            raise ValueError(f"{name} host {host!r} is an IP address in an unusual form; use a host name "
                             "(did:web forbids IP addresses)") from None
        shown = address.compressed
    else:
        labels = host.split(".")
        if len(host) > 253 or not all(_DNS_LABEL.fullmatch(label) for label in labels):
            raise ValueError(f"{name} host {host!r} is not a DNS host name (letters, digits and hyphens per label)")
        shown = host
    if address is not None and not address.is_loopback:
        raise ValueError(f"{name} must use a host name, not an IP address (did:web forbids IPs)")
    segments = parts.path.split("/")[1:]
    if segments and segments[-1] == "":
        segments.pop()  # one trailing slash is dropped
    for segment in segments:
        if not _PATH_SEGMENT.fullmatch(segment) or segment in (".", ".."):
            raise ValueError(f"{name} path segments may hold only letters, digits and -._~ (got {segment!r})")
    netloc = shown if port is None or port == _DEFAULT_PORTS[scheme] else f"{shown}:{port}"
    return f"{scheme}://{netloc}" + "".join(f"/{segment}" for segment in segments)


def did_web(base_url: str) -> str:
    """did:web of a public URL; a port is percent-encoded as the did:web spec requires."""
    parts = urlsplit(base_url)
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


class Settings(BaseSettings):
    """Runtime configuration; refuses settings that would make the issuer unsafe or unverifiable."""

    model_config = SettingsConfigDict(env_prefix="SKILLPROOF_", extra="ignore")

    database_url: str = ""
    keys_dir: Path = PROJECT_ROOT / "keys"
    port: int = 8000
    public_url: str = ""
    admin_api_key: str | None = None
    # New vc+jwt keys: ES256 (what OB 3.0 JWT validators accept) or EdDSA; Data Integrity keys are always Ed25519.
    signing_alg: Literal["EdDSA", "ES256"] = "ES256"
    generator: Literal["bank", "llm"] = "bank"
    llm_base_url: str | None = None
    llm_api_key: str | None = None
    llm_model: str | None = None
    llm_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    llm_temperature: float = Field(default=0.2, ge=0, le=2)
    # The solver check keeps an item when at least `agreement` of `runs` keyless answers match its key.
    llm_solver_runs: int = Field(default=3, ge=1, le=9)
    llm_solver_agreement: int = Field(default=2, ge=1, le=9)
    # The solver and critic may judge on another endpoint and model (another model family shares fewer of the
    # generator's mistakes); each defaults to the generator's, the API key only when the endpoint is the same.
    solver_base_url: str | None = None
    solver_api_key: str | None = None
    solver_model: str | None = None
    # Tokens an answer may use (0: no max_tokens sent), and the model's context window prompt and answer share.
    llm_max_tokens: int = Field(default=2048, ge=0, le=1_000_000)
    llm_context_tokens: int = Field(default=8192, ge=512, le=10_000_000)
    issuer_name: str = "Skillproof"
    status_list_ttl_seconds: int = Field(default=300, ge=0, le=86400)
    default_time_limit_seconds: int = Field(default=1800, ge=30)
    verify_max_body_bytes: int = 64 * 1024
    # POST /v1/credentials/verify-batch: up to 1,000 credentials of up to ~16 KB each (ours are ~9 KB as compact
    # JWS: the evidence and achievement say what a pass rests on), and the JSON around them.
    verify_batch_max_items: int = Field(default=1000, ge=1, le=10_000)
    verify_batch_max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=64 * 1024, le=64 * 1024 * 1024)
    # Retake policy of new assessments (each may override it): 3 attempts, 24 h apart; 0 means none.
    default_max_attempts: int = Field(default=3, ge=0, le=100)
    default_retake_cooldown_seconds: int = Field(default=86400, ge=0, le=365 * 86400)
    # Calibration (`skillproof calibrate`, POST /v1/item-bank/calibrate), from first attempts only: an item is
    # fitted once it has this many responses; a new item rides along unscored (pretest) until it has
    # pretest_responses, at most pretest_max_share of an attempt's items; items outside the quarantine bounds
    # (once they have quarantine_min_responses) leave the draws until an admin releases them.
    calibration_min_responses: int = Field(default=200, ge=2, le=1_000_000)
    pretest_responses: int = Field(default=200, ge=0, le=1_000_000)
    pretest_max_share: float = Field(default=0.2, ge=0, le=0.5)
    quarantine_min_responses: int = Field(default=200, ge=2, le=1_000_000)
    quarantine_facility_min: float = Field(default=0.2, ge=0, le=1)
    quarantine_facility_max: float = Field(default=0.95, ge=0, le=1)
    quarantine_min_discrimination: float = Field(default=0.1, ge=-1, le=1)
    quarantine_distractor_discrimination: float = Field(default=0.05, ge=-1, le=1)
    # Per-item scores for learners: never, or once they have used their last attempt (admins always see them).
    learner_item_feedback: Literal["never", "after_final_attempt"] = "never"
    # A private item bank (the bundled bank's file format); unset: the bundled, public demo bank.
    bank_dir: Path | None = None
    # Performance tasks run in this many worker processes (app/grading/pool.py; 0: one thread of the server),
    # with at most grading_queue more submissions waiting; beyond that, submit answers 503 busy.
    grading_workers: int = Field(default=1, ge=0, le=64)
    grading_queue: int = Field(default=16, ge=0, le=10_000)
    # Data Integrity proofs are canonicalised (pure-Python RDFC-1.0, ~20 ms each) in this many worker processes
    # (app/credentials/canonical_pool.py); unset: one per core, at most 4; 0: in the request's own thread.
    canonicalize_workers: int | None = Field(default=None, ge=0, le=64)
    # Publishing refuses a design in which a candidate `precision_margin_points` below the pass mark passes
    # more than `max_pass_below_cut` of the time (app/grading/precision.py); off: it publishes, and its
    # credentials say the rule was not met. max_pass_below_cut=1 lets every design through too.
    precision_gate: Literal["on", "off"] = "on"
    max_pass_below_cut: float = Field(default=0.10, gt=0, le=1)
    precision_margin_points: float = Field(default=15.0, gt=0, le=50)
    # Reliability (KR-20 / Cronbach's alpha, SEM) is reported once an assessment has this many first attempts.
    reliability_min_first_attempts: int = Field(default=30, ge=2, le=100_000)

    # Operations (app/ops): rate limits, read timeouts, metrics, logs.
    rate_limits: Literal["on", "off"] = "on"
    rate_limit_storage: str = "memory://"  # or redis://host:6379/0, shared by replicas
    rate_limit_verify: str = "600/minute"  # per client IP: verify endpoints
    rate_limit_public: str = "1200/minute"  # per client IP: status lists, JWKS, DID, share pages
    rate_limit_failed_auth: str = "20/minute"  # per client IP: 401s before unknown keys get 429
    rate_limit_authenticated: str = "3000/minute"  # per principal (learner or admin key)
    trusted_proxies: str = ""  # comma-separated IPs/CIDRs whose X-Forwarded-For is believed
    header_timeout_seconds: float = Field(default=10.0, gt=0, le=600)
    body_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    metrics_token: str | None = None  # when set, GET /metrics needs `Authorization: Bearer <token>`
    log_format: Literal["json", "text"] = "json"
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @field_validator("rate_limit_verify", "rate_limit_public", "rate_limit_failed_auth", "rate_limit_authenticated")
    @classmethod
    def _rate_limit_parses(cls, value: str) -> str:
        from limits import parse_many

        try:
            parse_many(value)
        except ValueError:
            raise ValueError(f"not a rate limit such as '600/minute' or '20/minute;5/second': {value!r}") from None
        return value

    @field_validator("rate_limit_storage")
    @classmethod
    def _rate_limit_storage_known(cls, value: str) -> str:
        if not value.startswith(("memory://", "redis://", "rediss://")):
            raise ValueError("SKILLPROOF_RATE_LIMIT_STORAGE must be memory:// or a redis:// URL")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _trusted_proxies_are_networks(cls, value: str) -> str:
        for part in filter(None, (item.strip() for item in value.split(","))):
            try:
                ipaddress.ip_network(part, strict=False)
            except ValueError:
                raise ValueError(f"SKILLPROOF_TRUSTED_PROXIES: not an IP address or network: {part!r}") from None
        return value

    # Requests holding a database session at once, per process (default 4); the connection pool is sized
    # to it. Others queue up to db_queue_seconds (long enough for a class of 500 submitting at once on
    # SQLite), then get 503 busy with Retry-After.
    db_sessions: int | None = Field(default=None, ge=1, le=200)
    db_queue_seconds: float = Field(default=60.0, gt=0, le=600)
    # Entries per status list before a new one opens (default 3/4 of 131,072 bits); smaller only for tests.
    status_list_capacity: int = Field(default=98_304, ge=1, le=98_304)

    # Other issuers (app/verification/trusted.py): comma-separated DIDs (did:web, did:key, did:jwk) whose
    # credentials verify here; their DID documents and status lists are fetched by app/net/fetch.py.
    trusted_issuers: str = ""
    allow_http_fetch: bool = False  # http:// fetches, for local development only
    fetch_ca_bundle: Path | None = None  # extra CA certificates (PEM) trusted for fetches, e.g. a test CA
    # TESTS ONLY: address:port pairs (127.0.0.1:8443, [::1]:8443) a fetch may reach although not public.
    fetch_allow_addresses: str = ""

    @field_validator("trusted_issuers")
    @classmethod
    def _trusted_issuers_are_dids(cls, value: str) -> str:
        from app.verification.trusted import parse_trusted_issuers

        try:
            parse_trusted_issuers(value)
        except ValueError as exc:
            raise ValueError(f"SKILLPROOF_TRUSTED_ISSUERS: {exc}") from None
        return value

    @field_validator("fetch_allow_addresses")
    @classmethod
    def _fetch_allow_addresses_parse(cls, value: str) -> str:
        from app.net.fetch import parse_allowed_addresses

        try:
            parse_allowed_addresses(value)
        except ValueError as exc:
            raise ValueError(f"SKILLPROOF_FETCH_ALLOW_ADDRESSES: {exc}") from None
        if value.strip():
            logger.warning("SKILLPROOF_FETCH_ALLOW_ADDRESSES is set: fetches may reach %s (meant for tests only)",
                           value)
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url_is_http(cls, value: str) -> str:
        return canonical_public_url(value) if value else value

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
        return did_web(self.base_url)

    def with_public_url(self, public_url: str) -> Settings:
        """These settings under another public URL (a fresh object: base_url and issuer_did are cached)."""
        return type(self).model_validate({**self.model_dump(), "public_url": public_url})

    @cached_property
    def sqlalchemy_url(self) -> str:
        """The database URL, defaulting to the embedded SQLite file under var/."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{PROJECT_ROOT / 'var' / 'skillproof.db'}"
