"""The SSRF-safe fetcher: every refused address form makes no connection at all; the limits hold."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from app.net.fetch import Fetcher, FetchFailed, FetchRefused, is_public_address, parse_allowed_addresses
from tests.tls_server import CONNECTS, Route, Running, ca_bundle, serve


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def bundle(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ca_bundle(ca, tmp_path_factory.mktemp("ca"))


@pytest.fixture
def server(ca: trustme.CA) -> Iterator[Running]:
    with serve(ca) as running:
        running.routes["/doc.json"] = Route(body=b'{"ok": true}', headers={"Content-Type": "application/json"})
        yield running


@pytest.fixture
def other(ca: trustme.CA) -> Iterator[Running]:
    """A second server that no fetch is allowed to reach: it counts the connections it accepts."""
    with serve(ca) as running:
        running.routes["/doc.json"] = Route(body=b"{}")
        yield running


def allowed_fetcher(server: Running, bundle: Path, **options: object) -> Fetcher:
    return Fetcher(allowed_addresses=parse_allowed_addresses(server.allow), ca_bundle=bundle, **options)  # type: ignore[arg-type]


def test_allowed_test_server_is_fetched_by_name(server: Running, bundle: Path) -> None:
    fetched = allowed_fetcher(server, bundle).get(server.url("/doc.json"))
    assert fetched.body == b'{"ok": true}'
    assert fetched.content_type == "application/json"
    # The certificate names only localhost: TLS completed, so SNI and the check used the name; Host too.
    assert server.server.hosts == [f"localhost:{server.port}"]


def test_the_test_ca_is_not_trusted_by_default(server: Running) -> None:
    fetcher = Fetcher(allowed_addresses=parse_allowed_addresses(server.allow))
    with pytest.raises(FetchFailed, match="certificate not trusted"):
        fetcher.get(server.url("/doc.json"))


# Each form reaches, or would reach, a non-public address; {port} is the counting server's port.
REFUSED_URLS = [
    "https://localhost:{port}/doc.json",  # a name that resolves to loopback
    "https://127.0.0.1:{port}/doc.json",
    "https://127.0.0.2:{port}/doc.json",
    "https://2130706433:{port}/doc.json",  # decimal 127.0.0.1
    "https://0x7f.1:{port}/doc.json",  # hex
    "https://0x7f000001:{port}/doc.json",
    "https://017700000001:{port}/doc.json",  # octal
    "https://0177.0.0.1:{port}/doc.json",
    "https://127.1:{port}/doc.json",  # short form
    "https://0:{port}/doc.json",
    "https://0.0.0.0:{port}/doc.json",  # unspecified
    "https://[::]:{port}/doc.json",
    "https://[::1]:{port}/doc.json",
    "https://[::ffff:127.0.0.1]:{port}/doc.json",  # IPv4-mapped
    "https://[::ffff:7f00:1]:{port}/doc.json",
    "https://[::127.0.0.1]:{port}/doc.json",  # IPv4-compatible
    "https://[64:ff9b::7f00:1]:{port}/doc.json",  # NAT64 of loopback
    "https://[64:ff9b::a00:1]:{port}/doc.json",  # NAT64 of 10.0.0.1
    "https://[64:ff9b:1::1]:{port}/doc.json",  # local-use NAT64
    "https://[2002:7f00:1::1]:{port}/doc.json",  # 6to4 of loopback
    "https://[2002:c0a8:101::1]:{port}/doc.json",  # 6to4 of 192.168.1.1
    "https://10.1.2.3:{port}/doc.json",  # private
    "https://172.16.0.1:{port}/doc.json",
    "https://192.168.0.1:{port}/doc.json",
    "https://100.64.0.1:{port}/doc.json",  # CGNAT
    "https://169.254.169.254:{port}/latest/meta-data/",  # cloud metadata
    "https://169.254.1.1:{port}/doc.json",  # link-local
    "https://[fe80::1]:{port}/doc.json",
    "https://[fd00:ec2::254]:{port}/doc.json",  # AWS IPv6 metadata
    "https://[fc00::1]:{port}/doc.json",  # unique local
    "https://224.0.0.1:{port}/doc.json",  # multicast
    "https://[ff02::1]:{port}/doc.json",
    "https://255.255.255.255:{port}/doc.json",  # broadcast
    "https://240.0.0.1:{port}/doc.json",  # reserved
    "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]:{port}/doc.json",  # Teredo
    "http://localhost:{port}/doc.json",  # http without the setting
    "http://example.com:{port}/doc.json",
    "file:///etc/passwd",
    "ftp://example.com/doc.json",
    "https://user:pw@localhost:{port}/doc.json",
]


@pytest.mark.parametrize("template", REFUSED_URLS)
def test_refused_with_zero_connections(template: str, other: Running, bundle: Path) -> None:
    fetcher = Fetcher(ca_bundle=bundle)
    with CONNECTS.record() as connects, pytest.raises(FetchRefused):
        fetcher.get(template.format(port=other.port))
    assert connects == []  # no socket.connect at all (PEP 578 audit hook)
    assert other.accepted == 0


def test_http_is_refused_even_to_an_allowed_address(ca: trustme.CA) -> None:
    with serve(None) as plain:
        plain.routes["/doc.json"] = Route(body=b"{}")
        fetcher = Fetcher(allowed_addresses=parse_allowed_addresses(plain.allow))
        with CONNECTS.record() as connects, pytest.raises(FetchRefused, match="ALLOW_HTTP_FETCH"):
            fetcher.get(plain.url("/doc.json"))
        assert connects == [] and plain.accepted == 0
        # The development setting lets it through.
        allowed = Fetcher(allowed_addresses=parse_allowed_addresses(plain.allow), allow_http=True)
        assert allowed.get(plain.url("/doc.json")).body == b"{}"
        assert plain.accepted == 1


def test_a_name_resolving_to_a_private_address_is_refused(other: Running, bundle: Path) -> None:
    for answer in (["10.0.0.5"], ["93.184.215.14", "127.0.0.1"], ["::ffff:169.254.169.254"]):
        fetcher = Fetcher(ca_bundle=bundle, resolver=lambda host, port, answer=answer: answer)
        with CONNECTS.record() as connects, pytest.raises(FetchRefused, match="non-public"):
            fetcher.get(f"https://issuer.example:{other.port}/doc.json")
        assert connects == []
    assert other.accepted == 0


def test_connection_is_pinned_to_the_checked_address(server: Running, bundle: Path) -> None:
    # DNS rebinding: the first answer passes the check, later answers would point elsewhere.
    answers = iter([["127.0.0.1"], ["10.0.0.9"], ["10.0.0.9"]])
    calls: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        calls.append(host)
        return next(answers)

    fetcher = allowed_fetcher(server, bundle, resolver=rebinding)
    with CONNECTS.record() as connects:
        assert fetcher.get(server.url("/doc.json")).body == b'{"ok": true}'
    assert calls == ["localhost"]  # resolved once; httpcore never resolved the name itself
    assert [address[0] for address in connects] == ["127.0.0.1"]


def test_redirect_to_loopback_is_refused_before_connecting(server: Running, other: Running, bundle: Path) -> None:
    server.routes["/redirect"] = Route(302, headers={"Location": other.url("/doc.json")})
    with pytest.raises(FetchRefused, match="non-public"):
        allowed_fetcher(server, bundle).get(server.url("/redirect"))
    assert server.accepted == 1 and other.accepted == 0
    server.routes["/odd"] = Route(301, headers={"Location": f"https://2130706433:{other.port}/doc.json"})
    with pytest.raises(FetchRefused, match="unusual form"):
        allowed_fetcher(server, bundle).get(server.url("/odd"))
    assert other.accepted == 0
    server.routes["/down"] = Route(302, headers={"Location": server.url("/doc.json").replace("https", "http")})
    with pytest.raises(FetchRefused):
        allowed_fetcher(server, bundle, allow_http=True).get(server.url("/down"))


def test_redirects_are_followed_up_to_three(server: Running, bundle: Path) -> None:
    for hop in range(4):
        server.routes[f"/r{hop}"] = Route(307, headers={"Location": f"/r{hop + 1}"})
    server.routes["/r4"] = Route(body=b"end")
    server.routes["/r1-only"] = Route(308, headers={"Location": "/r2"})
    assert allowed_fetcher(server, bundle).get(server.url("/r1-only")).body == b"end"  # 3 redirects
    with pytest.raises(FetchFailed, match="More than 3 redirects"):
        allowed_fetcher(server, bundle).get(server.url("/r0"))  # 4 redirects


@pytest.mark.parametrize("chunked", [False, True])
def test_bodies_over_64_kb_are_refused(server: Running, bundle: Path, chunked: bool) -> None:
    server.routes["/big"] = Route(body=b"x" * (64 * 1024 + 1), chunked=chunked)
    server.routes["/fits"] = Route(body=b"x" * (64 * 1024), chunked=chunked)
    with pytest.raises(FetchFailed, match="larger than 64 KB"):
        allowed_fetcher(server, bundle).get(server.url("/big"))
    assert len(allowed_fetcher(server, bundle).get(server.url("/fits")).body) == 64 * 1024


@pytest.mark.serial  # asserts wall-clock time: run alone, in `make pytest`'s serial pass
def test_a_slow_server_is_cut_off_at_5_seconds(server: Running, bundle: Path) -> None:
    server.routes["/slow"] = Route(body=b"{}", delay=6.5)
    started = time.monotonic()
    with pytest.raises(FetchFailed, match="longer than 5 s"):
        allowed_fetcher(server, bundle).get(server.url("/slow"))
    assert 4.9 < time.monotonic() - started < 6.0


@pytest.mark.serial  # asserts wall-clock time: run alone, in `make pytest`'s serial pass
def test_the_total_time_bounds_a_trickling_body(server: Running, bundle: Path) -> None:
    # Each byte comes well within a read timeout; only a total deadline stops it.
    server.routes["/trickle"] = Route(body=b"x" * 40, trickle=0.1)
    started = time.monotonic()
    with pytest.raises(FetchFailed, match="longer than 1 s"):
        allowed_fetcher(server, bundle, total_seconds=1.0).get(server.url("/trickle"))
    assert time.monotonic() - started < 1.8


def test_answers_are_cached_for_their_max_age_within_bounds(server: Running, bundle: Path) -> None:
    server.routes["/cached"] = Route(body=b"a", headers={"Cache-Control": "public, max-age=120"})
    server.routes["/long"] = Route(body=b"b", headers={"Cache-Control": "max-age=31536000"})
    server.routes["/nostore"] = Route(body=b"c", headers={"Cache-Control": "no-store"})
    server.routes["/none"] = Route(body=b"d")
    fetcher = allowed_fetcher(server, bundle)
    assert fetcher.get(server.url("/cached")).ttl == 120
    assert fetcher.get(server.url("/long")).ttl == 3600  # at most an hour
    assert fetcher.get(server.url("/nostore")).ttl == 30  # at least 30 s: a verifier is no fetch amplifier
    assert fetcher.get(server.url("/none")).ttl == 300
    before = server.accepted
    server.routes["/cached"] = Route(body=b"changed")
    assert fetcher.get(server.url("/cached")).body == b"a"
    assert server.accepted == before  # served from the cache
    assert fetcher.get(server.url("/cached"), fresh=True).body == b"changed"


def test_error_statuses_fail(server: Running, bundle: Path) -> None:
    with pytest.raises(FetchFailed, match="answered 404"):
        allowed_fetcher(server, bundle).get(server.url("/missing"))


@pytest.mark.parametrize(
    ("address", "public"),
    [("93.184.215.14", True), ("2606:4700:4700::1111", True), ("8.8.8.8", True),
     ("64:ff9b::808:808", True), ("2002:808:808::1", True), ("100.127.255.255", False),
     ("198.18.0.1", False), ("192.0.0.170", False), ("::ffff:8.8.8.8", False)],
)
def test_public_address_rule(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public


def test_allow_list_setting_parses() -> None:
    assert parse_allowed_addresses("127.0.0.1:8443, [::1]:8443") == {
        (ipaddress.ip_address("127.0.0.1"), 8443), (ipaddress.ip_address("::1"), 8443)}
    for bad in ("localhost:8443", "127.0.0.1", "127.0.0.1:0", "[::1]:99999"):
        with pytest.raises(ValueError):
            parse_allowed_addresses(bad)
