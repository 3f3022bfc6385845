"""Rate limits, /ready and /metrics, through the real app."""

from __future__ import annotations

import gc
import io
import json
import logging
import random
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from app.config import Settings
from app.main import GC_YOUNG_THRESHOLD, create_app
from tests.conftest import PUBLIC_URL, alembic_config
from tests.factories import ADMIN, bearer, clear_of_a_minute_boundary, earn_credential, new_learner

MALFORMED = {"verifiableCredential": "not-a-jws"}


def _client_for(settings: Settings, ip: str = "203.0.113.9", **changes: Any) -> TestClient:
    clear_of_a_minute_boundary()  # the limits below are counted to the request
    changed = Settings(**{**settings.model_dump(), **changes})
    return TestClient(create_app(changed), base_url=PUBLIC_URL, client=(ip, 50000))


@pytest.fixture
def limited(settings: Settings) -> Iterator[TestClient]:
    """The app with small limits, so tests reach them quickly."""
    with _client_for(
        settings, rate_limit_verify="5/minute", rate_limit_public="5/minute", rate_limit_failed_auth="3/minute",
        rate_limit_authenticated="4/minute",
    ) as client:
        yield client


def _assert_rate_limited(response: Any) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["error"] == "rate_limited"
    assert 1 <= int(response.headers["retry-after"]) <= 60


# -- rate limits -------------------------------------------------------------------------------------------


def test_verify_is_limited_per_client_ip(limited: TestClient) -> None:
    refused_before = _value(_samples(limited), "skillproof_rate_limited_total", group="verify")
    for _ in range(5):
        assert limited.post("/v1/credentials/verify", json=MALFORMED).status_code == 200
    _assert_rate_limited(limited.post("/v1/credentials/verify", json=MALFORMED))
    assert _value(_samples(limited), "skillproof_rate_limited_total", group="verify") == refused_before + 1
    # The probes and the other public group are not affected.
    assert limited.get("/health").status_code == 200
    assert limited.get("/.well-known/jwks.json").status_code == 200


def test_refusals_are_counted_under_the_route_template(limited: TestClient) -> None:
    labels = {"method": "GET", "route": "/v1/status-lists/{list_id}", "status": "429"}
    scraper = TestClient(limited.app, base_url=PUBLIC_URL, client=("192.0.2.200", 50000))
    before = _value(_samples(scraper), "skillproof_http_requests_total", **labels)
    for _ in range(6):
        limited.get("/v1/status-lists/some-list")
    assert _value(_samples(scraper), "skillproof_http_requests_total", **labels) == before + 1


def test_ipv6_clients_are_limited_by_their_64(settings: Settings) -> None:
    with _client_for(settings, ip="2001:db8:1:2::10", rate_limit_verify="2/minute") as first:
        other_host_same_64 = TestClient(first.app, base_url=PUBLIC_URL, client=("2001:db8:1:2::99", 50000))
        other_64 = TestClient(first.app, base_url=PUBLIC_URL, client=("2001:db8:1:3::10", 50000))
        assert first.post("/v1/credentials/verify", json=MALFORMED).status_code == 200
        assert other_host_same_64.post("/v1/credentials/verify", json=MALFORMED).status_code == 200
        _assert_rate_limited(first.post("/v1/credentials/verify", json=MALFORMED))
        _assert_rate_limited(other_host_same_64.post("/v1/credentials/verify", json=MALFORMED))
        assert other_64.post("/v1/credentials/verify", json=MALFORMED).status_code == 200


def test_status_lists_and_key_documents_are_limited(limited: TestClient) -> None:
    for _ in range(5):
        assert limited.get("/v1/status-lists/nope").status_code == 404
    _assert_rate_limited(limited.get("/.well-known/did.json"))
    _assert_rate_limited(limited.get("/v1/status-lists/nope"))


def test_default_limits_let_a_script_send_200_verifications(settings: Settings) -> None:
    with _client_for(settings) as client:
        statuses = {client.post("/v1/credentials/verify", json=MALFORMED).status_code for _ in range(200)}
        statuses |= {client.get("/.well-known/jwks.json").status_code for _ in range(200)}
    assert statuses == {200}


def test_default_limits_let_a_class_behind_one_address_work(settings: Settings) -> None:
    """60 learners behind one NAT address, each starting, reading and listing: no 429."""
    with _client_for(settings) as client:
        learners = [new_learner(client) for _ in range(60)]
        statuses = {
            client.get(path, headers=learner["headers"]).status_code
            for learner in learners for path in ("/v1/learners/me", "/v1/assessments", "/v1/learners/me/credentials")
        }
    assert statuses == {200}


