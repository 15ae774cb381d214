"""Play runs decided on several decision children at once (issue #18).

A run's play decisions are made one at a time in a decision child (decider.py), and the asking
thread spends most of each decision waiting for it. The runs of different plays and accounts
are independent, so many of them are split into batches asked from `lanes` threads, each with a
child of its own, and their changes and transitions are put back in the order of the runs: the
result is the one asking one at a time gives.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from kamrules.playbooks import chart
from kamrules.run.forking import can_fork

T = TypeVar("T")
BATCH = 64  # runs per batch: small enough to share the work evenly, large enough to be cheap
PARALLEL_FROM = 2 * BATCH  # fewer runs: one child decides them sooner than a second one starts
POOLS = {"started": 0}  # thread pools started in this process (tests)

Run = Callable[[T, list[Any], list[Any]], None]


def run_all(jobs: Sequence[T], run: Run[T], lanes: int) -> tuple[list[Any], list[Any]]:
    """`run(job, changes, moves)` for every job; the changes and moves in job order."""
    if lanes < 2 or len(jobs) < PARALLEL_FROM or not _parallel():
        return _batch(jobs, run)
    parts = [jobs[i:i + BATCH] for i in range(0, len(jobs), BATCH)]
    POOLS["started"] += 1
    pool = ThreadPoolExecutor(lanes, thread_name_prefix="kamrules-plays")
    try:
        done = list(pool.map(lambda part: _batch(part, run), parts))
    finally:  # on an error or Ctrl-C the batches not yet begun are dropped
        pool.shutdown(wait=True, cancel_futures=True)
        chart.DECIDER.end_lanes_of_ended_threads()
    return [c for changes, _ in done for c in changes], [m for _, moves in done for m in moves]


def _batch(jobs: Sequence[T], run: Run[T]) -> tuple[list[Any], list[Any]]:
    changes: list[Any] = []
    moves: list[Any] = []
    for job in jobs:
        run(job, changes, moves)
    return changes, moves


def _parallel() -> bool:
    """Whether decisions are made in decision children: in this process (no fork, a Celery
    worker) or interpreted they would only take turns."""
    return not chart.INTERPRET and chart.DECIDER.enabled and can_fork()
