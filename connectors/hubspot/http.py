"""HubSpot calls through hubspot-api-client: a client-side rate limiter, retries and call counts.

Every call goes through `HubSpotApi.call`, which waits for the 10-second budget (and the search
budget), counts the call, retries connection errors, 5xx and TEN_SECONDLY 429s with backoff, and
turns a DAILY 429 into `DailyLimitReached`. Responses are read raw (`_preload_content=False`) and
parsed as JSON (`CrmJson`: text that is not Unicode becomes U+FFFD, counted): property values
stay the strings HubSpot sent.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kamrules.connectors.bounded import AnswerTooLarge, BoundedPool, what_failed
from kamrules.connectors.crm_json import BadJson, CrmJson
from kamrules.connectors.retry import Backoff, RetrySettings, retry_after
from kamrules.errors import CrmError
from kamrules.inputs.secrets import Secret, redact
from kamrules.protocol.hooks import request_hook


class HubSpotError(CrmError):
    """HubSpot refused a call; the message is HubSpot's own, with the token redacted."""

    def __init__(self, message: str, status: int | None = None, body: dict[str, Any] | None = None):
        super().__init__(message)
        self.status = status
        self.body = body or {}


class DailyLimitReached(HubSpotError):
    """The account's daily API limit is spent: stop the run, keep what was done."""


class AmbiguousWrite(HubSpotError):
    """A write that is not safe to repeat was sent and failed without saying whether it was carried
    out (5xx, timeout, connection reset): read back before writing again, never retry blindly."""


class AnswerNotJson(Exception):
    """A call answered 2xx with a body that is not JSON (a proxy's page): retried as a failed
    connection is, never read as an empty answer (no records would look like none in HubSpot)."""


@dataclass
class RateLimiter:
    """At most `budget` calls in any `window` seconds, counted from when each call *ended*.

    A call's arrival at the server lies between its start and its end, so counting ends makes
    the server's own sliding-window count never exceed the budget.
    """

    budget: int
    window: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    ends: deque[float] = field(default_factory=deque)
    waited: float = 0.0

    def acquire(self) -> None:
        while True:
            now = self.clock()
            while self.ends and self.ends[0] <= now - self.window:
                self.ends.popleft()
            if len(self.ends) < self.budget:
                return
            pause = self.ends[0] + self.window - now + 1e-4
            self.waited += pause
            self.sleep(pause)

    def done(self) -> None:
        self.ends.append(self.clock())

    def saturate(self) -> None:
        """The server says the window is full (calls made elsewhere count too): wait a whole window."""
        self.ends = deque([self.clock()] * self.budget)


