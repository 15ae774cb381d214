"""The facts stage's floor for `bench/run`: kam-core's facts computed by plain, fused Python.

The yardstick of `facts s` (issue #18): the same facts of the same accounts as a run computes
(`LazyFacts` filled with what kam-core's rules in scope read: 5 for an ordinary account, 64 for
a key account), from the same cleaned chunk, written as the fastest honest plain Python we
could: one pass per record kind to group, then per account one loop per record kind that
computes every fact reading it at once, with no registry, no per-fact calls and no memo.
It shares only definitions with kamrules (word lists, role names, `name_words`), never a fact
function; `bench/run` stops if a single value differs from the run's.

It knows only the facts named in `KEY_FACTS`/`GENERAL_FACTS`; asked for others, it says which.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from datetime import date
from typing import Any

from kamrules.evaluation.facts.conduct import NEAR_WORDS, TERM_STEMS
from kamrules.evaluation.facts.deals import REPEAT_WORDS, SOMETHING_NEW
from kamrules.evaluation.facts.registry import DECISION_ROLES, PROBLEM_CATEGORIES, TOUCHES, WORD
from kamrules.evaluation.facts.relationship import REVIEW_WORDS
from kamrules.evaluation.facts.view import Portfolio

GENERAL_FACTS = frozenset({"is_key", "confidential_disclosures_365d", "max_gifts_to_one_contact_365d",
                           "revenue_share_above", "won_deals_12m"})
KEY_FACTS = GENERAL_FACTS | frozenset({
    "has_key_reason", "tier", "potential", "preferred_supplier", "region_count",
    "revenue_share_of_potential", "revenue_trend_pct", "contacts", "departments",
    "has_primary_contact", "primary_contact_decides", "contacts_without_role",
    "days_since_new_contact", "engaged_contacts_90d", "touches_90d", "engagement_ratio",
    "engagement_vs_year", "days_since_touch", "longest_unconfirmed_meeting_days",
    "days_since_sponsor_touch", "days_since_executive_meeting", "blockers_without_plan",
    "buying_roles_missing", "champion_left", "days_since_last_win", "meetings_since_last_win",
    "days_since_new_offer", "open_cross_sell_deals", "open_deals_outside_team",
    "open_renewal_deals", "problem_cases_after_win", "days_since_survey", "nps", "satisfaction",
    "satisfaction_change", "days_to_contract_end", "cases_manager_not_told",
    "oldest_open_critical_case_days", "oldest_open_high_case_days",
    "oldest_open_medium_case_days", "oldest_open_low_case_days",
    "oldest_unescalated_problem_days", "unescalated_problem_cases", "has_plan",
    "plan_horizon_years", "plan_has_customer_goals", "plan_has_objectives",
    "days_since_objectives_review", "plan_missing_buying_fields", "days_since_risk_review",
    "risk_measures", "oldest_risk_measure_review_days", "days_since_relationship_review",
    "team_size", "team_functions", "has_executive_sponsor", "regions_without_rep",
    "plan_records_mutual_value", "days_since_value_review"})
BUDGET_ROLES = frozenset({"economic_buyer", "budget_holder"})


def unknown(key_reads: list[str], general_reads: list[str]) -> set[str]:
    """The facts read that this floor does not compute (then `bench/run` shows no floor)."""
    return (set(key_reads) - KEY_FACTS) | (set(general_reads) - GENERAL_FACTS)


def _filled(text: str | None) -> bool:
    return text is not None and text.strip() != ""


def _days(as_of: date, d: date | None) -> int | None:
    return None if d is None else (as_of - d).days


class _Text:
    """The name test of P29, on one portfolio: which key names a text holds, and whether one
    of them (not the account's own) stands within NEAR_WORDS words of a commercial term."""

    def __init__(self, portfolio: Portfolio):
        self.index = portfolio.name_index
        self.first = frozenset(self.index)
        self.any = bool(portfolio.key_account_names)

    def discloses(self, text: str, account_name: str) -> bool:
        words = WORD.findall(text.lower())
        if self.first.isdisjoint(words):
            return False
        index, own = self.index, tuple(WORD.findall(account_name.lower()))
        for i, word in enumerate(words):
            for name in index.get(word, ()):
                k = len(name)
                if name != own and tuple(words[i:i + k]) == name:
                    near = words[max(0, i - NEAR_WORDS):i + k + NEAR_WORDS]
                    if any(w.startswith(TERM_STEMS) for w in near):
                        return True
        return False


def facts(chunk: Any, portfolio: Portfolio) -> dict[str, dict[str, Any]]:
    """Per account id, its facts: GENERAL_FACTS for an ordinary account, KEY_FACTS for a key one."""
    as_of = chunk.as_of
    kinds = ("deals", "activities", "cases", "contacts", "surveys", "team", "contracts")
    groups = {kind: defaultdict(list) for kind in kinds}
    for d in chunk.deals:
        if d.created <= as_of:
            groups["deals"][d.account_id].append(d)
    for a in chunk.activities:
        if a.date <= as_of:
            groups["activities"][a.account_id].append(a)
    for c in chunk.cases:
        if c.opened <= as_of:
            groups["cases"][c.account_id].append(c)
    for ct in chunk.contacts:
        if ct.created is None or ct.created <= as_of:
            groups["contacts"][ct.account_id].append(ct)
    for s in chunk.surveys:
        if s.date <= as_of:
            groups["surveys"][s.account_id].append(s)
    for t in chunk.team:
        groups["team"][t.account_id].append(t)
    for k in chunk.contracts:
        groups["contracts"][k.account_id].append(k)
    plans = {p.account_id: p for p in chunk.plans}
    text = _Text(portfolio)
    ranks, above = portfolio.sorted_revenue, portfolio.revenue_at_or_above
    share_ok = bool(ranks) and bool(above) and above[0] > 0
    empty: list[Any] = []
    g_deals, g_acts = groups["deals"], groups["activities"]
    out: dict[str, dict[str, Any]] = {}
    year = as_of.year
    for account in chunk.accounts:
        aid = account.id
        last = None
        for p in account.revenue:
            if p.year < year and (last is None or p.year > last.year):
                last = p
        revenue = None if last is None else last.amount
        share = (round(100.0 * above[bisect.bisect_right(ranks, revenue or 0.0)] / above[0], 2)
                 if share_ok else None)
        deals, acts = g_deals.get(aid, empty), g_acts.get(aid, empty)
        won12 = 0
        for d in deals:
            if d.is_won and d.close_date and 0 <= (as_of - d.close_date).days < 365:
                won12 += 1
        disclosed = 0
        gifts: dict[str, float] = defaultdict(float)
        if not account.is_key:
            for a in acts:
                age = (as_of - a.date).days
                if a.type == "email":
                    if (a.direction == "outbound" and age < 365 and text.any
                            and text.discloses(f"{a.subject}\n{a.body}", account.name)):
                        disclosed += 1
                elif a.type == "gift" and age < 365:
                    for c in a.contact_ids or ["(unnamed)"]:
                        gifts[c] += a.amount or 0.0
            out[aid] = {"is_key": account.is_key, "confidential_disclosures_365d": disclosed,
                        "max_gifts_to_one_contact_365d": max(gifts.values()) if gifts else 0.0,
                        "revenue_share_above": share, "won_deals_12m": won12}
            continue
        out[aid] = _key(account, as_of, revenue, share, won12, deals, acts, text,
                        groups["cases"].get(aid, empty), groups["contacts"].get(aid, empty),
                        groups["surveys"].get(aid, empty), groups["team"].get(aid, empty),
                        groups["contracts"].get(aid, empty), plans.get(aid))
    return out


def _key(account: Any, as_of: date, revenue: float | None, share: float | None, won12: int,
         deals: list[Any], acts: list[Any], text: _Text, cases: list[Any],
         contacts: list[Any], surveys: list[Any], team: list[Any], contracts: list[Any],
         plan: Any) -> dict[str, Any]:
    """Every fact of KEY_FACTS of one key account, one loop per record kind."""
    f: dict[str, Any] = {"is_key": True, "revenue_share_above": share, "won_deals_12m": won12,
                         "has_key_reason": _filled(account.key_reason), "tier": account.tier,
                         "potential": account.potential,
                         "preferred_supplier": account.preferred_supplier}
    potential = account.potential
    f["revenue_share_of_potential"] = (None if not potential or potential <= 0 or revenue is None
                                       else round(100.0 * revenue / potential, 2))
    by_year = {p.year: p.amount for p in account.revenue if p.year < as_of.year}
    trend = None
    if len(by_year) >= 2:
        top = max(by_year)
        if top - 1 in by_year and by_year[top - 1] != 0:
            trend = round(100.0 * (by_year[top] - by_year[top - 1]) / by_year[top - 1], 2)
    f["revenue_trend_pct"] = trend

    # the team
    users, roles, sponsors, covered = set(), set(), set(), set()
    for t in team:
        users.add(t.user_id)
        roles.add(t.role)
        if t.role == "executive_sponsor":
            sponsors.add(t.user_id)
        elif t.role == "field_rep" and t.region:
            covered.add(t.region.strip().lower())
    inside = users | {account.owner_id}
    f["team_size"] = len(users | {account.owner_id}) if account.owner_id else len(users)
    f["team_functions"] = len(roles)
    f["has_executive_sponsor"] = bool(sponsors)
    regions = {r.strip().lower() for r in account.regions if r.strip()}
    f["regions_without_rep"] = len(regions - covered)

    # contacts
    active = primary = without_role = blockers = 0
    primary_decides = None
    dm = budget = champion = False
    newest = None
    gone_champion = False
    for c in contacts:
        if c.created and (newest is None or c.created > newest):
            newest = c.created
        if c.region and c.region.strip():
            regions.add(c.region.strip().lower())
        role = (c.buying_role or "").strip().lower()
        is_champion = c.stance == "champion" or role == "champion"
        if c.status != "active":
            gone_champion = gone_champion or is_champion
            continue
        active += 1
        if c.is_primary:
            primary += 1
            decides = (c.buying_role or "").lower() in DECISION_ROLES
            primary_decides = decides or bool(primary_decides)
        if not _filled(c.buying_role):
            without_role += 1
        dm = dm or role == "decision_maker"
        budget = budget or role in BUDGET_ROLES
        champion = champion or is_champion
        if (c.stance == "blocker" or role == "blocker") and not _filled(c.win_over_plan):
            blockers += 1
    departments = len({c.department.strip().lower() for c in contacts
                       if c.status == "active" and _filled(c.department)})
    f.update(contacts=active, departments=departments, has_primary_contact=primary > 0,
             primary_contact_decides=primary_decides, contacts_without_role=without_role,
             days_since_new_contact=_days(as_of, newest), region_count=len(regions),
             buying_roles_missing=(not dm) + (not budget) + (not champion),
             blockers_without_plan=blockers, champion_left=not champion and gone_champion)

    # deals
    last_win = newest_offer = None
    open_renewals = open_new = outside = 0
    win_dates = []
    for d in deals:
        closed = d.is_closed and (d.close_date is None or d.close_date <= as_of)
        if d.is_won and d.close_date and d.close_date <= as_of:
            win_dates.append(d.close_date)
            if last_win is None or d.close_date > last_win:
                last_win = d.close_date
        kind = d.kind
        if kind is None:
            kind = (d.type if d.type in ("renewal", "upsell")
                    else "reorder" if REPEAT_WORDS.search(d.name or "") else "new_product")
        new = kind in SOMETHING_NEW
        if new and (newest_offer is None or d.created > newest_offer):
            newest_offer = d.created
        if not closed:
            open_renewals += d.type == "renewal"
            open_new += new
            outside += d.owner_id is not None and d.owner_id not in inside
    f.update(days_since_last_win=_days(as_of, last_win), days_since_new_offer=_days(as_of, newest_offer),
             open_cross_sell_deals=open_new, open_deals_outside_team=outside,
             open_renewal_deals=open_renewals)

    # activities
    last90 = prev90 = year = disclosed = 0
    engaged: set[str] = set()
    latest_touch = sponsor_touch = executive = None
    meetings_after_win = 0
    written: list[date] = []
    meetings: list[date] = []
    gifts: dict[str, float] = defaultdict(float)
    for a in acts:
        day, kind = a.date, a.type
        age = (as_of - day).days
        if age < 90:
            engaged.update(a.contact_ids)
        if kind in TOUCHES:
            if age < 90:
                last90 += 1
            elif age < 360:
                year += 1
                if age < 180:
                    prev90 += 1
        if a.owner_id in sponsors and (sponsor_touch is None or day > sponsor_touch):
            sponsor_touch = day
        if kind == "meeting":
            if latest_touch is None or day > latest_touch:
                latest_touch = day
            if age < 90:
                meetings.append(day)
            if last_win is not None and day > last_win:
                meetings_after_win += 1
            if ((a.owner_id in sponsors or REVIEW_WORDS.search(a.subject or ""))
                    and (executive is None or day > executive)):
                executive = day
        elif kind == "call":
            if latest_touch is None or day > latest_touch:
                latest_touch = day
        elif kind == "email":
            if a.direction == "outbound":
                written.append(day)
                if (age < 365 and text.any
                        and text.discloses(f"{a.subject}\n{a.body}", account.name)):
                    disclosed += 1
        elif kind == "gift" and age < 365:
            for c in a.contact_ids or ["(unnamed)"]:
                gifts[c] += a.amount or 0.0
    worst = None
    if meetings:
        written.sort()
        for day in meetings:
            i = bisect.bisect_left(written, day)
            follow = written[i] if i < len(written) else as_of
            wait = (min(follow, as_of) - day).days
            if worst is None or wait > worst:
                worst = wait
    f.update(engaged_contacts_90d=len(engaged), touches_90d=last90,
             engagement_ratio=None if prev90 == 0 else round(last90 / prev90, 4),
             engagement_vs_year=None if year == 0 else round(last90 / (year / 3.0), 4),
             days_since_touch=_days(as_of, latest_touch), longest_unconfirmed_meeting_days=worst,
             days_since_sponsor_touch=_days(as_of, sponsor_touch),
             days_since_executive_meeting=_days(as_of, executive),
             meetings_since_last_win=None if last_win is None else meetings_after_win,
             confidential_disclosures_365d=disclosed,
             max_gifts_to_one_contact_365d=max(gifts.values()) if gifts else 0.0)

    # cases
    oldest: dict[str, int] = {}
    problems_after_win = unescalated = not_told = 0
    oldest_problem = None
    for c in cases:
        age = (as_of - c.opened).days
        problem = (c.category or "").lower() in PROBLEM_CATEGORIES
        if problem and age < 365 and any(0 <= (c.opened - w).days <= 90 for w in win_dates):
            problems_after_win += 1
        if c.closed is not None and c.closed <= as_of:
            continue
        if age > oldest.get(c.priority, -1):
            oldest[c.priority] = age
        if problem and not c.escalated:
            if oldest_problem is None or age > oldest_problem:
                oldest_problem = age
            if c.owner_id is None or c.owner_id == account.owner_id:
                unescalated += 1
        if c.priority in ("high", "critical") and not c.escalated and c.owner_id not in inside:
            not_told += 1
    f.update(problem_cases_after_win=problems_after_win, unescalated_problem_cases=unescalated,
             cases_manager_not_told=not_told, oldest_unescalated_problem_days=oldest_problem,
             oldest_open_critical_case_days=oldest.get("critical"),
             oldest_open_high_case_days=oldest.get("high"),
             oldest_open_medium_case_days=oldest.get("medium"),
             oldest_open_low_case_days=oldest.get("low"))

    # surveys and contracts
    latest_survey = nps = None
    csat = []
    for s in surveys:
        if latest_survey is None or s.date > latest_survey:
            latest_survey = s.date
        if s.kind == "nps":
            if nps is None or s.date >= nps.date:
                nps = s
        else:
            csat.append(s)
    csat.sort(key=lambda s: s.date)
    pending = [c.end_date for c in contracts if c.renewal_status in ("none", "in_progress")]
    f.update(days_since_survey=_days(as_of, latest_survey), nps=None if nps is None else nps.score,
             satisfaction=csat[-1].score if csat else None,
             satisfaction_change=round(csat[-1].score - csat[-2].score, 2) if len(csat) >= 2 else None,
             days_to_contract_end=(min(pending) - as_of).days if pending else None)

    # the plan
    p = plan
    if p is None:
        f.update(has_plan=False, plan_horizon_years=None, plan_has_customer_goals=False,
                 plan_has_objectives=False, days_since_objectives_review=None,
                 plan_missing_buying_fields=2, days_since_risk_review=None, risk_measures=0,
                 oldest_risk_measure_review_days=None, days_since_relationship_review=None,
                 plan_records_mutual_value=False, days_since_value_review=None)
        return f
    reviewed = [m.reviewed for m in p.risk_measures]
    f.update(has_plan=True, plan_horizon_years=p.horizon_years,
             plan_has_customer_goals=_filled(p.customer_goals) and _filled(p.pain_points),
             plan_has_objectives=_filled(p.objectives),
             days_since_objectives_review=_days(as_of, p.objectives_reviewed),
             plan_missing_buying_fields=int(not _filled(p.selection_criteria))
             + int(not _filled(p.decision_process)),
             days_since_risk_review=_days(as_of, p.risk_reviewed), risk_measures=len(reviewed),
             oldest_risk_measure_review_days=(None if not reviewed or None in reviewed
                                              else _days(as_of, min(reviewed))),
             days_since_relationship_review=_days(as_of, p.relationship_reviewed),
             plan_records_mutual_value=_filled(p.value_for_customer) and _filled(p.value_for_us),
             days_since_value_review=_days(as_of, p.value_reviewed))
    return f
