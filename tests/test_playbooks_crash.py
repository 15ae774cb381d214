"""Killed at every crash point of a run that advances plays, then run again: every step task
exactly once, no escalation twice, the same end state as a run that was never killed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from kamrules.connectors.local.crm import LocalCrm
from tests.conftest import ROOT
from tests.support import plays_sim as sim

NIGHT = 21  # escalations of two plays, a step opening, a play starting, rule tasks too


def _cli(root: Path, night: int, crash: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("KAMRULES_CRASH_AT", None)
    if crash:
        env["KAMRULES_CRASH_AT"] = crash
    return subprocess.run([sys.executable, "-m", "kamrules", "run", "--as-of", sim.day(night).isoformat(),
                           "--json"], cwd=root, env=env, capture_output=True, text=True, timeout=120)


def _state(root: Path) -> list[tuple[str, str, str, str]]:
    crm = LocalCrm(root / "crm.sqlite")
    tasks = crm.all_tasks()
    crm.close()
    return sorted((t.fingerprint, t.status, t.priority, str(t.evidence.get("play_started")))
                  for t in tasks if t.fingerprint.count("/") == 3)


def test_every_crash_point_then_rerun_gives_each_step_and_escalation_once(tmp_path: Path) -> None:
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
    assert _cli(reference, NIGHT).returncode == 0
    expected = _state(reference)
    escalations = [t for t in expected if t[0].endswith(".escalation")]
    assert len(escalations) == 2 and sum(t[2] == "high" for t in expected) >= 4

    writes = len(_state(reference)) + 40  # rule and play writes together are fewer than this
    points = ["pulled", "evaluated", "reconciled", "applied"] + [f"write:{n}" for n in (1, 5, 15, 25, 35)]
    for point in points:
        root = tmp_path / point.replace(":", "-")
        shutil.copytree(base, root)
        crashed = _cli(root, NIGHT, point)
        assert crashed.returncode in (0, 137), crashed.stderr
        assert _cli(root, NIGHT).returncode == 0
        again = _cli(root, NIGHT)
        assert '"kind": "escalated"' not in again.stdout, point
        assert _state(root) == expected, point
    assert writes > 0
