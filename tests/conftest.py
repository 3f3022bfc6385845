"""Fixtures: the real app over httpx, on a schema built by Alembic, on SQLite and (if set) PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.config import PROJECT_ROOT, Settings
from app.main import create_app

ADMIN_KEY = "test-admin-key-0123456789abcdef"
PUBLIC_URL = "https://skillproof.test"
POSTGRES_ENV = "SKILLPROOF_TEST_DATABASE_URL"
FIGURES_PROPERTY = "load and fault figures"  # a report's user property: tests/load's figures, for the summary
_FIGURES: list[str] = []


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Fails a `serial` test on an xdist worker: beside another test its timings would fail at random."""
    if item.get_closest_marker("serial") and hasattr(item.config, "workerinput"):
        pytest.fail("a serial test under xdist: run -n with -m 'not serial', and -m serial apart (`make pytest`)")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _FIGURES.extend(value for name, value in report.user_properties if name == FIGURES_PROPERTY)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _FIGURES:
        terminalreporter.section(FIGURES_PROPERTY)
        for line in _FIGURES:
            terminalreporter.write_line(line)


def alembic_config(url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["configure_logging"] = False
    return config


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"{POSTGRES_ENV} is not set: PostgreSQL tests need a server (CI sets it)")
    return url


def _create_postgres_database(server_url: str) -> tuple[str, str]:
    name = f"skillproof_test_{uuid.uuid4().hex[:12]}"
    admin_engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin_engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin_engine.dispose()
    return str(make_url(server_url).set(database=name).render_as_string(hide_password=False)), name


def _drop_postgres_database(server_url: str, name: str) -> None:
    admin_engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin_engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin_engine.dispose()


@contextmanager
def migrated_database(request: pytest.FixtureRequest, directory: Path) -> Iterator[str]:
    """A database of its own at the migration head, on the fixture's backend param; dropped afterwards."""
    if request.param == "sqlite":
        url = f"sqlite:///{directory / 'skillproof.db'}"
        command.upgrade(alembic_config(url), "head")
        yield url
        return
    server_url = request.getfixturevalue("postgres_server_url")
    url, name = _create_postgres_database(server_url)
    try:
        command.upgrade(alembic_config(url), "head")
        yield url
    finally:
        _drop_postgres_database(server_url, name)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database for this test session, dropped afterwards."""
    with migrated_database(request, tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keys")


@pytest.fixture(scope="session")
def settings(database_url: str, keys_dir: Path) -> Settings:
    return Settings(
        database_url=database_url,
        keys_dir=keys_dir,
        public_url=PUBLIC_URL,
        admin_api_key=ADMIN_KEY,
        # Most tests start many attempts on one assessment: no retake cap or cooldown unless a test asks for one
        # (tests/test_oracle.py runs with the product defaults).
        default_max_attempts=0,
        default_retake_cooldown_seconds=0,
        # Tests publish small assessments everywhere: the precision gate is off unless a test is about it
        # (tests/test_precision.py runs it with the product default).
        precision_gate="off",
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The real app through httpx (lifespan included)."""
    app = create_app(settings)
    with TestClient(app, base_url=PUBLIC_URL) as test_client:
        yield test_client


@pytest.fixture
def admin(client: TestClient) -> TestClient:
    client.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
    return client
