"""Play decisions on durable_rules are made in a child process replaced every RECYCLE
decisions (kamrules/playbooks/decider.py, issue #18): the sessions they leave (~200 KB each,
1.7 GB of a first run over 100,000 accounts when kept in the run's process) go with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from kamrules.evaluation.engine import Engine
from kamrules.evaluation.facts import account_views, facts_for
from kamrules.language.loader import LoadedPack
from kamrules.model import Snapshot
from kamrules.playbooks import chart, decider
from kamrules.playbooks.advance import Plays
from kamrules.playbooks.loader import plays_of

pytestmark = pytest.mark.skipif(chart.INTERPRET, reason="durable_rules is not installed here")


def _rss_mib(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _decisions(plays: Plays, facts: list[dict[str, Any]], engine: Engine) -> tuple[int, int]:
    """Every kind of decision for each account, checked against the charts' interpretation,
    with the rule engine's sessions beside them in this process."""
    made = taken = 0
    for f in facts:
        engine.matches(f)
        event = {k: v for k, v in f.items() if v is not None}
        for c in plays.compiled:
            for phase in ("idle", "active", "complete", "exited", "exiting"):
                for flags in ({"cooling": False, "all_done": False},
                              {"cooling": False, "all_done": True}):
                    for hit in (False, True):
                        e = {**event, **flags, chart.RULE_HIT: hit}
                        got = c.chart._durable(lambda c=c: c.chart.name, phase, e)
                        assert got == chart._interpret(c.chart.charts[c.chart.name], phase, e)
                        made += 1
                        taken += got is not None
            for step in c.play.steps:
                name = c.chart.steps[step.id]
                for state in ("waiting", "open"):
                    e = {"go": True, "age": 400, "after_done": True, "overdue": 30, "pending": True}
                    got = c.chart._durable(lambda name=name: name, state, e)
                    assert got == chart._interpret(c.chart.charts[name], state, e)
                    made += 1
                    taken += got is not None
    return made, taken


def test_decisions_are_made_in_children_that_are_replaced(
        demo_snapshot: Snapshot, kam_core: LoadedPack) -> None:
    plays = Plays(plays_of([kam_core]), {kam_core.id})
    engine = Engine([kam_core], "durable")
    facts = [facts_for(view) for view in account_views(demo_snapshot)][:60]
    _decisions(plays, facts[:5], engine)
    before, started = _rss_mib(), chart.DECIDER.started
    made, taken = _decisions(plays, facts, engine)
    assert taken > 500 and made > 3 * decider.RECYCLE
    # a new child at least every RECYCLE decisions; this process keeps no session
    assert chart.DECIDER.started - started >= made // decider.RECYCLE
    assert _rss_mib() - before < 0.02 * made, "sessions kept in the run's process"
    child = chart.DECIDER._child  # noqa: SLF001
    assert child is not None and _rss_mib(child.pid) < 2 * _rss_mib() + 0.3 * decider.RECYCLE


def test_a_child_that_dies_is_replaced(kam_core: LoadedPack) -> None:
    plays = Plays(plays_of([kam_core]), {kam_core.id})
    c = plays.compiled[0]
    event = {"is_key": True, chart.RULE_HIT: True, "cooling": False, "all_done": False}
    want = chart._interpret(c.chart.charts[c.chart.name], "active", event)
    assert c.chart._durable(lambda: c.chart.name, "active", event) == want
    child = chart.DECIDER._child  # noqa: SLF001
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    started = chart.DECIDER.started
    assert c.chart._durable(lambda: c.chart.name, "active", event) == want
    assert chart.DECIDER.started == started + 1


def test_rulesets_registered_after_a_child_started_reach_the_next_one(kam_core: LoadedPack) -> None:
    first = Plays(plays_of([kam_core]), {kam_core.id}).compiled[0]
    event = {"is_key": True, chart.RULE_HIT: True, "cooling": False, "all_done": False}
    first.chart._durable(lambda: first.chart.name, "active", event)
    later = Plays(plays_of([kam_core]), {kam_core.id}).compiled[0]  # new rulesets, new names
    assert later.chart.name != first.chart.name
    want = chart._interpret(later.chart.charts[later.chart.name], "active", event)
    assert later.chart._durable(lambda: later.chart.name, "active", event) == want


def test_without_fork_decisions_are_made_here(kam_core: LoadedPack,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chart, "can_fork", lambda: False)  # e.g. inside a Celery prefork worker
    c = Plays(plays_of([kam_core]), {kam_core.id}).compiled[0]
    started = chart.DECIDER.started
    event = {"is_key": True, chart.RULE_HIT: True, "cooling": False, "all_done": False}
    for _ in range(chart.MAX_SESSIONS + 50):  # past one ruleset's sessions: fresh rulesets
        got = c.chart._durable(lambda: c.chart.name, "active", event)
    assert got == chart._interpret(c.chart.charts[c.chart.name], "active", event)
    assert chart.DECIDER.started == started


def test_the_child_ends_with_the_process_that_asked(tmp_path: Path) -> None:
    """A run killed mid-way (kill -9, a crash point) must not leave a child behind: it would
    hold the run's stdout open, and whoever waits for the run's output would wait forever."""
    script = textwrap.dedent("""
        import os
        from kamrules.language.loader import builtin_dir, load_pack
        from kamrules.playbooks import chart
        from kamrules.playbooks.advance import Plays
        from kamrules.playbooks.loader import plays_of
        pack = load_pack(builtin_dir() / "kam-core")
        c = Plays(plays_of([pack]), {pack.id}).compiled[0]
        c.chart._durable(lambda: c.chart.name, "active", {"is_key": True, chart.RULE_HIT: True,
                                                           "cooling": False, "all_done": False})
        print(chart.DECIDER._child.pid, flush=True)
        os._exit(0)  # no atexit: as a kill would end it
    """)
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)  # returns only once every holder of stdout is gone
    assert proc.returncode == 0, proc.stderr[-2000:]
    pid = int(proc.stdout.split()[0])
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    state = Path(f"/proc/{pid}/stat").read_text().split()[2] if Path(f"/proc/{pid}").exists() else "gone"
    assert state in ("gone", "Z"), f"the decision child {pid} outlived its parent ({state})"
    assert time.monotonic() - started < 100
