"""The run's process pauses the cycle collector while it gathers and concludes
(kamrules/run/collector.py): what it made is not walked young, and garbage is still found."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from kamrules.run.collector import collector_paused


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


@pytest.fixture(autouse=True)
def _collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    assert gc.get_freeze_count() == 0, "a test left objects frozen"
    if not was:
        gc.disable()


def test_what_was_made_while_paused_joins_the_oldest_generation_unwalked() -> None:
    gc.collect()
    with collector_paused():
        assert not gc.isenabled()
        made = [[i] for i in range(50_000)]
        assert gc.get_count()[0] >= 50_000  # all young, none walked
    assert gc.isenabled() and gc.get_freeze_count() == 0
    assert gc.get_count()[0] < 1_000  # the young generation was not left to walk them
    oldest = {id(o) for o in gc.get_objects(generation=2)}
    assert id(made[0]) in oldest and id(made[-1]) in oldest


def test_a_cycle_made_while_paused_is_freed_by_a_later_full_collection() -> None:
    import weakref

    with collector_paused():
        node = Node()
        gone = weakref.ref(node)
        del node
    assert gone() is not None  # nothing collected meanwhile
    gc.collect()
    assert gone() is None


def test_nothing_is_done_beside_objects_someone_else_froze(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    gc.freeze()
    try:
        monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
        monkeypatch.setattr(gc, "unfreeze", lambda: calls.append("unfreeze"))
        with collector_paused():
            assert gc.isenabled()
        assert calls == []  # their frozen objects are not released by us
    finally:
        monkeypatch.undo()
        gc.unfreeze()


def test_an_error_inside_still_turns_the_collector_back_on() -> None:
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("boom")
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_a_process_forked_during_the_pause_collects_its_own_garbage() -> None:
    """Evaluation workers are forked while the run's process gathers with its collector
    paused; durable_rules leaves cycles in them, so theirs must be on."""
    import os

    with collector_paused():
        pid = os.fork()
        if pid == 0:  # the child: exit status says whether its collector is on
            os._exit(0 if gc.isenabled() else 1)
        _, status = os.waitpid(pid, 0)
        assert not gc.isenabled()  # still paused here
    assert os.waitstatus_to_exitcode(status) == 0
