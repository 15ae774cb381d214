"""One huge tenant's run with its evaluation spread over workers, equal to a single-process run.

Which step runs where, and why:
- pull (coordinator): API-bound, and the tenant's API budget is shared anyway, so more pullers
  would only queue on the same budget; the pull is cut into chunks of accounts in pull order
  (the connector's account ranges) and each chunk goes to Redis with the portfolio context;
- evaluate (any worker, the coordinator once its pull is over): CPU-bound; helpers start after
  the first chunk and take chunk numbers from one list while the pull goes on, a chunk's
  snapshot leaves Redis once it is evaluated, the coordinator never waits on a worker that is
  busy, and a chunk whose helper died (its claim expired) is evaluated again by the coordinator;
- reconcile, write-back, commit (coordinator): they need all findings at once (a task is
  closed only when no chunk wants it) and hold the tenant's lease and its fencing token.
Findings are put back together in chunk order, so the plan is the single-process plan.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import date
from typing import Any

from kamrules.errors import CrmError
from kamrules.evaluation.engine import Engine
from kamrules.evaluation.facts import Portfolio, account_views
from kamrules.language.loader import LoadedPack
from kamrules.model import Snapshot, Task, TeamMember, User, merge_stats
from kamrules.playbooks.advance import Party
from kamrules.protocol.connector import Connector, Progress, no_progress
from kamrules.protocol.faults import checkpoint
from kamrules.run.config import LoadedConfig
from kamrules.run.projection import key_only_kinds
from kamrules.run.snooze import Snooze
from kamrules.run.sync import Evaluation, RunReport, conclude, now_iso, pulled
from kamrules.writeback.bundles import Item
from kamrules.writeback.health import check_supported
from kamrules.writeback.reconcile import Desired

DAY = 86_400
UNREADABLE = (TypeError, ValueError, KeyError, AttributeError)  # JSON no kamrules worker wrote


class SplitLost(CrmError):
    """A chunk of a split run left Redis before its findings came back (expired, evicted by
    maxmemory, deleted), or its findings are not a worker's: the run stops before writing."""


class ChunkBoard:
    """The chunks of one split run in Redis: snapshots, the list still to do, claims, results."""

    def __init__(self, client: Any, prefix: str, run_key: str, claim_seconds: float = 120.0):
        self.client, self.base, self.claim_seconds = client, f"{prefix}:split:{run_key}", claim_seconds
        self.run_key = run_key
        self.evaluated_by: dict[str, int] = {}  # worker -> chunks, once the run has them all

    def _k(self, *parts: object) -> str:
        return ":".join([self.base, *map(str, parts)])

    def put_context(self, portfolio: Portfolio, as_of: date) -> None:
        context = {"as_of": as_of.isoformat(), "portfolio": portfolio.to_json()}
        self.client.set(self._k("context"), json.dumps(context), ex=DAY)

    def context(self) -> tuple[Portfolio, date] | None:
        """The run's portfolio context; None once the run is over (a helper asked late) or lost."""
        try:
            raw = json.loads(self.client.get(self._k("context")) or "null")
            return Portfolio.from_json(raw["portfolio"]), date.fromisoformat(raw["as_of"])
        except UNREADABLE:
            return None

    def put_chunk(self, i: int, chunk: Snapshot) -> None:
        pipe = self.client.pipeline()
        pipe.set(self._k("chunk", i), chunk.model_dump_json(), ex=DAY)
        pipe.rpush(self._k("todo"), i)
        pipe.expire(self._k("todo"), DAY)
        pipe.execute()

    def close_pull(self, n: int) -> None:
        self.client.set(self._k("total"), n, ex=DAY)

    def pull_closed(self) -> bool:
        return self.client.exists(self._k("total")) == 1

    def take(self) -> int | None:
        """The next chunk nobody has taken, claimed for `claim_seconds` (an entry that is not
        a chunk number, another program's, is passed over: the coordinator sees every chunk)."""
        while (value := self.client.lpop(self._k("todo"))) is not None:
            if value.isdecimal():
                self.claim(int(value))
                return int(value)
        return None

    def claim(self, i: int) -> None:
        self.client.set(self._k("claim", i), "1", ex=max(1, int(self.claim_seconds)))

    def unclaim(self, i: int) -> None:
        self.client.delete(self._k("claim", i))

    def claimed(self, i: int) -> bool:
        return self.client.exists(self._k("claim", i)) == 1

    def chunk(self, i: int) -> Snapshot | None:
        """Chunk i's snapshot; None once evaluated (or lost, or not a snapshot)."""
        try:
            return Snapshot.model_validate_json(self.client.get(self._k("chunk", i)) or "")
        except UNREADABLE:
            return None

    def put_result(self, i: int, result: dict[str, Any], worker: str) -> None:
        """A chunk's evaluation; its snapshot is dropped, so Redis holds only chunks still to do."""
        result = {**result, "worker": worker}
        pipe = self.client.pipeline()
        pipe.set(self._k("result", i), json.dumps(result), ex=DAY)
        pipe.delete(self._k("chunk", i))
        pipe.execute()

    def result(self, i: int) -> dict[str, Any] | None:
        """Chunk i's findings, None until they come; SplitLost if Redis holds other JSON there."""
        raw = self.client.get(self._k("result", i))
        if raw is None:
            return None
        try:
            found = json.loads(raw)
        except ValueError:
            found = None
        if not isinstance(found, dict):
            raise SplitLost(f"{self._k('result', i)} holds {raw[:60]!r}, not a chunk's findings;"
                            " nothing was written: run again")
        return found

    def cleanup(self, pattern: str | None = None) -> None:
        """Drop this run's keys (or every key under `pattern`, a glob)."""
        keys = list(self.client.scan_iter(pattern or glob_escape(self.base) + ":*", count=1000))
        if keys:
            self.client.delete(*keys)


