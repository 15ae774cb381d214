"""Per-account facts derived from a snapshot as of a date: the only values rules can read.

A fact is a small documented function of one account's records and the portfolio context.
Facts take no parameters; rules compare them with pack params. A fact with nothing to
measure (no meeting ever, no plan) is None, which rules test with `exists`.
"""

from __future__ import annotations

import bisect
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from kamrules.model import (
    Account,
    AccountPlan,
    Activity,
    Case,
    Contact,
    Contract,
    Deal,
    Snapshot,
    Survey,
    TeamMember,
)

FactType = Literal["int", "float", "bool", "str"]
FactValue = int | float | bool | str | None

DECISION_ROLES = frozenset({"decision_maker", "economic_buyer"})
PROBLEM_CATEGORIES = frozenset({"delivery", "quality"})
WRITTEN = frozenset({"email", "note"})
TOUCHES = frozenset({"meeting", "call", "email"})


@dataclass(frozen=True)
class FactSpec:
    """A fact's name, value type, unit and one-line meaning (what `kamrules facts` lists)."""

    name: str
    type: FactType
    unit: str
    meaning: str
    principles: tuple[str, ...]
    func: Callable[[AccountView], FactValue]


WORD = re.compile(r"\w+")


def _words(text: str) -> tuple[str, ...]:
    return tuple(WORD.findall(text.lower()))


@dataclass
class Portfolio:
    """What facts need to know about all accounts: revenue ranks and key-account names."""

    sorted_revenue: list[float] = field(default_factory=list)
    key_account_names: dict[str, str] = field(default_factory=dict)
    # first word of a key account's name -> the names (as word tuples) starting with it
    name_index: dict[str, set[tuple[str, ...]]] = field(default_factory=dict)

    def names_in(self, text: str) -> set[tuple[str, ...]]:
        """The key-account names a text mentions, matched on whole words, ignoring case.

        A word-index lookup, so the cost grows with the text, not with the number of names.
        """
        words = _words(text)
        found = set()
        for i, word in enumerate(words):
            for name in self.name_index.get(word, ()):
                if words[i:i + len(name)] == name:
                    found.add(name)
        return found


@dataclass
class AccountView:
    """One account's records as of a date, grouped once so every fact is a cheap scan."""

    as_of: date
    account: Account
    portfolio: Portfolio
    contacts: list[Contact] = field(default_factory=list)
    deals: list[Deal] = field(default_factory=list)
    activities: list[Activity] = field(default_factory=list)
    cases: list[Case] = field(default_factory=list)
    plan: AccountPlan | None = None
    team: list[TeamMember] = field(default_factory=list)
    surveys: list[Survey] = field(default_factory=list)
    contracts: list[Contract] = field(default_factory=list)

    def days_since(self, d: date | None) -> int | None:
        return None if d is None else (self.as_of - d).days

    def within(self, d: date, days: int, offset: int = 0) -> bool:
        """True when d falls in the window (as_of - offset - days, as_of - offset]."""
        age = (self.as_of - d).days - offset
        return 0 <= age < days


REGISTRY: dict[str, FactSpec] = {}


def fact(
    name: str, type: FactType, unit: str, meaning: str, principles: Iterable[str] = ()
) -> Callable[[Callable[[AccountView], FactValue]], Callable[[AccountView], FactValue]]:
    """Register a fact function under a stable name; duplicate names are a bug."""

    def register(func: Callable[[AccountView], FactValue]) -> Callable[[AccountView], FactValue]:
        if name in REGISTRY:
            raise ValueError(f"fact {name!r} registered twice")
        REGISTRY[name] = FactSpec(name, type, unit, meaning, tuple(principles), func)
        return func

    return register


def _last_year_revenue(account: Account, as_of: date) -> float | None:
    points = [p for p in account.revenue if p.year < as_of.year]
    return max(points, key=lambda p: p.year).amount if points else None


def _ratio(a: float, b: float) -> float | None:
    return None if b == 0 else round(a / b, 4)


def _blank(text: str | None) -> bool:
    return text is None or not text.strip()


# --- identification -------------------------------------------------------------------------


@fact("is_key", "bool", "flag", "The account is flagged as a key account.", ["P01", "P05"])
def _is_key(v: AccountView) -> FactValue:
    return v.account.is_key


