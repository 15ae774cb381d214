"""The portfolio report as one self-contained HTML page: inline CSS and JS, nothing fetched.

Severity is shown by colour, a symbol and a word together, so the page reads in greyscale print
and for colour-blind readers; sorting is a small script, the page is complete without it.
"""

from __future__ import annotations

from html import escape
from typing import Any

from kamrules.report.portfolio import (
    WORST_FIRST,
    AccountRow,
    FindingRow,
    PortfolioReport,
    TaskRow,
    TrendPoint,
)
from kamrules.writeback.tasks import evidence_items

SYMBOL = {"critical": "▲▲", "high": "▲", "medium": "◆", "low": "●", "info": "○"}
LABEL = {"critical": "critical", "high": "high", "medium": "medium", "low": "low", "info": "info"}

CSS = """
:root{--crit:#8b0000;--high:#d9480f;--med:#f59f00;--low:#74b816;--info:#adb5bd;--ok:#e9f5ec;}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:1.5rem;color:#1b1b1b}
h1{font-size:1.5rem;margin:0 0 .25rem}h2{font-size:1.2rem;margin:2rem 0 .5rem;border-bottom:1px solid #ccc}
h3{font-size:1rem;margin:1.2rem 0 .3rem}
.meta{color:#555}.cards{display:flex;flex-wrap:wrap;gap:.75rem;margin:1rem 0}
.card{border:1px solid #ccc;border-radius:6px;padding:.5rem .9rem;min-width:9rem}
.card b{display:block;font-size:1.4rem}
table{border-collapse:collapse;margin:.4rem 0}
th,td{border:1px solid #ccc;padding:.2rem .45rem;text-align:left;vertical-align:top}
th{background:#f1f3f5}td.num{text-align:right;font-variant-numeric:tabular-nums}
.sev{white-space:nowrap;font-weight:600}
.sev-critical{background:var(--crit);color:#fff}.sev-high{background:var(--high);color:#fff}
.sev-medium{background:var(--med);color:#000}.sev-low{background:var(--low);color:#000}
.sev-info{background:var(--info);color:#000}.sev-none{background:var(--ok);color:#2b6a3a}
button.sort{font:inherit;border:1px solid #999;
background:#fff;border-radius:4px;padding:.1rem .5rem;cursor:pointer}
button.sort[aria-pressed=true]{background:#1b1b1b;color:#fff}
.legend span{margin-right:.8rem}.evidence{margin:0;padding-left:1.1rem}
.account{break-inside:avoid;page-break-inside:avoid}.overdue{font-weight:700}
svg.trend{vertical-align:middle}td.trend{white-space:nowrap}
@media print{body{margin:0;font-size:11px}.noprint{display:none}
.sev,.card,th{-webkit-print-color-adjust:exact;print-color-adjust:exact}a{color:inherit;text-decoration:none}}
"""

SCRIPT = """
(function(){
  var body=document.getElementById('heatmap-body');
  function key(row,by){
    if(by==='owner'||by==='name')return row.dataset[by];
    return parseFloat(row.dataset[by]);
  }
  function sortBy(by){
    var rows=Array.prototype.slice.call(body.rows);
    var desc=(by==='revenue');
    rows.sort(function(a,b){
      var x=key(a,by),y=key(b,by);
      if(x<y)return desc?1:-1; if(x>y)return desc?-1:1;
      return a.dataset.name<b.dataset.name?-1:1;
    });
    rows.forEach(function(r){body.appendChild(r);});
    document.querySelectorAll('button.sort').forEach(function(b){
      b.setAttribute('aria-pressed', b.dataset.by===by?'true':'false');
    });
    document.getElementById('heatmap').dataset.sorted=by;
  }
  document.querySelectorAll('button.sort').forEach(function(b){
    b.addEventListener('click',function(){sortBy(b.dataset.by);history.replaceState(null,'','#sort='+b.dataset.by);});
  });
  var m=/sort=(\\w+)/.exec(location.hash);
  if(m)sortBy(m[1]);
  document.documentElement.dataset.ready='yes';
})();
"""


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
        _summary(report),
        _heatmap(report),
        _principles(report),
        _owners(report),
        "<h2>Key accounts in detail</h2>",
        *(_account(a) for a in report.accounts),
    ]
    if report.other_accounts:
        parts.append("<h2>Other accounts with findings</h2>"
                     "<p>Accounts not flagged key that a rule still flags, mostly identification"
                     " rules (P01–P05): candidates for the key-account list.</p>")
        parts += [_account(a) for a in report.other_accounts]
    parts += [_legend(report), f"<script>{SCRIPT}</script>", "</body></html>"]
    return "\n".join(parts)


