"""Bad CRM input made harmless before facts see it: dangling references and duplicate ids.

Connectors already skip records that do not validate; this pass, shared by every connector,
skips what only the whole snapshot can show. Each skipped record becomes a warning.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Any

from kamrules.model import RECORD_KINDS, RecordWarning, Snapshot

_ID = attrgetter("id")
_ACCOUNT_ID = attrgetter("account_id")


def clean(snapshot: Snapshot) -> Snapshot:
    """Drop records that refer to a missing account, and repeated ids of one kind.

    Most snapshots have neither: each kind is first checked as a whole (set operations, no
    per-record Python loop), and only a kind that fails the check is walked record by record.
    """
    warnings = snapshot.warnings
    accounts = snapshot.accounts
    seen = set(map(_ID, accounts))
    if len(seen) != len(accounts):
        snapshot.accounts = _unique_accounts(accounts, warnings)
    for kind, model in RECORD_KINDS.items():
        if kind in ("accounts", "users"):
            continue
        records = getattr(snapshot, kind)
        # read `id` only where the kind has one: pydantic answers a missing attribute slowly
        has_id = "id" in model.model_fields
        if seen.issuperset(map(_ACCOUNT_ID, records)) and (
                not has_id or len(set(map(_ID, records))) == len(records)):
            continue  # nothing to drop: the list stays as it is
        setattr(snapshot, kind, _kept(kind, records, has_id, seen, warnings))
    return snapshot


def _unique_accounts(accounts: list[Any], warnings: list[RecordWarning]) -> list[Any]:
    """The first account of each id, a warning for every later one."""
    seen: set[str] = set()
    kept = []
    for account in accounts:
        if account.id in seen:
            warnings.append(RecordWarning(kind="accounts", record_id=account.id,
                                          message="duplicate account id; the first one is used"))
            continue
        seen.add(account.id)
        kept.append(account)
    return kept


def _kept(kind: str, records: list[Any], has_id: bool, seen: set[str],
          warnings: list[RecordWarning]) -> list[Any]:
    """A kind's records less those of a missing account and the repeats of an id, in order."""
    kept, ids = [], set()
    for record in records:
        rid = record.id if has_id else None
        if record.account_id not in seen:
            warnings.append(RecordWarning(
                kind=kind, record_id=str(rid or record.account_id),
                message=f"refers to account {record.account_id!r}, which does not exist"))
        elif rid is not None and rid in ids:
            warnings.append(RecordWarning(kind=kind, record_id=str(rid),
                                          message="duplicate id; the first one is used"))
        else:
            if rid is not None:
                ids.add(rid)
            kept.append(record)
    return kept