class HubSpotApi:
    """One HubSpot portal: the SDK's generated APIs behind limits, retries and counters."""

    def __init__(
        self,
        token: Secret,
        base_url: str,
        budget: int,
        search_per_second: int,
        retry: RetrySettings,
        window: float = 10.0,
        timeout: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        from hubspot import HubSpot
        from urllib3.util.retry import Retry

        self._token = token
        self.client = HubSpot(
            access_token=token.reveal(),
            host=base_url.rstrip("/"),
            retry=Retry(total=0, redirect=0, raise_on_status=False),
            api_factory=_bounded_apis(timeout),
        )
        self.limiter = RateLimiter(budget, window, sleep=sleep)
        self.search_limiter = RateLimiter(search_per_second, window / 10.0, sleep=sleep)
        self.backoff = Backoff(retry, sleep=sleep)
        self.attempts = retry.attempts
        self.timeout = timeout
        self.calls: Counter[str] = Counter()
        self.retries = 0
        self.throttled = 0
        self.decoded = CrmJson()  # counts the characters made U+FFFD in its answers

    def _policy(self, exc: Exception) -> str:
        return str(self._json(getattr(exc, "body", b"") or b"").get("policyName", ""))

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    def call(
        self,
        endpoint: str,
        fn: Callable[..., Any],
        *args: Any,
        search: bool = False,
        idempotent: bool = True,
        **kwargs: Any,
    ) -> tuple[int, dict[str, Any]]:
        """(status, JSON body) of one API call, after waiting, counting and retrying.

        A call that is not `idempotent` (a batch create) is retried only when HubSpot surely did not
        carry it out (429, a connection never opened); else it raises `AmbiguousWrite`."""
        kwargs.update(_preload_content=False, _request_timeout=self.timeout)
        attempt = 0
        while True:
            self.limiter.acquire()
            if search:
                self.search_limiter.acquire()
            request_hook().before(endpoint)  # a shared budget across workers, when one is set
            self.calls[endpoint] += 1
            try:
                response = fn(*args, **kwargs)
                if not response.data and response.status == 200:  # 204 is the empty answer
                    raise AnswerNotJson("an empty answer")
                return response.status, self._answer(response.data)
            except Exception as exc:  # noqa: BLE001 - classified below, never leaked raw
                problem, failure = self._classify(exc), exc
            finally:
                request_hook().after()
                self.limiter.done()
                if search:
                    self.search_limiter.done()
            retry_after, final = problem
            if isinstance(failure, AnswerTooLarge):  # it would come as large again: not retried
                raise (HubSpotError if idempotent else AmbiguousWrite)(f"{endpoint}: HubSpot sent {failure}")
            if getattr(failure, "status", None) == 429 and final is None:
                self.throttled += 1
                (
                    self.search_limiter if search and self._policy(failure) == "SECONDLY" else self.limiter
                ).saturate()
            attempt += 1
            if final is None and not idempotent and _maybe_done(failure):
                status = getattr(failure, "status", None)
                raise AmbiguousWrite(f"{endpoint}: no clear answer ({_what(failure)})", status)
            if final is not None or attempt >= self.attempts:
                raise final or self._gave_up(failure, endpoint)
            self.retries += 1
            self.backoff.wait(attempt - 1, at_least=retry_after)

    def _classify(self, exc: Exception) -> tuple[float, HubSpotError | None]:
        """(Retry-After floor, error to raise now or None to retry)."""
        status = getattr(exc, "status", None)
        if status is None or not hasattr(exc, "body"):  # urllib3: refused, reset, timed out
            return 0.0, None
        body = self._json(getattr(exc, "body", b"") or b"")
        message = self.redact(str(body.get("message") or getattr(exc, "reason", "") or "no message"))
        if status == 429:
            policy = str(body.get("policyName", ""))
            if policy == "DAILY":
                return 0.0, DailyLimitReached(
                    f"HubSpot daily API limit reached (429 DAILY): {message}", status, body
                )
            return _retry_after(exc), None
        if status >= 500:
            return _retry_after(exc), None
        if status == 401:
            return 0.0, HubSpotError(
                f"HubSpot refused the access token (401 {body.get('category', 'UNAUTHORIZED')}):"
                f" {message} Check the private app's token and that it is not rotated or revoked.",
                status,
                body,
            )
        if status == 403:
            return 0.0, HubSpotError(
                f"HubSpot denied access (403 {body.get('category', 'FORBIDDEN')}): {message}"
                " The private app probably lacks a scope (see docs/hubspot.md).",
                status,
                body,
            )
        return 0.0, HubSpotError(
            f"HubSpot answered {status} {body.get('category', '')}: {message}", status, body
        )

    def _gave_up(self, exc: Exception, endpoint: str) -> HubSpotError:
        return HubSpotError(self.redact(f"HubSpot unreachable or failing on {endpoint} after"
                                        f" {self.attempts} tries ({_what(exc)})"),
                            getattr(exc, "status", None))

    def _answer(self, data: bytes | str) -> dict[str, Any]:
        """A successful answer's JSON object (a list as `results`; {} for an empty body)."""
        if not data:
            return {}
        try:
            value = self.decoded.loads(data)
        except BadJson as exc:
            raise AnswerNotJson(f"an answer that is not JSON ({exc})") from None
        return value if isinstance(value, dict) else {"results": value}

    def _json(self, data: bytes | str) -> dict[str, Any]:
        """An error's JSON object; {} for an empty body or one not JSON."""
        try:
            return self._answer(data)
        except AnswerNotJson:
            return {}

    def redact(self, text: str) -> str:
        return redact(text, [self._token])


def _bounded_apis(timeout: float) -> Callable[[Any, str, dict[str, Any]], Any]:
    """The SDK's `api_factory`: its own APIs, each reading answers within bounds (bounded.py)."""
    from hubspot.discovery.discovery_base import DiscoveryBase

    def make(package: Any, api_name: str, config: dict[str, Any]) -> Any:
        api = DiscoveryBase._default_api_factory(package, api_name, config)
        rest = api.api_client.rest_client
        rest.pool_manager = BoundedPool(rest.pool_manager, timeout)
        return api

    return make


def _what(exc: Exception) -> str:
    """A failed call in a few words: its HTTP status, else what went wrong."""
    if isinstance(exc, AnswerNotJson):
        return str(exc)
    status = getattr(exc, "status", None)
    return f"HTTP {status}" if status else what_failed(exc)


def _maybe_done(exc: Exception) -> bool:
    """Whether a failed call may have been carried out: any answer but 429, or a connection
    that broke after the request was sent (a connection never opened carried nothing out)."""
    status = getattr(exc, "status", None)
    if status is not None and hasattr(exc, "body"):
        return status != 429
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

    reason = getattr(exc, "reason", None) or exc
    return not isinstance(reason, ConnectTimeoutError | NewConnectionError)


def _retry_after(exc: Exception) -> float:
    headers = getattr(exc, "headers", None) or {}
    value = headers.get("Retry-After") or headers.get("retry-after") if hasattr(headers, "get") else None
    return retry_after(value, default=1.0)

