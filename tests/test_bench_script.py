"""bench/run stays runnable (its numbers live in bench/RESULTS.md, not in assertions)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_run_help() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "run"), "--help"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert "--quick" in proc.stdout and "--sizes" in proc.stdout
    assert "--million" in proc.stdout and "--workers" in proc.stdout


def test_bench_run_small_size_prints_a_table_row() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "run"), "--sizes", "200",
                           "--workers", "2"], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    header = next(line for line in proc.stdout.splitlines() if line.startswith("accounts |"))
    rows = [line for line in proc.stdout.splitlines() if line.startswith("200 |")]
    assert len(rows) == 1
    cells = dict(zip(header.split(" | "), rows[0].split(" | "), strict=True))
    # each stage beside its floor, measured in this run: numbers, not placeholders
    assert int(cells["rows"].replace(",", "")) > 200 * 5
    for column in ("sqlite s", "python s"):  # a millisecond or less at 200 accounts
        assert float(cells[column]) >= 0, column
    for column in ("pull s", "facts s", "facts floor s", "facts x", "run s", "cpu/wall"):
        assert float(cells[column]) > 0, column
    assert cells["workers"] == "2" and int(cells["tasks"].replace(",", "")) > 0
