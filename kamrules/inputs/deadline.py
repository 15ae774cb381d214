"""An exchange with a server (a CRM's API, a digest's webhook or SMTP server) ended at its
deadline, however the server sends.

A client's `timeout=` bounds each wait for the next bytes: a server, or a proxy before it, that
sends its status line and headers (or an SMTP reply) a byte at a time within that wait held a
run for as long as it liked. Here a timer shuts the socket down at the deadline, so the read
blocked on it returns at once, and the exchange fails with `AnswerTooSlow`.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

# An exchange's deadline, in the client's timeout (the wait for one read).
DEADLINE_TIMEOUTS = 10


class AnswerCutOff(Exception):
    """An answer not read to its end: too large, or too slow in coming."""


class AnswerTooLarge(AnswerCutOff):
    pass


class AnswerTooSlow(AnswerCutOff):
    pass


def too_slow(seconds: float, got: str = "") -> AnswerTooSlow:
    """`got`: how much had come by then, if any was counted."""
    shown = f"{seconds:,.0f}" if seconds >= 10 else f"{seconds:.2g}"
    by_then = f"{got} by then; " if got else ""
    return AnswerTooSlow(f"an answer still coming after {shown} seconds"
                         f" ({by_then}{DEADLINE_TIMEOUTS} x timeout_seconds)")


@contextlib.contextmanager
def cut_off(seconds: float, sock: Callable[[], socket.socket | None]) -> Iterator[None]:
    """The block's exchange over the socket `sock()` gives (looked up when the time is up: a
    TLS upgrade replaces it), cut off `seconds` from now: the socket is shut down, and the
    block ends in `AnswerTooSlow`, whether what it read then failed or, like headers cut
    short, looked whole."""
    fired = threading.Event()

    def fire() -> None:
        fired.set()
        current = sock()
        if current is not None:
            with contextlib.suppress(OSError):
                current.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    try:
        yield
    except Exception as exc:
        if fired.is_set():
            raise too_slow(seconds) from exc
        raise
    else:
        if fired.is_set():
            raise too_slow(seconds)
    finally:
        timer.cancel()
        timer.join()  # no thread left behind (the CLI's quick exit waits for none)


class _Watched:
    """A urllib3 connection whose answer's status line and headers come within the deadline
    (its body is read within bounds by whoever reads it: connectors/bounded.py)."""

    timeout: Any
    sock: socket.socket | None

    def getresponse(self) -> Any:
        wait = self.timeout  # the read timeout, set by the pool before it asks for the answer
        if not isinstance(wait, int | float) or wait <= 0:
            return super().getresponse()  # type: ignore[misc]
        with cut_off(DEADLINE_TIMEOUTS * wait, lambda: self.sock):
            return super().getresponse()  # type: ignore[misc]


class WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = WatchedHTTPConnection


class WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = WatchedHTTPSConnection


def watched(manager: Any) -> Any:
    """A urllib3 pool manager (or proxy manager) whose connections are `_Watched`, before it
    made any pool; one with pools of another kind (a SOCKS proxy's) is left as it is."""
    pools = getattr(manager, "pool_classes_by_scheme", None)
    if pools is not None and pools.get("http") is HTTPConnectionPool \
            and pools.get("https") is HTTPSConnectionPool:
        manager.pool_classes_by_scheme = {"http": WatchedHTTPPool, "https": WatchedHTTPSPool}
    return manager


class WatchedAdapter(HTTPAdapter):
    """requests' adapter with `watched` pools, proxied or not."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        watched(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        known = proxy in self.proxy_manager
        manager = super().proxy_manager_for(proxy, **kwargs)
        return manager if known else watched(manager)
