"""A test server on 127.0.0.1 that serves on a thread of its own inside a `with` block."""

from __future__ import annotations

import socketserver
import threading
from typing import Any, Self


class Served:
    """Subclasses set `server` (a socketserver, already bound) in their __init__."""

    server: socketserver.BaseServer

    def __enter__(self) -> Self:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
