"""The whole pipeline on the embedded local CRM through the CLI: idempotent, plan writes nothing."""

from __future__ import annotations

import json
import shutil

from tests.conftest import Workspace


def test_run_twice_creates_once_and_survives_losing_local_state(workspace: Workspace) -> None:
    first = workspace.run_json()
    assert first["counts"]["created"] > 100
    assert first["counts"]["failed"] == 0
    assert first["exit_code"] == 0
    created = first["counts"]["created"]

    second = workspace.run_json()
    assert second["counts"]["created"] == 0
    assert second["counts"]["kept"] == created
    assert second["counts"]["updated"] == 0 and second["counts"]["closed"] == 0

    shutil.rmtree(workspace.root / "state")  # every local file but the CRM database
    third = workspace.run_json()
    assert third["counts"]["created"] == 0
    assert third["counts"]["kept"] == created

    tasks = workspace.crm().all_tasks()
    assert len(tasks) == created
    assert len({t.fingerprint for t in tasks}) == created


def test_plan_changes_nothing_in_the_crm_and_lists_every_change(workspace: Workspace) -> None:
    report = workspace.run_json(command="plan")
    assert report["mode"] == "plan"
    assert report["counts"]["created"] > 100
    # on an empty CRM every finding creates its task, but those a starting play takes over
    suppressed = [c for c in report["changes"] if c["action"] != "create"]
    assert all(c["action"] == "suppressed" and c["reason"].startswith("in play ") for c in suppressed)
    assert workspace.crm().all_tasks() == []
    human = workspace.cli("plan", "--as-of", "2026-11-01", "--limit", "0").stdout
    assert "dry run: nothing written" in human
    assert "kam-core/KAM-REL-004/" in human
    assert workspace.crm().all_tasks() == []


def test_resolved_finding_closes_its_task(workspace: Workspace) -> None:
    workspace.run_json()
    crm = workspace.crm()
    # Ural Steelworks' late delivery gets escalated and closed by service.
    crm.db.execute(
        "UPDATE cases SET closed = '2026-10-31', escalated = 1"
        " WHERE id LIKE '%-C1' OR id LIKE '%-C5'"
    )
    report = workspace.run_json()
    closed = {c["fingerprint"] for c in report["changes"] if c["action"] == "close"}
    assert "kam-core/KAM-DO-003/ACC-000003" in closed
    assert all(c["reason"].startswith("resolved") for c in report["changes"] if c["action"] == "close")
    statuses = {t.fingerprint: t.status for t in crm.all_tasks()}
    assert statuses["kam-core/KAM-DO-003/ACC-000003"] == "closed"
    again = workspace.run_json()
    assert again["counts"]["closed"] == 0 and again["counts"]["created"] == 0


def test_task_text_carries_account_problem_evidence_and_next_step(workspace: Workspace) -> None:
    workspace.run_json()
    task = next(t for t in workspace.crm().all_tasks()
                if t.fingerprint == "kam-core/KAM-REL-004/ACC-000002")
    assert task.subject == "Baltic Foods: only 2 contacts in the CRM"
    assert "Baltic Foods has 2 active contacts in the CRM" in task.body
    assert "Why:" in task.body and "Next:" in task.body
    assert "Principle: Widen the contact base (kam-core PRINCIPLES.md, P09)" in task.body
    assert task.priority == "high"
    assert task.due is not None and task.due.isoformat() == "2026-11-22"
    assert task.evidence == {"contacts": 2}


def test_history_records_each_run(workspace: Workspace) -> None:
    workspace.run_json()
    workspace.run_json(command="plan")
    runs = json.loads(workspace.cli("history", "--json").stdout)
    assert [r["mode"] for r in runs] == ["plan", "run"]
    assert runs[1]["counts"]["created"] > 100 and runs[1]["outcome"] == "ok"


def test_rules_facts_and_explain_commands(workspace: Workspace) -> None:
    rules = json.loads(workspace.cli("rules", "--format", "json").stdout)
    assert {r["id"] for r in rules} >= {"KAM-REL-004", "KAM-OUT-002"}
    facts = json.loads(workspace.cli("facts", "--json").stdout)
    assert {"contacts", "revenue_percentile"} <= {f["name"] for f in facts}
    assert all(f["meaning"] and f["unit"] for f in facts)
    out = workspace.cli("explain", "Baltic Foods", "--as-of", "2026-11-01").stdout
    assert "HOLDS KAM-REL-004" in out and "contacts=2" in out
    assert "ok    KAM-OUT-002" in out
    missing = workspace.cli("explain", "Nobody Ltd", check=False)
    assert missing.returncode == 2 and "no account" in missing.stderr


def test_default_config_seeds_the_demo_crm(tmp_path) -> None:  # noqa: ANN001
    ws = Workspace(tmp_path)
    report = json.loads(ws.cli("plan", "--json").stdout)
    assert report["accounts"] == 300
    assert (tmp_path / ".kamrules" / "crm.sqlite").is_file()


def test_alert_limits_from_config_hold_back_and_report(workspace_factory) -> None:  # noqa: ANN001
    from kamrules.connectors.local.demo import demo_portfolio
    from tests.conftest import ANCHOR

    ws = workspace_factory(demo_portfolio(ANCHOR),
                           "alerts: {max_new_tasks_per_owner: 3, min_severity: low}\n")
    report = ws.run_json()
    created = [c for c in report["changes"] if c["action"] == "create"]
    held = [c for c in report["changes"] if c["action"] == "held"]
    per_owner: dict[str, int] = {}
    for c in created:
        per_owner[c["owner_id"]] = per_owner.get(c["owner_id"], 0) + 1
    assert max(per_owner.values()) == 3
    assert report["counts"]["held"] == len(held) > 0
    assert all(c["severity"] != "info" for c in created)
    assert any(c["reason"].startswith("below the minimum severity") for c in held)
    assert any("new tasks this run" in c["reason"] for c in held)
    # the most severe go first: nothing critical is held while something lower was created
    rank = ["info", "low", "medium", "high", "critical"]
    for owner in per_owner:
        made = [rank.index(c["severity"]) for c in created if c["owner_id"] == owner]
        capped = [rank.index(c["severity"]) for c in held
                  if c["owner_id"] == owner and "new tasks" in c["reason"]]
        assert not capped or min(made) >= max(capped)
