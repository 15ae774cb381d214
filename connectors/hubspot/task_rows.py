"""HubSpot task rows read back defensively: a row kamrules cannot read never stops a run.

A row without kamrules' marker is someone else's task and is skipped without a word. A row of
kamrules' own with a bad optional value (a date, the priority, the owner, a subject of the wrong
type, a field over HubSpot's size limit) is read without that value, with a warning naming the
record. A row that claims to be kamrules' (its marker, or the fingerprint property) but cannot
be used (the marker or fingerprint does not parse, the status is missing or unknown) is reported;
when it is still open a run closes it as unreadable, with a note, once: the closed row carries
the note and is skipped quietly from then on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pydantic import ValidationError

from kamrules.connectors.hubspot.values import parse_date
from kamrules.model import RecordWarning, Task
from kamrules.protocol.marker import PREFIX, edited_hash, read_assigned, read_marker, strip_marker

CLOSED_NOTE = "Closed by kamrules:"
UNREADABLE = "unreadable task"
OPEN_STATUSES = ("NOT_STARTED", "IN_PROGRESS", "WAITING", "DEFERRED")
PRIORITY_IN = {"LOW": "low", "MEDIUM": "normal", "HIGH": "high"}
MAX_TEXT = 65_536  # HubSpot's limit for a text property value; longer is never kamrules'
DATE_ERRORS = (ValueError, OverflowError, OSError, TypeError)


@dataclass
class Unusable:
    """An open task that is kamrules' own but cannot be read: a run closes it as unreadable."""

    crm_id: str
    body: str
    problem: str


@dataclass
class ReadBack:
    """What one listing of the task rows gave: kamrules' tasks, warnings, unusable open rows."""

    tasks: list[Task] = field(default_factory=list)
    warnings: list[RecordWarning] = field(default_factory=list)
    unusable: list[Unusable] = field(default_factory=list)
    # open tasks whose body a person wrote in: id -> (that text, the marker's hash of what
    # kamrules wrote); an update leaves the text as it is (their notes were lost)
    edited: dict[str, tuple[str, str]] = field(default_factory=dict)

    def add(self, row: Any, fp_property: str | None = None) -> None:
        """Read one row into the right list; never raises for what the row holds."""
        try:
            _read(self, row, fp_property)
        except (ValidationError, *DATE_ERRORS, KeyError, AttributeError) as exc:  # a shape not foreseen
            rid = _id(row) or "(no id)"
            self.warnings.append(_warning(rid, f"unreadable task row left alone: {_brief(exc)}"))


def _read(out: ReadBack, row: Any, fp_property: str | None) -> None:
    props = row.get("properties") if isinstance(row, dict) else None
    props = props if isinstance(props, dict) else {}
    rid = _id(row)
    raw_body = props.get("hs_task_body")
    claimed = props.get(fp_property) if fp_property else None
    claimed = claimed if isinstance(claimed, str) and claimed.strip() else None
    if not isinstance(raw_body, str):
        if claimed is None and PREFIX not in _text(raw_body):
            return  # not kamrules': its body cannot carry a marker
        what = "missing" if raw_body is None else f"a {type(raw_body).__name__}, not text"
        out.warnings.append(_warning(rid, f"kamrules task with a body that is {what}; left alone"))
        return
    status = props.get("hs_task_status")
    closed_by_us = any(line.startswith(CLOSED_NOTE) for line in strip_marker(raw_body).split("\n"))
    marker = read_marker(raw_body)
    problem = None
    if marker is None:
        if _last_line(raw_body).startswith(PREFIX):
            problem = "its kamrules marker (the body's last line) does not parse"
        elif claimed is not None:
            marker = (claimed.strip(), {})  # the marker was edited away: the property still says
            out.warnings.append(_warning(rid, f"the body lost its kamrules marker; read by"
                                         f" {fp_property} ({claimed.strip()!r})"))
        else:
            return  # someone else's task
    if marker is not None and not _good_fingerprint(marker[0]):
        problem = f"fingerprint {marker[0][:80]!r} is not pack/rule/account"
    if problem is None and status != "COMPLETED" and status not in OPEN_STATUSES:
        problem = f"status {status!r} is not a HubSpot task status"
    if problem is not None:
        _unusable(out, rid, raw_body, problem, done=status == "COMPLETED", closed_by_us=closed_by_us)
        return
    assert marker is not None
    if not rid:
        out.warnings.append(_warning("(no id)", f"kamrules task {marker[0]!r} has no record id; left alone"))
        return
    task, dropped = _task(rid, props, raw_body, marker, status == "COMPLETED", closed_by_us)
    if dropped:
        out.warnings.append(_warning(rid, f"task {task.fingerprint} read without bad values: "
                                     + "; ".join(dropped)))
    out.tasks.append(task)
    if task.status == "open" and (written := edited_hash(raw_body)):
        out.edited[rid] = (task.body, written)


