"""One run: pull -> derive facts -> evaluate -> reconcile -> apply (skipped by `plan`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from kamrules.construct import made
from kamrules.digest.build import DigestReport, build, tasks_after
from kamrules.errors import ExitCode
from kamrules.evaluation.engine import Engine
from kamrules.evaluation.facts import AccountView, Portfolio, account_views, portfolio_context
from kamrules.evaluation.facts.lazy import LazyFacts
from kamrules.evaluation.findings import Finding
from kamrules.language.loader import LoadedPack
from kamrules.model import FieldStat, RecordWarning, Snapshot, merge_stats
from kamrules.playbooks.absorb import absorbed
from kamrules.playbooks.advance import Plays, PlayTransition, limited
from kamrules.playbooks.loader import plays_of
from kamrules.playbooks.state import PLAY_FINGERPRINTS, is_play_task, oldest_open_start
from kamrules.protocol.changes import Change, ChangeResult
from kamrules.protocol.connector import (
    Connector,
    PartWriter,
    Progress,
    SplitConnector,
    StreamingConnector,
    SummaryConnector,
    no_progress,
    task_url,
)
from kamrules.protocol.faults import checkpoint
from kamrules.report.models import PlaysOverview
from kamrules.report.plays import after_run
from kamrules.run.cleaning import clean
from kamrules.run.collector import collector_paused
from kamrules.run.config import LoadedConfig, crm_section, policy_resolver
from kamrules.run.planning import CONTEXT_SHARE, PlanAside
from kamrules.run.quality import GateProblem, gate
from kamrules.run.rendering import renderers, text_parts
from kamrules.run.snooze import Snooze, idle_snoozes, snoozed
from kamrules.run.written import written_in_parts
from kamrules.writeback.bundles import Item, bundle, moved_to, renderer
from kamrules.writeback.health import check_supported, sync_health
from kamrules.writeback.reconcile import Desired, Limits, Scope, reconcile
from kamrules.writeback.tasks import Directory, PendingText, build_task, compile_texts, unknown_users

COUNTED = ("created", "kept", "updated", "closed", "failed", "held", "suppressed", "snoozed")
PAST = {"create": "created", "keep": "kept", "update": "updated", "close": "closed",
        "held": "held", "suppressed": "suppressed", "snoozed": "snoozed"}


class ChangeReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: str
    fingerprint: str
    account_id: str
    subject: str
    owner_id: str | None
    owner_name: str | None = None
    account_name: str | None = None
    severity: str | None
    reason: str = ""
    ok: bool = True
    error: str | None = None
    crm_id: str | None = None


class RunReport(BaseModel):
    """What a run did (or, for `plan`, would do): counts, each change, warnings, API calls."""

    model_config = ConfigDict(extra="forbid")

    mode: str
    as_of: date
    started: str
    finished: str = ""
    outcome: str = "ok"
    exit_code: int = 0
    accounts: int = 0
    findings: int = 0
    counts: dict[str, int] = Field(default_factory=lambda: dict.fromkeys(COUNTED, 0))
    api_calls: int = 0
    engine: str = ""  # which rule engine evaluated: durable or python
    warnings: list[RecordWarning] = Field(default_factory=list)
    changes: list[ChangeReport] = Field(default_factory=list)
    # per mapped field: records with a value and values that did not parse (field left unknown)
    field_failures: list[FieldStat] = Field(default_factory=list)
    # fields that tripped the data-quality gate: the run stopped before any write
    data_quality: list[GateProblem] = Field(default_factory=list)
    error: str | None = None  # why a run stopped (outcome "error"), as printed on stderr
    health_written: int = 0  # accounts whose health fields were (plan: would be) written
    plays: list[PlayTransition] = Field(default_factory=list)
    digest: DigestReport | None = None
    active_plays: PlaysOverview | None = None  # per account and owner after the run, overdue steps
    _finding_fps: list[str] = PrivateAttr(default_factory=list)  # every finding's, not printed


def now_iso() -> str:
    """The current UTC time as an ISO timestamp (run history, reports)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def evaluate(
    snapshot: Any, packs: list[LoadedPack], progress: Progress = no_progress,
    engine_kind: str | None = None,
) -> tuple[list[Finding], set[str]]:
    """Findings of all active rules over every account; also the ids that were evaluated.
    Each account's facts are computed as its rules read them (`LazyFacts`, as a run's are):
    most accounts are read by a few rules (at 100,000 accounts 12.3 s with every fact, 5.7 s)."""
    engine = Engine(packs, engine_kind)
    findings: list[Finding] = []
    evaluated: set[str] = set()
    total = len(snapshot.accounts)
    for i, view in enumerate(account_views(snapshot), 1):
        findings.extend(engine.findings_for(view.account.id, LazyFacts(view)))
        evaluated.add(view.account.id)
        if i % 1000 == 0:
            progress("evaluate", i, total)
    progress("evaluate", total, total)
    return findings, evaluated


