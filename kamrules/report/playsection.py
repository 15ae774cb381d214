"""The report page's plays: per owner (their plays and overdue steps) and, in each account's
section, its active plays step by step. Overdue is said in words and days, never by colour alone.
"""

from __future__ import annotations

from html import escape

from kamrules.report.marks import sev
from kamrules.report.models import AccountRow, OverdueStep, PlayRow, PlayStepRow, PortfolioReport

STATE_WORDS = {"waiting": "not opened yet", "open": "open", "done": "done", "closed": "closed"}


def _days(n: int) -> str:
    return f"{n} day{'s' if n != 1 else ''}"


def _link(url: str | None, crm_id: str | None, label: str) -> str:
    if url:
        return f'<a href="{escape(url)}" target="_blank" rel="noopener">{escape(label)} ↗</a>'
    return f"<code>{escape(crm_id)}</code>" if crm_id else '<span class="meta">–</span>'


def _overdue(step: OverdueStep) -> str:
    escalated = ' <span class="escalated">escalated</span>' if step.escalated and not step.escalation else ""
    return (f'<li class="overdue-step" data-days="{step.overdue_days}">'
            f'<a href="#acc-{escape(step.account_id)}">{escape(step.account_name)}</a>:'
            f" {escape(step.step_title)} <span class=\"meta\">({escape(step.play_title)})</span>"
            f' — due {step.due}, <span class="overdue">{_days(step.overdue_days)} overdue</span>'
            f"{escalated}{' ' + _link(step.url, None, 'task') if step.url else ''}</li>")


def plays_by_owner(report: PortfolioReport) -> str:
    """Everyone with an active play: the plays (on their accounts or with a step of theirs) and
    their play steps past due, most overdue first."""
    s = report.summary
    rows = []
    for o in report.owners:
        if not o.plays and not o.overdue_steps:
            continue
        plays = "".join(
            f'<li><a href="#acc-{escape(p.account_id)}">{escape(p.account_name)}</a>: {escape(p.title)}'
            + ("" if p.account_owner else ' <span class="meta">(a step of theirs)</span>')
            + (f' <span class="meta">· open: {escape(", ".join(p.open_steps))}</span>'
               if p.open_steps else "") + "</li>" for p in o.plays)
        late = "".join(_overdue(step) for step in o.overdue_steps) or '<li class="meta">none</li>'
        rows.append(f'<tr data-owner="{escape(o.id or "unassigned")}" class="play-owner">'
                    f'<th scope="row">{escape(o.name)}</th><td><ul class="plain">{plays}</ul></td>'
                    f'<td class="num">{len(o.overdue_steps)}</td><td><ul class="plain">{late}</ul></td></tr>')
    if not rows:
        return ('<section id="plays"><h2>Plays</h2><p>No play is running: none of the packs\''
                " plays has started for an account (<code>kamrules plays</code> lists them).</p></section>")
    return (
        '<section id="plays"><h2>Plays</h2>'
        f"<p><b>{s.active_plays}</b> active {'play' if s.active_plays == 1 else 'plays'},"
        f" <b>{s.overdue_play_steps}</b> {'step' if s.overdue_play_steps == 1 else 'steps'} overdue."
        " A play runs across nights: each step is a task in the CRM; a step left overdue is"
        " escalated once. Each owner's plays, and their play tasks past due.</p>"
        '<table class="wide"><thead><tr><th>owner</th><th>plays</th><th class="num">overdue</th>'
        f"<th>overdue steps</th></tr></thead><tbody>{''.join(rows)}</tbody></table></section>"
    )


def _step(step: PlayStepRow) -> str:
    due = f"{step.due}" if step.due else "–"
    late = (f'<span class="overdue">{_days(step.overdue_days)} overdue</span>' if step.overdue_days
            else '<span class="meta">no</span>')
    escalated = "–"
    if step.escalated:
        escalated = '<span class="escalated">escalated</span>' + (
            f" on {step.escalated_on}" if step.escalated_on else "") + (
            f" to {escape(step.escalated_to)}" if step.escalated_to else "")
    return (f'<tr class="play-step" data-step="{escape(step.id)}" data-state="{step.state}"'
            f' data-overdue="{step.overdue_days}"><td>{escape(step.title)}'
            f' <code class="meta">{escape(step.id)}</code></td><td>{STATE_WORDS[step.state]}</td>'
            f"<td>{escape(step.owner_name or '–')}</td><td class='code'>{due}</td><td>{late}</td>"
            f"<td>{escalated}</td>"
            f"<td>{_link(step.url, step.crm_id, 'open task ' + (step.crm_id or ''))}</td></tr>")


def _play(play: PlayRow) -> str:
    exiting = (' <span class="meta">(exiting: its trigger no longer holds; open steps close at the'
               " next run)</span>") if play.phase == "exiting" else ""
    return (
        f'<div class="play" data-play="{escape(play.play_id)}">'
        f'<div class="head">{sev(play.severity)} <b>{escape(play.title)}</b>'
        f' <code class="meta">{escape(play.play_id)}</code> · started {play.started}'
        f" ({_days(play.days_running)} ago){exiting}</div>"
        '<table class="wide steps"><thead><tr><th>step</th><th>state</th><th>owner</th><th>due</th>'
        '<th>overdue</th><th>escalated</th><th>task</th></tr></thead>'
        f"<tbody>{''.join(_step(s) for s in play.steps)}</tbody></table></div>"
    )


def account_plays(a: AccountRow) -> str:
    """An account's active plays, step by step (nothing when it has none)."""
    if not a.plays:
        return ""
    return ('<div class="plays"><span class="label">Active plays</span>'
            + "".join(_play(p) for p in a.plays) + "</div>")
