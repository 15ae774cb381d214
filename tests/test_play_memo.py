"""A play decision is a function of its chart, the state and the event's fields the chart tests,
so `PlayChart` remembers durable_rules' answers (kamrules/playbooks/chart.py): every remembered
answer is the one durable_rules gives when asked afresh, and only a new combination is asked."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from kamrules.evaluation.facts import account_views, facts_for
from kamrules.language.loader import LoadedPack
from kamrules.model import Snapshot
from kamrules.playbooks import chart
from kamrules.playbooks.advance import Plays
from kamrules.playbooks.loader import plays_of

pytestmark = pytest.mark.skipif(chart.INTERPRET, reason="durable_rules is not installed here")


def _events(facts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Phase events as a run builds them (every play's facts), with the flags varied, and
    twins that differ only in the type of a value (True, 1, 1.0) or in a fact no chart tests."""
    out = []
    for f, cooling, done, hit in itertools.product(facts, (False, True), (False, True), (False, True)):
        e = {**{k: v for k, v in f.items() if v is not None}, "cooling": cooling,
             "all_done": done, chart.RULE_HIT: hit}
        out += [e, {**e, "is_key": 1 if e.get("is_key") else 0}, {**e, "no_chart_tests_me": 7}]
    return out


def test_remembered_decisions_are_durable_rules_answers(
        demo_snapshot: Snapshot, kam_core: LoadedPack, monkeypatch: pytest.MonkeyPatch) -> None:
    plays = Plays(plays_of([kam_core]), {kam_core.id})
    facts = [facts_for(view) for view in account_views(demo_snapshot)][:16]
    events = _events(facts)
    steps = [{"go": go, "age": age, "after_done": after, "overdue": overdue, "pending": pending}
             for go, age, after, overdue, pending in itertools.product(
                 (True,), (0, 3, 30, 400), (False, True), (-14, 0, 30), (False, True))]
    for c in plays.compiled:
        asked: list[int] = []
        raw = c.chart._durable  # noqa: SLF001 - the answer asked afresh, the reference

        def counting(ruleset: Any, state: str, event: dict[str, Any], raw: Any = raw,
                     asked: list[int] = asked) -> str | None:
            asked.append(1)
            return raw(ruleset, state, event)

        monkeypatch.setattr(c.chart, "_durable", counting)
        decided = 0
        for phase in ("active", "complete", "exited", "exiting"):
            for e in events + events[::-1]:
                assert c.chart.phase_action(phase, e) == raw(lambda c=c: c.chart.name, phase, e), (
                    c.play.id, phase, e)
                decided += 1
        for step in c.play.steps:
            for state in ("waiting", "open"):
                for e in steps + steps:
                    assert c.chart.step_action(step.id, state, e) == raw(
                        lambda step=step, c=c: c.chart.steps[step.id], state, e), (step.id, state, e)
                    decided += 1
        # the reversed pass and the fact no chart tests are never asked again
        assert 0 < len(asked) < decided / 3, (c.play.id, len(asked), decided)


def test_a_full_memo_is_emptied_and_answers_the_same(
        demo_snapshot: Snapshot, kam_core: LoadedPack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chart, "MEMO_ENTRIES", 3)
    c = Plays(plays_of([kam_core]), {kam_core.id}).compiled[0]
    facts = [facts_for(view) for view in account_views(demo_snapshot)][:10]
    for e in _events(facts) * 2:
        assert c.chart.phase_action("active", e) == c.chart._durable(  # noqa: SLF001
            lambda: c.chart.name, "active", e)
        assert len(c.chart._memo) <= 3  # noqa: SLF001


def test_a_value_the_interpretation_cannot_compare_is_still_durable_rules_answer(
        demo_snapshot: Snapshot, kam_core: LoadedPack) -> None:
    """A tested field holding text where a number is compared, or a list: the decision is not
    keyed by the tests that hold (they cannot be read), and is durable_rules' own."""
    plays = Plays(plays_of([kam_core]), {kam_core.id})
    facts = [facts_for(view) for view in account_views(demo_snapshot)][:4]
    for c in plays.compiled:
        numeric = [n for n in c.chart._reads[None]  # noqa: SLF001
                   if any(type(f.get(n)) in (int, float) for f in facts)]
        for name, odd in itertools.product(numeric[:2], ("many", [1, 2])):
            for f in facts:
                e = {**{k: v for k, v in f.items() if v is not None}, "cooling": False,
                     "all_done": False, chart.RULE_HIT: True, name: odd}
                for phase in ("active", "complete"):
                    assert c.chart.phase_action(phase, e) == c.chart._durable(  # noqa: SLF001
                        lambda c=c: c.chart.name, phase, e), (c.play.id, name, odd)
