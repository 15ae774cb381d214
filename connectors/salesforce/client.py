"""Every HTTP call to Salesforce goes through here: counted, retried with backoff and jitter,
re-authenticated once on an expired session, and stopped before the API budget is spent."""

from __future__ import annotations

import csv
import io
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import requests

from kamrules.connectors.bounded import AnswerTooLarge, AnswerTooSlow, what_failed
from kamrules.connectors.crm_json import BadJson, CrmJson
from kamrules.connectors.cursors import Cursors
from kamrules.connectors.retry import Backoff, RetrySettings, retry_after
from kamrules.connectors.salesforce import answers
from kamrules.errors import CrmError
from kamrules.inputs.secrets import Secret, redact
from kamrules.protocol.hooks import request_hook

TRANSIENT_CODES = {"REQUEST_LIMIT_EXCEEDED", "SERVER_UNAVAILABLE", "UNABLE_TO_LOCK_ROW"}


class SfError(CrmError):
    """Salesforce refused or failed; the message is redacted of every secret."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.code = status, code


class AmbiguousWrite(SfError):
    """A create was sent and failed without saying whether Salesforce carried it out (5xx, a
    timeout or a connection reset after sending): read back before writing again."""


class BudgetExceeded(SfError):
    """The next call would pass the configured share of the org's daily API requests."""


# How long a Bulk API 2.0 query job may stay queued or in progress: generous (a big org's job
# can queue behind others for a long while), but bounded: one stuck InProgress was polled forever.
BULK_WAIT_SECONDS = 6 * 3600


def error_of(resp: requests.Response) -> tuple[str | None, str]:
    """(errorCode, message) from a Salesforce error body: a list of errors, or an OAuth error."""
    try:
        body = CrmJson().loads(resp.content)
    except BadJson:
        return None, CrmJson().text(resp.content)[:300]
    return answers.error_of(body)


