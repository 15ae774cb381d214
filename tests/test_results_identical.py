"""Findings and tasks on the demo portfolio are those of the code before the performance work
(issue #18): every change of two runs in report order, and every task's text and evidence,
whatever the chunk size, rule engine or number of worker processes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kamrules.cli.wiring import open_connector
from kamrules.connectors.local.crm import LocalCrm
from kamrules.playbooks import chart, lanes
from kamrules.run import rendering
from kamrules.run.config import load_config, load_configured_packs
from kamrules.run.sync import run
from kamrules.run.workers import POOLS
from tests.support.golden import CASES, DAYS, FILE, outcome

GOLDEN = json.loads(FILE.read_text())


@pytest.mark.parametrize(("name", "accounts", "extra"), CASES, ids=[c[0] for c in CASES])
def test_runs_equal_the_recorded_ones(tmp_path: Path, name: str, accounts: int, extra: str) -> None:
    assert outcome(tmp_path, accounts, extra) == GOLDEN[name]


def test_small_chunks_and_the_python_engine_change_nothing(tmp_path: Path) -> None:
    name, accounts, extra = CASES[0]
    got = outcome(tmp_path, accounts, extra + "engine: python\n", chunk_size=37)
    assert got == GOLDEN[name]


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_any_number_of_worker_processes_gives_the_same_runs(tmp_path: Path, workers: int) -> None:
    before = dict(POOLS)
    for name, accounts, extra in CASES:
        got = outcome(tmp_path / name, accounts, extra, chunk_size=37, workers=workers)
        assert got == GOLDEN[name], (name, workers)
    # two cases of two runs, at least 9 chunks each (the local CRM also cuts chunks by records):
    # with workers, the chunks went to worker processes
    handed = POOLS["chunks"] - before["chunks"]
    assert POOLS["started"] - before["started"] == (4 if workers > 1 else 0)
    assert (handed >= 36) if workers > 1 else handed == 0
    if workers > 1:  # the workers pulled kam-core's unread kinds of key accounts only
        assert POOLS["key_only"] == ["cases", "contacts", "plans"]


def test_texts_rendered_on_several_processes_are_the_same(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every text of the runs rendered by forked processes (kamrules/run/rendering.py), as if
    the demo portfolio were large enough for it: the same tasks, texts and report."""
    monkeypatch.setattr(rendering, "PARALLEL_FROM", 1)
    before = rendering.RENDERS["pools"]
    for name, accounts, extra in CASES:
        assert outcome(tmp_path / name, accounts, extra, workers=2) == GOLDEN[name], name
    assert rendering.RENDERS["pools"] - before == 4  # each first run and each second run
    # a run writing each part as it comes leaves the second core to the writer
    assert rendering.RENDERS["processes"] == 1


def test_a_plan_renders_on_every_core_and_shows_the_texts_a_run_writes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A dry run writes nothing while its texts render: both cores render (`renderers`)."""
    monkeypatch.setattr(rendering, "PARALLEL_FROM", 1)
    name, accounts, extra = CASES[0]
    root = tmp_path / name
    outcome(root, accounts, extra, workers=2)  # the workspace and its two runs
    loaded = load_config(root / "kamrules.yaml")
    connector = open_connector(loaded)
    try:
        connector.db.execute("DELETE FROM tasks")  # as before the first run
        plan = run(connector, load_configured_packs(loaded), loaded, DAYS[0], True,
                   digest=False, workers=2)
    finally:
        connector.close()
    assert rendering.RENDERS["processes"] == 2
    first = GOLDEN[name]["runs"][0]["changes"]
    assert [" | ".join(str(x) for x in (c.action, c.fingerprint, c.owner_id, c.severity, c.reason,
                                        c.subject, c.ok)) for c in plan.changes] == first


@pytest.mark.skipif(chart.INTERPRET, reason="durable_rules is not installed here: no decision children")
def test_play_decisions_asked_from_several_threads_are_the_same(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every play run of the runs decided on two decision children at once, in batches of
    two (kamrules/playbooks/lanes.py), as if the demo portfolio were large enough: the same
    changes, transitions and tasks, in the same order."""
    monkeypatch.setattr(lanes, "BATCH", 2)
    monkeypatch.setattr(lanes, "PARALLEL_FROM", 1)
    before = lanes.POOLS["started"]
    for name, accounts, extra in CASES:
        assert outcome(tmp_path / name, accounts, extra, workers=2) == GOLDEN[name], name
    assert lanes.POOLS["started"] - before == 4  # each first run and each second run


def test_changes_written_part_by_part_as_their_texts_render_are_the_same(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The texts rendered on forked processes in parts of five (kamrules/run/rendering.py) and
    each part written to the local CRM as it comes (kamrules/run/sync.py): the same changes,
    report and tasks, bodies included."""
    monkeypatch.setattr(rendering, "PARALLEL_FROM", 1)
    monkeypatch.setattr(rendering, "PART", 5)
    calls: list[int] = []
    real = LocalCrm.apply

    def counted(self: LocalCrm, changes: Any, progress: Any = None) -> Any:
        calls.append(len(changes))
        return real(self, changes, progress) if progress else real(self, changes)

    monkeypatch.setattr(LocalCrm, "apply", counted)
    for name, accounts, extra in CASES:
        assert outcome(tmp_path / name, accounts, extra, workers=2) == GOLDEN[name], name
    assert len(calls) > 40 and max(calls) < sum(calls) / 10
