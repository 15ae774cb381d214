"""kamrules' Tasks in Salesforce: read back for reconciliation, and written through sObject
Collections (200 records a call, allOrNone false), each record's failure reported on its own."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from kamrules.connectors.salesforce.answers import errors_text
from kamrules.connectors.salesforce.client import AmbiguousWrite, BudgetExceeded, SfClient, SfError
from kamrules.connectors.salesforce.config import SalesforceConfig
from kamrules.connectors.salesforce.pull import soql_string
from kamrules.connectors.salesforce.taskrows import (
    CLOSED_NOTE,
    DESCRIPTION_MAX,
    SUBJECT_MAX,
    Unreadable,
    closing_description,
    read_row,
)
from kamrules.model import RecordWarning, Task
from kamrules.protocol.changes import Change, ChangeResult
from kamrules.protocol.connector import Progress, no_progress
from kamrules.protocol.faults import checkpoint
from kamrules.protocol.fieldlength import fit
from kamrules.protocol.marker import add_marker, edited_hash

BATCH = 200
PRIORITY_TO_SF = {"low": "Low", "normal": "Normal", "high": "High"}


READ_FIELDS = ["Id", "Subject", "Description", "WhatId", "OwnerId", "ActivityDate", "Priority",
               "Status", "IsClosed", "CreatedDate", "CompletedDateTime", "LastModifiedDate"]
WRITE_FIELDS = ["Subject", "Description", "OwnerId", "Priority", "WhatId", "Status", "ActivityDate"]


class TaskWriter:
    """Reads and writes the Task records that carry a kamrules fingerprint."""

    def __init__(self, client: SfClient, config: SalesforceConfig):
        self.client = client
        self.config = config
        self.fp_field = config.fingerprint_field
        self.task_warnings: list[RecordWarning] = []  # rows list_tasks could not read
        self.unreadable: dict[str, Unreadable] = {}  # kamrules' own unreadable open tasks
        # open tasks whose Description a person wrote in: id -> (that text, the marker's hash of
        # what kamrules wrote); an update leaves the text as it is (their notes were lost)
        self.edited: dict[str, tuple[str, str]] = {}
        self.write_warnings: list[RecordWarning] = []  # closing those failed

    def prefix_filter(self) -> str:
        """Tasks whose subject starts with `subject_prefix` (long text is not filterable)."""
        prefix = self.config.subject_prefix.replace("%", "\\%").replace("_", "\\_")
        return f"Subject LIKE {soql_string(prefix + '%')}"

    def marker_filter(self) -> str:
        """The SOQL condition that finds kamrules' tasks. With a fingerprint field, tasks
        written before it was configured carry only the subject prefix: they are found too."""
        if self.fp_field:
            return f"({self.fp_field} != null OR {self.prefix_filter()})"
        return self.prefix_filter()

    def not_ours(self) -> str:
        if self.fp_field:
            return f"({self.fp_field} = null AND (NOT {self.prefix_filter()}))"
        return f"(NOT {self.prefix_filter()})"

    # --- reading -------------------------------------------------------------------------------

    def list_tasks(self, completed_since: date) -> list[Task]:
        """kamrules' tasks; a row that cannot be read is a warning (`task_warnings`), and kamrules'
        own unreadable open ones are remembered for `apply` to close (taskrows.py)."""
        fields = READ_FIELDS + ([self.fp_field] if self.fp_field else [])
        soql = (f"SELECT {', '.join(fields)} FROM Task WHERE {self.marker_filter()} AND"
                f" (IsClosed = false OR LastModifiedDate >= {completed_since.isoformat()}T00:00:00Z)")
        tasks: list[Task] = []
        warnings: dict[str, list[RecordWarning]] = {}
        self.unreadable, self.edited = {}, {}
        for page in self.client.query_pages(soql):
            for row in page["records"]:
                read = read_row(row, self.fp_field, self.config.subject_prefix)
                rid = str(row.get("Id"))
                warnings[rid] = read.warnings(rid)
                if read.task is not None:
                    tasks.append(read.task)
                    if read.task.status == "open" and (h := edited_hash(row.get("Description"))):
                        self.edited[rid] = (read.task.body, h)
                if read.close is not None:
                    self.unreadable[read.close.crm_id] = read.close
        self.task_warnings = [w for ws in warnings.values() for w in ws]
        return tasks

    # --- writing -------------------------------------------------------------------------------

    def fields(self, change: Change) -> dict[str, Any]:
        t = change.task
        subject = t.subject if self.fp_field else self.config.subject_prefix + t.subject
        if change.action == "close":
            note = f"{CLOSED_NOTE} {change.reason}".strip()
            body = add_marker(t.body, t.fingerprint, t.evidence, DESCRIPTION_MAX, note=note,
                              assigned=t.assigned)
            closed = {"Id": t.crm_id, "Status": self.config.completed_status, "Description": body}
            return {**closed, self.fp_field: t.fingerprint} if self.fp_field else closed
        text, written = self.edited.get(t.crm_id or "", (t.body, None))
        record: dict[str, Any] = {
            "Subject": fit(subject, SUBJECT_MAX),  # as Salesforce counts
            "Description": add_marker(text, t.fingerprint, t.evidence, DESCRIPTION_MAX,
                                      assigned=t.assigned, written=written),
            "OwnerId": t.owner_id, "Priority": PRIORITY_TO_SF[t.priority],
        }
        if change.action == "create":
            record.update(WhatId=t.account_id, Status=self.config.open_status,
                          ActivityDate=t.due.isoformat() if t.due else None)
        else:
            record["Id"] = t.crm_id
        if self.fp_field:  # an update fills it on a task written before the field was configured
            record[self.fp_field] = t.fingerprint
        return {k: v for k, v in record.items() if v is not None}

    def apply(self, changes: Sequence[Change], progress: Progress = no_progress) -> list[ChangeResult]:
        writes = [c for c in changes if c.writes]
        results: list[ChangeResult | None] = [None] * len(writes)
        creates = [i for i, c in enumerate(writes) if c.action == "create"]
        patches = [i for i, c in enumerate(writes) if c.action != "create"]
        stopped: str | None = None
        done = 0
        for method, indexes in (("POST", creates), ("PATCH", patches)):
            for start in range(0, len(indexes), BATCH):
                batch = indexes[start:start + BATCH]
                if stopped is None:
                    try:
                        self._send(method, [writes[i] for i in batch], batch, results)
                    except BudgetExceeded as exc:
                        stopped = str(exc)
                    except SfError as exc:
                        for i in batch:
                            results[i] = _failed(writes[i], str(exc))
                    checkpoint("write")
                if stopped is not None:
                    for i in batch:
                        results[i] = results[i] or _failed(writes[i], stopped)
                done += len(batch)
                progress("write", done, len(writes))
        self._close_unreadable(stopped)
        return [r if r is not None else _failed(writes[i], "no result") for i, r in enumerate(results)]

    def _close_unreadable(self, stopped: str | None) -> None:
        """Close kamrules' own unreadable open tasks with a note (their ids only: one PATCH per
        200); a failure is a warning in `write_warnings` and the task stays for the next run."""
        items = list(self.unreadable.values())
        self.unreadable = {}
        for start in range(0, len(items), BATCH):
            batch = items[start:start + BATCH]
            problem = stopped
            answers: list[dict[str, Any]] = []
            if problem is None:
                records = [{"attributes": {"type": "Task"}, "Id": u.crm_id,
                            "Status": self.config.completed_status,
                            "Description": closing_description(u)} for u in batch]
                try:
                    answers = self.client.results(self.client.request(
                        "PATCH", "composite/sobjects", "write",
                        json={"allOrNone": False, "records": records}), "write")
                except (BudgetExceeded, SfError) as exc:
                    problem = stopped = str(exc)
            for n, u in enumerate(batch):
                answer = answers[n] if n < len(answers) else {}
                if not answer.get("success"):
                    why = problem or errors_text(answer) or "no result"
                    self.write_warnings.append(RecordWarning(
                        kind="tasks", record_id=u.crm_id,
                        message=f"could not close kamrules' unreadable task: {why}"))

    def _send(self, method: str, batch: list[Change], indexes: list[int],
              results: list[ChangeResult | None]) -> None:
        if method == "POST":
            self._create(batch, indexes, results)
            return
        records = [{"attributes": {"type": "Task"}, **self.fields(c)} for c in batch]
        resp = self.client.request(method, "composite/sobjects", "write",
                                   json={"allOrNone": False, "records": records})
        self._answers(self.client.results(resp, "write"), batch, indexes, results)

    def _create(self, batch: list[Change], indexes: list[int],
                results: list[ChangeResult | None]) -> None:
        """Create tasks; after an ambiguous answer, read back by fingerprint and create only the
        missing ones (a composite create is never repeated blindly)."""
        pending = list(zip(indexes, batch, strict=True))
        problem = ""
        for _ in range(self.client.attempts):
            records = [{"attributes": {"type": "Task"}, **self.fields(c)} for _, c in pending]
            try:
                resp = self.client.request("POST", "composite/sobjects", "write",
                                           json={"allOrNone": False, "records": records},
                                           idempotent=False)
                answers = self.client.results(resp, "write", creates=True)
            except AmbiguousWrite as exc:
                problem = str(exc)
                found = self.open_ids({c.fingerprint for _, c in pending})
                for i, c in pending:
                    if c.fingerprint in found:
                        results[i] = ChangeResult(fingerprint=c.fingerprint, action=c.action,
                                                  ok=True, crm_id=found[c.fingerprint])
                pending = [(i, c) for i, c in pending if results[i] is None]
                if not pending:
                    return
                continue
            self._answers(answers, [c for _, c in pending], [i for i, _ in pending], results)
            return
        for i, c in pending:
            results[i] = _failed(c, f"not written: {problem}")

    def open_ids(self, fingerprints: set[str]) -> dict[str, str]:
        """fingerprint -> Id of an open kamrules task carrying it. Reconciliation creates a task
        only where none is open, so one found after an ambiguous create is that create's."""
        fields = READ_FIELDS + ([self.fp_field] if self.fp_field else [])
        soql = (f"SELECT {', '.join(fields)} FROM Task WHERE {self.marker_filter()}"
                " AND IsClosed = false")
        out: dict[str, str] = {}
        for page in self.client.query_pages(soql):
            for row in page["records"]:
                task = read_row(row, self.fp_field, self.config.subject_prefix).task
                if task is not None and task.fingerprint in fingerprints:
                    out.setdefault(task.fingerprint, str(task.crm_id))
        return out

    def _answers(self, answers: list[dict[str, Any]], batch: list[Change], indexes: list[int],
                 results: list[ChangeResult | None]) -> None:
        for n, (i, change) in enumerate(zip(indexes, batch, strict=True)):
            answer = answers[n] if n < len(answers) else {"success": False, "errors": []}
            if answer.get("success"):
                results[i] = ChangeResult(fingerprint=change.fingerprint, action=change.action,
                                          ok=True, crm_id=answer.get("id") or change.task.crm_id)
            else:
                results[i] = _failed(change, errors_text(answer) or "UNKNOWN: no result")


def _failed(change: Change, error: str) -> ChangeResult:
    return ChangeResult(fingerprint=change.fingerprint, action=change.action, ok=False, error=error)
