"""Chunks evaluated in worker processes, so a run uses every core (issue #18).

The run's process pulls chunk after chunk (a connector is opened in one place only) and hands
each to a pool of forked workers; each worker has its own rule engine (and durable_rules host)
and evaluates a chunk exactly as `Evaluation.account` does in one process. Results come back
and are merged in chunk order, so the findings, tasks and plan equal a one-process run's, order
included. At most `workers` chunks are in flight; the run drops its reference to a chunk once
handed over, so memory holds a few chunks, not the portfolio. One chunk (a small portfolio, or a
connector that cannot stream) is evaluated in the run's own process: a pool would only cost.

A connector whose chunks other processes can read (`SplitConnector`: the local CRM) only plans
the chunks in the run's process; each worker pulls its chunks through a connection of its own,
so pulling is spread over the cores too and no record crosses a process boundary.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date
from typing import Any

from kamrules.evaluation.engine import Engine
from kamrules.evaluation.facts import Portfolio, account_views
from kamrules.language.loader import LoadedPack
from kamrules.model import FieldStat, RecordWarning, Snapshot, User, merge_stats
from kamrules.playbooks.advance import AccountInput
from kamrules.protocol.connector import ChunkPlan, Progress, SplitConnector, no_progress
from kamrules.run.config import LoadedConfig
from kamrules.run.forking import can_fork
from kamrules.run.packed import pack, unpack
from kamrules.writeback.reconcile import Desired
from kamrules.writeback.tasks import Directory


def default_workers() -> int:
    """The machine's cores (those this process may run on)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass
class ChunkResult:
    """What one chunk's evaluation adds to the run's `Evaluation` (picklable, no packs)."""

    desired: list[Desired]
    items: list[tuple[str, str, Desired]]  # (pack id, rule id, the finding's task)
    evaluated: list[str]
    names: dict[str, str]
    users: dict[str, User]
    plays: dict[str, AccountInput]
    # a chunk the worker pulled itself: its warnings and field statistics (else the run's
    # process kept them when it handed the chunk over)
    warnings: list[RecordWarning] | None = None
    stats: dict[str, FieldStat] | None = None

    def __getstate__(self) -> dict[str, Any]:
        """Its findings' tasks as tuples (kamrules/run/packed.py): the bulk of what it sends."""
        state = dict(self.__dict__)
        state["desired"] = [pack(d) for d in self.desired]
        state["items"] = [(p, r, pack(d)) for p, r, d in self.items]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state["desired"] = [unpack(d) for d in state["desired"]]
        state["items"] = [(p, r, unpack(d)) for p, r, d in state["items"]]
        self.__dict__.update(state)


# in the run's process: pools started, chunks handed over, the last planned run's kinds pulled
# of key accounts only
POOLS: dict[str, Any] = {"started": 0, "chunks": 0, "key_only": []}
# What a forked worker evaluates with: set by `_start` in the worker, never in the run's process.
_WORKER: dict[str, Any] = {}


def _start(packs: list[LoadedPack], loaded: LoadedConfig, as_of: date, portfolio: Portfolio,
           lazy_text: bool, source: SplitConnector | None = None,
           users: list[User] | None = None, history: set[str] | None = None,
           named: set[str] | None = None, key_only: frozenset[str] = frozenset()) -> None:
    """A worker's own engine: a fresh durable_rules host (the run's is not shared); with a
    `source`, a connection of its own to pull chunks through (the forked one is the run's),
    the kinds in `key_only` of key accounts only; `history` and `named`: the run's
    `Plays.history` and `Evaluation.named`."""
    from kamrules.run.sync import Evaluation

    # one durable_rules host per process: a forked copy of the run's is not ours. Only where it
    # was loaded: where durable_rules is not installed (Python 3.13) importing it would fail.
    engine_durable = sys.modules.get("kamrules.evaluation.engine_durable")
    if engine_durable is not None:
        engine_durable._HOST = None  # noqa: SLF001
    found = Evaluation(packs, loaded, as_of, lazy_text=lazy_text)
    found.plays.history, found.named = history, named
    _WORKER.update(engine=Engine(packs, loaded.config.engine), portfolio=portfolio,
                   found=found, users=users,
                   reader=source.reader() if source is not None else None, as_of=as_of,
                   key_only=key_only)


def pull_in_worker(chunk: Any) -> ChunkResult:
    """One planned chunk pulled through the worker's own connection, then evaluated."""
    from kamrules.run.cleaning import clean

    key_only = _WORKER["key_only"]
    snapshot = clean(_WORKER["reader"].pull_chunk(_WORKER["as_of"], chunk, _WORKER["users"],
                                                  key_only))
    result = evaluate_in_worker(snapshot)
    result.warnings, result.stats = snapshot.warnings, snapshot.field_stats
    return result


