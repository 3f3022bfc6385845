"""Per-client rate limits (the `limits` library): public endpoints by client IP, failed authentication by
client IP, authenticated traffic by principal. Memory storage by default, Redis for several replicas."""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.auth.service import hash_key
from app.config import Settings
from app.ops.responses import send_html, send_json_error

logger = logging.getLogger("skillproof.ratelimit")

# Public route templates and the limit group each one counts against (per client IP). To limit a new public
# route, add its path template here; templates of routes that do not exist (yet) match nothing.
PUBLIC_ROUTES: dict[str, str] = {
    "/v1/credentials/verify": "verify",
    "/v1/credentials/verify-batch": "verify",
    "/credentials/verify": "verify",
    "/presentations/verify": "verify",
    "/verify": "verify",
    "/v1/status-lists/{list_id}": "public",
    "/v1/achievements/{skill_id}/{level}": "public",
    "/v1/achievements/{skill_id}/{level}/image.svg": "public",
    "/v1/assessments/{assessment_id}/evidence": "public",
    "/.well-known/jwks.json": "public",
    "/.well-known/did.json": "public",
    "/did.json": "public",
    "/c/{share_id}": "public",
    "/c/{share_id}/badge.svg": "public",
    "/c/{share_id}/badge.png": "public",
    "/c/{share_id}/credential.jwt": "public",
    "/c/{share_id}/credential.json": "public",
    "/metrics": "public",  # a scraper must not lose metrics to a lockout of its address
}
# Never limited: probes must answer even for a client that is locked out.
EXEMPT_PATHS = frozenset({"/health", "/ready"})
_PUBLIC_PATTERNS = [(compile_path(template)[0], template, group) for template, group in PUBLIC_ROUTES.items()]
KNOWN_KEYS_CACHED = 10_000
STORAGE_WARNING_INTERVAL = 60.0


