"""Active plays in the reports: kam-core's plays on the local CRM over the nights of the
simulation (tests/support/plays_sim.py), then `run --json`, `report --format json` and the HTML
page (read by a parser, and in headless Chromium where it is installed) show each account's active
plays step by step and each owner's plays and overdue steps, with the days."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kamrules.cli.main import cli
from kamrules.connectors.local.crm import LocalCrm
from tests.support import plays_sim as sim
from tests.test_report import browse, needs_chromium

# xdist: the nights' runs happen once, in the module fixture, on one worker
pytestmark = pytest.mark.xdist_group("report-plays")

NIGHTS = (0, 5, 6, 10, 14, 20, 21)  # completions by hand between them, as the simulation does
LAST = 21  # the onboarding play's first meeting is a week overdue and escalated to the sponsor


def _cli(root: Path, *args: str) -> Any:
    result = CliRunner().invoke(cli, ["--config", str(root / "kamrules.yaml"), *args])
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def nights(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any]]]:
    """The local CRM after the runs of NIGHTS; yields the folder and the last run's report."""
    root = tmp_path_factory.mktemp("plays")
    (root / "kamrules.yaml").write_text(
        "crm: {type: local, path: crm.sqlite, seed: empty}\npacks: [kam-core]\nstate_dir: state\n")
    crm = LocalCrm(root / "crm.sqlite")
    for kind, rows in sim.portfolio().items():
        crm.insert_records(kind, rows)
    report: dict[str, Any] = {}
    for night in NIGHTS:
        if night == sim.NEW_SURVEY_NIGHT:  # the risk play's trigger clears: it exits
            crm.insert_records("surveys", [*sim.portfolio()["surveys"], sim.NEW_SURVEY])
        report = json.loads(_cli(root, "run", "--as-of", sim.day(night).isoformat(), "--json").stdout)
        for suffix in sim.COMPLETE.get(night, []):
            task = next(t for t in crm.all_tasks() if t.fingerprint == f"kam-core/{suffix}"
                        and t.status == "open")
            crm.complete_task(task.crm_id or "", sim.day(night))
    crm.close()
    yield root, report


def _steps(play: dict[str, Any]) -> dict[str, tuple[str, int, bool]]:
    return {s["id"]: (s["state"], s["overdue_days"], s["escalated"]) for s in play["steps"]}


def test_the_run_report_lists_active_plays_per_account_and_owner(nights: tuple[Path, dict[str, Any]]) -> None:
    _, report = nights
    plays = report["active_plays"]
    assert plays["as_of"] == sim.day(LAST).isoformat()
    by_account = {a["account_id"]: a for a in plays["accounts"]}
    assert set(by_account) == {"ACC-ONB", "ACC-REN"}  # the risk play exited on night 20
    onboard = by_account["ACC-ONB"]["plays"][0]
    assert (onboard["play_id"], onboard["phase"], onboard["started"]) == (
        "PLAY-ONBOARD", "active", sim.day(0).isoformat())
    assert _steps(onboard) == {"first-meeting": ("open", 7, True),
                               "contacts-beyond-purchasing": ("open", 0, False),
                               "account-plan": ("waiting", 0, False)}
    first = onboard["steps"][0]
    assert first["due"] == sim.day(14).isoformat() and first["escalated_to"] == "Ed Sponsor"
    assert first["escalated_on"] == sim.day(LAST).isoformat() and first["crm_id"]
    renewal = by_account["ACC-REN"]["plays"][0]
    assert _steps(renewal)["renewal-opportunity"] == ("open", 0, False)
    assert renewal["started"] == sim.day(10).isoformat() and renewal["days_running"] == 11

    owners = {o["owner_id"]: o for o in plays["owners"]}
    assert {p["key"] for p in owners["U1"]["plays"]} == {"kam-core/PLAY-ONBOARD/ACC-ONB"}
    assert [(s["step"], s["overdue_days"], s["escalated"]) for s in owners["U1"]["overdue_steps"]] == [
        ("first-meeting", 7, True)]
    assert [p["key"] for p in owners["U3"]["plays"]] == ["kam-core/PLAY-RENEWAL/ACC-REN"]
    assert owners["U3"]["overdue_steps"] == []
    # the sponsor owns the escalation task, not the account
    sponsor = owners["U2"]["plays"]
    assert [(p["key"], p["account_owner"], p["open_steps"]) for p in sponsor] == [
        ("kam-core/PLAY-ONBOARD/ACC-ONB", False, ["first-meeting.escalation"])]
    assert (plays["active"], plays["overdue_steps"]) == (2, 1)


