"""The API-call yardstick of issues #4 and #7: the fewest calls the REST API allows for a run.

It is derived from record counts in the org and page sizes, never from what the connector did:
per object the mapping reads, the rows in scope (all users and accounts; other objects only
under key accounts, contact roles by their opportunity's account; kamrules' own tasks left out)
over the page size, at least one query page each (an empty delta is still one call); plus the
kamrules tasks read back over the page size (at least one page), plus tasks written over 200
(sObject Collections), plus one describe per object the mapping names (the mapping is checked
before any data moves) and the logins.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from typing import Any

from kamrules.connectors.salesforce.mapping import load_mapping, objects_needed
from tests.support.salesforce import FakeOrg

KEY_ACCOUNT = "Key Account"
WRITE_BATCH = 200


def is_ours(row: dict[str, Any]) -> bool:
    """A task kamrules wrote: its body carries the marker (with or without a fingerprint field)."""
    return "kamrules:" in str(row.get("Description") or "")


def streams() -> list[tuple[str, str | None, bool]]:
    """(object, account field or None for every row, whether kamrules' tasks are left out)."""
    out = []
    for s in load_mapping(None).streams:
        field = None if s.scope == "all_accounts" or s.kind == "accounts" else s.account_field
        out.append((s.object, field, s.exclude_kamrules_tasks))
    return out


def in_scope(org: FakeOrg, rows: Iterable[tuple[str, dict[str, Any]]] | None = None) -> Counter[str]:
    """Rows per object that a run must read: all of them, or of `rows` (object, row) only."""
    key_ids = {a["Id"] for a in org.objects["Account"]
               if a.get("Type") == KEY_ACCOUNT and not a.get("IsDeleted")}
    rules = {}
    for obj, field, exclude in streams():
        rules.setdefault(obj, []).append((field, exclude))
    if rows is None:
        rows = ((obj, row) for obj in rules for row in org.objects.get(obj, []))
    counts: Counter[str] = Counter({obj: 0 for obj in rules})
    for obj, row in rows:
        for field, exclude in rules.get(obj, []):
            if row.get("IsDeleted") or (exclude and is_ours(row)):
                continue
            account = org.follow(obj, row, field) if field and "." in field else row.get(field or "")
            if field is None or account in key_ids:
                counts[obj] += 1
                break
    return counts


def readback_rows(org: FakeOrg) -> int:
    """kamrules' tasks in the org: what the read-back before reconciliation returns at most."""
    return sum(1 for t in org.objects["Task"] if is_ours(t) and not t.get("IsDeleted"))


def describes() -> int:
    return len(objects_needed(load_mapping(None)))


def minimal_calls(rows: Counter[str], written: int, readback: int, page: int = 2000,
                  login: int = 0) -> int:
    """The fewest calls for `rows` to read per object, `readback` tasks and `written` writes."""
    pulled = sum(max(1, math.ceil(n / page)) for n in rows.values())
    return (pulled + max(1, math.ceil(readback / page)) + math.ceil(written / WRITE_BATCH)
            + describes() + login)
