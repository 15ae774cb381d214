"""Facts that share intermediate results (facts/shared.py): the same values whatever reads
first, the account's records scanned once, the disclosure text test, and bench/run's floor."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest

from bench import facts_floor
from kamrules.evaluation.engine import KEY_FACT, Engine
from kamrules.evaluation.facts import REGISTRY, account_views, derive, facts_for
from kamrules.evaluation.facts.lazy import LazyFacts
from kamrules.evaluation.facts.view import AccountView, portfolio_context
from kamrules.model import Snapshot

AS_OF = date(2026, 11, 1)


def d(days_ago: int) -> str:
    return (AS_OF - timedelta(days=days_ago)).isoformat()


def test_every_fact_is_the_same_whatever_is_computed_before_it(demo_snapshot: Snapshot) -> None:
    """A shared scan made for one fact must serve every other fact unchanged (none mutates it)."""
    names = list(REGISTRY)
    rng = random.Random(18)
    plain = [facts_for(v) for v in account_views(demo_snapshot)]
    for one, view in zip(plain, account_views(demo_snapshot), strict=True):
        rng.shuffle(names)
        facts = LazyFacts(view)
        shuffled = {n: facts[n] for n in names}
        assert shuffled == one, view.account.id
        assert facts_for(view) == one  # read again from the memo: unchanged


class CountingList(list):
    """A list that counts how often it is iterated."""

    passes = 0

    def __iter__(self):  # type: ignore[no-untyped-def]
        CountingList.passes += 1
        return super().__iter__()


def test_all_facts_of_a_key_account_scan_its_activities_a_few_times_not_once_per_fact(
        demo_snapshot: Snapshot) -> None:
    views = [v for v in account_views(demo_snapshot) if v.account.is_key and len(v.activities) > 5]
    view = views[0]
    counted = AccountView(as_of=view.as_of, account=view.account, portfolio=view.portfolio,
                          contacts=view.contacts, deals=view.deals, cases=view.cases,
                          plan=view.plan, team=view.team, surveys=view.surveys,
                          contracts=view.contracts, users=view.users,
                          activities=CountingList(view.activities))
    CountingList.passes = 0
    assert facts_for(counted) == facts_for(view)
    # 30 facts read activities; one scan serves the relationship facts (rhythm); gifts,
    # disclosures, mentions, the sponsor's and executive meetings and meetings since a win
    # each scan on their own
    first = CountingList.passes
    assert first <= 7
    facts_for(counted)
    assert CountingList.passes - first == first - 2  # the two shared scans are not repeated


def _key_facts(text: str, days_ago: int) -> dict:
    accounts = [{"id": "A", "name": "Acme", "is_key": True},
                {"id": "B", "name": "Boltworks Steel", "is_key": True}]
    acts = [{"id": "1", "account_id": "A", "type": "email", "date": d(days_ago),
             "direction": "outbound", "subject": "Update", "body": text}]
    return derive(Snapshot.model_validate({"as_of": AS_OF, "accounts": accounts, "activities": acts}))["A"]


@pytest.mark.parametrize(("text", "days_ago", "disclosed"), [
    ("BOLTWORKS steel, as you know, got a better price.", 10, 1),  # any case, punctuation
    ("Boltworks Steel " + "and " * 11 + "discount", 10, 1),  # the 12th word after the name
    ("Boltworks Steel " + "and " * 12 + "discount", 10, 0),  # the 13th
    ("price " + "and " * 11 + "Boltworks Steel", 10, 1),  # the 12th word before it
    ("Boltworks alone has a better price.", 10, 0),  # the first word of the name only
    ("Acme pays this price.", 10, 0),  # its own name
    ("Boltworks Steel, цена ниже.", 10, 1),  # a Russian term stem
    ("Boltworks Steel got a better price.", 365, 0),  # older than 365 days
    ("Boltworks Steel is a happy customer.", 10, 0),  # a reference, no terms
])
def test_disclosures_name_another_key_account_near_commercial_terms(
        text: str, days_ago: int, disclosed: int) -> None:
    facts = _key_facts(text, days_ago)
    assert facts["confidential_disclosures_365d"] == disclosed
    assert (facts["disclosure_excerpt"] is not None) == bool(disclosed)


def test_the_bench_floor_computes_the_facts_a_run_reads_exactly(demo_snapshot: Snapshot,
                                                                 kam_core) -> None:  # noqa: ANN001
    """bench/run's facts floor is a yardstick only if it computes the same values."""
    backend = Engine([kam_core], "python")._backend  # noqa: SLF001
    reads = {True: backend._reads, False: backend._general_reads}  # noqa: SLF001
    assert not facts_floor.unknown(reads[True], reads[False])
    portfolio = portfolio_context(demo_snapshot.accounts, demo_snapshot.as_of)
    fused = facts_floor.facts(demo_snapshot, portfolio)
    key = 0
    for view in account_views(demo_snapshot, portfolio):
        facts = LazyFacts(view)
        is_key = facts.get(KEY_FACT) is True
        facts.fill(reads[is_key])
        mine = fused[view.account.id]
        assert mine == dict(facts), view.account.id
        assert {n: type(v) for n, v in mine.items()} == {n: type(v) for n, v in facts.items()}
        key += is_key
    assert 0 < key < len(demo_snapshot.accounts)