def client_ip(scope: Scope, trusted: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> str:
    """The peer address; behind trusted proxies, the right-most X-Forwarded-For entry they did not add."""
    peer = (scope.get("client") or ("unknown", 0))[0]
    if not trusted or not _is_trusted(peer, trusted):
        return str(peer)
    forwarded: list[str] = []
    for name, value in scope.get("headers", []):
        if name == b"x-forwarded-for":
            forwarded.extend(part.strip() for part in value.decode("latin-1").split(","))
    for hop in reversed(forwarded):
        if not _is_trusted(hop, trusted):
            return hop if _is_ip(hop) else str(peer)
    return forwarded[0] if forwarded and _is_ip(forwarded[0]) else str(peer)


def rate_limit_key(address: str) -> str:
    """The address a limit counts against: an IPv6 client by its /64 (one host often holds a whole /64)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _is_trusted(address: str, trusted: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def _bearer_token(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() != "bearer":
                return None
            return token.strip() or None
    return None


class RateLimiter:
    """The limits of one app, over one storage."""

    def __init__(self, settings: Settings):
        self.groups: dict[str, list[RateLimitItem]] = {
            "verify": parse_many(settings.rate_limit_verify),
            "public": parse_many(settings.rate_limit_public),
            "failed_auth": parse_many(settings.rate_limit_failed_auth),
            "authenticated": parse_many(settings.rate_limit_authenticated),
        }
        self.storage_uri = settings.rate_limit_storage
        self.key_prefix = "skillproof"
        self._strategy: SlidingWindowCounterRateLimiter | None = None
        self._last_storage_warning = -STORAGE_WARNING_INTERVAL

    def _limiter(self) -> SlidingWindowCounterRateLimiter:
        # Created inside the running event loop: async Redis connections belong to the loop that made them.
        if self._strategy is None:
            storage: Storage
            if self.storage_uri.startswith("memory://"):
                storage = MemoryStorage()
            else:
                storage = RedisStorage(
                    "async+" + self.storage_uri, implementation="redispy", key_prefix=self.key_prefix,
                    socket_timeout=1.0, socket_connect_timeout=1.0,
                )
            self._strategy = SlidingWindowCounterRateLimiter(storage)
        return self._strategy

    async def aclose(self) -> None:
        """Close the Redis connections (they belong to the event loop that is ending)."""
        storage = self._strategy.storage if self._strategy is not None else None
        client = getattr(getattr(storage, "bridge", None), "storage", None)
        if client is not None:
            await client.aclose()
        self._strategy = None

    async def hit(self, group: str, key: str) -> int | None:
        """Count one request; None when allowed, else the seconds to wait (fails open if storage is down)."""
        limiter = self._limiter()
        try:
            for item in self.groups[group]:
                if not await limiter.hit(item, group, key):
                    return await self._retry_after(limiter, item, group, key)
        except Exception as exc:  # a storage outage must not take the service down with it
            self._storage_failed(exc)
        return None

    async def blocked(self, group: str, key: str) -> int | None:
        """Like hit, but without counting: the seconds to wait if `key` has used up `group`."""
        limiter = self._limiter()
        try:
            for item in self.groups[group]:
                if not await limiter.test(item, group, key):
                    return await self._retry_after(limiter, item, group, key)
        except Exception as exc:
            self._storage_failed(exc)
        return None

    def _storage_failed(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._last_storage_warning >= STORAGE_WARNING_INTERVAL:  # one line a minute, not one a request
            self._last_storage_warning = now
            logger.warning("rate limit storage unavailable, requests allowed unlimited: %s: %s",
                           type(exc).__name__, exc)

    @staticmethod
    async def _retry_after(limiter: SlidingWindowCounterRateLimiter, item: RateLimitItem, *ids: str) -> int:
        stats = await limiter.get_window_stats(item, *ids)
        return max(1, math.ceil(stats.reset_time - time.time()))


# (path, seconds to wait) -> (HTML body, headers) for a page people read, or None for a JSON refusal.
RefusalPage = Callable[[str, int], tuple[bytes, dict[str, str]] | None]


class RateLimitMiddleware:
    """429 + Retry-After before the app runs: public routes per IP; unknown keys from an IP that failed
    authentication too often; known principals per principal."""

    def __init__(self, app: ASGIApp, settings: Settings, limiter: RateLimiter, refusal_page: RefusalPage | None = None):
        self.app = app
        self.enabled = settings.rate_limits == "on"
        self.limiter = limiter
        # Pages people read (the share and verify pages) answer a refusal as a page, not as JSON.
        self.refusal_page = refusal_page
        self.trusted = tuple(
            ipaddress.ip_network(part.strip(), strict=False)
            for part in settings.trusted_proxies.split(",") if part.strip()
        )
        # sha256(key) -> principal, for keys that authenticated here lately: a locked-out IP (a class behind
        # one NAT) still serves its learners whose keys work. Per process; a miss only means the IP check.
        self._known_keys: OrderedDict[str, str] = OrderedDict()

    @staticmethod
    def _public_group(scope: Scope) -> tuple[str, str] | None:
        """(limit group, route template) of a public route, or None."""
        path = scope["path"]
        for pattern, template, group in _PUBLIC_PATTERNS:
            if pattern.match(path):
                return group, template
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.enabled or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        ip = rate_limit_key(client_ip(scope, self.trusted))
        public = self._public_group(scope)
        if public is not None:
            group, template = public
            wait = await self.limiter.hit(group, ip)
            if wait is not None:
                scope.setdefault("state", {})["route_template"] = template  # the route label of the refusal
                page = self.refusal_page(scope["path"], wait) if self.refusal_page else None
                if page is not None:
                    scope["state"]["rate_limit_group"] = group
                    await send_html(send, 429, page[0], {**page[1], "Retry-After": str(wait)})
                    return
                await _too_many(scope, send, group, wait, "Too many requests from this client; slow down.")
                return
            await self.app(scope, receive, send)
            return

        token = _bearer_token(scope)
        token_hash = hash_key(token) if token else None
        principal = self._known_keys.get(token_hash) if token_hash else None
        if principal is None:
            wait = await self.limiter.blocked("failed_auth", ip)
            if wait is not None:
                detail = "Too many failed authentications from this client; wait and retry."
                await _too_many(scope, send, "failed_auth", wait, detail)
                return
        else:
            wait = await self.limiter.hit("authenticated", principal)
            if wait is not None:
                await _too_many(scope, send, "authenticated", wait, "Too many requests for this API key; slow down.")
                return

        status = 0

        async def send_watching_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, send_watching_status)
        if status == 401:
            await self.limiter.hit("failed_auth", ip)
            if token_hash:
                self._known_keys.pop(token_hash, None)
        elif token_hash and principal is None:
            self._remember(token_hash, scope.get("state", {}))

    def _remember(self, token_hash: str, state: dict[str, Any]) -> None:
        principal = state.get("principal_id")
        if principal is None:
            return  # the route did not authenticate the key
        self._known_keys[token_hash] = str(principal)
        self._known_keys.move_to_end(token_hash)
        while len(self._known_keys) > KNOWN_KEYS_CACHED:
            self._known_keys.popitem(last=False)


async def _too_many(scope: Scope, send: Send, group: str, retry_after: int, detail: str) -> None:
    scope.setdefault("state", {})["rate_limit_group"] = group  # for the rate_limited metric
    await send_json_error(send, 429, "rate_limited", detail, headers={"Retry-After": str(retry_after)})


def document_429(document: dict[str, Any], html_paths: Iterable[str] = ()) -> None:
    """Every operation but the probes can answer 429 when limits are on: say so in OpenAPI (`html_paths`: pages
    whose refusal is an HTML page)."""
    pages = set(html_paths)
    for path, operations in document.get("paths", {}).items():
        if path in EXEMPT_PATHS:
            continue
        content = ({"text/html": {"schema": {"type": "string"}}} if path in pages
                   else {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}})
        for operation in operations.values():
            operation.setdefault("responses", {}).setdefault("429", {
                "description": "Rate limited: retry after the `Retry-After` seconds",
                "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds to wait"}},
                "content": content,
            })
