"""A run killed right after its first HubSpot batch write, run again, leaves each task once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kamrules.marker import read_marker
from tests.hs_support import HsWorkspace, start_fake


def test_killed_after_first_batch_write_then_rerun_leaves_each_task_once(
    tmp_path: Path, demo_records: dict[str, list[dict[str, Any]]]
) -> None:
    fake, url, _ = start_fake(demo_records, window=1.0)  # lives in this process, outlives the CLI
    try:
        ws = HsWorkspace(tmp_path / "hs", fake, url)
        ws.write_config()
        proc = ws.cli("run", "--as-of", "2026-11-01", "--json", env={"KAMRULES_CRASH_AT": "write:1"})
        assert proc.returncode == 137
        assert len(fake.tasks()) == 100 and fake.writes == 1
        code, report = ws.run_json()
        assert code == 0
        assert report["counts"]["created"] > 0 and report["counts"]["kept"] == 100
        fps = [read_marker(t["properties"]["hs_task_body"])[0] for t in fake.tasks()]  # type: ignore[index]
        assert len(fps) == len(set(fps)) == 100 + report["counts"]["created"]
        code, again = ws.run_json()
        assert again["counts"]["created"] == 0 and len(fake.tasks()) == len(fps)
    finally:
        fake.stop()
