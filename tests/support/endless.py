"""An HTTP server on 127.0.0.1 whose answers are what a broken proxy or a hostile server sends: a
body without end, one that comes a byte at a time, or a small compressed body that is large
unpacked. Each stops on its own (after `FLOOD_BYTES`, `TRICKLE_SECONDS`), so a client without
bounds gets a finished answer late instead of hanging the suite."""

from __future__ import annotations

import gzip
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

FLOOD_BYTES = 24 * 2**20
TRICKLE_SECONDS = 8.0
BOMB = gzip.compress(b"[" + b" " * (4 * 2**20) + b"]")


class Endless:
    """`mode`: flood, trickle or bomb; every answer has `status`. A context manager."""

    def __init__(self, mode: str, status: int = 200, tls: tuple[Path, Path] | None = None):
        self.mode, self.status, self.requests = mode, status, 0
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.scheme = "https" if tls else "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> Endless:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

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

            def _body(self) -> None:
                if server.mode == "bomb":
                    self.wfile.write(BOMB)
                    return
                self.wfile.write(b"[")
                if server.mode == "flood":
                    for _ in range(FLOOD_BYTES // 2**16):
                        self.wfile.write(b" " * 2**16)
                else:
                    end = time.monotonic() + TRICKLE_SECONDS
                    while time.monotonic() < end:
                        self.wfile.write(b" ")
                        self.wfile.flush()
                        time.sleep(0.05)
                self.wfile.write(b"]")

            do_GET = do_POST = do_PATCH = _answer  # noqa: N815

        return Handler
