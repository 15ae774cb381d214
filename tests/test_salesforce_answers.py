"""Salesforce answers of shapes its API does not document (a proxy, a misconfigured org, a cut
answer): a CRM failure (exit 4) naming what came, never exit 5, a paging loop, or records or
tasks silently lost or written twice (connectors/salesforce/answers.py)."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import pytest
import responses

from kamrules.connectors.salesforce.client import SfError
from kamrules.connectors.salesforce.write import TaskWriter
from kamrules.protocol.marker import read_marker
from tests.support.salesforce import FakeServer
from tests.support.salesforce_workspace import ENV, TOKEN, new_org, sf_workspace, tls_cert  # noqa: F401
from tests.test_salesforce_unit import DATA, HOST, SOAP_OK, _change, config, env, password_client  # noqa: F401

NEXT = "/services/data/v60.0/query/01gLOOP-2000"


@responses.activate
def test_paging_that_comes_back_to_a_page_or_leaves_the_instance_is_a_crm_error(env: None) -> None:  # noqa: F811
    responses.post(f"{HOST}/services/Soap/u/60.0", body=SOAP_OK)
    page = {"totalSize": 9, "done": False, "nextRecordsUrl": NEXT, "records": [{"Id": "A"}]}
    responses.get(f"{DATA}query/", json=page)
    responses.get(f"{HOST}{NEXT}", json=page)  # the same cursor again: was a loop without end
    client = password_client()
    with pytest.raises(SfError, match="nextRecordsUrl .*01gLOOP-2000 twice"):
        list(client.query_pages("SELECT Id FROM Account"))
    assert client.calls["query"] == 2
    kids = {"totalSize": 3, "done": False, "records": [{"N": 1}]}  # not done, and no way on
    responses.replace(responses.GET, f"{DATA}query/", json={
        "totalSize": 1, "done": True, "records": [{"Id": "A", "Kids": kids}]})
    with pytest.raises(SfError, match="not the last without a nextRecordsUrl"):
        list(client.query_pages("SELECT Id, (SELECT N FROM Kids) FROM Account"))
    elsewhere = {**page, "nextRecordsUrl": "https://proxy.example/steal"}  # the token would go there
    responses.replace(responses.GET, f"{DATA}query/", json=elsewhere)
    with pytest.raises(SfError, match="proxy.example"):
        list(client.query_pages("SELECT Id FROM Account"))
    assert all("proxy.example" not in c.request.url for c in responses.calls)


@responses.activate
def test_a_bulk_job_that_never_ends_or_pages_in_a_loop_is_a_crm_error(env: None) -> None:  # noqa: F811
    responses.post(f"{HOST}/services/Soap/u/60.0", body=SOAP_OK)
    responses.post(f"{DATA}jobs/query", json={"id": "750J", "state": "UploadComplete"})
    responses.get(f"{DATA}jobs/query/750J", json={"id": "750J", "state": "InProgress"})
    sleeps: list[float] = []
    client = password_client(sleeps)
    with pytest.raises(SfError, match="750J still InProgress after 21,6"):
        list(client.bulk_query("SELECT Id FROM Account"))
    assert 6 * 3600 <= sum(sleeps) < 6 * 3600 + 100  # polled for six hours, then stopped (was: forever)
    responses.replace(responses.GET, f"{DATA}jobs/query/750J", json={"state": "JobComplete"})
    responses.get(f"{DATA}jobs/query/750J/results", body="Id\n1\n", headers={"Sforce-Locator": "L1"})
    with pytest.raises(SfError, match="Sforce-Locator L1 twice"):
        list(client.bulk_query("SELECT Id FROM Account"))
    responses.replace(responses.POST, f"{DATA}jobs/query", json=["750J"])
    with pytest.raises(SfError, match="query job without an id"):
        list(client.bulk_query("SELECT Id FROM Account"))


@responses.activate
def test_an_update_answered_success_false_as_text_is_failed_not_done(env: None) -> None:  # noqa: F811
    """`"success": "false"` is truthy: the close was counted done and never tried again."""
    responses.post(f"{HOST}/services/Soap/u/60.0", body=SOAP_OK)
    responses.patch(f"{DATA}composite/sobjects", json=[{"id": "00T1", "success": "false", "errors": [
        {"statusCode": "ENTITY_IS_LOCKED", "message": "locked"}]}])
    cfg = config(method="session", session_id={"env": "SF_SID"}, instance_url=HOST)
    [result] = TaskWriter(password_client(), cfg).apply([_change("close", 1)])
    assert not result.ok and "success is not true or false" in (result.error or "")


@pytest.fixture
def org_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, TOKEN)


QUERIES: list[tuple[str, str, int, Any, str]] = [
    ("records null", "query", 200, {"totalSize": 1, "done": True, "records": [None]},
     "a record that is not an object"),
    ("record without Id", "query", 200, {"totalSize": 1, "done": True, "records": [{"Name": "x"}]},
     "record without an Id"),
    ("totalSize text", "query", 200, {"totalSize": "many", "done": True, "records": []},
     "totalSize that is not a count"),
    ("errorCode a list", "query", 400, [{"errorCode": ["X"], "message": "odd"}], "400: odd"),
    ("describe a list", "describe", 200, [1], "describe of Account that is not an object"),
    ("describe field without name", "describe", 200, {"fields": [{}]}, "a field without a name"),
    # read as names when the mapping is resolved: KeyError 'childSObject', unhashable list (exit 5)
    ("describe child without object", "describe", 200,
     {"fields": [{"name": "Id"}], "childRelationships": [{"relationshipName": "Odd__r"}]},
     "a child relationship without its childSObject"),
    ("describe lookup name a list", "describe", 200,
     {"fields": [{"name": "OwnerId", "relationshipName": ["Owner"], "referenceTo": ["User"]}]},
     "a lookup whose relationshipName or referenceTo is no name"),
]


@pytest.mark.usefixtures("org_env")
@pytest.mark.parametrize(("kind", "status", "body", "message"),
                         [q[1:] for q in QUERIES], ids=[q[0] for q in QUERIES])
def test_a_read_answered_in_another_shape_stops_the_run_with_exit_4(
        tmp_path: Path, demo_records: dict[str, list[dict[str, Any]]], tls_cert: tuple[Path, Path],  # noqa: F811
        kind: str, status: int, body: Any, message: str) -> None:
    with FakeServer(new_org(demo_records), *tls_cert) as server:
        ws = sf_workspace(tmp_path / "ws", server, tls_cert[0])
        server.org.fail_next(kind, status, body)
        proc = ws.cli("run", "--as-of", "2026-11-01", check=False)
        assert proc.returncode == 4, proc.stderr[-2000:]
        assert message in proc.stderr and "Traceback" not in proc.stderr
        assert not server.org.tasks() and not server.org.faults


@pytest.mark.usefixtures("org_env")
def test_a_create_answered_in_another_shape_is_read_back_and_each_task_written_once(
        tmp_path: Path, demo_records: dict[str, list[dict[str, Any]]], tls_cert: tuple[Path, Path],  # noqa: F811
) -> None:
    """A dict, null, or successes without ids were exit 5; the tasks may have been created, so
    they are read back by fingerprint and only the missing ones sent again."""
    with FakeServer(new_org(demo_records), *tls_cert) as server:
        org = server.org
        ws = sf_workspace(tmp_path / "ws", server, tls_cert[0])
        write = org.write
        org.write = lambda method, body: [{"success": True, "errors": []} for _ in write(method, body)]
        org.fail_next("write", 200, {"records": "accepted"})
        org.fail_next("write", 200, None)
        proc = ws.cli("run", "--as-of", "2026-11-01", "--json", check=False)
        assert proc.returncode == 0, proc.stderr[-2000:]
        report = json.loads(proc.stdout)
        fingerprints = [read_marker(t["Description"])[0] for t in org.tasks()]
        assert len(fingerprints) == len(set(fingerprints)) == report["counts"]["created"] > 100
        assert not org.faults
        org.write = write  # errors as a dict, fields a number: each record failed, said so
        org.fail_next("write", 200, [{"success": False, "errors": {"statusCode": "X"}}] * 200)
        org.objects["Task"].clear()
        proc = ws.cli("run", "--as-of", "2026-11-01", "--json", check=False)
        assert proc.returncode == 1, proc.stderr[-2000:]
        failed = [c for c in json.loads(proc.stdout)["changes"] if not c["ok"]]
        assert failed and all(c["error"] == "X: no message" for c in failed)


@responses.activate
def test_fresh_cursors_to_empty_pages_are_a_crm_error_not_paging_without_end(env: None) -> None:  # noqa: F811
    """A proxy or broken org answering every page with a new cursor and no records (query:
    `done: false`, `records: []`; Bulk API: an empty CSV with a new Sforce-Locator) paged until
    the run was killed: no cursor repeats. Twenty such pages in a row stop the run (a real org
    may send an empty page now and then; the fake org's paging never does: tests/support)."""
    responses.post(f"{HOST}/services/Soap/u/60.0", body=SOAP_OK)
    served = iter(range(1, 10_001))  # without the check: 10,000 empty pages, then a last one

    def fresh(request: Any) -> tuple[int, dict[str, str], str]:
        n = next(served, None)
        return 200, {}, json.dumps({"totalSize": 9, "done": n is None, "records": [],
                                    **({"nextRecordsUrl": f"/services/data/v60.0/query/01gF-{n}"}
                                       if n else {})})
    first = {"totalSize": 9, "done": False, "records": [{"Id": "A"}],
             "nextRecordsUrl": "/services/data/v60.0/query/01gF-0"}
    responses.get(f"{DATA}query/", json=first)
    responses.add_callback(responses.GET, re.compile(f"{re.escape(HOST)}/services/data/v60.0/query/01gF-.*"),
                           callback=fresh)
    client = password_client()
    with pytest.raises(SfError, match="20 pages in a row without records, each with a new cursor"
                                      r" \(the last /services/data/v60.0/query/01gF-20\)"):
        list(client.query_pages("SELECT Id FROM Account"))
    assert client.calls["query"] == 21

    responses.post(f"{DATA}jobs/query", json={"id": "750J", "state": "UploadComplete"})
    responses.get(f"{DATA}jobs/query/750J", json={"id": "750J", "state": "JobComplete"})

    def empty_csv(request: Any) -> tuple[int, dict[str, str], str]:
        n = next(served, None)
        return 200, {"Sforce-Locator": f"L{n}" if n else "null"}, "Id\n"
    responses.add_callback(responses.GET, f"{DATA}jobs/query/750J/results", callback=empty_csv)
    with pytest.raises(SfError, match="Sforce-Locator 20 pages in a row without records"):
        list(client.bulk_query("SELECT Id FROM Account"))
    assert client.calls["bulk"] == 22  # the job, its state, twenty pages of results
    responses.replace(responses.GET, f"{DATA}jobs/query/750J/results",
                      body='Id\n"' + "<html>" * 30_000, headers={"Sforce-Locator": "null"})
    # csv's limit is one per process: the CSV import's tests raise it in theirs; here, its default
    limit = csv.field_size_limit(131_072)
    try:
        with pytest.raises(SfError, match="cannot be read as CSV .field larger than field limit"):
            list(client.bulk_query("SELECT Id FROM Account"))  # was exit 5 (csv.Error)
    finally:
        csv.field_size_limit(limit)
