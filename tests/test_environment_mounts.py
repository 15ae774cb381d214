"""A full disk and a read-only folder, for real: small tmpfs mounts (root only; skipped where
mounting is not allowed). Each ends in exit 7 naming the path, never exit 5 or a partial CRM."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def mount(tmp_path: Path) -> Iterator[Path]:
    point = tmp_path / "mnt"
    point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a tmpfs")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(point)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], check=False)


def kamrules(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kamrules", *args, "--as-of", "2026-11-01"],
                          cwd=folder, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=120)


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
