"""Texts rendered part by part (kamrules/run/rendering.py `text_parts`) let go of each part's
findings once the part is handed over, not at the last part: at a million accounts that is a
few hundred megabytes of pending texts and evidence held to the end of the writes."""

from __future__ import annotations

import os
import time
import weakref
from datetime import date

import pytest

from kamrules.construct import made
from kamrules.model import Task
from kamrules.protocol.changes import Change
from kamrules.run import rendering
from kamrules.run.rendering import text_parts
from kamrules.writeback.reconcile import Desired


class _Pending:
    """A finding's pending text (what a run keeps until the text renders)."""

    def __init__(self, i: int) -> None:
        self.i = i


def _findings(n: int) -> tuple[list[Change], list[Desired]]:
    tasks = [made(Task, fingerprint=f"kam-core/R1/ACC-{i}", account_id=f"ACC-{i}", subject="",
                  body="", due=date(2026, 11, 8), evidence={"fact": i}) for i in range(n)]
    desired = [Desired(t, "high", text=_Pending(i)) for i, t in enumerate(tasks)]
    changes = [Change(action="create", fingerprint=t.fingerprint, task=t) for t in tasks]
    return changes, desired


def _render(d: Desired) -> tuple[str, str]:
    return f"subject {d.text.i}", "body"


@pytest.mark.parametrize("processes", [0, 1, 2])
def test_a_handed_over_part_lets_go_of_its_findings(processes: int,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rendering, "PARALLEL_FROM", 1)  # 1, 2: rendered on forked processes
    changes, desired = _findings(9)
    alive = [weakref.ref(d.text) for d in desired]
    parts = text_parts(changes, desired, _render, processes=processes, part=2)
    del desired  # as the run does once it has the parts
    first, second = next(parts), next(parts)  # one text, then two (`_ranges`)
    assert [c.task.subject for c in first + second] == [f"subject {i}" for i in range(3)]
    # the first part's finding is gone once the second is asked for; the others still wait
    assert [r() is None for r in alive] == [True] + [False] * 8
    rest = [c for part in parts for c in part]
    assert [c.task.subject for c in rest] == [f"subject {i}" for i in range(3, 9)]
    assert all(r() is None for r in alive)


def test_renderers_run_at_most_a_window_of_parts_ahead(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forked renderers faster than the writer do not fill the run's process with every part:
    at most AHEAD parts a renderer are in flight beyond the one handed over; the texts are all
    there, in order."""
    monkeypatch.setattr(rendering, "PARALLEL_FROM", 1)
    monkeypatch.setitem(rendering.RENDERS, "ahead", 0)
    changes, desired = _findings(40)
    parts = list(text_parts(changes, desired, _render, processes=2, part=2))
    assert [len(p) for p in parts] == [1] + [2] * 19 + [1]
    assert [c.task.subject for part in parts for c in part] == [f"subject {i}" for i in range(40)]
    assert rendering.RENDERS["ahead"] == rendering.AHEAD * 2 + 1


def test_the_first_parts_are_smaller_so_the_writer_starts_sooner() -> None:
    assert rendering._ranges(5000, 2000) == [  # noqa: SLF001
        (0, 250), (250, 750), (750, 1750), (1750, 3750), (3750, 5000)]
    assert rendering._ranges(100, 2000) == [(0, 100)]  # noqa: SLF001
    assert rendering._ranges(0, 2000) == []  # noqa: SLF001


_PARENT = os.getpid()


def _slow_in_renderers(d: Desired) -> tuple[str, str]:
    if os.getpid() != _PARENT:  # a forked renderer slower than the writer
        time.sleep(0.01)
    return _render(d)


def test_the_writer_renders_a_part_itself_while_its_renderer_is_busy(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Waiting for a part, the run's process renders the next one not yet sent itself: the
    texts are the same and in order, and still at most the window of parts is held."""
    monkeypatch.setattr(rendering, "PARALLEL_FROM", 1)
    monkeypatch.setitem(rendering.RENDERS, "here", 0)
    monkeypatch.setitem(rendering.RENDERS, "ahead", 0)
    changes, desired = _findings(60)
    parts = list(text_parts(changes, desired, _slow_in_renderers, processes=1, part=4))
    assert [c.task.subject for part in parts for c in part] == [f"subject {i}" for i in range(60)]
    assert rendering.RENDERS["here"] >= 3
    assert rendering.RENDERS["ahead"] == rendering.AHEAD + 1
