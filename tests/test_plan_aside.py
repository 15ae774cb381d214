"""The chunk plan made in a forked child beside the portfolio context (kamrules/run/planning.py)
is the connector's own plan; where the child cannot make it, the run's process does, and its
error is the one a run without the child would meet."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from kamrules.cli.wiring import open_connector
from kamrules.connectors.local.crm import LocalCrm
from kamrules.run.config import load_config
from kamrules.run.planning import PlanAside
from tests.test_workers_pull import _damaged

AS_OF = date(2026, 11, 1)


@pytest.fixture
def crm(tmp_path: Path) -> Iterator[LocalCrm]:
    (tmp_path / "kamrules.yaml").write_text(
        "crm: {type: local, path: crm.sqlite, seed: empty}\nstate_dir: state\n")
    connector = open_connector(load_config(tmp_path / "kamrules.yaml"))
    from kamrules.connectors.local.demo import demo_portfolio

    for kind, rows in _damaged(demo_portfolio(AS_OF, accounts=120)).items():
        connector.insert_records(kind, rows)
    yield connector
    connector.close()


def _shape(plan: Any) -> tuple[Any, ...]:
    return (plan.chunks, [u.model_dump() for u in plan.users],
            [w.model_dump() for w in plan.warnings])


def test_the_plan_made_aside_is_the_connectors_plan(crm: LocalCrm) -> None:
    here = crm.chunk_plan(AS_OF, 17)
    aside = PlanAside(crm, AS_OF, 17)
    plan = aside.result()
    assert plan is not None and len(plan.chunks) > 5 and plan.warnings  # orphans: no chunk's
    assert _shape(plan) == _shape(here)
    assert not aside._child.is_alive()  # noqa: SLF001


def test_where_the_child_makes_no_plan_the_run_makes_it_and_meets_its_error(
        crm: LocalCrm, monkeypatch: pytest.MonkeyPatch) -> None:
    here = crm.chunk_plan(AS_OF, 17)

    def broken() -> Any:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(crm, "reader", broken)  # the child inherits it
    assert _shape(PlanAside(crm, AS_OF, 17).result()) == _shape(here)
    monkeypatch.setattr(crm, "reader", lambda: os._exit(3))  # the child dies
    assert _shape(PlanAside(crm, AS_OF, 17).result()) == _shape(here)
    aside = PlanAside(crm, AS_OF, 17)
    monkeypatch.setattr(crm, "chunk_plan", lambda *a: (_ for _ in ()).throw(
        sqlite3.OperationalError("database disk image is malformed")))
    with pytest.raises(sqlite3.OperationalError, match="malformed"):
        aside.result()


def test_a_plan_not_needed_leaves_no_child(crm: LocalCrm) -> None:
    aside = PlanAside(crm, AS_OF, 17)
    aside.close()
    assert not aside._child.is_alive() and aside._child.exitcode is not None  # noqa: SLF001


def test_a_ctrl_c_is_the_runs_to_handle(crm: LocalCrm, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Ctrl-C reaches the terminal's whole process group: the child neither stops nor
    prints a traceback on it; the run's process ends it."""
    import signal
    import time

    def slow() -> Any:
        time.sleep(3)
        raise sqlite3.OperationalError("too slow")

    def ignores_sigint(pid: int) -> bool:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("SigIgn:"):
                return bool(int(line.split()[1], 16) >> (signal.SIGINT - 1) & 1)
        return False

    monkeypatch.setattr(crm, "reader", slow)
    aside = PlanAside(crm, AS_OF, 17)
    pid = aside._child.pid  # noqa: SLF001
    deadline = time.monotonic() + 0.4
    while not ignores_sigint(pid) and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(pid, signal.SIGINT)
    time.sleep(0.1)
    assert aside._child.is_alive()  # noqa: SLF001
    aside.close()
    assert not aside._child.is_alive()  # noqa: SLF001


