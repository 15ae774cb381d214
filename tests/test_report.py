"""The portfolio report: its numbers agree with the run, it is self-contained, and it renders."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from datetime import date, timedelta
from html import escape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from kamrules.connectors.local.demo import demo_portfolio
from kamrules.model import Snapshot
from kamrules.report.portfolio import build_report, health
from tests.conftest import ANCHOR, Workspace
from tests.support.hubspot_workspace import HsWorkspace, start_fake
from tests.support.salesforce import FakeServer
from tests.support.salesforce_workspace import ENV as SF_ENV
from tests.support.salesforce_workspace import TOKEN as SF_TOKEN
from tests.support.salesforce_workspace import new_org, sf_workspace, tls_cert  # noqa: F401

SMALL = demo_portfolio(ANCHOR, accounts=120)
KEY_IDS = {a["id"] for a in SMALL["accounts"] if a.get("is_key")}


class Rows(HTMLParser):
    """Collects the heatmap rows (account, revenue) and every http(s) resource the page loads."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, str]] = []
        self.remote: list[str] = []
        self.cells: list[str] = []
        self._in_sev = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "tr" and "account-row" in (a.get("class") or ""):
            self.rows.append({k: v or "" for k, v in a.items()})
        for key in ("src", "href"):
            if (a.get(key) or "").startswith(("http:", "https:", "//")):
                self.remote.append(a[key] or "")
        self._in_sev = tag == "span" and "sev " in (a.get("class") or "") + " "
        if self._in_sev:
            self.cells.append("")

    def handle_data(self, data: str) -> None:
        if self._in_sev:
            self.cells[-1] += data

    def handle_endtag(self, tag: str) -> None:
        self._in_sev = False


def two_runs(ws: Workspace) -> dict[str, Any]:
    ws.run_json("--as-of", (ANCHOR - timedelta(days=7)).isoformat())
    return ws.run_json()


def report_json(ws: Workspace, *args: str) -> dict[str, Any]:
    return json.loads(ws.cli("report", "--format", "json", "-o", "-", *args).stdout)


def test_report_numbers_agree_with_the_run(workspace_factory: Callable[..., Workspace]) -> None:
    ws = workspace_factory(SMALL)
    run = two_runs(ws)
    crm = ws.crm()
    done = next(t for t in crm.all_tasks() if t.status == "open")
    crm.complete_task(done.crm_id or "", ANCHOR)
    report = report_json(ws)  # defaults to the latest run's date
    assert report["as_of"] == ANCHOR.isoformat()
    s = report["summary"]
    assert s["accounts_evaluated"] == run["accounts"]
    assert s["findings"] == run["findings"]
    assert s["key_accounts"] == len(KEY_IDS) == len(report["accounts"])
    assert {a["id"] for a in report["accounts"]} == KEY_IDS
    open_after_run = run["counts"]["created"] + run["counts"]["kept"] + run["counts"]["updated"]
    assert s["open_tasks"] == open_after_run - 1  # one was completed by hand since
    assert sum(len(a["findings"]) for a in report["accounts"] + report["other_accounts"]) == run["findings"]
    changes = s["changes"]
    created = sorted(c["fingerprint"] for c in run["changes"] if c["action"] == "create")
    closed = sorted(c["fingerprint"] for c in run["changes"] if c["action"] == "close")
    assert sorted(changes["created"]) == created and sorted(changes["closed"]) == closed
    assert changes["completed_by_hand"] == [done.fingerprint]
    assert changes["previous_as_of"] == (ANCHOR - timedelta(days=7)).isoformat()
    serious = [a for a in report["accounts"]
               if not any(f["severity"] in ("high", "critical") for f in a["findings"])]
    assert s["key_accounts_without_serious"] == len(serious)
    # every account's trend has the earlier run and this date, the last point its health now
    for a in report["accounts"]:
        assert [p["as_of"] for p in a["trend"]] == [(ANCHOR - timedelta(days=7)).isoformat(),
                                                    ANCHOR.isoformat()]
        assert a["trend"][-1]["health"] == a["health"]


