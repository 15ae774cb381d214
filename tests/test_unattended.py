"""Unattended runs: crash safety, one run at a time, lifecycle, snoozes, history."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest

from kamrules.connectors.local.demo import demo_portfolio
from tests import kamrules_process
from tests.conftest import ANCHOR, ROOT, Workspace

SMALL = demo_portfolio(ANCHOR, accounts=80)


def open_tasks(ws: Workspace) -> Counter[str]:
    return Counter(t.fingerprint for t in ws.crm().all_tasks() if t.status == "open")


@pytest.fixture(scope="module")
def expected_open() -> Counter[str]:
    """The open tasks a clean run over the small portfolio leaves."""
    import tempfile

    from tests.conftest import make_workspace

    with tempfile.TemporaryDirectory() as tmp:
        ws = make_workspace(Path(tmp), SMALL)
        ws.run_json()
        tasks = open_tasks(ws)
    assert len(tasks) > 40
    return tasks


@pytest.mark.parametrize("point", ["pulled", "evaluated", "reconciled", "write:1", "write:17",
                                   "write:40", "applied"])
# The small portfolio makes fewer than 200 writes, so every write: point kills inside the first
# batch's transaction; the larger crash test below also kills between committed batches.
def test_killed_anywhere_then_rerun_leaves_each_task_exactly_once(
    point: str, workspace_factory: Callable[..., Workspace], expected_open: Counter[str]
) -> None:
    ws = workspace_factory(SMALL)
    env_run = kamrules_process.environment(KAMRULES_CRASH_AT=point)
    crashed = kamrules_process.run(["run", "--as-of", "2026-11-01"], cwd=ws.root, env=env_run)
    assert crashed.returncode == 137, crashed.stderr
    written = sum(open_tasks(ws).values())
    if point.startswith("write:"):  # writes are committed in batches of 200
        assert written == 0
    report = ws.run_json()
    assert report["counts"]["failed"] == 0
    assert report["counts"]["created"] == len(expected_open) - written
    assert open_tasks(ws) == expected_open  # every task, each exactly once
    assert ws.run_json()["counts"]["created"] == 0


def test_killed_between_committed_batches(workspace_factory: Callable[..., Workspace]) -> None:
    ws = workspace_factory(demo_portfolio(ANCHOR, accounts=600))
    env = kamrules_process.environment(KAMRULES_CRASH_AT="write:250")
    crashed = kamrules_process.run(["run", "--as-of", "2026-11-01"], cwd=ws.root, env=env)
    assert crashed.returncode == 137
    # whole batches of at most 200 (a part of the texts at a time) were committed before it
    committed = sum(open_tasks(ws).values())
    assert 200 <= committed < 250
    report = ws.run_json()
    assert report["counts"]["kept"] == committed
    assert max(open_tasks(ws).values()) == 1
    assert ws.run_json()["counts"]["created"] == 0


def test_killed_by_sigkill_at_random_moments(
    workspace_factory: Callable[..., Workspace], expected_open: Counter[str]
) -> None:
    ws = workspace_factory(SMALL)
    env = kamrules_process.environment()
    for delay in (0.3, 0.6, 0.9, 1.2):
        proc = subprocess.Popen([sys.executable, "-m", "kamrules", "run", "--as-of", "2026-11-01"],
                                cwd=ws.root, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert max(open_tasks(ws).values(), default=1) == 1
    ws.run_json()
    assert open_tasks(ws) == expected_open


def test_two_runs_started_together_never_duplicate(
    workspace_factory: Callable[..., Workspace], expected_open: Counter[str]
) -> None:
    ws = workspace_factory(SMALL)
    env = kamrules_process.environment()
    cmd = [sys.executable, "-m", "kamrules", "run", "--as-of", "2026-11-01", "--json"]
    procs = [subprocess.Popen(cmd, cwd=ws.root, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    assert [r[2] for r in results] == [0, 0, 0]
    created = sorted(json.loads(r[0])["counts"]["created"] for r in results)
    assert created == [0, 0, len(expected_open)]  # the later runs waited, then found everything
    assert open_tasks(ws) == expected_open


def test_a_held_lock_makes_a_second_run_exit_3_with_who_holds_it(
    workspace_factory: Callable[..., Workspace]
) -> None:
    from kamrules.run.config import crm_section, load_config
    from kamrules.run.lock import RunLock, lock_path

    ws = workspace_factory(SMALL)
    loaded = load_config(ws.root / "kamrules.yaml")
    with RunLock(lock_path(loaded.state_dir, crm_section(loaded)), 0):
        proc = ws.cli("run", "--lock-wait", "0.5", check=False)
    assert proc.returncode == 3
    assert f"pid {os.getpid()}" in proc.stderr and "is working on this CRM" in proc.stderr
    assert ws.crm().all_tasks() == []


def test_a_lock_file_that_is_a_link_to_a_device_is_named_not_read_forever(
    workspace_factory: Callable[..., Workspace]
) -> None:
    """The lock file replaced by a link to /dev/zero: reading who holds it never ended."""
    from kamrules.run.config import crm_section, load_config
    from kamrules.run.lock import lock_path

    ws = workspace_factory(SMALL)
    loaded = load_config(ws.root / "kamrules.yaml")
    path = lock_path(loaded.state_dir, crm_section(loaded))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to("/dev/zero")
    proc = ws.cli("run", "--as-of", "2026-11-01", "--lock-wait", "0", check=False)
    assert proc.returncode == 7 and "is not a regular file" in proc.stderr, proc.stderr
    path.unlink()
    assert ws.cli("run", "--as-of", "2026-11-01", check=False).returncode == 0


def test_a_lock_left_by_a_killed_run_is_taken_over(workspace_factory: Callable[..., Workspace]) -> None:
    ws = workspace_factory(SMALL)
    env = kamrules_process.environment(KAMRULES_CRASH_AT="evaluated")
    kamrules_process.run(["run", "--as-of", "2026-11-01"], cwd=ws.root, env=env)
    proc = ws.cli("run", "--as-of", "2026-11-01", "--lock-wait", "0")
    assert "did not finish; taking over" in proc.stderr
    history = json.loads(ws.cli("history", "--json").stdout)
    assert [h["outcome"] for h in history] == ["ok", "interrupted"]  # killed: its process is gone


def test_completed_by_hand_is_not_recreated_before_renotify_days(
    workspace_factory: Callable[..., Workspace]
) -> None:
    ws = workspace_factory(SMALL, "lifecycle: {renotify_after_days: 10}\n")
    ws.run_json()
    crm = ws.crm()
    fp = "kam-core/KAM-REL-004/ACC-000002"
    task = next(t for t in crm.all_tasks() if t.fingerprint == fp)
    crm.complete_task(task.crm_id or "", ANCHOR)
    for days, action in ((1, "suppressed"), (9, "suppressed"), (10, "create")):
        day = (ANCHOR + timedelta(days=days)).isoformat()
        report = json.loads(ws.cli("plan", "--as-of", day, "--json").stdout)
        change = next(c for c in report["changes"] if c["fingerprint"] == fp)
        assert change["action"] == action, (days, change)
    report = json.loads(ws.cli("run", "--as-of", (ANCHOR + timedelta(days=3)).isoformat(),
                               "--json").stdout)
    assert report["counts"]["suppressed"] >= 1
    assert [t.status for t in crm.all_tasks() if t.fingerprint == fp] == ["completed"]


def test_per_rule_lifecycle_leaves_resolved_tasks_open(workspace_factory: Callable[..., Workspace],
                                                       tmp_path: Path) -> None:
    import shutil

    pack = tmp_path / "kam-core-copy"
    shutil.copytree(ROOT / "rulesets" / "kam-core", pack)
    rules = pack / "rules" / "dos.yaml"
    rules.write_text(rules.read_text().replace(
        "  groups: [service]\n  rationale: Internal communication",
        "  groups: [service]\n  lifecycle: {close_resolved: false}\n  rationale: Internal communication"))
    ws = workspace_factory(SMALL)
    config = ws.root / "kamrules.yaml"
    config.write_text(config.read_text().replace("packs: [kam-core]", f"packs: ['{pack}']"))
    ws.run_json()
    ws.crm().db.execute("UPDATE cases SET escalated = 1")
    report = ws.run_json()
    by_action = {(c["fingerprint"].split("/")[1], c["action"]) for c in report["changes"]}
    assert ("KAM-DO-003", "keep") in by_action and ("KAM-DO-003", "close") not in by_action


def test_snoozes_hold_findings_until_they_expire(workspace_factory: Callable[..., Workspace]) -> None:
    ws = workspace_factory(SMALL)
    none = ws.cli("snooze", "remove", "1", check=False)  # was "give snooze numbers from 1 to 0"
    assert none.returncode == 2 and "there are no snoozes in " in none.stderr
    until = (date.today() + timedelta(days=5)).isoformat()
    ws.cli("snooze", "add", "--account", "ACC-000002", "--rule", "KAM-REL-004",
           "--reason", "Reorganisation at the customer", "--by", "alma", "--until", until)
    ws.cli("snooze", "add", "--rule", "KAM-DO-002", "--reason", "Process change in progress",
           "--by", "director", "--days", "30")
    bad = ws.cli("snooze", "add", "--rule", "KAM-NOPE-001", "--reason", "x", "--by", "y",
                 "--days", "3", check=False)
    assert bad.returncode == 2 and "no rule 'KAM-NOPE-001'" in bad.stderr
    ws.cli("snooze", "add", "--account", "ACC-000002", "--reason", "Merger talks,\nall on hold",
           "--by", "alma", "--days", "3")
    listed = ws.cli("snooze", "list").stdout.splitlines()
    # what each holds, in words; a reason written over lines on its own line
    assert listed[0].startswith("#1 active") and listed[0].endswith(
        f"snoozed (KAM-REL-004 for ACC-000002) until {until} by alma: Reorganisation at the customer")
    assert "snoozed (KAM-DO-002 for every account) until" in listed[1]
    assert listed[2].endswith(": Merger talks, all on hold") and "(every rule for ACC-000002)" in listed[2]
    assert len(listed) == 3
    ws.cli("snooze", "remove", "3")
    today = date.today().isoformat()
    report = json.loads(ws.cli("run", "--as-of", today, "--json").stdout)
    snoozed = {c["fingerprint"]: c["reason"] for c in report["changes"] if c["action"] == "snoozed"}
    assert "kam-core/KAM-REL-004/ACC-000002" in snoozed
    assert "Reorganisation" in snoozed["kam-core/KAM-REL-004/ACC-000002"]
    assert all(fp.split("/")[1] in ("KAM-REL-004", "KAM-DO-002") for fp in snoozed)
    assert report["counts"]["snoozed"] == len(snoozed)
    fps = {t.fingerprint for t in ws.crm().all_tasks()}
    assert "kam-core/KAM-REL-004/ACC-000002" not in fps
    later = (date.today() + timedelta(days=6)).isoformat()
    report = json.loads(ws.cli("run", "--as-of", later, "--json").stdout)
    created = {c["fingerprint"] for c in report["changes"] if c["action"] == "create"}
    assert "kam-core/KAM-REL-004/ACC-000002" in created  # expired by itself
    ws.cli("snooze", "remove", "2")
    assert "#2" not in ws.cli("snooze", "list").stdout
    text = (ws.root / "snoozes.yaml").read_text()
    assert "requested_by: alma" in text


def test_a_broken_snooze_file_fails_before_anything_is_pulled(
    workspace_factory: Callable[..., Workspace]
) -> None:
    ws = workspace_factory(SMALL)
    (ws.root / "snoozes.yaml").write_text("snoozes:\n  - {account: A1, reason: x, until: soon}\n")
    proc = ws.cli("run", check=False)
    assert proc.returncode == 2
    assert "snoozes.yaml:2:" in proc.stderr and "requested_by" in proc.stderr
    assert ws.crm().all_tasks() == []