def test_failed_authentication_locks_out_unknown_keys_from_that_ip(limited: TestClient) -> None:
    learner = new_learner(limited)  # its key has authenticated from this IP before the lockout
    assert limited.get("/v1/learners/me", headers=learner["headers"]).status_code == 200
    for attempt in range(3):
        assert limited.get("/v1/skills", headers=bearer(f"sk_wrong-{attempt}")).status_code == 401
    _assert_rate_limited(limited.get("/v1/skills", headers=bearer("sk_wrong-again")))
    _assert_rate_limited(limited.get("/v1/skills"))  # no key at all
    # A key that works keeps working, public endpoints keep answering, and so do the probes.
    assert limited.get("/v1/learners/me", headers=learner["headers"]).status_code == 200
    assert limited.post("/v1/credentials/verify", json=MALFORMED).status_code == 200
    assert limited.get("/health").status_code == 200


def test_failed_authentication_of_one_ip_does_not_lock_out_another(settings: Settings) -> None:
    changes = {"rate_limit_failed_auth": "2/minute"}
    with _client_for(settings, ip="198.51.100.1", **changes) as attacker:
        for _ in range(2):
            attacker.get("/v1/skills", headers=bearer("sk_wrong"))
        _assert_rate_limited(attacker.get("/v1/skills", headers=bearer("sk_wrong")))
        # Same app (same limiter), another client address.
        other = TestClient(attacker.app, base_url=PUBLIC_URL, client=("198.51.100.2", 50000))
        assert other.get("/v1/skills", headers=ADMIN).status_code == 200


def test_authenticated_traffic_is_limited_per_principal(limited: TestClient) -> None:
    first, second = new_learner(limited), new_learner(limited)
    statuses = [limited.get("/v1/learners/me", headers=first["headers"]).status_code for _ in range(6)]
    assert statuses[:5] == [200] * 5  # the first request makes the key known, the next 4 count
    _assert_rate_limited(limited.get("/v1/learners/me", headers=first["headers"]))
    assert "API key" in limited.get("/v1/learners/me", headers=first["headers"]).json()["detail"]
    assert limited.get("/v1/learners/me", headers=second["headers"]).status_code == 200


def test_x_forwarded_for_is_believed_only_from_trusted_proxies(settings: Settings) -> None:
    changes = {"rate_limit_verify": "2/minute"}
    with _client_for(settings, ip="10.0.0.5", trusted_proxies="10.0.0.0/8", **changes) as proxied:
        for _ in range(2):
            assert proxied.post("/v1/credentials/verify", json=MALFORMED,
                                headers={"X-Forwarded-For": "192.0.2.1"}).status_code == 200
        _assert_rate_limited(proxied.post("/v1/credentials/verify", json=MALFORMED,
                                          headers={"X-Forwarded-For": "192.0.2.1"}))
        # Another client behind the proxy; and a client-supplied left-most entry does not hide the real one.
        assert proxied.post("/v1/credentials/verify", json=MALFORMED,
                            headers={"X-Forwarded-For": "192.0.2.2"}).status_code == 200
        _assert_rate_limited(proxied.post("/v1/credentials/verify", json=MALFORMED,
                                          headers={"X-Forwarded-For": "192.0.2.77, 192.0.2.1"}))
    with _client_for(settings, ip="203.0.113.50", **changes) as direct:
        for index in range(2):
            direct.post("/v1/credentials/verify", json=MALFORMED, headers={"X-Forwarded-For": f"192.0.2.{index}"})
        # Not from a trusted proxy: a forged X-Forwarded-For does not buy a fresh budget.
        _assert_rate_limited(direct.post("/v1/credentials/verify", json=MALFORMED,
                                         headers={"X-Forwarded-For": "192.0.2.99"}))


def test_rate_limits_off_means_no_limit(settings: Settings) -> None:
    with _client_for(settings, rate_limits="off", rate_limit_verify="1/minute",
                     rate_limit_failed_auth="1/minute") as client:
        assert {client.post("/v1/credentials/verify", json=MALFORMED).status_code for _ in range(5)} == {200}
        assert {client.get("/v1/skills", headers=bearer("sk_wrong")).status_code for _ in range(5)} == {401}