def evaluate_chunk(chunk: Snapshot, portfolio: Portfolio, packs: list[LoadedPack],
                   loaded: LoadedConfig, as_of: date, engine: Engine) -> dict[str, Any]:
    """One chunk evaluated exactly as a single-process run evaluates it (`Evaluation` of
    kamrules.run.sync), as JSON for the coordinator: desired tasks, ids, names, users and what
    the plays need of each account."""
    found = Evaluation(packs, loaded, as_of)
    directory = found.take(chunk)
    for view in account_views(chunk, portfolio):
        found.account(view, directory, engine)
    return {
        "evaluated": sorted(found.evaluated), "names": found.names,
        "users": [u.model_dump(mode="json") for u in found.users.values()],
        "desired": [{"task": d.task.model_dump(mode="json"), "severity": d.severity}
                    for d in found.desired],
        "items": [{"pack": i.pack.id, "rule": i.rule.id, "task": i.desired.task.model_dump(mode="json"),
                   "severity": i.desired.severity} for i in found.items],
        "plays": {aid: {"account": i.account._asdict(), "facts": i.facts,
                        "hits": list(i.hit_ids), "team": [m.model_dump(mode="json") for m in i.team]}
                  for aid, i in found.plays.inputs.items()},
        "user_names": directory.users, "sales_ops_owner": directory.sales_ops_owner,
    }


def merge_result(found: Evaluation, result: dict[str, Any]) -> None:
    """A chunk's evaluation, as `evaluate_chunk` sent it, added to the coordinator's."""
    found.desired += [Desired(Task.model_validate(d["task"]), d["severity"]) for d in result["desired"]]
    found.items += [Item(*found.rules[(i["pack"], i["rule"])],
                         Desired(Task.model_validate(i["task"]), i["severity"])) for i in result["items"]]
    found.evaluated.update(result["evaluated"])
    found.names.update(result["names"])
    found.users.update((u["id"], User.model_validate(u)) for u in result["users"])
    users = result["user_names"]
    for aid, i in result["plays"].items():
        found.plays.inputs[aid] = found.plays.input_for(
            Party(**i["account"]), i["facts"], i["hits"],
            [TeamMember.model_validate(m) for m in i["team"]], users, result["sales_ops_owner"])


