"""Play decisions on durable_rules are made in a child process replaced every RECYCLE
decisions (kamrules/playbooks/decider.py, issue #18): the sessions they leave (~200 KB each,
1.7 GB of a first run over 100,000 accounts when kept in the run's process) go with it. The
children are forked by a small process forked early, the zygote (kamrules/playbooks/zygote.py),
so a child does not copy the run's process however big it has grown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
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


def _status(pid: int | str, key: str) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return line.split()[1]
    raise AssertionError(f"no {key}")


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
    child = chart.DECIDER.child_pid
    assert child is not None and _rss_mib(child) < 2 * _rss_mib() + 0.3 * decider.RECYCLE


_ACTIVE = {"is_key": True, chart.RULE_HIT: True, "cooling": False, "all_done": False}


def _gone(pid: int, seconds: float = 10) -> str:
    """Wait for `pid` to end: "gone" or "Z" (ended, not yet reaped), else its state."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return "gone"
        if state == "Z" or time.monotonic() > deadline:
            return state
        time.sleep(0.02)


def _new_child(c: Any, want: str | None) -> None:
    """Ask until the decider replaces its child (RECYCLE decisions at most)."""
    started = chart.DECIDER.started
    for _ in range(decider.RECYCLE + 1):
        assert c.chart._durable(lambda: c.chart.name, "active", _ACTIVE) == want
        if chart.DECIDER.started > started:
            return
    raise AssertionError("no new child after RECYCLE decisions")


def test_the_decision_child_is_forked_by_the_zygote(kam_core: LoadedPack) -> None:
    c = Plays(plays_of([kam_core]), {kam_core.id}).compiled[0]
    want = chart._interpret(c.chart.charts[c.chart.name], "active", _ACTIVE)
    chart.DECIDER.prepare()
    zygote = chart.DECIDER.zygote_pid
    assert zygote is not None and int(_status(zygote, "PPid")) == os.getpid()
    assert c.chart._durable(lambda: c.chart.name, "active", _ACTIVE) == want
    assert chart.DECIDER.zygote_pid == zygote, "prepared for these rulesets: not replaced"
    child = chart.DECIDER.child_pid
    assert child is not None and int(_status(child, "PPid")) == zygote != os.getpid()
    _new_child(c, want)
    assert chart.DECIDER.child_pid != child
    assert int(_status(chart.DECIDER.child_pid, "PPid")) == zygote
    assert _gone(child) in ("gone", "Z"), "a recycled child kept running"


def test_a_child_forked_after_this_process_grew_does_not_carry_it(kam_core: LoadedPack) -> None:
    """At 1,000,000 accounts the run's process is ~5 GB when plays are decided; each child
    forked from it copied its page tables and then its pages (47 s of system time). A child
    forked by the zygote is a copy of the process as it was when the zygote was forked."""
    c = Plays(plays_of([kam_core]), {kam_core.id}).compiled[0]
    want = chart._interpret(c.chart.charts[c.chart.name], "active", _ACTIVE)
    chart.DECIDER.prepare()  # as a run does once its plays are compiled
    small = _rss_mib()
    grown = bytearray(b"\x01") * (300 << 20)  # written, so resident: the run's chunks, findings
    assert _rss_mib() > small + 280
    _new_child(c, want)
    child = chart.DECIDER.child_pid
    assert child is not None
    assert _rss_mib(child) < small + 100, \
        f"the child ({_rss_mib(child):.0f} MiB) carries this process's growth ({_rss_mib():.0f} MiB)"
    del grown


def test_a_child_that_dies_is_replaced(kam_core: LoadedPack) -> None:
    plays = Plays(plays_of([kam_core]), {kam_core.id})
    c = plays.compiled[0]
    event = {"is_key": True, chart.RULE_HIT: True, "cooling": False, "all_done": False}
    want = chart._interpret(c.chart.charts[c.chart.name], "active", event)
    assert c.chart._durable(lambda: c.chart.name, "active", event) == want
    child, zygote = chart.DECIDER.child_pid, chart.DECIDER.zygote_pid
    assert child is not None
    os.kill(child, signal.SIGKILL)
    assert _gone(child) in ("gone", "Z")
    started = chart.DECIDER.started
    assert c.chart._durable(lambda: c.chart.name, "active", event) == want
    assert chart.DECIDER.started == started + 1
    assert chart.DECIDER.child_pid != child and chart.DECIDER.zygote_pid == zygote


