"""Facts: deterministic for an as-of date, None when there is nothing to measure."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from kamrules.evaluation.facts import REGISTRY, derive
from kamrules.model import Snapshot

AS_OF = date(2026, 11, 1)


def d(days_ago: int) -> str:
    return (AS_OF - timedelta(days=days_ago)).isoformat()


def snapshot(**records: list[dict]) -> Snapshot:
    accounts = records.pop("accounts", None) or [{"id": "A", "name": "Acme", "is_key": True}]
    return Snapshot.model_validate({"as_of": AS_OF, "accounts": accounts, **records})


def test_every_fact_is_documented() -> None:
    for spec in REGISTRY.values():
        assert spec.meaning.endswith(".") and spec.unit and spec.type in ("int", "float", "bool", "str")


def test_empty_account_has_none_for_recency_facts() -> None:
    facts = derive(snapshot())["A"]
    assert facts["contacts"] == 0
    assert facts["days_since_meeting"] is None
    assert facts["has_plan"] is False and facts["plan_horizon_years"] is None
    assert facts["engagement_ratio"] is None
    assert facts["plan_missing_buying_fields"] == 2


def test_records_after_as_of_are_ignored() -> None:
    acts = [{"id": "1", "account_id": "A", "type": "meeting", "date": d(10)},
            {"id": "2", "account_id": "A", "type": "meeting", "date": d(-5)}]
    facts = derive(snapshot(activities=acts))["A"]
    assert facts["days_since_meeting"] == 10


def test_written_follow_up_wait() -> None:
    acts = [{"id": "1", "account_id": "A", "type": "meeting", "date": d(20)},
            {"id": "2", "account_id": "A", "type": "email", "date": d(17)},
            {"id": "3", "account_id": "A", "type": "call", "date": d(5)},
            {"id": "4", "account_id": "A", "type": "email", "date": d(4), "direction": "inbound"}]
    facts = derive(snapshot(activities=acts))["A"]
    # calls need no written follow-up (P23 is about meetings), and an inbound email is none
    assert facts["longest_unconfirmed_meeting_days"] == 3


def test_revenue_percentile_and_trend() -> None:
    accounts = [{"id": f"A{i}", "name": f"Co {i}",
                 "revenue": [{"year": 2024, "amount": 100.0 * i}, {"year": 2025, "amount": 90.0 * i}]}
                for i in range(1, 11)]
    facts = derive(snapshot(accounts=accounts))
    assert facts["A10"]["revenue_percentile"] == 90.0
    assert facts["A1"]["revenue_percentile"] == 0.0
    assert facts["A5"]["revenue_trend_pct"] == -10.0


def test_open_cases_by_priority_count_cases_closed_after_as_of_as_open() -> None:
    cases = [{"id": "1", "account_id": "A", "priority": "high", "opened": d(9), "closed": d(-1)},
             {"id": "2", "account_id": "A", "priority": "high", "opened": d(3)},
             {"id": "3", "account_id": "A", "priority": "low", "opened": d(40), "closed": d(2)}]
    facts = derive(snapshot(cases=cases))["A"]
    assert facts["oldest_open_high_case_days"] == 9
    assert facts["oldest_open_low_case_days"] is None
    assert facts["open_cases"] == 2


def test_confidential_mentions_ignore_own_name_and_inbound() -> None:
    accounts = [{"id": "A", "name": "Acme", "is_key": True},
                {"id": "B", "name": "Bolt Works", "is_key": True}]
    acts = [{"id": "1", "account_id": "A", "type": "email", "date": d(3), "body": "Acme and BOLT works"},
            {"id": "2", "account_id": "A", "type": "email", "date": d(3), "body": "about Acme only"},
            {"id": "3", "account_id": "A", "type": "email", "date": d(3), "direction": "inbound",
             "body": "Bolt Works said"},
            {"id": "4", "account_id": "A", "type": "note", "date": d(3), "body": "Boltworks"}]
    facts = derive(snapshot(accounts=accounts, activities=acts))["A"]
    assert facts["confidential_mentions_365d"] == 1


def test_the_portfolio_context_survives_json_with_every_field(demo_snapshot) -> None:
    """Split runs send the context to other workers: a field left out would change findings there."""
    import dataclasses
    import json

    from kamrules.evaluation.facts import Portfolio, portfolio_context

    portfolio = portfolio_context(demo_snapshot.accounts, demo_snapshot.as_of)
    raw = portfolio.to_json()
    assert set(raw) == {f.name for f in dataclasses.fields(Portfolio)}
    assert Portfolio.from_json(json.loads(json.dumps(raw))) == portfolio


def test_a_pack_of_ones_own_scopes_a_rule_to_one_industry(workspace: Any) -> None:
    """Every CRM's mapping pulls the industry (Salesforce's Industry, HubSpot's industry), but no
    fact gave it: a rule for one industry's accounts was "unknown fact 'industry'"."""
    pack = workspace.root / "acme"
    (pack / "rules").mkdir(parents=True)
    (pack / "pack.yaml").write_text("id: acme\nversion: 1.0.0\ndescription: Industry rules.\n")
    (pack / "rules" / "pharma.yaml").write_text(
        "- id: ACME-PH-001\n  title: Pharma account without a relationship review\n"
        "  severity: medium\n  rationale: Audits in pharma ask for it.\n"
        "  scope: {filter: {fact: industry, in: [pharma, chemicals]}}\n"
        "  when: {fact: days_since_relationship_review, gt: -1}\n"
        "  task:\n    subject: '{account_name} ({industry}): review the relationship'\n"
        "    body: '{evidence}'\n")
    (workspace.root / "kamrules.yaml").write_text(
        "crm: {type: local, path: crm.sqlite, seed: empty}\npacks: [acme]\nstate_dir: state\n")
    plan = workspace.run_json(command="plan")
    crm = workspace.crm()
    try:
        industry = dict(crm.db.execute("SELECT id, industry FROM accounts"))
    finally:
        crm.close()
    created = [c for c in plan["changes"] if c["action"] == "create"]
    assert created and {industry[c["account_id"]] for c in created} == {"pharma", "chemicals"}
    assert all(f"({industry[c['account_id']]})" in c["subject"] for c in created)
    of_the_two = sum(1 for i in industry.values() if i in ("pharma", "chemicals"))
    assert len(created) <= of_the_two < len(industry)
