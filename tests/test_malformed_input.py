"""Malformed CRM records and configs never crash a run nor lose a good account's findings."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kamrules.connectors.local.crm import LocalCrm
from kamrules.connectors.local.demo import demo_portfolio
from kamrules.errors import ValidationFailed
from kamrules.evaluation.engine import Engine
from kamrules.evaluation.facts import account_views, facts_for
from kamrules.language.loader import builtin_dir, load_pack
from kamrules.model import RECORD_KINDS
from kamrules.run.cleaning import clean
from kamrules.writeback.tasks import Directory, build_task
from tests.conftest import ANCHOR

BASE = demo_portfolio(ANCHOR, accounts=16)
PACK = load_pack(builtin_dir() / "kam-core")
ENGINE = Engine([PACK])
RULES = {r.id: r for r in PACK.rules}
# Rules whose facts rank or name accounts across the portfolio: another account's bad record
# may rightly change them.
PORTFOLIO_RULES = {"KAM-ID-005", "KAM-ID-006", "KAM-DONT-002"}

JUNK = st.one_of(
    st.none(), st.just(""), st.just("not-a-date"), st.just("2026-02-30"), st.just(-1),
    st.just(10**30), st.just(1e308), st.just("NaN"), st.just("inf"), st.just("\x00\x01"),
    st.just("😀" * 500), st.just("a" * 100_000), st.just([]), st.just({}), st.just(True),
    st.just("ACC-999999"), st.text(max_size=20), st.integers(), st.floats(allow_nan=True),
    st.lists(st.text(max_size=5), max_size=3),
)
KINDS = sorted(k for k in RECORD_KINDS if BASE.get(k))


@st.composite
def mutation(draw: st.DrawFn) -> tuple[str, Any]:
    kind = draw(st.sampled_from(KINDS))
    index = draw(st.integers(min_value=0, max_value=len(BASE[kind]) - 1))
    action = draw(st.sampled_from(["set", "set", "delete", "add", "duplicate"]))
    fields = sorted(BASE[kind][index]) + ["unexpected_field"]
    if action == "set":
        return action, (kind, index, draw(st.sampled_from(fields)), draw(JUNK))
    if action == "delete":
        return action, (kind, index, draw(st.sampled_from(fields[:-1])))
    if action == "add":
        record = draw(st.dictionaries(st.sampled_from(fields + ["id", "account_id"]), JUNK, max_size=6))
        if draw(st.booleans()):
            record["account_id"] = BASE["accounts"][draw(st.integers(0, len(BASE["accounts"]) - 1))]["id"]
        return action, (kind, record)
    return action, (kind, index)


def _apply(records: dict[str, list[dict[str, Any]]], mutations: list[tuple[str, Any]]) -> set[str]:
    """Apply the mutations; return the ids of the accounts they touch."""
    tainted: set[str] = set()

    def taint(kind: str, record: dict[str, Any]) -> None:
        for key in ("id", "account_id") if kind == "accounts" else ("account_id",):
            if isinstance(record.get(key), str):
                tainted.add(record[key])
        if kind == "users":
            tainted.add("*users*")

    for action, args in mutations:
        if action == "add":
            kind, record = args
            records[kind].append(record)
            taint(kind, record)
            continue
        kind, index = args[0], args[1]
        record = records[kind][index]
        taint(kind, record)
        if action == "set":
            record[args[2]] = args[3]
            taint(kind, record)
        elif action == "delete":
            record.pop(args[2], None)
        else:
            records[kind].append(copy.deepcopy(record))
    return tainted


_BASE_CRM: list[LocalCrm] = []  # the base portfolio's CRM, made once and copied per example


def _crm_holding(records: dict[str, list[dict[str, Any]]], changed: set[str]) -> LocalCrm:
    """A local CRM holding `records`: a copy of the base portfolio's, the kinds in `changed`
    written anew (writing every kind was half of an example's time)."""
    if not _BASE_CRM:
        base = LocalCrm(Path(":memory:"))
        for kind, rows in copy.deepcopy(BASE).items():
            base.insert_records(kind, rows)
        _BASE_CRM.append(base)
    crm = LocalCrm(Path(":memory:"))
    _BASE_CRM[0].db.backup(crm.db)
    for kind in sorted(changed):
        with crm.db:
            crm.db.execute(f'DELETE FROM "{kind}"')  # noqa: S608 (a record kind's table)
        crm.insert_records(kind, records[kind])
    return crm


def _findings(records: dict[str, list[dict[str, Any]]],
              changed: set[str] | None = None) -> tuple[dict[str, set[str]], int]:
    crm = _crm_holding(records, set(records) if changed is None else changed)
    snapshot = clean(crm.pull(ANCHOR))
    directory = Directory.from_snapshot(snapshot, None)
    out: dict[str, set[str]] = {}
    for view in account_views(snapshot):
        found = set()
        for f in ENGINE.findings_for(view.account.id, facts_for(view)):
            build_task(f, PACK, RULES[f.rule_id], directory, ANCHOR)  # renders the text too
            found.add(f.rule_id)
        out[view.account.id] = found
    crm.close()
    return out, len(snapshot.warnings)


BASELINE, BASE_WARNINGS = _findings(copy.deepcopy(BASE))


def test_baseline_has_findings_and_no_warnings() -> None:
    assert BASE_WARNINGS == 0
    assert sum(len(v) for v in BASELINE.values()) > 10


def test_an_example_s_changed_kinds_reach_the_crm() -> None:
    """The examples write only the kinds they changed over a copy of the base CRM: a change
    must still be what the rules see."""
    records = copy.deepcopy(BASE)
    records["contacts"] = []
    without_contacts, _ = _findings(records, {"contacts"})
    assert without_contacts != BASELINE
    assert _findings(records)[0] == without_contacts  # every kind written: the same


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations=st.lists(mutation(), min_size=1, max_size=5))
def test_malformed_records_never_crash_and_good_accounts_keep_their_findings(
    mutations: list[tuple[str, Any]]
) -> None:
    changed = {kind for _, (kind, *_rest) in mutations}
    records = {kind: copy.deepcopy(BASE[kind]) for kind in changed}  # what _apply changes
    tainted = _apply(records, mutations)
    findings, _ = _findings(records, changed)
    for account, expected in BASELINE.items():
        if account in tainted:
            continue
        assert account in findings, f"good account {account} was lost"
        assert findings[account] - PORTFOLIO_RULES == expected - PORTFOLIO_RULES, account


