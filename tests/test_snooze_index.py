"""Snoozes are found through an index (kamrules/run/snooze.py: `holding`): the same first snooze
as trying each active one in the file's order with `Snooze.matches`, the definition."""

from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from kamrules.run.snooze import Snooze, holding, snoozed

DAY = date(2026, 11, 1)
ACCOUNTS = st.sampled_from(["A1", "A2", "A3/step", ""])
RULES = st.sampled_from(["R1", "R2", "kam-core/R1", "other/R1", "kam-core/R2"])
FINGERPRINTS = st.builds(lambda p, r, a: f"{p}/{r}/{a}", st.sampled_from(["kam-core", "other"]),
                         st.sampled_from(["R1", "R2", "PLAY-X"]), ACCOUNTS) | st.sampled_from(
    ["kam-core", "kam-core/R1", "x/y/z/w"])


@st.composite
def snoozes(draw: st.DrawFn) -> Snooze:
    account, rule = draw(st.sampled_from(["A1", "A2", "A3/step", None])), draw(RULES | st.none())
    if account is None and rule is None:
        rule = "R1"
    until = draw(st.sampled_from([date(2026, 10, 31), DAY, date(2027, 1, 1)]))
    return Snooze(account=account, rule=rule, reason=f"{account}|{rule}|{until}",
                  requested_by="me", until=until)


@settings(max_examples=300, deadline=None)
@given(st.lists(snoozes(), max_size=12), st.lists(FINGERPRINTS, max_size=20))
def test_the_index_finds_the_first_matching_active_snooze(found: list[Snooze], fps: list[str]) -> None:
    active = [s for s in found if s.active(DAY)]
    expected = {fp: hit for fp in fps
                if (hit := next((s for s in active if s.matches(fp)), None)) is not None}
    assert holding(fps, found, DAY) == expected
    assert snoozed(fps, found, DAY) == {fp: s.describe() for fp, s in expected.items()}
