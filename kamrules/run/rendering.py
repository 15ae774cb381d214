"""Task text for the changes that write or show it, rendered on every core when there are many.

`reconcile` plans with the text left pending (a kept task never needs it); the texts of the
changes that create, update or show a task (snoozed, suppressed, held) are rendered here in
one batch. A first run over 100,000 accounts renders ~45,000 finding texts into ~27,000
checklists: ~4 CPU s in the run's process alone (issue #18), so past PARALLEL_FROM texts they
are split over forked processes that already hold every pending text (nothing is sent to them
but a range; only the rendered strings come back). Rendering is pure, so the texts are the same
for any number of processes.

Texts certain to be shown are started earlier (`ahead`), while the plays advance (the run's
process then mostly waits for play decisions): a finding's text or a checklist's whose task is
not open in the CRM, and whose checklist cannot change with the plays (no finding in it is
snoozed or of a rule a play may take over).
"""

from __future__ import annotations

import contextlib
import multiprocessing
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date
from multiprocessing.pool import AsyncResult
from typing import Any

from kamrules.construct import changed
from kamrules.model import Task
from kamrules.protocol.changes import Change
from kamrules.run.forking import can_fork
from kamrules.writeback.bundles import Item, bundle
from kamrules.writeback.reconcile import Desired

TEXTED = frozenset({"create", "update", "snoozed", "suppressed", "held"})  # changes that show text
PARALLEL_FROM = 4000  # fewer texts: one process renders them faster than a pool starts
Render = Callable[[Desired], Task]
Texts = dict[str, tuple[str, str]]  # fingerprint -> (subject, body)

RENDERS = {"pools": 0, "ahead": 0}  # in this process: pools started, texts rendered ahead
# What a forked renderer renders: set in the run's process just before the pool forks.
_JOB: dict[str, Any] = {}


def with_text(changes: list[Change], desired: Sequence[Desired], render: Render,
              workers: int = 1, ready: Texts | None = None) -> list[Change]:
    """`changes` with the subject and body of every change that shows text and whose desired
    task's text is pending (`ready`: texts rendered ahead); other changes as they are (same
    objects, same order)."""
    ready = ready or {}
    pending = {d.task.fingerprint: d for d in desired if d.text is not None}
    at = [i for i, c in enumerate(changes) if c.action in TEXTED and c.fingerprint in pending]
    if not at:
        return changes
    todo = [i for i in at if changes[i].fingerprint not in ready]
    texts = dict(zip(todo, render_texts([pending[changes[i].fingerprint] for i in todo], render,
                                        workers), strict=True))
    out = list(changes)
    for i in at:
        c = out[i]
        subject, body = texts[i] if i in texts else ready[c.fingerprint]
        out[i] = changed(c, task=changed(c.task, subject=subject, body=body))
    return out


def render_texts(items: Sequence[Desired], render: Render, workers: int = 1) -> list[tuple[str, str]]:
    """(subject, body) of each item, in order: in this process, or split over `workers` forked
    processes when there are at least PARALLEL_FROM items and this process may fork."""
    if workers < 2 or len(items) < PARALLEL_FROM or not can_fork():
        return [_text(render(d)) for d in items]
    with _pool(items, render, workers) as (pool, ranges):
        parts = pool.map(_render_range, ranges)
    return [text for part in parts for text in part]


@contextlib.contextmanager
def ahead(desired: Sequence[Desired], items: Sequence[Item], open_now: set[str],
          unsure: Mapping[str, Any], unsure_rules: set[tuple[str, str]], as_of: date,
          names: dict[str, str], render: Render, workers: int) -> Iterator[Callable[[], Texts]]:
    """Inside: the certain texts rendering on forked processes; yields what waits for them.

    `open_now`: fingerprints of tasks open in the CRM (theirs may only be kept or updated);
    `unsure`: findings set aside whatever the plays do (snoozed); `unsure_rules`: (pack, rule)
    of the rules a play may take over. Nothing is started below PARALLEL_FROM texts."""
    wanted = [d for d in desired if d.text is not None and d.task.fingerprint not in open_now]
    groups: dict[tuple[str, str, str], list[Item]] = {}
    for i in items:
        groups.setdefault((i.pack.id, i.rule.bundle_key, i.desired.task.account_id), []).append(i)
    sure = [i for members in groups.values()
            if not any((m.pack.id, m.rule.id) in unsure_rules or m.desired.task.fingerprint in unsure
                       for m in members) for i in members]
    wanted += [d for d in bundle(sure, as_of, names)
               if d.text is not None and d.task.fingerprint not in open_now]
    if workers < 2 or len(wanted) < PARALLEL_FROM or not can_fork():
        yield dict
        return
    with _pool(wanted, render, workers) as (pool, ranges):
        result: AsyncResult[list[list[tuple[str, str]]]] = pool.map_async(_render_range, ranges)

        def texts() -> Texts:
            parts = result.get()
            RENDERS["ahead"] += len(wanted)
            flat = [text for part in parts for text in part]
            return {d.task.fingerprint: t for d, t in zip(wanted, flat, strict=True)}

        yield texts


@contextlib.contextmanager
def _pool(items: Sequence[Desired], render: Render,
          workers: int) -> Iterator[tuple[Any, list[tuple[int, int]]]]:
    """A pool of `workers` processes forked with `items` to render, and their ranges; ended
    (terminated if still working) on leaving."""
    step = -(-len(items) // workers)
    _JOB.update(items=items, render=render)
    try:
        pool = multiprocessing.get_context("fork").Pool(workers)  # forks now: they hold _JOB
    finally:
        _JOB.clear()
    RENDERS["pools"] += 1
    with pool:
        yield pool, [(a, min(a + step, len(items))) for a in range(0, len(items), step)]


def _render_range(bounds: tuple[int, int]) -> list[tuple[str, str]]:
    """In a forked renderer: the texts of items[a:b] of the job it inherited."""
    items, render = _JOB["items"], _JOB["render"]
    return [_text(render(items[i])) for i in range(*bounds)]


def _text(task: Task) -> tuple[str, str]:
    return task.subject, task.body