def _sev(severity: str | None, text: str | None = None) -> str:
    if severity is None:
        return '<span class="sev sev-none" title="no finding" aria-label="no finding">✓</span>'
    return (f'<span class="sev sev-{severity}" title="{severity}">{SYMBOL[severity]} '
            f"{escape(text or LABEL[severity])}</span>")


def _money(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def _summary(report: PortfolioReport) -> str:
    s = report.summary
    share = f"{s.share_without_serious:.0%}"
    by_sev = " ".join(f"{_sev(k)}&nbsp;{n}" for k, n in s.findings_by_severity.items() if n)
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
    return (
        '<section id="summary"><h2>Summary</h2><div class="cards">'
        f'<div class="card"><b>{s.key_accounts}</b>key accounts (of {s.accounts_evaluated})</div>'
        f'<div class="card"><b>{share}</b>{s.key_accounts_without_serious} with no high or critical'
        " finding</div>"
        f'<div class="card"><b>{s.findings}</b>findings</div>'
        f'<div class="card"><b>{s.open_tasks}</b>open tasks, {s.overdue_tasks} overdue</div>'
        f"</div><p>Findings by severity: {by_sev or 'none'}</p>{changes}</section>"
    )


def _trend(points: list[TrendPoint]) -> str:
    """A small inline SVG line of health over runs, with the numbers in its title."""
    title = escape(", ".join(f"{p.as_of}: {p.health}" for p in points))
    if len(points) < 2:
        return f'<span title="{title}">–</span>'
    w, h = 60, 16
    step = w / (len(points) - 1)
    coords = " ".join(f"{i * step:.1f},{h - p.health / 100 * h:.1f}" for i, p in enumerate(points))
    delta = points[-1].health - points[-2].health
    arrow = "↑" if delta > 0 else "↓" if delta < 0 else "→"
    return (f'<svg class="trend" width="{w}" height="{h}" role="img" aria-label="trend {title}">'
            f"<title>{title}</title><polyline fill=\"none\" stroke=\"#333\" stroke-width=\"1.5\""
            f' points="{coords}"/></svg> {arrow}{abs(delta) if delta else ""}')


def _heatmap(report: PortfolioReport) -> str:
    head = "".join(f'<th scope="col">{escape(g)}</th>' for g in report.groups)
    rows = []
    for a in report.accounts:
        cells = "".join(f"<td>{_sev(a.cells.get(g))}</td>" for g in report.groups)
        rows.append(
            f'<tr class="account-row" data-name="{escape(a.name.lower())}"'
            f' data-owner="{escape(a.owner_name.lower())}" data-revenue="{a.revenue or 0}"'
            f' data-health="{a.health}">'
            f'<th scope="row"><a href="#acc-{escape(a.id)}">{escape(a.name)}</a></th>'
            f"<td>{escape(a.owner_name)}</td><td class=\"num\">{_money(a.revenue)}</td>"
            f'<td class="num">{a.health}</td><td class="trend">{_trend(a.trend)}</td>{cells}</tr>'
        )
    buttons = "".join(
        f'<button type="button" class="sort" data-by="{by}" aria-pressed="{str(by == "health").lower()}">'
        f"{label}</button> "
        for by, label in (("health", "health (worst first)"), ("revenue", "revenue"),
                          ("owner", "owner"), ("name", "name"))
    )
    return (
        '<section><h2>Heatmap: key accounts × rule groups</h2>'
        "<p>Each cell shows the worst finding of that group for the account.</p>"
        f'<p class="noprint">Sort by: {buttons}</p>'
        '<table id="heatmap" data-sorted="health"><thead><tr><th scope="col">account</th>'
        '<th scope="col">owner</th><th scope="col">revenue</th><th scope="col">health</th>'
        f'<th scope="col">trend</th>{head}</tr></thead>'
        f'<tbody id="heatmap-body">{"".join(rows)}</tbody></table></section>'
    )


def _principles(report: PortfolioReport) -> str:
    rows = "".join(
        f"<tr><td>{p.principle}</td><td class=\"num\">{p.findings}</td>"
        f"<td class=\"num\">{p.accounts}</td><td>{escape(', '.join(p.rules))}</td></tr>"
        for p in report.summary.top_principles
    )
    return ('<section><h2>Principles most often broken</h2><table><thead><tr><th>principle</th>'
            "<th>findings</th><th>accounts</th><th>rules</th></tr></thead>"
            f"<tbody>{rows or '<tr><td colspan=4>none</td></tr>'}</tbody></table></section>")


def _owners(report: PortfolioReport) -> str:
    head = "".join(f"<th>{_sev(s)}</th>" for s in WORST_FIRST)
    rows = "".join(
        f"<tr><th scope=\"row\">{escape(o.name)}</th><td class=\"num\">{o.open_tasks}</td>"
        + "".join(f'<td class="num">{o.open_by_severity.get(s, 0)}</td>' for s in WORST_FIRST)
        + f'<td class="num{" overdue" if o.overdue else ""}">{o.overdue}</td>'
        f'<td class="num">{o.oldest_age_days if o.oldest_age_days is not None else "–"}</td></tr>'
        for o in report.owners
    )
    return ('<section id="owners"><h2>Open tasks by owner</h2><table><thead><tr><th>owner</th>'
            f"<th>open</th>{head}<th>overdue</th><th>oldest (days)</th></tr></thead>"
            f"<tbody>{rows or '<tr><td colspan=9>no open tasks</td></tr>'}</tbody></table></section>")


def _evidence(evidence: dict[str, Any]) -> str:
    items = "".join(
        f"<li><code>{escape(name)}</code> = {escape(value)}{escape(' ' + unit if unit else '')}"
        + (f' <span class="meta">— {escape(meaning)}</span>' if meaning else "") + "</li>"
        for name, value, unit, meaning in evidence_items(evidence)
    )
    return f'<ul class="evidence">{items}</ul>'


def _task_cell(task: TaskRow | None) -> str:
    if task is None:
        return "no open task"
    age = f"{task.age_days} days old" if task.age_days is not None else "age unknown"
    due = f", due {task.due}" + (' <span class="overdue">OVERDUE</span>' if task.overdue else "")
    return f"task {escape(task.crm_id or '?')}, {age}{due if task.due else ''}"


def _finding(f: FindingRow) -> str:
    return (f"<tr><td>{_sev(f.severity)}</td><td><code>{escape(f.rule_id)}</code><br>"
            f"{escape(f.title)}</td><td>{escape(', '.join(f.principles))}</td>"
            f"<td>{_evidence(f.evidence)}</td><td>{_task_cell(f.task)}</td></tr>")


def _account(a: AccountRow) -> str:
    findings = "".join(_finding(f) for f in a.findings)
    table = ("<table><thead><tr><th>severity</th><th>rule</th><th>principles</th>"
             f"<th>evidence (the facts behind it)</th><th>task</th></tr></thead><tbody>{findings}"
             "</tbody></table>") if a.findings else "<p>No findings.</p>"
    stale = [t for t in a.open_tasks if t.fingerprint not in {f"{f.pack}/{f.rule_id}/{a.id}"
                                                                for f in a.findings}]
    extra = ""
    if stale:
        extra = "<p>Open tasks whose finding no longer holds (closed at the next run):</p><ul>" + "".join(
            f"<li>{escape(t.subject)} — {_task_cell(t)}</li>" for t in stale) + "</ul>"
    return (
        f'<section class="account" id="acc-{escape(a.id)}"><h3>{escape(a.name)} '
        f'<span class="meta">({escape(a.id)})</span></h3>'
        f"<p>Owner {escape(a.owner_name)} · revenue {_money(a.revenue)} · health <b>{a.health}</b>"
        f" · worst {_sev(a.worst)} · {len(a.open_tasks)} open tasks</p>{table}{extra}</section>"
    )


def _legend(report: PortfolioReport) -> str:
    weights = ", ".join(f"{s} −{report.weights.get(s, 0)}" for s in WORST_FIRST)
    marks = "".join(f"<span>{_sev(s)}</span>" for s in WORST_FIRST) + f"<span>{_sev(None)} no finding</span>"
    return (f'<section class="legend"><h2>How to read this</h2><p>{marks}</p>'
            f"<p>Health starts at 100; each finding takes off its severity's weight ({weights}),"
            " never below 0. Weights are set in <code>report.health_weights</code> of the config."
            " The trend shows health at each earlier run.</p></section>")
