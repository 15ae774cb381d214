"""The local CRM's chunk frozen from the cycle collector while it is used, on by default
(connectors/local/collector.py, issue #18): the collector does not walk a held chunk (nor
anything else alive when it was frozen), walks it all again once the pull ends or is closed, and
frees the consumer's cyclic garbage before it could be frozen with the next chunk."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from kamrules.connectors.local import collector
from kamrules.connectors.local.crm import LocalCrm
from kamrules.connectors.local.demo import demo_portfolio

DAY = date(2026, 11, 1)


@pytest.fixture(scope="module")
def crm_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("freeze") / "crm.sqlite"
    crm = LocalCrm(path)
    crm.insert_all(demo_portfolio(DAY, accounts=120))
    crm.close()
    return path


@pytest.fixture
def crm(crm_file: Path) -> Iterator[LocalCrm]:
    crm = LocalCrm(crm_file)
    yield crm
    crm.close()


@pytest.fixture(autouse=True)
def collector_as_a_run_has_it() -> Iterator[None]:
    """The collector on, with the CLI's thresholds, and nothing frozen by anyone else."""
    was, thresholds = gc.isenabled(), gc.get_threshold()
    assert gc.get_freeze_count() == 0
    gc.enable()
    gc.set_threshold(100_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        if not was:
            gc.disable()
        left = gc.get_freeze_count()
        gc.unfreeze()  # so that one failure does not fail every later test
    assert left == 0, "a pull left objects frozen"


def _walked(*objects: Any) -> list[bool]:
    """For each object, whether the collector's generations hold it (frozen ones are not)."""
    tracked = {id(o) for o in gc.get_objects()}
    return [id(o) in tracked for o in objects]


class _Node:
    """A reference cycle: only the cycle collector frees it."""

    def __init__(self) -> None:
        self.me = self


def _cyclic_garbage() -> weakref.ref[_Node]:
    return weakref.ref(_Node())


def test_freezing_is_on_by_default_and_a_held_chunk_is_not_walked(crm: LocalCrm) -> None:
    assert collector.FREEZE is True
    chunks = crm.pull_chunks(DAY, 40)
    first = next(chunks)
    account, contact = first.accounts[0], first.contacts[0]
    assert gc.is_tracked(account) and gc.is_tracked(contact)
    assert gc.get_freeze_count() > 0
    assert _walked(account, contact, first) == [False, False, False]
    second = next(chunks)
    # everything alive when a chunk is held is frozen with it: the first, still referenced here,
    # too (reference counting frees an acyclic chunk, frozen or not, once it is dropped)
    assert _walked(second.accounts[0], account) == [False, False]
    rest = list(chunks)
    assert rest and gc.get_freeze_count() == 0
    assert all(_walked(account, contact, first, second.accounts[0], rest[-1].accounts[0]))


def test_a_pull_closed_early_leaves_nothing_frozen(crm: LocalCrm) -> None:
    chunks = crm.pull_chunks(DAY, 40)
    held = next(chunks)
    chunks.close()
    assert gc.get_freeze_count() == 0 and _walked(held.accounts[0]) == [True]


def test_the_consumers_cyclic_garbage_is_freed_before_the_next_chunk_is_frozen(
        crm: LocalCrm) -> None:
    chunks = crm.pull_chunks(DAY, 40)
    next(chunks)
    garbage = _cyclic_garbage()  # what evaluating a chunk leaves (durable_rules' closures)
    assert garbage() is not None  # the collector has not run: thresholds are high
    next(chunks)
    # not frozen with the next chunk, to wait in the oldest generation once unfrozen
    assert garbage() is None
    chunks.close()


def test_a_readers_chunk_is_frozen_until_the_next_or_until_it_closes(crm: LocalCrm) -> None:
    plan = crm.chunk_plan(DAY, 40)
    assert plan is not None and len(plan.chunks) >= 3
    reader = crm.reader()
    try:
        one = reader.pull_chunk(DAY, plan.chunks[0], plan.users)
        assert gc.get_freeze_count() > 0 and _walked(one.accounts[0]) == [False]
        garbage = _cyclic_garbage()
        two = reader.pull_chunk(DAY, plan.chunks[1], plan.users)
        assert garbage() is None
        assert _walked(two.accounts[0]) == [False]
    finally:
        reader.close()
    assert gc.get_freeze_count() == 0 and all(_walked(one.accounts[0], two.accounts[0]))


def test_nothing_is_frozen_when_the_collector_is_off(crm: LocalCrm) -> None:
    gc.disable()
    try:
        for chunk in crm.pull_chunks(DAY, 40):
            assert gc.get_freeze_count() == 0 and _walked(chunk.accounts[0]) == [True]
    finally:
        gc.enable()


def test_nothing_is_frozen_when_freezing_is_turned_off(
        crm: LocalCrm, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(collector, "FREEZE", False)
    for chunk in crm.pull_chunks(DAY, 40):
        assert gc.get_freeze_count() == 0 and _walked(chunk.accounts[0]) == [True]
