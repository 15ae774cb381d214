"""An HTTP server on 127.0.0.1 whose answers are what a broken proxy or a hostile server sends: a
body without end, one that comes a byte at a time, headers that come a byte at a time, or a
small compressed body that is large unpacked; and an SMTP server whose greeting comes a byte
at a time. Each stops on its own (after `FLOOD_BYTES`, `TRICKLE_SECONDS`), so a client without
bounds gets a finished answer late instead of hanging the suite."""

from __future__ import annotations

import gzip
import socketserver
import ssl
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.support.served import Served

FLOOD_BYTES = 24 * 2**20
TRICKLE_SECONDS = 8.0
BOMB = gzip.compress(b"[" + b" " * (4 * 2**20) + b"]")


class Endless(Served):
    """`mode`: flood, trickle, headers or bomb; every answer has `status`; a trickle sends a
    byte `every` so many seconds. A context manager."""

    def __init__(self, mode: str, status: int = 200, tls: tuple[Path, Path] | None = None,
                 every: float = 0.05):
        self.mode, self.status, self.requests, self.every = mode, status, 0, every
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.scheme = "https" if tls else "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return None

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                server.requests += 1
                if server.mode == "headers":
                    self._slow_headers()
                    return
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Connection", "close")  # the body runs to the connection's end
                if server.mode == "bomb":
                    self.send_header("Content-Encoding", "gzip")
                    self.send_header("Content-Length", str(len(BOMB)))
                self.end_headers()
                try:
                    self._body()
                except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
                    return  # the client stopped reading: what a bounded client does

            def _slow_headers(self) -> None:
                try:
                    self.wfile.write(f"HTTP/1.1 {server.status} Slow\r\nX-Slow: ".encode())
                    _trickle(self.wfile, every=server.every)
                    self.wfile.write(b"\r\nContent-Length: 2\r\nConnection: close\r\n\r\n[]")
                except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
                    return

            def _body(self) -> None:
                if server.mode == "bomb":
                    self.wfile.write(BOMB)
                    return
                self.wfile.write(b"[")
                if server.mode == "flood":
                    for _ in range(FLOOD_BYTES // 2**16):
                        self.wfile.write(b" " * 2**16)
                else:
                    _trickle(self.wfile, b" ", server.every)  # the JSON stays valid
                self.wfile.write(b"]")

            do_GET = do_POST = do_PATCH = _answer  # noqa: N815

        return Handler


def _trickle(out: Any, byte: bytes = b"a", every: float = 0.05) -> None:
    """A byte `every` so many seconds for TRICKLE_SECONDS: each in time for a read timeout."""
    end = time.monotonic() + TRICKLE_SECONDS
    while time.monotonic() < end:
        out.write(byte)
        out.flush()
        time.sleep(every)


class SlowSmtp(Served):
    """An SMTP server on 127.0.0.1 whose greeting comes a byte `every` so many seconds, then
    ends the connection; `connections` counts those made. A context manager."""

    def __init__(self, every: float = 0.05) -> None:
        self.connections = 0
        server = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                server.connections += 1
                try:
                    self.wfile.write(b"220-")
                    _trickle(self.wfile, every=every)
                    self.wfile.write(b"\r\n421 closing\r\n")
                except OSError:
                    return

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])
