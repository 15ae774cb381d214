"""A run that writes its changes part by part as their texts render (`_written_in_parts` in
kamrules/run/sync.py) pairs every write's result with its change: the same report lines,
results and counts as when everything is written at once, failed writes included (another
writer opened some of the tasks first)."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from kamrules.connectors.local.crm import LocalCrm
from kamrules.errors import ExitCode
from kamrules.run import rendering
from tests.conftest import run_on_demo

DAY = date(2026, 11, 1)
APPLY = LocalCrm.apply


def _taken_first(fingerprint: str) -> bool:
    return int(hashlib.sha256(fingerprint.encode()).hexdigest(), 16) % 6 == 0


def _run(root: Path, part: int, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, list[int]]:
    monkeypatch.setattr(rendering, "PART", part)
    monkeypatch.setattr(rendering, "PARALLEL_FROM", 1)  # the parts come from forked renderers
    calls: list[int] = []

    def racing(self: LocalCrm, changes: Any, progress: Any = None) -> Any:
        calls.append(len(changes))
        for c in changes:  # another writer opens some of these tasks just before us
            if c.action == "create" and _taken_first(c.fingerprint):
                self.db.execute("INSERT OR IGNORE INTO tasks (fingerprint, account_id, subject, body, status,"
                                " priority,"
                                " evidence) VALUES (?, ?, 'theirs', '', 'open', 'normal', '{}')",
                                (c.fingerprint, c.task.account_id))
        return APPLY(self, changes, progress) if progress else APPLY(self, changes)

    monkeypatch.setattr(LocalCrm, "apply", racing)
    report, _ = run_on_demo(root, DAY, 200, workers=2, digest=False)
    return report, calls


def test_parts_report_as_one_write_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parts, calls = _run(tmp_path / "parts", 5, monkeypatch)
    whole, once = _run(tmp_path / "whole", 10**6, monkeypatch)
    assert len(calls) > 10 and len(once) == 1

    def lines(report: Any) -> list[tuple[Any, ...]]:
        return [(c.action, c.fingerprint, c.subject, c.owner_name, c.account_name, c.ok, c.error)
                for c in report.changes]

    assert lines(parts) == lines(whole)
    assert parts.counts == whole.counts and parts.counts["failed"] > 5
    assert parts.counts["created"] > 3 * parts.counts["failed"]
    failed = [c for c in parts.changes if not c.ok]
    assert failed and all(_taken_first(c.fingerprint) and c.error for c in failed)
    assert all(c.crm_id for c in parts.changes if c.ok and c.action == "create")
    partial = ("partial", int(ExitCode.PARTIAL_FAILURE))
    assert (parts.outcome, parts.exit_code) == (whole.outcome, whole.exit_code) == partial
