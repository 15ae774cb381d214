"""A play that takes over rule tasks (`absorbs:`): while kam-core's renewal play runs on an
account, KAM-OUT-002 ("no renewal opportunity") creates no task of its own there, its open task
is closed with the play named, the finding still counts, and the task comes back after the play."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from kamrules.cli.main import cli
from kamrules.connectors.local.crm import LocalCrm
from kamrules.model import Task
from kamrules.writeback.reconcile import Desired, Policy, Scope, reconcile
from tests.support import plays_sim as sim

START = date(2026, 11, 1)
RENEWAL = "kam-core/PLAY-RENEWAL/ACC-REN"


def _portfolio() -> dict[str, list[dict[str, Any]]]:
    records = sim.portfolio()
    records["accounts"] = [a for a in records["accounts"] if a["id"] == "ACC-REN"]
    records["team"] = [t for t in records["team"] if t["account_id"] == "ACC-REN"]
    records["deals"] = records["surveys"] = []
    # 60 days left: inside KAM-OUT-002's window and the renewal play's trigger
    records["contracts"] = [{"account_id": "ACC-REN", "end_date": (START + timedelta(days=60)).isoformat(),
                             "renewal_status": "none"}]
    return records


def _run(root: Path, day: date) -> dict[str, Any]:
    config = root / "kamrules.yaml"
    config.write_text("crm: {type: local, path: crm.sqlite, seed: empty}\npacks: [kam-core]\n"
                      "state_dir: state\n")
    result = CliRunner().invoke(cli, ["--config", str(config), "run", "--as-of", day.isoformat(),
                                      "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_the_renewal_play_takes_over_the_renewal_rule_task_until_it_completes(tmp_path: Path) -> None:
    crm = LocalCrm(tmp_path / "crm.sqlite")
    for kind, rows in _portfolio().items():
        crm.insert_records(kind, rows)

    first = _run(tmp_path, START)
    by_fp = {c["fingerprint"]: c for c in first["changes"]}
    rule = by_fp["kam-core/KAM-OUT-002/ACC-REN"]
    assert rule["action"] == "suppressed" and "in play Renewal (PLAY-RENEWAL)" in rule["reason"]
    assert by_fp[f"{RENEWAL}/renewal-opportunity"]["action"] == "create"
    assert not any("bundle:renewal" in fp for fp in by_fp)  # no second request to open it
    open_rule = [t for t in crm.all_tasks() if t.status == "open" and "/PLAY-" not in t.fingerprint]
    assert not any("renewal" in t.fingerprint or "OUT-002" in t.fingerprint for t in open_rule)

    # the owner works the play's steps; once it completes, the finding (still true: no renewal
    # opportunity in the CRM) gets its own task again
    def complete(step: str, on: date) -> None:
        task = next(t for t in crm.all_tasks() if t.fingerprint == f"{RENEWAL}/{step}" and t.status == "open")
        crm.complete_task(task.crm_id or "", on)

    complete("renewal-opportunity", START + timedelta(days=1))
    _run(tmp_path, START + timedelta(days=2))  # opens terms-in-writing
    complete("terms-in-writing", START + timedelta(days=2))
    _run(tmp_path, START + timedelta(days=14))  # opens executive-touch
    complete("executive-touch", START + timedelta(days=14))
    done = _run(tmp_path, START + timedelta(days=15))
    assert ("completed", "PLAY-RENEWAL") in {(t["kind"], t["play_id"]) for t in done["plays"]}
    back = {c["fingerprint"]: c["action"] for c in done["changes"]}
    assert back.get("kam-core/bundle:renewal/ACC-REN") == "create", back


def test_an_open_rule_task_is_closed_with_the_play_named() -> None:
    fp = "kam-core/KAM-OUT-002/A1"
    task = Task(fingerprint=fp, account_id="A1", subject="s", body="", crm_id="7", evidence={})
    why = "in play Renewal (PLAY-RENEWAL): its steps are the task"
    changes = reconcile([Desired(task=task.model_copy(update={"crm_id": None}), severity="critical")],
                        [task], Scope(accounts={"A1"}, packs={"kam-core"}, taken={fp: why}),
                        lambda _: Policy(), START)
    assert [(c.action, c.reason) for c in changes] == [("suppressed", why), ("close", why)]
    assert changes[1].task.crm_id == "7"
