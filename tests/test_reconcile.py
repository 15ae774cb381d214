"""Reconciliation: create, keep, update, close, dedupe, renotify and alert-fatigue limits."""

from __future__ import annotations

from datetime import date, timedelta

from kamrules.model import Task
from kamrules.writeback.reconcile import Desired, Limits, Policy, Scope, materially_changed, reconcile

AS_OF = date(2026, 11, 1)


def task(fp: str, **kw: object) -> Task:
    account = fp.split("/")[2]
    base = {"fingerprint": fp, "account_id": account, "subject": f"subject {fp}", "body": "b",
            "owner_id": "U1", "due": AS_OF, "evidence": {"contacts": 2}, "created": AS_OF}
    base.update(kw)
    return Task.model_validate(base)


def plan(desired: list[Desired], existing: list[Task], policy: Policy | None = None,
         limits: Limits | None = None, accounts: set[str] | None = None) -> dict[str, list[str]]:
    scope = Scope(accounts=accounts or {"A1", "A2", "A3"}, packs={"p"})
    changes = reconcile(desired, existing, scope, lambda fp: policy or Policy(), AS_OF, limits)
    out: dict[str, list[str]] = {}
    for c in changes:
        out.setdefault(c.action, []).append(c.fingerprint)
    return out


def test_new_finding_creates_and_existing_open_task_is_kept() -> None:
    desired = [Desired(task("p/R1/A1"), "high"), Desired(task("p/R2/A1"), "low")]
    existing = [task("p/R1/A1", crm_id="7")]
    assert plan(desired, existing) == {"keep": ["p/R1/A1"], "create": ["p/R2/A1"]}


def test_resolved_finding_closes_unless_policy_keeps_it_open() -> None:
    existing = [task("p/R1/A1", crm_id="7")]
    assert plan([], existing) == {"close": ["p/R1/A1"]}
    assert plan([], existing, Policy(close_resolved=False)) == {"keep": ["p/R1/A1"]}


def test_tasks_of_accounts_or_packs_not_evaluated_are_left_alone() -> None:
    existing = [task("p/R1/A9", crm_id="1"), task("other/R1/A1", crm_id="2")]
    assert plan([], existing) == {}


def test_duplicate_open_tasks_are_closed_keeping_the_oldest() -> None:
    older = task("p/R1/A1", crm_id="3", created=AS_OF - timedelta(days=5))
    newer = task("p/R1/A1", crm_id="9", created=AS_OF)
    scope = Scope(accounts={"A1"}, packs={"p"})
    changes = reconcile([Desired(task("p/R1/A1"), "high")], [newer, older], scope,
                        lambda fp: Policy(), AS_OF)
    kept = [c for c in changes if c.action == "keep"]
    closed = [c for c in changes if c.action == "close"]
    assert [c.task.crm_id for c in kept] == ["3"]
    assert [c.task.crm_id for c in closed] == ["9"] and "duplicate" in closed[0].reason


def test_material_evidence_change_updates_small_drift_keeps() -> None:
    existing = [task("p/R1/A1", crm_id="7", evidence={"days_since_touch": 40})]
    drift = Desired(task("p/R1/A1", evidence={"days_since_touch": 47}), "medium")
    jump = Desired(task("p/R1/A1", evidence={"days_since_touch": 60}), "medium")
    assert plan([drift], existing) == {"keep": ["p/R1/A1"]}
    assert plan([jump], existing) == {"update": ["p/R1/A1"]}


def test_update_keeps_the_crm_id_and_original_due_date() -> None:
    existing = [task("p/R1/A1", crm_id="7", due=AS_OF - timedelta(days=3))]
    desired = Desired(task("p/R1/A1", evidence={"contacts": 1}, due=AS_OF + timedelta(days=9)), "high")
    changes = reconcile([desired], existing, Scope({"A1"}, {"p"}), lambda fp: Policy(), AS_OF)
    assert changes[0].action == "update"
    assert changes[0].task.crm_id == "7" and changes[0].task.due == AS_OF - timedelta(days=3)


def test_reassigned_owner_updates() -> None:
    existing = [task("p/R1/A1", crm_id="7", owner_id="U1")]
    assert plan([Desired(task("p/R1/A1", owner_id="U2"), "high")], existing) == {"update": ["p/R1/A1"]}


def test_completed_by_hand_is_not_raised_again_before_renotify_days() -> None:
    done = task("p/R1/A1", crm_id="7", status="completed", completed=AS_OF - timedelta(days=10))
    desired = [Desired(task("p/R1/A1"), "high")]
    assert plan(desired, [done], Policy(renotify_after_days=30)) == {"suppressed": ["p/R1/A1"]}
    assert plan(desired, [done], Policy(renotify_after_days=10)) == {"create": ["p/R1/A1"]}
    assert plan(desired, [done], Policy(renotify_after_days=11)) == {"suppressed": ["p/R1/A1"]}


def test_limits_hold_back_the_least_severe_beyond_the_cap() -> None:
    desired = [Desired(task(f"p/R{i}/A1"), sev) for i, sev in
               enumerate(["low", "critical", "medium", "high", "info"])]
    out = plan(desired, [], limits=Limits(max_new_per_owner=2, min_severity="low"))
    assert sorted(out["create"]) == ["p/R1/A1", "p/R3/A1"]
    assert sorted(out["held"]) == ["p/R0/A1", "p/R2/A1", "p/R4/A1"]


def test_materially_changed() -> None:
    assert not materially_changed({"a": 10}, {"a": 11}, 0.2)
    assert materially_changed({"a": 10}, {"a": 13}, 0.2)
    assert materially_changed({"a": 0}, {"a": 2}, 0.2)
    assert materially_changed({"a": True}, {"a": False}, 0.2)
    assert materially_changed({"a": "x"}, {"a": "y"}, 0.2)
    assert materially_changed({"a": 1}, {"a": 1, "b": 2}, 0.2)
    assert materially_changed({"a": None}, {"a": 3}, 0.2)


def test_tasks_of_a_disabled_rule_are_closed_saying_so() -> None:
    existing = [task("p/R1/A1", crm_id="7"), task("p/R2/A1", crm_id="8")]
    scope = Scope(accounts={"A1"}, packs={"p"}, rules={"p/R2"})
    changes = reconcile([], existing, scope, lambda fp: Policy(close_resolved=False), AS_OF)
    by_fp = {c.fingerprint: c for c in changes}
    assert by_fp["p/R1/A1"].action == "close"
    assert by_fp["p/R1/A1"].reason == "the rule is disabled or no longer in the pack"
    assert by_fp["p/R2/A1"].action == "keep"  # resolved, but the policy leaves it open