def glob_escape(text: str) -> str:
    """`text` matched literally in a Redis SCAN pattern (a request id could hold `*`)."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def work(board: ChunkBoard, packs: list[LoadedPack], loaded: LoadedConfig, worker: str,
         coordinator_alive: Callable[[], bool] = lambda: False, engine: Engine | None = None,
         context: tuple[Portfolio, date] | None = None) -> int:
    """Evaluate chunks from the board until none is left and the pull is over (or its
    coordinator is gone); how many this worker did. A helper asked after the run ended finds
    no context and does nothing; a chunk gone from the board is left to the coordinator."""
    context = context or board.context()
    if context is None:
        return 0
    portfolio, as_of = context
    engine = engine or Engine(packs, loaded.config.engine)
    done = 0
    while True:
        i = board.take()
        if i is None:
            if board.pull_closed() or not coordinator_alive():
                return done
            time.sleep(0.05)  # the pull is still going: more chunks will come
            continue
        chunk = board.chunk(i)
        if chunk is None:
            board.unclaim(i)  # the coordinator need not wait for a claim on nothing
            continue
        board.put_result(i, evaluate_chunk(chunk, portfolio, packs, loaded, as_of, engine),
                         worker=worker)
        done += 1


def split_run(connector: Connector, packs: list[LoadedPack], loaded: LoadedConfig, as_of: date,
              board: ChunkBoard, ask_helpers: Callable[[], None], chunk_size: int, worker: str,
              snoozes: list[Snooze] | None = None, progress: Progress = no_progress) -> RunReport:
    """Pull here, evaluate on every worker that helps, then conclude here as any run does. The
    board is this attempt's alone and leaves Redis when the run ends, however it ends."""
    try:
        return _split_run(connector, packs, loaded, as_of, board, ask_helpers, chunk_size, worker,
                          snoozes or [], progress)
    finally:
        board.cleanup()


def _split_run(connector: Connector, packs: list[LoadedPack], loaded: LoadedConfig, as_of: date,
               board: ChunkBoard, ask_helpers: Callable[[], None], chunk_size: int, worker: str,
               snoozes: list[Snooze], progress: Progress) -> RunReport:
    report = RunReport(mode="run", as_of=as_of, started=now_iso())
    if loaded.config.health_fields is not None:  # as `run` does: checked before the pull
        check_supported(connector)
    found = Evaluation(packs, loaded, as_of)
    portfolio, chunks = pulled(connector, as_of, progress, chunk_size,
                               key_only=key_only_kinds(packs, found.plays))
    board.put_context(portfolio, as_of)
    n = 0
    for chunk in chunks:
        found.warnings += chunk.warnings
        merge_stats(found.stats, chunk.field_stats)
        board.put_chunk(n, chunk)
        if n == 0:
            ask_helpers()  # they evaluate while the pull goes on
        n += 1
    board.close_pull(n)
    checkpoint("pulled")
    engine = Engine(packs, loaded.config.engine)
    report.engine = engine.name
    work(board, packs, loaded, worker, engine=engine, context=(portfolio, as_of))
    for i in range(n):  # in chunk order, so the plan is the single-process plan
        result = _collect(board, i, lambda c: evaluate_chunk(c, portfolio, packs, loaded, as_of,
                                                              engine), worker)
        try:
            merge_result(found, result)
        except UNREADABLE as exc:
            raise SplitLost(f"the findings of chunk {i} ({board._k('result', i)}) from"
                            f" {str(result.get('worker'))[:60]} do not fit this run ({type(exc).__name__}:"
                            f" {str(exc)[:80]}): a worker of another kamrules version, or packs"
                            " edited mid-run; nothing was written: run again") from None
        by = str(result.get("worker"))
        board.evaluated_by[by] = board.evaluated_by.get(by, 0) + 1
    conclude(report, connector, found, snoozes, dry_run=False)
    return report


def _collect(board: ChunkBoard, i: int, evaluate: Callable[[Snapshot], dict[str, Any]],
             worker: str) -> dict[str, Any]:
    """Chunk i's findings: a helper's, else evaluated here once its helper's claim ran out;
    SplitLost when Redis has neither the chunk nor its findings (no one would ever send them)."""
    while (result := board.result(i)) is None:
        if board.claimed(i):
            time.sleep(0.05)
            continue
        board.claim(i)
        chunk = board.chunk(i)
        if chunk is not None:
            board.put_result(i, evaluate(chunk), worker=worker)
        elif board.result(i) is None:  # findings and chunk go in one transaction: both gone
            raise SplitLost(f"chunk {i} of the split run left Redis ({board._k('chunk', i)}:"
                            " expired, evicted by maxmemory or deleted) before it was evaluated;"
                            " nothing was written: run again (give Redis memory and"
                            " maxmemory-policy noeviction)")
    return result
