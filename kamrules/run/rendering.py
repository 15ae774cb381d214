"""Task text for the changes that write or show it, rendered on the other cores when there are
many, in parts that a run writes as they come.

`reconcile` plans with the text left pending (a kept task never needs it); the texts of the
changes that create, update or show a task (snoozed, suppressed, held) are rendered here. A
first run over 100,000 accounts renders ~45,000 finding texts into ~27,000 checklists: 2.0-2.1 s
of the run's process alone (issue #18), so past PARALLEL_FROM texts they are split over forked
processes that already hold every pending text (nothing is sent to them but ranges; only the
rendered strings come back). The changes come back in parts of up to PART texts, in order, so
a run can write one part while the next ones render (kamrules/run/sync.py) on the cores it
leaves them (`renderers`). Rendering is pure: the texts are the same for any number of
processes and any part size.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.pool import AsyncResult
from typing import Any

from kamrules.protocol.changes import Change
from kamrules.run.forking import can_fork
from kamrules.writeback.reconcile import Desired

TEXTED = frozenset({"create", "update", "snoozed", "suppressed", "held"})  # changes that show text
PARALLEL_FROM = 4000  # fewer texts: one process renders them faster than a pool starts
PART = 2000  # texts per part
Render = Callable[[Desired], tuple[str, str]]  # a desired task's subject and body
Prepare = Callable[[], None]  # what renderers inherit, made before they fork
Range = tuple[int, int]

# pools started in this process, the last one's renderers, the most parts ever rendering or
# rendered and not yet handed over, and the parts this process rendered beside its renderers
# (tests and the benchmark)
RENDERS = {"pools": 0, "processes": 0, "ahead": 0, "here": 0}
AHEAD = 2  # parts per renderer in flight beyond the one handed over
# What a forked renderer renders: set in the run's process just before the pool forks.
_JOB: dict[str, Any] = {}


def renderers(cores: int, writing: bool) -> int:
    """Forked renderers for a run on `cores` processes: one core is the writer's when the run
    writes each part as it comes (a third process on two cores made the texts and writes of
    100,000 accounts slower, not faster); none on one core."""
    return max(cores - 1, 0) if writing else (cores if cores > 1 else 0)


def text_parts(changes: list[Change], desired: Sequence[Desired], render: Render,
               processes: int = 0, part: int | None = None,
               prepare: Prepare | None = None) -> Iterator[list[Change]]:
    """`changes` in consecutive parts, in order, with the subject and body of every change
    that shows text and whose desired task's text is pending set on its task (others as they
    are), at most `part` (default PART) texts a part (the first ones fewer: `_ranges`); on
    `processes` forked renderers (none: here) past PARALLEL_FROM texts, each part handed over
    as soon as its texts are back. `changes` is used up: a part's entries become None once it
    is handed over, and what rendered it is let go (at a million accounts a gigabyte a run
    writing part by part would otherwise hold to the end). `prepare`: called before the
    renderers fork (what it makes, such as compiled templates, they inherit)."""
    pending = {d.task.fingerprint: d for d in desired if d.text is not None}
    at = [i for i, c in enumerate(changes) if c.action in TEXTED and c.fingerprint in pending]
    if not at:
        if changes:
            yield list(changes)
            changes[:] = [None] * len(changes)  # type: ignore[list-item]
        return
    items = [pending[changes[i].fingerprint] for i in at]
    # the caller lets go of `desired`: so do we, or every finding (texts pending, evidence)
    # would live to the last part, not to its own
    del pending, desired
    start = 0
    for (a, b), texts in _rendered(items, render, processes, part or PART, prepare):
        end = at[b - 1] + 1 if b < len(at) else len(changes)
        out = changes[start:end]
        for i, (subject, body) in zip(at[a:b], texts, strict=True):
            # the task is the run's own (its finding's, or reconcile's copy for an update), in
            # this change alone: its text is set in place (two copies a text were ~0.15 s of
            # the writer's time at 100,000 accounts)
            task = out[i - start].task
            task.subject, task.body = subject, body
        yield out
        changes[start:end] = [None] * (end - start)  # type: ignore[list-item]
        items[a:b] = [None] * (b - a)  # type: ignore[list-item]
        start = end


def _rendered(items: Sequence[Desired], render: Render, processes: int, part: int,
              prepare: Prepare | None) -> Iterator[tuple[Range, list[tuple[str, str]]]]:
    ranges = _ranges(len(items), part)
    if processes < 1 or len(items) < PARALLEL_FROM or not can_fork():
        for bounds in ranges:
            yield bounds, [render(items[i]) for i in range(*bounds)]
        return
    if prepare is not None:
        prepare()
    _JOB.update(items=items, render=render)
    RENDERS["pools"] += 1
    RENDERS["processes"] = processes
    try:
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            # a window of parts ahead of the one handed over: renderers faster than the writer
            # would otherwise fill this process with every rendered part (at 10^6 accounts
            # ~0.1 GB), and a slower writer is the pace either way. While the part it needs
            # is still rendering, this process renders the next part not yet sent itself (one
            # at a time, handed over in its turn) instead of waiting idle
            window = AHEAD * processes
            sent: deque[tuple[int, AsyncResult[list[tuple[str, str]]]]] = deque()
            mine: dict[int, list[tuple[str, str]]] = {}
            nxt = 0
            for k, bounds in enumerate(ranges):
                while nxt < len(ranges) and len(sent) + len(mine) <= window:
                    sent.append((nxt, pool.apply_async(_render_range, (ranges[nxt],))))
                    nxt += 1
                RENDERS["ahead"] = max(RENDERS["ahead"], len(sent) + len(mine))
                if k in mine:
                    yield bounds, mine.pop(k)
                    continue
                _, result = sent.popleft()
                if not mine and nxt < len(ranges) and not result.ready():
                    mine[nxt] = [render(items[i]) for i in range(*ranges[nxt])]
                    nxt += 1
                    RENDERS["here"] += 1
                yield bounds, result.get()
    finally:
        _JOB.clear()


def _ranges(n: int, part: int) -> list[Range]:
    """Consecutive ranges of `n` items, at most `part` each; the first ones smaller (an eighth,
    a quarter, a half), so the writer starts on the first while the rest render: a whole first
    part kept it waiting ~0.15 s at 100,000 accounts."""
    out: list[Range] = []
    a, size = 0, max(1, part // 8)
    while a < n:
        out.append((a, min(a + size, n)))
        a, size = a + size, min(part, size * 2)
    return out


def _render_range(bounds: Range) -> list[tuple[str, str]]:
    """In a forked renderer: the texts of items[a:b] of the job it inherited."""
    items, render = _JOB["items"], _JOB["render"]
    return [render(items[i]) for i in range(*bounds)]