def _yamlish() -> st.SearchStrategy[Any]:
    keys = st.sampled_from(["crm", "type", "packs", "overrides", "params", "disable", "lifecycle",
                            "alerts", "state_dir", "kam-core", "min_contacts", "path", "seed",
                            "close_resolved", "renotify_after_days", "junk", "id", "rules"])
    scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8),
                        st.sampled_from(["local", "kam-core", "hubspot", "-1", "KAM-REL-004"]))
    return st.recursive(scalars, lambda c: st.one_of(st.lists(c, max_size=3),
                                                     st.dictionaries(keys, c, max_size=4)),
                        max_leaves=10)


@settings(max_examples=300, deadline=None)
@given(doc=_yamlish())
def test_random_configs_fail_only_with_located_problems(doc: Any, tmp_path_factory: Any) -> None:
    from kamrules.run.config import load_config, load_configured_packs

    path = tmp_path_factory.mktemp("cfg") / "kamrules.yaml"
    path.write_text(json.dumps(doc))  # JSON is YAML
    try:
        loaded = load_config(path)
        load_configured_packs(loaded)
    except ValidationFailed as exc:
        assert exc.problems and all(str(p.location).startswith(str(path)) or
                                    p.location.file for p in exc.problems)


@settings(max_examples=300, deadline=None)
@given(doc=_yamlish(), text=st.text(max_size=40))
def test_random_packs_fail_only_with_located_problems(doc: Any, text: str, tmp_path_factory: Any) -> None:
    root = tmp_path_factory.mktemp("pack")
    (root / "pack.yaml").write_text(json.dumps(doc))
    (root / "rules").mkdir()
    (root / "rules" / "a.yaml").write_text(text)
    try:
        load_pack(root)
    except ValidationFailed as exc:
        assert exc.problems
        assert all(p.location.file.startswith(str(root)) for p in exc.problems)