CHUNK_ACCOUNTS = 5000


def pulled(connector: Connector, as_of: date, progress: Progress = no_progress,
           size: int = CHUNK_ACCOUNTS, aside: PlanAside | None = None,
           key_only: frozenset[str] = frozenset()) -> tuple[Portfolio, Iterator[Snapshot]]:
    """The portfolio context and the portfolio in cleaned chunks of accounts.

    A streaming connector hands over `size` accounts at a time, so memory holds one chunk,
    with the kinds in `key_only` of key accounts only (as the run's workers pull them: the
    same records, warnings and data-quality tallies for any number of workers); any other
    connector's single pull is one chunk. `aside`: a child reading the context's accounts from
    its `start` meanwhile (kamrules/run/planning.py).
    """
    if isinstance(connector, StreamingConnector):
        if aside is not None and aside.start is not None:  # in two parts at once
            portfolio = aside.portfolio()
        else:  # the context's few account fields, without building whole accounts where it can
            portfolio = portfolio_context(connector.pull_account_summaries(as_of) if isinstance(
                connector, SummaryConnector) else connector.pull_accounts(as_of), as_of)
        return portfolio, (clean(c) for c in connector.pull_chunks(as_of, size, progress, key_only))
    snapshot = clean(connector.pull(as_of, progress))
    return portfolio_context(snapshot.accounts, as_of), iter([snapshot])


@dataclass
class Evaluation:
    """What evaluating the chunks of one run collects for its second half (`conclude`)."""

    packs: list[LoadedPack]
    loaded: LoadedConfig
    as_of: date
    desired: list[Desired] = field(default_factory=list)  # per_rule packs' tasks
    items: list[Item] = field(default_factory=list)  # per_group packs' findings, bundled later
    evaluated: set[str] = field(default_factory=set)
    names: dict[str, str] = field(default_factory=dict)  # user and account id -> name
    # the accounts with a task in the CRM, where it told before evaluating: then only these and
    # those with a finding or a play are named (nothing else is shown; at 10^6 accounts ~0.1 GB)
    named: set[str] | None = None
    users: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, FieldStat] = field(default_factory=dict)
    warnings: list[RecordWarning] = field(default_factory=list)
    # True: task text is rendered only for the changes that write or show it (`run` sets it)
    lazy_text: bool = False
    workers: int = 1  # processes that may render the run's task texts (kamrules/run/rendering.py)
    plays: Plays = field(init=False)

    def __post_init__(self) -> None:
        self.rules = {(p.id, r.id): (p, r) for p in self.packs for r in p.rules}
        self.plays = Plays(plays_of(self.packs), {p.id for p in self.packs})

    def take(self, chunk: Snapshot) -> Directory:
        """Everything of a pulled chunk but its findings: warnings, field stats, names, users."""
        self.warnings += chunk.warnings
        merge_stats(self.stats, chunk.field_stats)
        self.users.update((u.id, u) for u in chunk.users)
        directory = Directory.from_snapshot(chunk, self.loaded.config.sales_ops_owner)
        self.names.update(directory.users)
        if self.named is None:
            self.names.update({a.id: a.name for a in chunk.accounts})
        return directory

    def account(self, view: AccountView, directory: Directory, engine: Engine) -> None:
        """One account's findings as desired tasks (or bundle items), and what its plays need;
        only the facts these read are computed (`LazyFacts`)."""
        facts = LazyFacts(view)
        hits = []
        for f in engine.findings_for(view.account.id, facts):
            pack, rule = self.rules[(f.pack_id, f.rule_id)]
            pending: list[PendingText] | None = [] if self.lazy_text else None
            task = build_task(f, pack, rule, directory, self.as_of, facts, pending)
            one = Desired(task, rule.severity, pending[0] if pending else None)
            if pack.tasks == "per_group":
                self.items.append(Item(pack, rule, one))
            else:
                self.desired.append(one)
            hits.append(f"{f.pack_id}/{f.rule_id}")
        self.plays.observe(view.account, facts, hits, directory)
        account_id = view.account.id
        self.evaluated.add(account_id)
        if self.named is not None and (hits or account_id in self.named
                                       or account_id in self.plays.inputs):
            self.names[account_id] = view.account.name