def test_a_crm_in_memory_has_no_plan_aside_either(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No other process can read a CRM in memory: the child makes no plan (its handle opens
    nothing), and the connector's own answer, None, is the result."""
    monkeypatch.chdir(tmp_path)
    memory = LocalCrm(Path(":memory:"))
    try:
        assert PlanAside(memory, AS_OF, 17).result() is None
    finally:
        memory.close()


def _context(crm: LocalCrm) -> Any:
    from kamrules.evaluation.facts import portfolio_context

    return portfolio_context(crm.pull_accounts(AS_OF), AS_OF)


def test_the_context_read_in_two_parts_is_the_whole_one(
        crm: LocalCrm, monkeypatch: pytest.MonkeyPatch) -> None:
    """The run's process reads the accounts before `start`, the child those from it: the
    context is the one read in one pass, names in the same order (what workers are sent), and
    the run's process read only its part."""
    whole = _context(crm)
    count = len(whole.sorted_revenue)
    original = crm.pull_account_summaries
    reads: list[tuple[str | None, str | None]] = []

    def summaries(as_of: date, start: str | None = None, stop: str | None = None) -> Any:
        reads.append((start, stop))  # in this process only: a forked child's list is its own
        return original(as_of, start, stop)

    for share in (0.01, 0.3, 0.55, 0.99):
        start = crm.context_split(share)
        assert start is not None
        before = list(original(AS_OF, stop=start))
        after = list(original(AS_OF, start=start))
        assert [s.id for s in before + after] == [s.id for s in original(AS_OF)]
        assert after[0].id == start and len(before) == int(count * share)
        monkeypatch.setattr(crm, "pull_account_summaries", summaries)
        reads.clear()
        aside = PlanAside(crm, AS_OF, 17, start)
        portfolio = aside.portfolio()
        assert reads == [(None, start)]
        assert portfolio == whole and portfolio.to_json() == whole.to_json()
        assert _shape(aside.result()) == _shape(crm.chunk_plan(AS_OF, 17))  # then the plan
        monkeypatch.undo()
    assert crm.context_split(0.0) is None and crm.context_split(1.0) is None  # a part empty


def test_where_the_child_reads_no_part_the_run_reads_it(
        crm: LocalCrm, monkeypatch: pytest.MonkeyPatch) -> None:
    """A child that cannot read (its handle fails) or dies: the run's process reads the
    child's part itself, and the context is still the whole one; its error, if any, is met
    in the run's process."""
    whole = _context(crm)
    start = crm.context_split(0.55)
    monkeypatch.setattr(crm, "reader", lambda: (_ for _ in ()).throw(
        sqlite3.OperationalError("disk I/O error")))
    assert PlanAside(crm, AS_OF, 17, start).portfolio() == whole
    monkeypatch.setattr(crm, "reader", lambda: os._exit(3))  # the child dies
    aside = PlanAside(crm, AS_OF, 17, start)
    assert aside.portfolio() == whole
    assert _shape(aside.result()) == _shape(crm.chunk_plan(AS_OF, 17))
    aside = PlanAside(crm, AS_OF, 17, start)
    original = crm.pull_account_summaries

    def failing(as_of: date, start: str | None = None, stop: str | None = None) -> Any:
        if start is not None:  # the child's part, read here
            raise sqlite3.OperationalError("database disk image is malformed")
        return original(as_of, start, stop)

    monkeypatch.setattr(crm, "pull_account_summaries", failing)
    with pytest.raises(sqlite3.OperationalError, match="malformed"):
        aside.portfolio()
    aside.close()


def test_a_crm_in_memory_is_not_split(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No other process can read a CRM in memory, so nothing of the context is read aside
    (the child's handle would fail, and the run's process read its part again)."""
    monkeypatch.chdir(tmp_path)
    memory = LocalCrm(Path(":memory:"))
    try:
        memory.insert_records("accounts", [{"id": f"A{i}", "name": f"Account {i}"} for i in range(5)])
        assert memory.context_split(0.5) is None
    finally:
        memory.close()


def test_the_plan_is_the_plan_when_the_context_part_was_not_taken(crm: LocalCrm) -> None:
    """The child sends its part of the context first: a plan asked for without the part taken
    is still the plan, and a context asked for after the plan reads the child's part here."""
    start = crm.context_split(0.55)
    aside = PlanAside(crm, AS_OF, 17, start)
    assert _shape(aside.result()) == _shape(crm.chunk_plan(AS_OF, 17))
    assert aside.portfolio() == _context(crm)


def test_a_portfolio_of_one_chunk_starts_no_child(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Its plan is never used and its part of the context is a few accounts: the fork would
    cost more than it saves. A run over more than one chunk still starts it, with the same
    tasks."""
    import kamrules.run.sync as sync
    from tests.conftest import run_on_demo

    started: list[int] = []

    class Counted(PlanAside):
        def __init__(self, *args: Any) -> None:
            started.append(1)
            super().__init__(*args)

    monkeypatch.setattr(sync, "PlanAside", Counted)
    one, one_tasks = run_on_demo(tmp_path / "one", AS_OF, 120, workers=2, chunk_size=120)
    assert started == []
    many, many_tasks = run_on_demo(tmp_path / "many", AS_OF, 120, workers=2, chunk_size=17)
    assert started == [1]
    assert [t.fingerprint for t in one_tasks] == [t.fingerprint for t in many_tasks]
    assert one.counts == many.counts


def test_the_split_is_none_for_no_more_accounts_than_asked(crm: LocalCrm) -> None:
    count = len(_context(crm).sorted_revenue)
    assert crm.context_split(0.55, count) is None
    assert crm.context_split(0.55, count - 1) is not None
