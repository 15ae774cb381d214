"""A full disk and a read-only folder, for real: small tmpfs mounts (root only; skipped where
mounting is not allowed). Each ends in exit 7 naming the path, never exit 5 or a partial CRM."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import kamrules_process


@pytest.fixture
def mount(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    point = tmp_path / "mnt"
    point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a tmpfs")
    size = getattr(request, "param", "96k")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], check=False)


def kamrules(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return kamrules_process.run([*args, "--as-of", "2026-11-01"], cwd=folder,
                                env=kamrules_process.environment(), timeout=120)


def test_disk_full_while_seeding_is_named_and_leaves_no_crm(tmp_path: Path, mount: Path) -> None:
    (tmp_path / "kamrules.yaml").write_text(
        f"crm:\n  type: local\n  path: {mount}/crm.sqlite\n  seed: demo\n  demo_accounts: 300\n"
        f"state_dir: {tmp_path}/state\n")
    proc = kamrules(tmp_path, "run")
    assert proc.returncode == 7, proc.stderr
    assert "disk is full" in proc.stderr and str(mount) in proc.stderr
    assert sorted(p.name for p in mount.iterdir()) == [".crm.sqlite.seeding"]


def test_read_only_state_folder_is_named(tmp_path: Path, mount: Path) -> None:
    (tmp_path / "kamrules.yaml").write_text(
        "crm:\n  type: local\n  path: crm.sqlite\n  seed: demo\n  demo_accounts: 12\n"
        f"state_dir: {mount}/state\n")
    assert kamrules(tmp_path, "run").returncode == 0
    subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
    proc = kamrules(tmp_path, "run")
    assert proc.returncode == 7, proc.stderr
    assert "read-only" in proc.stderr and str(mount) in proc.stderr
    assert "bug" not in proc.stderr


@pytest.mark.parametrize("mount", ["1m"], indirect=True)
def test_a_run_whose_end_could_not_be_written_shows_as_interrupted(tmp_path: Path, mount: Path) -> None:
    """The disk filled during a run: its history row could not be finished. It showed as
    `running` for ever; its process is gone, so it is `interrupted`."""
    (tmp_path / "kamrules.yaml").write_text(
        "crm:\n  type: local\n  path: crm.sqlite\n  seed: demo\n  demo_accounts: 150\n"
        f"state_dir: {mount}/state\n")
    assert kamrules(tmp_path, "run").returncode == 0
    free = os.statvfs(mount).f_bavail * os.statvfs(mount).f_frsize
    (mount / "filler").write_bytes(b"\0" * (free - 32768))  # room to begin the row, not to end it
    proc = kamrules_process.run(["run", "--as-of", "2026-11-20"], cwd=tmp_path,
                                env=kamrules_process.environment(), timeout=120)
    assert proc.returncode == 7 and "disk is full" in proc.stderr, proc.stderr
    (mount / "filler").unlink()
    history = kamrules_process.run(["history", "--json"], cwd=tmp_path,
                                   env=kamrules_process.environment(), timeout=120)
    assert history.returncode == 0, history.stderr
    assert [(r["as_of"], r["outcome"]) for r in json.loads(history.stdout)] == [
        ("2026-11-20", "interrupted"), ("2026-11-01", "ok")]


@pytest.mark.parametrize("mount", ["1m"], indirect=True)
def test_a_report_that_does_not_fit_leaves_the_one_before_whole(tmp_path: Path, mount: Path) -> None:
    """A full disk cut the report file short where it stood (a page that read as a report, its
    end missing) and said exit 2, a usage error; now the file before stays whole, exit 7."""
    (tmp_path / "kamrules.yaml").write_text(
        "crm:\n  type: local\n  path: crm.sqlite\n  seed: demo\n  demo_accounts: 60\n")
    out = mount / "report.json"
    out.write_text('{"the report": "of last week"}')
    free = os.statvfs(mount).f_bavail * os.statvfs(mount).f_frsize
    (mount / "filler").write_bytes(b"\0" * (free - 8192))  # the new one is ~100 KB
    proc = kamrules(tmp_path, "report", "--format", "json", "-o", str(out))
    assert proc.returncode == 7, proc.stderr
    assert f"report file {out}: the disk is full" in proc.stderr
    assert out.read_text() == '{"the report": "of last week"}'
    assert sorted(p.name for p in mount.iterdir()) == ["filler", "report.json"]


def test_sqlites_disk_io_error_on_a_full_disk_names_the_full_disk(tmp_path: Path, mount: Path) -> None:
    """SQLite says "disk I/O error" when a full disk leaves no room for its journal or WAL
    index: the message named the disk as failing, not as full."""
    import sqlite3

    from kamrules.inputs.environment import failure

    io_error = sqlite3.OperationalError("disk I/O error")
    (mount / "filler").write_bytes(b"\0" * (os.statvfs(mount).f_bavail * os.statvfs(mount).f_frsize))
    assert "the disk is full" in str(failure("local CRM", mount / "crm.sqlite", io_error))
    assert "input/output error" in str(failure("local CRM", tmp_path / "crm.sqlite", io_error))


@pytest.mark.parametrize("mount", ["8m"], indirect=True)
def test_a_write_back_onto_a_full_disk_names_the_crm_and_the_next_run_writes_each_task_once(
        tmp_path: Path, mount: Path) -> None:
    """The local CRM's disk fills while tasks are written: exit 7 naming the CRM's file (it
    named "a SQLite database (state or local CRM)"), nothing half-written; with room again, the
    next run writes each task once. (A statement refused so is the run's failure too, not one
    change's.)"""
    crm = mount / "crm.sqlite"
    (tmp_path / "kamrules.yaml").write_text(
        f"crm:\n  type: local\n  path: {crm}\n  seed: demo\n  demo_accounts: 200\n"
        f"state_dir: {tmp_path}/state\n")
    assert kamrules(tmp_path, "plan").returncode == 0  # the CRM made, no task in it
    free = os.statvfs(mount).f_bavail * os.statvfs(mount).f_frsize
    (mount / "filler").write_bytes(b"\0" * (free - 16384))
    proc = kamrules(tmp_path, "run")
    assert proc.returncode == 7, proc.stderr
    assert f"local CRM {crm}: the disk is full" in proc.stderr
    (mount / "filler").unlink()
    again = kamrules(tmp_path, "run", "--json")
    assert again.returncode == 0, again.stderr
    created = json.loads(again.stdout)["counts"]["created"]
    import sqlite3

    db = sqlite3.connect(crm)
    assert db.execute("SELECT count(*), count(DISTINCT fingerprint) FROM tasks").fetchone() == (
        created, created)
    db.close()


@pytest.mark.parametrize("mount", ["8m"], indirect=True)
def test_an_import_onto_a_full_disk_names_the_crm_and_loads_nothing(tmp_path: Path, mount: Path) -> None:
    """SQLite rolls back by itself on a full disk; the ROLLBACK after it raised "no transaction
    is active": exit 5, the disk hidden. Now exit 7 naming the CRM's file, nothing loaded."""
    import sqlite3

    crm = mount / "crm.sqlite"
    (tmp_path / "kamrules.yaml").write_text(f"crm:\n  type: local\n  path: {crm}\n  seed: empty\n")
    export = tmp_path / "export"
    export.mkdir()
    (export / "accounts.csv").write_text("id,name,is_key\n" + "".join(
        f"A{i},Name {i} {'x' * 40},true\n" for i in range(20_000)))
    assert kamrules(tmp_path, "plan").returncode == 0  # the CRM made, empty
    free = os.statvfs(mount).f_bavail * os.statvfs(mount).f_frsize
    (mount / "filler").write_bytes(b"\0" * (free - 65536))
    proc = kamrules_process.run(["import-csv", str(export)], cwd=tmp_path,
                                env=kamrules_process.environment(), timeout=120)
    assert proc.returncode == 7, proc.stderr
    assert f"local CRM {crm}: the disk is full" in proc.stderr
    db = sqlite3.connect(crm)
    assert db.execute("SELECT count(*) FROM accounts").fetchone() == (0,)
    db.close()


@pytest.mark.parametrize("mount", ["2m"], indirect=True)
def test_a_record_cache_on_a_full_disk_is_named_and_keeps_what_it_had(mount: Path) -> None:
    """A remote CRM's record cache (state_dir) filled up in a full pull: named as a record
    cache (it was "a SQLite database (state or local CRM)"), its rows as before."""
    from kamrules.connectors.cache import RecordCache
    from kamrules.errors import EnvironmentFailure

    cache = RecordCache(mount / "salesforce.sqlite")
    cache.replace("accounts", [(f"A{i}", {"Name": "x"}) for i in range(10)])
    free = os.statvfs(mount).f_bavail * os.statvfs(mount).f_frsize
    (mount / "filler").write_bytes(b"\0" * (free - 16384))
    with pytest.raises(EnvironmentFailure, match="record cache .*salesforce.sqlite: the disk is full"):
        cache.replace("accounts", [(f"B{i}", {"Name": "y" * 500}) for i in range(5000)])
    (mount / "filler").unlink()
    assert cache.count("accounts") == 10
    cache.replace("accounts", [("C1", {"Name": "z"})])  # usable again
    assert cache.ids("accounts") == {"C1"}
    cache.close()
