"""Both engines (durable_rules, compiled Python) and the reference evaluator agree on random
rules and facts; durable_rules cases skip where it does not import (Python 3.13)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kamrules.evaluation import engine as engine_module
from kamrules.evaluation.engine import Engine, EngineUnavailable, durable_problem, resolve
from kamrules.language.conditions import MAX_CONJUNCTIONS, TooComplex, alternatives, dnf
from kamrules.language.loader import LoadedPack
from kamrules.language.pack import AllCondition, AnyCondition, FactCondition, NotCondition, ParamRef, Rule
from kamrules.writeback.reconcile import Policy  # noqa: F401  (import check: core modules load together)
from tests.reference import holds

# A small fact universe: two ints, a float, a flag and a text, each sometimes missing.
NUMS = st.integers(min_value=-3, max_value=3)
FLOATS = st.sampled_from([-1.5, 0.0, 0.5, 2.25, 3.0, 1e-05, -2e-07, 1e20])  # exponent notation too
TEXTS = st.sampled_from(["a", "b", "c"])
FACT_VALUES = {"n1": NUMS, "n2": NUMS, "f1": FLOATS, "b1": st.booleans(), "s1": TEXTS}
PARAMS = {"p_num": 1, "p_list": ["a", "c"]}
KINDS = ["python"] + (["durable"] if durable_problem() is None else [])
ENGINE_KINDS = [
    "python",
    pytest.param("durable", marks=pytest.mark.skipif(
        durable_problem() is not None, reason=f"durable_rules only: {durable_problem()}")),
]


def _leaf() -> st.SearchStrategy[FactCondition]:
    numeric = st.tuples(
        st.sampled_from(["n1", "n2", "f1"]),
        st.sampled_from(["eq", "ne", "lt", "le", "gt", "ge"]),
        st.one_of(NUMS, FLOATS, st.just(ParamRef(param="p_num"))),
    )
    flag = st.tuples(st.just("b1"), st.sampled_from(["eq", "ne"]), st.booleans())
    text = st.tuples(st.just("s1"), st.sampled_from(["eq", "ne"]), TEXTS)
    member = st.tuples(
        st.just("s1"), st.sampled_from(["in", "not_in"]),
        st.one_of(st.lists(TEXTS, min_size=0, max_size=3), st.just(ParamRef(param="p_list"))),
    )
    exists = st.tuples(st.sampled_from(sorted(FACT_VALUES)), st.just("exists"), st.booleans())

    def build(t: tuple[str, str, Any]) -> FactCondition:
        fact, op, value = t
        return FactCondition.model_validate({"fact": fact, op: value})

    return st.one_of(numeric, flag, text, member, exists).map(build)


CONDITIONS = st.recursive(
    _leaf(),
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=3).map(lambda cs: AllCondition(all=cs)),
        st.lists(children, min_size=1, max_size=3).map(lambda cs: AnyCondition(any=cs)),
        children.map(lambda c: NotCondition.model_validate({"not": c})),
    ),
    max_leaves=6,
)
FACTS = st.fixed_dictionaries(
    {name: st.one_of(st.none(), values) for name, values in FACT_VALUES.items()}
)


def _pack(conditions: list[Any]) -> LoadedPack:
    rules = [
        Rule.model_validate({
            "id": f"PROP-{i:03d}", "title": "random", "severity": "low", "rationale": "random",
            "scope": "all_accounts", "when": cond,
            "task": {"subject": "s", "body": "b"},
        })
        for i, cond in enumerate(conditions)
    ]
    return LoadedPack(id="prop", version="1", description="random", directory=Path("."),
                      params={}, values=dict(PARAMS), rules=rules, lifecycle=None)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    conditions=st.lists(CONDITIONS, min_size=1, max_size=4),
    accounts=st.lists(FACTS, min_size=1, max_size=8),
)
def test_engines_agree_with_reference(conditions: list[Any], accounts: list[dict[str, Any]]) -> None:
    pack = _pack(conditions)
    engines = [Engine([pack], kind) for kind in KINDS]
    for facts in accounts:
        expected = sorted(
            f"prop|{rule.id}" for rule in pack.rules if holds(rule.when, facts, PARAMS)
        )
        for engine in engines:
            assert engine.matches(facts) == expected, (engine.name, facts, [r.when for r in pack.rules])


@settings(max_examples=300, deadline=None)
@given(condition=CONDITIONS)
def test_alternatives_counts_what_dnf_builds(condition: Any) -> None:
    """`validate` counts a condition's alternatives without expanding it; the count is exact."""
    count = alternatives(condition)
    if count <= MAX_CONJUNCTIONS:
        assert count == len(dnf(condition, PARAMS))
    else:
        with pytest.raises(TooComplex):
            dnf(condition, PARAMS)