def evaluate_in_worker(chunk: Snapshot) -> ChunkResult:
    """One chunk, evaluated as the run's process would (`Evaluation.take` and `.account`)."""
    found, engine, portfolio = _WORKER["found"], _WORKER["engine"], _WORKER["portfolio"]
    found.desired, found.items, found.evaluated = [], [], set()
    found.names, found.users, found.plays.inputs = {}, {}, {}
    found.warnings, found.stats = [], {}
    evaluated: list[str] = []
    directory = found.take(chunk)
    for view in account_views(chunk, portfolio):
        found.account(view, directory, engine)
        evaluated.append(view.account.id)
    return ChunkResult(
        desired=found.desired,
        items=[(i.pack.id, i.rule.id, i.desired) for i in found.items],
        evaluated=evaluated, names=found.names, users=found.users, plays=found.plays.inputs)


def merge(found: Any, result: ChunkResult) -> None:
    """A worker's chunk added to the run's `Evaluation`, as if evaluated here."""
    from kamrules.writeback.bundles import Item

    if result.warnings is not None:
        found.warnings += result.warnings
    if result.stats is not None:
        merge_stats(found.stats, result.stats)
    found.desired += result.desired
    found.items += [Item(*found.rules[(pack, rule)], desired) for pack, rule, desired in result.items]
    found.evaluated.update(result.evaluated)
    found.names.update(result.names)
    found.users.update(result.users)
    found.plays.inputs.update(result.plays)


def evaluate_chunks(found: Any, chunks: Iterator[Snapshot], portfolio: Portfolio, engine: Engine,
                    workers: int, progress: Progress = no_progress, many: bool | None = None) -> None:
    """Every chunk into `found` (a `kamrules.run.sync.Evaluation`): in this process when
    `workers` is 1, fork is unavailable or there is one chunk; else on `workers` processes.

    `many`: whether the run knows there are several chunks (then the workers are forked before
    the first chunk is pulled, so they do not inherit chunks); None: look one chunk ahead."""
    parallel = workers > 1 and can_fork()
    first = second = None
    if parallel and not many:
        first = next(chunks, None)
        second = next(chunks, None) if first is not None else None
        parallel = second is not None
    if not parallel:
        while (chunk := first if first is not None else next(chunks, None)) is not None:
            first = None
            _here(found, chunk, portfolio, engine, progress)
            del chunk
        return
    context = multiprocessing.get_context("fork")
    POOLS["started"] += 1
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start,
                             initargs=(found.packs, found.loaded, found.as_of, portfolio,
                                       found.lazy_text)) as pool:
        pool.submit(os.getpid).result()  # forks every worker now, while this process is small
        pending: deque[Future[ChunkResult]] = deque()
        chunk: Snapshot | None = first if first is not None else next(chunks, None)
        first = None
        while chunk is not None:
            _meta(found, chunk)
            pending.append(pool.submit(evaluate_in_worker, chunk))
            POOLS["chunks"] += 1
            del chunk
            while len(pending) >= workers:  # the oldest first: results in chunk order
                merge(found, pending.popleft().result())
                progress("evaluate", len(found.evaluated), None)
            chunk, second = (second, None) if second is not None else (next(chunks, None), None)
        while pending:
            merge(found, pending.popleft().result())
            progress("evaluate", len(found.evaluated), None)


def evaluate_planned(found: Any, source: SplitConnector, plan: ChunkPlan, portfolio: Portfolio,
                     workers: int, key_only: frozenset[str] = frozenset(),
                     progress: Progress = no_progress) -> None:
    """Every planned chunk into `found`, each pulled and evaluated by one of `workers` forked
    processes, the kinds in `key_only` of key accounts only; results merged in chunk order, as
    `evaluate_chunks` does. At most two chunks per worker are planned ahead (a description
    each, not records), so none waits for the merge."""
    found.warnings += plan.warnings
    merge_stats(found.stats, plan.stats)
    context = multiprocessing.get_context("fork")
    POOLS["started"] += 1
    POOLS["key_only"] = sorted(key_only)
    total = len(portfolio.sorted_revenue) or None
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start,
                             initargs=(found.packs, found.loaded, found.as_of, portfolio,
                                       found.lazy_text, source, plan.users,
                                       found.plays.history, found.named, key_only)) as pool:
        pending: deque[Future[ChunkResult]] = deque()
        for chunk in plan.chunks:
            pending.append(pool.submit(pull_in_worker, chunk))
            POOLS["chunks"] += 1
            while len(pending) >= 2 * workers:  # a chunk waits in the queue for each worker
                _collect(found, pending.popleft().result(), total, progress)
        while pending:
            _collect(found, pending.popleft().result(), total, progress)


def _collect(found: Any, result: ChunkResult, total: int | None, progress: Progress) -> None:
    merge(found, result)
    progress("pull", len(found.evaluated), total)
    progress("evaluate", len(found.evaluated), total)


def _meta(found: Any, chunk: Snapshot) -> None:
    """What the run's process keeps of a chunk it hands over: warnings and field statistics
    (names and users come back with the result, as `Evaluation.take` collects them)."""
    found.warnings += chunk.warnings
    merge_stats(found.stats, chunk.field_stats)


def _here(found: Any, chunk: Snapshot, portfolio: Portfolio, engine: Engine, progress: Progress) -> None:
    directory: Directory = found.take(chunk)
    for view in account_views(chunk, portfolio):
        found.account(view, directory, engine)
    progress("evaluate", len(found.evaluated), None)
