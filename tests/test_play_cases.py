"""kam-core's play cases (rulesets/kam-core/playbooks/tests), each walking several as-of dates."""

from __future__ import annotations

import pytest

from kamrules.language.loader import builtin_dir, load_pack
from kamrules.playbooks.cases import LocatedCase, play_cases_of, run_play_case
from kamrules.playbooks.loader import load_plays

PACK = load_pack(builtin_dir() / "kam-core")
CASES = play_cases_of(PACK.directory)


@pytest.mark.parametrize("interpret", [False, True], ids=["durable", "interpreted"])
@pytest.mark.parametrize("item", CASES, ids=[c.id for c in CASES])
def test_play_case(item: LocatedCase, interpret: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """On durable_rules' statecharts and (as on Python 3.13, where it does not build) on the
    same charts interpreted: the same transitions."""
    from kamrules.playbooks import chart

    if not interpret and chart.durable is None:
        pytest.skip("durable_rules is not installed here")
    monkeypatch.setattr(chart, "INTERPRET", interpret)
    assert run_play_case(PACK, item) == []


def test_every_play_has_a_case_over_several_dates() -> None:
    walked = {c.case.play for c in CASES if len(c.case.nights) >= 3}
    assert walked == {p.id for p in load_plays(PACK)}


def test_a_wrong_expectation_fails_with_the_date() -> None:
    item = CASES[0]
    wrong = item.case.model_copy(deep=True)
    wrong.nights[0].expect = ["started"]
    errors = run_play_case(PACK, LocatedCase(item.file, item.location, wrong))
    assert errors and errors[0].startswith("2026-11-01: transitions")


def test_a_record_a_run_would_skip_fails_the_night_naming_it() -> None:
    item = CASES[0]
    odd = item.case.model_copy(deep=True)
    odd.nights[0].add = {"contacts": [{"id": "C-ODD", "account_id": "NO-SUCH", "name": "Ada"}]}
    errors = run_play_case(PACK, LocatedCase(item.file, item.location, odd))
    assert errors == [f"{odd.nights[0].as_of}: records a run would skip: contacts 'C-ODD':"
                      " refers to account 'NO-SUCH', which does not exist"]
