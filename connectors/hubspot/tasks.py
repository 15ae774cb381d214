"""kamrules' tasks in HubSpot: read back by their body marker, written in batches of 100.

The fingerprint and evidence travel as the marker line of `hs_task_body` (and in
`fingerprint_property` when the admin made one). A task kamrules closed carries a
"Closed by kamrules" line above the marker, so it reads back as `closed`, not as `completed`
by a person (which suppresses the finding until renotify_after_days).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from kamrules.connectors.hubspot.http import AmbiguousWrite, DailyLimitReached, HubSpotApi, HubSpotError
from kamrules.connectors.hubspot.pull import Reader, chunks, objects_of
from kamrules.connectors.hubspot.task_rows import (
    CLOSED_NOTE,
    MAX_TEXT,
    ReadBack,
    Unusable,
    _plain,
    closing_body,
)
from kamrules.model import RecordWarning, Task
from kamrules.protocol.changes import Change, ChangeResult
from kamrules.protocol.connector import Progress, no_progress
from kamrules.protocol.faults import checkpoint
from kamrules.protocol.marker import add_marker, read_marker

WRITE_BATCH = 100
TASK_TO_COMPANY = 192
PRIORITY_OUT = {"low": "LOW", "normal": "MEDIUM", "high": "HIGH"}
TASK_PROPERTIES = [
    "hs_task_subject",
    "hs_task_body",
    "hs_task_status",
    "hs_task_priority",
    "hs_timestamp",
    "hubspot_owner_id",
    "hs_task_completion_date",
    "hs_createdate",
    "hs_lastmodifieddate",
]


class TaskStore:
    """Reads and writes kamrules' HubSpot tasks through one `HubSpotApi`."""

    def __init__(self, api: HubSpotApi, fingerprint_property: str | None = None):
        self.api = api
        self.fp_property = fingerprint_property
        self.crm = api.client.crm
        self.warnings: list[RecordWarning] = []  # rows the last listing could not read
        self.unusable: list[Unusable] = []  # open rows of kamrules' own a run closes as unreadable
        self.edited: dict[str, tuple[str, str]] = {}  # open tasks a person wrote in (task_rows.py)
        self.closed_unreadable = 0

    # --- read back ---------------------------------------------------------------------------

    def list_tasks(self, completed_since: date) -> list[Task]:
        """Every open kamrules task and those completed since the date, by listing (search lags)."""
        # the list endpoint, not search: search lags behind writes, and a task missed after a
        # crash would be created twice
        read = self.read_back()
        self.warnings, self.unusable, self.edited = read.warnings, read.unusable, read.edited
        return [t for t in read.tasks
                if t.status == "open" or (t.completed or date.min) >= completed_since]

    def read_back(self) -> ReadBack:
        """Every task row in the portal read (see task_rows): kamrules' own, warnings, unusable."""
        properties = TASK_PROPERTIES + ([self.fp_property] if self.fp_property else [])
        out = ReadBack()
        for row in Reader(self.api).each("tasks", properties):
            out.add(row, self.fp_property)
        return out

    # --- write -------------------------------------------------------------------------------

    def apply(self, changes: Sequence[Change], progress: Progress = no_progress) -> list[ChangeResult]:
        writes = [c for c in changes if c.writes]
        results: dict[int, ChangeResult] = {}
        creates = [i for i, c in enumerate(writes) if c.action == "create"]
        updates = [i for i, c in enumerate(writes) if c.action != "create"]
        stopped: str | None = None
        for kind, indexes in (("create", creates), ("update", updates)):
            for part in chunks(indexes, WRITE_BATCH):  # type: ignore[arg-type]
                if stopped is None:
                    try:
                        results.update(self._batch(kind, [(i, writes[i]) for i in part]))
                    except DailyLimitReached as exc:
                        stopped = f"not written: {exc}"
                    except HubSpotError as exc:
                        if exc.status in (401, 403):
                            raise
                        results.update({i: _failed(writes[i], str(exc)) for i in part})
                if stopped is not None:
                    results.update({i: _failed(writes[i], stopped) for i in part if i not in results})
                progress("write", len(results), len(writes))
        if stopped is None:
            self.close_unusable()
        return [results[i] for i in range(len(writes))]

    def close_unusable(self) -> None:
        """Close the open rows of kamrules' own the last listing could not read, with a note; a
        failure leaves them for the next run (which finds them open, and closes them then)."""
        for part in chunks(self.unusable, WRITE_BATCH):  # type: ignore[arg-type]
            inputs = [{"id": u.crm_id, "properties": {"hs_task_status": "COMPLETED",
                                                      "hs_task_body": closing_body(u.body, u.problem)}}
                      for u in part]
            try:
                _, body = self.api.call("POST /crm/v3/objects/tasks/batch/update",
                                        self.crm.objects.batch_api.update, "tasks", {"inputs": inputs})
            except HubSpotError as exc:
                if exc.status in (401, 403):
                    raise
                return
            finally:
                checkpoint("write")
            self.closed_unreadable += len(objects_of(body.get("results")))
        self.unusable = []

    def _batch(self, kind: str, items: list[tuple[int, Change]]) -> dict[int, ChangeResult]:
        if kind == "create":
            return self._create(items)
        inputs = [{"id": c.task.crm_id, "properties": self._update_props(c)} for _, c in items]
        try:
            status, body = self.api.call(
                "POST /crm/v3/objects/tasks/batch/update",
                self.crm.objects.batch_api.update,
                "tasks",
                {"inputs": inputs},
            )
        finally:
            checkpoint("write")
        return self._update_results(items, body)

    def _create(self, items: list[tuple[int, Change]]) -> dict[int, ChangeResult]:
        """Create tasks; after an ambiguous answer, read back by fingerprint and create only the
        missing ones (a batch create is never repeated blindly: HubSpot may have carried it out)."""
        out: dict[int, ChangeResult] = {}
        pending = items
        for _ in range(self.api.attempts):
            try:
                _, body = self.api.call(
                    "POST /crm/v3/objects/tasks/batch/create",
                    self.crm.objects.batch_api.create,
                    "tasks",
                    {"inputs": [self._create_input(c) for _, c in pending]},
                    idempotent=False,
                )
                out.update(self._create_results(pending, body))
                return out
            except AmbiguousWrite as exc:
                problem = str(exc)
            finally:
                checkpoint("write")
            found = self.open_ids({c.fingerprint for _, c in pending})
            for i, c in pending:
                if c.fingerprint in found:
                    out[i] = ChangeResult(
                        fingerprint=c.fingerprint, action=c.action, ok=True, crm_id=found[c.fingerprint]
                    )
            pending = [(i, c) for i, c in pending if i not in out]
            if not pending:
                return out
        out.update({i: _failed(c, f"not written: {problem}") for i, c in pending})
        return out

    def open_ids(self, fingerprints: set[str]) -> dict[str, str]:
        """fingerprint -> id of an open kamrules task carrying it, read by listing (search lags).

        Reconciliation creates a task only where none is open, so an open one found after an
        ambiguous create is that create's."""
        out: dict[str, str] = {}
        for task in self.read_back().tasks:
            if task.status == "open" and task.fingerprint in fingerprints:
                out.setdefault(task.fingerprint, str(task.crm_id))
        return out

    def _create_input(self, change: Change) -> dict[str, Any]:
        t = change.task
        props = {
            "hs_task_subject": t.subject,
            "hs_task_body": add_marker(t.body, t.fingerprint, t.evidence, MAX_TEXT,
                                       assigned=t.assigned),
            "hs_task_status": "NOT_STARTED",
            "hs_task_priority": PRIORITY_OUT[t.priority],
            "hs_timestamp": f"{(t.due or t.created or date.today()).isoformat()}T09:00:00.000Z",
        }
        if t.owner_id:
            props["hubspot_owner_id"] = t.owner_id
        if self.fp_property:
            props[self.fp_property] = t.fingerprint
        return {
            "properties": props,
            "associations": [
                {
                    "to": {"id": t.account_id},
                    "types": [
                        {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": TASK_TO_COMPANY}
                    ],
                }
            ],
        }

    def _update_props(self, change: Change) -> dict[str, Any]:
        t = change.task
        if change.action == "close":
            note = f"{CLOSED_NOTE} {change.reason or 'resolved'}"
            return {
                "hs_task_status": "COMPLETED",
                "hs_task_body": add_marker(_plain(t.body), t.fingerprint, t.evidence, MAX_TEXT,
                                           note=note, assigned=t.assigned),
            }
        text, written = self.edited.get(t.crm_id or "", (t.body, None))
        props = {
            "hs_task_subject": t.subject,
            "hs_task_body": add_marker(text, t.fingerprint, t.evidence, MAX_TEXT,
                                       assigned=t.assigned, written=written),
            "hs_task_priority": PRIORITY_OUT[t.priority],
        }
        if t.owner_id:
            props["hubspot_owner_id"] = t.owner_id
        return props

    def _create_results(
        self, items: list[tuple[int, Change]], body: dict[str, Any]
    ) -> dict[int, ChangeResult]:
        """Created tasks matched back by the fingerprint in their body; the rest failed (207)."""
        if not isinstance(body.get("results"), list):  # the tasks may exist: read them back
            raise AmbiguousWrite(f"POST /crm/v3/objects/tasks/batch/create: an answer without its"
                                 f" results ({', '.join(sorted(body))[:200] or 'empty'})")
        by_fp: dict[str, str] = {}
        for row in objects_of(body["results"]):
            props = row.get("properties")
            marker = read_marker(props.get("hs_task_body") if isinstance(props, dict) else None)
            if marker and isinstance(row.get("id"), str | int) and row["id"] != "":
                by_fp[marker[0]] = str(row["id"])
        errors = _error_text(body)
        out = {}
        for i, c in items:
            crm_id = by_fp.get(c.fingerprint)
            out[i] = (
                ChangeResult(fingerprint=c.fingerprint, action=c.action, ok=True, crm_id=crm_id)
                if crm_id
                else _failed(c, errors or "HubSpot did not return this task")
            )
        return out

    def _update_results(
        self, items: list[tuple[int, Change]], body: dict[str, Any]
    ) -> dict[int, ChangeResult]:
        done = {str(r.get("id")) for r in objects_of(body.get("results"))}
        failed: dict[str, str] = {}
        for err in objects_of(body.get("errors")):
            context = err.get("context") if isinstance(err.get("context"), dict) else {}
            for key in ("ids", "id", "objectId"):
                found = context.get(key) or []
                for rid in found if isinstance(found, list) else [found]:
                    failed[str(rid)] = self.api.redact(_error_line(err))
        errors = _error_text(body)
        out = {}
        for i, c in items:
            rid = str(c.task.crm_id)
            if rid in done and rid not in failed:
                out[i] = ChangeResult(fingerprint=c.fingerprint, action=c.action, ok=True, crm_id=rid)
            else:
                out[i] = _failed(c, failed.get(rid) or errors or "HubSpot did not return this task")
        return out


def _failed(change: Change, error: str) -> ChangeResult:
    return ChangeResult(
        fingerprint=change.fingerprint, action=change.action, ok=False, crm_id=change.task.crm_id, error=error
    )


def _error_text(body: dict[str, Any]) -> str:
    """HubSpot's errors as `CATEGORY: message`, whatever shape they came in."""
    return "; ".join(map(_error_line, objects_of(body.get("errors"))))[:500]


def _error_line(error: dict[str, Any]) -> str:
    return f"{error.get('category') or 'ERROR'}: {error.get('message') or ''}"


def task_from_row(row: dict[str, Any]) -> Task | None:
    """A kamrules task from a HubSpot task row, or None when it is not one kamrules can read."""
    read = ReadBack()
    read.add(row)
    return read.tasks[0] if read.tasks else None
