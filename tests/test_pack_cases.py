"""kam-core's own YAML cases, collected by pytest on both engines, and proof that they pin
every threshold."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kamrules.evaluation.engine import Engine, durable_problem
from kamrules.language.docs import pack_markdown
from kamrules.language.loader import builtin_dir, load_pack
from kamrules.language.packtest import PackCase, case_facts, cases_of, run_case, run_cases, with_params

PACK_DIR = builtin_dir() / "kam-core"
CASES = cases_of(PACK_DIR)
PRINCIPLES = Path(__file__).resolve().parents[2] / "shared" / "kam" / "PRINCIPLES.md"


ENGINES = [
    "python",
    pytest.param("durable", marks=pytest.mark.skipif(
        durable_problem() is not None, reason=f"durable_rules only: {durable_problem()}")),
]


@pytest.mark.parametrize("kind", ENGINES)
@pytest.mark.parametrize("item", CASES, ids=[c.id for c in CASES])
def test_case(item: PackCase, kind: str) -> None:
    pack = load_pack(PACK_DIR)
    engine = Engine([with_params(pack, item.case.params)], kind)
    errors = run_case(pack, item, engine)
    assert not errors, f"{item.location}: " + "; ".join(errors)


def test_every_rule_has_a_firing_and_a_silent_case() -> None:
    pack = load_pack(PACK_DIR)
    for rule in pack.rules:
        fires = [c for c in CASES if rule.id in c.case.fires]
        silent = [c for c in CASES if rule.id in c.case.silent]
        assert fires and silent, rule.id
        assert len(fires) + len(silent) >= 2


@pytest.mark.parametrize("kind", ENGINES)
def test_changing_any_threshold_by_one_breaks_a_case(kind: str) -> None:
    pack = load_pack(PACK_DIR)
    facts = {c.id: case_facts(c) for c in CASES}
    numeric = {n: v for n, v in pack.values.items()
               if isinstance(v, int | float) and not isinstance(v, bool)}
    assert len(numeric) >= 30
    unpinned = []
    for name, value in sorted(numeric.items()):
        for delta in (-1, 1):
            mutated = with_params(pack, {name: value + delta})
            if not any(errors for _, errors in run_cases(mutated, CASES, facts, kind)):
                unpinned.append(f"{name}{delta:+d}")
    assert unpinned == []


def test_every_principle_is_enforced_by_a_rule() -> None:
    pack = load_pack(PACK_DIR)
    cited = {p for r in pack.rules for p in r.principles}
    assert cited == {f"P{i:02d}" for i in range(1, 44)}
    if PRINCIPLES.is_file():
        listed = set(re.findall(r"^\| (P\d\d) \|", PRINCIPLES.read_text(), re.M))
        assert listed <= cited


def test_generated_readme_is_current() -> None:
    pack = load_pack(PACK_DIR)
    committed = (PACK_DIR / "README.md").read_text()
    assert committed == pack_markdown(pack), (
        "rulesets/kam-core/README.md is stale: run "
        "`kamrules rules kam-core --format markdown > rulesets/kam-core/README.md`"
    )


def test_kamrules_test_command_reports_and_fails_on_a_broken_case(tmp_path: Path) -> None:
    import shutil
    import subprocess
    import sys

    copy = tmp_path / "kam-core"
    shutil.copytree(PACK_DIR, copy)
    root = Path(__file__).resolve().parent.parent
    env = {"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}
    ok = subprocess.run([sys.executable, "-m", "kamrules", "test", str(copy)], capture_output=True,
                        text=True, env=env, cwd=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert f"kam-core: {len(CASES)} cases, {len(CASES)} passed" in ok.stdout
    on_python = subprocess.run([sys.executable, "-m", "kamrules", "test", "--engine", "python",
                                str(copy)], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert on_python.returncode == 0, on_python.stdout + on_python.stderr
    rules = copy / "rules" / "relationship.yaml"
    rules.write_text(rules.read_text().replace("{param: min_contacts}", "4"))
    bad = subprocess.run([sys.executable, "-m", "kamrules", "test", str(copy)], capture_output=True,
                         text=True, env=env, cwd=tmp_path)
    assert bad.returncode == 1
    assert "FAIL" in bad.stdout and "KAM-REL-004 should fire but does not" in bad.stdout


def test_case_params_are_checked_as_config_overrides_are() -> None:
    """A case's `params` of the wrong kind fail the case naming the param: text was compared as
    it was (the case failed for another reason), a list failed to compile (exit 5)."""
    pack = load_pack(PACK_DIR)
    item = CASES[0]
    for value, message in (("five", "'five'"), ([5], "[5]")):
        case = item.case.model_copy(update={"params": {"min_contacts": value}})
        odd = PackCase(item.pack_dir, item.file, item.location, case, item.as_of, item.records)
        for errors in (run_case(pack, odd), run_cases(pack, [odd])[0][1]):
            assert errors == [f"param 'min_contacts' takes a value like 5, got {message}"]


def test_records_a_run_would_skip_fail_the_case_naming_them() -> None:
    """A contact of a misspelt account, or an id given twice, is left out by a run with a
    warning; a case passed or failed without it, its author none the wiser."""
    pack = load_pack(PACK_DIR)
    item = next(c for c in CASES if c.records.get("contacts"))
    first = item.records["contacts"][0]
    for extra, message in (
            ({**first, "id": "C-ODD", "account_id": "NO-SUCH"},
             "contacts 'C-ODD': refers to account 'NO-SUCH', which does not exist"),
            ({**first, "name": "Someone Else"},
             f"contacts {first['id']!r}: duplicate id; the first one is used")):
        records = {**item.records, "contacts": [*item.records["contacts"], extra]}
        odd = PackCase(item.pack_dir, item.file, item.location, item.case, item.as_of, records)
        errors = run_case(pack, odd)
        assert errors == [f"records a run would skip: {message} (at {item.location})"]
    assert run_case(pack, item) == []


def test_expected_evidence_the_rule_does_not_read_is_named_not_compared_with_null() -> None:
    """`evidence: {KAM-REL-004: {contact: 2}}` failed as "evidence {contact: null}, expected
    {contact: 2}": the misspelt (or unread) fact is named, with what the rule's evidence has."""
    pack = load_pack(PACK_DIR)
    item = next(c for c in CASES if c.case.evidence)
    rule, expected = next(iter(item.case.evidence.items()))
    name = next(iter(expected))
    for wrong, hint in ((name[:-1], f" (did you mean {name!r}?)"), ("potential_xyz", "")):
        case = item.case.model_copy(update={"evidence": {rule: {**expected, wrong: 1}}})
        odd = PackCase(item.pack_dir, item.file, item.location, case, item.as_of, item.records)
        errors = run_case(pack, odd)
        assert len(errors) == 1 and errors[0].startswith(
            f"{rule}'s evidence has no {wrong!r}{hint}; it has: "), errors
        assert name in errors[0].split("it has: ")[1]
    assert run_case(pack, item) == []


def test_evidence_for_a_rule_not_in_fires_shows_the_fires_list() -> None:
    """A typo in `fires` shows as evidence for a rule "not in fires": the list is shown beside."""
    from pydantic import ValidationError

    from kamrules.language.packtest import Case

    with pytest.raises(ValidationError) as caught:
        Case.model_validate({"name": "n", "fires": ["KAM-REL-04"],
                             "evidence": {"KAM-REL-004": {"contacts": 2}}})
    assert ("evidence given for rules not in fires: ['KAM-REL-004'] (fires: ['KAM-REL-04'])"
            in str(caught.value))
