"""The compiled idle filter (kamrules/playbooks/idle.py) lets `Plays.advance` skip accounts
without play history whose trigger cannot hold. It must say "no" only where the chart's own
interpretation (`chart._interpret`, which durable_rules agrees with) takes no transition: on
every demo account and play, and on a grid of events over the facts the triggers read."""

from __future__ import annotations

import itertools
import random
from datetime import date
from typing import Any

from kamrules.evaluation.engine import Engine
from kamrules.evaluation.facts import account_views
from kamrules.language.loader import LoadedPack
from kamrules.language.pack import AllCondition, AnyCondition, FactCondition
from kamrules.model import Account, Snapshot, Task
from kamrules.playbooks import chart
from kamrules.playbooks.advance import CompiledPlay, Plays
from kamrules.playbooks.chart import RULE_HIT, PlayChart
from kamrules.playbooks.loader import plays_of
from kamrules.playbooks.model import Trigger
from kamrules.playbooks.playrun import play_event
from kamrules.run.config import Config, LoadedConfig
from kamrules.run.sync import Evaluation
from kamrules.writeback.tasks import Directory

GRID: list[Any] = [None, True, False, 0, 1, 2, -1, 0.0, -0.0, 0.3, 0.5, 0.49999, 0.7, -10, -10.0,
                   -9.99, 119, 120, 120.5, 121, -30, -31, 365, 1e-5, -1e-5, 1e16, -1e16,
                   float("nan"), float("inf"), float("-inf")]


def _interpreted(c: CompiledPlay, facts: dict[str, Any], hit: bool) -> str | None:
    event = {**facts, RULE_HIT: hit, "cooling": False, "all_done": False}
    return chart._interpret(c.chart.charts[c.chart.name], "idle", event)


def _odd_plays(kam_core: LoadedPack) -> list[CompiledPlay]:
    """kam-core's plays and variants whose triggers use trigger rules and the other operators."""
    base = [c for c in Plays(plays_of([kam_core]), {kam_core.id}).compiled]
    play = base[0].play
    when = AnyCondition(any=[
        AllCondition(all=[FactCondition(fact="won_deals_12m", **{"in": [1, 2]}),
                          FactCondition(fact="engagement_ratio", ne=0.5)]),
        FactCondition(fact="revenue_trend_pct", exists=True),
        AllCondition(all=[FactCondition(fact="days_to_contract_end", exists=False),
                          FactCondition(fact="satisfaction_change", not_in=[0, -1])]),
        FactCondition(fact="days_since_last_win", eq=120),
    ])
    variants = [
        play.model_copy(update={"trigger": Trigger(rules=["KAM-REL-001"]), "scope": "all_accounts"}),
        play.model_copy(update={"trigger": Trigger(rules=["KAM-REL-001"], when=when)}),
        play.model_copy(update={"trigger": Trigger(when=when), "scope": "all_accounts"}),
    ]
    return base + [CompiledPlay(kam_core, p, PlayChart(p, kam_core.values), {"kam-core/KAM-REL-001"})
                   for p in variants]


def test_the_filter_agrees_with_the_chart_on_every_demo_account(
        demo_snapshot: Snapshot, kam_core: LoadedPack, anchor: date) -> None:
    found = Evaluation([kam_core], LoadedConfig(Config(), None, {}, anchor), anchor)
    engine = Engine([kam_core], "python")
    directory = Directory.from_snapshot(demo_snapshot, None)
    for view in account_views(demo_snapshot):
        found.account(view, directory, engine)
    starts = skipped = 0
    for i, c in enumerate(found.plays.compiled):
        for account_id, inp in sorted(found.plays.inputs.items()):
            event = play_event(c, inp, cooling=False, all_done=False)
            action = chart._interpret(c.chart.charts[c.chart.name], "idle", event)
            assert c.idle_moves(inp.facts, inp.hits) == (action is not None), (c.play.id, account_id)
            # decided once where the account was evaluated: `advance` reads only this bit
            assert bool(inp.may_start >> i & 1) == (action is not None), (c.play.id, account_id)
            starts += action is not None
            skipped += action is None
    assert starts > 0 and skipped > starts  # both answers exercised, and most are skipped


def test_the_filter_agrees_with_the_chart_on_a_grid_of_events(kam_core: LoadedPack) -> None:
    rng = random.Random(18)
    checked = moved = 0
    for c in _odd_plays(kam_core):
        names = sorted(Plays([(kam_core, c.play)]).facts)
        for hit in (False, True):
            grid = itertools.product(GRID, repeat=len(names))
            events = ([dict(zip(names, values, strict=True)) for values in grid] if len(names) <= 2
                      else [{n: rng.choice(GRID) for n in names} for _ in range(3000)])
            events += [{n: v for n in names} for v in GRID]  # every fact the same value
            events.append({})  # no fact known at all
            for facts in events:
                expected = _interpreted(c, facts, hit)
                event = {**facts, RULE_HIT: hit} if c.reads_hit else facts
                assert c.may_start(event) == (expected is not None), (c.play.id, hit, facts)
                checked += 1
                moved += expected is not None
    assert moved > 100 and checked - moved > 100


def test_an_account_with_history_is_still_asked(kam_core: LoadedPack) -> None:
    """The filter is for accounts without a play: `advance` never skips one that has one
    (its trigger no longer holding is what exits the play)."""
    plays = Plays(plays_of([kam_core]), {kam_core.id})
    account = Account(id="A1", name="Acme", owner_id="U1")
    plays.observe(account, {n: None for n in plays.facts} | {"is_key": False}, [],
                  Directory({}, {}, {}, None))
    c = plays.compiled[0]
    assert plays.inputs["A1"].may_start == 0 and not c.idle_moves(plays.inputs["A1"].facts, ())
    as_of = date(2026, 11, 1)
    step = c.play.steps[0]
    open_step = Task(fingerprint=f"{c.pack.id}/{c.play.id}/A1/{step.id}", account_id="A1",
                     subject="s", body="b", owner_id="U1", due=as_of, priority="high",
                     status="open", evidence={"play_started": "2026-10-01", "opened": "2026-10-01"},
                     created=date(2026, 10, 1))
    changes, moves = plays.advance([open_step], as_of)
    assert [(ch.action, ch.fingerprint) for ch in changes] == [("close", open_step.fingerprint)]
    assert [m.kind for m in moves] == ["exited"]
