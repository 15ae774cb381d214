"""Each fact's declared `reads` (the record kinds it reads besides its account) are all it
reads: computed on every demo account with every other kind withheld, it gives the value it
gives on the whole view. A run pulls of an account that is not key only the kinds such facts
read (kamrules/run/projection.py), so a kind missing here would fail that run loudly."""

from __future__ import annotations

import copy
import dataclasses
from datetime import date
from pathlib import Path

import pytest

from kamrules.connectors.local.crm import LocalCrm
from kamrules.connectors.local.demo import demo_portfolio
from kamrules.evaluation.facts import REGISTRY, account_views, portfolio_context
from kamrules.evaluation.facts.registry import VIEW_ATTRIBUTES, VIEW_KINDS
from kamrules.evaluation.facts.view import AccountView, Withheld, WithheldRead

DECLARED = sorted(name for name, spec in REGISTRY.items() if spec.reads is not None)
DAYS = (date(2026, 11, 1), date(2027, 3, 15))


@pytest.fixture(scope="module")
def views(tmp_path_factory: pytest.TempPathFactory) -> list[AccountView]:
    crm = LocalCrm(tmp_path_factory.mktemp("reads") / "crm.sqlite")
    try:
        for kind, rows in demo_portfolio(DAYS[0], accounts=300).items():
            crm.insert_records(kind, rows)
        out: list[AccountView] = []
        for day in DAYS:
            snapshot = crm.pull(day)
            out += account_views(snapshot, portfolio_context(snapshot.accounts, day))
        return out
    finally:
        crm.close()


def test_the_facts_a_run_reads_of_every_account_declare_what_they_read() -> None:
    assert len(DECLARED) >= 13


@pytest.mark.parametrize("name", DECLARED)
def test_a_fact_reads_only_the_kinds_it_declares(views: list[AccountView], name: str) -> None:
    spec = REGISTRY[name]
    hidden = VIEW_KINDS - (spec.reads or frozenset())
    seen = set()
    for view in views:
        whole = spec.func(dataclasses.replace(view, memo={}))
        narrow = dataclasses.replace(view, memo={},
                                     **{VIEW_ATTRIBUTES[k]: Withheld(k) for k in hidden})
        assert spec.func(narrow) == whole, (name, view.account.id)
        seen.add(whole)
    assert seen - {None}  # the demo accounts give it a value to compare


def test_a_withheld_kind_fails_loudly_when_read(views: list[AccountView]) -> None:
    view = dataclasses.replace(views[0], memo={}, contacts=Withheld("contacts"),
                               plan=Withheld("plans"))
    for read in (lambda: list(view.contacts), lambda: len(view.contacts),
                 lambda: bool(view.contacts), lambda: view.contacts[0],
                 lambda: view.plan.objectives):
        with pytest.raises(WithheldRead, match="contacts|plans"):
            read()
    with pytest.raises(WithheldRead):
        REGISTRY["contacts"].func(view)
    assert copy.deepcopy(view.contacts).kind == "contacts"  # protocols are not reads


def test_account_views_withhold_kinds_of_accounts_that_are_not_key_only(tmp_path: Path) -> None:
    crm = LocalCrm(tmp_path / "crm.sqlite")
    try:
        for kind, rows in demo_portfolio(DAYS[0], accounts=60).items():
            crm.insert_records(kind, rows)
        snapshot = crm.pull(DAYS[0])
    finally:
        crm.close()
    whole = {v.account.id: v for v in account_views(snapshot)}
    narrow = list(account_views(snapshot.model_copy(update={"withheld": frozenset({"contacts", "plans"})})))
    assert {v.account.is_key for v in narrow} == {True, False}
    for view in narrow:
        if view.account.is_key:
            assert view.contacts == whole[view.account.id].contacts
            assert view.plan == whole[view.account.id].plan
        else:
            assert isinstance(view.contacts, Withheld) and isinstance(view.plan, Withheld)
            assert view.deals == whole[view.account.id].deals