def test_health_weights_come_from_the_config(workspace_factory: Callable[..., Workspace]) -> None:
    ws = workspace_factory(SMALL, "report:\n  health_weights: {critical: 100, high: 0, medium: 0,"
                                  " low: 0, info: 0}\n")
    report = report_json(ws, "--as-of", ANCHOR.isoformat())
    for a in report["accounts"]:
        assert a["health"] == (0 if any(f["severity"] == "critical" for f in a["findings"]) else 100)
    bad = workspace_factory(SMALL, "report:\n  health_weights: {critcal: 50}\n")
    proc = bad.cli("report", check=False)
    assert proc.returncode == 2 and "critcal" in proc.stdout + proc.stderr


def test_health_score_and_trend_from_history(demo_snapshot: Snapshot, kam_core: Any) -> None:
    weights = {"critical": 40, "high": 20, "medium": 8, "low": 3, "info": 0}
    assert health([], weights) == 100
    assert health(["critical", "high", "medium", "low"], weights) == 29
    assert health(["critical"] * 3, weights) == 0
    some_key = next(a.id for a in demo_snapshot.accounts if a.is_key)
    earlier = {"mode": "run", "as_of": "2026-10-01", "changes": [
        {"action": "create", "fingerprint": f"kam-core/X/{some_key}", "account_id": some_key,
         "severity": "critical"},
        {"action": "close", "fingerprint": f"kam-core/Y/{some_key}", "account_id": some_key,
         "severity": None}]}
    later_plan = {"mode": "plan", "as_of": "2026-12-01", "changes": []}  # after as_of: ignored
    report = build_report(demo_snapshot, [], [kam_core], [], [earlier, later_plan], weights, "now")
    row = next(a for a in report.accounts if a.id == some_key)
    assert [(p.as_of, p.health) for p in row.trend] == [(date(2026, 10, 1), 60), (ANCHOR, 100)]
    assert report.summary.changes.run_as_of == date(2026, 10, 1)


def test_html_is_self_contained_with_one_row_per_key_account(
    workspace_factory: Callable[..., Workspace]
) -> None:
    ws = workspace_factory(SMALL)
    two_runs(ws)
    ws.cli("report", "-o", "out.html")
    page = (ws.root / "out.html").read_text()
    parser = Rows()
    parser.feed(page)
    key_names = sorted(a["name"].lower() for a in SMALL["accounts"] if a.get("is_key"))
    assert sorted(r["data-name"] for r in parser.rows) == key_names
    assert parser.remote == []
    assert not re.search(r"@import|url\(|<link|<iframe|<img", page)
    # colour is never the only signal: every severity mark carries a symbol or a word
    assert parser.cells and all(c.strip() for c in parser.cells)
    assert "@media print" in page


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


needs_chromium = pytest.mark.skipif(
    chromium() is None and not os.environ.get("KAMRULES_REQUIRE_CHROMIUM"),
    reason="Chromium is not installed (apt-get install chromium); .ci/run installs it")

# Appended to a copy of the page: after the page's own script ran, write what a person would see
# (sizes, which rows are showing, the address bar) into the DOM, where --dump-dom returns it.
MEASURE = """<script>(function(){
  var t=document.getElementById('heatmap'),d=document.documentElement,b=document.body.dataset;
  b.heatmapRight=Math.ceil(t.getBoundingClientRect().right);
  b.heatmapScroll=t.scrollWidth;b.heatmapBox=t.parentElement.clientWidth;
  b.pageScroll=d.scrollWidth;b.viewport=window.innerWidth;b.hash=location.hash;
  b.status=document.getElementById('filter-status').textContent;
})();</script>"""


