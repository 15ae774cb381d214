"""Demo seeding is atomic and happens once: a `plan` and a `run` started together on a fresh
folder, and a first run killed while it seeds, both end with exactly a clean run's tasks.

The issue asks for 20 and 30 repetitions; the suite runs a few (KAMRULES_STRESS=N for more).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
AS_OF = "2026-11-01"
CONFIG = ("crm:\n  type: local\n  path: crm.sqlite\n  seed: demo\n  demo_accounts: 40\n"
          "state_dir: state\n")
REPEAT = int(os.environ.get("KAMRULES_STRESS", "3"))


def start(folder: Path, *args: str, crash_at: str = "") -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KAMRULES_CRASH_AT": crash_at}
    return subprocess.Popen([sys.executable, "-m", "kamrules", *args, "--as-of", AS_OF, "--json"],
                            cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def finish(proc: subprocess.Popen[str]) -> dict:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return json.loads(out)


def fresh(base: Path, name: str) -> Path:
    folder = base / name
    folder.mkdir()
    (folder / "kamrules.yaml").write_text(CONFIG)
    return folder


def created(report: dict) -> set[str]:
    return {c["fingerprint"] for c in report["changes"] if c["action"] == "create"}


def open_tasks(folder: Path) -> list[str]:
    import sqlite3

    db = sqlite3.connect(folder / "crm.sqlite")
    rows = [r[0] for r in db.execute("SELECT fingerprint FROM tasks WHERE status='open'")]
    db.close()
    return rows


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> dict:
    report = finish(start(fresh(tmp_path_factory.mktemp("clean"), "ws"), "run"))
    assert report["findings"] > 0 and created(report)  # the demo CRM was seeded
    return report


@pytest.mark.slow
def test_plan_and_run_together_on_a_fresh_folder(tmp_path: Path, clean: dict) -> None:
    for i in range(REPEAT):
        folder = fresh(tmp_path, f"together{i}")
        plan, run = start(folder, "plan"), start(folder, "run")
        planned, ran = finish(plan), finish(run)
        assert created(ran) == created(clean)
        assert planned["findings"] == clean["findings"]
        assert sorted(open_tasks(folder)) == sorted(created(clean))  # each exactly once
        again = finish(start(folder, "run"))
        assert again["counts"]["created"] == again["counts"]["closed"] == 0


@pytest.mark.parametrize("point", ["seeding", "seeded"])
def test_first_run_dies_inside_seeding(tmp_path: Path, clean: dict, point: str) -> None:
    """Killed (os._exit, like kill -9) with the temporary CRM half or fully written."""
    folder = fresh(tmp_path, point)
    proc = start(folder, "run", crash_at=point)
    proc.communicate(timeout=300)
    assert proc.returncode == 137
    assert not (folder / "crm.sqlite").exists()  # no CRM rather than a partial one
    after = finish(start(folder, "run"))
    assert after["findings"] == clean["findings"]
    assert not list(folder.glob(".crm.sqlite.seed-*"))
    assert sorted(open_tasks(folder)) == sorted(created(clean))


@pytest.mark.slow
def test_first_run_killed_at_random_points(tmp_path: Path, clean: dict) -> None:
    rng = random.Random(13)
    for i in range(REPEAT):
        folder = fresh(tmp_path, f"killed{i}")
        proc = start(folder, "run")
        time.sleep(rng.uniform(0.3, 2.5))  # start-up, seeding, evaluation or write-back
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        leftovers = [p.name for p in folder.glob(".crm.sqlite.seed-*")]
        after = finish(start(folder, "run"))
        assert after["findings"] == clean["findings"], f"killed run {i}; left {leftovers}"
        assert not list(folder.glob(".crm.sqlite.seed-*"))
        assert sorted(open_tasks(folder)) == sorted(created(clean))
