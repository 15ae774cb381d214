"""HubSpot rows (all values strings) -> canonical records; a value that does not parse skips its
record with a warning naming the property and the value. Plans, surveys and contracts come from
company properties, or from the records of custom objects when the mapping names one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pydantic import ValidationError

from kamrules.connectors.hubspot.company_records import CompanyRecords, sources_of
from kamrules.connectors.hubspot.config import EngagementMap, Mapping
from kamrules.connectors.hubspot.values import (
    BadValue,
    blank,
    brief,
    id_key,
    parse_bool,
    prop_date,
    revenue_points,
    split,
    stamp,
)
from kamrules.connectors.mapping.language import Seen, value_key
from kamrules.connectors.mapping.tally import FieldTally
from kamrules.model import (
    Account,
    AccountPlan,
    Activity,
    Case,
    Contact,
    Contract,
    Deal,
    RecordWarning,
    RevenuePoint,
    Snapshot,
    Survey,
    TeamMember,
    User,
)

ENGAGEMENTS = ("meetings", "calls", "emails", "notes")
ACTIVITY_TYPE = {"meetings": "meeting", "calls": "call", "emails": "email", "notes": "note"}
Row = dict[str, Any]


@dataclass
class Stage:
    label: str
    is_closed: bool
    is_won: bool


def stages_from(pipelines: dict[str, Any]) -> dict[tuple[str, str], Stage]:
    """(pipeline id, stage id) -> stage label and closed/won, from GET /crm/v3/pipelines/{type}."""
    out: dict[tuple[str, str], Stage] = {}
    for pipeline in pipelines.get("results", []):
        for stage in pipeline.get("stages", []):
            meta = stage.get("metadata") or {}
            closed = str(meta.get("isClosed", "")).lower() == "true" or meta.get("ticketState") == "CLOSED"
            try:
                won = closed and float(meta.get("probability") or 0) >= 1.0
            except ValueError:
                won = False
            stage_info = Stage(stage.get("label") or stage["id"], closed, won)
            out[(str(pipeline["id"]), str(stage["id"]))] = stage_info
            out.setdefault(("*", str(stage["id"])), stage_info)
    return out


@dataclass
class Raw:
    """Everything pulled, as HubSpot sent it: rows by type, and company associations."""

    owners: list[Row] = field(default_factory=list)
    rows: dict[str, dict[str, Row]] = field(default_factory=dict)
    # company id -> object type -> [(to id, association type ids)]
    company_links: dict[str, dict[str, list[tuple[str, list[int]]]]] = field(default_factory=dict)
    # engagement type -> engagement id -> contact ids
    contact_links: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    deal_stages: dict[tuple[str, str], Stage] = field(default_factory=dict)
    ticket_stages: dict[tuple[str, str], Stage] = field(default_factory=dict)


class Mapper(CompanyRecords):
    """Builds a Snapshot from `Raw` following the mapping; never raises for one bad record."""

    def __init__(
        self,
        mapping: Mapping,
        key_property: str | None = None,
        key_value: str | None = None,
        sources: dict[str, str] | None = None,
        numbers: dict[str, frozenset[str]] | None = None,
    ):
        self.m = mapping
        self.numbers = numbers  # object type -> its number properties (CompanyRecords.props)
        self.key_property = key_property or mapping.companies.key_account
        self.key_value = (key_value or mapping.companies.key_account_value).lower()
        self.sources = sources or {}  # section (plans, surveys, contracts) -> custom objectTypeId
        self.warnings: list[RecordWarning] = []
        self.tally = FieldTally()
        self.rid = ""
        self.as_of = date.today()
        self.seen: dict[str, Seen] = {}
        self.tables = {f: {value_key(k): v for k, v in t.items()} for f, t in mapping.values.items()}

    def value(self, field_name: str, raw: Any) -> str | None:
        """A HubSpot option value translated by `values:` (unknown ones pass through, lowercased)."""
        if blank(raw):
            return None
        text = str(raw).strip()
        table = self.tables.get(field_name, {})
        if table:
            self.seen.setdefault(f"values.{field_name}", Seen()).add(text, value_key(text) in table)
        return table.get(value_key(text), text.lower() if table else text)

    def snapshot(self, raw: Raw, as_of: date) -> Snapshot:
        snap = Snapshot(as_of=as_of)
        self.as_of = as_of
        snap.users = [u for u in (self._guard("owners", o.get("id"), self.user, o) for o in raw.owners) if u]
        companies = raw.rows.get("companies", {})
        for cid in sorted(companies, key=id_key):
            parts = self._guard("companies", cid, self.company, companies[cid], as_of)
            if parts is None:
                continue
            account, plan, team, surveys, contracts = parts
            snap.accounts.append(account)
            snap.plans += [plan] if plan else []
            snap.team += team
            snap.surveys += surveys
            snap.contracts += contracts
        owner_of = self._owners_of(raw)
        for kind, build in (("contacts", self.contact), ("deals", self.deal), ("tickets", self.case)):
            target = {"contacts": snap.contacts, "deals": snap.deals, "tickets": snap.cases}[kind]
            for oid, (company, primary) in sorted(owner_of.get(kind, {}).items(), key=lambda i: id_key(i[0])):
                row = raw.rows.get(kind, {}).get(oid)
                if row is not None:
                    record = self._guard(kind, oid, build, row, company, primary, raw)
                    if record is not None:
                        target.append(record)
        for kind in ENGAGEMENTS:
            spec: EngagementMap = getattr(self.m, kind)
            for oid, (company, _) in sorted(owner_of.get(kind, {}).items(), key=lambda i: id_key(i[0])):
                row = raw.rows.get(kind, {}).get(oid)
                if row is not None:
                    contacts = raw.contact_links.get(kind, {}).get(oid, [])
                    record = self._guard(kind, oid, self.activity, row, kind, spec, company, contacts)
                    if record is not None:
                        snap.activities.append(record)
        self._custom_records(raw, owner_of, snap)
        snap.warnings = self.warnings + self.tally.warnings
        for key, seen in sorted(self.seen.items()):
            self.tally.seen(key, seen.values, seen.unmapped)
        snap.field_stats = self.tally.stats
        return snap

    def _custom_records(
        self, raw: Raw, owner_of: dict[str, dict[str, tuple[str, bool]]], snap: Snapshot
    ) -> None:
        """Plans, surveys and contracts from the custom objects the mapping names."""
        builders: dict[str, Callable[[Row, str], Any]] = {
            "plans": self.plan_record,
            "surveys": self.survey_record,
            "contracts": self.contract_record,
        }
        for section, type_id in sorted(self.sources.items()):
            rows = raw.rows.get(type_id, {})
            records = []
            for oid, (company, _) in sorted(owner_of.get(type_id, {}).items(), key=lambda i: id_key(i[0])):
                if oid in rows:
                    record = self._guard(section, oid, builders[section], rows[oid], company)
                    if record is not None:
                        records.append((oid, record))
            if section == "plans":
                snap.plans += self._latest_plans(records, rows)
            else:
                getattr(snap, section).extend(r for _, r in records)

    def _latest_plans(
        self, records: list[tuple[str, AccountPlan]], rows: dict[str, Row]
    ) -> list[AccountPlan]:
        """One plan per company: its most recently modified plan record; the others are warnings."""
        modified = self.m.plans.modified if self.m.plans else "hs_lastmodifieddate"
        by_company: dict[str, list[tuple[str, AccountPlan]]] = {}
        for oid, plan in records:
            by_company.setdefault(plan.account_id, []).append((oid, plan))
        out = []
        for company, plans in sorted(by_company.items(), key=lambda i: id_key(i[0])):
            plans.sort(
                key=lambda p: (stamp((rows[p[0]].get("properties") or {}).get(modified)), id_key(p[0]))
            )
            chosen, plan = plans[-1]
            out.append(plan)
            for oid, _ in plans[:-1]:
                self.warnings.append(
                    RecordWarning(
                        kind="hubspot plans",
                        record_id=oid,
                        message=f"company {company} has {len(plans)} account plans; only the most"
                        f" recently modified one ({chosen}) is used",
                    )
                )
        return out

    def _owners_of(self, raw: Raw) -> dict[str, dict[str, tuple[str, bool]]]:
        """Each related object's one company: the primary association if any, else the lowest id."""
        out: dict[str, dict[str, tuple[str, bool]]] = {}
        primary_type = self.m.contacts.primary_association_type
        for cid in sorted(raw.company_links, key=id_key):
            for kind, links in raw.company_links[cid].items():
                mine = out.setdefault(kind, {})
                for to_id, types in links:
                    primary = kind == "contacts" and primary_type is not None and primary_type in types
                    if to_id not in mine or (primary and not mine[to_id][1]):
                        mine[to_id] = (cid, primary)
        return out

    def _guard(self, kind: str, rid: Any, build: Callable[..., Any], *args: Any) -> Any:
        self.rid = str(rid)
        try:
            return build(*args)
        except (BadValue, ValidationError, KeyError, TypeError) as exc:
            message = brief(exc)
            self.warnings.append(RecordWarning(kind=f"hubspot {kind}", record_id=str(rid), message=message))
            return None

    # --- one record each -------------------------------------------------------------------

    def user(self, owner: Row) -> User:
        name = " ".join(p for p in (owner.get("firstName"), owner.get("lastName")) if p) or owner.get("email")
        return User(id=str(owner["id"]), name=name or str(owner["id"]), email=owner.get("email"))

    def company(
        self, row: Row, as_of: date
    ) -> tuple[Account, AccountPlan | None, list[TeamMember], list[Survey], list[Contract]]:
        p, c = row.get("properties") or {}, self.m.companies
        cid = str(row["id"])
        get = self.props("companies", row)
        revenue = self.soft("accounts", "revenue", revenue_points, get(c.revenue_history),
                            source=c.revenue_history) or []
        if not revenue and (amount := self.num("accounts", "revenue", get, c.annual_revenue)) is not None:
            revenue = [RevenuePoint(year=as_of.year - 1, amount=amount)]
        key_raw = p.get(self.key_property)
        account = self.build(Account, "accounts", sources_of(c), get=get, data=dict(
            id=cid,
            name=get(c.name) or f"(company {cid})",
            owner_id=get(c.owner_id) or None,
            is_key=str(key_raw or "").strip().lower() == self.key_value if not blank(key_raw) else False,
            tier=self.value("tier", get(c.tier)),
            key_reason=get(c.key_reason) or None,
            industry=self.value("industry", get(c.industry)),
            regions=split(get(c.regions)),
            revenue=revenue,
            potential=self.num("accounts", "potential", get, c.potential),
            customer_since=self.day("accounts", "customer_since", get, c.customer_since),
            preferred_supplier=self.value("preferred_supplier", get(c.preferred_supplier)),
        ))
        extras = self.m.extras
        plan = self._plan(cid, get) if self.m.plans is not None and not self.m.plans.object else None
        return (
            account,
            plan,
            self.soft("team", "team", self._team, cid, get, source=extras and extras.team) or [],
            self.soft("surveys", "surveys", self._surveys, cid, get,
                      source=extras and extras.surveys) or [],
            self.soft("contracts", "contracts", self._contracts, cid, get) or [],
        )

    def contact(self, row: Row, company: str, primary: bool, raw: Raw) -> Contact:
        c = self.m.contacts
        get = self.props("contacts", row)
        name = " ".join(x for x in (get(c.first_name), get(c.last_name)) if x) or f"(contact {row['id']})"
        return self.build(Contact, "contacts", sources_of(c), get=get, data=dict(
            id=str(row["id"]),
            account_id=company,
            name=name,
            title=get(c.title) or None,
            department=get(c.department) or None,
            buying_role=self.value("buying_role", (get(c.buying_role) or "").split(";")[0]),
            is_primary=primary,
            region=get(c.region) or None,
            status=self.value("contact_status", get(c.status)) or "active",
            stance=self.value("stance", get(c.stance)),
            win_over_plan=get(c.win_over_plan) or None,
            created=self.day("contacts", "created", get, c.created),
        ))

    def deal(self, row: Row, company: str, primary: bool, raw: Raw) -> Deal:
        d = self.m.deals
        get = self.props("deals", row)
        stage = _stage(raw.deal_stages, get, d.pipeline, d.stage, "deal")
        created = prop_date(get, d.created)
        if created is None:
            raise BadValue(f"{d.created}: empty")
        return self.build(Deal, "deals", sources_of(d), get=get, data=dict(
            id=str(row["id"]),
            account_id=company,
            name=get(d.name) or "",
            stage=stage.label,
            amount=self.num("deals", "amount", get, d.amount),
            type=self.value("deal_type", get(d.type)) or "new",
            kind=self.value("deal_kind", get(d.kind)),
            owner_id=get(d.owner_id) or None,
            created=created,
            close_date=self.day("deals", "close_date", get, d.close_date) if stage.is_closed else None,
            is_closed=stage.is_closed,
            is_won=stage.is_won,
        ))

    def case(self, row: Row, company: str, primary: bool, raw: Raw) -> Case:
        t = self.m.tickets
        get = self.props("tickets", row)
        stage = _stage(raw.ticket_stages, get, t.pipeline, t.stage, "ticket")
        opened = prop_date(get, t.opened)
        if opened is None:
            raise BadValue(f"{t.opened}: empty")
        closed = None
        if stage.is_closed:
            closed = self.day("cases", "closed", get, t.closed) or prop_date(get, t.modified) or opened
        return self.build(Case, "cases", sources_of(t), get=get, data=dict(
            id=str(row["id"]),
            account_id=company,
            subject=get(t.subject) or "",
            priority=self.value("ticket_priority", get(t.priority)) or "medium",
            category=self.value("ticket_category", get(t.category)),
            opened=opened,
            closed=closed,
            owner_id=get(t.owner_id) or None,
            escalated=bool(self._prop("cases", "escalated", parse_bool, get, t.escalated)),
        ))

    def activity(
        self, row: Row, kind: str, spec: EngagementMap, company: str, contacts: list[str]
    ) -> Activity:
        get = self.props(kind, row)
        day = prop_date(get, spec.date)
        if day is None:
            raise BadValue(f"{spec.date}: empty")
        activity_type, direction = ACTIVITY_TYPE[kind], "outbound"
        gift = self.num("activities", "amount", get, spec.gift_amount)
        if kind == "notes":
            direction = "internal"
        if gift is not None:
            activity_type, direction = "gift", "outbound"
        if spec.direction and not blank(get(spec.direction)):
            direction = self.value(f"{kind}_direction", get(spec.direction)) or direction
        return self.build(Activity, "activities", sources_of(spec), get=get, data=dict(
            id=str(row["id"]),
            account_id=company,
            type=activity_type,
            date=day,
            direction=direction,
            subject=get(spec.subject) or "",
            body=get(spec.body) or "",
            owner_id=get(spec.owner_id) or None,
            contact_ids=sorted(contacts, key=id_key),
            amount=gift,
        ))


def _stage(stages: dict[tuple[str, str], Stage], get: Any, pipeline: str, stage_property: str,
           what: str) -> Stage:
    """A deal's or ticket's pipeline stage: its own pipeline's, else any pipeline's with that id."""
    stage_id = str(get(stage_property) or "")
    stage = stages.get((str(get(pipeline) or ""), stage_id)) or stages.get(("*", stage_id))
    if stage is None:
        raise BadValue(f"{stage_property}: {stage_id!r} is no stage of any {what} pipeline")
    return stage