@fact("has_key_reason", "bool", "flag", "A reason for key-account status is recorded.", ["P04"])
def _has_key_reason(v: AccountView) -> FactValue:
    return not _blank(v.account.key_reason)


@fact("tier", "str", "text", "Key-account tier as recorded in the CRM.", ["P02"])
def _tier(v: AccountView) -> FactValue:
    return v.account.tier


@fact("revenue_last_year", "float", "money", "Revenue in the last complete calendar year.", ["P05"])
def _revenue_last_year(v: AccountView) -> FactValue:
    return _last_year_revenue(v.account, v.as_of)


@fact(
    "revenue_percentile", "float", "percent",
    "Share of accounts with lower last-year revenue (0-100); accounts with none count as 0.",
    ["P05"],
)
def _revenue_percentile(v: AccountView) -> FactValue:
    revenue = _last_year_revenue(v.account, v.as_of) or 0.0
    ranks = v.portfolio.sorted_revenue
    if not ranks:
        return None
    return round(100.0 * bisect.bisect_left(ranks, revenue) / len(ranks), 2)


@fact(
    "revenue_trend_pct", "float", "percent",
    "Change of last year's revenue against the year before, in percent.", ["P16", "P39"],
)
def _revenue_trend(v: AccountView) -> FactValue:
    by_year = {p.year: p.amount for p in v.account.revenue if p.year < v.as_of.year}
    if len(by_year) < 2:
        return None
    last = max(by_year)
    if last - 1 not in by_year or by_year[last - 1] == 0:
        return None
    return round(100.0 * (by_year[last] - by_year[last - 1]) / by_year[last - 1], 2)


@fact("potential", "float", "money", "Estimated yearly purchase potential.", ["P02"])
def _potential(v: AccountView) -> FactValue:
    return v.account.potential


@fact(
    "region_count", "int", "count",
    "Distinct regions of the account and its contacts.", ["P02", "P03"],
)
def _region_count(v: AccountView) -> FactValue:
    return len(_regions(v))


def _regions(v: AccountView) -> set[str]:
    regions = {r.strip().lower() for r in v.account.regions if r.strip()}
    regions.update(c.region.strip().lower() for c in v.contacts if c.region and c.region.strip())
    return regions


@fact("customer_years", "float", "years", "Years since the account became a customer.", ["P17"])
def _customer_years(v: AccountView) -> FactValue:
    since = v.account.customer_since
    return None if since is None else round((v.as_of - since).days / 365.25, 2)


@fact(
    "preferred_supplier", "str", "text",
    "Our supplier status at the account: preferred, approved, lost or unknown.", ["P21"],
)
def _preferred(v: AccountView) -> FactValue:
    return v.account.preferred_supplier


# --- deals -----------------------------------------------------------------------------------


@fact("won_deals_12m", "int", "count", "Deals won in the last 365 days.", ["P01"])
def _won_12m(v: AccountView) -> FactValue:
    return sum(
        1 for d in v.deals if d.is_won and d.close_date and v.within(d.close_date, 365)
    )


@fact("open_deals", "int", "count", "Open deals (not closed) of any type.", ["P34"])
def _open_deals(v: AccountView) -> FactValue:
    return sum(1 for d in v.deals if not _closed_by(d, v.as_of))


@fact("open_renewal_deals", "int", "count", "Open deals of type renewal.", ["P40"])
def _open_renewals(v: AccountView) -> FactValue:
    return sum(1 for d in v.deals if d.type == "renewal" and not _closed_by(d, v.as_of))


def _closed_by(deal: Deal, as_of: date) -> bool:
    return deal.is_closed and (deal.close_date is None or deal.close_date <= as_of)


@fact(
    "days_since_new_offer", "int", "days",
    "Days since the last new or upsell opportunity was opened.", ["P10", "P17"],
)
def _days_since_offer(v: AccountView) -> FactValue:
    dates = [d.created for d in v.deals if d.type in ("new", "upsell")]
    return v.days_since(max(dates)) if dates else None


@fact("days_since_last_win", "int", "days", "Days since the last deal was won.", ["P06"])
def _days_since_win(v: AccountView) -> FactValue:
    return v.days_since(_last_win(v))


