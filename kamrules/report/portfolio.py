"""The portfolio report's content: key-account health, findings, open tasks, owners, trends.

Built from one evaluation (the findings as of a date), the CRM's kamrules tasks, the run
history and the snoozes; no I/O here. `kamrules report` renders it as HTML or dumps it as JSON.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import date
from typing import Any

from kamrules.evaluation.findings import Finding
from kamrules.language.loader import LoadedPack
from kamrules.model import SEVERITIES, Account, Severity, Snapshot, Task
from kamrules.report.models import (
    BANDS,
    AccountRow,
    FindingRow,
    OwnerPlays,
    OwnerRow,
    PortfolioReport,
    PrincipleRow,
    RunChanges,
    Summary,
    TaskRow,
    TrendPoint,
    band_of,
)
from kamrules.report.notes import group_notes, next_steps, note, principle_names, snooze_notes, snooze_rows
from kamrules.report.plays import active_plays
from kamrules.run.snooze import Snooze

WORST_FIRST = tuple(reversed(SEVERITIES))
SERIOUS = frozenset({"high", "critical"})
TREND_POINTS = 12


def health(severities: list[str], weights: dict[str, int]) -> int:
    """100 minus the weight of every finding's severity, never below 0."""
    return max(0, 100 - sum(weights.get(s, 0) for s in severities))


def worst(severities: list[str]) -> Severity | None:
    return next((s for s in WORST_FIRST if s in severities), None)  # type: ignore[return-value]


def latest_revenue(account: Account) -> float | None:
    return max(account.revenue, key=lambda r: r.year).amount if account.revenue else None


def no_url(task_id: str) -> str | None:
    return None


