"""An SSRF-safe HTTPS GET for documents other issuers publish (DID documents, status lists).

Each fetch: https only (http only when allowed, for local development); the host resolved first and every
address it resolves to must be public (an allow-list of address:port exists for tests only); the TCP
connection goes to a checked address (pinned: DNS cannot switch it after the check) while TLS SNI,
certificate checks and Host stay the name; redirects re-checked (at most 3); the body capped at 64 KB;
5 s in total, redirects included; successful answers cached for their Cache-Control max-age, bounded.
Only the network backend is ours: TLS and HTTP are httpcore's (the engine under httpx).

FetchError
 ├── FetchRefused   the URL or an address it resolves to is not allowed (nothing was connected)
 └── FetchFailed    network error, timeout, status other than 200, body too large
"""

from __future__ import annotations

import ipaddress
import re
import socket
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import urljoin, urlsplit

import certifi
import httpcore

__all__ = [
    "FetchError",
    "FetchFailed",
    "FetchRefused",
    "Fetched",
    "Fetcher",
    "IpAddress",
    "is_public_address",
    "parse_allowed_addresses",
]

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_BYTES: Final = 64 * 1024
TOTAL_SECONDS: Final = 5.0
MAX_REDIRECTS: Final = 3
DEFAULT_TTL: Final = 300.0
MIN_TTL: Final = 30.0
MAX_TTL: Final = 3600.0
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
_NUMERIC_LABEL: Final = re.compile(r"(?:0[xX][0-9a-fA-F]*|[0-9]+)")
_HOST_LABEL: Final = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?")
_MAX_AGE: Final = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?([0-9]{1,10})\"?\s*(?:,|$)", re.IGNORECASE)
_NO_STORE: Final = re.compile(r"(?:^|,)\s*(?:no-store|no-cache)\s*(?:,|$)", re.IGNORECASE)
_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052 well-known prefix: the last 32 bits are IPv4
_NAT64_LOCAL: Final = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215 local-use NAT64: never public
_IPV4_COMPATIBLE: Final = ipaddress.IPv6Network("::/96")  # RFC 4291 §2.5.5.1, deprecated: ::a.b.c.d
_METADATA: Final = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")})


class FetchError(Exception):
    """A document could not be fetched; the message is one line, safe to show."""


class FetchRefused(FetchError):
    """The URL, or an address its host resolves to, is not allowed; no connection was made."""


class FetchFailed(FetchError):
    """The fetch was allowed but failed: network, timeout, status, size."""


@dataclass(frozen=True)
class Fetched:
    """A 200 answer: the final URL, its media type, the body and how long it may be cached (seconds)."""

    url: str
    content_type: str
    body: bytes
    ttl: float


def _ipv4_is_public(address: ipaddress.IPv4Address) -> bool:
    # is_global is False for private, loopback, link-local (incl. metadata), CGNAT 100.64/10, 0/8, reserved
    # and broadcast (IANA special-purpose registry); multicast must be refused on its own.
    return address.is_global and not address.is_multicast and not address.is_reserved


def is_public_address(address: IpAddress) -> bool:
    """Whether an address is one a fetch may connect to: global unicast, and no non-public IPv4 inside."""
    if address in _METADATA:
        return False
    if isinstance(address, ipaddress.IPv4Address):
        return _ipv4_is_public(address)
    if address.ipv4_mapped is not None:  # ::ffff:a.b.c.d reaches a.b.c.d on dual-stack sockets
        return False
    if address in _IPV4_COMPATIBLE or address in _NAT64_LOCAL:
        return False
    if address in _NAT64:
        return _ipv4_is_public(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if address.sixtofour is not None:  # 2002:a.b.c.d::/48 (RFC 3056)
        return _ipv4_is_public(address.sixtofour)
    if address.teredo is not None:  # 2001:0::/32: tunnels to an IPv4 client
        return False
    return address.is_global and not address.is_multicast and not address.is_reserved


def parse_allowed_addresses(value: str) -> frozenset[tuple[IpAddress, int]]:
    """`127.0.0.1:8443,[::1]:8443` -> {(address, port)}; ValueError on anything else."""
    allowed = set()
    for item in filter(None, (part.strip() for part in value.split(","))):
        host, sep, port = item.rpartition(":")
        if not sep or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"not an address:port: {item!r}")
        try:
            address = ipaddress.ip_address(host[1:-1] if host.startswith("[") and host.endswith("]") else host)
        except ValueError:
            raise ValueError(f"not an IP address: {host!r}") from None
        allowed.add((address, int(port)))
    return frozenset(allowed)


