"""The report page's sections below the heatmap: owners, principles, snoozes, each account.

Every element a filter acts on carries its owner (`data-owner`) and its open findings as
`severity|group` tokens (`data-fg`), so the inline script filters without knowing the model.
"""

from __future__ import annotations

from html import escape
from typing import Any

from kamrules.report.marks import delta, health_badge, money, sev
from kamrules.report.models import AccountRow, FindingRow, PortfolioReport, TaskRow
from kamrules.report.playsection import account_plays
from kamrules.report.portfolio import WORST_FIRST
from kamrules.writeback.tasks import evidence_items


def owner_key(a: AccountRow) -> str:
    return a.owner_id or "unassigned"


def fg_tokens(a: AccountRow) -> str:
    return escape(" ".join(sorted({f"{f.severity}|{g}" for f in a.findings if f.snooze is None
                                   for g in f.groups})))


def principle_label(code: str, name: str | None) -> str:
    return (f'<abbr title="{escape(code)}">{escape(code)}</abbr> {escape(name)}' if name
            else escape(code))


def owners(report: PortfolioReport) -> str:
    """One row per owner: their key accounts (worst first, by health) and their open tasks."""
    names = {a.id: a for a in report.accounts}
    rows = []
    for o in report.owners:
        mine = [names[i] for i in o.key_accounts if i in names]
        chips = "".join(f'<a href="#acc-{escape(a.id)}">{health_badge(a.health)} {escape(a.name)}</a>'
                        for a in mine) or '<span class="meta">none</span>'
        by_sev = "".join(f'<td class="num">{o.open_by_severity.get(s, 0) or ""}</td>' for s in WORST_FIRST)
        rows.append(
            f'<tr data-owner="{escape(o.id or "unassigned")}"><th scope="row">{escape(o.name)}</th>'
            f'<td class="chips">{chips}</td><td class="num">{o.open_tasks}</td>{by_sev}'
            f'<td class="num{" overdue" if o.overdue else ""}">{o.overdue}</td>'
            f'<td class="num">{o.oldest_age_days if o.oldest_age_days is not None else "–"}</td></tr>')
    head = "".join(f'<th class="num">{sev(s, word=False)}</th>' for s in WORST_FIRST)
    return (
        '<section id="owners"><h2>By owner</h2><p>Each owner\'s key accounts, worst health first,'
        " and the kamrules tasks open in their name (by severity).</p>"
        '<table class="wide"><thead><tr><th>owner</th><th>key accounts</th><th class="num">open</th>'
        f'{head}<th class="num">overdue</th><th class="num">oldest (days)</th></tr></thead>'
        f"<tbody>{''.join(rows) or '<tr><td colspan=10>nobody</td></tr>'}</tbody></table></section>"
    )


def _codes(codes: list[str]) -> str:
    """Rule ids that wrap between ids, never inside one (KAM-ID-005 stays whole)."""
    return ", ".join(f'<span class="code">{escape(c)}</span>' for c in codes)


def principles(report: PortfolioReport) -> str:
    rows = "".join(
        f"<tr><td>{principle_label(p.principle, p.name)}</td><td class=\"num\">{p.findings}</td>"
        f"<td class=\"num\">{p.accounts}</td><td>{_codes(p.rules)}</td></tr>"
        for p in report.summary.top_principles
    )
    return ('<section id="principles"><h2>Principles most often broken</h2><table class="wide">'
            '<thead><tr><th>principle</th><th class="num">findings</th><th class="num">accounts</th>'
            f"<th>rules</th></tr></thead><tbody>{rows or '<tr><td colspan=4>none</td></tr>'}"
            "</tbody></table></section>")


def snoozes(report: PortfolioReport) -> str:
    """Every active snooze: what, why, who asked, until when, and what it holds back today."""
    if not report.snoozes:
        return ('<section id="snoozes"><h2>Snoozes</h2><p>No active snoozes: every finding counts'
                " in health (<code>kamrules snooze add</code> records an exception).</p></section>")
    rows = "".join(
        f"<tr><td>{escape(s.account_name or s.account_id or 'every account')}</td>"
        f"<td class=\"code\">{escape(s.rule or 'every rule')}</td><td>{escape(s.reason)}</td>"
        f"<td>{escape(s.requested_by)}</td><td>{s.until} <span class=\"meta\">({s.days_left} days"
        f" left)</span></td><td class=\"num\">{len(s.findings)}</td></tr>"
        for s in report.snoozes)
    return ('<section id="snoozes"><h2>Snoozes</h2><p>Findings held back on purpose: they create no'
            " task and take nothing off health until the snooze ends.</p>"
            '<table class="wide"><thead><tr><th>account</th><th>rule</th><th>reason</th>'
            '<th>requested by</th><th>until</th><th class="num">findings held</th></tr></thead>'
            f"<tbody>{rows}</tbody></table></section>")


