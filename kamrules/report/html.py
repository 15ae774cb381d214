"""The portfolio report as one self-contained HTML page: inline CSS and JS, nothing fetched.

Reading order is a director's: what the marks mean and the summary first, then the heatmap
(filterable by owner, severity and group), the owners, the principles, the snoozes, and every
key account's findings with their next step and a link to the task in the CRM.
"""

from __future__ import annotations

from html import escape

from kamrules.report.marks import BAND_RANGE, SYMBOL, delta, health_badge, money, sev, trend
from kamrules.report.models import BANDS, AccountRow, PortfolioReport
from kamrules.report.playsection import plays_by_owner
from kamrules.report.portfolio import WORST_FIRST
from kamrules.report.sections import account, fg_tokens, owner_key, owners, principles, snoozes
from kamrules.report.style import CSS, SCRIPT

BAND_COLOUR = {"good": "var(--good)", "watch": "var(--watch)", "at risk": "var(--risk)",
               "critical": "var(--bad)"}
BAND_TEXT = {"good": "#fff", "watch": "#000", "at risk": "#fff", "critical": "#fff"}


def render_html(report: PortfolioReport) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Key-account portfolio as of {report.as_of}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>Key-account portfolio as of {report.as_of}</h1>",
        f'<p class="meta">Rule packs: {escape(", ".join(report.packs))}. '
        f"Generated {escape(report.generated)} by kamrules.</p>",
        _legend(report),
        _summary(report),
        _filters(report),
        _heatmap(report),
        owners(report),
        plays_by_owner(report),
        principles(report),
        snoozes(report),
        "<h2>Key accounts in detail</h2>",
        *(account(a, report) for a in report.accounts),
    ]
    if report.other_accounts:
        parts.append("<h2>Other accounts with findings</h2>"
                     "<p>Accounts not flagged key that a rule still flags, mostly identification"
                     " rules (P01–P05): candidates for the key-account list.</p>")
        parts += [account(a, report) for a in report.other_accounts]
    parts += [f"<script>{SCRIPT}</script>", "</body></html>"]
    return "\n".join(parts)


def _legend(report: PortfolioReport) -> str:
    weights = ", ".join(f"{s} −{report.weights.get(s, 0)}" for s in WORST_FIRST)
    marks = "".join(f'<span class="item">{sev(s)}</span>' for s in WORST_FIRST)
    marks += f'<span class="item">{sev(None)} no finding</span>'
    bands = "".join(
        f'<span class="item"><span class="health band-{name.replace(" ", "-")}">{BAND_RANGE[name]}'
        f"</span> {name}</span>" for name, _ in BANDS)
    money_note = (f"Amounts in {escape(report.currency)}." if report.currency else
                  "Amounts are in the CRM's currency (set <code>report.currency</code> to label them).")
    return (
        '<section class="legend" id="legend"><p><b>How to read this.</b> Severity: '
        f"{marks}</p><p>Health: {bands}</p>"
        f"<p>Health starts at 100; each open finding takes off its severity's weight ({weights}),"
        " never below 0 (<code>report.health_weights</code> in the config). Snoozed findings take off"
        " nothing. ↑/↓ is the change since the previous run; the line is health over the last runs."
        f" {money_note}</p></section>"
    )


def _summary(report: PortfolioReport) -> str:
    s = report.summary
    by_sev = " ".join(f"{sev(k)}&nbsp;{n}" for k, n in s.findings_by_severity.items() if n)
    c = s.changes
    if c.run_as_of is None:
        changes = "<p>No run has written tasks yet: run <code>kamrules run</code>.</p>"
    else:
        since = f" (previous run: {c.previous_as_of})" if c.previous_as_of else " (the first run)"
        changes = (
            f"<p>In the run of {c.run_as_of}{since}: <b>{len(c.created)}</b> tasks created,"
            f" <b>{len(c.closed)}</b> closed by kamrules because the problem was fixed or the rule"
            f" was switched off, <b>{len(c.snoozed)}</b> snoozed; <b>{len(c.completed_by_hand)}</b>"
            " completed by hand since the previous run.</p>"
        )
    snoozed = (f", {s.snoozed_findings} of them snoozed (<a href=\"#snoozes\">see why</a>)"
               if s.snoozed_findings else "")
    return (
        '<section id="summary"><h2>Summary</h2><div class="cards">'
        f'<div class="card"><b>{s.key_accounts}</b>key accounts (of {s.accounts_evaluated})</div>'
        f'<div class="card"><b>{s.share_without_serious:.0%}</b>{s.key_accounts_without_serious}'
        " with no high or critical finding</div>"
        f'<div class="card"><b>{s.findings}</b>findings{snoozed}</div>'
        f'<div class="card"><b>{s.open_tasks}</b>open tasks, {s.overdue_tasks} overdue</div>'
        + (f'<div class="card"><b>{s.active_plays}</b><a href="#plays">active'
           f" {'play' if s.active_plays == 1 else 'plays'}</a>, {s.overdue_play_steps}"
           f" {'step' if s.overdue_play_steps == 1 else 'steps'} overdue</div>"
           if s.active_plays else "") +
        f"</div>{_band_bar(report)}<p>Findings by severity: {by_sev or 'none'}</p>{changes}</section>"
    )


