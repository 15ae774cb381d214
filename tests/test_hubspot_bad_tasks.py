"""Bad task rows in HubSpot never stop a run (#13 item 4), through the CLI against the fake portal.

After a first run, task rows are damaged as a careless admin, an integration or an older
kamrules would leave them: bad and impossible dates, a missing or unknown status, a marker or
fingerprint that does not parse, values of the wrong type, a null, a huge subject, user tasks
with no marker, and copies of kamrules' open tasks. The next run exits 0 (never 5), names each
row it could not read, closes the unusable open rows of its own as unreadable and the duplicate
copies down to one, exactly once: a third run writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kamrules.protocol.marker import read_marker
from tests.support.hubspot import FakeHubSpot
from tests.support.hubspot_workspace import HsWorkspace, start_fake


@pytest.fixture
def hs(tmp_path: Path, demo_records: dict[str, list[dict[str, Any]]]) -> Iterator[HsWorkspace]:
    fake, url, ids = start_fake(demo_records, window=1.0)
    ws = HsWorkspace(tmp_path / "hs", fake, url)
    ws.write_config()
    yield ws
    fake.stop()


def _props(fake: FakeHubSpot, oid: str) -> dict[str, Any]:
    return fake.objects["tasks"][oid]["properties"]


def _fp(fake: FakeHubSpot, oid: str) -> str:
    marker = read_marker(_props(fake, oid)["hs_task_body"])
    assert marker is not None
    return marker[0]


def _open_by_fp(fake: FakeHubSpot) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for t in fake.tasks():
        p = t["properties"] or {}
        body = p.get("hs_task_body")
        marker = read_marker(body) if isinstance(body, str) else None
        if marker and p.get("hs_task_status") != "COMPLETED":
            out.setdefault(marker[0], []).append(t["id"])
    return out


def test_bad_task_rows_are_reported_closed_once_and_never_stop_a_run(hs: HsWorkspace) -> None:
    code, first = hs.run_json()
    assert code == 0, first
    fake = hs.fake
    ours = sorted((t["id"] for t in fake.tasks()), key=int)
    assert len(ours) > 60
    (bad_date, huge_epoch, no_status, odd_status, broken_marker, bad_fp, int_subject,
     odd_priority, dict_owner, huge_subject, list_body, null_created, dup_a, dup_b) = ours[:14]
    fps = {oid: _fp(fake, oid) for oid in ours}
    with fake.lock:
        _props(fake, bad_date)["hs_timestamp"] = "2026-02-30"
        _props(fake, huge_epoch)["hs_timestamp"] = "9" * 40
        _props(fake, no_status)["hs_task_status"] = None
        _props(fake, odd_status)["hs_task_status"] = "DONE"
        body = _props(fake, broken_marker)["hs_task_body"]
        _props(fake, broken_marker)["hs_task_body"] = body[: body.rindex("kamrules:") + 20]
        body = _props(fake, bad_fp)["hs_task_body"]
        _props(fake, bad_fp)["hs_task_body"] = body.replace(fps[bad_fp], "kam-core")
        _props(fake, int_subject)["hs_task_subject"] = 12345
        _props(fake, odd_priority)["hs_task_priority"] = "URGENT"
        _props(fake, dict_owner)["hubspot_owner_id"] = {"id": 7}
        _props(fake, huge_subject)["hs_task_subject"] = "x" * 200_000
        _props(fake, list_body)["hs_task_body"] = [_props(fake, list_body)["hs_task_body"]]
        _props(fake, null_created)["hs_createdate"] = None
        fake.objects["tasks"]["900001"] = {"id": "900001", "properties": None}  # a null record
    # tasks of the people, not kamrules': no marker, odd values; never reported, never touched
    people = [fake.add("tasks", {"hs_task_subject": "Call back", "hs_task_body": "no marker here",
                                 "hs_task_status": "SOMETIMES", "hs_timestamp": "yesterday"}),
              fake.add("tasks", {"hs_task_subject": "Lunch", "hs_task_body": None})]
    # copies of open tasks: a user copying one, two runs of an older kamrules
    copies = [fake.add("tasks", dict(_props(fake, dup_a))) for _ in range(2)]
    copies.append(fake.add("tasks", dict(_props(fake, dup_b))))

    writes = fake.writes
    code, plan = hs.run_json("plan")
    assert code == 0, plan
    assert fake.writes == writes  # a plan reports, writes nothing

    code, second = hs.run_json()
    assert code == 0, second  # never 5, not even 1: every write went through
    warned: dict[str, str] = {}
    for w in second["warnings"]:
        if w["kind"] == "hubspot tasks":
            warned[w["record_id"]] = w["message"]
    assert "2026-02-30" in warned[bad_date] and "not a date" in warned[bad_date]
    assert "not a date" in warned[huge_epoch]
    assert "status None" in warned[no_status] and "closes it as unreadable" in warned[no_status]
    assert "'DONE'" in warned[odd_status]
    assert "marker" in warned[broken_marker] and "does not parse" in warned[broken_marker]
    assert "'kam-core' is not pack/rule/account" in warned[bad_fp]
    assert "hs_task_subject is a int" in warned[int_subject]
    assert "'URGENT'" in warned[odd_priority]
    assert "hubspot_owner_id" in warned[dict_owner]
    assert "200,000 characters" in warned[huge_subject]
    assert "a list, not text" in warned[list_body] and "left alone" in warned[list_body]
    assert null_created not in warned  # a missing creation date is no error
    assert not set(people) & set(warned) and "900001" not in warned

    for oid in (no_status, odd_status, broken_marker, bad_fp):  # closed as unreadable, with the note
        p = _props(fake, oid)
        assert p["hs_task_status"] == "COMPLETED", oid
        assert "Closed by kamrules: unreadable task:" in p["hs_task_body"]
    assert isinstance(_props(fake, list_body)["hs_task_body"], list)  # left alone
    assert all(_props(fake, oid).get("hs_task_status") != "COMPLETED" for oid in people)

    closes = {c["crm_id"]: c["reason"] for c in second["changes"] if c["action"] == "close"}
    assert {closes[c] for c in copies} == {"duplicate of an open task with the same fingerprint"}
    assert dup_a not in closes and dup_b not in closes  # the oldest of each stays
    # the fingerprints whose task became unusable get a new task; each fingerprint ends with one
    created = {c["fingerprint"] for c in second["changes"] if c["action"] == "create"}
    assert created == {fps[o] for o in (no_status, odd_status, broken_marker, bad_fp, list_body)}
    by_fp = _open_by_fp(fake)
    assert all(len(ids) == 1 for ids in by_fp.values()), {k: v for k, v in by_fp.items() if len(v) > 1}
    assert set(by_fp) == set(fps.values())
    updated = {c["crm_id"] for c in second["changes"] if c["action"] == "update"}
    assert updated == {dict_owner}  # its owner was unreadable: written again

    writes = fake.writes
    code, third = hs.run_json()
    assert code == 0, third
    assert fake.writes == writes  # exactly once: nothing left to close, create or update
    assert third["counts"]["created"] == third["counts"]["closed"] == third["counts"]["updated"] == 0
    again = {w["record_id"] for w in third["warnings"] if w["kind"] == "hubspot tasks"}
    assert again == {bad_date, huge_epoch, int_subject, odd_priority, huge_subject, list_body}
