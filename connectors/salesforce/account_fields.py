"""Account health on Salesforce Accounts (`health_fields:`): custom fields checked against the
org's describe before anything moves, read with the pull, written through sObject Collections
(200 accounts a PATCH, allOrNone false), each account's failure a warning of its own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kamrules.connectors.salesforce.answers import errors_text, field
from kamrules.connectors.salesforce.client import BudgetExceeded, SfClient, SfError
from kamrules.model import SEVERITIES, RecordWarning
from kamrules.protocol.faults import checkpoint

BATCH = 200
NUMBERS = {"double", "int", "percent", "currency"}
# health key -> the describe types that hold its value, and what it needs of them
TYPES: dict[str, set[str]] = {
    "health": {"double", "int", "percent"},
    "open_findings": {"double", "int"},
    "worst_severity": {"string", "picklist", "textarea"},
    "last_evaluated": {"date", "string"},
}
TEXT_LENGTH = {"worst_severity": max(len(s) for s in SEVERITIES), "last_evaluated": 10}
DIGITS = 3  # 0-100, and counts of open findings


def check(fields: Mapping[str, str], describe: dict[str, Any] | None) -> list[str]:
    """What does not fit: a field Account lacks (or the integration user cannot see), a wrong
    type, a read-only or formula field, too short a text, too few digits, a restricted picklist
    without every severity. Empty when every field can take its value; `answers.Shape` when a
    field's metadata is not of the shape Salesforce documents."""
    if describe is None:
        return ["Account cannot be described (is it visible to the integration user?)"]
    meta = {f["name"]: f for f in describe.get("fields", [])}
    problems: list[str] = []
    for key, name in fields.items():
        where = f"health_fields.{key}: Account.{name}"
        f = meta.get(name)
        if f is None:
            problems.append(f"{where} does not exist or the integration user cannot see it"
                            " (field-level security)")
            continue
        kind = field(f, f"Account.{name}")["type"]
        if kind not in TYPES[key]:
            problems.append(f"{where} is of type {kind}; it needs one of {', '.join(sorted(TYPES[key]))}")
            continue
        if f.get("calculated") or f.get("updateable") is False:
            problems.append(f"{where} is read-only for the integration user"
                            + (" (a formula field)" if f.get("calculated") else
                               "; make it editable in field-level security"))
        if kind in ("string", "textarea") and int(f.get("length") or 0) < TEXT_LENGTH[key]:
            problems.append(f"{where} holds {f.get('length')} characters; it needs {TEXT_LENGTH[key]}")
        if kind in NUMBERS and _digits(f) < DIGITS:
            problems.append(f"{where} holds {_digits(f)} digits before the point; it needs {DIGITS}")
        if kind == "picklist" and f.get("restrictedPicklist"):
            values = {str(v.get("value")) for v in f.get("picklistValues") or [] if v.get("active", True)}
            missing = [s for s in SEVERITIES if s not in values]
            if missing:
                problems.append(f"{where} is a restricted picklist without {', '.join(missing)}")
    taken = [n for n in set(fields.values()) if list(fields.values()).count(n) > 1]
    problems += [f"health_fields: Account.{n} is named for more than one value" for n in taken]
    return problems


def _digits(f: dict[str, Any]) -> int:
    if f.get("type") == "int":
        return int(f.get("digits") or f.get("precision") or 0)
    return int(f.get("precision") or 0) - int(f.get("scale") or 0)


def normal(value: Any, kind: str | None) -> Any:
    """A value as read (JSON from SOQL, or text from Bulk API CSV) in the form kamrules writes:
    numbers as numbers, empty as None, so an unchanged account compares equal."""
    if value is None or value == "":
        return None
    if kind in NUMBERS:
        try:
            number = float(value)
        except (TypeError, ValueError):
            return value
        return int(number) if number.is_integer() else number
    return value if isinstance(value, str) else str(value)


def write(client: SfClient, values: Mapping[str, Mapping[str, Any]]
          ) -> tuple[int, list[RecordWarning]]:
    """PATCH the accounts' fields, 200 a call; (accounts written, one warning per failure).
    Idempotent (the same values again), so a retried or repeated call is harmless."""
    items = list(values.items())
    written = 0
    failures: list[RecordWarning] = []
    stopped: str | None = None
    for start in range(0, len(items), BATCH):
        batch = items[start:start + BATCH]
        answers: list[dict[str, Any]] = []
        if stopped is None:
            records = [{"attributes": {"type": "Account"}, "Id": account, **fields}
                       for account, fields in batch]
            try:
                answers = client.results(client.request(
                    "PATCH", "composite/sobjects", "write",
                    json={"allOrNone": False, "records": records}), "write")
            except (BudgetExceeded, SfError) as exc:
                stopped = str(exc)
        for n, (account, _) in enumerate(batch):
            answer = answers[n] if n < len(answers) else {}
            if answer.get("success"):
                written += 1
                continue
            why = stopped or errors_text(answer) or "no result"
            failures.append(RecordWarning(kind="health_fields", record_id=account,
                                          message=f"account health not written: {why}"))
        checkpoint("health")
    return written, failures