def test_auto_picks_durable_where_it_imports_else_python(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAMRULES_ENGINE", raising=False)
    assert resolve() == ("durable" if durable_problem() is None else "python")
    assert resolve("python") == "python"
    monkeypatch.setenv("KAMRULES_ENGINE", "python")
    assert resolve() == resolve("auto") == "python"
    monkeypatch.setattr(engine_module, "durable_problem", lambda: "durable_rules does not import (test)")
    monkeypatch.delenv("KAMRULES_ENGINE")
    assert resolve() == "python"
    with pytest.raises(EngineUnavailable, match="engine: python"):
        resolve("durable")


@pytest.mark.parametrize("kind", ENGINE_KINDS)
def test_key_account_scope_limits_rules_to_key_accounts(kind: str) -> None:
    rule = Rule.model_validate({
        "id": "SCOPE-001", "title": "t", "severity": "low", "rationale": "r",
        "when": {"fact": "n1", "gt": 0}, "task": {"subject": "s", "body": "b"},
    })
    pack = LoadedPack(id="scope", version="1", description="d", directory=Path("."), params={},
                      values={}, rules=[rule], lifecycle=None)  # type: ignore[arg-type]
    engine = Engine([pack], kind)
    assert engine.matches({"is_key": True, "n1": 1}) == ["scope|SCOPE-001"]
    assert engine.matches({"is_key": False, "n1": 1}) == []
    assert engine.matches({"n1": 1}) == []


@pytest.mark.parametrize("kind", ENGINE_KINDS)
def test_every_account_sees_every_rule_and_nothing_leaks_between_accounts(kind: str) -> None:
    """Facts, not events: two rules matching one account both fire; the next account starts clean."""
    rules = [
        Rule.model_validate({
            "id": f"MANY-{i:03d}", "title": "t", "severity": "low", "rationale": "r",
            "scope": "all_accounts", "when": {"fact": "n1", "ge": i},
            "task": {"subject": "s", "body": "b"},
        })
        for i in range(30)
    ]
    pack = LoadedPack(id="many", version="1", description="d", directory=Path("."), params={},
                      values={}, rules=rules, lifecycle=None)  # type: ignore[arg-type]
    engine = Engine([pack], kind)
    for n in (29, 0, 5, 29, -1):
        assert len(engine.matches({"n1": n})) == max(n + 1, 0)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conditions=st.lists(CONDITIONS, min_size=1, max_size=4), facts=FACTS,
       odd=st.sampled_from([float("nan"), float("inf"), float("-inf")]))
def test_a_non_finite_number_is_unknown_to_both_engines(
        conditions: list[Any], facts: dict[str, Any], odd: float) -> None:
    """durable_rules cannot carry NaN or infinity, so both engines read it as an unknown fact."""
    pack = _pack(conditions)
    expected = sorted(f"prop|{r.id}" for r in pack.rules if holds(r.when, {**facts, "f1": None}, PARAMS))
    for kind in KINDS:
        assert Engine([pack], kind).matches({**facts, "f1": odd}) == expected, kind


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conditions=st.lists(CONDITIONS, min_size=1, max_size=4),
       accounts=st.lists(FACTS, min_size=1, max_size=12), entries=st.sampled_from([1, 2, 50_000]))
def test_accounts_whose_facts_repeat_get_the_reference_answer(
        conditions: list[Any], accounts: list[dict[str, Any]], entries: int) -> None:
    """One engine over accounts whose facts repeat, as most accounts' do: durable_rules answers
    a message it has answered before from its memo (emptied when full: `entries`), and every
    answer is still the reference's; True, 1 and 1.0 stay apart in it."""
    if durable_problem() is not None:
        pytest.skip(f"durable_rules only: {durable_problem()}")
    from kamrules.evaluation import engine_durable

    pack = _pack(conditions)
    twins = [{**f, "n1": v} for f in accounts[:2] for v in (True, 1, 1.0)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(engine_durable, "MEMO_ENTRIES", entries)
        engine = Engine([pack], "durable")
        for facts in [*accounts, *twins, *reversed(accounts), *twins]:
            expected = sorted(f"prop|{r.id}" for r in pack.rules if holds(r.when, facts, PARAMS))
            assert engine.matches(facts) == expected, (facts, [r.when for r in pack.rules])
    memos = [r.memo for r in engine._backend._rulesets if r.memo is not None]  # noqa: SLF001
    assert memos and all(len(m) <= entries for m in memos)