def run(
    connector: Connector,
    packs: list[LoadedPack],
    loaded: LoadedConfig,
    as_of: date,
    dry_run: bool,
    progress: Progress = no_progress,
    snoozes: list[Snooze] | None = None,
    chunk_size: int = CHUNK_ACCOUNTS,
    digest: bool = True,
    workers: int | None = None,
) -> RunReport:
    """`workers`: processes that evaluate chunks (default: `workers:` in the config, else the
    machine's cores); the result is the same for any number (kamrules/run/workers.py)."""
    from kamrules.playbooks.chart import DECIDER, INTERPRET
    from kamrules.run.forking import can_fork
    from kamrules.run.projection import key_only_kinds
    from kamrules.run.workers import default_workers, evaluate_chunks, evaluate_planned

    report = RunReport(mode="plan" if dry_run else "run", as_of=as_of, started=now_iso())
    if loaded.config.health_fields is not None:
        check_supported(connector)
    workers = workers or loaded.config.workers or default_workers()
    split = workers > 1 and can_fork() and isinstance(connector, SplitConnector)
    # the context's second part and the chunk plan made beside its first (run/planning.py);
    # not for one chunk's accounts, where the child's fork costs more than its reading saves
    start = connector.context_split(CONTEXT_SHARE, chunk_size) if split else None
    aside = PlanAside(connector, as_of, chunk_size, start) if start is not None else None
    found = Evaluation(packs, loaded, as_of, lazy_text=True)
    found.workers = workers
    key_only = key_only_kinds(packs, found.plays)
    try:
        portfolio, chunks = pulled(connector, as_of, progress, chunk_size, aside, key_only)
        checkpoint("pulled")
        many = isinstance(connector, StreamingConnector) and len(portfolio.sorted_revenue) > chunk_size
        plan = None
        if split and many:
            plan = aside.result() if aside is not None else connector.chunk_plan(as_of, chunk_size)
    finally:
        if aside is not None:
            aside.close()
    engine = Engine(packs, loaded.config.engine)
    report.engine = engine.name
    if found.plays.compiled and not INTERPRET:  # play decisions' zygote, forked while we are small
        DECIDER.prepare()
    if isinstance(connector, SplitConnector):  # reads of the file: no API call
        found.named = connector.accounts_with_tasks("*")
        if found.plays:  # the plays keep only what `advance` may ask about
            found.plays.history = connector.accounts_with_tasks(PLAY_FINGERPRINTS)
    if plan is not None and len(plan.chunks) > 1:  # each worker pulls its own chunks
        with collector_paused():  # the workers evaluate; this process gathers
            evaluate_planned(found, connector, plan, portfolio, workers, key_only, progress)
    else:
        evaluate_chunks(found, chunks, portfolio, engine, workers, progress, many)
    with collector_paused():
        return conclude(report, connector, found, snoozes or [], dry_run, progress, digest)