def browse(page: Path, tmp_path: Path, width: int, fragment: str = "", act: str = "") -> tuple[str, str]:
    """(DOM after the scripts ran, console lines) of the page in headless Chromium at `width` px."""
    copy = page.with_name(f"seen-{width}-{abs(hash((fragment, act)))}.html")
    html = page.read_text(encoding="utf-8")
    copy.write_text(html.replace("</body>", f"<script>{act}</script>{MEASURE}</body>"), encoding="utf-8")
    proc = subprocess.run(
        [*FLAGS, f"--user-data-dir={tmp_path / f'profile-{width}-{abs(hash(fragment + act))}'}",
         f"--window-size={width},1000", "--dump-dom", copy.as_uri() + fragment],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    return proc.stdout, "\n".join(console)


FLAGS = [chromium() or "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--hide-scrollbars", "--enable-logging=stderr", "--v=0"]


class Seen(HTMLParser):
    """The body's measurements, and which heatmap rows, account sections and findings show."""

    def __init__(self) -> None:
        super().__init__()
        self.body: dict[str, str] = {}
        self.rows: list[dict[str, str]] = []
        self.sections: list[dict[str, str]] = []
        self.findings: list[dict[str, str]] = []
        self._section: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        cls = a.get("class", "").split()
        if tag == "body":
            self.body = {k[5:]: v for k, v in a.items() if k.startswith("data-")}
        elif tag == "tr" and "account-row" in cls:
            self.rows.append(a)
        elif tag == "section" and "account" in cls:
            self._section = a
            self.sections.append(a)
        elif tag == "div" and "finding" in cls and self._section is not None:
            self.findings.append({**a, "account": self._section.get("id", "")[4:],
                                  "section_hidden": str("hidden" in self._section)})


def seen(dom: str) -> Seen:
    parser = Seen()
    parser.feed(dom)
    return parser


@pytest.fixture
def director(workspace_factory: Callable[..., Workspace]) -> Workspace:
    """Two runs over the small portfolio, a snooze, euros: the report a director opens."""
    ws = workspace_factory(SMALL, "report: {currency: EUR}\n")
    ws.run_json("--as-of", (ANCHOR - timedelta(days=7)).isoformat())
    (ws.root / "snoozes.yaml").write_text(
        "snoozes:\n- rule: KAM-REL-008\n  reason: Visits paused during the ERP migration\n"
        "  requested_by: Ana Horvat\n  until: 2026-12-15\n")
    ws.run_json()
    ws.cli("report", "-o", "report.html")
    return ws


@needs_chromium
@pytest.mark.parametrize("width", [1400, 800])
def test_report_fits_the_window_and_its_script_runs_clean(
    director: Workspace, tmp_path: Path, width: int
) -> None:
    dom, console = browse(director.root / "report.html", tmp_path, width, "#sort=revenue")
    assert console == ""
    assert 'data-ready="yes"' in dom  # the page's script ran to its end
    page = seen(dom)
    b = {k: int(v) for k, v in page.body.items() if v.isdigit()}
    assert b["viewport"] == width
    # no horizontal overflow: the heatmap fits its box and the window, the page does not scroll sideways
    assert b["heatmap-scroll"] <= b["heatmap-box"] and b["heatmap-right"] <= width, page.body
    assert b["page-scroll"] <= width, page.body
    assert len(page.rows) == len(KEY_IDS)
    revenue = [float(r["data-revenue"]) for r in page.rows]
    assert revenue == sorted(revenue, reverse=True) and revenue != sorted(revenue)  # sorted by JS
    shot = tmp_path / f"report-{width}.png"
    done = subprocess.run(
        [*FLAGS, f"--user-data-dir={tmp_path / f'shot{width}'}", f"--window-size={width},2000",
         f"--screenshot={shot}", (director.root / "report.html").as_uri()],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and shot.stat().st_size > 20_000, done.stderr[-2000:]


@needs_chromium
def test_filters_by_owner_severity_and_group_without_a_server(director: Workspace, tmp_path: Path) -> None:
    report = report_json(director)
    page = director.root / "report.html"
    assert len({a["owner_id"] for a in report["accounts"]}) > 1
    order = ["info", "low", "medium", "high", "critical"]

    def holds(f: dict[str, Any], sev: str, group: str) -> bool:
        return (f["snooze"] is None and order.index(f["severity"]) >= order.index(sev)
                and (not group or group in f["groups"]))

    worst = report["accounts"][0]  # lowest health first
    first = next(f for f in worst["findings"] if f["snooze"] is None)
    owner = worst["owner_id"]
    for who, sev, group in ((owner, first["severity"], first["groups"][-1]), (owner, "medium", ""),
                            ("", "high", "relationship")):
        frag = "#" + "&".join(f"{k}={v}" for k, v in (("owner", who), ("sev", sev), ("group", group)) if v)
        dom, console = browse(page, tmp_path, 1400, frag)
        assert console == ""
        shown = seen(dom)
        want = sorted(a["name"].lower() for a in report["accounts"] if who in ("", a["owner_id"])
                      and any(holds(f, sev, group) for f in a["findings"]))
        assert sorted(r["data-name"] for r in shown.rows if "hidden" not in r) == want
        assert f"Showing {len(want)} of {len(KEY_IDS)} key accounts" in shown.body["status"]
        visible = [f for f in shown.findings if f["section_hidden"] == "False" and "hidden" not in f]
        assert visible and all(order.index(f["data-sev"]) >= order.index(sev) for f in visible)
        assert {f["account"] for f in visible} == {  # key accounts and other accounts alike
            a["id"] for a in report["accounts"] + report["other_accounts"]
            if who in ("", a["owner_id"]) and any(holds(f, sev, group) for f in a["findings"])}
        if group:
            assert all(group in f["data-groups"].split() for f in visible)
    # choosing in the select filters too, and the choice lands in the address for a bookmark
    act = ("var s=document.getElementById('f-sev');s.value='critical';"
           "s.dispatchEvent(new Event('change'));")
    dom, console = browse(page, tmp_path, 800, "", act)
    shown = seen(dom)
    want = [a for a in report["accounts"] if any(holds(f, "critical", "") for f in a["findings"])]
    assert console == "" and shown.body["hash"] == "#sev=critical"
    assert len([r for r in shown.rows if "hidden" not in r]) == len(want) > 0


@needs_chromium
def test_report_prints(director: Workspace, tmp_path: Path) -> None:
    pdf = tmp_path / "report.pdf"
    done = subprocess.run(
        [*FLAGS, f"--user-data-dir={tmp_path / 'print'}", "--no-pdf-header-footer",
         f"--print-to-pdf={pdf}", (director.root / "report.html").as_uri()],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and data.count(b"/Type /Page") > 3


def test_unwritable_output_is_a_usage_error_before_any_pull(
    workspace_factory: Callable[..., Workspace]
) -> None:
    ws = workspace_factory(SMALL)
    proc = ws.cli("report", "-o", "no/such/dir/r.html", check=False)
    assert proc.returncode == 2 and "cannot write into no/such/dir" in proc.stderr
    assert not (ws.root / "state" / "state.sqlite").exists()  # stopped before touching anything


def test_snoozed_findings_are_listed_with_why_and_left_out_of_health(director: Workspace) -> None:
    report = report_json(director)
    plan = director.run_json(command="plan")
    weights = report["weights"]
    rows = report["accounts"] + report["other_accounts"]
    held = [f for a in rows for f in a["findings"] if f["snooze"]]
    assert held and {f["rule_id"] for f in held} == {"KAM-REL-008"}
    assert all(f["snooze"] == {"reason": "Visits paused during the ERP migration",
                               "requested_by": "Ana Horvat", "until": "2026-12-15"} for f in held)
    assert report["summary"]["snoozed_findings"] == len(held) == plan["counts"]["snoozed"]
    for a in rows:
        counted = [f["severity"] for f in a["findings"] if not f["snooze"]]
        assert a["health"] == health(counted, weights)
        assert a["snoozed"] == len(a["findings"]) - len(counted)
    assert any(a["health"] > health([f["severity"] for f in a["findings"]], weights) for a in rows)
    [snooze] = report["snoozes"]
    assert snooze["rule"] == "KAM-REL-008" and snooze["days_left"] == 44
    assert snooze["findings"] == sorted(f"{f['pack']}/{f['rule_id']}/{a['id']}"
                                        for a in rows for f in a["findings"] if f["snooze"])
    page = (director.root / "report.html").read_text()
    section = page[page.index('id="snoozes"'):page.index("Key accounts in detail")]
    assert "Visits paused during the ERP migration" in section and "Ana Horvat" in section
    assert "2026-12-15" in section and "snoozed until 2026-12-15 by Ana Horvat" in page


def test_the_report_finds_what_every_fact_of_the_whole_pull_would(
        tmp_path: Path, demo_records: dict[str, list[dict[str, Any]]], kam_core: Any) -> None:
    """The report pulls and evaluates as a run does: in chunks, the kinds nothing reads of an
    account that is not key pulled of key accounts only, facts computed as rules read them (at
    100,000 accounts it held the whole pull, 1.0 GB at its peak, now 0.5 GB; its evaluation
    12.3 s, now 5.7 s). The same findings, evidence and order as every fact of the whole pull,
    and the accounts, users and teams the report shows."""
    from kamrules.connectors.local.crm import LocalCrm
    from kamrules.evaluation.engine import Engine
    from kamrules.evaluation.facts import account_views, facts_for
    from kamrules.run.cleaning import clean
    from kamrules.run.findings_only import findings_of

    crm = LocalCrm(tmp_path / "crm.sqlite")
    for kind, rows in demo_records.items():
        crm.insert_records(kind, rows)
    whole = clean(crm.pull(ANCHOR))
    engine = Engine([kam_core])
    eager = [f for v in account_views(whole) for f in engine.findings_for(v.account.id, facts_for(v))]
    steps: list[tuple[str, int, int | None]] = []
    found, kept = findings_of(crm, ANCHOR, [kam_core], size=37,
                              progress=lambda *step: steps.append(step))
    crm.close()
    assert [(f.fingerprint, f.severity, f.evidence) for f in found] == \
        [(f.fingerprint, f.severity, f.evidence) for f in eager]
    assert len(found) > 100
    # (in another order: the directory sorts a team by user, as a run's chunks are read)
    for kind in ("accounts", "users", "team"):
        assert sorted(map(repr, getattr(kept, kind))) == sorted(map(repr, getattr(whole, kind))), kind
    assert not kept.activities and not kept.contacts  # what the report does not show is dropped
    evaluated = [done for step, done, _ in steps if step == "evaluate"]
    # chunks of at most 37 accounts (fewer where accounts have many records), each reported
    assert len(evaluated) >= len(whole.accounts) / 37 and evaluated == sorted(set(evaluated))
    assert evaluated[-1] == len(whole.accounts)


def test_findings_carry_principle_names_and_the_next_step(demo_snapshot: Snapshot, kam_core: Any) -> None:
    from kamrules.report.html import render_html
    from kamrules.run.sync import evaluate

    weights = {"critical": 40, "high": 20, "medium": 8, "low": 3, "info": 0}
    findings, _ = evaluate(demo_snapshot, [kam_core])
    bare_pack = copy.copy(kam_core)  # a pack that declares no principle names
    bare_pack.principles = {}  # type: ignore[attr-defined]
    bare = build_report(demo_snapshot, findings, [bare_pack], [], [], weights, "now")
    named_pack = copy.copy(kam_core)
    named_pack.principles = {"P09": "Two contacts at a key account is too thin"}  # type: ignore[attr-defined]
    named = build_report(demo_snapshot, findings, [named_pack], [], [], weights, "now")

    def rows(report: Any) -> list[Any]:
        return [f for a in report.accounts + report.other_accounts for f in a.findings]

    # the next step is the "Next:" line of the task run writes, for every kam-core finding
    assert all(f.next_step and f.next_step[0].isupper() for f in rows(bare))
    body = next(r for r in kam_core.rules if r.id == "KAM-DO-001").task.body
    want = body.split("Next:", 1)[1].split("\n", 1)[0].strip()
    assert {f.next_step for f in rows(bare) if f.rule_id == "KAM-DO-001"} == {want[0].upper() + want[1:]}
    # a task text without a "Next:" line: its subject says what to do
    assert {f.next_step for f in rows(bare) if f.rule_id == "KAM-REV-001"} == {
        "Relationship review due — the task has the details"}
    rel = [f for f in rows(named) if "P09" in f.principles]
    assert rel and all(f.principle_names == {"P09": "Two contacts at a key account is too thin"}
                       for f in rel)
    assert all(f.principle_names == {} for f in rows(bare))
    top = {p.principle: p.name for p in named.summary.top_principles}
    assert top.get("P09", "named") in ("Two contacts at a key account is too thin", "named")
    page = render_html(named)
    assert 'P09</abbr> Two contacts at a key account is too thin' in page
    assert "(P09)" in render_html(bare)  # undeclared: the rationale, with the bare code
    # whatever kam-core declares itself is what the report shows
    from kamrules.report.notes import principle_names
    assert principle_names([kam_core]) == dict(getattr(kam_core, "principles", None) or {})
    assert escape(want[0].upper() + want[1:]) in page


def test_money_is_shown_in_the_configured_currency_and_locale(
    workspace_factory: Callable[..., Workspace]
) -> None:
    from kamrules.report.marks import money

    assert money(1234567, "EUR", "en") == "€1,234,567"
    assert money(1234567, "EUR", "de") == "1.234.567\u00a0€"
    assert money(1234567, "SEK", "en") == "SEK\u00a01,234,567"
    assert money(1234567, "USD", "en", compact=True) == "$1.23M"
    assert money(83100, None, "fr", compact=True) == "83,1k"
    assert money(None, "EUR", "en") == "–"
    ws = workspace_factory(SMALL, "report: {currency: CHF, locale: de}\n")
    ws.cli("report", "--as-of", ANCHOR.isoformat(), "-o", "r.html")
    page = (ws.root / "r.html").read_text()
    assert "Amounts in CHF." in page and re.search(r"revenue \d{1,3}(\.\d{3})+\u00a0CHF", page)
    assert report_json(ws, "--as-of", ANCHOR.isoformat())["currency"] == "CHF"
    # one setting: the top-level currency and locale (task text) label the report too
    same = workspace_factory(SMALL, "currency: USD\nlocale: sr_Latn\n")
    together = report_json(same, "--as-of", ANCHOR.isoformat())
    assert (together["currency"], together["locale"]) == ("USD", "sr")
    bad = workspace_factory(SMALL, "report: {currency: euro}\n")
    proc = bad.cli("report", check=False)
    assert proc.returncode == 2 and "currency" in proc.stdout + proc.stderr


def test_local_crm_tasks_show_their_id(director: Workspace) -> None:
    report = report_json(director)
    tasks = [f["task"] for a in report["accounts"] for f in a["findings"] if f["task"]]
    assert tasks and all(t["url"] is None and t["crm_id"] for t in tasks)
    page = (director.root / "report.html").read_text()
    assert f"task <code>{tasks[0]['crm_id']}</code>" in page and "lightning" not in page


def test_salesforce_tasks_link_to_their_record_page(
    tmp_path: Path, tls_cert: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    monkeypatch.setenv(SF_ENV, SF_TOKEN)
    with FakeServer(new_org(SMALL), *tls_cert) as server:
        ws = sf_workspace(tmp_path / "ws", server, tls_cert[0])
        ws.run_json()
        report = report_json(ws)
    host = server.url.removeprefix("https://")
    tasks = [f["task"] for a in report["accounts"] for f in a["findings"] if f["task"]]
    assert tasks and all(t["url"] == f"https://{host}/lightning/r/Task/{t['crm_id']}/view" for t in tasks)


def test_hubspot_tasks_link_to_their_record_when_the_portal_is_known(tmp_path: Path) -> None:
    fake, url, _ = start_fake(SMALL, window=1.0)
    try:
        ws = HsWorkspace(tmp_path / "hs", fake, url)
        ws.write_config()
        code, _ = ws.run_json()
        assert code == 0
        plain = json.loads(ws.cli("report", "--format", "json", "-o", "-").stdout)
        ws.write_config(extra_crm="  portal_id: 4711\n")
        linked = json.loads(ws.cli("report", "--format", "json", "-o", "-").stdout)
    finally:
        fake.stop()
    assert all(f["task"]["url"] is None for a in plain["accounts"] for f in a["findings"] if f["task"])
    tasks = [f["task"] for a in linked["accounts"] for f in a["findings"] if f["task"]]
    assert tasks and all(
        t["url"] == f"https://app.hubspot.com/contacts/4711/record/0-27/{t['crm_id']}" for t in tasks)


def test_owner_view_lists_every_key_account_once_worst_first(director: Workspace) -> None:
    report = report_json(director)
    health_of = {a["id"]: a["health"] for a in report["accounts"]}
    listed = [i for o in report["owners"] for i in o["key_accounts"]]
    assert sorted(listed) == sorted(KEY_IDS)
    for o in report["owners"]:
        mine = [health_of[i] for i in o["key_accounts"]]
        assert mine == sorted(mine) and o["lowest_health"] == (min(mine) if mine else None)
        assert all(a["owner_id"] == o["id"] for a in report["accounts"] if a["id"] in o["key_accounts"])


def test_names_from_the_crm_cannot_inject_markup(demo_snapshot: Snapshot, kam_core: Any) -> None:
    from kamrules.report.html import render_html

    hostile = '<img src=x onerror="alert(1)">&</script><script>alert(2)</script>'
    snapshot = demo_snapshot.model_copy(deep=True)
    key = next(a for a in snapshot.accounts if a.is_key)
    key.name = hostile
    snapshot.users[0].name = hostile
    report = build_report(snapshot, [], [kam_core], [], [], {"critical": 40}, "now")
    page = render_html(report)
    assert hostile not in page and "<img" not in page and page.count("<script>") == 1
    assert escape(hostile) in page
