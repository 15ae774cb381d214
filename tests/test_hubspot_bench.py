"""bench/hubspot_calls stays runnable and, at a small scale, within 1.2x of the minimal calls."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_hubspot_calls_small() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "hubspot_calls"),
            "--accounts",
            "200",
            "--budget",
            "30",
            "--window",
            "0.5",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    total = next(line for line in proc.stdout.splitlines() if line.startswith("total |"))
    calls, minimal, ratio = (x.strip().replace(",", "") for x in total.split("|")[1:])
    assert int(calls) >= int(minimal) and float(ratio) <= 1.2
    assert "429s answered: 0" in proc.stdout and "(budget 30)" in proc.stdout