def _last_win(v: AccountView) -> date | None:
    wins = [d.close_date for d in v.deals if d.is_won and d.close_date and d.close_date <= v.as_of]
    return max(wins) if wins else None


@fact(
    "meetings_since_last_win", "int", "count",
    "Meetings held since the last deal was won (None when none was ever won).", ["P06"],
)
def _meetings_since_win(v: AccountView) -> FactValue:
    won = _last_win(v)
    if won is None:
        return None
    return sum(1 for a in v.activities if a.type == "meeting" and a.date > won)


# --- contacts --------------------------------------------------------------------------------


@fact("contacts", "int", "count", "Contacts at the account.", ["P09"])
def _contacts(v: AccountView) -> FactValue:
    return len(v.contacts)


@fact(
    "departments", "int", "count",
    "Distinct departments or functions the contacts work in.", ["P08"],
)
def _departments(v: AccountView) -> FactValue:
    return len({c.department.strip().lower() for c in v.contacts if not _blank(c.department)})


@fact("has_primary_contact", "bool", "flag", "A contact is marked as primary.", ["P11"])
def _has_primary(v: AccountView) -> FactValue:
    return any(c.is_primary for c in v.contacts)


@fact(
    "decision_makers", "int", "count",
    "Contacts whose buying role is decision maker or economic buyer.", ["P11"],
)
def _decision_makers(v: AccountView) -> FactValue:
    return sum(1 for c in v.contacts if (c.buying_role or "").lower() in DECISION_ROLES)


@fact("contacts_without_role", "int", "count", "Contacts with no buying role.", ["P18"])
def _contacts_without_role(v: AccountView) -> FactValue:
    return sum(1 for c in v.contacts if _blank(c.buying_role))


@fact("days_since_new_contact", "int", "days", "Days since a contact was last added.", ["P09"])
def _days_since_new_contact(v: AccountView) -> FactValue:
    dates = [c.created for c in v.contacts if c.created]
    return v.days_since(max(dates)) if dates else None


@fact(
    "engaged_contacts_90d", "int", "count",
    "Distinct contacts who took part in an activity in the last 90 days.", ["P07"],
)
def _engaged_contacts(v: AccountView) -> FactValue:
    return len({c for a in v.activities if v.within(a.date, 90) for c in a.contact_ids})


@fact(
    "activity_owners_90d", "int", "count",
    "Distinct people on our side who logged an activity in the last 90 days.", ["P07"],
)
def _activity_owners(v: AccountView) -> FactValue:
    return len({a.owner_id for a in v.activities if v.within(a.date, 90) and a.owner_id})


# --- activities ------------------------------------------------------------------------------


@fact("days_since_meeting", "int", "days", "Days since the last meeting.", ["P12"])
def _days_since_meeting(v: AccountView) -> FactValue:
    dates = [a.date for a in v.activities if a.type == "meeting"]
    return v.days_since(max(dates)) if dates else None


@fact(
    "days_since_touch", "int", "days",
    "Days since the last meeting or call (a meaningful touch).", ["P12"],
)
def _days_since_touch(v: AccountView) -> FactValue:
    dates = [a.date for a in v.activities if a.type in ("meeting", "call")]
    return v.days_since(max(dates)) if dates else None


@fact(
    "touches_90d", "int", "count",
    "Meetings, calls and emails in the last 90 days.", ["P12", "P14"],
)
def _touches_90d(v: AccountView) -> FactValue:
    return sum(1 for a in v.activities if a.type in TOUCHES and v.within(a.date, 90))


@fact(
    "touches_prev_90d", "int", "count",
    "Meetings, calls and emails in the 90 days before the last 90.", ["P14"],
)
def _touches_prev_90d(v: AccountView) -> FactValue:
    return sum(1 for a in v.activities if a.type in TOUCHES and v.within(a.date, 90, offset=90))


@fact(
    "engagement_ratio", "float", "ratio",
    "Touches in the last 90 days divided by touches in the 90 days before (None if none).",
    ["P14"],
)
def _engagement_ratio(v: AccountView) -> FactValue:
    prev = _touches_prev_90d(v)
    return _ratio(float(_touches_90d(v) or 0), float(prev or 0))


