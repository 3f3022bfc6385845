"""A local HTTP(S) server on 127.0.0.1 for fetch tests: routes set by the test, accepted connections counted.

Its certificate comes from a trustme test CA and names only `localhost`, so a fetch that completes TLS
proved it used the name (SNI and certificate check), whatever address it connected to.
"""

from __future__ import annotations

import socket
import ssl
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import trustme


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before the status line
    trickle: float = 0.0  # seconds between body bytes
    chunked: bool = False  # no Content-Length


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, tls: ssl.SSLContext | None):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.tls = tls
        self.routes: dict[str, Route] = {}
        self.accepted = 0
        self.hosts: list[str] = []

    def get_request(self) -> tuple[Any, Any]:
        sock, address = self.socket.accept()
        self.accepted += 1
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # quiet
        return

    def handle(self) -> None:
        try:
            if isinstance(self.request, ssl.SSLSocket):
                self.request.do_handshake()
            super().handle()
        except (OSError, ssl.SSLError):
            return

    def do_GET(self) -> None:
        self.server.hosts.append(self.headers.get("Host", ""))
        route = self.server.routes.get(self.path)
        if route is None:
            route = Route(404, b"not here")
        time.sleep(route.delay)
        self.send_response(route.status)
        for name, value in route.headers.items():
            self.send_header(name, value)
        if route.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(route.body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if route.chunked:
            for start in range(0, len(route.body), 4096):
                piece = route.body[start:start + 4096]
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif route.trickle:
            for byte in route.body:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(route.trickle)
        else:
            self.wfile.write(route.body)


@dataclass
class Running:
    server: _Server
    port: int
    scheme: str

    @property
    def routes(self) -> dict[str, Route]:
        return self.server.routes

    @property
    def accepted(self) -> int:
        return self.server.accepted

    def url(self, path: str, host: str = "localhost") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    @property
    def allow(self) -> str:
        """The SKILLPROOF_FETCH_ALLOW_ADDRESSES value that lets fetches reach this server (and only it)."""
        return f"127.0.0.1:{self.port},[::1]:{self.port}"


@contextmanager
def serve(ca: trustme.CA | None) -> Iterator[Running]:
    """An HTTPS server for `localhost` signed by `ca` (or plain HTTP when ca is None)."""
    tls = None
    if ca is not None:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("localhost").configure_cert(tls)
    server = _Server(tls)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Running(server, server.server_address[1], "https" if tls else "http")
    finally:
        server.shutdown()
        server.server_close()


def ca_bundle(ca: trustme.CA, directory: Path) -> Path:
    """The CA certificate as a PEM file (SKILLPROOF_FETCH_CA_BUNDLE)."""
    path = directory / "test-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


class ConnectLog:
    """Every socket.connect this process makes (PEP 578 audit event), while recording."""

    def __init__(self) -> None:
        self.addresses: list[Any] = []
        self.recording = False
        sys.addaudithook(self._hook)

    def _hook(self, event: str, args: tuple[Any, ...]) -> None:
        if self.recording and event == "socket.connect":
            self.addresses.append(args[1])

    @contextmanager
    def record(self) -> Iterator[list[Any]]:
        self.addresses.clear()
        self.recording = True
        try:
            yield self.addresses
        finally:
            self.recording = False


CONNECTS = ConnectLog()


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
