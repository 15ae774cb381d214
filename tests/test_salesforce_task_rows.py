"""Bad Task rows in a Salesforce org never stop a run (through the CLI, against the fake org):
a bad value is dropped with a warning naming the record; an unusable row is left alone, or, when
its marker or fingerprint field says it is kamrules' own and it is open, closed as unreadable
with a note exactly once; duplicate open tasks of one fingerprint are closed down to one."""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kamrules.connectors.salesforce.taskrows import UNREADABLE_NOTE, read_row
from kamrules.protocol.marker import read_marker
from tests.conftest import ANCHOR, Workspace
from tests.support.salesforce import FakeServer, sf_time
from tests.support.salesforce_workspace import ENV, TOKEN, new_org, sf_workspace, tls_cert  # noqa: F401

FP_FIELD = "Kamrules_Fingerprint__c"


@pytest.fixture(autouse=True)
def session_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, TOKEN)


@pytest.fixture
def server(demo_records: dict[str, Any], tls_cert: tuple[Path, Path]  # noqa: F811
           ) -> Iterator[FakeServer]:
    org = new_org(demo_records, fingerprint_field=FP_FIELD)
    with FakeServer(org, *tls_cert) as fake:
        yield fake


def open_by_fp(server: FakeServer) -> Counter[str]:
    marks = (read_marker(t["Description"]) for t in server.org.tasks()
             if not t.get("IsClosed") and isinstance(t.get("Description"), str))
    return Counter(m[0] for m in marks if m)


def run(ws: Workspace, command: str = "run") -> dict[str, Any]:
    proc = ws.cli(command, "--as-of", ANCHOR.isoformat(), "--json", check=False)
    assert proc.returncode == 0, proc.stderr  # never 5, never partial for bad rows
    return json.loads(proc.stdout)


def warned(report: dict[str, Any]) -> dict[str, str]:
    return {w["record_id"]: w["message"] for w in report["warnings"] if w["kind"] == "tasks"}


def test_bad_task_rows_are_reported_read_without_bad_values_or_closed_once(
        tmp_path: Path, server: FakeServer, tls_cert: tuple[Path, Path]) -> None:  # noqa: F811
    org = server.org
    ws = sf_workspace(tmp_path / "ws", server, tls_cert[0])
    created = run(ws)["counts"]["created"]
    t = org.tasks()
    fps = [read_marker(x["Description"])[0] for x in t]  # type: ignore[index]
    assert len(t) == created > 12

    # values kamrules can do without: the task is still reconciled (kept, not duplicated)
    t[0]["ActivityDate"] = "2026-02-30"
    t[1]["CreatedDate"] = "yesterday"
    t[2]["Subject"] = "[kamrules] " + "x" * 1_000_000
    t[3]["OwnerId"] = 42
    t[4]["Description"] = "\x1b[2J" + "y" * 40_000 + "\n\n" + t[4]["Description"]
    # kamrules' own but unusable: closed as unreadable, once, and a fresh task takes its place
    t[5]["WhatId"] = None
    t[6]["Description"] = t[6]["Description"][:-7]  # the marker's JSON cut off
    del t[7]["IsClosed"], t[7]["Status"]
    t[8]["Description"] = t[8]["Description"].replace(f'"fp":"{fps[8]}"', '"fp":"nonsense"')
    # not recognisably kamrules' (no marker line): reported and left alone
    t[9]["Description"] = 12345
    mine = org.add("Task", {"Subject": "[kamrules] my own reminder", "Description": "call Ana",
                            "WhatId": t[9]["WhatId"], "Status": "Not Started", "IsClosed": False,
                            "CreatedDate": sf_time(), "LastModifiedDate": sf_time()})
    for row in t[:10]:
        row["SystemModstamp"] = row["LastModifiedDate"] = sf_time()

    writes = org.calls["write"]
    plan = run(ws, "plan")
    assert org.calls["write"] == writes
    notes = warned(plan)
    assert "ActivityDate '2026-02-30' is not a date" in notes[t[0]["Id"]]
    assert "CreatedDate 'yesterday' is not a date" in notes[t[1]["Id"]]
    assert "Subject has 1,000,011 characters" in notes[t[2]["Id"]]
    assert "OwnerId 42 is not an id" in notes[t[3]["Id"]]
    assert "Description has 40," in notes[t[4]["Id"]]
    assert "WhatId (the account) is None" in notes[t[5]["Id"]]
    assert "marker does not parse" in notes[t[6]["Id"]]
    assert "status is unknown" in notes[t[7]["Id"]]
    assert "'nonsense' is no pack/rule/account" in notes[t[8]["Id"]]
    for row in t[5:9]:
        assert "closes it as unreadable" in notes[row["Id"]]
    assert "Description is int" in notes[t[9]["Id"]] and "left alone" in notes[t[9]["Id"]]
    assert "no kamrules marker line" in notes[mine["Id"]]
    assert "\x1b" not in json.dumps(plan["warnings"], ensure_ascii=False)

    first = run(ws)
    assert first["counts"]["kept"] >= created - 10 and first["counts"]["failed"] == 0
    assert first["counts"]["created"] == 5  # for t[5..9], which no longer read as their tasks
    for row in t[5:9]:
        assert row["IsClosed"] and row["Status"] == "Completed", row["Id"]
        assert UNREADABLE_NOTE in row["Description"] and len(row["Description"]) <= 32_000
    assert not t[9].get("IsClosed") and t[9]["Description"] == 12345  # left alone
    assert mine["Description"] == "call Ana" and not mine["IsClosed"]
    for row in t[:5]:  # read without the bad values: kept, never rewritten
        assert not row["IsClosed"] and fps[t.index(row)] in open_by_fp(server)
    counts = open_by_fp(server)
    assert all(counts[fp] == 1 for fp in fps[:9])
    assert max(counts.values()) == 1

    writes = org.calls["write"]
    second = run(ws)  # exactly once: nothing closed or created again, no write call at all
    assert second["counts"]["created"] == second["counts"]["closed"] == 0
    assert org.calls["write"] == writes
    assert t[0]["Id"] in warned(second)  # still reported while the row stays bad