def _first_decision(kam_core: LoadedPack) -> tuple[Any, str | None, int, int]:
    """A play's chart, its answer to an `active` event (asked once), the child and the zygote."""
    c = Plays(plays_of([kam_core]), {kam_core.id}).compiled[0]
    want = chart._interpret(c.chart.charts[c.chart.name], "active", _ACTIVE)
    assert c.chart._durable(lambda: c.chart.name, "active", _ACTIVE) == want
    child, zygote = chart.DECIDER.child_pid, chart.DECIDER.zygote_pid
    assert child is not None and zygote is not None
    return c, want, child, zygote


def test_a_zygote_that_dies_is_replaced(kam_core: LoadedPack) -> None:
    c, want, child, zygote = _first_decision(kam_core)
    os.kill(zygote, signal.SIGKILL)
    assert _gone(zygote) in ("gone", "Z")
    # the child it forked still answers; the next child comes from a new zygote
    assert c.chart._durable(lambda: c.chart.name, "active", _ACTIVE) == want
    assert chart.DECIDER.child_pid == child
    _new_child(c, want)
    assert chart.DECIDER.zygote_pid not in (None, zygote)
    assert int(_status(chart.DECIDER.child_pid, "PPid")) == chart.DECIDER.zygote_pid
    # both killed at once: the next decision is still answered
    child, zygote = chart.DECIDER.child_pid, chart.DECIDER.zygote_pid
    os.kill(zygote, signal.SIGKILL)
    os.kill(child, signal.SIGKILL)
    assert _gone(child) in ("gone", "Z") and _gone(zygote) in ("gone", "Z")
    assert c.chart._durable(lambda: c.chart.name, "active", _ACTIVE) == want
    assert chart.DECIDER.zygote_pid not in (None, zygote) and chart.DECIDER.child_pid != child


def test_a_ctrl_c_is_the_runs_to_handle(kam_core: LoadedPack) -> None:
    """A Ctrl-C reaches the terminal's whole process group; the zygote and the child end only
    when the run does (EOF), so one the run catches does not cost them."""
    c, want, child, zygote = _first_decision(kam_core)
    os.kill(zygote, signal.SIGINT)
    os.kill(child, signal.SIGINT)
    assert c.chart._durable(lambda: c.chart.name, "active", _ACTIVE) == want
    assert (chart.DECIDER.child_pid, chart.DECIDER.zygote_pid) == (child, zygote)
    _new_child(c, want)
    assert chart.DECIDER.zygote_pid == zygote


def test_rulesets_registered_after_a_child_started_reach_the_next_one(kam_core: LoadedPack) -> None:
    first = Plays(plays_of([kam_core]), {kam_core.id}).compiled[0]
    event = {"is_key": True, chart.RULE_HIT: True, "cooling": False, "all_done": False}
    chart.DECIDER.prepare()
    first.chart._durable(lambda: first.chart.name, "active", event)
    child, zygote = chart.DECIDER.child_pid, chart.DECIDER.zygote_pid
    later = Plays(plays_of([kam_core]), {kam_core.id}).compiled[0]  # new rulesets, new names
    assert later.chart.name != first.chart.name
    want = chart._interpret(later.chart.charts[later.chart.name], "active", event)
    assert later.chart._durable(lambda: later.chart.name, "active", event) == want
    # the zygote was forked before these rulesets were registered: it was replaced too
    assert chart.DECIDER.child_pid != child and chart.DECIDER.zygote_pid not in (None, zygote)
    assert _gone(zygote) in ("gone", "Z") and _gone(child) in ("gone", "Z")
    chart.DECIDER.prepare()  # prepared again for these rulesets: nothing to replace
    assert chart.DECIDER.zygote_pid not in (None, zygote)


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


def test_a_disabled_decider_forks_nothing() -> None:
    """`kamrules worker` (Celery) turns the decider off: `prepare` forks no zygote there."""
    off = decider.Decider(chart._decide)
    off.enabled = False
    off.prepare()
    assert off.zygote_pid is None and off.started == 0


