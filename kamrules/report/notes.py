"""What the report says beside each finding: principle names, the next step, the snooze.

Each is read from what already exists (the packs, the rendered task text, the snoozes file), so
the report says exactly what the CRM task and `kamrules snooze list` say.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from typing import Any

from kamrules.evaluation.findings import Finding
from kamrules.language.loader import LoadedPack
from kamrules.model import Snapshot
from kamrules.report.models import SnoozeNote, SnoozeRow
from kamrules.run.snooze import Snooze, holding
from kamrules.writeback.tasks import Directory, build_task

# "Next: call the customer today…" (also "Next step:", "What to do:") in a rule's task body.
NEXT_LINE = re.compile(r"^\s*(?:next(?:\s+steps?)?|what to do|to do)\s*:\s*(.+)$", re.I | re.M)


def principle_names(packs: Iterable[LoadedPack]) -> dict[str, str]:
    """Principle id -> name as the packs declare them (`principles:` in pack.yaml), else none.

    Accepts a mapping (id -> name, or id -> object with a name/title) or a list of objects with
    an id; a pack that declares nothing leaves its codes bare.
    """
    names: dict[str, str] = {}
    for pack in packs:
        declared: Any = getattr(pack, "principles", None) or {}
        pairs = (declared.items() if isinstance(declared, dict)
                 else ((getattr(d, "id", None), d) for d in declared))
        for pid, value in pairs:
            name = value if isinstance(value, str) else (
                getattr(value, "name", None) or getattr(value, "title", None))
            if pid and name:
                names.setdefault(str(pid), str(name).strip())
    return names


def group_notes(packs: Iterable[LoadedPack]) -> dict[str, str]:
    """Rule group -> what it covers, as the packs declare them (`groups:` in pack.yaml)."""
    notes: dict[str, str] = {}
    for pack in packs:
        declared: Any = getattr(pack, "groups", None) or {}
        if isinstance(declared, dict):
            notes.update({str(g): str(d).strip() for g, d in declared.items() if d and g not in notes})
    return notes


def next_step(body: str) -> str | None:
    """The task text's "Next: …" paragraph (up to the blank line after it), if it has one."""
    match = NEXT_LINE.search(body)
    if match is None:
        return None
    lines = [match.group(1).strip()]
    for line in body[match.end():].splitlines()[1:]:
        if not line.strip():
            break
        lines.append(line.strip())
    return " ".join(lines)


def next_steps(snapshot: Snapshot, findings: list[Finding], packs: list[LoadedPack],
               as_of: date) -> dict[str, str]:
    """fingerprint -> next step, from each finding's task as `run` would write it.

    A rule's own `next_step` if the language grows one, else the body's "Next:" line, else the
    task's subject (without the account name in front), which says what the task is about.
    """
    rules = {(p.id, r.id): (p, r) for p in packs for r in p.rules}
    directory = Directory.from_snapshot(snapshot, None)
    out: dict[str, str] = {}
    for f in findings:
        pack, rule = rules[(f.pack_id, f.rule_id)]
        explicit = getattr(rule, "next_step", None) or getattr(rule.task, "next_step", None)
        if explicit:
            step = str(explicit).strip()
        else:
            task = build_task(f, pack, rule, directory, as_of)
            name = directory.accounts[f.account_id].name
            step = next_step(task.body) or (
                task.subject.removeprefix(f"{name}:").strip() + " — the task has the details")
        if step:
            out[f.fingerprint] = step[:1].upper() + step[1:]
    return out


def snooze_notes(fingerprints: list[str], snoozes: list[Snooze], as_of: date) -> dict[str, Snooze]:
    """fingerprint -> the first active snooze that holds it back (the order `run` applies)."""
    return holding(fingerprints, snoozes, as_of)


def note(snooze: Snooze) -> SnoozeNote:
    return SnoozeNote(reason=snooze.reason, requested_by=snooze.requested_by, until=snooze.until)


def snooze_rows(snoozes: list[Snooze], held: dict[str, Snooze], names: dict[str, str],
                as_of: date) -> list[SnoozeRow]:
    """Every active snooze with the findings it holds back today, soonest expiry first."""
    rows = []
    for s in snoozes:
        if not s.active(as_of):
            continue
        rows.append(SnoozeRow(
            reason=s.reason, requested_by=s.requested_by, until=s.until,
            account_id=s.account, account_name=names.get(s.account or ""), rule=s.rule,
            days_left=(s.until - as_of).days,
            findings=sorted(fp for fp, hit in held.items() if hit is s),
        ))
    return sorted(rows, key=lambda r: (r.until, r.account_name or "", r.rule or ""))
