"""bench/hubspot_calls stays runnable and, at a small scale, every run is within 1.2x of its minimal:
the full run, an unchanged incremental run that writes nothing, and a run after 1% of the records
changed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.split("|")]


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
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    header = _cells(next(line for line in lines if line.startswith("run |")))
    rows = {
        cells[0]: dict(zip(header, cells, strict=True))
        for cells in (_cells(line) for line in lines)
        if cells[0] in ("full", "unchanged", "1% changed")
    }
    assert set(rows) == {"full", "unchanged", "1% changed"}
    for name, row in rows.items():
        total, minimal = int(row["total"].replace(",", "")), int(row["minimal"].replace(",", ""))
        assert minimal <= total <= 1.2 * minimal, (name, row)
        assert float(row["ratio"]) == round(total / minimal, 3)
        # the time at HubSpot's limits follows from the count: calls x 10 s / budget
        assert float(row["s @100/10s"]) == round(total / 10, 1)
        assert float(row["s @190/10s"]) == round(total * 10 / 190, 1)
    full, unchanged, changed = rows["full"], rows["unchanged"], rows["1% changed"]
    assert full["search"] == "0/0" and full["company pages"] == "2/2" and full["task creates"] != "0/0"
    for row in (unchanged, changed):  # incremental: one search per type, no company list, no re-reads
        assert row["company pages"] == "0/0" and row["search"] == "8/8" and row["batch reads"] == "0/0"
        assert row["company assoc"] == full["company assoc"]  # associations: no change feed, re-read
    assert unchanged["write calls"] == "0"
    assert unchanged["task creates"] == unchanged["task updates"] == "0/0"
    assert "unchanged: exit 0" in proc.stdout and "tasks created 0, updated 0, closed 0" in proc.stdout
    assert "429s answered: 0" in proc.stdout and "(budget 30)" in proc.stdout