@fact(
    "longest_unconfirmed_meeting_days", "int", "days",
    "Of meetings and calls in the last 90 days, the longest wait for a written follow-up "
    "(outbound email or note on or after it); still waiting counts until today.",
    ["P23"],
)
def _longest_unconfirmed(v: AccountView) -> FactValue:
    written = sorted(
        a.date for a in v.activities if a.type in WRITTEN and a.direction == "outbound"
    )
    waits = []
    for a in v.activities:
        if a.type in ("meeting", "call") and v.within(a.date, 90):
            i = bisect.bisect_left(written, a.date)
            follow = written[i] if i < len(written) else v.as_of
            waits.append((min(follow, v.as_of) - a.date).days)
    return max(waits) if waits else None


@fact(
    "confidential_mentions_365d", "int", "count",
    "Outbound emails and notes in the last 365 days that name another key account.", ["P29"],
)
def _confidential(v: AccountView) -> FactValue:
    names = v.portfolio.key_account_names
    if not names:
        return 0
    own = _words(v.account.name)
    count = 0
    for a in v.activities:
        if a.type in WRITTEN and a.direction == "outbound" and v.within(a.date, 365):
            found = v.portfolio.names_in(f"{a.subject}\n{a.body}")
            if found - {own}:
                count += 1
    return count


@fact(
    "max_gifts_to_one_contact_365d", "float", "money",
    "Largest total value of gifts and hospitality given to one contact in the last 365 days.",
    ["P33"],
)
def _gifts(v: AccountView) -> FactValue:
    totals: dict[str, float] = defaultdict(float)
    for a in v.activities:
        if a.type == "gift" and v.within(a.date, 365):
            for c in a.contact_ids or ["(unnamed)"]:
                totals[c] += a.amount or 0.0
    return max(totals.values()) if totals else 0.0


@fact(
    "days_since_sponsor_touch", "int", "days",
    "Days since the executive sponsor logged an activity with the account.", ["P35"],
)
def _sponsor_touch(v: AccountView) -> FactValue:
    sponsors = {t.user_id for t in v.team if t.role == "executive_sponsor"}
    dates = [a.date for a in v.activities if a.owner_id in sponsors]
    return v.days_since(max(dates)) if dates else None


# --- cases -----------------------------------------------------------------------------------


def _open_cases(v: AccountView) -> Iterator[Case]:
    return (c for c in v.cases if c.closed is None or c.closed > v.as_of)


def _oldest_open(v: AccountView, priority: str) -> FactValue:
    ages = [(v.as_of - c.opened).days for c in _open_cases(v) if c.priority == priority]
    return max(ages) if ages else None


@fact("open_cases", "int", "count", "Open service cases.", ["P22"])
def _open_case_count(v: AccountView) -> FactValue:
    return sum(1 for _ in _open_cases(v))


for _priority, _principles in (
    ("critical", ["P22"]),
    ("high", ["P22"]),
    ("medium", ["P22", "P27"]),
    ("low", ["P27"]),
):
    fact(
        f"oldest_open_{_priority}_case_days", "int", "days",
        f"Age of the oldest open {_priority}-priority case.", _principles,
    )(lambda v, p=_priority: _oldest_open(v, p))


@fact(
    "unescalated_problem_cases", "int", "count",
    "Open delivery or quality cases with no owner and no escalation.", ["P24"],
)
def _unescalated(v: AccountView) -> FactValue:
    return sum(
        1
        for c in _open_cases(v)
        if (c.category or "").lower() in PROBLEM_CATEGORIES and not c.escalated
        and (c.owner_id is None or c.owner_id == v.account.owner_id)
    )


@fact(
    "cases_manager_not_told", "int", "count",
    "Open high or critical cases owned outside the account team and never escalated.", ["P36"],
)
def _manager_not_told(v: AccountView) -> FactValue:
    team = {t.user_id for t in v.team} | {v.account.owner_id}
    return sum(
        1
        for c in _open_cases(v)
        if c.priority in ("high", "critical") and not c.escalated and c.owner_id not in team
    )


# --- account plan ----------------------------------------------------------------------------


@fact("has_plan", "bool", "flag", "An account plan exists.", ["P15"])
def _has_plan(v: AccountView) -> FactValue:
    return v.plan is not None


