"""What validates, runs: generated packs at and beyond every durable_rules table limit.

durable_rules 2.0.28 has fixed tables (src/rules/rules.h, state.h, events.c): 256 rules after one
test (error 108), 128 `$nex` tests (107), 512 next tests (106), 64 pending tests while matching
(303), 255 message properties. Before the engine split rulesets and turned `in` lists into
membership facts, 256 rules failed, a 512-value `in` list hung `plan` and a few 20-value lists in
one `all` failed. Each case here runs on both engines and agrees with the reference evaluator;
the one language limit left (alternatives per rule) is refused by `validate` with the limit named.
"""

from __future__ import annotations

import json
import random
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from kamrules.evaluation.engine import Engine, durable_problem
from kamrules.language.conditions import MAX_CONJUNCTIONS
from kamrules.language.loader import LoadedPack
from kamrules.language.pack import Rule
from tests import kamrules_process
from tests.reference import holds

INTS = ["contacts", "departments", "team_size", "open_cases", "touches_90d", "decision_makers",
        "region_count", "team_functions", "risk_measures", "won_deals_12m", "open_deals",
        "days_since_touch"]
KINDS = [
    "python",
    pytest.param("durable", marks=pytest.mark.skipif(
        durable_problem() is not None, reason=f"durable_rules only: {durable_problem()}")),
]


def _rules(whens: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"id": f"GEN-{i:04d}", "title": "generated", "severity": "low", "rationale": "limits",
             "scope": "all_accounts", "when": w, "task": {"subject": "s", "body": "b"}}
            for i, w in enumerate(whens)]


def _pack(whens: list[dict[str, Any]]) -> LoadedPack:
    rules = [Rule.model_validate(r) for r in _rules(whens)]
    return LoadedPack(id="gen", version="1", description="d", directory=Path("."), params={},
                      values={}, rules=rules, lifecycle=None)  # type: ignore[arg-type]


def _none_of(n: int) -> dict[str, Any]:
    """`not any` of n comparisons: 2**n alternatives (each negated comparison may be unknown)."""
    return {"not": {"any": [{"fact": INTS[i], "gt": 1} for i in range(n)]}}


CASES: dict[str, list[dict[str, Any]]] = {
    "255 rules": [{"fact": "contacts", "lt": i % 7} for i in range(255)],
    "256 rules (was error 108)": [{"fact": "contacts", "lt": i % 7} for i in range(256)],
    "1000 identical rules": [{"fact": "contacts", "lt": 3}] * 1000,
    "1000 rules all holding at once (was error 303)": [{"fact": "contacts", "lt": 10**6 + i}
                                                       for i in range(1000)],
    "300 unknown-fact tests (was error 107)": [{"fact": INTS[i % len(INTS)], "exists": False}
                                               for i in range(300)],
    "in list of 511": [{"fact": "contacts", "in": list(range(511))}],
    "in list of 512 (hung plan)": [{"fact": "contacts", "in": list(range(512))}],
    "in list of 10000": [{"fact": "contacts", "in": list(range(0, 20000, 2))}],
    "not_in list of 5000": [{"fact": "contacts", "not_in": list(range(5000))}],
    "six 50-value lists in one all (was error 106)": [
        {"all": [{"fact": f, "in": list(range(k, 50 + k))} for k, f in enumerate(INTS[:6])]}],
    "100 rules with 3 lists each": [
        {"all": [{"fact": INTS[(i + j) % len(INTS)], "in": list(range(i, i + 30))} for j in range(3)]}
        for i in range(100)],
    f"{MAX_CONJUNCTIONS} alternatives (at the limit)": [
        {"any": [{"fact": "contacts", "eq": i} for i in range(MAX_CONJUNCTIONS)]}],
    "2**8 alternatives from not-any": [_none_of(8)],
    "40 tests in one all": [{"all": [{"fact": INTS[i % len(INTS)], "gt": -i} for i in range(40)]}],
}


def _accounts(n: int, seed: int = 7) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    return [{f: rnd.choice([None, rnd.randint(-1, 12), rnd.randint(0, 600)]) for f in INTS}
            for _ in range(n)]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", list(CASES))
def test_engine_runs_packs_at_and_beyond_each_limit(case: str, kind: str) -> None:
    pack = _pack(CASES[case])
    start = time.perf_counter()
    engine = Engine([pack], kind)
    for facts in _accounts(150):
        expected = sorted(f"gen|{r.id}" for r in pack.rules if holds(r.when, facts, {}))
        assert engine.matches(facts) == expected, (case, facts)
    assert time.perf_counter() - start < 60


def _write_pack(folder: Path, whens: list[dict[str, Any]]) -> Path:
    folder.mkdir(parents=True)
    header = {"id": "gen", "version": "1.0", "description": "generated", "rules": _rules(whens)}
    (folder / "pack.yaml").write_text(json.dumps(header))  # JSON is YAML
    return folder


def _cli(cwd: Path, *args: str, engine: str = "") -> subprocess.CompletedProcess[str]:
    env = kamrules_process.environment(KAMRULES_ENGINE=engine)
    return kamrules_process.run(args, cwd=cwd, env=env, timeout=120)


@pytest.mark.parametrize("kind", KINDS)
def test_a_pack_with_every_large_shape_validates_and_plans(tmp_path: Path, kind: str) -> None:
    # each shape past an old limit, with rarely-true tests: the run's cost stays the engine's
    whens = ([{"fact": "contacts", "eq": 1000 + i} for i in range(300)]
             + [{"fact": INTS[i % len(INTS)], "exists": False} for i in range(300)]
             + CASES["in list of 512 (hung plan)"] + CASES["in list of 10000"]
             + CASES["six 50-value lists in one all (was error 106)"]
             + CASES[f"{MAX_CONJUNCTIONS} alternatives (at the limit)"]
             + CASES["2**8 alternatives from not-any"] + CASES["40 tests in one all"])
    _write_pack(tmp_path / "big", whens)
    (tmp_path / "kamrules.yaml").write_text(
        f"crm: {{type: local, seed: demo}}\npacks: [big]\nengine: {kind}\n")
    assert _cli(tmp_path, "validate").returncode == 0
    start = time.perf_counter()
    plan = _cli(tmp_path, "plan", "--as-of", "2026-11-01", "--json")
    assert plan.returncode == 0, plan.stderr
    assert time.perf_counter() - start < 60
    report = json.loads(plan.stdout)
    assert report["engine"] == kind and report["findings"] > 0


@pytest.mark.parametrize("when", [
    {"any": [{"fact": "contacts", "eq": i} for i in range(MAX_CONJUNCTIONS + 1)]},
    _none_of(9),  # 512
    {"all": [{"any": [{"fact": f, "eq": 1}, {"fact": f, "eq": 2}]} for f in INTS]},  # 4096
], ids=["any of 257", "not any of 9", "all of 12 any-pairs"])
def test_validate_refuses_a_condition_past_the_limit_and_names_it(tmp_path: Path,
                                                                  when: dict[str, Any]) -> None:
    _write_pack(tmp_path / "big", [{"fact": "contacts", "lt": 2}, when])
    (tmp_path / "kamrules.yaml").write_text("packs: [big]\n")
    for command in (["validate"], ["plan", "--as-of", "2026-11-01"]):
        proc = _cli(tmp_path, *command)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert f"more than {MAX_CONJUNCTIONS} alternatives" in proc.stderr
        assert "GEN-0001" in proc.stderr and "pack.yaml" in proc.stderr
        assert "GEN-0000" not in proc.stderr