def test_bad_rate_limit_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="rate limit"):
        Settings(rate_limit_verify="lots")
    with pytest.raises(ValueError, match="RATE_LIMIT_STORAGE"):
        Settings(rate_limit_storage="memcached://127.0.0.1:11211")
    with pytest.raises(ValueError, match="TRUSTED_PROXIES"):
        Settings(trusted_proxies="10.0.0.0/8, proxy.example")


def _redis_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not _redis_reachable(), reason="no Redis server at 127.0.0.1:6379")
def test_redis_storage_shares_limits_between_replicas(settings: Settings) -> None:
    """Two apps (two replicas) on one Redis: the budget of a client is spent across both."""
    ip = f"198.18.{random.randrange(256)}.{random.randrange(1, 255)}"  # fresh in Redis for this run
    changes = {"rate_limit_storage": "redis://127.0.0.1:6379/0", "rate_limit_verify": "4/minute"}
    with _client_for(settings, ip=ip, **changes) as first, _client_for(settings, ip=ip, **changes) as second:
        for client in (first, second, first, second):
            assert client.post("/v1/credentials/verify", json=MALFORMED).status_code == 200
        _assert_rate_limited(first.post("/v1/credentials/verify", json=MALFORMED))
        _assert_rate_limited(second.post("/v1/credentials/verify", json=MALFORMED))