def build_report(
    snapshot: Snapshot,
    findings: list[Finding],
    packs: list[LoadedPack],
    tasks: list[Task],
    runs: list[dict[str, Any]],
    weights: dict[str, int],
    generated: str,
    snoozes: list[Snooze] | None = None,
    task_url: Callable[[str], str | None] = no_url,
    currency: str | None = None,
    locale: str = "en",
) -> PortfolioReport:
    """The report as of the snapshot's date; `runs` are stored run reports, oldest first.

    A finding an active snooze holds back is listed with the snooze and counts for nothing in
    health; `task_url` gives a CRM task's address in the CRM's UI (the connector knows it).
    """
    as_of = snapshot.as_of
    rules = {(p.id, r.id): r for p in packs for r in p.rules}
    groups = sorted({g for r in rules.values() for g in (r.groups or ["other"])})
    users = {u.id: u.name for u in snapshot.users}
    account_names = {a.id: a.name for a in snapshot.accounts}
    severity_of = {f"{p}/{r}": rule.severity for (p, r), rule in rules.items()}
    names = principle_names(packs)
    steps = next_steps(snapshot, findings, packs, as_of)
    held = snooze_notes([f.fingerprint for f in findings], snoozes or [], as_of)

    open_tasks = [t for t in tasks if t.status == "open"]
    task_rows = {t.fingerprint: _task_row(t, severity_of, as_of, users, task_url) for t in open_tasks}
    tasks_by_account: dict[str, list[TaskRow]] = defaultdict(list)
    for t in open_tasks:
        tasks_by_account[t.account_id].append(task_rows[t.fingerprint])

    by_account: dict[str, list[FindingRow]] = defaultdict(list)
    for f in findings:
        rule = rules[(f.pack_id, f.rule_id)]
        by_account[f.account_id].append(FindingRow(
            pack=f.pack_id, rule_id=f.rule_id, title=rule.title, severity=f.severity,
            principles=list(rule.principles), groups=list(rule.groups or ["other"]),
            evidence=dict(f.evidence), task=task_rows.get(f.fingerprint),
            principle_names={p: names[p] for p in rule.principles if p in names},
            next_step=steps.get(f.fingerprint), rationale=rule.rationale.strip(),
            snooze=note(held[f.fingerprint]) if f.fingerprint in held else None,
        ))
    history = _history(runs, as_of, weights)
    owner_of = {a.id: (a.name, a.owner_id) for a in snapshot.accounts}
    plays = active_plays(packs, tasks, as_of, users, owner_of, task_url)
    plays_of_account = {a.account_id: a.plays for a in plays.accounts}

    rows = []
    for account in snapshot.accounts:
        found = sorted(by_account.get(account.id, []),
                       key=lambda r: (r.snooze is not None, -SEVERITIES.index(r.severity), r.rule_id))
        if not account.is_key and not found and account.id not in plays_of_account:
            continue
        counted = [r for r in found if r.snooze is None]
        severities = [r.severity for r in counted]
        cells = {g: worst([r.severity for r in counted if g in r.groups]) for g in groups}
        score = health(severities, weights)
        trend = [TrendPoint(as_of=day, health=points.get(account.id, 100))
                 for day, points in history][-(TREND_POINTS - 1):]
        trend.append(TrendPoint(as_of=as_of, health=score))
        rows.append(AccountRow(
            id=account.id, name=account.name, is_key=account.is_key, owner_id=account.owner_id,
            owner_name=users.get(account.owner_id or "", account.owner_id or "unassigned"),
            revenue=latest_revenue(account), health=score, worst=worst(severities), cells=cells,
            findings=found, open_tasks=sorted(tasks_by_account.get(account.id, []),
                                              key=lambda t: -(t.age_days or 0)),
            trend=trend, band=band_of(score), snoozed=len(found) - len(counted),
            trend_delta=score - trend[-2].health if len(trend) > 1 else None,
            plays=plays_of_account.get(account.id, []),
        ))
    key_rows = sorted((r for r in rows if r.is_key), key=lambda r: (r.health, r.name))
    other_rows = sorted((r for r in rows if not r.is_key), key=lambda r: (r.health, r.name))

    healthy = sum(1 for r in key_rows
                  if not any(f.severity in SERIOUS and f.snooze is None for f in r.findings))
    summary = Summary(
        accounts_evaluated=len(snapshot.accounts),
        key_accounts=len(key_rows),
        findings=len(findings),
        key_accounts_without_serious=healthy,
        share_without_serious=round(healthy / len(key_rows), 4) if key_rows else 1.0,
        open_tasks=len(open_tasks),
        overdue_tasks=sum(1 for r in task_rows.values() if r.overdue),
        findings_by_severity={s: sum(1 for f in findings if f.severity == s) for s in WORST_FIRST},
        top_principles=_principles(findings, rules, names),
        changes=_changes(runs, tasks, as_of),
        snoozed_findings=len(held),
        key_accounts_by_band={b: sum(1 for r in key_rows if r.band == b) for b, _ in BANDS},
        active_plays=plays.active, overdue_play_steps=plays.overdue_steps,
    )
    owners = _owners(list(task_rows.values()), users, key_rows)
    _add_plays(owners, plays.owners)
    return PortfolioReport(
        as_of=as_of, generated=generated, packs=[f"{p.id} {p.version}" for p in packs],
        weights=weights, groups=groups, summary=summary, accounts=key_rows,
        other_accounts=other_rows, owners=owners,
        currency=currency, locale=locale,
        snoozes=snooze_rows(snoozes or [], held, account_names, as_of), group_notes=group_notes(packs),
    )


def _task_row(task: Task, severity_of: dict[str, Severity], as_of: date, users: dict[str, str],
              task_url: Callable[[str], str | None]) -> TaskRow:
    return TaskRow(
        crm_id=task.crm_id, fingerprint=task.fingerprint, subject=task.subject,
        owner_id=task.owner_id, severity=severity_of.get(task.fingerprint.rsplit("/", 1)[0]),
        age_days=(as_of - task.created).days if task.created else None,
        due=task.due, overdue=task.due is not None and task.due < as_of,
        owner_name=users.get(task.owner_id or "", task.owner_id),
        url=task_url(task.crm_id) if task.crm_id else None,
    )