def _band_bar(report: PortfolioReport) -> str:
    """Key accounts per health band as one stacked bar, each part labelled with its count."""
    counts = report.summary.key_accounts_by_band
    total = sum(counts.values())
    if not total:
        return ""
    parts = "".join(
        f'<span style="flex:{n} 1 0;background:{BAND_COLOUR[b]};color:{BAND_TEXT[b]}"'
        f' title="{n} {b}">{n} {b}</span>' for b, n in counts.items() if n)
    words = ", ".join(f"{n} {b}" for b, n in counts.items() if n)
    return (f'<p style="margin-bottom:0">Key accounts by health: {words}.</p>'
            f'<div class="bar" role="img" aria-label="key accounts by health: {words}">{parts}</div>')


def _filters(report: PortfolioReport) -> str:
    people = sorted({(owner_key(a), a.owner_name) for a in report.accounts}, key=lambda p: p[1].lower())
    owner_opts = "".join(f'<option value="{escape(k)}">{escape(n)}</option>' for k, n in people)
    sev_opts = "".join(f'<option value="{s}">{SYMBOL[s]} {s}{" or worse" if s != "critical" else ""}'
                       "</option>" for s in WORST_FIRST)
    group_opts = "".join(f'<option value="{escape(g)}">{escape(g)}</option>' for g in report.groups)
    return (
        '<div id="filters" class="noprint" role="search">'
        f'<label>Owner <select id="f-owner"><option value="">everyone</option>{owner_opts}</select></label>'
        f'<label>Severity <select id="f-sev"><option value="">any</option>{sev_opts}</select></label>'
        f'<label>Group <select id="f-group"><option value="">all</option>{group_opts}</select></label>'
        '<button type="button" id="f-clear">clear</button></div>'
        f'<p id="filter-status" class="meta" aria-live="polite">Showing {len(report.accounts)}'
        f" of {len(report.accounts)} key accounts.</p>"
    )


def _row(a: AccountRow, report: PortfolioReport) -> str:
    cells = "".join(
        f'<td class="cell" data-group="{escape(g)}">{sev(a.cells.get(g), word=False)}</td>'
        for g in report.groups)
    return (
        f'<tr class="account-row" data-name="{escape(a.name.lower())}" data-owner="{escape(owner_key(a))}"'
        f' data-revenue="{a.revenue or 0}" data-health="{a.health}" data-fg="{fg_tokens(a)}">'
        f'<th scope="row"><a href="#acc-{escape(a.id)}">{escape(a.name)}</a>'
        f'<span class="sub">{escape(a.owner_name)}</span></th>'
        f'<td class="owner">{escape(a.owner_name)}</td>'
        f'<td class="num" title="{money(a.revenue, report.currency, report.locale)}">'
        f"{money(a.revenue, report.currency, report.locale, compact=True)}</td>"
        f'<td class="num">{health_badge(a.health)}</td>'
        f'<td class="trend">{trend(a.trend)} {delta(a.trend_delta)}</td>{cells}</tr>'
    )


def _heatmap(report: PortfolioReport) -> str:
    head = "".join(f'<th scope="col" class="group" data-group="{escape(g)}"'
                   f' title="{escape(report.group_notes.get(g, g))}">{escape(g)}</th>'
                   for g in report.groups)
    buttons = "".join(
        f'<button type="button" class="sort" data-by="{by}" aria-pressed="{str(by == "health").lower()}">'
        f"{label}</button> "
        for by, label in (("health", "health (worst first)"), ("revenue", "revenue"),
                          ("owner", "owner"), ("name", "name"))
    )
    rows = "".join(_row(a, report) for a in report.accounts)
    return (
        '<section id="heatmap-section"><h2>Heatmap: key accounts × rule groups</h2>'
        "<p>Each cell shows the worst open finding of that group for the account (snoozed ones left"
        " out); the account's name leads to its findings.</p>"
        f'<p class="noprint">Sort by: {buttons}</p>'
        '<table id="heatmap" data-sorted="health"><thead><tr><th scope="col">account</th>'
        '<th scope="col" class="owner">owner</th><th scope="col" class="num">revenue</th>'
        '<th scope="col">health</th><th scope="col">trend</th>'
        f'{head}</tr></thead><tbody id="heatmap-body">{rows}</tbody></table></section>'
    )
