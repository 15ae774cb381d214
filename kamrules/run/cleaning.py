"""Bad CRM input made harmless before facts see it: dangling references and duplicate ids.

Connectors already skip records that do not validate; this pass, shared by every connector,
skips what only the whole snapshot can show. Each skipped record becomes a warning.
"""

from __future__ import annotations

from collections.abc import Container, Iterable

from kamrules.model import RECORD_KINDS, RecordWarning, Snapshot

# the kinds of the warnings with which connectors skip an account they cannot read (the local
# CRM and Salesforce name it `accounts`, HubSpot `hubspot companies`); its id is the record's
ACCOUNT_WARNINGS = frozenset({"accounts", "hubspot companies"})


def skipped_accounts(warnings: Iterable[RecordWarning], read: Container[str]) -> list[str]:
    """The ids of the accounts a connector skipped as unreadable (in the order warned, once
    each), less those `read` (a duplicate account id is warned of, and read)."""
    return [i for i in dict.fromkeys(w.record_id for w in warnings if w.kind in ACCOUNT_WARNINGS)
            if i not in read]


def clean(snapshot: Snapshot) -> Snapshot:
    """Drop records that refer to a missing account (or to one skipped as unreadable), and
    repeated ids of one kind; a snapshot its connector has `checked` has neither and is passed
    as it is (reading every record's ids costs as much as the rest of pulling a local CRM's
    chunk, issue #18)."""
    if snapshot.checked:
        return snapshot
    warnings = snapshot.warnings
    seen: set[str] = set()
    accounts = []
    for account in snapshot.accounts:
        if account.id in seen:
            warnings.append(RecordWarning(kind="accounts", record_id=account.id,
                                          message="duplicate account id; the first one is used"))
            continue
        seen.add(account.id)
        accounts.append(account)
    snapshot.accounts = accounts
    # an account in the CRM that could not be read is no missing one: its records say which
    unread = set(skipped_accounts(warnings, seen))
    for kind, model in RECORD_KINDS.items():
        if kind in ("accounts", "users"):
            continue
        # read `id` only where the kind has one: pydantic answers a missing attribute slowly
        has_id = "id" in model.model_fields
        kept, ids = [], set()
        for record in getattr(snapshot, kind):
            rid = record.id if has_id else None
            if record.account_id not in seen:
                account = record.account_id
                warnings.append(RecordWarning(
                    kind=kind, record_id=str(rid or account),
                    message=f"belongs to account {account!r}, which was skipped (see the warning"
                    " about it)" if account in unread else
                    f"refers to account {account!r}, which does not exist"))
            elif rid is not None and rid in ids:
                warnings.append(RecordWarning(kind=kind, record_id=str(rid),
                                              message="duplicate id; the first one is used"))
            else:
                if rid is not None:
                    ids.add(rid)
                kept.append(record)
        setattr(snapshot, kind, kept)
    return snapshot