def _unusable(out: ReadBack, rid: str, body: str, problem: str, done: bool, closed_by_us: bool) -> None:
    if done and closed_by_us:
        return  # closed (as unreadable, or earlier) by kamrules: nothing more to do
    if done:
        out.warnings.append(_warning(rid, f"completed kamrules task cannot be read ({problem}); left alone"))
    elif not rid:
        out.warnings.append(_warning("(no id)", f"open kamrules task cannot be read ({problem}) and has"
                                     " no record id; left alone"))
    else:
        out.warnings.append(_warning(rid, f"open kamrules task cannot be read ({problem});"
                                     " a run closes it as unreadable (a plan writes nothing)"))
        out.unusable.append(Unusable(rid, body, problem))


def _task(rid: str, p: dict[str, Any], raw_body: str, marker: tuple[str, dict[str, Any]],
          completed_status: bool, closed_by_us: bool) -> tuple[Task, list[str]]:
    """The task, and what was dropped from it."""
    dropped: list[str] = []

    def day(name: str) -> date | None:
        value = p.get(name)
        try:
            return parse_date(value) if isinstance(value, str | int | type(None)) else _bad(value)
        except DATE_ERRORS:
            dropped.append(f"{name} {_short(value)} is not a date")
            return None

    def text(name: str, limit: int = MAX_TEXT) -> str | None:
        value = p.get(name)
        if value is None or (isinstance(value, str) and len(value) <= limit):
            return value
        if isinstance(value, str):
            dropped.append(f"{name} is {len(value):,} characters (kept the first {limit:,})")
            return value[:limit]
        dropped.append(f"{name} is a {type(value).__name__}, not text")
        return None

    fingerprint, evidence = marker
    completed = None
    if completed_status:
        completed = day("hs_task_completion_date") or day("hs_lastmodifieddate")
    priority = p.get("hs_task_priority")
    if priority not in (None, "") and (not isinstance(priority, str) or priority.upper() not in PRIORITY_IN):
        dropped.append(f"hs_task_priority {_short(priority)} is not LOW, MEDIUM or HIGH")
    owner = p.get("hubspot_owner_id")
    if owner is not None and not (isinstance(owner, str | int) and not isinstance(owner, bool)
                                  and len(str(owner)) <= 64):
        dropped.append(f"hubspot_owner_id {_short(owner)} is not an owner id")
        owner = None
    body = _plain(raw_body)
    if len(body) > MAX_TEXT:
        dropped.append(f"hs_task_body is {len(body):,} characters (kept the first {MAX_TEXT:,})")
        body = body[:MAX_TEXT]
    task = Task(
        fingerprint=fingerprint,
        account_id=fingerprint.split("/")[2],  # pack/rule/account or pack/play/account/step
        subject=text("hs_task_subject") or "",
        body=body,
        owner_id=str(owner) if owner not in (None, "") else None,
        due=day("hs_timestamp"),
        priority=PRIORITY_IN.get(str(priority or "").upper(), "normal"),  # type: ignore[arg-type]
        status=("closed" if closed_by_us else "completed") if completed_status else "open",
        evidence=evidence,
        crm_id=rid,
        created=day("hs_createdate"),
        completed=completed,
        assigned=read_assigned(raw_body),
    )
    return task, dropped


def closing_body(body: str, problem: str) -> str:
    """The body of an unusable task closed as unreadable: the note above its (broken) marker line,
    so the closed row still reads as kamrules' and is skipped from then on; within HubSpot's limit."""
    note = f"{CLOSED_NOTE} {UNREADABLE}: {problem}"[:1000]
    lines = body.rstrip().split("\n")
    last = lines[-1] if lines[-1].strip().startswith(PREFIX) else ""
    head = "\n".join(lines[:-1] if last else lines).rstrip()
    if len(last) > MAX_TEXT // 2:
        last = ""  # a marker that large cannot be written back; the note alone closes the row
    room = MAX_TEXT - len(note) - len(last) - 8
    head = head[:room].rstrip()
    return "\n\n".join(part for part in (head, note, last) if part)


def _plain(body: str) -> str:
    """A task body without its marker or an earlier closing note."""
    lines = strip_marker(body).split("\n")
    return "\n".join(line for line in lines if not line.startswith(CLOSED_NOTE)).rstrip()


def _good_fingerprint(fp: str) -> bool:
    parts = fp.split("/")
    return len(parts) >= 3 and all(part.strip() for part in parts) and len(fp) <= 1000


def _last_line(body: str) -> str:
    return body.rstrip().rsplit("\n", 1)[-1].strip()


def _id(row: Any) -> str:
    rid = row.get("id") if isinstance(row, dict) else None
    return str(rid) if isinstance(rid, str | int) and not isinstance(rid, bool) and str(rid) else ""


def _text(value: Any) -> str:
    try:
        return json.dumps(value, default=str)[:MAX_TEXT * 4]
    except (TypeError, ValueError):
        return ""


def _bad(value: Any) -> date:
    raise TypeError(f"{type(value).__name__}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _brief(exc: Exception) -> str:
    return str(exc).split("\n")[0][:300]


def _warning(rid: str, message: str) -> RecordWarning:
    return RecordWarning(kind="hubspot tasks", record_id=rid, message=message)