def _history(runs: list[dict[str, Any]], as_of: date,
             weights: dict[str, int]) -> list[tuple[date, dict[str, int]]]:
    """Health per account at each earlier run date (the last run of each day counts)."""
    per_day: dict[date, dict[str, int]] = {}
    for run in runs:
        day = date.fromisoformat(run["as_of"])
        if day >= as_of:
            continue
        severities: dict[str, list[str]] = defaultdict(list)
        for change in run.get("changes", []):
            # a change with a severity is one finding of that run; a snoozed one is not counted
            if change.get("severity") and change.get("action") != "snoozed":
                severities[change["account_id"]].append(change["severity"])
        per_day[day] = {a: health(s, weights) for a, s in severities.items()}
    return sorted(per_day.items())


def _principles(findings: list[Finding], rules: dict[tuple[str, str], Any],
                names: dict[str, str]) -> list[PrincipleRow]:
    counts: Counter[str] = Counter()
    accounts: dict[str, set[str]] = defaultdict(set)
    by: dict[str, set[str]] = defaultdict(set)
    for f in findings:
        rule = rules[(f.pack_id, f.rule_id)]
        for p in rule.principles:
            counts[p] += 1
            accounts[p].add(f.account_id)
            by[p].add(rule.id)
    return [PrincipleRow(principle=p, findings=n, accounts=len(accounts[p]), rules=sorted(by[p]),
                         name=names.get(p))
            for p, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:10]]


def _changes(runs: list[dict[str, Any]], tasks: list[Task], as_of: date) -> RunChanges:
    done = [r for r in runs if r.get("mode") == "run" and date.fromisoformat(r["as_of"]) <= as_of]
    if not done:
        return RunChanges()
    latest = done[-1]
    previous = date.fromisoformat(done[-2]["as_of"]) if len(done) > 1 else None

    def of(action: str) -> list[str]:
        return [c["fingerprint"] for c in latest.get("changes", [])
                if c["action"] == action and c.get("ok", True)]

    by_hand = [t.fingerprint for t in tasks if t.status == "completed" and t.completed
               and (previous is None or t.completed > previous) and t.completed <= as_of]
    return RunChanges(
        run_id=latest.get("id"), run_as_of=date.fromisoformat(latest["as_of"]),
        previous_as_of=previous, created=of("create"), closed=of("close"),
        snoozed=of("snoozed"), completed_by_hand=sorted(by_hand),
    )


def _owners(rows: list[TaskRow], users: dict[str, str], accounts: list[AccountRow]) -> list[OwnerRow]:
    """Everyone with open tasks or key accounts: their tasks, and their key accounts worst first."""
    grouped: dict[str | None, list[TaskRow]] = defaultdict(list)
    for r in rows:
        grouped[r.owner_id].append(r)
    owned: dict[str | None, list[AccountRow]] = defaultdict(list)
    for a in accounts:  # already worst first
        owned[a.owner_id].append(a)
    out = []
    for owner in sorted(set(grouped) | set(owned), key=lambda o: o or ""):
        items = grouped.get(owner, [])
        mine = owned.get(owner, [])
        ages = [t.age_days for t in items if t.age_days is not None]
        out.append(OwnerRow(
            id=owner, name=users.get(owner or "", owner or "unassigned"),
            open_by_severity={s: sum(1 for t in items if t.severity == s) for s in WORST_FIRST},
            open_tasks=len(items), overdue=sum(1 for t in items if t.overdue),
            oldest_age_days=max(ages) if ages else None,
            key_accounts=[a.id for a in mine],
            lowest_health=min((a.health for a in mine), default=None),
            findings=sum(len(a.findings) - a.snoozed for a in mine),
        ))
    return sorted(out, key=lambda o: (-o.overdue, -o.open_tasks, o.name))


def _add_plays(owners: list[OwnerRow], plays: list[OwnerPlays]) -> None:
    """Each owner's active plays and overdue play steps; someone with only those gets a row."""
    rows = {o.id: o for o in owners}
    for p in plays:
        row = rows.get(p.owner_id)
        if row is None:
            row = OwnerRow(id=p.owner_id, name=p.owner_name, open_by_severity={}, open_tasks=0,
                           overdue=0, oldest_age_days=None)
            owners.append(row)
        row.plays, row.overdue_steps = p.plays, p.overdue_steps