def conclude(report: RunReport, connector: Connector, found: Evaluation, snoozes: list[Snooze],
             dry_run: bool, progress: Progress = no_progress, digest: bool = True) -> RunReport:
    """The second half of every run, however its accounts were evaluated: the data-quality
    gate, reconciliation with the CRM's tasks, plays, write-back, the digest and the report."""
    loaded, packs, as_of, items = found.loaded, found.packs, found.as_of, found.items
    desired = list(found.desired)
    report.warnings += found.warnings
    report.accounts = len(found.evaluated)
    report.findings = len(desired) + len(items)
    report.field_failures = sorted((s for s in found.stats.values() if s.failed),
                                   key=lambda s: s.field)
    report.warnings += idle_snoozes(snoozes, packs, found.evaluated, as_of)
    if found.users:  # a CRM without users (an empty local one) says nothing of them
        report.warnings += unknown_users(packs, ((c.pack, c.play) for c in found.plays.compiled),
                                         found.users, loaded.config.sales_ops_owner)
    checkpoint("evaluated")
    report.data_quality = gate(found.stats, found.warnings, found.evaluated,
                               loaded.config.data_quality)
    # a mapping mistake: stop before reading tasks or writing anything (a local CRM's planned
    # run has read, from its file, only which accounts have play tasks: see `run`)
    if report.data_quality:
        report.outcome, report.exit_code = "data_quality", int(ExitCode.DATA_QUALITY)
        report.api_calls = connector.api_calls
        report.finished = now_iso()
        return report

    every = [d.task.fingerprint for d in desired] + [i.desired.task.fingerprint for i in items]
    report._finding_fps = every  # a what-if compares findings, bundled or not (run/whatif.py)
    plays = found.plays
    policy_for = policy_resolver(loaded, packs)
    longest = max([loaded.config.lifecycle.renotify_after_days]
                  + [policy_for(fp).renotify_after_days
                     for fp in [*every, *(f"{p.id}/bundle:" for p in packs)]])
    longest = max([longest] + [c.play.cooldown_days + 1 for c in plays.compiled])
    existing = connector.list_tasks(as_of - timedelta(days=longest))
    report.warnings += getattr(connector, "task_warnings", [])  # task rows it could not read
    oldest = oldest_open_start(existing)  # a running play's earlier steps are read too
    if oldest is not None and oldest < as_of - timedelta(days=longest):
        existing = connector.list_tasks(oldest)
    play_tasks = [t for t in existing if is_play_task(t)]
    existing = [t for t in existing if not is_play_task(t)]
    play_changes, moves = plays.advance(play_tasks, as_of, found.workers)

    # snoozes apply to each finding, and so do plays that take over a rule's task (absorbs:);
    # such a finding stays out of its bundle
    paused = snoozed(every, snoozes, as_of)
    taken = {fp: why for fp, why in absorbed(plays, play_tasks, play_changes, every).items()
             if fp not in paused}
    aside = paused.keys() | taken.keys()
    desired += [i.desired for i in items if i.desired.task.fingerprint in aside]
    desired += bundle([i for i in items if i.desired.task.fingerprint not in aside], as_of,
                      found.names)
    scope = Scope(accounts=found.evaluated, packs={p.id for p in packs}, snoozed=paused, taken=taken,
                  rules={f"{p.id}/{r.id}" for p in packs for r in p.active_rules}
                  | {f"{p.id}/bundle:{r.bundle_key}" for p in packs if p.tasks == "per_group"
                     for r in p.active_rules},
                  moved=moved_to(packs))
    # alert limits are applied once over rule and play creates together (most severe first);
    # they read no task text, which is rendered after them
    changes = reconcile(desired, existing, scope, policy_for, as_of, Limits())
    changes, report.plays = limited(changes + play_changes, moves, loaded.limits())
    checkpoint("reconciled")
    # per finding (bundled ones count one by one); then the findings are let go: at a million
    # accounts they are a gigabyte the rest of the run does not read
    severities = [(d.task.account_id, d.severity)
                  for d in [*found.desired, *(i.desired for i in items)]
                  if d.task.fingerprint not in paused]
    in_parts = not dry_run and isinstance(connector, PartWriter) and connector.writes_in_parts()
    parts = text_parts(changes, desired, renderer(found.rules),  # uses them up
                       renderers(found.workers, in_parts),
                       prepare=lambda: compile_texts(found.packs, found.as_of))
    del desired, items
    found.desired, found.items = [], []

    results: list[ChangeResult] = []
    lines = ReportLines(report, found.names)
    if dry_run:
        changes = [c for part in parts for c in part]
        lines.add(changes, results)
    elif in_parts:
        writes = sum(1 for c in changes if c.writes)
        changes, results = written_in_parts(connector, parts, writes, progress, lines.add)
        checkpoint("applied")
    else:
        changes = [c for part in parts for c in part]
        results = connector.apply(changes, progress)
        checkpoint("applied")
        lines.add(changes, results)
    lines.close()
    report.active_plays = after_run(packs, plays, found.users, play_tasks, changes,  # report/plays.py
                                    None if dry_run else results, as_of, lambda i: task_url(connector, i))
    if loaded.config.health_fields is not None:
        report.health_written = sync_health(
            connector, loaded.config.health_fields.mapping(),
            loaded.config.report.health_weights.model_dump(), severities,
            found.evaluated, as_of, dry_run)
    late = getattr(connector, "write_warnings", [])  # writes beside the plan that failed
    report.warnings += late
    if late and not dry_run:
        report.outcome, report.exit_code = "partial", int(ExitCode.PARTIAL_FAILURE)
    settings = loaded.config.digest
    if settings is not None and digest:
        severity = {c.fingerprint: c.severity for c in changes if c.severity}
        after = tasks_after([*existing, *play_tasks], changes, results if not dry_run else None)
        where = repr(sorted(crm_section(loaded).items()))
        report.digest = DigestReport(messages=build(
            settings, where, as_of, after, severity, report.plays, found.names, found.users,
            plays.titles() if plays else None))
    if not dry_run and report.counts["failed"] == 0:
        connector.commit()
    report.api_calls = connector.api_calls
    report.finished = now_iso()
    return report


