"""HubSpot answers of shapes its API does not document (a proxy, a cut answer): a CRM failure
(exit 4) naming what came, never exit 5 or paging without end; a create answered so is read
back, never sent twice (connectors/hubspot/pull.py `_results`, `_after`, `_link`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kamrules.protocol.marker import read_marker
from tests.support.hubspot_workspace import HsWorkspace, start_fake

COMPANIES = "GET /crm/v3/objects/companies"
ASSOCIATIONS = "POST /crm/v4/associations"
CREATE = "POST /crm/v3/objects/tasks/batch/create"
LOOP = {"results": [{"id": "1", "properties": {}}], "paging": {"next": {"after": "100"}}}
# fresh cursors to empty pages: no cursor repeats; twenty such pages in a row stop the run (the
# fake portal's paging never sends one: tests/support/hubspot_endpoints.py)
FRESH = [{"results": [], "paging": {"next": {"after": str(n)}}} for n in range(100, 150)]
READS: list[tuple[str, Any, str]] = [  # each was exit 5, or (the loops) a run without end
    (COMPANIES, [LOOP] * 50, "paging cursor 100 twice: its paging goes round in a loop"),
    (COMPANIES, FRESH, "20 pages in a row without records, each with a new cursor (the last 119)"),
    (COMPANIES, [{"results": [], "paging": {"next": "100"}}], "paging that is not {next: {after}}"),
    (COMPANIES, [{"results": [None]}], "read of companies with results that are not objects"),
    # rows without ids were one account keyed "", without a word (exit 0)
    (COMPANIES, [{"results": [{"properties": {"name": "x"}}, {"id": None}]}], "a record without an id"),
    (ASSOCIATIONS, [{"results": [{"to": []}]}], "a result that is not {from: {id}, to: [...]}"),
    (ASSOCIATIONS, [{"results": [{"from": {"id": "1"}, "to": [{"toObjectId": 2, "associationTypes": [
        {"typeId": "x"}]}]}]}], "an association that is not {toObjectId"),
    ("GET /crm/v3/pipelines", [{"results": [{"id": "default", "stages": None}]}],
     "a pipeline that is not {id, stages: [{id}]}"),
]


def test_reads_answered_in_another_shape_stop_the_run_and_creates_are_read_back(
        tmp_path: Path, demo_records: dict[str, list[dict[str, Any]]]) -> None:
    fake, url, _ = start_fake(demo_records, window=1.0)
    try:
        ws = HsWorkspace(tmp_path / "hs", fake, url)
        ws.write_config()
        left = []
        for endpoint, bodies, message in READS:
            fake.failures = [(endpoint, 200, body) for body in bodies]
            proc = ws.cli("run", "--as-of", "2026-11-01")
            assert proc.returncode == 4, proc.stderr[-2000:]
            assert message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-2000:]
            assert not fake.tasks()
            left.append(len(fake.failures))
        assert left == [48, 30, 0, 0, 0, 0, 0, 0]  # a loop at its 2nd page, empties at the 20th
        fake.failures = [(CREATE, 200, {"results": None}), (CREATE, 201, {"status": "COMPLETE"})]
        code, report = ws.run_json()
        assert code == 0 and not fake.failures, report.get("error")
        fingerprints = [read_marker(t["properties"]["hs_task_body"])[0] for t in fake.tasks()]
        assert len(fingerprints) == len(set(fingerprints)) == report["counts"]["created"] > 100
    finally:
        fake.stop()
