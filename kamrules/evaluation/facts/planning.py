"""Planning and risk facts: the account plan, risk reviews and the account team (P15-P21, P37, P38)."""

from __future__ import annotations

from kamrules.evaluation.facts.registry import (
    FactValue,
    blank,
    fact,
)
from kamrules.evaluation.facts.view import AccountView


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
    return p is not None and not blank(p.customer_goals) and not blank(p.pain_points)


@fact("plan_has_objectives", "bool", "flag", "The plan records our objectives.", ["P19"])
def _plan_objectives(v: AccountView) -> FactValue:
    return v.plan is not None and not blank(v.plan.objectives)


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
    return int(blank(p.selection_criteria)) + int(blank(p.decision_process))


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


@fact(
    "plan_records_mutual_value", "bool", "flag",
    "The plan records both the value the customer gets from us and the value we get from them.",
    ["P42"],
)
def _mutual_value(v: AccountView) -> FactValue:
    p = v.plan
    return p is not None and not blank(p.value_for_customer) and not blank(p.value_for_us)


@fact(
    "days_since_value_review", "int", "days",
    "Days since the value both sides get from the partnership was last reviewed.", ["P42"],
)
def _value_review(v: AccountView) -> FactValue:
    return None if v.plan is None else v.days_since(v.plan.value_reviewed)
