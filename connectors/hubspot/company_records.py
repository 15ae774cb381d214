"""Plans, team, surveys and contracts of a company: from its properties or from custom-object records."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from pydantic import BaseModel, ValidationError

from kamrules.connectors.hubspot.config import PLAN_FIELDS, Mapping
from kamrules.connectors.hubspot.values import (
    BadValue,
    Props,
    blank,
    getter,
    parse_date,
    parse_float,
    prop_date,
    prop_float,
    risk_measures,
    split,
)
from kamrules.connectors.mapping.language import Seen, Spec, as_spec, evaluate
from kamrules.connectors.mapping.tally import FieldTally, validate_fieldwise
from kamrules.model import (
    AccountPlan,
    Contract,
    Survey,
    TeamMember,
)

Row = dict[str, Any]


def sources_of(section: BaseModel) -> dict[str, str]:
    """Canonical field -> the HubSpot property a mapping section reads it from (same-named keys)."""
    return {k: v for k, v in section if isinstance(v, str)}


class CompanyRecords:
    """The records around a company that are not CRM objects of their own in HubSpot's standard model.

    Also the field-level failure every record builder uses: a value that does not parse loses its
    field (tallied, with a warning naming record, field and value), never its record."""

    m: Mapping
    tally: FieldTally
    rid: str
    as_of: date
    seen: dict[str, Seen]
    # HubSpot object type -> its properties typed as numbers (None: types not known)
    numbers: dict[str, frozenset[str]] | None = None

    def props(self, object_type: str, row: Row) -> Props:
        """A row's property reader that knows which of its object type's properties are numbers."""
        known = None if self.numbers is None else self.numbers.get(object_type, frozenset())
        return getter(row.get("properties") or {}, known)

    def value(self, field_name: str, raw: Any) -> str | None:  # implemented by the Mapper
        raise NotImplementedError

    def soft(self, kind: str, field: str, parse: Callable[..., Any], *args: Any,
             source: str | None = None) -> Any:
        """`parse(*args)`; a value that does not parse leaves the field unknown (None), tallied."""
        try:
            return parse(*args)
        except (BadValue, ValidationError) as exc:
            raw = args[1](source) if len(args) > 1 and callable(args[1]) else args[0] if args else None
            self.tally.failed(kind, field, self.rid, raw, f"does not parse ({exc})", source or "",
                              counted=False)
            return None

    def num(self, kind: str, field: str, get: Props, name: str | None) -> Any:
        return self._prop(kind, field, lambda v: parse_float(v, get.people(name)), get, name)

    def day(self, kind: str, field: str, get: Callable[[str | None], Any], name: str | None) -> Any:
        return self._prop(kind, field, parse_date, get, name)

    def _prop(self, kind: str, field: str, parse: Callable[[Any], Any],
              get: Callable[[str | None], Any], name: str | None) -> Any:
        raw = get(name)
        try:
            return parse(raw)
        except BadValue as exc:
            self.tally.failed(kind, field, self.rid, raw, f"does not parse ({exc})", name or "",
                              counted=False)
            return None

    def build(self, model: type[BaseModel], kind: str, sources: dict[str, str],
              data: dict[str, Any], get: Props | None = None) -> Any:
        """The record, with the mapping's `fields:` for its kind read from `get`; an optional field
        whose value does not parse or fit the model is dropped and tallied."""
        if get is not None:
            sources = dict(sources)
            for name, raw in self.m.fields.get(kind, {}).items():  # type: ignore[call-overload]
                data[name], sources[name] = self.field(kind, name, as_spec(raw), get)
        return validate_fieldwise(model, {k: v for k, v in data.items() if v is not None}, kind,
                                  self.rid, self.tally, sources)

    def field(self, kind: str, name: str, spec: Spec, get: Props) -> tuple[Any, str]:
        """One canonical field through the shared mapping language, and the properties it reads."""
        source = ", ".join(spec.names())
        seen = self.seen.setdefault(f"{kind}.{name}", Seen()) if spec.values is not None else None
        try:
            return evaluate(spec, get, self.as_of, seen, get.people), source
        except BadValue as exc:
            raw = [get(n) for n in spec.names()]
            self.tally.failed(kind, name, self.rid, raw[0] if len(raw) == 1 else raw,
                              f"does not parse ({exc})", source, counted=False)
            return None, source

    def _plan(self, cid: str, get: Props) -> AccountPlan | None:
        """The plan the mapped properties hold (a company's or a plan record's); None when all are empty."""
        pm = self.m.plans
        if pm is None:
            return None
        values = {f: get(getattr(pm, f)) for f in PLAN_FIELDS}
        extra = [n for spec in self.m.fields.get("plans", {}).values()  # type: ignore[call-overload]
                 for n in as_spec(spec).names()]
        if all(blank(v) for v in values.values()) and all(blank(get(n)) for n in extra):
            return None
        dates = ("objectives_reviewed", "risk_reviewed", "relationship_reviewed", "value_reviewed")
        return self.build(AccountPlan, "plans", sources_of(pm), get=get, data=dict(
            account_id=cid,
            horizon_years=self.num("plans", "horizon_years", get, pm.horizon_years),
            risk_measures=self.soft("plans", "risk_measures", risk_measures, values.get("risk_measures"),
                                    source=pm.risk_measures) or [],
            **{f: self.day("plans", f, get, getattr(pm, f)) for f in dates},
            **{
                f: values.get(f) or None
                for f in (
                    "objectives",
                    "customer_goals",
                    "pain_points",
                    "selection_criteria",
                    "decision_process",
                    "value_for_customer",
                    "value_for_us",
                )
            },
        ))

    def _team(self, cid: str, get: Props) -> list[TeamMember]:
        each = self.m.fields.get("team", {}).get("each")  # type: ignore[call-overload]
        if each is not None:
            members, _ = self.field("team", "each", as_spec(each), get)
            return [self.build(TeamMember, "team", {}, {"account_id": cid, **m}) for m in members or []]
        if self.m.extras is None:
            return []
        out = []
        for item in split(get(self.m.extras.team)):
            parts = item.split(":")
            if len(parts) < 2:
                raise BadValue(f"team entry {item!r} is not ownerId:role[:region]")
            out.append(
                TeamMember(
                    account_id=cid,
                    user_id=parts[0],
                    role=self.value("team_role", parts[1]),
                    region=parts[2] if len(parts) > 2 and parts[2] else None,
                )
            )
        return out

    def _surveys(self, cid: str, get: Callable[[str | None], Any]) -> list[Survey]:
        if self.m.extras is None:
            return []
        out = []
        for item in split(get(self.m.extras.surveys)):
            parts = item.split(":")
            if len(parts) != 3:
                raise BadValue(f"survey entry {item!r} is not YYYY-MM-DD:kind:score")
            day = parse_date(parts[0])
            score = parse_float(parts[2], people=True)
            if day is None or score is None:
                raise BadValue(f"survey entry {item!r} lacks a date or score")
            out.append(Survey(account_id=cid, date=day, kind=parts[1].strip().lower(), score=score))
        return out

    def _contracts(self, cid: str, get: Callable[[str | None], Any]) -> list[Contract]:
        x = self.m.extras
        if x is None:
            return []
        end = prop_date(get, x.contract_end)
        if end is None:
            return []
        return [
            Contract(
                account_id=cid,
                end_date=end,
                start_date=prop_date(get, x.contract_start),
                renewal_status=self.value("renewal_status", get(x.renewal_status)) or "none",
            )
        ]

    # --- records of custom objects ------------------------------------------------------------

    def plan_record(self, row: Row, company: str) -> AccountPlan | None:
        return self._plan(company, self.props(self.sources.get("plans", ""), row))

    def survey_record(self, row: Row, company: str) -> Survey:
        s = self.m.surveys
        assert s is not None
        get = self.props(self.sources.get("surveys", ""), row)
        day, score = prop_date(get, s.date), prop_float(get, s.score)
        if day is None:
            raise BadValue(f"{s.date}: empty")
        if score is None:
            raise BadValue(f"{s.score}: empty")
        kind = (self.value("survey_kind", get(s.kind)) or "csat").lower()
        if kind not in ("csat", "nps"):
            raise BadValue(f"{s.kind}: {get(s.kind)!r} is not csat or nps (values.survey_kind translates)")
        return Survey(account_id=company, date=day, kind=kind, score=score)

    def contract_record(self, row: Row, company: str) -> Contract:
        c = self.m.contracts
        assert c is not None
        get = self.props(self.sources.get("contracts", ""), row)
        end = prop_date(get, c.end_date)
        if end is None:
            raise BadValue(f"{c.end_date}: empty")
        status = (self.value("renewal_status", get(c.renewal_status)) or "none").lower()
        if status not in ("none", "in_progress", "renewed", "lost"):
            raise BadValue(
                f"{c.renewal_status}: {get(c.renewal_status)!r} is not none, in_progress, renewed or lost"
                " (values.renewal_status translates)"
            )
        return Contract(
            account_id=company, end_date=end, start_date=prop_date(get, c.start_date), renewal_status=status
        )