@fact("plan_horizon_years", "float", "years", "How many years ahead the plan looks.", ["P15"])
def _horizon(v: AccountView) -> FactValue:
    return None if v.plan is None else v.plan.horizon_years


@fact(
    "plan_has_customer_goals", "bool", "flag",
    "The plan records the customer's goals and pain points.", ["P13"],
)
def _plan_goals(v: AccountView) -> FactValue:
    p = v.plan
    return p is not None and not _blank(p.customer_goals) and not _blank(p.pain_points)


@fact("plan_has_objectives", "bool", "flag", "The plan records our objectives.", ["P19"])
def _plan_objectives(v: AccountView) -> FactValue:
    return v.plan is not None and not _blank(v.plan.objectives)


@fact(
    "days_since_objectives_review", "int", "days",
    "Days since the plan's objectives were last reviewed.", ["P19"],
)
def _objectives_review(v: AccountView) -> FactValue:
    return None if v.plan is None else v.days_since(v.plan.objectives_reviewed)


@fact(
    "plan_missing_buying_fields", "int", "count",
    "Of selection criteria and decision process, how many the plan leaves empty (2 if no plan).",
    ["P18"],
)
def _plan_missing(v: AccountView) -> FactValue:
    p = v.plan
    if p is None:
        return 2
    return int(_blank(p.selection_criteria)) + int(_blank(p.decision_process))


@fact("days_since_risk_review", "int", "days", "Days since the last risk review.", ["P16"])
def _risk_review(v: AccountView) -> FactValue:
    return None if v.plan is None else v.days_since(v.plan.risk_reviewed)


@fact(
    "risk_measures", "int", "count",
    "Risk-reduction measures recorded (demos, trials, guarantees, maintenance...).", ["P20"],
)
def _risk_measures(v: AccountView) -> FactValue:
    return 0 if v.plan is None else len(v.plan.risk_measures)


@fact(
    "oldest_risk_measure_review_days", "int", "days",
    "Days since the least recently reviewed risk-reduction measure was reviewed "
    "(never reviewed counts as None).",
    ["P20"],
)
def _oldest_measure(v: AccountView) -> FactValue:
    if v.plan is None or not v.plan.risk_measures:
        return None
    dates = [m.reviewed for m in v.plan.risk_measures]
    if any(d is None for d in dates):
        return None
    return v.days_since(min(d for d in dates if d is not None))


@fact(
    "days_since_relationship_review", "int", "days",
    "Days since the account team last held its relationship review.",
    ["P26", "P28", "P30", "P31", "P32"],
)
def _relationship_review(v: AccountView) -> FactValue:
    return None if v.plan is None else v.days_since(v.plan.relationship_reviewed)


# --- team ------------------------------------------------------------------------------------


@fact("team_size", "int", "count", "Distinct people on the account team.", ["P38"])
def _team_size(v: AccountView) -> FactValue:
    people = {t.user_id for t in v.team}
    if v.account.owner_id:
        people.add(v.account.owner_id)
    return len(people)


@fact("team_functions", "int", "count", "Distinct roles on the account team.", ["P37", "P38"])
def _team_functions(v: AccountView) -> FactValue:
    return len({t.role for t in v.team})


@fact("has_executive_sponsor", "bool", "flag", "The team has an executive sponsor.", ["P35"])
def _has_sponsor(v: AccountView) -> FactValue:
    return any(t.role == "executive_sponsor" for t in v.team)


@fact(
    "regions_without_rep", "int", "count",
    "Regions of the account no field rep on the team covers.", ["P37"],
)
def _regions_without_rep(v: AccountView) -> FactValue:
    covered = {t.region.strip().lower() for t in v.team if t.role == "field_rep" and t.region}
    return len({r.strip().lower() for r in v.account.regions if r.strip()} - covered)


# --- surveys and contracts -------------------------------------------------------------------


@fact("days_since_survey", "int", "days", "Days since the last CSAT or NPS survey.", ["P25"])
def _days_since_survey(v: AccountView) -> FactValue:
    dates = [s.date for s in v.surveys]
    return v.days_since(max(dates)) if dates else None


