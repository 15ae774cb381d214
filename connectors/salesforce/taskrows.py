"""Reading kamrules' Task rows defensively: a row kamrules cannot read never stops a run.

A bad optional value (a date that does not parse, a subject or description of the wrong type or
longer than Salesforce allows) is dropped with a warning and the task is still reconciled. A row
whose fingerprint, account or status is unusable is reported and left alone; when it is clearly
kamrules' own (its marker line or fingerprint field says so) and still open, `run` closes it as
unreadable with a note, once (the note marks it, so it is never closed again).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pydantic import ValidationError

from kamrules.model import RecordWarning, Task
from kamrules.protocol.fieldlength import fit, units
from kamrules.protocol.marker import PREFIX, read_assigned, read_marker, strip_marker

SUBJECT_MAX = 255  # Task.Subject
DESCRIPTION_MAX = 32_000  # Task.Description (long text area)
FINGERPRINT = re.compile(r"^[^/\s]+(/[^/\x00-\x1f\x7f]+){2,}$")
UNREADABLE_NOTE = "Closed by kamrules: unreadable"
CLOSED_NOTE = "Closed by kamrules:"
PRIORITY_FROM_SF = {"Low": "low", "Normal": "normal", "High": "high"}


@dataclass
class Unreadable:
    """kamrules' own open task that cannot be read: `run` closes it with this note."""

    crm_id: str
    problem: str
    description: str


@dataclass
class Read:
    """One row read: the task (None when unusable), what was wrong, and whether to close it."""

    task: Task | None
    problems: list[str] = field(default_factory=list)
    close: Unreadable | None = None

    def warnings(self, rid: str) -> list[RecordWarning]:
        if not self.problems:
            return []
        what = "; ".join(self.problems)
        if self.task is not None:
            message = f"task read without its bad values: {what}"
        elif self.close is not None:
            message = (f"kamrules' own task is unreadable ({what}); `kamrules run` closes it"
                       " as unreadable with a note")
        else:
            message = f"unreadable task left alone: {what}"
        return [RecordWarning(kind="tasks", record_id=rid, message=message)]


def shown(value: Any, limit: int = 60) -> str:
    """A CRM value in a message: repr (control characters escaped), cut short."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "...'"


def _day(row: dict[str, Any], name: str, problems: list[str]) -> date | None:
    value = row.get(name)
    if value is None or value == "":
        return None
    try:
        if not isinstance(value, str):
            raise ValueError
        return date.fromisoformat(value[:10])
    except ValueError:
        problems.append(f"{name} {shown(value)} is not a date")
        return None


def _text(row: dict[str, Any], name: str, limit: int, problems: list[str]) -> str:
    value = row.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        problems.append(f"{name} is {type(value).__name__}, not text")
        return ""
    if (size := units(value)) > limit:
        problems.append(f"{name} has {size:,} characters, more than Salesforce's {limit:,}"
                        " (read cut short)")
    return value


def _fingerprint(row: dict[str, Any], fp_field: str | None, body: str,
                 problems: list[str]) -> tuple[str | None, dict[str, Any], bool]:
    """(fingerprint, evidence, clearly ours): from the field, else the marker line."""
    marker = read_marker(body) if body else None
    evidence = marker[1] if marker else {}
    if fp_field and row.get(fp_field) is not None:
        value = row[fp_field]
        if isinstance(value, str) and FINGERPRINT.match(value):
            return value, evidence, True
        problems.append(f"{fp_field} {shown(value)} is no kamrules fingerprint (pack/rule/account)")
        return None, evidence, True
    last = body.rstrip().rsplit("\n", 1)[-1].strip() if body else ""
    if not last.startswith(PREFIX):
        problems.append("it has the kamrules subject prefix but no kamrules marker line")
        return None, {}, False
    if marker is None:
        problems.append(f"its kamrules marker does not parse ({shown(last)})")
        return None, {}, True
    if not FINGERPRINT.match(marker[0]):
        problems.append(f"its marker's fingerprint {shown(marker[0])} is no pack/rule/account")
        return None, evidence, True
    return marker[0], evidence, True


def read_row(row: dict[str, Any], fp_field: str | None, subject_prefix: str) -> Read:
    """A Task row as kamrules reads it back; never raises on what the CRM holds."""
    rid = row.get("Id")
    if not isinstance(rid, str) or not rid:
        return Read(None, [f"the row has no usable Id ({shown(rid)})"])
    problems: list[str] = []
    raw_body = _text(row, "Description", DESCRIPTION_MAX, problems)
    fp, evidence, ours = _fingerprint(row, fp_field, raw_body, problems)
    account = row.get("WhatId")
    if fp is not None and not (isinstance(account, str) and account):
        problems.append(f"WhatId (the account) is {shown(account)}")
        fp = None
    closed = row.get("IsClosed")
    if not isinstance(closed, bool):
        problems.append(f"IsClosed is {shown(closed)}, so its status is unknown")
    if fp is None or not isinstance(closed, bool):
        noted = UNREADABLE_NOTE in raw_body
        close = (Unreadable(rid, "; ".join(problems), raw_body)
                 if ours and closed is not True and not noted else None)
        return Read(None, problems, close)
    subject = fit(_text(row, "Subject", SUBJECT_MAX, problems), SUBJECT_MAX)
    body = fit(strip_marker(raw_body), DESCRIPTION_MAX)
    due = _day(row, "ActivityDate", problems)
    created = _day(row, "CreatedDate", problems)
    status, completed = "open", None
    if closed:
        status = "closed" if CLOSED_NOTE in body else "completed"
        completed = _day(row, "CompletedDateTime", problems) or _day(row, "LastModifiedDate", problems)
    owner = row.get("OwnerId")
    if owner is not None and not isinstance(owner, str):
        problems.append(f"OwnerId {shown(owner)} is not an id")
        owner = None
    try:
        task = Task(fingerprint=fp, account_id=str(account), subject=subject.removeprefix(subject_prefix),
                    body=body, owner_id=owner or None, due=due,
                    priority=PRIORITY_FROM_SF.get(str(row.get("Priority")), "normal"),  # type: ignore[arg-type]
                    status=status, evidence=evidence, crm_id=rid, created=created,
                    completed=completed, assigned=read_assigned(raw_body))
    except ValidationError as exc:  # a last resort: every value above was checked
        problems.append(f"does not validate ({exc.errors(include_url=False)[0]['msg']})")
        return Read(None, problems, Unreadable(rid, "; ".join(problems), raw_body) if not closed else None)
    return Read(task, problems)


def closing_description(item: Unreadable) -> str:
    """The task's text with the unreadable note, within Salesforce's length for Description."""
    note = fit(f"\n\n{UNREADABLE_NOTE} ({item.problem})", 2000)
    return fit(item.description, DESCRIPTION_MAX - units(note)).rstrip() + note
