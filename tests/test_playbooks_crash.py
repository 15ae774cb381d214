"""Killed at every crash point of a run that advances plays, then run again: every step task
exactly once, no escalation twice, the same end state as a run that was never killed.

Night 21 of the simulation escalates two plays (a task for the sponsor and a raised priority
each), opens a step and starts a play, beside a rule task. On the local CRM a batch commits
whole, so `write` points leave nothing; on HubSpot creates and updates are separate batches, so
`write:1` leaves the escalation tasks without their priority raise.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from kamrules.connectors.local.crm import LocalCrm
from kamrules.protocol.marker import read_marker
from tests import kamrules_process
from tests.conftest import ROOT
from tests.support import plays_sim as sim

NIGHT = 21


def _cli(root: Path, night: int, crash: str | None = None, env: dict[str, str] | None = None,
         ) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    full.pop("KAMRULES_CRASH_AT", None)
    if crash:
        full["KAMRULES_CRASH_AT"] = crash
    return kamrules_process.run(["run", "--as-of", sim.day(night).isoformat(), "--json"], cwd=root,
                                env=full, timeout=120)


def _state(root: Path) -> list[tuple[str, str, str, str]]:
    crm = LocalCrm(root / "crm.sqlite")
    tasks = crm.all_tasks()
    crm.close()
    return sorted((t.fingerprint, t.status, t.priority, str(t.evidence.get("play_started")))
                  for t in tasks if t.fingerprint.count("/") == 3)


def test_local_crm_every_crash_point_then_rerun(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    (base / "kamrules.yaml").write_text(
        "crm: {type: local, path: crm.sqlite, seed: empty}\npacks: [kam-core]\nstate_dir: state\n")
    crm = LocalCrm(base / "crm.sqlite")
    for kind, rows in sim.portfolio().items():
        crm.insert_records(kind, rows)
    crm.close()
    assert _cli(base, 0).returncode == 0

    reference = tmp_path / "reference"
    shutil.copytree(base, reference)
    report = json.loads(_cli(reference, NIGHT).stdout)
    expected = _state(reference)
    assert [t["kind"] for t in report["plays"]].count("escalated") == 2
    assert len([t for t in expected if t[0].endswith(".escalation")]) == 2
    assert sum(t[2] == "high" for t in expected) >= 4
    writes = sum(1 for c in report["changes"] if c["action"] in ("create", "update", "close"))

    for point in ["pulled", "evaluated", "reconciled", "write:1", f"write:{writes}", "applied"]:
        root = tmp_path / point.replace(":", "-")
        shutil.copytree(base, root)
        crashed = _cli(root, NIGHT, point)
        assert crashed.returncode == 137, (point, crashed.stderr)
        rerun = _cli(root, NIGHT)
        assert rerun.returncode == 0
        again = json.loads(_cli(root, NIGHT).stdout)
        assert not again["plays"] and again["counts"]["created"] == 0, point
        assert _state(root) == expected, point


@pytest.mark.parametrize("point", ["write:1", "write:2"])
def test_hubspot_killed_between_and_after_its_batches_then_rerun(tmp_path: Path, point: str) -> None:
    from tests.support.hubspot import FakeHubSpot
    from tests.support.hubspot_workspace import TOKEN, TOKEN_ENV

    fake = FakeHubSpot(token=TOKEN, budget=190, window=1.0, search_per_second=100)
    fake.load_portfolio(sim.full(sim.portfolio()))
    url = fake.start()
    env = {TOKEN_ENV: TOKEN}
    try:
        tmp_path.joinpath("kamrules.yaml").write_text(
            f"crm:\n  type: hubspot\n  access_token: {{env: {TOKEN_ENV}}}\n  base_url: {url}\n"
            f"  requests_per_10s: 190\n  rate_window_seconds: 1.0\npacks: [kam-core]\nstate_dir: state\n")
        assert _cli(tmp_path, 0, env=env).returncode == 0

        def plays() -> Counter[tuple[str, str, str]]:
            out: Counter[tuple[str, str, str]] = Counter()
            for t in fake.tasks():
                p = t["properties"]
                marker = read_marker(p.get("hs_task_body"))
                if marker and "/PLAY-" in marker[0]:
                    out[(marker[0], p.get("hs_task_status") or "", p.get("hs_task_priority") or "")] += 1
            return out

        crashed = _cli(tmp_path, NIGHT, point, env=env)
        assert crashed.returncode == 137, crashed.stderr
        partial = plays()
        rerun: dict[str, Any] = json.loads(_cli(tmp_path, NIGHT, env=env).stdout)
        done = plays()
        if point == "write:1":  # escalation tasks in, priorities not yet raised: only those now
            assert sum(1 for fp, *_ in partial if fp.endswith(".escalation")) == 2
            assert sorted(t["kind"] for t in rerun["plays"]) == ["escalated", "escalated"]
            assert all(t["detail"].split(": ")[1] == "priority" for t in rerun["plays"])
        else:
            assert partial == done and not rerun["plays"]
        assert all(n == 1 for n in done.values())
        fps = Counter(fp for fp, *_ in done)
        assert all(n == 1 for n in fps.values()) and len(fps) == 4 + 2  # 4 steps, 2 escalations
        high = {fp for fp, _, prio in done if prio == "HIGH"}
        assert {fp for fp in fps if fp.endswith(("/first-meeting", "/risk-review"))} <= high
        again = json.loads(_cli(tmp_path, NIGHT, env=env).stdout)
        assert not again["plays"] and again["counts"]["created"] == 0 and plays() == done
    finally:
        fake.stop()
