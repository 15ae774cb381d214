"""CRM answers read within bounds of size and time, by both HTTP layers.

A client's `timeout=` bounds each wait for the next bytes, not the answer: a server (or a proxy
before it) that sends without end, or a byte a minute, held a run until memory ran out, or for
ever. Each answer is now read in pieces, decompressed as it comes (so a compressed bomb counts at
its real size), and cut off past `MAX_ANSWER_BYTES` or past its deadline; its status line and
headers come within the deadline too (kamrules/inputs/deadline.py).
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterable, Iterator
from typing import Any

from kamrules.inputs.deadline import (
    DEADLINE_TIMEOUTS,
    AnswerCutOff,
    AnswerTooLarge,
    AnswerTooSlow,
    WatchedAdapter,
    too_slow,
    watched,
)

# Far above any answer a CRM sends (a Bulk API page of 100,000 rows is a few tens of MB).
MAX_ANSWER_BYTES = 256 * 1024 * 1024
PIECE = 64 * 1024

__all__ = ["AnswerCutOff", "AnswerTooLarge", "AnswerTooSlow", "BoundedAdapter", "BoundedPool",
           "read_content", "read_whole", "what_failed"]


def read_whole(pieces: Iterable[bytes], timeout: float, started: float | None = None) -> bytes:
    """The answer's bytes, from its decompressed `pieces`; `started` is when the call was sent
    (the deadline is `DEADLINE_TIMEOUTS` times the connector's `timeout`)."""
    seconds = DEADLINE_TIMEOUTS * timeout
    deadline = (time.monotonic() if started is None else started) + seconds
    limit = MAX_ANSWER_BYTES
    parts: list[bytes] = []
    size = 0
    for piece in pieces:
        size += len(piece)
        if size > limit:
            raise AnswerTooLarge(f"an answer past {limit / 2**20:,.0f} MiB (cut off there)")
        if time.monotonic() > deadline:
            raise too_slow(seconds, f"{size:,} bytes")
        parts.append(piece)
    return b"".join(parts)


class BoundedAdapter(WatchedAdapter):
    """requests' adapter, reading each answer whole within bounds before the caller sees it
    (simple-salesforce's logins read theirs themselves; its headers come within the deadline:
    kamrules/inputs/deadline.py); `timeout` when a call gives none."""

    def __init__(self, timeout: float):
        super().__init__()
        self.timeout = timeout

    def send(self, request: Any, stream: bool = False, timeout: Any = None,
             **kwargs: Any) -> Any:
        started = time.monotonic()
        resp = super().send(request, stream=True, timeout=timeout, **kwargs)
        if not stream:
            read_content(resp, _read_seconds(timeout, self.timeout), started)
        return resp


def _read_seconds(timeout: Any, default: float) -> float:
    """The wait for one read in requests' `timeout`: a number, a (connect, read) pair or None."""
    if isinstance(timeout, tuple):
        timeout = timeout[1]
    return float(timeout) if isinstance(timeout, int | float) else default


def read_content(resp: Any, timeout: float, started: float | None = None) -> None:
    """A `requests` answer opened with `stream=True`, read whole within bounds into its
    `content` (what requests itself does on first access, without the bounds); urllib3's
    errors become requests' own, as its `iter_content` makes them."""
    from requests import exceptions as req
    from urllib3 import exceptions as low

    try:
        resp._content = read_whole(pieces(resp.raw), timeout, started)
    except BaseException as exc:
        resp.close()  # the connection is dropped: its unread rest must not reach the next call
        for theirs, ours in ((low.ProtocolError, req.ChunkedEncodingError),
                             (low.DecodeError, req.ContentDecodingError),
                             (low.ReadTimeoutError, req.ConnectionError),
                             (low.SSLError, req.SSLError)):
            if isinstance(exc, theirs):
                raise ours(exc) from None
        raise
    resp._content_consumed = True


def what_failed(exc: BaseException) -> str:
    """A failed call in a few words: the cut-off's own words, else the exception's kind and
    what the network said, found along its causes ("cannot reach Salesforce (ConnectionError)"
    did not say whether the name did not resolve, the connection was refused or the
    certificate was not trusted). Never the URL or the request (they may carry secrets)."""
    if isinstance(exc, AnswerCutOff):
        return str(exc)
    said = [s for s in map(_network_said, _causes(exc)) if s is not None]
    return f"{type(exc).__name__}: {min(said)[1]}" if said else type(exc).__name__


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, then what caused it, breadth first: `__cause__`, `__context__`, urllib3's
    `reason`, exceptions among the args (requests wraps urllib3's errors so)."""
    seen: set[int] = set()
    queue = [exc]
    while queue and len(seen) < 20:
        current = queue.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        queue += [e for e in (current.__cause__, current.__context__, getattr(current, "reason", None),
                              *current.args) if isinstance(e, BaseException)]


def _network_said(exc: BaseException) -> tuple[int, str] | None:
    """What one cause says of the network, ranked: the most telling first."""
    from urllib3.exceptions import (
        ConnectTimeoutError,
        NameResolutionError,
        NewConnectionError,
        ReadTimeoutError,
    )

    if isinstance(exc, NameResolutionError | socket.gaierror):
        return 0, "the host name does not resolve"
    if isinstance(exc, ConnectionRefusedError):
        return 1, "connection refused"
    if isinstance(exc, ConnectionResetError):
        return 2, "connection reset by the server"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return 3, f"its TLS certificate is not trusted ({exc.verify_message})"
    # urllib3's NewConnectionError is a ConnectTimeoutError too, for any failure to connect
    if isinstance(exc, ConnectTimeoutError) and not isinstance(exc, NewConnectionError):
        return 4, "no connection in time"
    if isinstance(exc, ReadTimeoutError):
        return 5, "no answer in time"
    return None


class BoundedPool:
    """A urllib3 pool manager whose answers are read whole within bounds before the caller
    sees them (the HubSpot SDK reads bodies itself, its errors' too)."""

    def __init__(self, inner: Any, timeout: float):
        self.inner = watched(inner)  # headers within the deadline too (inputs/deadline.py)
        self.timeout = timeout

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        from urllib3 import HTTPResponse

        started = time.monotonic()
        kwargs["preload_content"] = False
        raw = self.inner.request(method, url, *args, **kwargs)
        try:
            body = read_whole(pieces(raw), self.timeout, started)
        except BaseException:
            raw.close()  # the connection is dropped: its unread rest must not reach the next call
            raise
        finally:
            raw.release_conn()
        return HTTPResponse(body=body, headers=raw.headers, status=raw.status, reason=raw.reason,
                            preload_content=False, decode_content=False, request_method=method,
                            request_url=url)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def pieces(raw: Any) -> Iterator[bytes]:
    """A urllib3 answer's body, decompressed, as it comes: `read1` returns what has arrived
    (`stream` waits for whole pieces, so a trickle was never looked at until it ended) and
    decompresses at most a piece at a time."""
    while piece := raw.read1(PIECE, decode_content=True):
        yield piece
