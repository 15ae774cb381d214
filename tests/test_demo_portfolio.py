"""The demo portfolio exercises every kam-core rule, and its stories read true."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from kamrules.connectors.local.demo import demo_portfolio
from kamrules.language.loader import LoadedPack
from kamrules.model import Snapshot
from kamrules.run.sync import evaluate
from tests.conftest import ANCHOR


def _findings_by_account(snapshot: Snapshot, pack: LoadedPack) -> dict[str, set[str]]:
    findings, evaluated = evaluate(snapshot, [pack])
    assert evaluated == {a.id for a in snapshot.accounts}
    out: dict[str, set[str]] = defaultdict(set)
    for f in findings:
        out[f.account_id].add(f.rule_id)
    return out


def test_every_rule_fires_on_the_demo_data(demo_snapshot: Snapshot, kam_core: LoadedPack) -> None:
    by_account = _findings_by_account(demo_snapshot, kam_core)
    fired = set().union(*by_account.values())
    assert fired == {r.id for r in kam_core.rules}
    key = {a.id for a in demo_snapshot.accounts if a.is_key}
    for rule in kam_core.rules:
        hit = {a for a, rules in by_account.items() if rule.id in rules}
        silent_key = key - hit
        assert silent_key, f"{rule.id} fires on every key account"
        if rule.scope == "key_accounts":
            assert hit <= key


def test_demo_stories(demo_snapshot: Snapshot, kam_core: LoadedPack) -> None:
    by_account = _findings_by_account(demo_snapshot, kam_core)
    names = {a.name: a.id for a in demo_snapshot.accounts}
    assert by_account.get(names["Nordwind Logistics"], set()) == set()  # the healthy flagship
    assert {"KAM-REL-002", "KAM-REL-004"} <= by_account[names["Baltic Foods"]]
    assert {"KAM-DO-003", "KAM-DO-001"} <= by_account[names["Ural Steelworks"]]
    assert {"KAM-PLN-003", "KAM-REL-011"} <= by_account[names["Adriatic Pharma"]]
    assert "KAM-OUT-002" in by_account[names["Danube Chemicals"]]
    assert "KAM-DONT-002" in by_account[names["Tisza Foods"]]


def test_demo_is_deterministic_and_sized() -> None:
    a = demo_portfolio(ANCHOR)
    b = demo_portfolio(ANCHOR)
    assert a == b
    assert len(a["accounts"]) == 300
    assert 35 <= sum(1 for x in a["accounts"] if x["is_key"]) <= 45
    small = demo_portfolio(ANCHOR, accounts=80)
    assert len(small["accounts"]) == 80


def test_batches_make_the_same_portfolio(anchor: date) -> None:
    from kamrules.connectors.local.demo import demo_batches

    whole = demo_portfolio(anchor, accounts=130)
    parts = list(demo_batches(anchor, accounts=130, batch=50))
    assert [len(p["accounts"]) for p in parts] == [50, 50, 30]
    assert parts[0]["users"] and not parts[1]["users"]
    for kind, rows in whole.items():
        assert [r for p in parts for r in p[kind]] == rows
