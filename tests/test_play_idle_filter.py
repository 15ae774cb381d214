"""An idle play whose chart takes no transition, or a step not due yet, is answered without a
durable_rules session (issue #18: sessions are never freed). That shortcut is exact only where
the chart's interpretation and durable_rules agree; they must, on every demo account and play."""

from __future__ import annotations

from datetime import date

import pytest

from kamrules.evaluation.engine import Engine
from kamrules.evaluation.facts import account_views
from kamrules.language.loader import LoadedPack
from kamrules.model import Snapshot
from kamrules.playbooks import chart
from kamrules.playbooks.playrun import play_event
from kamrules.run.config import Config, LoadedConfig
from kamrules.run.sync import Evaluation
from kamrules.writeback.tasks import Directory


def test_durable_and_the_interpretation_agree_on_every_idle_decision(
        demo_snapshot: Snapshot, kam_core: LoadedPack, anchor: date) -> None:
    if chart.durable is None:
        pytest.skip("durable_rules is not installed here")
    found = Evaluation([kam_core], LoadedConfig(Config(), None, {}, anchor), anchor)
    engine = Engine([kam_core], "durable")
    directory = Directory.from_snapshot(demo_snapshot, None)
    for view in account_views(demo_snapshot):
        found.account(view, directory, engine)
    assert found.plays.compiled and len(found.plays.inputs) == len(demo_snapshot.accounts)
    starts = 0
    for c in found.plays.compiled:
        for account_id, inp in sorted(found.plays.inputs.items()):
            for cooling in (False, True):
                event = play_event(c, inp, cooling=cooling, all_done=False)
                interpreted = chart._interpret(c.chart.charts[c.chart.name], "idle", event)
                durable = chart._decide(c.chart.name, c.chart._session(), "idle", event)
                assert interpreted == durable, (c.play.id, account_id, cooling)
                starts += durable == "start"
    assert starts > 0  # the demo starts plays: both answers were exercised


def test_durable_and_the_interpretation_agree_on_every_waiting_step(kam_core: LoadedPack) -> None:
    if chart.durable is None:
        pytest.skip("durable_rules is not installed here")
    from kamrules.playbooks.advance import Plays
    from kamrules.playbooks.loader import plays_of

    plays = Plays(plays_of([kam_core]), {kam_core.id})
    opened = 0
    for c in plays.compiled:
        for step in c.play.steps:
            name = c.chart.steps[step.id]
            for age in (0, 1, 6, 7, 8, 13, 14, 15, 29, 30, 31, 60, 400):
                for after_done in (False, True):
                    event = {"go": True, "age": age, "after_done": after_done, "overdue": 0,
                             "pending": False}
                    interpreted = chart._interpret(c.chart.charts[name], "waiting", event)
                    durable = chart._decide(name, c.chart._session(), "waiting", event)
                    assert interpreted == durable, (c.play.id, step.id, event)
                    opened += durable == "open"
    assert opened > 0
