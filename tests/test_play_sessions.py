"""durable_rules sessions of plays are deleted after each decision (issue #18).

Kept, each cost ~200 KB: 1.7 GB of a 100,000-account run (and a ruleset holds at most 1,024).
Deleting them once crashed an early version beside the rule engine, so this runs decisions of
every kind interleaved with the rule engine in a process of its own, and checks it lives,
answers as the charts' interpretation does, and stays small.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from kamrules.playbooks import chart

SCRIPT = textwrap.dedent("""
    import resource, sys
    from datetime import date
    from kamrules.connectors.local.demo import demo_portfolio
    from kamrules.evaluation.engine import Engine
    from kamrules.evaluation.facts import account_views, facts_for
    from kamrules.language.loader import builtin_dir, load_pack
    from kamrules.model import Snapshot
    from kamrules.playbooks import chart
    from kamrules.playbooks.advance import Plays
    from kamrules.playbooks.loader import plays_of

    def rss_mib():
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024

    as_of = date(2026, 11, 1)
    pack = load_pack(builtin_dir() / "kam-core")
    snapshot = Snapshot(as_of=as_of, **demo_portfolio(as_of))
    engine = Engine([pack], "durable")
    plays = Plays(plays_of([pack]), {pack.id})
    facts = [facts_for(view) for view in account_views(snapshot)]
    decisions = taken = 0
    baseline = None
    for round_ in range(int(sys.argv[1])):
        for f in facts[:40]:
            engine.matches(f)  # the rule engine's sessions live beside the charts'
            event = {k: v for k, v in f.items() if v is not None}
            for c in plays.compiled:
                for phase in ("idle", "active", "complete", "exited", "exiting"):
                    for flags in ({"cooling": False, "all_done": False},
                                  {"cooling": True, "all_done": False},
                                  {"cooling": False, "all_done": True}):
                        for hit in (False, True):
                            e = {**event, **flags, chart.RULE_HIT: hit}
                            got = chart._decide(c.chart.name, phase, e)
                            want = chart._interpret(c.chart.charts[c.chart.name], phase, e)
                            assert got == want, (c.play.id, phase, e)
                            decisions += 1
                            taken += got is not None
                for step in c.play.steps:
                    name = c.chart.steps[step.id]
                    for state in ("waiting", "open", "done"):
                        e = {"go": True, "age": 400, "after_done": True, "overdue": 30,
                             "pending": True}
                        got = chart._decide(name, state, e)
                        assert got == chart._interpret(c.chart.charts[name], state, e)
                        decisions += 1
                        taken += got is not None
        if round_ == 0:
            baseline = rss_mib()
    print(decisions, taken, baseline, rss_mib())
""")


def test_sessions_are_deleted_beside_the_rule_engine() -> None:
    if chart.durable is None:
        pytest.skip("durable_rules is not installed here")
    proc = subprocess.run([sys.executable, "-c", SCRIPT, "4"], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]  # a SIGSEGV is -11
    decisions, taken, baseline, last = proc.stdout.split()
    assert int(taken) > 1000 and int(decisions) > 3 * int(taken) // 2
    # three more rounds of the same decisions: kept sessions would add ~200 KB each
    grown = float(last) - float(baseline)
    assert grown < 0.02 * 3 * int(decisions) / 4, f"{grown:.0f} MiB more after 3 rounds"
