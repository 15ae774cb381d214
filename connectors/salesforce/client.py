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

from kamrules.connectors.crm_json import BadJson, CrmJson
from kamrules.connectors.retry import Backoff, RetrySettings, retry_after
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


def error_of(resp: requests.Response) -> tuple[str | None, str]:
    """(errorCode, message) from a Salesforce error body: a list of errors, or an OAuth error."""
    try:
        body = CrmJson().loads(resp.content)
    except BadJson:
        return None, CrmJson().text(resp.content)[:300]
    if isinstance(body, list) and body and isinstance(body[0], dict):
        return body[0].get("errorCode"), str(body[0].get("message", ""))
    if isinstance(body, dict):
        return body.get("errorCode") or body.get("error"), str(body.get("message")
                                                             or body.get("error_description", ""))
    return None, str(body)[:300]


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
            try:
                resp = self.sf.session.request(
                    method, url, params=params, json=json, timeout=self.timeout,
                    headers={**self.sf.headers, **(headers or {})})
            except requests.RequestException as exc:
                request_hook().after()
                safe = isinstance(exc, requests.ConnectTimeout) or (
                    isinstance(exc, requests.ConnectionError) and "NewConnectionError" in repr(exc))
                if (idempotent or safe) and attempt + 1 < self.attempts:
                    self.backoff.wait(attempt)
                    attempt += 1
                    continue
                if not (idempotent or safe):
                    raise AmbiguousWrite(redact(f"{kind}: no answer from Salesforce"
                                                f" ({type(exc).__name__})", self.secrets)) from None
                raise self._fail(f"{kind}: cannot reach Salesforce ({type(exc).__name__})") from None
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
                             f" {code or ''}: {message}".replace("  ", " "), resp.status_code, code)

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

    # --- queries -------------------------------------------------------------------------------

    def query_pages(self, soql: str, include_deleted: bool = False) -> Iterator[dict[str, Any]]:
        """Result pages (`totalSize`, `records`) with every child subquery result paged in full."""
        endpoint = "queryAll" if include_deleted else "query"
        opts = {"Sforce-Query-Options": f"batchSize={self.page_size}"}
        page = self.get_json(f"{endpoint}/", "query", params={"q": soql}, headers=opts)
        while True:
            if not isinstance(page, dict) or not isinstance(page.get("records"), list):
                # never "no records": they would look deleted, and their tasks close
                shown = ", ".join(sorted(page)) if isinstance(page, dict) else type(page).__name__
                raise self._fail(f"query: Salesforce answered without records ({shown or 'empty'})")
            for record in page["records"]:
                self._complete_children(record)
            yield page
            if page.get("done", True) or not page.get("nextRecordsUrl"):
                return
            page = self.get_json(page["nextRecordsUrl"], "query", headers=opts)

    def _complete_children(self, record: dict[str, Any]) -> None:
        for value in record.values():
            if isinstance(value, dict) and "records" in value and not value.get("done", True):
                block = value
                while not block.get("done", True) and block.get("nextRecordsUrl"):
                    block = self.get_json(block["nextRecordsUrl"], "query_children")
                    value["records"].extend(block.get("records", []))
                value["done"] = True
                value.pop("nextRecordsUrl", None)

    def bulk_query(self, soql: str, include_deleted: bool = False,
                   max_records: int = 100_000, poll_seconds: float = 2.0) -> Iterator[list[dict]]:
        """Bulk API 2.0: one query job, polled until done, its CSV results read in large pages."""
        job = self.request("POST", "jobs/query", "bulk", json={
            "operation": "queryAll" if include_deleted else "query", "query": soql,
            "contentType": "CSV", "columnDelimiter": "COMMA", "lineEnding": "LF"})
        job = self.json_of(job, "bulk")
        job_id = job["id"]
        polls = 0
        while True:
            state = self.get_json(f"jobs/query/{job_id}", "bulk")
            if state.get("state") == "JobComplete":
                break
            if state.get("state") in ("Failed", "Aborted"):
                raise self._fail(f"bulk query job {job_id} {state.get('state')}:"
                                 f" {state.get('errorMessage', '')}")
            self.backoff.sleep(min(poll_seconds * (1.5 ** polls), 30.0))
            polls += 1
        locator: str | None = None
        while True:
            params: dict[str, Any] = {"maxRecords": max_records}
            if locator:
                params["locator"] = locator
            resp = self.request("GET", f"jobs/query/{job_id}/results", "bulk", params=params,
                                headers={"Accept": "text/csv"})
            yield [dict(row) for row in csv.DictReader(io.StringIO(self.decoded.text(resp.content)))]
            locator = resp.headers.get("Sforce-Locator")
            if not locator or locator == "null":
                return

    def describe(self, obj: str) -> dict[str, Any] | None:
        """An object's describe result, or None when the org has no such object (404)."""
        try:
            return self.get_json(f"sobjects/{quote(obj)}/describe", "describe")
        except SfError as exc:
            if exc.status == 404:
                return None
            raise