def _evidence(evidence: dict[str, Any]) -> str:
    items = "".join(
        f'<li title="fact {escape(name)}">{escape((meaning or name).rstrip(". "))}: '
        f"<b>{escape(value)}{escape(' ' + unit if unit else '')}</b></li>"
        for name, value, unit, meaning in evidence_items(evidence)
    )
    return f'<ul class="evidence">{items}</ul>'


def task_text(task: TaskRow | None) -> str:
    if task is None:
        return "no open task"
    where = (f'<a href="{escape(task.url)}" target="_blank" rel="noopener">open task'
             f" {escape(task.crm_id or '')} in the CRM ↗</a>" if task.url
             else f"task <code>{escape(task.crm_id or '?')}</code>")
    who = f" for {escape(task.owner_name)}" if task.owner_name else ""
    age = f", {task.age_days} days old" if task.age_days is not None else ""
    due = ""
    if task.due:
        due = f", due {task.due}" + (' <span class="overdue">OVERDUE</span>' if task.overdue else "")
    return f"{where}{who}{age}{due}"


def _finding(f: FindingRow) -> str:
    if f.principles and all(p in f.principle_names for p in f.principles):
        # the principles by name say why; the rule's own rationale is one hover away
        why = "<br>".join(principle_label(p, f.principle_names[p]) for p in f.principles)
        why = f'<span title="{escape(f.rationale)}">{why}</span>'
    else:
        codes = ", ".join(escape(p) for p in f.principles)
        why = escape(f.rationale) + (f' <span class="meta">({codes})</span>' if codes else "")
    if f.snooze is not None:
        status = (f'<span class="snooze">snoozed until {f.snooze.until} by {escape(f.snooze.requested_by)}:'
                  f" {escape(f.snooze.reason)}</span> — counts for nothing in health")
        if f.task is not None:
            status += f"; still open: {task_text(f.task)}"
    else:
        status = task_text(f.task)
    step = escape(f.next_step) if f.next_step else '<span class="meta">see the task</span>'
    return (
        f'<div class="finding{" snoozed" if f.snooze else ""}" data-sev="{f.severity}"'
        f' data-groups="{escape(" ".join(f.groups))}">'
        f'<div class="head">{sev(f.severity)} <b>{escape(f.title)}</b> '
        f'<code class="meta">{escape(f.rule_id)}</code> <span class="meta">· {escape(", ".join(f.groups))}'
        "</span></div>"
        f'<div><span class="label">Why it matters</span><p class="what">{why}</p>'
        f'<span class="label">Evidence</span>{_evidence(f.evidence)}</div>'
        f'<div><span class="label">Next step</span><p class="what">{step}</p>'
        f'<span class="label">Task</span><p class="what">{status}</p></div></div>'
    )


def account(a: AccountRow, report: PortfolioReport) -> str:
    findings = "".join(_finding(f) for f in a.findings) or "<p>No findings.</p>"
    held = {f"{f.pack}/{f.rule_id}/{a.id}" for f in a.findings}
    stale = [t for t in a.open_tasks if t.fingerprint not in held]
    extra = ""
    if stale:
        extra = ("<p>Open tasks whose finding no longer holds (closed at the next run):</p><ul>"
                 + "".join(f"<li>{escape(t.subject)} — {task_text(t)}</li>" for t in stale) + "</ul>")
    snoozed = f" · {a.snoozed} snoozed" if a.snoozed else ""
    snoozed += f" · {len(a.plays)} active plays" if a.plays else ""
    return (
        f'<section class="account" id="acc-{escape(a.id)}" data-owner="{escape(owner_key(a))}"'
        f' data-fg="{fg_tokens(a)}"><h3>{escape(a.name)} <span class="meta">({escape(a.id)})</span></h3>'
        f"<p>Owner {escape(a.owner_name)} · revenue {money(a.revenue, report.currency, report.locale)}"
        f" · health {health_badge(a.health)} {delta(a.trend_delta)}"
        f" · worst finding {sev(a.worst)} · {len(a.open_tasks)} open tasks{snoozed}</p>"
        f"{findings}{extra}{account_plays(a)}</section>"
    )
