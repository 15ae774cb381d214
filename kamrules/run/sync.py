"""One run: pull -> derive facts -> evaluate -> reconcile -> apply (skipped by `plan`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from kamrules.errors import ExitCode
from kamrules.evaluation.engine import Engine
from kamrules.evaluation.facts import Portfolio, account_views, facts_for, portfolio_context
from kamrules.evaluation.findings import Finding
from kamrules.language.loader import LoadedPack
from kamrules.model import RecordWarning, Snapshot
from kamrules.protocol.changes import Change, ChangeResult
from kamrules.protocol.connector import Connector, Progress, StreamingConnector, no_progress
from kamrules.protocol.faults import checkpoint
from kamrules.run.cleaning import clean
from kamrules.run.config import LoadedConfig, policy_resolver
from kamrules.run.snooze import Snooze, snoozed
from kamrules.writeback.bundles import Item, bundle, moved_to
from kamrules.writeback.reconcile import Desired, Scope, reconcile
from kamrules.writeback.tasks import Directory, build_task

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
    error: str | None = None  # why a run stopped (outcome "error"), as printed on stderr


def now_iso() -> str:
    """The current UTC time as an ISO timestamp (run history, reports)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def evaluate(
    snapshot: Any, packs: list[LoadedPack], progress: Progress = no_progress,
    engine_kind: str | None = None,
) -> tuple[list[Finding], set[str]]:
    """Findings of all active rules over every account; also the ids that were evaluated."""
    engine = Engine(packs, engine_kind)
    findings: list[Finding] = []
    evaluated: set[str] = set()
    total = len(snapshot.accounts)
    for i, view in enumerate(account_views(snapshot), 1):
        facts = facts_for(view)
        findings.extend(engine.findings_for(view.account.id, facts))
        evaluated.add(view.account.id)
        if i % 1000 == 0:
            progress("evaluate", i, total)
    progress("evaluate", total, total)
    return findings, evaluated


CHUNK_ACCOUNTS = 5000


def pulled(connector: Connector, as_of: date, progress: Progress = no_progress,
           size: int = CHUNK_ACCOUNTS) -> tuple[Portfolio, Iterator[Snapshot]]:
    """The portfolio context and the portfolio in cleaned chunks of accounts.

    A streaming connector hands over `size` accounts at a time, so memory holds one chunk;
    any other connector's single pull is one chunk.
    """
    if isinstance(connector, StreamingConnector):
        portfolio = portfolio_context(connector.pull_accounts(as_of), as_of)
        return portfolio, (clean(c) for c in connector.pull_chunks(as_of, size, progress))
    snapshot = clean(connector.pull(as_of, progress))
    return portfolio_context(snapshot.accounts, as_of), iter([snapshot])


def run(
    connector: Connector,
    packs: list[LoadedPack],
    loaded: LoadedConfig,
    as_of: date,
    dry_run: bool,
    progress: Progress = no_progress,
    snoozes: list[Snooze] | None = None,
    chunk_size: int = CHUNK_ACCOUNTS,
) -> RunReport:
    report = RunReport(mode="plan" if dry_run else "run", as_of=as_of, started=now_iso())
    portfolio, chunks = pulled(connector, as_of, progress, chunk_size)
    checkpoint("pulled")
    engine = Engine(packs, loaded.config.engine)
    report.engine = engine.name
    rules = {(p.id, r.id): (p, r) for p in packs for r in p.rules}
    desired: list[Desired] = []
    items: list[Item] = []
    evaluated: set[str] = set()
    names: dict[str, str] = {}  # user and account id -> name, for the report
    for chunk in chunks:
        report.warnings += chunk.warnings
        directory = Directory.from_snapshot(chunk, loaded.config.sales_ops_owner)
        names.update(directory.users)
        names.update({a.id: a.name for a in chunk.accounts})
        for view in account_views(chunk, portfolio):
            facts = facts_for(view)
            for f in engine.findings_for(view.account.id, facts):
                pack, rule = rules[(f.pack_id, f.rule_id)]
                one = Desired(build_task(f, pack, rule, directory, as_of, facts), rule.severity)
                if pack.tasks == "per_group":
                    items.append(Item(pack, rule, one))
                else:
                    desired.append(one)
            evaluated.add(view.account.id)
        progress("evaluate", len(evaluated), None)
    report.accounts = len(evaluated)
    report.findings = len(desired) + len(items)
    for s in snoozes or []:  # e.g. written by hand with a name: it would never apply
        if s.account and s.active(as_of) and s.account not in evaluated:
            report.warnings.append(RecordWarning(
                kind="snoozes", record_id=s.account,
                message=f"no account has the id {s.account!r}, so this snooze never applies;"
                " re-add it with `kamrules snooze add --account` (it finds accounts by name)"))
    checkpoint("evaluated")

    # snoozes apply to each finding; a snoozed finding stays out of its bundle
    paused = snoozed([d.task.fingerprint for d in desired] + [i.desired.task.fingerprint
                                                                for i in items], snoozes or [], as_of)
    desired += [i.desired for i in items if i.desired.task.fingerprint in paused]
    desired += bundle([i for i in items if i.desired.task.fingerprint not in paused], as_of, names)
    policy_for = policy_resolver(loaded, packs)
    longest = max([loaded.config.lifecycle.renotify_after_days]
                  + [policy_for(d.task.fingerprint).renotify_after_days for d in desired])
    existing = connector.list_tasks(as_of - timedelta(days=longest))
    scope = Scope(accounts=evaluated, packs={p.id for p in packs}, snoozed=paused,
                  rules={f"{p.id}/{r.id}" for p in packs for r in p.active_rules}
                  | {f"{p.id}/bundle:{r.bundle_key}" for p in packs if p.tasks == "per_group"
                     for r in p.active_rules},
                  moved=moved_to(packs))
    changes = reconcile(desired, existing, scope, policy_for, as_of, loaded.limits())
    checkpoint("reconciled")

    results: list[ChangeResult] = []
    if not dry_run:
        results = connector.apply(changes, progress)
        checkpoint("applied")
    _fill(report, changes, results, names)
    if not dry_run and report.counts["failed"] == 0:
        connector.commit()
    report.api_calls = connector.api_calls
    report.finished = now_iso()
    return report


def _fill(report: RunReport, changes: list[Change], results: list[ChangeResult],
          names: dict[str, str] | None = None) -> None:
    """Counts and per-change detail; connectors return one result per write, in order."""
    counts: Counter[str] = Counter()
    pending = iter(results)
    for change in changes:
        result = next(pending, None) if change.writes and results else None
        ok = result.ok if result is not None else True
        counts[PAST[change.action] if ok else "failed"] += 1
        report.changes.append(ChangeReport(
            action=change.action, fingerprint=change.fingerprint,
            account_id=change.task.account_id, subject=change.task.subject,
            owner_id=change.task.owner_id, severity=change.severity, reason=change.reason,
            owner_name=(names or {}).get(change.task.owner_id or ""),
            account_name=(names or {}).get(change.task.account_id),
            ok=ok, error=result.error if result else None,
            crm_id=(result.crm_id if result else None) or change.task.crm_id,
        ))
    report.counts = {k: counts.get(k, 0) for k in COUNTED}
    if counts.get("failed"):
        report.outcome, report.exit_code = "partial", int(ExitCode.PARTIAL_FAILURE)
