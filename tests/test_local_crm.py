"""The embedded local CRM: bad records skipped with warnings, CSV import, one open task per fingerprint."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from kamrules.connectors.local.crm import LocalCrm
from kamrules.model import Task
from tests.conftest import Workspace


def test_bad_records_are_skipped_with_warnings_and_other_accounts_evaluated(
    workspace_factory: Callable[..., Workspace], demo_records: dict
) -> None:
    records = {k: list(v) for k, v in demo_records.items()}
    records["contacts"] = records["contacts"] + [
        {"id": "BAD-1", "account_id": "ACC-000001", "name": "No date", "created": "yesterday"},
        {"id": "BAD-2", "account_id": "NOPE", "name": "Orphan"},
    ]
    records["accounts"] = records["accounts"] + [{"id": "BAD-ACC", "is_key": "perhaps"}]
    ws = workspace_factory(records)
    report = ws.run_json()
    warned = {(w["kind"], w["record_id"]) for w in report["warnings"]}
    assert {("contacts", "BAD-1"), ("contacts", "BAD-2"), ("accounts", "BAD-ACC")} <= warned
    assert report["accounts"] == 300 and report["counts"]["created"] > 100
    proc = ws.cli("run", "--as-of", "2026-11-01")
    assert "skipped contacts BAD-2: refers to account 'NOPE', which does not exist" in proc.stderr


def test_records_of_an_unreadable_account_say_so_and_the_text_report_lists_a_few_of_each_kind(
    workspace_factory: Callable[..., Workspace], demo_records: dict
) -> None:
    """An account in the CRM that does not validate is skipped with its records, which are
    told apart from records whose account does not exist; the text report shows `--limit`
    warnings of each kind and counts the rest (the JSON report lists every one)."""
    records = {k: list(v) for k, v in demo_records.items()}
    broken = records["accounts"][0]["id"]
    records["accounts"][0] = {**records["accounts"][0], "revenue": [{"year": "last"}]}
    records["contacts"] = records["contacts"] + [{"id": "LOST-1", "account_id": "NOPE", "name": "Orphan"}]
    ws = workspace_factory(records)
    report = ws.run_json()
    by_kind: dict[str, list[dict]] = {}
    for w in report["warnings"]:
        by_kind.setdefault(w["kind"], []).append(w)
    assert [w["record_id"] for w in by_kind["accounts"]] == [broken]
    own = [a for a in records["activities"] if a["account_id"] == broken]
    assert len(own) > 3
    assert sorted(w["record_id"] for w in by_kind["activities"]) == sorted(a["id"] for a in own)
    told = f"belongs to account {broken!r}, which was skipped (see the warning about it)"
    assert {w["message"] for w in by_kind["activities"]} == {told}
    lost = [w for w in by_kind["contacts"] if w["record_id"] == "LOST-1"]
    assert [w["message"] for w in lost] == ["refers to account 'NOPE', which does not exist"]

    proc = ws.cli("run", "--as-of", "2026-11-01", "--limit", "3")
    lines = proc.stderr.splitlines()
    shown = [line for line in lines if line.startswith("warning skipped activities ")]
    assert len(shown) == 3 and all(line.endswith(told) for line in shown)
    assert f"warning ... {len(own) - 3:,} more skipped activities (--limit 0 or --format json for" \
           " all)" in lines
    proc = ws.cli("run", "--as-of", "2026-11-01", "--limit", "0")
    assert len([line for line in proc.stderr.splitlines()
                if line.startswith("warning skipped activities ")]) == len(own)
    assert "more skipped" not in proc.stderr


def test_accounts_that_mostly_do_not_read_stop_the_run_at_the_data_quality_gate(
    workspace_factory: Callable[..., Workspace], demo_records: dict
) -> None:
    """Past `data_quality.max_field_failure_share` of the accounts unreadable, nothing is
    written (exit 6): the accounts left would be judged against a portfolio that lacks the rest
    (revenue ranks, key-account names). `doctor` says so too; a raised share lets the run
    through (and one in 301 does not stop it: the first test above)."""
    records = {k: list(v) for k, v in demo_records.items()}
    broken = [a["id"] for a in records["accounts"][:20]]
    records["accounts"] = ([{**a, "revenue": [{"year": "last"}]} for a in records["accounts"][:20]]
                           + records["accounts"][20:])
    ws = workspace_factory(records)
    proc = ws.cli("run", "--as-of", "2026-11-01", "--json", check=False)
    assert proc.returncode == 6, proc.stderr
    report = json.loads(proc.stdout)
    [problem] = report["data_quality"]
    assert (problem["field"], problem["failed"], problem["present"]) == (
        "accounts (whole records)", 20, 300)
    assert problem["samples"] == broken[:3]
    assert report["counts"]["created"] == 0 and report["outcome"] == "data_quality"
    with sqlite3.connect(ws.root / "crm.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM tasks").fetchone()[0] == 0
    assert ws.cli("doctor", check=False).returncode == 6
    (ws.root / "kamrules.yaml").write_text((ws.root / "kamrules.yaml").read_text()
                                           + "data_quality:\n  max_field_failure_share: 0.1\n")
    assert ws.run_json()["counts"]["created"] > 0


def test_activities_that_mostly_do_not_read_stop_the_run_at_the_data_quality_gate(
    workspace_factory: Callable[..., Workspace], demo_records: dict
) -> None:
    """Records of a related kind skipped whole count for the gate as the field `<kind> (whole
    records)`, as a mapped field that fails does on Salesforce or HubSpot: a local CRM with a
    tenth of its activities unreadable (kept in `records_unreadable`, or rows edited by hand
    past the table's constraints) stops before anything is written, where it used to raise
    "no touch" tasks across the portfolio. Below the share the run goes on and reports them."""
    records = {k: list(v) for k, v in demo_records.items()}
    activities = records["activities"]
    tenth = len(activities) // 10
    kept = [a["id"] for a in activities[:tenth // 2]]  # these do not validate when written
    records["activities"] = ([{**a, "kind": 7} for a in activities[:tenth // 2]]
                             + activities[tenth // 2:])
    ws = workspace_factory(records)
    with sqlite3.connect(ws.root / "crm.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM records_unreadable").fetchone()[0] == len(kept)
        db.execute("PRAGMA ignore_check_constraints = ON")  # and these were edited by hand
        forced = [k for (k,) in db.execute(
            'SELECT "key" FROM activities ORDER BY rowid DESC LIMIT ?', (tenth - len(kept),))]
        db.executemany("UPDATE activities SET date = '2026-02-30' WHERE \"key\" = ?",
                       [(k,) for k in forced])
    proc = ws.cli("run", "--as-of", "2026-11-01", "--json", check=False)
    assert proc.returncode == 6, proc.stderr
    report = json.loads(proc.stdout)
    [problem] = report["data_quality"]
    assert (problem["field"], problem["failed"], problem["present"]) == (
        "activities (whole records)", tenth, len(activities))
    assert set(problem["samples"]) <= set(kept) | set(forced) and len(problem["samples"]) == 3
    assert report["counts"]["created"] == 0
    with sqlite3.connect(ws.root / "crm.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM tasks").fetchone()[0] == 0
    text = ws.cli("plan", "--as-of", "2026-11-01", check=False)
    assert text.returncode == 6
    assert (f"data-quality gate activities: {tenth:,} of {len(activities):,} records could not be"
            " used (10%; the warnings say why of each)") in text.stderr
    doctor = ws.cli("doctor", "--format", "json", check=False)
    assert doctor.returncode == 6
    assert "activities (whole records)" in doctor.stdout
    (ws.root / "kamrules.yaml").write_text((ws.root / "kamrules.yaml").read_text()
                                           + "data_quality:\n  max_field_failure_share: 0.15\n")
    report = ws.run_json()
    assert report["counts"]["created"] > 0 and report["data_quality"] == []
    [tallied] = [s for s in report["field_failures"] if s["field"] == "activities (whole records)"]
    assert (tallied["failed"], tallied["present"]) == (tenth, len(activities))
    text = ws.cli("run", "--as-of", "2026-11-01").stderr  # the share, below the gate now
    assert (f"data quality activities (whole records) failed on {tenth:,} of {len(activities):,}"
            " records (10%)") in text


def test_records_whose_account_ids_match_no_account_stop_the_run_at_the_gate(
    workspace_factory: Callable[..., Workspace], demo_records: dict
) -> None:
    """An import whose account ids do not match (here lower-cased) leaves every account without
    its activities: each such record counts as skipped of its kind, so the run stops instead of
    raising "no touch" tasks across the portfolio (tests/test_workers_pull.py: the same tally
    when workers pull planned chunks)."""
    records = {k: list(v) for k, v in demo_records.items()}
    records["activities"] = [{**a, "account_id": a["account_id"].lower()}
                             for a in records["activities"]]
    ws = workspace_factory(records)
    proc = ws.cli("plan", "--as-of", "2026-11-01", "--json", check=False)
    assert proc.returncode == 6, proc.stderr
    [problem] = json.loads(proc.stdout)["data_quality"]
    n = len(records["activities"])
    assert (problem["field"], problem["failed"], problem["present"]) == (
        "activities (whole records)", n, n)
    assert ws.cli("doctor", check=False).returncode == 6


def test_one_open_task_per_fingerprint_is_enforced_by_the_database(tmp_path: Path) -> None:
    crm = LocalCrm(tmp_path / "crm.sqlite")
    row = ("p/R/A", "A", "s", "b", None, None, "normal", "open", "{}", None)
    sql = ("INSERT INTO tasks (fingerprint, account_id, subject, body, owner_id, due, priority,"
           " status, evidence, created) VALUES (?,?,?,?,?,?,?,?,?,?)")
    crm.db.execute(sql, row)
    with pytest.raises(sqlite3.IntegrityError):
        crm.db.execute(sql, row)
    crm.db.execute("UPDATE tasks SET status='completed'")
    crm.db.execute(sql, row)  # a new open one after the first was completed is fine


def test_csv_import_loads_good_rows_and_reports_bad_ones(workspace_factory: Callable[..., Workspace]) -> None:
    ws = workspace_factory(None)
    export = ws.root / "export"
    export.mkdir()
    (export / "accounts.csv").write_text(
        "id,name,owner_id,is_key,regions,revenue,customer_since\n"
        "A1,Acme Steel,U1,true,north;south,2024:900000;2025:1200000,2019-05-01\n"
        "A2,Bolt Ltd,U2,maybe,,,\n"
    )
    (export / "contacts.csv").write_text(
        "id,account_id,name,department,buying_role,is_primary,created\n"
        "C1,A1,Ana,purchasing,decision_maker,true,2026-01-10\n"
        "C2,A1,Ben,logistics,,false,not-a-date\n"
    )
    proc = ws.cli("import-csv", str(export), check=False)
    assert proc.returncode == 1  # loaded, but some rows refused
    assert "accounts: 1 records loaded, 1 rows refused" in proc.stdout
    assert f"{export / 'accounts.csv'}:3:" in proc.stderr and "is_key" in proc.stderr
    assert f"{export / 'contacts.csv'}:3:" in proc.stderr and "created" in proc.stderr
    report = ws.run_json()
    assert report["accounts"] == 1
    fps = {c["fingerprint"] for c in report["changes"]}
    assert "kam-core/KAM-REL-004/A1" in fps  # one contact only
    revenue = json.loads(ws.crm().db.execute(
        "SELECT revenue FROM accounts WHERE id='A1'").fetchone()[0])
    assert revenue == [{"year": 2024, "amount": 900000.0}, {"year": 2025, "amount": 1200000.0}]


def test_completing_a_task_by_hand_is_read_back(tmp_path: Path) -> None:
    from kamrules.protocol.changes import Change

    crm = LocalCrm(tmp_path / "crm.sqlite")
    t = Task(fingerprint="p/R/A", account_id="A", subject="s", body="b", evidence={"x": 1})
    [result] = crm.apply([Change(action="create", fingerprint=t.fingerprint, task=t)])
    assert result.ok
    crm.complete_task(result.crm_id or "", date(2026, 10, 30))
    [back] = crm.list_tasks(date(2026, 10, 1))
    assert back.status == "completed" and back.completed == date(2026, 10, 30)
    assert back.evidence == {"x": 1}
    assert crm.list_tasks(date(2026, 10, 31)) == []


def test_a_task_marked_done_by_hand_without_its_day_is_not_made_again(workspace: Workspace) -> None:
    """What an account manager does in a SQLite editor: the status set, the completion day left
    empty. The CRM stamps the day (as Salesforce and HubSpot fall back to the last change), so
    the next run holds the finding back instead of making its task again beside the done one."""
    first = workspace.run_json()
    fp, typed = [c["fingerprint"] for c in first["changes"] if c["action"] == "create"][:2]
    db = sqlite3.connect(workspace.crm_path)
    with db:
        db.execute("UPDATE tasks SET status = ' Completed' WHERE fingerprint = ?", (fp,))
        db.execute("UPDATE tasks SET status = 'Open' WHERE fingerprint = ?", (typed,))
        day = db.execute("SELECT completed FROM tasks WHERE fingerprint = ?", (fp,)).fetchone()[0]
    db.close()
    assert day == datetime.now(UTC).date().isoformat()  # SQLite's date("now")
    again = {c["fingerprint"]: c for c in workspace.run_json()["changes"]}
    assert again[fp]["action"] == "suppressed"
    assert f"completed by hand on {day}" in again[fp]["reason"]
    assert again[typed]["action"] == "keep"  # read as open: not made a second time
    held = [t.fingerprint for t in workspace.crm().all_tasks()]
    assert held.count(fp) == 1 and held.count(typed) == 1


class WholePull:
    """The local CRM seen as a connector that can only pull everything at once."""

    def __init__(self, crm: LocalCrm):
        self.crm = crm
        self.api_calls = 0

    def pull(self, as_of: date, progress: Any = None) -> Any:
        return self.crm.pull(as_of)

    def list_tasks(self, completed_since: date) -> list[Task]:
        return self.crm.list_tasks(completed_since)

    def apply(self, changes: Any, progress: Any = None) -> list[Any]:
        raise AssertionError("a plan writes nothing")

    def commit(self) -> None:
        raise AssertionError("a plan commits nothing")

    def close(self) -> None:
        self.crm.close()


@pytest.mark.parametrize("size", [1, 7, 5000])
def test_a_run_in_chunks_equals_a_run_over_one_pull(
    size: int, workspace_factory: Callable[..., Workspace], demo_records: dict
) -> None:
    from kamrules.protocol.connector import StreamingConnector
    from kamrules.run.config import load_config, load_configured_packs
    from kamrules.run.sync import run

    # 59 accounts with their records (the others' records would be orphans past the gate's share)
    records = {k: [r for r in v if k == "users" or r.get("account_id", r.get("id")) < "ACC-000060"]
               for k, v in demo_records.items()}
    records["accounts"].append({"id": "ACC-000007X", "is_key": "perhaps"})  # inside a chunk's id range
    records["contacts"] += [{"id": "ORPHAN-1", "account_id": "ACC-000008X", "name": "In a range"},
                            {"id": "ORPHAN-2", "account_id": "ZZZ", "name": "After every account"}]
    ws = workspace_factory(records)
    ws.run_json()  # existing tasks, some completed by hand, so reconciliation has work to do
    crm = ws.crm()
    for task in crm.all_tasks()[::5]:
        crm.complete_task(task.crm_id or "", date(2026, 10, 30))
    assert isinstance(crm, StreamingConnector) and not isinstance(WholePull(crm), StreamingConnector)
    loaded = load_config(ws.root / "kamrules.yaml")
    packs = load_configured_packs(loaded)  # with the config's overrides, as the run had them
    day = date(2026, 11, 20)
    chunked = run(crm, packs, loaded, day, dry_run=True, chunk_size=size)
    whole = run(WholePull(crm), packs, loaded, day, dry_run=True)

    def key(report: Any) -> tuple[Any, ...]:
        return (report.accounts, report.findings, report.counts,
                sorted((c.action, c.fingerprint, c.subject, c.owner_id) for c in report.changes),
                sorted((w.kind, w.record_id, w.message) for w in report.warnings))

    assert key(chunked) == key(whole)
    assert chunked.accounts == 59 and chunked.findings > 20
    warned = {(w.kind, w.record_id) for w in chunked.warnings}
    assert {("accounts", "ACC-000007X"), ("contacts", "ORPHAN-1"), ("contacts", "ORPHAN-2")} <= warned
    assert {c.action for c in chunked.changes} >= {"keep", "suppressed"}


def _open_at_once(path: str, barrier: Any, failures: Any) -> None:
    from kamrules.connectors.local.crm import LocalCrm

    barrier.wait()
    try:
        LocalCrm(Path(path)).close()
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        failures.put(f"{type(exc).__name__}: {exc}")


def test_two_processes_open_a_rollback_journal_crm_at_the_same_moment(tmp_path: Path) -> None:
    """A seeded CRM is left in rollback-journal mode; two processes switching it to WAL at once
    made SQLite answer "database is locked" without waiting (a `plan` and a `run` together)."""
    import multiprocessing
    import sqlite3

    ctx = multiprocessing.get_context("fork")
    failures = ctx.Queue()
    for i in range(40):
        path = tmp_path / f"crm{i}.sqlite"
        crm = LocalCrm(path)
        crm.db.execute("PRAGMA journal_mode=DELETE")  # as seeding leaves it
        crm.close()
        barrier = ctx.Barrier(2)
        procs = [ctx.Process(target=_open_at_once, args=(str(path), barrier, failures))
                 for _ in range(2)]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join(60)
        assert [proc.exitcode for proc in procs] == [0, 0]
        db = sqlite3.connect(path)
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        db.close()
    assert failures.empty(), failures.get()
