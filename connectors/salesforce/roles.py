"""Buying roles from Contact Roles on Opportunities (OpportunityContactRole).

Each row says which role a contact plays on one opportunity. A contact's canonical `buying_role`
is the most senior of its roles on the live opportunities of its own account (open, or closed
within `recent_days`); `is_primary` is set when it is the primary contact of one of them. A value
the custom Contact fields already hold wins: these fill only empty roles and unticked flags.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from kamrules.connectors.salesforce.mapping import FieldSpec, Resolved, RoleRules
from kamrules.model import Contact, Deal, RecordWarning


def live(deal: Deal | None, rules: RoleRules, as_of: date) -> bool:
    """Whether a role on this opportunity counts: open, or closed recently (unknown ones count)."""
    if deal is None:
        return True  # not among the pulled deals: its age is unknown, its role is still on record
    if deal.created > as_of:
        return False
    if not deal.is_closed or rules.recent_days is None or deal.close_date is None:
        return True
    return (as_of - deal.close_date).days <= rules.recent_days


class _Found:
    """What the rows say about one contact of one account."""

    def __init__(self) -> None:
        self.rank: int | None = None
        self.role: str | None = None
        self.primary = False

    def offer(self, role: str, rank: int) -> None:
        if self.rank is None or rank < self.rank:
            self.rank, self.role = rank, role


def merge_roles(contacts: list[Contact], deals: Iterable[Deal],
                streams: Iterable[tuple[Resolved, list[dict[str, Any]]]],
                as_of: date) -> tuple[list[Contact], list[RecordWarning]]:
    """Contacts with their buying role and primary flag filled from the role rows; warnings for
    rows whose Role value the mapping does not know (those rows give no role)."""
    by_deal = {d.id: d for d in deals}
    found: dict[tuple[str, str], _Found] = {}
    warnings: list[RecordWarning] = []
    for r, rows in streams:
        rules = r.spec.roles
        role_spec = r.spec.fields["role"]
        if rules is None or not isinstance(role_spec, FieldSpec) or not role_spec.values:
            continue
        rank = {role: i for i, role in enumerate(rules.seniority)}
        role_col = r.cols.get("role")
        read = r.readers
        for row in rows:
            contact_id = read["contact_id"](row, as_of) if "contact_id" in read else None
            account_id = read["account_id"](row, as_of) if "account_id" in read else None
            deal_id = read["deal_id"](row, as_of) if "deal_id" in read else None
            if not contact_id or not account_id or not live(by_deal.get(str(deal_id)), rules, as_of):
                continue
            entry = found.setdefault((str(contact_id), str(account_id)), _Found())
            if "is_primary" in read and read["is_primary"](row, as_of) is True:
                entry.primary = True
            raw = row.get(role_col) if role_col else None
            if raw is None or raw == "":
                continue
            known, role = role_spec.lookup(raw)
            if not known:
                warnings.append(RecordWarning(
                    kind="contacts", record_id=str(row.get("Id")),
                    message=f"{r.spec.object}: Role {str(raw)!r} of contact {contact_id} is not in the"
                            f" role map (stream {r.spec.name}, role.values); the row gives no role"))
                continue
            role = str(role)
            entry.offer(role, rank.get(role, len(rank)))
    out: list[Contact] = []
    for c in contacts:
        entry = found.get((c.id, c.account_id))
        update: dict[str, Any] = {}
        if entry is not None and entry.role and (c.buying_role is None or not c.buying_role.strip()):
            update["buying_role"] = entry.role
        if entry is not None and entry.primary and not c.is_primary:
            update["is_primary"] = True
        out.append(c.model_copy(update=update) if update else c)
    return out, warnings