class ReportLines:
    """A run's report lines and counts, filled a batch of changes at a time (a run writing part
    by part fills each part's while the next renders)."""

    def __init__(self, report: RunReport, names: dict[str, str] | None = None) -> None:
        self.report, self.names, self.counts = report, names or {}, Counter[str]()

    def add(self, changes: list[Change], results: list[ChangeResult]) -> None:
        """`results`: the connector's, one per write among `changes`, in order (none: nothing
        was written)."""
        report, names, counts = self.report, self.names, self.counts
        pending = iter(results)
        for change in changes:
            result = next(pending, None) if change.writes and results else None
            ok = result.ok if result is not None else True
            counts[PAST[change.action] if ok else "failed"] += 1
            report.changes.append(made(  # one per change: see kamrules/construct.py
                ChangeReport,
                action=change.action, fingerprint=change.fingerprint,
                account_id=change.task.account_id, subject=change.task.subject,
                owner_id=change.task.owner_id, severity=change.severity, reason=change.reason,
                owner_name=names.get(change.task.owner_id or ""),
                account_name=names.get(change.task.account_id),
                ok=ok, error=result.error if result else None,
                crm_id=(result.crm_id if result else None) or change.task.crm_id,
            ))

    def close(self) -> None:
        counts, report = self.counts, self.report
        report.counts = {k: counts.get(k, 0) for k in COUNTED}
        if counts.get("failed"):
            report.outcome, report.exit_code = "partial", int(ExitCode.PARTIAL_FAILURE)