@pytest.mark.parametrize("sibling", [False, True], ids=["alone", "with-a-forked-sibling"])
def test_the_child_and_zygote_end_with_the_process_that_asked(sibling: bool) -> None:
    """A run killed mid-way (kill -9, a crash point) must not leave a child or a zygote behind:
    it would hold the run's stdout open, and whoever waits for the run's output would wait
    forever. Nor may a process the run forked afterwards (a worker that outlives it) keep them."""
    script = textwrap.dedent("""
        import os, time
        from kamrules.language.loader import builtin_dir, load_pack
        from kamrules.playbooks import chart
        from kamrules.playbooks.advance import Plays
        from kamrules.playbooks.loader import plays_of
        pack = load_pack(builtin_dir() / "kam-core")
        c = Plays(plays_of([pack]), {pack.id}).compiled[0]
        chart.DECIDER.prepare()
        c.chart._durable(lambda: c.chart.name, "active", {"is_key": True, chart.RULE_HIT: True,
                                                           "cooling": False, "all_done": False})
        sibling = 0
        if SIBLING:
            sibling = os.fork()
            if sibling == 0:  # keeps whatever it inherited, but not stdout, for a minute
                null = os.open(os.devnull, os.O_RDWR)
                for std in (0, 1, 2):
                    os.dup2(null, std)
                time.sleep(60)
                os._exit(0)
        print(chart.DECIDER.child_pid, chart.DECIDER.zygote_pid, sibling, flush=True)
        os._exit(0)  # no atexit: as a kill would end it
    """).replace("SIBLING", str(sibling))
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)  # returns only once every holder of stdout is gone
    assert proc.returncode == 0, proc.stderr[-2000:]
    child, zygote, other = (int(x) for x in proc.stdout.split())
    try:
        assert _gone(child) in ("gone", "Z"), f"the decision child {child} outlived the asker"
        assert _gone(zygote) in ("gone", "Z"), f"the zygote {zygote} outlived the asker"
    finally:
        if other:
            os.kill(other, signal.SIGKILL)
    assert time.monotonic() - started < 100


def _ask_in_thread(c: Any, want: str | None, lane: threading.Event | None = None,
                   go_on: threading.Event | None = None) -> dict[str, Any]:
    """Ask once from a new thread (optionally: signal `lane`, wait for `go_on`, ask again);
    what the thread saw: its child's pid each time and the answers."""
    seen: dict[str, Any] = {"pids": [], "answers": []}

    def ask() -> None:
        for _ in range(2 if go_on is not None else 1):
            seen["answers"].append(c.chart._durable(lambda: c.chart.name, "active", _ACTIVE))
            seen["pids"].append(chart.DECIDER.child_pid)
            if lane is not None and go_on is not None and not go_on.is_set():
                lane.set()
                assert go_on.wait(30)

    seen["thread"] = threading.Thread(target=ask)
    seen["thread"].start()
    return seen


def test_threads_ask_children_of_their_own_and_end_them(kam_core: LoadedPack) -> None:
    """Plays.advance asks from several threads (kamrules/playbooks/lanes.py): each thread
    has a decision child of its own, forked by the zygote; once the threads are done their
    children end."""
    c, want, mine, zygote = _first_decision(kam_core)
    threads = [_ask_in_thread(c, want) for _ in range(2)]
    for seen in threads:
        seen["thread"].join(30)
        assert seen["answers"] == [want]
    pids = [seen["pids"][0] for seen in threads]
    assert len({mine, *pids}) == 3, "each thread asks a child of its own"
    assert all(int(_status(p, "PPid")) == zygote for p in pids)
    chart.DECIDER.end_lanes_of_ended_threads()
    assert all(_gone(p) in ("gone", "Z") for p in pids)
    assert chart.DECIDER.child_pid == mine and _gone(mine, 0.2) not in ("gone", "Z")


def test_a_new_zygote_leaves_a_child_being_asked_to_its_thread(kam_core: LoadedPack) -> None:
    """New rulesets while another thread asks its child: the new zygote is started at once
    (not after waiting for that child), and the thread's next decision is a new child's."""
    c, want, _mine, zygote = _first_decision(kam_core)
    asked, go_on = threading.Event(), threading.Event()
    seen = _ask_in_thread(c, want, asked, go_on)
    assert asked.wait(30)
    lane = next(x for x in chart.DECIDER._lanes if x.thread is seen["thread"])  # noqa: SLF001
    with lane.lock:  # as while its thread waits for an answer
        later = Plays(plays_of([kam_core]), {kam_core.id}).compiled[0]  # a new generation
        start = time.monotonic()
        chart.DECIDER.prepare()
        assert time.monotonic() - start < 3, "waited for another thread's child"
        assert chart.DECIDER.zygote_pid not in (None, zygote)
        assert _gone(seen["pids"][0], 0.2) not in ("gone", "Z"), "ended while being asked"
    go_on.set()
    seen["thread"].join(30)
    assert seen["answers"] == [want, want]
    assert seen["pids"][1] != seen["pids"][0]
    assert int(_status(seen["pids"][1], "PPid")) == chart.DECIDER.zygote_pid
    assert _gone(seen["pids"][0]) in ("gone", "Z")  # the stale child ended when replaced
    assert later.chart._durable(lambda: later.chart.name, "active", _ACTIVE) == want
    chart.DECIDER.end_lanes_of_ended_threads()
