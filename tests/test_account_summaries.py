"""The portfolio context from the local CRM's narrow account read (`pull_account_summaries`)
is the one built from whole accounts (`pull_accounts`): on the demo CRM, on rows forced past
the constraints by hand (skipped by both), and through the wrappers a run puts around it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from kamrules.connectors.local.crm import LocalCrm
from kamrules.distributed.fenced import fenced
from kamrules.evaluation.facts import portfolio_context
from kamrules.model import Account, RevenuePoint
from kamrules.protocol.connector import StreamingConnector, SummaryConnector
from kamrules.run.sync import pulled

DAY = date(2026, 11, 1)


@pytest.fixture
def crm(tmp_path: Path, demo_records: dict[str, list[dict[str, Any]]]) -> Iterator[LocalCrm]:
    crm = LocalCrm(tmp_path / "crm.sqlite")
    crm.insert_all(demo_records)
    yield crm
    crm.close()


def _same(crm: LocalCrm) -> list[str]:
    """The summaries are the whole accounts' fields, row for row, and give the same context;
    the ids read."""
    accounts = list(crm.pull_accounts(DAY))
    summaries = list(crm.pull_account_summaries(DAY))
    assert [(a.id, a.name, a.is_key, a.revenue) for a in accounts] == [tuple(s) for s in summaries]
    whole, narrow = portfolio_context(accounts, DAY), portfolio_context(summaries, DAY)
    assert narrow == whole
    assert narrow.to_json() == whole.to_json()  # the same order too (what workers are sent)
    return [s.id for s in summaries]


def test_the_demo_crm_gives_the_same_context(crm: LocalCrm) -> None:
    ids = _same(crm)
    portfolio = portfolio_context(crm.pull_accounts(DAY), DAY)
    assert len(ids) == len(portfolio.sorted_revenue) > 100
    assert portfolio.key_account_names and portfolio.name_index  # something to compare
    assert any(r > 0 for r in portfolio.sorted_revenue)


@pytest.mark.parametrize(("column", "value"), [
    ("is_key", 7), ("is_key", -1), ("customer_since", "2026-02-30"),
    ("customer_since", "01.11.2026"), ("preferred_supplier", "maybe"),
    ("regions", '"north"'), ("regions", "[1, 2]"), ("regions", "not json"),
    ("revenue", '[{"year": "soon"}]'), ("revenue", '[{"year": 2025}]'),
    ("revenue", '[{"year": 2025, "amount": 1.0, "note": "x"}]'), ("revenue", "{}"), ("revenue", "not json"),
    ("revenue", '[{"year": 2025, "amount": "NaN"}]'), ("revenue", "[1e999]"),
])
def test_a_row_forced_past_the_constraints_is_skipped_by_both(
        crm: LocalCrm, column: str, value: Any) -> None:
    crm.db.execute("PRAGMA ignore_check_constraints = ON")  # what a determined hand can do
    key = crm.db.execute('SELECT "key" FROM accounts WHERE rowid = 3').fetchone()[0]
    crm.db.execute(f'UPDATE accounts SET "{column}" = ? WHERE rowid = 3', (value,))
    ids = _same(crm)
    assert key not in ids
    assert len(ids) == crm.db.execute("SELECT COUNT(*) FROM accounts").fetchone()[0] - 1


def test_forced_values_that_still_build_are_read_alike(crm: LocalCrm) -> None:
    """Values past the constraints that `Table.build` takes as they are (it does not check
    text and number columns) are taken alike: no row skipped, the same context."""
    crm.db.execute("PRAGMA ignore_check_constraints = ON")
    crm.db.execute("UPDATE accounts SET potential = 1e999, name = '  ' WHERE rowid = 4")
    crm.db.execute("""UPDATE accounts SET revenue = '[{"year": "2025", "amount": 7}]',"""
                   " is_key = 1 WHERE rowid = 5")  # lax JSON validation, as when built
    ids = _same(crm)
    assert len(ids) == crm.db.execute("SELECT COUNT(*) FROM accounts").fetchone()[0]


def test_a_table_rebuilt_without_types_or_checks(crm: LocalCrm) -> None:
    crm.db.execute("ALTER TABLE accounts RENAME TO accounts_old")
    crm.db.execute("CREATE TABLE accounts AS SELECT * FROM accounts_old")  # no types, no checks
    crm.db.execute("DROP TABLE accounts_old")
    crm.db.execute("UPDATE accounts SET is_key = 2 WHERE rowid = 2")
    crm.db.execute("UPDATE accounts SET revenue = 5 WHERE rowid = 3")
    crm.db.execute("UPDATE accounts SET name = 42 WHERE rowid = 4")  # built as it is, by both
    ids = _same(crm)
    assert len(ids) == crm.db.execute("SELECT COUNT(*) FROM accounts").fetchone()[0] - 2


class _NoWholeAccounts(LocalCrm):
    """The local CRM with pull_accounts refused, to show which read a run takes."""

    def pull_accounts(self, as_of: date) -> Iterator[Account]:
        raise AssertionError("pull_accounts read")


def test_a_run_reads_the_summaries_and_gets_the_same_context(
        tmp_path: Path, crm: LocalCrm, demo_records: dict[str, list[dict[str, Any]]]) -> None:
    narrow = _NoWholeAccounts(tmp_path / "other.sqlite")
    narrow.insert_all(demo_records)
    assert isinstance(narrow, SummaryConnector)
    portfolio, _ = pulled(narrow, DAY)
    assert portfolio == portfolio_context(crm.pull_accounts(DAY), DAY)
    narrow.close()


def test_the_fenced_wrapper_forwards_the_summaries(crm: LocalCrm) -> None:
    wrapped = fenced(crm, lambda: None)
    assert isinstance(wrapped, SummaryConnector)
    assert list(wrapped.pull_account_summaries(DAY)) == list(crm.pull_account_summaries(DAY))
    assert pulled(wrapped, DAY)[0] == portfolio_context(crm.pull_accounts(DAY), DAY)


class _Changed:
    """A streaming wrapper that changes the accounts it hands over (every revenue doubled):
    it has no narrow read of its own, so a run must read its changed accounts. The protocol's
    methods are its own (Python 3.12+ checks protocols without `__getattr__`); the rest is
    forwarded, but not the narrow read, which would bypass the change."""

    def __init__(self, inner: LocalCrm) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        if name == "pull_account_summaries":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def pull(self, as_of: date, progress: Any = None) -> Any:
        raise AssertionError("a streaming run pulls chunks")

    def pull_chunks(self, as_of: date, size: int, progress: Any = None,
                    key_only: frozenset[str] = frozenset()) -> Any:
        return self.inner.pull_chunks(as_of, size, key_only=key_only)

    def list_tasks(self, completed_since: date) -> Any:
        return self.inner.list_tasks(completed_since)

    def apply(self, changes: Any, progress: Any = None) -> Any:
        return self.inner.apply(changes)

    def commit(self) -> None:
        self.inner.commit()

    @property
    def api_calls(self) -> int:
        return 0

    def close(self) -> None:
        self.inner.close()

    def pull_accounts(self, as_of: date) -> Iterator[Account]:
        for a in self.inner.pull_accounts(as_of):
            yield a.model_copy(update={"revenue": [
                RevenuePoint(year=p.year, amount=p.amount * 2) for p in a.revenue]})


def test_a_wrapper_without_the_narrow_read_gives_its_own_accounts_context(crm: LocalCrm) -> None:
    changed = _Changed(crm)
    assert isinstance(changed, StreamingConnector) and not isinstance(changed, SummaryConnector)
    portfolio = pulled(changed, DAY)[0]  # type: ignore[arg-type]
    assert portfolio == portfolio_context(changed.pull_accounts(DAY), DAY)
    assert portfolio.sorted_revenue == [
        2 * r for r in portfolio_context(crm.pull_accounts(DAY), DAY).sorted_revenue]