class SfClient:
    """A thin, careful HTTP layer over a logged-in simple-salesforce `Salesforce` object."""

    def __init__(self, sf: Any, retry: RetrySettings, budget_share: float, secrets: list[Secret],
                 reauth: Callable[[], int] | None, timeout: float = 120.0,
                 sleep: Callable[[float], None] = time.sleep, page_size: int = 2000):
        self.sf = sf
        self.backoff = Backoff(retry, sleep=sleep)
        self.attempts = retry.attempts
        self.budget_share = budget_share
        self.secrets = secrets
        self.reauth = reauth
        self.timeout = timeout
        self.page_size = page_size
        self.calls: Counter[str] = Counter()
        self.usage: tuple[int, int] | None = None
        self.decoded = CrmJson()  # counts the characters made U+FFFD in its answers

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    def url(self, path: str) -> str:
        if path.startswith("https://"):
            return path
        if path.startswith("/services/"):
            return f"https://{self.sf.sf_instance}{path}"
        return self.sf.base_url + path

    def _fail(self, message: str, status: int | None = None, code: str | None = None) -> SfError:
        return SfError(redact(message, self.secrets), status, code)

    def check_budget(self) -> None:
        if self.usage is None:
            return
        used, limit = self.usage
        if limit and used + 1 > self.budget_share * limit:
            raise BudgetExceeded(
                f"API budget reached: the org has used {used} of {limit} daily API requests and "
                f"api_budget_share is {self.budget_share}; stopping before the next call",
                None, "API_BUDGET")

    def note_usage(self, resp: requests.Response) -> None:
        info = resp.headers.get("Sforce-Limit-Info")
        if info:
            parsed = self.sf.parse_api_usage(info).get("api-usage")
            if parsed is not None:
                self.usage = (parsed.used, parsed.total)

    def request(self, method: str, path: str, kind: str, *, params: dict[str, Any] | None = None,
                json: Any = None, headers: dict[str, str] | None = None,
                idempotent: bool = True) -> requests.Response:
        """One API call, retried on transient failures; raises SfError when it cannot succeed.

        Non-idempotent calls (creating records) are retried only when Salesforce surely did not
        process them: a connection that never opened, 503, or a request-limit refusal."""
        url = self.url(path)
        attempt, reauthed = 0, False
        while True:
            self.check_budget()
            self.calls[kind] += 1
            request_hook().before(kind)  # a shared budget across workers, when one is set
            try:  # read whole within bounds by the session's adapter (auth.http_session)
                resp = self.sf.session.request(
                    method, url, params=params, json=json, timeout=self.timeout,
                    headers={**self.sf.headers, **(headers or {})})
            except AnswerTooLarge as exc:  # it would come as large again: not retried
                request_hook().after()
                message = redact(f"{kind}: Salesforce sent {exc}", self.secrets)
                raise (SfError if idempotent else AmbiguousWrite)(message) from None
            except (requests.RequestException, AnswerTooSlow) as exc:
                request_hook().after()
                safe = isinstance(exc, requests.ConnectTimeout) or (
                    isinstance(exc, requests.ConnectionError) and "NewConnectionError" in repr(exc))
                if (idempotent or safe) and attempt + 1 < self.attempts:
                    self.backoff.wait(attempt)
                    attempt += 1
                    continue
                if not (idempotent or safe):
                    raise AmbiguousWrite(redact(f"{kind}: no answer from Salesforce"
                                                f" ({what_failed(exc)})", self.secrets)) from None
                raise self._fail(f"{kind}: cannot reach Salesforce ({what_failed(exc)})") from None
            request_hook().after()
            self.note_usage(resp)
            if resp.status_code < 300:
                return resp
            code, message = error_of(resp)
            if resp.status_code == 401 and code == "INVALID_SESSION_ID" and not reauthed \
                    and self.reauth is not None:
                self.calls["login"] += self.reauth()
                reauthed = True
                continue
            wait = retry_after(resp.headers.get("Retry-After"))
            transient = resp.status_code in (503, 429) or code in TRANSIENT_CODES
            if (transient or (resp.status_code >= 500 and idempotent)) and attempt + 1 < self.attempts:
                self.backoff.wait(attempt, at_least=wait)
                attempt += 1
                continue
            if resp.status_code >= 500 and not idempotent and not transient:
                raise AmbiguousWrite(redact(f"{kind}: Salesforce answered {resp.status_code}"
                                            f" {code or ''}: {message}", self.secrets),
                                     resp.status_code, code)
            raise self._fail(f"{kind}: Salesforce answered {resp.status_code}"
                             f"{' ' + code if code else ''}: {message}", resp.status_code, code)

    def get_json(self, path: str, kind: str, **kw: Any) -> Any:
        """A GET's JSON; an answer that is not JSON (a proxy's page) is asked for again, as a
        failed connection is, then an SfError: never read as an empty answer."""
        for attempt in range(self.attempts):
            resp = self.request("GET", path, kind, **kw)
            if attempt + 1 == self.attempts:
                break
            try:
                return self.decoded.loads(resp.content)
            except BadJson:
                self.backoff.wait(attempt)
        return self.json_of(resp, kind)

    def json_of(self, resp: requests.Response, kind: str, ambiguous: bool = False) -> Any:
        """A successful answer's JSON, its text made Unicode; SfError when it is not JSON
        (AmbiguousWrite with `ambiguous`: the answer to a create that may have been carried out)."""
        try:
            return self.decoded.loads(resp.content)
        except BadJson as exc:
            message = redact(f"{kind}: Salesforce answered {resp.status_code} with a body that is"
                             f" not JSON ({exc})", self.secrets)
            raise (AmbiguousWrite if ambiguous else SfError)(message, resp.status_code) from None

    def results(self, resp: requests.Response, kind: str, creates: bool = False) -> list[dict[str, Any]]:
        """sObject Collections' per-record results; an answer of another shape is an SfError, or
        with `creates` an AmbiguousWrite (the tasks may exist: read back, never sent twice)."""
        try:
            return answers.results(self.json_of(resp, kind, ambiguous=creates), creates)
        except answers.Shape as exc:
            raise (AmbiguousWrite if creates else SfError)(
                f"{kind}: Salesforce answered {resp.status_code} with {exc}", resp.status_code) from None

    def checked(self, value: Any, check: Callable[..., Any], kind: str, *args: Any) -> Any:
        """`check(value, *args)` (answers.py); an answer of another shape is an SfError naming it."""
        try:
            return check(value, *args)
        except answers.Shape as exc:
            raise self._fail(f"{kind}: Salesforce answered {exc}") from None

    # --- queries -------------------------------------------------------------------------------

    def query_pages(self, soql: str, include_deleted: bool = False) -> Iterator[dict[str, Any]]:
        """Result pages (`totalSize`, `records`) with every child subquery result paged in full;
        an answer of another shape, or paging that comes back to a page, is an SfError."""
        endpoint = "queryAll" if include_deleted else "query"
        opts = {"Sforce-Query-Options": f"batchSize={self.page_size}"}
        seen = Cursors()
        page = self.get_json(f"{endpoint}/", "query", params={"q": soql}, headers=opts)
        while True:
            self.checked(page, answers.page, "query", seen)
            for record in page["records"]:
                self._complete_children(record, seen)
            yield page
            if page.get("done", "nextRecordsUrl" not in page):
                return
            page = self.get_json(page["nextRecordsUrl"], "query", headers=opts)

    def _complete_children(self, record: dict[str, Any], seen: Cursors) -> None:
        for value in record.values():
            if isinstance(value, dict) and "records" in value:
                block = self.checked(value, answers.page, "query_children", seen)
                while not block.get("done", "nextRecordsUrl" not in block):
                    block = self.get_json(block["nextRecordsUrl"], "query_children")
                    self.checked(block, answers.page, "query_children", seen)
                    value["records"].extend(block["records"])
                value["done"] = True
                value.pop("nextRecordsUrl", None)

    def bulk_query(self, soql: str, include_deleted: bool = False,
                   max_records: int = 100_000, poll_seconds: float = 2.0) -> Iterator[list[dict]]:
        """Bulk API 2.0: one query job, polled until done, its CSV results read in large pages."""
        job = self.request("POST", "jobs/query", "bulk", json={
            "operation": "queryAll" if include_deleted else "query", "query": soql,
            "contentType": "CSV", "columnDelimiter": "COMMA", "lineEnding": "LF"})
        job = self.json_of(job, "bulk")
        if not isinstance(job, dict) or not isinstance(job.get("id"), str) or not job["id"]:
            raise self._fail(f"bulk: Salesforce answered a query job without an id ({type(job).__name__})")
        job_id = job["id"]
        polls, waited = 0, 0.0
        while True:
            body = self.get_json(f"jobs/query/{job_id}", "bulk")
            state = body.get("state") if isinstance(body, dict) else None
            if state == "JobComplete":
                break
            if state in ("Failed", "Aborted") or not isinstance(state, str):
                raise self._fail(f"bulk query job {job_id} {state or 'answered without a state'}:"
                                 f" {body.get('errorMessage', '') if isinstance(body, dict) else ''}")
            if waited >= BULK_WAIT_SECONDS:  # a job that never ends is a failing org, not a wait
                raise self._fail(f"bulk query job {job_id} still {state[:40]} after"
                                 f" {waited:,.0f} seconds of waiting")
            pause = min(poll_seconds * (1.5 ** polls), 30.0)
            self.backoff.sleep(pause)
            polls, waited = polls + 1, waited + pause
        locator: str | None = None
        locators = Cursors()
        while True:
            params: dict[str, Any] = {"maxRecords": max_records}
            if locator:
                params["locator"] = locator
            resp = self.request("GET", f"jobs/query/{job_id}/results", "bulk", params=params,
                                headers={"Accept": "text/csv"})
            try:
                rows = [dict(row) for row in csv.DictReader(io.StringIO(self.decoded.text(resp.content)))]
            except csv.Error as exc:  # a proxy's page, a cell past csv's 131,072 characters
                raise self._fail(f"bulk: Salesforce answered results that cannot be read as CSV"
                                 f" ({exc})") from None
            yield rows
            locator = resp.headers.get("Sforce-Locator")
            if not locator or locator == "null":
                return
            problem = locators.follow(locator, len(rows))
            if problem:
                raise self._fail(f"bulk: Salesforce answered the Sforce-Locator {problem}")

    def describe(self, obj: str) -> dict[str, Any] | None:
        """An object's describe result, or None when the org has no such object (404)."""
        try:
            found = self.get_json(f"sobjects/{quote(obj)}/describe", "describe")
        except SfError as exc:
            if exc.status == 404:
                return None
            raise
        return self.checked(found, answers.describe, "describe", obj)