@fact("satisfaction", "float", "score", "Latest CSAT score (0-10).", ["P39"])
def _satisfaction(v: AccountView) -> FactValue:
    csat = sorted((s for s in v.surveys if s.kind == "csat"), key=lambda s: s.date)
    return csat[-1].score if csat else None


@fact(
    "satisfaction_change", "float", "score",
    "Latest CSAT score minus the one before it.", ["P39"],
)
def _satisfaction_change(v: AccountView) -> FactValue:
    csat = sorted((s for s in v.surveys if s.kind == "csat"), key=lambda s: s.date)
    return round(csat[-1].score - csat[-2].score, 2) if len(csat) >= 2 else None


@fact(
    "days_to_contract_end", "int", "days",
    "Days until the next contract that is not yet renewed or lost ends (negative: lapsed).",
    ["P40"],
)
def _contract_end(v: AccountView) -> FactValue:
    pending = [c.end_date for c in v.contracts if c.renewal_status in ("none", "in_progress")]
    return (min(pending) - v.as_of).days if pending else None


# --- derivation ------------------------------------------------------------------------------


def portfolio_context(accounts: Iterable[Account], as_of: date) -> Portfolio:
    """Portfolio-wide context: sorted revenues for percentiles, key-account names for P29.

    One pass over every account, so a streamed run can build it before the first chunk.
    """
    revenues: list[float] = []
    names: dict[str, str] = {}
    for a in accounts:
        revenues.append(_last_year_revenue(a, as_of) or 0.0)
        if a.is_key and len(a.name.strip()) >= 3:
            names[a.id] = a.name
    revenues.sort()
    index: dict[str, set[tuple[str, ...]]] = defaultdict(set)
    for name in names.values():
        words = _words(name)
        if words:
            index[words[0]].add(words)
    return Portfolio(sorted_revenue=revenues, key_account_names=names, name_index=dict(index))


def account_views(snapshot: Snapshot, portfolio: Portfolio | None = None) -> Iterator[AccountView]:
    """One view per account, with records dated after as_of left out.

    `portfolio` is the context of the whole portfolio when the snapshot is one chunk of it;
    by default the snapshot is the whole portfolio.
    """
    as_of = snapshot.as_of
    if portfolio is None:
        portfolio = portfolio_context(snapshot.accounts, as_of)
    grouped: dict[str, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    for d in snapshot.deals:
        if d.created <= as_of:
            grouped[d.account_id]["deals"].append(d)
    for a in snapshot.activities:
        if a.date <= as_of:
            grouped[a.account_id]["activities"].append(a)
    for c in snapshot.cases:
        if c.opened <= as_of:
            grouped[c.account_id]["cases"].append(c)
    for ct in snapshot.contacts:
        if ct.created is None or ct.created <= as_of:
            grouped[ct.account_id]["contacts"].append(ct)
    for s in snapshot.surveys:
        if s.date <= as_of:
            grouped[s.account_id]["surveys"].append(s)
    for t in snapshot.team:
        grouped[t.account_id]["team"].append(t)
    for k in snapshot.contracts:
        grouped[k.account_id]["contracts"].append(k)
    plans = {p.account_id: p for p in snapshot.plans}
    for account in snapshot.accounts:
        g = grouped.get(account.id, {})
        yield AccountView(
            as_of=as_of,
            account=account,
            portfolio=portfolio,
            contacts=g.get("contacts", []),
            deals=g.get("deals", []),
            activities=g.get("activities", []),
            cases=g.get("cases", []),
            plan=plans.get(account.id),
            team=g.get("team", []),
            surveys=g.get("surveys", []),
            contracts=g.get("contracts", []),
        )


def facts_for(view: AccountView, names: Iterable[str] | None = None) -> dict[str, FactValue]:
    """The named facts (all by default) of one account."""
    specs = REGISTRY.values() if names is None else (REGISTRY[n] for n in names)
    return {s.name: s.func(view) for s in specs}


def derive(snapshot: Snapshot, names: Iterable[str] | None = None) -> dict[str, dict[str, FactValue]]:
    """Facts of every account in the snapshot, keyed by account id."""
    wanted = None if names is None else sorted(set(names))
    return {v.account.id: facts_for(v, wanted) for v in account_views(snapshot)}
