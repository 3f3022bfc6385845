"""The `skillproof` console script: serve, migrate, keys, admin, verify, demo."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.config import PROJECT_ROOT, Settings

if TYPE_CHECKING:
    from app.assessments.records import CheckReport

DEFAULT_DATA_DIR = PROJECT_ROOT / "var"
COMPACT_JWS = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+$")
EMBEDDED_JWS = re.compile(r"\beyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
MAX_FETCH_BYTES = 1024 * 1024
GRACEFUL_SHUTDOWN_SECONDS = 7


class CliError(Exception):
    """A failure the user can act on: printed as one line, exit status 2."""


def _redacted(url: str) -> str:
    """A database URL without its password, fit to print."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "SKILLPROOF_DATABASE_URL"


def check_database_url(url: str) -> None:
    """Refuse an unparsable URL or one whose driver is not installed, before anything connects."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise CliError(
            "SKILLPROOF_DATABASE_URL is not a database URL "
            "(e.g. sqlite:////srv/skillproof.db or postgresql+psycopg://user@host/skillproof)"
        ) from None
    try:
        create_engine(parsed).dispose()
    except (NoSuchModuleError, ImportError) as exc:
        raise CliError(
            f"SKILLPROOF_DATABASE_URL: no installed driver for {parsed.drivername!r} ({exc}); "
            "use sqlite:/// or postgresql+psycopg://"
        ) from None


def _sqlite_path(url: str) -> Path | None:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def secure_sqlite_file(url: str) -> None:
    """Create the SQLite file (and its directory) private to its owner: file 0600, new directory 0700.

    SQLite gives the -wal and -shm files the mode of the database file, so they are 0600 too.
    """
    path = _sqlite_path(url)
    if path is None:
        return
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True)
    if path.parent.resolve() == DEFAULT_DATA_DIR.resolve():
        path.parent.chmod(0o700)  # our own var/, whatever mode the checkout gave it
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for file in (path, *(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal"))):
        if file.exists():
            file.chmod(0o600)


def require_migrated(url: str) -> None:
    """Refuse to work on a database that does not exist or is not at the latest schema."""
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine

    check_database_url(url)
    path = _sqlite_path(url)
    if path is not None and not path.is_file():
        raise CliError(f"no database at {path}: run `skillproof migrate` first")
    heads = set(ScriptDirectory.from_config(Config(str(alembic_ini()))).get_heads())
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
    finally:
        engine.dispose()
    if not current:
        raise CliError(f"the database {_redacted(url)} has no schema yet: run `skillproof migrate`")
    if current != heads:
        raise CliError(
            f"the database {_redacted(url)} is at revision {', '.join(sorted(current))}, this code expects "
            f"{', '.join(sorted(heads))}: run `skillproof migrate` (or the matching version of skillproof)"
        )


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if getattr(args, "port", None):
        overrides["port"] = args.port
    return Settings(**overrides)


def alembic_ini() -> Path:
    """alembic.ini of the source tree, or of the working directory when installed (the Docker image)."""
    for candidate in (PROJECT_ROOT / "alembic.ini", Path.cwd() / "alembic.ini"):
        if candidate.is_file():
            return candidate
    raise SystemExit("skillproof: alembic.ini not found; run from the project directory")


def migrate(settings: Settings) -> None:
    """alembic upgrade head on the configured database."""
    from alembic import command
    from alembic.config import Config

    check_database_url(settings.sqlalchemy_url)
    secure_sqlite_file(settings.sqlalchemy_url)
    config = Config(str(alembic_ini()))
    config.set_main_option("sqlalchemy.url", settings.sqlalchemy_url.replace("%", "%%"))
    command.upgrade(config, "head")


def cmd_migrate(args: argparse.Namespace) -> int:
    migrate(_settings(args))
    print("database is at the latest schema")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.assessments.generators.bank import BANK_DIR, BankError, load_bank
    from app.issuer import service as issuer_service
    from app.keys.keystore import FileKeyStore
    from app.main import create_app
    from app.ops.logging import configure_logging
    from app.ops.timeouts import timed_protocol

    settings = _settings(args)
    try:
        load_bank(settings.bank_dir or BANK_DIR)
    except BankError as exc:
        print(f"skillproof: item bank {settings.bank_dir or BANK_DIR}: {exc}", file=sys.stderr)
        return 2
    FileKeyStore(settings.keys_dir, settings.signing_alg).ensure()  # main() reports a KeyStoreError
    migrate(settings)
    try:
        settings = _with_fixed_identity(settings)
    except issuer_service.IdentityMismatch as exc:
        print(f"skillproof: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_format, settings.log_level)
    print(f"Skillproof serving on http://{args.host}:{settings.port} (issuer {settings.issuer_did})", flush=True)
    uvicorn.run(
        create_app(settings, freeze_heap=True), host=args.host, port=settings.port, log_config=None,
        log_level=settings.log_level,
        # Header and body read timeouts uvicorn lacks; X-Forwarded-For is read by the app (SKILLPROOF_TRUSTED_PROXIES).
        http=timed_protocol(settings.header_timeout_seconds, settings.body_timeout_seconds), proxy_headers=False,
        # No `server: uvicorn` on every response: it names the stack to scanners, and uvicorn checks each header.
        server_header=False,
        # SIGTERM: stop accepting, let in-flight requests finish, and exit within 10 s whatever they do.
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from app.keys.keystore import FileKeyStore

    settings = _settings(args)
    store = FileKeyStore(settings.keys_dir, settings.signing_alg)
    try:
        if args.keys_command == "rotate":
            store.ensure(strict=False)
            key = store.rotate(args.alg, purpose=args.purpose)
            what = "signing key" if key.purpose == "jwt" else "data integrity key"
            print(f"new {what} {key.kid} ({key.alg}); older keys stay published")
        elif args.keys_command == "reload":
            store.signal_reload()
            print(f"running servers using {settings.keys_dir} re-read their key files within a second "
                  "(SIGHUP or POST /v1/admin/keys/reload reloads one process at once)")
        elif args.keys_command == "withdraw":
            if not args.kid:
                print("skillproof: keys withdraw needs the kid", file=sys.stderr)
                return 2
            store.ensure(strict=False)
            store.withdraw(args.kid)
            print(f"key {args.kid} withdrawn: no longer published, its credentials no longer verify")
        else:
            store.ensure(strict=False)
            actives = {store.active().kid, store.data_integrity_key().kid}
            for key in [*store.all_keys(), *store.data_integrity_keys()]:
                print(f"{key.kid}  {key.alg}  {key.purpose}  {'active' if key.kid in actives else 'retired'}")
    except OSError as exc:
        print(f"skillproof: keys directory {settings.keys_dir}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    return 0


def _with_fixed_identity(settings: Settings) -> Settings:
    """The settings under the stored issuer identity (stored now on a first start); IdentityMismatch if changed."""
    from app.db import Database
    from app.issuer import service as issuer_service

    database = Database(settings.sqlalchemy_url)
    try:
        identity = issuer_service.adopt_once(database.sessions, settings, dt.datetime.now(dt.UTC))
    finally:
        database.dispose()
    return settings.with_public_url(identity.public_url)


def cmd_issuer(args: argparse.Namespace) -> int:
    from app.db import Database
    from app.issuer import service as issuer_service

    settings = _settings(args)
    migrate(settings)
    database = Database(settings.sqlalchemy_url)
    before: issuer_service.Identity | None
    try:
        with database.sessions.begin() as session:
            if args.issuer_command == "show":
                identity = issuer_service.read(session)
                if identity is None:
                    print("no issuer identity yet: the first `skillproof serve` fixes it "
                          f"(SKILLPROOF_PUBLIC_URL, else {settings.base_url})")
                    return 0
                before, after = identity, identity
            else:
                if not args.url:
                    print("skillproof: issuer set-url needs the new public URL", file=sys.stderr)
                    return 2
                try:
                    before, after = issuer_service.set_url(session, args.url, dt.datetime.now(dt.UTC))
                except ValueError as exc:
                    print(f"skillproof: {' '.join(str(exc).split())}", file=sys.stderr)
                    return 2
    finally:
        database.dispose()
    print(f"issuer {after.did} at {after.public_url}")
    for url, did in after.former:
        print(f"former {did} at {url}")
    if args.issuer_command == "set-url":
        if before is None or before.public_url == after.public_url:
            print("nothing else changes: no credential was signed under another identity")
        else:
            print(
                f"New credentials name {after.did}. Credentials issued before keep naming {before.did} and its "
                f"status list URLs under {before.public_url}: this service keeps verifying them (it trusts its "
                f"former DIDs for its own keys); anyone else verifies them only while {before.did} still resolves "
                f"to our keys, i.e. while {before.public_url}/.well-known/did.json serves them. Restart every "
                f"replica with SKILLPROOF_PUBLIC_URL={after.public_url} (or unset)."
            )
    return 0


def cmd_admin(args: argparse.Namespace) -> int:
    settings = _settings(args)
    migrate(settings)
    raw_key = _create_admin_key(settings.sqlalchemy_url, args.label)
    print(raw_key)
    return 0


def _create_admin_key(url: str, label: str) -> str:
    """A new admin key in the local database, with its audit record; returns the raw key."""
    from app.audit import service as audit_service
    from app.auth import service as auth_service
    from app.db import Database

    database = Database(url)
    now = dt.datetime.now(dt.UTC)
    try:
        with database.sessions.begin() as session:
            row, raw_key = auth_service.create_key(session, role="admin", label=label, now=now)
            audit_service.record(
                session, actor=audit_service.CLI_ACTOR, action="api_key.create", target_type="api_key",
                target_id=row.id, now=now, details={"role": "admin", "label": label},
            )
    finally:
        database.dispose()
    return raw_key


def cmd_regrade(args: argparse.Namespace) -> int:
    if args.record:
        return _check_records(args.record)
    from app.assessments import regrade
    from app.db import Database
    from app.errors import NotFound

    if not args.check and not args.export:
        print("skillproof: regrade runs through the API (POST .../items/{id}/void); use --check to prove grades, "
              "--export ATTEMPT_ID to write one grade's record, --record FILE to re-grade one", file=sys.stderr)
        return 2
    settings = _settings(args)
    require_migrated(settings.sqlalchemy_url)
    database = Database(settings.sqlalchemy_url)
    try:
        with database.sessions() as session:
            if args.export:
                try:
                    record = regrade.grading_record(session, args.export)
                except NotFound as exc:
                    print(f"skillproof: {exc.detail}", file=sys.stderr)
                    return 1
                sys.stdout.write(json.dumps(record, indent=1, sort_keys=True) + "\n")
                return 0
            report = regrade.check_all(session)
    finally:
        database.dispose()
    return _report(report, "graded attempts")


def _check_records(paths: list[str]) -> int:
    """Re-grade grading records (files, or - for stdin) with no database: what anyone holding one can run."""
    from app.assessments import records

    reports = []
    for path in paths:
        try:
            text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
            record = json.loads(text)
        except (OSError, ValueError) as exc:
            print(f"skillproof: cannot read {path}: {exc}", file=sys.stderr)
            return 2
        reports.append(records.check_record(record) if isinstance(record, dict) else records.CheckReport(
            checked=0, mismatches=[f"{path}: not a grading record"]))
    merged = records.CheckReport(
        checked=sum(report.checked for report in reports),
        mismatches=[line for report in reports for line in report.mismatches],
        engines=[line for report in reports for line in report.engines],
    )
    return _report(merged, "grading records")


def _report(report: CheckReport, what: str) -> int:
    for line in report.mismatches:
        print(f"MISMATCH {line}")
    for line in report.engines:
        print(f"NOTE {line}")
    print(f"{report.checked} {what} re-graded, {len(report.mismatches)} differ from the stored grade")
    return 0 if not report.mismatches else 1


def cmd_calibrate(args: argparse.Namespace) -> int:
    import datetime as dt

    from app.calibration import service as calibration
    from app.db import Database

    settings = _settings(args)
    require_migrated(settings.sqlalchemy_url)
    database = Database(settings.sqlalchemy_url)
    try:
        with database.sessions.begin() as session:
            reports = calibration.run(session, settings, dt.datetime.now(dt.UTC), args.skill, args.level)
    finally:
        database.dispose()
    for report in reports:
        outcome = report.error or (f"{report.calibrated} calibrated on {report.scale} "
                                   f"(ability SD {report.ability_sd:.2f} logits, {report.persons} persons)"
                                   if report.calibrated else "none calibrated yet")
        print(f"{report.skill}/{report.level}: {report.items} items with first-attempt responses, "
              f"{len(report.quarantined)} quarantined, {outcome}")
    if not reports:
        print("no graded first attempts yet")
    return 0


def _is_file(source: str) -> bool:
    try:
        return Path(source).is_file()
    except (OSError, ValueError):  # a JWS is too long or odd for a file name
        return False


def _fetch(url: str, api_key: str | None) -> bytes:
    """The body at an http(s) URL (a JWS, a credential, the JSON of GET /v1/credentials/{id}, or a baked badge)."""
    import httpx

    headers = {"Accept": "application/json, application/vc+jwt, application/vc, image/png;q=0.5, image/svg+xml;q=0.5, "
                         "text/plain;q=0.5"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    with httpx.stream("GET", url, headers=headers, timeout=30, follow_redirects=True) as response:
        if response.status_code != 200:
            response.read()
            raise CliError(f"GET {url} answered {response.status_code}: {response.text[:200].strip()}")
        body = b""
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > MAX_FETCH_BYTES:
                raise CliError(f"GET {url}: the body is over {MAX_FETCH_BYTES} bytes")
        return body


def _baked_or_text(data: bytes, origin: str, *, lenient: bool = False) -> str:
    """The credential text baked in a PNG or SVG badge (OB 3.0 §5.3), else the bytes as UTF-8 text."""
    from app.credentials import baking

    if baking.kind_of(data) is not None:
        try:
            return baking.extract_text(data)
        except baking.BakedBadgeError as exc:
            raise CliError(f"{origin}: {exc.detail}") from None
    try:
        return data.decode("utf-8-sig", errors="replace" if lenient else "strict")
    except UnicodeDecodeError:
        raise CliError(f"{origin} is not a text file (a JWS or JSON) nor a baked PNG or SVG badge") from None


def _read_file(source: str) -> bytes:
    from app.credentials import baking

    path = Path(source)
    if path.stat().st_size > baking.MAX_IMAGE_BYTES:
        raise CliError(f"{source} is over {baking.MAX_IMAGE_BYTES} bytes: not a credential or a badge")
    return path.read_bytes()


def _read_credential(source: str, api_key: str | None) -> str:
    """The text of what to verify: stdin (-), a URL, a file (a baked PNG or SVG badge too), or the argument itself."""
    if source == "-":
        return _baked_or_text(sys.stdin.buffer.read(), "standard input")
    if source.startswith(("http://", "https://")):
        return _baked_or_text(_fetch(source, api_key), source[:80], lenient=True)
    if _is_file(source):
        return _baked_or_text(_read_file(source), source[:80])
    text = source.strip()
    if COMPACT_JWS.match(text) or text.startswith("{"):
        return text
    raise CliError(f"{source[:80]}: no such file, and not a compact JWS, JSON or http(s) URL")


def verify_request_body(text: str, origin: str) -> bytes:
    """The body of POST /v1/credentials/verify for a JWS, a secured credential, or a GET /v1/credentials/{id} JSON."""
    text = text.strip().lstrip("\ufeff")
    if not text.startswith("{"):
        if not COMPACT_JWS.match(text):
            # A page (e.g. a share page) that shows the credential's JWS: verify the one it holds.
            found = set(EMBEDDED_JWS.findall(text))
            if len(found) != 1:
                raise CliError(f"{origin} holds neither a compact JWS nor JSON")
            text = found.pop()
        return json.dumps({"verifiableCredential": text}).encode()
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise CliError(f"{origin} is not valid JSON ({exc})") from None
    if not isinstance(document, dict):
        raise CliError(f"{origin} holds JSON that is not an object")
    if isinstance(document.get("jwt"), str):
        # What GET /v1/credentials/{id} returns (the file the README walkthrough saves): verify its JWS.
        return json.dumps({"verifiableCredential": document["jwt"]}).encode()
    if "verifiableCredential" in document:
        return text.encode()  # already a verify request
    if "proof" not in document and isinstance(document.get("credential"), dict):
        raise CliError(f"{origin} holds a credential without a proof or a jwt: nothing to verify")
    # The credential's own text, unparsed, so the service still sees duplicate keys and judges them.
    return b'{"verifiableCredential":' + text.encode() + b"}"


def cmd_verify(args: argparse.Namespace) -> int:
    import httpx

    origin = "standard input" if args.credential == "-" else args.credential[:80]
    body = verify_request_body(_read_credential(args.credential, args.api_key), origin)
    endpoint = f"{args.url.rstrip('/')}/v1/credentials/verify"
    response = httpx.post(endpoint, content=body, headers={"Content-Type": "application/json"}, timeout=30)
    try:
        result = response.json()
    except ValueError:
        raise CliError(
            f"{endpoint} answered {response.status_code} without JSON: is --url a Skillproof service?"
        ) from None
    if response.status_code != 200 or not isinstance(result, dict) or "verified" not in result:
        detail = result.get("detail", "") if isinstance(result, dict) else ""
        raise CliError(f"{endpoint} refused the request ({response.status_code}): {detail}".rstrip(": "))
    print(json.dumps(result, indent=2))
    if result["verified"]:
        return 0
    reasons = "; ".join(f"{error.get('code')}: {error.get('message')}" for error in result.get("errors", []))
    print(f"skillproof: NOT verified: {reasons}", file=sys.stderr)
    return 1


def cmd_demo(args: argparse.Namespace) -> int:
    from app.demo import run_demo

    admin_key = args.admin_key or Settings().admin_api_key
    if not admin_key:
        settings = Settings()
        require_migrated(settings.sqlalchemy_url)
        admin_key = _create_admin_key(settings.sqlalchemy_url, "demo")
    return run_demo(args.url.rstrip("/"), admin_key)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="skillproof", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="migrate, create keys if missing, and serve the API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=None)
    serve.set_defaults(handler=cmd_serve)

    migrate_parser = commands.add_parser("migrate", help="bring the database schema up to date")
    migrate_parser.set_defaults(handler=cmd_migrate)

    keys = commands.add_parser("keys", help="list, rotate, withdraw or reload signing keys")
    keys.add_argument("keys_command", choices=["list", "rotate", "withdraw", "reload"])
    keys.add_argument("kid", nargs="?", help="the key to withdraw")
    keys.add_argument("--alg", choices=["EdDSA", "ES256"], default=None,
                      help="algorithm of the new key (default SKILLPROOF_SIGNING_ALG; data integrity: EdDSA)")
    keys.add_argument("--purpose", choices=["jwt", "data-integrity"], default="jwt",
                      help="rotate the vc+jwt signing key (default) or the Data Integrity (Ed25519) key")
    keys.set_defaults(handler=cmd_keys)

    issuer = commands.add_parser("issuer", help="show or change the issuer identity (public URL and DID)")
    issuer.add_argument("issuer_command", choices=["show", "set-url"])
    issuer.add_argument("url", nargs="?", help="the new public URL (set-url)")
    issuer.set_defaults(handler=cmd_issuer)

    admin = commands.add_parser("admin", help="issuer administration")
    admin.add_argument("admin_command", choices=["create-key"])
    admin.add_argument("--label", default="admin")
    admin.set_defaults(handler=cmd_admin)

    regrade_parser = commands.add_parser("regrade", help="re-run grading over every stored attempt")
    regrade_parser.add_argument("--check", action="store_true", help="prove the stored grades are reproduced exactly")
    regrade_parser.add_argument("--export", metavar="ATTEMPT_ID",
                                help="print one graded attempt's grading record (JSON) for anyone to re-run")
    regrade_parser.add_argument("--record", metavar="FILE", nargs="+",
                                help="re-grade grading records without a database ('-' reads stdin)")
    regrade_parser.set_defaults(handler=cmd_regrade)

    calibrate = commands.add_parser(
        "calibrate", help="item statistics from first attempts, automatic quarantine and the Rasch fit"
    )
    calibrate.add_argument("--skill", help="only this skill")
    calibrate.add_argument("--level", help="only this level")
    calibrate.set_defaults(handler=cmd_calibrate)

    verify = commands.add_parser("verify", help="verify a credential through a service's verify endpoint")
    verify.add_argument(
        "credential",
        help="a compact JWS; a file holding a JWS, a credential with an embedded proof, the JSON of "
             "GET /v1/credentials/{id}, or a baked badge (PNG or SVG, Open Badges 3.0 §5.3); - for standard input; "
             "or an http(s) URL to fetch one of these from",
    )
    verify.add_argument("--url", default="http://127.0.0.1:8000", help="the Skillproof service that verifies")
    verify.add_argument("--api-key", default=None, help="bearer key sent when fetching an http(s) URL")
    verify.set_defaults(handler=cmd_verify)

    demo = commands.add_parser("demo", help="run the whole flow against a running service")
    demo.add_argument("--url", default="http://127.0.0.1:8000")
    demo.add_argument("--admin-key", default=None, help="default: SKILLPROOF_ADMIN_API_KEY, else a new local key")
    demo.set_defaults(handler=cmd_demo)
    return parser


def _error_line(exc: BaseException) -> tuple[str, int]:
    """One line for an error, and the exit status; None of it holds a password or a traceback."""
    import httpx
    from alembic.util import CommandError
    from pydantic import ValidationError
    from pydantic_settings import SettingsError
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    from app.keys.keystore import KeyStoreError

    if isinstance(exc, CliError | KeyStoreError):
        return str(exc), 2
    if isinstance(exc, ValidationError):
        lines = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"])
            lines.append(f"SKILLPROOF_{field.upper()}: {error['msg']}")
        return "; ".join(lines), 2
    if isinstance(exc, SettingsError):
        return f"configuration: {exc}", 2
    if isinstance(exc, DBAPIError):
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        url = os.environ.get("SKILLPROOF_DATABASE_URL") or f"sqlite:///{DEFAULT_DATA_DIR / 'skillproof.db'}"
        return f"database {_redacted(url)}: {reason}", 2
    if isinstance(exc, SQLAlchemyError):
        return f"database: {str(exc).splitlines()[0]}", 2
    if isinstance(exc, CommandError):
        return f"migration: {exc}", 2
    if isinstance(exc, httpx.HTTPError):
        where = ""
        with contextlib.suppress(RuntimeError):  # an error raised before the request was built has none
            where = f" {exc.request.method} {exc.request.url}"
        return f"cannot reach the service{where}: {exc or type(exc).__name__}", 2
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}{': ' + str(exc.filename) if exc.filename else ''}", 2
    return f"unexpected error ({type(exc).__name__}): {exc}", 1


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        print("skillproof: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        line, status = _error_line(exc)
        print(f"skillproof: {line}", file=sys.stderr)
        return status


if __name__ == "__main__":
    raise SystemExit(main())