Resolver = Callable[[str, int], Sequence[str]]


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the system resolver gives for host (TCP)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICSERV)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class _DeadlineStream(httpcore.NetworkStream):
    """A stream whose every read, write and handshake ends by the fetch's one deadline (5 s in total)."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: float):
        self.inner = inner
        self.deadline = deadline

    def _left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise httpcore.ReadTimeout("the fetch took longer than its total time")
        return left

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.inner.read(max_bytes, self._left())

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.inner.write(buffer, self._left())

    def close(self) -> None:
        self.inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(self.inner.start_tls(ssl_context, server_hostname, self._left()), self.deadline)

    def get_extra_info(self, info: str) -> Any:
        return self.inner.get_extra_info(info)


class _PinnedBackend(httpcore.NetworkBackend):
    """Connects to the checked addresses only, whatever name httpcore asks for."""

    def __init__(self, addresses: Sequence[IpAddress], deadline: float):
        self.addresses = addresses
        self.deadline = deadline
        self.inner = httpcore.SyncBackend()

    def connect_tcp(
        self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        last: Exception = httpcore.ConnectError("no address to connect to")
        for address in self.addresses:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise httpcore.ConnectTimeout("the fetch took longer than its total time")
            try:
                stream = self.inner.connect_tcp(str(address), port, left, None, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
                continue
            return _DeadlineStream(stream, self.deadline)
        raise last

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are never fetched")


def _ttl(cache_control: str, default: float, low: float, high: float) -> float:
    """Cache-Control max-age (RFC 9111 §5.2.2.1) within [low, high]; no-store/no-cache give the floor."""
    if _NO_STORE.search(cache_control):
        return low
    match = _MAX_AGE.search(cache_control)
    seconds = float(match.group(1)) if match else default
    return min(max(seconds, low), high)


class Fetcher:
    """GET with the SSRF rules above; thread-safe; one instance per app (its cache is process memory)."""

    def __init__(
        self,
        *,
        allow_http: bool = False,
        allowed_addresses: frozenset[tuple[IpAddress, int]] = frozenset(),
        ca_bundle: Path | None = None,
        resolver: Resolver = system_resolver,
        max_bytes: int = MAX_BYTES,
        total_seconds: float = TOTAL_SECONDS,
        max_redirects: int = MAX_REDIRECTS,
        ttl_bounds: tuple[float, float] = (MIN_TTL, MAX_TTL),
        max_cached: int = 256,
    ):
        self.allow_http = allow_http
        self.allowed_addresses = allowed_addresses
        self.resolver = resolver
        self.max_bytes = max_bytes
        self.total_seconds = total_seconds
        self.max_redirects = max_redirects
        self.ttl_bounds = ttl_bounds
        self.max_cached = max_cached
        self.ssl_context = ssl.create_default_context(cafile=certifi.where())
        if ca_bundle is not None:
            self.ssl_context.load_verify_locations(cafile=str(ca_bundle))
        self._cache: OrderedDict[tuple[str, str], tuple[float, Fetched]] = OrderedDict()
        self._lock = threading.Lock()

    # -- policy ---------------------------------------------------------------------------------

    def check_url(self, url: str) -> tuple[str, str, int]:
        """(scheme, host, port) of an allowed URL; FetchRefused otherwise."""
        if not isinstance(url, str) or len(url) > 2000 or not url.isascii() or any(c.isspace() for c in url):
            raise FetchRefused("The URL must be ASCII without spaces, at most 2000 characters.")
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme == "http" and not self.allow_http:
            raise FetchRefused("Only https URLs are fetched (SKILLPROOF_ALLOW_HTTP_FETCH allows http for development).")
        if scheme not in ("https", "http"):
            raise FetchRefused(f"Only https URLs are fetched, not {scheme[:10] or 'this scheme'}.")
        if "@" in parts.netloc:
            raise FetchRefused("URLs with a user name or password are not fetched.")
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError:
            raise FetchRefused("The URL has an invalid port.") from None
        host = (parts.hostname or "").lower()
        if not host:
            raise FetchRefused("The URL has no host.")
        return scheme, host, port

    def _literal(self, host: str) -> IpAddress | None:
        """An IP literal host, or None for a name; odd IPv4 spellings are refused outright."""
        if ":" in host:
            try:
                return ipaddress.IPv6Address(host)  # a zone id (%eth0) is refused as not valid
            except ValueError:
                raise FetchRefused("The URL's IPv6 address is not valid.") from None
        if _NUMERIC_LABEL.fullmatch(host.rsplit(".", 1)[-1]):
            # WHATWG URL §3.5 "ends in a number": 2130706433, 0x7f.1, 017700000001 and 127.1 are IPv4 addresses
            # that resolvers (inet_aton) accept; only the plain dotted-decimal form is taken, and checked.
            try:
                return ipaddress.IPv4Address(host)
            except ValueError:
                raise FetchRefused(f"The host {host[:60]!r} is an IPv4 address in an unusual form.") from None
        if len(host) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in host.split(".")):
            raise FetchRefused("The URL's host is not a DNS name.")
        return None

    def _permitted(self, address: IpAddress, port: int) -> bool:
        return (address, port) in self.allowed_addresses or is_public_address(address)

    def resolve(self, host: str, port: int) -> list[IpAddress]:
        """The checked addresses for host:port; FetchRefused if any of them is not public (or allowed)."""
        literal = self._literal(host)
        if literal is not None:
            addresses: list[IpAddress] = [literal]
        else:
            try:
                found = self.resolver(host, port)
            except (OSError, UnicodeError):
                raise FetchFailed(f"The host {host[:60]} could not be resolved.") from None
            try:
                addresses = [ipaddress.ip_address(item.split("%", 1)[0]) for item in found]
            except ValueError:
                raise FetchFailed("The resolver gave an address that is not an IP address.") from None
            if not addresses:
                raise FetchFailed(f"The host {host[:60]} has no address.")
        # Every address must pass: a name that also resolves to a private address is refused as a whole.
        for address in addresses:
            if not self._permitted(address, port):
                raise FetchRefused(f"The host {host[:60]} resolves to a non-public address ({address}).")
        return addresses

    # -- fetch ----------------------------------------------------------------------------------

    def get(self, url: str, *, accept: str = "*/*", fresh: bool = False) -> Fetched:
        """The body of url (200), from the cache while fresh (unless `fresh`); FetchRefused or FetchFailed."""
        key = (url, accept)
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and cached[0] > now and not fresh:
                self._cache.move_to_end(key)
                return cached[1]
        fetched = self._fetch(url, accept)
        with self._lock:
            self._cache[key] = (time.monotonic() + fetched.ttl, fetched)
            self._cache.move_to_end(key)
            while len(self._cache) > self.max_cached:
                self._cache.popitem(last=False)
        return fetched

    def _fetch(self, url: str, accept: str) -> Fetched:
        deadline = time.monotonic() + self.total_seconds
        for _hop in range(self.max_redirects + 1):
            scheme, host, port = self.check_url(url)
            addresses = self.resolve(host, port)
            status, headers, body = self._one(url, addresses, deadline, accept)
            if status in _REDIRECTS:
                location = headers.get("location")
                if not location:
                    raise FetchFailed(f"A redirect ({status}) without a Location.")
                next_url = urljoin(url, location)
                if scheme == "https" and urlsplit(next_url).scheme.lower() != "https":
                    raise FetchRefused("A redirect from https to another scheme is not followed.")
                url = next_url
                continue
            if status != 200:
                raise FetchFailed(f"{url[:200]} answered {status}.")
            low, high = self.ttl_bounds
            return Fetched(
                url=url,
                content_type=headers.get("content-type", "").split(";", 1)[0].strip().lower(),
                body=body,
                ttl=_ttl(headers.get("cache-control", ""), DEFAULT_TTL, low, high),
            )
        raise FetchFailed(f"More than {self.max_redirects} redirects.")

    def _one(
        self, url: str, addresses: list[IpAddress], deadline: float, accept: str
    ) -> tuple[int, dict[str, str], bytes]:
        backend = _PinnedBackend(addresses, deadline)
        left = deadline - time.monotonic()
        timeouts = {"connect": left, "read": left, "write": left, "pool": left}
        try:
            with httpcore.ConnectionPool(
                ssl_context=self.ssl_context, network_backend=backend, max_connections=1, retries=0
            ) as pool, pool.stream(
                "GET", url, headers={"Accept": accept, "User-Agent": "skillproof-verifier"},
                extensions={"timeout": timeouts},
            ) as response:
                headers = {
                    name.decode("latin-1").lower(): value.decode("latin-1") for name, value in response.headers
                }
                if response.status in _REDIRECTS:
                    return response.status, headers, b""
                declared = headers.get("content-length", "")
                if declared.isdigit() and int(declared) > self.max_bytes:
                    raise FetchFailed(f"The document is larger than {self.max_bytes // 1024} KB.")
                body = bytearray()
                for chunk in response.iter_stream():
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise FetchFailed(f"The document is larger than {self.max_bytes // 1024} KB.")
                return response.status, headers, bytes(body)
        except httpcore.TimeoutException:
            raise FetchFailed(f"{url[:200]} took longer than {self.total_seconds:g} s.") from None
        except httpcore.ConnectError as exc:
            if time.monotonic() >= deadline:
                raise FetchFailed(f"{url[:200]} took longer than {self.total_seconds:g} s.") from None
            reason = "certificate not trusted" if "CERTIFICATE" in str(exc).upper() else "connection failed"
            raise FetchFailed(f"{url[:200]} could not be reached ({reason}).") from None
        except (httpcore.NetworkError, httpcore.ProtocolError) as exc:
            if time.monotonic() >= deadline:
                raise FetchFailed(f"{url[:200]} took longer than {self.total_seconds:g} s.") from None
            raise FetchFailed(f"{url[:200]} failed ({type(exc).__name__}).") from None