def test_the_portfolio_report_shows_plays_with_their_overdue_days(
        nights: tuple[Path, dict[str, Any]]) -> None:
    """Three days after the last run, without a run: the same plays, three more days overdue."""
    root, _ = nights
    later = sim.day(LAST + 3).isoformat()
    report = json.loads(_cli(root, "report", "--as-of", later, "--format", "json", "-o", "-").stdout)
    accounts = {a["id"]: a for a in report["accounts"] + report["other_accounts"]}
    onboard = accounts["ACC-ONB"]["plays"]
    assert [p["play_id"] for p in onboard] == ["PLAY-ONBOARD"]
    assert _steps(onboard[0])["first-meeting"] == ("open", 10, True)
    assert accounts["ACC-RSK"]["plays"] == []  # exited
    renewal = accounts["ACC-REN"]["plays"][0]
    assert _steps(renewal)["renewal-opportunity"] == ("open", 0, False)  # due on the 25th: not yet
    owners = {o["id"]: o for o in report["owners"]}
    assert [(s["step"], s["overdue_days"]) for s in owners["U1"]["overdue_steps"]] == [("first-meeting", 10)]
    assert [p["key"] for p in owners["U2"]["plays"]] == ["kam-core/PLAY-ONBOARD/ACC-ONB"]
    assert report["summary"]["active_plays"] == 2 and report["summary"]["overdue_play_steps"] == 1


class PlayRows(HTMLParser):
    """Play step rows per account section, and the owner rows of the plays section."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: dict[str, dict[str, dict[str, str]]] = {}
        self.owners: list[dict[str, str]] = []
        self._account = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        cls = a.get("class", "").split()
        if tag == "section" and "account" in cls:
            self._account = a["id"].removeprefix("acc-")
        elif tag == "tr" and "play-step" in cls:
            self.steps.setdefault(self._account, {})[a["data-step"]] = a
        elif tag == "tr" and "play-owner" in cls:
            self.owners.append(a)


def test_the_html_report_shows_plays_per_account_and_owner(nights: tuple[Path, dict[str, Any]]) -> None:
    root, _ = nights
    _cli(root, "report", "--as-of", sim.day(LAST).isoformat(), "-o", str(root / "report.html"))
    html = (root / "report.html").read_text(encoding="utf-8")
    page = PlayRows()
    page.feed(html)
    assert {k: (v["data-state"], v["data-overdue"]) for k, v in page.steps["ACC-ONB"].items()} == {
        "first-meeting": ("open", "7"), "contacts-beyond-purchasing": ("open", "0"),
        "account-plan": ("waiting", "0")}
    assert "ACC-RSK" not in page.steps and "renewal-opportunity" in page.steps["ACC-REN"]
    assert {o["data-owner"] for o in page.owners} == {"U1", "U2", "U3"}
    assert "7 days overdue</span> <span class=\"escalated\">escalated</span>" in html
    assert "escalated</span> on 2026-11-22 to Ed Sponsor" in html
    assert "<b>2</b> active plays, <b>1</b> step overdue" in html


@needs_chromium
def test_the_owner_filter_shows_only_their_plays_in_the_browser(
        nights: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    root, _ = nights
    page = root / "report-browser.html"
    _cli(root, "report", "--as-of", sim.day(LAST).isoformat(), "-o", str(page))
    dom, console = browse(page, tmp_path, 1200, "#owner=U3")
    assert console == ""
    seen = PlayRows()
    seen.feed(dom)
    shown = [o["data-owner"] for o in seen.owners if "hidden" not in o]
    assert shown == ["U3"]  # Ana's and Ed's plays are hidden with their rows
    assert 'data-ready="yes"' in dom


def test_step_tasks_link_to_the_crm_where_it_gives_a_link(nights: tuple[Path, dict[str, Any]]) -> None:
    from kamrules.language.loader import builtin_dir, load_pack
    from kamrules.report.plays import active_plays

    root, _ = nights
    crm = LocalCrm(root / "crm.sqlite")
    tasks = crm.all_tasks()
    crm.close()
    day = date.fromisoformat(sim.day(LAST).isoformat())
    accounts = {a["id"]: (a["name"], a["owner_id"]) for a in sim.portfolio()["accounts"]}
    overview = active_plays([load_pack(builtin_dir() / "kam-core")], tasks, day,
                            {"U1": "Ana Owner"}, accounts, lambda i: f"https://crm.example/task/{i}")
    step = overview.accounts[0].plays[0].steps[0]
    assert step.url == f"https://crm.example/task/{step.crm_id}"
    assert overview.owners[0].overdue_steps[0].url == step.url
