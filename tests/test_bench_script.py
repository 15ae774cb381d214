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


def test_bench_run_small_size_prints_a_table_row() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "run"), "--sizes", "200"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith("200 |")]
    assert len(rows) == 1 and len(rows[0].split(" | ")) == 12