def test_rows_marked_by_the_fingerprint_field_and_odd_types(
        tmp_path: Path, server: FakeServer, tls_cert: tuple[Path, Path]) -> None:  # noqa: F811
    org = server.org
    ws = sf_workspace(tmp_path / "ws", server, tls_cert[0], extra_crm=f"  fingerprint_field: {FP_FIELD}\n")
    run(ws)
    t = org.tasks()
    t[0]["Subject"] = ["not", "text"]  # the field finds it whatever the subject holds
    t[1]["Description"] = None  # the field still names the fingerprint
    t[2][FP_FIELD] = "garbage"
    t[3][FP_FIELD] = 17
    for row in t[:4]:
        row["SystemModstamp"] = row["LastModifiedDate"] = sf_time()
    report = run(ws)
    notes = warned(report)
    assert "Subject is list, not text" in notes[t[0]["Id"]]
    assert t[1]["Id"] not in notes and not t[1]["IsClosed"]
    assert "'garbage' is no kamrules fingerprint" in notes[t[2]["Id"]]
    assert "17 is no kamrules fingerprint" in notes[t[3]["Id"]]
    assert t[2]["IsClosed"] and t[3]["IsClosed"] and not t[0]["IsClosed"]
    assert report["counts"]["created"] == 2 and report["counts"]["closed"] == 0


def test_duplicate_open_tasks_are_closed_down_to_one_exactly_once(
        tmp_path: Path, server: FakeServer, tls_cert: tuple[Path, Path]) -> None:  # noqa: F811
    org = server.org
    ws = sf_workspace(tmp_path / "ws", server, tls_cert[0])
    created = run(ws)["counts"]["created"]
    originals = org.tasks()
    # two runs of an older version, and a user copying a task (own subject, a later date)
    for source, copies in ((originals[0], 2), (originals[1], 1), (originals[2], 1)):
        for _ in range(copies):
            dup = {k: v for k, v in copy.deepcopy(source).items() if k != "Id"}
            dup["CreatedDate"] = dup["SystemModstamp"] = sf_time()
            if source is originals[2]:
                dup["Subject"] = "[kamrules] copied by Ana"
            org.add("Task", dup)
    assert len(org.tasks()) == created + 4

    report = run(ws)
    closes = [c for c in report["changes"] if c["action"] == "close"]
    assert len(closes) == 4 and report["counts"]["created"] == 0
    assert all("duplicate" in c["reason"] for c in closes)
    assert max(open_by_fp(server).values()) == 1 and sum(open_by_fp(server).values()) == created
    assert all(not t["IsClosed"] for t in originals[:3])  # the oldest copy is the one kept

    writes = org.calls["write"]
    again = run(ws)
    assert again["counts"]["closed"] == again["counts"]["created"] == 0
    assert org.calls["write"] == writes


def test_read_row_never_raises_on_what_a_row_holds() -> None:
    good = {"Id": "00T1", "WhatId": "A1", "IsClosed": False, "Subject": "[kamrules] x",
            "Description": 'text\n\nkamrules:{"fp":"p/r/A1","ev":{}}'}
    assert read_row(good, None, "[kamrules] ").task is not None
    odd: list[Any] = [None, 0, 1.5, True, [], {}, "", "x" * 10, {"a": [1]}, "\x00", "2026-02-30"]
    for name in ("Id", "WhatId", "IsClosed", "Subject", "Description", "ActivityDate", "CreatedDate",
                 "CompletedDateTime", "LastModifiedDate", "OwnerId", "Priority", FP_FIELD):
        for value in odd:
            for fp_field in (None, FP_FIELD):
                read = read_row({**good, "IsClosed": name != "IsClosed" and good["IsClosed"],
                                 name: value}, fp_field, "[kamrules] ")
                assert read.task is not None or read.problems, (name, value)


def test_duplicates_left_open_by_policy_are_closed_down_to_one_too() -> None:
    from datetime import date

    from kamrules.model import Task
    from kamrules.writeback.reconcile import Policy, Scope, reconcile

    def task(crm_id: str, created: str) -> Task:
        return Task(fingerprint="p/R1/A1", account_id="A1", subject="s", body="b", crm_id=crm_id,
                    created=date.fromisoformat(created))

    existing = [task("3", "2026-10-03"), task("1", "2026-10-01"), task("2", "2026-10-02")]
    changes = reconcile([], existing, Scope(accounts={"A1"}, packs={"p"}),
                        lambda fp: Policy(close_resolved=False), ANCHOR)
    assert [(c.action, c.task.crm_id) for c in changes] == [("keep", "1"), ("close", "2"),
                                                            ("close", "3")]
    assert all("duplicate" in c.reason for c in changes[1:])