def test_unreachable_rate_limit_storage_lets_requests_through(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    with _client_for(settings, rate_limit_storage=f"redis://127.0.0.1:{closed_port}/0") as client:
        started = time.monotonic()
        for _ in range(3):
            assert client.post("/v1/credentials/verify", json=MALFORMED).status_code == 200
            assert client.get("/v1/skills", headers=ADMIN).status_code == 200
        assert time.monotonic() - started < 10
    warnings = [record for record in caplog.records if "rate limit storage unavailable" in record.getMessage()]
    assert len(warnings) == 1


def test_openapi_documents_429_where_it_can_happen(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path, method in (("/v1/credentials/verify", "post"), ("/v1/status-lists/{list_id}", "get"),
                         ("/.well-known/jwks.json", "get"), ("/v1/skills", "get")):
        assert "429" in paths[path][method]["responses"], path
    assert "429" not in paths["/health"]["get"]["responses"]
    assert "429" not in paths["/ready"]["get"]["responses"]


# -- /ready ------------------------------------------------------------------------------------------------


def test_ready_when_database_migrations_and_key_are_fine(client: TestClient) -> None:
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready", "checks": {"database": "ok", "migrations": "ok", "signing_key": "ok"}
    }


def test_not_ready_when_the_database_is_behind_the_migrations(settings: Settings, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(alembic_config(url), "0001_initial")
    with _client_for(settings, database_url=url, admin_api_key=None) as client:
        response = client.get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["error"] == "not_ready" and body["status"] == "not_ready"
    assert body["checks"]["database"] == "ok" and body["checks"]["signing_key"] == "ok"
    assert "0001_initial" in body["checks"]["migrations"] and "migrations" in body["detail"]


def test_not_ready_when_the_database_is_unreachable(settings: Settings, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'missing-dir' / 'skillproof.db'}"
    with _client_for(settings, database_url=url, admin_api_key=None) as client:
        response = client.get("/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "unreachable"
    assert response.json()["checks"]["issuer_identity"].startswith("not read")  # never serves under a guessed DID
    assert response.headers["retry-after"]


# -- /metrics ----------------------------------------------------------------------------------------------


def _samples(client: TestClient, **headers: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text) for sample in family.samples
    }


def _value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_requests_by_route_template_and_status(client: TestClient) -> None:
    before = _samples(client)
    client.get("/v1/status-lists/does-not-exist")
    client.get("/no/such/path")
    after = _samples(client)
    route = {"method": "GET", "route": "/v1/status-lists/{list_id}", "status": "404"}
    assert _value(after, "skillproof_http_requests_total", **route) == (
        _value(before, "skillproof_http_requests_total", **route) + 1
    )
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert _value(after, "skillproof_http_requests_total", **unmatched) >= 1
    latency = {"method": "GET", "route": "/v1/status-lists/{list_id}"}
    assert _value(after, "skillproof_http_request_duration_seconds_count", **latency) >= 1
    assert ("skillproof_db_pool_connections_in_use", ()) in after
    assert not any("does-not-exist" in str(key) for key in after)


def test_metrics_count_credentials_verifications_and_jobs(admin: TestClient) -> None:
    before = _samples(admin)
    earned = earn_credential(admin)
    jws = earned["credential"]["jwt"]
    assert admin.post("/v1/credentials/verify", json={"verifiableCredential": jws}).json()["verified"]
    admin.post("/v1/credentials/verify", json=MALFORMED)
    assert admin.post(f"/v1/credentials/{earned['grade']['credential_id']}/revoke", json={}).status_code == 200
    after = _samples(admin)
    for name in ("skillproof_credentials_issued_total", "skillproof_credentials_revoked_total"):
        assert _value(after, name) == _value(before, name) + 1, name
    # One message entry per credential: value bit 1 is the suspension the gauge counts.
    assert admin.post(f"/v1/credentials/{earned['grade']['credential_id']}/suspend", json={}).status_code == 409
    other = earn_credential(admin)["grade"]["credential_id"]
    assert admin.post(f"/v1/credentials/{other}/suspend", json={}).status_code == 200
    suspended = _samples(admin)
    for name, more in (("skillproof_credentials_suspended", 1), ("skillproof_credentials_revoked_total", 0)):
        assert _value(suspended, name) == _value(after, name) + more, name
    for outcome in ("verified", "malformed"):
        assert _value(after, "skillproof_verifications_total", outcome=outcome) == (
            _value(before, "skillproof_verifications_total", outcome=outcome) + 1
        )
    assert ("skillproof_generation_jobs", (("status", "queued"),)) in after


def test_metrics_token_restricts_metrics(settings: Settings) -> None:
    with _client_for(settings, metrics_token="metrics-secret-123") as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers=bearer("wrong")).json()["error"] == "unauthorized"
        assert _samples(client, Authorization="Bearer metrics-secret-123")


def test_the_server_app_freezes_its_startup_heap_and_thaws_it_on_shutdown(settings: Settings) -> None:
    """`skillproof serve` builds the app with freeze_heap: the cyclic collector then skips the startup objects."""
    gc.unfreeze()
    thresholds = gc.get_threshold()
    with TestClient(create_app(settings, freeze_heap=True)) as client:
        assert gc.get_freeze_count() > 10_000
        assert gc.get_threshold()[0] == GC_YOUNG_THRESHOLD
        assert client.get("/health").status_code == 200
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == thresholds
    with TestClient(create_app(settings)):
        assert gc.get_freeze_count() == 0


def test_the_direct_access_line_is_the_line_logging_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """write_access_line skips the logging machinery only when the JSON handler alone would see the line."""
    from app.ops import logging as ops_logging

    root = logging.getLogger()
    saved = root.handlers[:], root.level, ops_logging._json_handler
    logger = logging.getLogger("skillproof.access")
    fields = {"method": "POST", "route": "/v1/credentials/verify", "status": 200, "duration_ms": 0.42,
              "client": "203.0.113.9"}
    token = ops_logging.request_id_var.set("trace-7")
    try:
        ops_logging.configure_logging("json", "info")
        stream = io.StringIO()
        root.handlers[0].stream = stream  # type: ignore[attr-defined]
        with monkeypatch.context() as patched:
            patched.setattr(logger, "makeRecord", lambda *args, **kwargs: pytest.fail("took the logging path"))
            ops_logging.write_access_line(logger, "POST /v1/credentials/verify 200", fields)
        logger.info("POST /v1/credentials/verify 200", extra=fields)
        direct, logged = (json.loads(line) for line in stream.getvalue().splitlines())
        assert direct.pop("time") and logged.pop("time")
        assert direct == logged == {"level": "info", "logger": "skillproof.access", "request_id": "trace-7",
                                    "message": "POST /v1/credentials/verify 200", **fields}

        captured: list[logging.LogRecord] = []
        capture = logging.Handler()
        capture.emit = captured.append  # type: ignore[method-assign, assignment]
        root.addHandler(capture)  # another handler (pytest's caplog, say) must get its record
        ops_logging.write_access_line(logger, "GET /v1/skills 401", {**fields, "status": 401})
        assert [record.getMessage() for record in captured] == ["GET /v1/skills 401"]
        assert json.loads(stream.getvalue().splitlines()[-1])["status"] == 401
    finally:
        ops_logging.request_id_var.reset(token)
        root.handlers[:], ops_logging._json_handler = saved[0], saved[2]
        root.setLevel(saved[1])
