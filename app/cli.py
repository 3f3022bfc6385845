"""The `skillproof` console script: serve, migrate, keys, admin, verify, demo."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from app.config import PROJECT_ROOT, Settings

GRACEFUL_SHUTDOWN_SECONDS = 7


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

    if settings.sqlalchemy_url.startswith("sqlite:///"):
        Path(settings.sqlalchemy_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    config = Config(str(alembic_ini()))
    config.set_main_option("sqlalchemy.url", settings.sqlalchemy_url.replace("%", "%%"))
    command.upgrade(config, "head")


def cmd_migrate(args: argparse.Namespace) -> int:
    migrate(_settings(args))
    print("database is at the latest schema")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.keys.keystore import FileKeyStore, KeyStoreError
    from app.main import create_app

    settings = _settings(args)
    try:
        FileKeyStore(settings.keys_dir, settings.signing_alg).ensure()
    except KeyStoreError as exc:
        print(f"skillproof: {exc}", file=sys.stderr)
        return 2
    migrate(settings)
    print(f"Skillproof serving on http://{args.host}:{settings.port} (issuer {settings.issuer_did})")
    # SIGTERM: stop accepting, let in-flight requests finish, and exit within 10 s whatever they do.
    uvicorn.run(
        create_app(settings), host=args.host, port=settings.port, log_level="info",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from app.keys.keystore import FileKeyStore, KeyStoreError

    settings = _settings(args)
    store = FileKeyStore(settings.keys_dir, settings.signing_alg)
    try:
        if args.keys_command == "rotate":
            store.ensure()
            key = store.rotate(args.alg)
            print(f"new signing key {key.kid} ({key.alg}); older keys stay published")
        elif args.keys_command == "withdraw":
            if not args.kid:
                print("skillproof: keys withdraw needs the kid", file=sys.stderr)
                return 2
            store.ensure()
            store.withdraw(args.kid)
            print(f"key {args.kid} withdrawn: no longer published, its credentials no longer verify")
        else:
            store.ensure()
            active = store.active().kid
            for key in store.all_keys():
                print(f"{key.kid}  {key.alg}  {'active' if key.kid == active else 'retired'}")
    except KeyStoreError as exc:
        print(f"skillproof: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_admin(args: argparse.Namespace) -> int:
    from app.auth import service as auth_service
    from app.db import Database

    settings = _settings(args)
    migrate(settings)
    database = Database(settings.sqlalchemy_url)
    try:
        with database.sessions.begin() as session:
            _, raw_key = auth_service.create_key(
                session, role="admin", label=args.label, now=dt.datetime.now(dt.UTC)
            )
    finally:
        database.dispose()
    print(raw_key)
    return 0


def cmd_regrade(args: argparse.Namespace) -> int:
    from app.assessments import regrade
    from app.db import Database

    if not args.check:
        print("skillproof: regrade runs through the API (POST .../items/{id}/void); use --check to prove grades",
              file=sys.stderr)
        return 2
    settings = _settings(args)
    database = Database(settings.sqlalchemy_url)
    try:
        with database.sessions() as session:
            report = regrade.check_all(session)
    finally:
        database.dispose()
    for line in report.mismatches:
        print(f"MISMATCH {line}")
    print(f"{report.checked} graded attempts re-graded, {len(report.mismatches)} differ from the stored grade")
    return 0 if not report.mismatches else 1


def cmd_verify(args: argparse.Namespace) -> int:
    import httpx

    source = args.credential
    text = sys.stdin.read() if source == "-" else (Path(source).read_text() if Path(source).is_file() else source)
    text = text.strip()
    credential: Any = json.loads(text) if text.startswith("{") else text
    response = httpx.post(
        f"{args.url.rstrip('/')}/v1/credentials/verify", json={"verifiableCredential": credential}, timeout=30
    )
    print(json.dumps(response.json(), indent=2))
    return 0 if response.status_code == 200 and response.json().get("verified") else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from app.demo import run_demo

    admin_key = args.admin_key or Settings().admin_api_key
    if not admin_key:
        from app.auth import service as auth_service
        from app.db import Database

        settings = Settings()
        database = Database(settings.sqlalchemy_url)
        try:
            with database.sessions.begin() as session:
                _, admin_key = auth_service.create_key(
                    session, role="admin", label="demo", now=dt.datetime.now(dt.UTC)
                )
        finally:
            database.dispose()
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

    keys = commands.add_parser("keys", help="list, rotate or withdraw signing keys")
    keys.add_argument("keys_command", choices=["list", "rotate", "withdraw"])
    keys.add_argument("kid", nargs="?", help="the key to withdraw")
    keys.add_argument("--alg", choices=["EdDSA", "ES256"], default=None)
    keys.set_defaults(handler=cmd_keys)

    admin = commands.add_parser("admin", help="issuer administration")
    admin.add_argument("admin_command", choices=["create-key"])
    admin.add_argument("--label", default="admin")
    admin.set_defaults(handler=cmd_admin)

    regrade_parser = commands.add_parser("regrade", help="re-run grading over every stored attempt")
    regrade_parser.add_argument("--check", action="store_true", help="prove the stored grades are reproduced exactly")
    regrade_parser.set_defaults(handler=cmd_regrade)

    verify = commands.add_parser("verify", help="verify a credential through a service's verify endpoint")
    verify.add_argument("credential", help="a compact JWS, a JSON file, or - for standard input")
    verify.add_argument("--url", default="http://127.0.0.1:8000")
    verify.set_defaults(handler=cmd_verify)

    demo = commands.add_parser("demo", help="run the whole flow against a running service")
    demo.add_argument("--url", default="http://127.0.0.1:8000")
    demo.add_argument("--admin-key", default=None, help="default: SKILLPROOF_ADMIN_API_KEY, else a new local key")
    demo.set_defaults(handler=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    from pydantic import ValidationError

    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except ValidationError as exc:
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"])
            print(f"skillproof: SKILLPROOF_{field.upper()}: {error['msg']}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
