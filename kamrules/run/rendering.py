"""Task text for the changes that write or show it, rendered on every core when there are many.

`reconcile` plans with the text left pending (a kept task never needs it); the texts of the
changes that create, update or show a task (snoozed, suppressed, held) are rendered here in
one batch. A first run over 100,000 accounts renders ~45,000 finding texts into ~27,000
checklists: 2.0-2.1 s of the run's process alone (issue #18), so past PARALLEL_FROM texts they
are split over forked processes that already hold every pending text (nothing is sent to them
but a range; only the rendered strings come back). Rendering is pure, so the texts are the same
for any number of processes.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from typing import Any

from kamrules.construct import changed
from kamrules.model import Task
from kamrules.protocol.changes import Change
from kamrules.run.forking import can_fork
from kamrules.writeback.reconcile import Desired

TEXTED = frozenset({"create", "update", "snoozed", "suppressed", "held"})  # changes that show text
PARALLEL_FROM = 4000  # fewer texts: one process renders them faster than a pool starts
Render = Callable[[Desired], Task]

RENDERS = {"pools": 0}  # pools started in this process (tests and the benchmark)
# What a forked renderer renders: set in the run's process just before the pool forks.
_JOB: dict[str, Any] = {}


def with_text(changes: list[Change], desired: Sequence[Desired], render: Render,
              workers: int = 1) -> list[Change]:
    """`changes` with the subject and body of every change that shows text and whose desired
    task's text is pending; other changes as they are (same objects, same order)."""
    pending = {d.task.fingerprint: d for d in desired if d.text is not None}
    at = [i for i, c in enumerate(changes) if c.action in TEXTED and c.fingerprint in pending]
    if not at:
        return changes
    texts = render_texts([pending[changes[i].fingerprint] for i in at], render, workers)
    out = list(changes)
    for i, (subject, body) in zip(at, texts, strict=True):
        c = out[i]
        out[i] = changed(c, task=changed(c.task, subject=subject, body=body))
    return out


def render_texts(items: Sequence[Desired], render: Render, workers: int = 1) -> list[tuple[str, str]]:
    """(subject, body) of each item, in order: in this process, or split over `workers` forked
    processes when there are at least PARALLEL_FROM items and this process may fork."""
    if workers < 2 or len(items) < PARALLEL_FROM or not can_fork():
        return [_text(render(d)) for d in items]
    step = -(-len(items) // workers)
    _JOB.update(items=items, render=render)
    RENDERS["pools"] += 1
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            parts = pool.map(_render_range, [(a, min(a + step, len(items)))
                                             for a in range(0, len(items), step)])
    finally:
        _JOB.clear()
    return [text for part in parts for text in part]


def _render_range(bounds: tuple[int, int]) -> list[tuple[str, str]]:
    """In a forked renderer: the texts of items[a:b] of the job it inherited."""
    items, render = _JOB["items"], _JOB["render"]
    return [_text(render(items[i])) for i in range(*bounds)]


def _text(task: Task) -> tuple[str, str]:
    return task.subject, task.body
