"""A run's or plan's report as text: a summary by severity and owner, the changes grouped by
action, the plays, the digest, the warnings and the data-quality lines (`run`, `plan`)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import click

from kamrules.cli.common import err, labelled, out
from kamrules.inputs.sanitize import cell, one_line
from kamrules.model import RECORD_KINDS

SEVERITY_ORDER = ("critical", "high", "medium", "low", "info")
ACTION_TITLES = {"create": "created", "update": "updated", "close": "closed", "held": "held back",
                 "suppressed": "suppressed", "snoozed": "snoozed", "keep": "kept"}


def _print_plays_and_digest(report: Any) -> None:
    for t in report.plays:
        where = f" {t.step}" if t.step else ""
        click.echo(f"play {t.kind}: {t.pack_id}/{t.play_id}/{t.account_id}{where}"
                   f" (started {t.started}){': ' + t.detail if t.detail else ''}")
    active = report.active_plays
    if active is not None and active.active:
        click.echo(f"active plays: {active.active}, {active.overdue_steps} steps overdue"
                   " (kamrules report lists them per account and owner)")
    if report.digest is None:
        return
    for m in report.digest.messages:
        state = "would send" if m.status == "planned" else m.status
        click.echo(f"digest {state}: {m.channel} to {m.to or m.owner_id}: {m.subject}"
                   f"{' (' + m.error + ')' if m.error else ''}")
    if report.digest.outcome == "failed":
        err.print(labelled("warning", "yellow", "digest: some messages failed; they are retried on"
                           " the next run (the tasks were written)"))


def _who(change: Any) -> str:
    return one_line(change.owner_name or change.owner_id or "(no owner)")


def print_report(report: Any, dry_run: bool, limit: int) -> None:
    """A summary by severity and by owner, then the changes grouped by action, N per group."""
    verb = "would be " if dry_run else ""
    if dry_run:
        click.echo("dry run: nothing written")
    # a bundled task carries several findings: the severities are counted per open task
    tasks = [c for c in report.changes if c.action in ("create", "update", "keep") and c.severity]
    by_severity = Counter(c.severity for c in tasks)
    sev = ", ".join(f"{by_severity[s]} {s}" for s in SEVERITY_ORDER if by_severity[s])
    click.echo(f"{report.accounts} accounts, {report.findings} findings as of {report.as_of}"
               f"{f'; {len(tasks)} tasks by severity: ' + sev if sev else ''}")
    new = [c for c in report.changes if c.action in ("create", "update")]
    owners = Counter(_who(c) for c in new)
    if owners:
        top = ", ".join(f"{name} {n}" for name, n in owners.most_common(limit or None))
        more = len(owners) - limit if limit and len(owners) > limit else 0
        click.echo(f"new or updated tasks by owner: {top}{f', ... {more} more' if more else ''}")
    for action in ("create", "update", "close", "held", "suppressed", "snoozed", "keep"):
        group = [c for c in report.changes if c.action == action and (action != "keep" or not c.ok)]
        failed = [c for c in group if not c.ok]
        if not group:
            continue
        rank = {s: i for i, s in enumerate(SEVERITY_ORDER)}
        group.sort(key=lambda c: (c.ok, rank.get(c.severity or "info", 9), c.fingerprint))
        title = f"{verb}{ACTION_TITLES[action]}"
        click.echo(f"\n{title} ({len(group)}{f', {len(failed)} FAILED' if failed else ''}):")
        shown = group if not limit else group[:limit]
        for c in shown:
            note = (c.error if not c.ok else c.reason) or ""
            state = "FAILED " if not c.ok else ""
            click.echo("\t".join((f"  {state}{c.severity or '-'}", cell(c.fingerprint),
                                  cell(_who(c)), cell(c.subject), cell(note))).rstrip("\t"))
        if len(group) > len(shown):
            click.echo(f"  ... {len(group) - len(shown)} more (--format json for all)")
    _print_plays_and_digest(report)
    _print_warnings(report.warnings, limit)
    _print_field_failures(report)
    for problem in report.data_quality:
        err.print(labelled("data-quality gate", "red", f"{problem}; nothing was written (fix"
                           " the mapping or the records, or raise"
                           " data_quality.max_field_failure_share)"))
    counts = ", ".join(f"{n} {verb}{k}" for k, n in report.counts.items() if n)
    out.print(
        f"\n{report.accounts} accounts, {report.findings} findings as of {report.as_of}: "
        f"{counts or 'nothing to do'}; {len(report.warnings)} warnings; "
        f"{report.api_calls} API calls; {report.engine} engine."
    )


def _print_field_failures(report: Any) -> None:
    """Each field that failed on some records but did not stop the run, worst first: how close
    a CRM is to the data-quality gate (the warnings above show a few records each)."""
    stopped = {p.field for p in report.data_quality}
    for s in sorted(report.field_failures, key=lambda s: (-s.share, s.field)):
        if s.field not in stopped:
            source = f" (from {s.source})" if s.source else ""
            err.print(labelled("data quality", "yellow", f"{s.field}{source} failed on"
                               f" {s.failed:,} of {s.present:,} records ({s.share:.0%})"))


def _print_warnings(warnings: list[Any], limit: int) -> None:
    """The run's warnings, at most `limit` of each kind (0: all), then how many more of each:
    a CRM with a broken field can skip hundreds of thousands of records, and a line each was
    minutes of output no one reads (the JSON report lists every one)."""
    shown: Counter[str] = Counter()
    more: Counter[str] = Counter()
    for w in warnings:
        if limit and shown[w.kind] >= limit:
            more[w.kind] += 1
            continue
        shown[w.kind] += 1
        err.print(labelled("warning", "yellow", f"{_skipped(w.kind)}{w.kind} {w.record_id}:"
                           f" {w.message}"))
    for kind, n in more.items():
        err.print(labelled("warning", "yellow", f"... {n:,} more {_skipped(kind)}{kind} (--limit 0"
                           " or --format json for all)"))


def _skipped(kind: str) -> str:
    """"skipped " before a record the run left out; not before a snooze, an assignee or a
    mapping warned of (they are not skipped: "skipped assignees U-9" misled)."""
    return "skipped " if kind in RECORD_KINDS or kind == "tasks" else ""
