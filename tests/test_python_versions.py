"""`kamrules run` on Python 3.13 (python engine) creates the same tasks as on 3.11 (durable_rules).

The other interpreter is found through $KAMRULES_PY311 / $KAMRULES_PY313 or the venvs `.ci/run`
makes (`.venv`, `.venv313`); without it the test skips, unless KAMRULES_REQUIRE_PY313=1 (CI).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kamrules.connectors.local.crm import LocalCrm

ROOT = Path(__file__).resolve().parent.parent
VENVS = {"3.11": ROOT / ".venv" / "bin" / "python", "3.13": ROOT / ".venv313" / "bin" / "python"}
VOLATILE = ("started", "finished", "engine")


def _usable(python: str) -> bool:
    """The interpreter runs and can import kamrules' CLI (its dependencies are installed)."""
    try:
        proc = subprocess.run([python, "-c", "import kamrules.cli.main"], capture_output=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    except OSError:
        return False
    return proc.returncode == 0


def interpreter(version: str) -> str | None:
    if f"{sys.version_info[0]}.{sys.version_info[1]}" == version:
        return sys.executable
    given = os.environ.get("KAMRULES_PY" + version.replace(".", ""))
    for candidate in ([given] if given else []) + [str(VENVS[version])]:
        if Path(candidate).is_file() and _usable(candidate):
            return candidate
    return None


def run_in(python: str, folder: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A first `kamrules run --json` in an empty folder (the built-in demo CRM): report, tasks."""
    folder.mkdir()
    proc = subprocess.run(
        [python, "-m", "kamrules", "run", "--as-of", "2026-11-01", "--json"], cwd=folder,
        env={**os.environ, "PYTHONPATH": str(ROOT), "KAMRULES_ENGINE": ""},
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    crm = LocalCrm(folder / ".kamrules" / "crm.sqlite")
    tasks = [t.model_dump(mode="json", exclude={"crm_id"}) for t in crm.all_tasks()]
    crm.close()
    return report, sorted(tasks, key=lambda t: t["fingerprint"])


def test_a_run_on_3_13_creates_the_same_tasks_as_on_3_11(tmp_path: Path) -> None:
    pythons = {v: interpreter(v) for v in VENVS}
    missing = [v for v, p in pythons.items() if p is None]
    if missing:
        message = f"no usable Python {', '.join(missing)} (set KAMRULES_PY313 or make .venv313)"
        if os.environ.get("KAMRULES_REQUIRE_PY313") == "1":
            pytest.fail(message)
        pytest.skip(message)
    old_report, old_tasks = run_in(str(pythons["3.11"]), tmp_path / "py311")
    new_report, new_tasks = run_in(str(pythons["3.13"]), tmp_path / "py313")
    assert new_report["engine"] == "python"  # durable_rules is not installed on 3.13
    assert old_report["counts"]["created"] > 50  # kam-core bundles findings into checklist tasks
    for report in (old_report, new_report):
        for key in VOLATILE:
            report.pop(key)
    assert new_report == old_report
    assert new_tasks == old_tasks


def test_version_names_the_engine_that_runs_here(tmp_path: Path) -> None:
    from kamrules.evaluation.engine import durable_problem

    env = {**os.environ, "PYTHONPATH": str(ROOT), "KAMRULES_ENGINE": ""}
    proc = subprocess.run([sys.executable, "-m", "kamrules", "--version"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    expected = "durable" if durable_problem() is None else "python"
    assert f"engine: {expected} (" in proc.stdout
    assert f"Python {sys.version.split()[0]}" in proc.stdout
    forced = subprocess.run([sys.executable, "-m", "kamrules", "--version"], cwd=tmp_path,
                            env={**env, "KAMRULES_ENGINE": "python"}, capture_output=True,
                            text=True, timeout=60)
    assert "engine: python (" in forced.stdout
    plan = subprocess.run([sys.executable, "-m", "kamrules", "plan", "--as-of", "2026-11-01"],
                          cwd=tmp_path, env={**env, "KAMRULES_ENGINE": "python"},
                          capture_output=True, text=True, timeout=300)
    assert plan.returncode == 0, plan.stderr
    assert plan.stdout.rstrip().endswith("API calls; python engine.")
