"""What people change in kamrules' tasks stays changed.

A task a person reassigned to a colleague (a delegate) keeps that owner through later runs,
even when its evidence moves; a new owner of the account, or of the finding, still gets it.
kamrules handed every such task back to the account's owner at every run ("assignee changed"):
it now remembers whom it assigned a task to (the local CRM's `assigned` column, the marker line
of a Salesforce or HubSpot task's text) and tells a person's reassignment from a new owner.

Notes a person wrote into a Salesforce or HubSpot task's text were lost when its evidence moved
(an update wrote the new text over them): the marker keeps a hash of the text kamrules wrote, and
an update leaves a text a person changed as it is (the subject and the evidence still move).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kamrules.protocol.marker import add_marker, edited_hash, read_assigned, read_marker, strip_marker
from tests.conftest import Workspace
from tests.support.hubspot_workspace import HsWorkspace, start_fake
from tests.support.salesforce import FakeServer, sf_time
from tests.support.salesforce_workspace import ENV, TOKEN, new_org, sf_workspace, tls_cert  # noqa: F401

BALTIC = "ACC-000002"  # the demo's Baltic Foods (owner U02), too few contacts (KAM-REL-004)


@dataclass
class FirstNight:
    """A Salesforce org or HubSpot portal after kamrules' first run, with Baltic Foods'
    KAM-REL-004 task: the workspace, the account's CRM record and id, the fingerprint, the task."""

    crm: Any
    ws: Any
    account: dict[str, Any]
    account_id: str
    fp: str
    task: dict[str, Any]


@pytest.fixture
def salesforce(tmp_path: Path, demo_records: dict[str, list[dict[str, Any]]],
               tls_cert: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch  # noqa: F811
               ) -> Iterator[FirstNight]:
    monkeypatch.setenv(ENV, TOKEN)
    with FakeServer(new_org(demo_records), *tls_cert) as server:
        org = server.org
        ws = sf_workspace(tmp_path / "ws", server, tls_cert[0])
        ws.cli("run", "--as-of", "2026-11-01", "--json")
        account = next(a for a in org.objects["Account"] if a["Name"] == "Baltic Foods")
        fp = f"kam-core/KAM-REL-004/{account['Id']}"
        task = next(t for t in org.tasks() if read_marker(t["Description"])[0] == fp)
        yield FirstNight(org, ws, account, account["Id"], fp, task)


@pytest.fixture
def hubspot(tmp_path: Path, demo_records: dict[str, list[dict[str, Any]]]) -> Iterator[FirstNight]:
    fake, url, ids = start_fake(demo_records, window=1.0)
    try:
        hs = HsWorkspace(tmp_path / "hs", fake, url)
        hs.write_config()
        hs.cli("run", "--as-of", "2026-11-01", "--json")
        company = ids["accounts"][BALTIC]
        fp = f"kam-core/KAM-REL-004/{company}"
        task = next(t for t in fake.tasks() if read_marker(t["properties"]["hs_task_body"])[0] == fp)
        yield FirstNight(fake, hs, fake.objects["companies"][company], company, fp, task)
    finally:
        fake.stop()


def _changes(report: dict[str, Any], fingerprint: str) -> list[tuple[str, str | None]]:
    return [(c["action"], c["owner_id"]) for c in report["changes"] if c["fingerprint"] == fingerprint]


def test_local_crm_keeps_a_delegate_through_an_evidence_update_and_follows_a_new_owner(
        workspace: Workspace) -> None:
    fp = f"kam-core/KAM-REL-004/{BALTIC}"
    first = workspace.run_json()
    assert _changes(first, fp) == [("create", "U02")]
    crm = workspace.crm()
    assert crm.db.execute("SELECT owner_id, assigned FROM tasks WHERE fingerprint = ?",
                          (fp,)).fetchall() == [("U02", "U02")]
    crm.db.execute("UPDATE tasks SET owner_id = 'U05' WHERE fingerprint = ?", (fp,))  # delegated
    crm.db.commit()

    assert _changes(workspace.run_json(), fp) == [("keep", "U05")]  # was: update back to U02

    contacts = [r[0] for r in crm.db.execute("SELECT id FROM contacts WHERE account_id = ?", (BALTIC,))]
    crm.db.execute("DELETE FROM contacts WHERE id = ?", (contacts[0],))  # 2 contacts -> 1
    crm.db.commit()
    moved = workspace.run_json()
    assert _changes(moved, fp) == [("update", "U05")]  # the new evidence, the delegate kept
    [(owner, evidence)] = crm.db.execute(
        "SELECT owner_id, evidence FROM tasks WHERE fingerprint = ?", (fp,)).fetchall()
    assert owner == "U05" and json.loads(evidence)["contacts"] == len(contacts) - 1

    crm.db.execute("UPDATE accounts SET owner_id = 'U01' WHERE id = ?", (BALTIC,))  # a new owner
    crm.db.commit()
    handed = workspace.run_json()
    assert _changes(handed, fp) == [("update", "U01")]
    assert crm.db.execute("SELECT owner_id, assigned FROM tasks WHERE fingerprint = ?",
                          (fp,)).fetchall() == [("U01", "U01")]
    assert _changes(workspace.run_json(), fp) == [("keep", "U01")]
    crm.close()


def test_a_task_from_before_assigned_was_kept_is_assigned_as_it_was(workspace: Workspace) -> None:
    """A task written by an earlier kamrules (no `assigned`) whose owner differs is handed to
    the finding's owner, as before, once; from then on a person's reassignment holds."""
    fp = f"kam-core/KAM-REL-004/{BALTIC}"
    workspace.run_json()
    crm = workspace.crm()
    crm.db.execute("UPDATE tasks SET owner_id = 'U05', assigned = NULL WHERE fingerprint = ?", (fp,))
    crm.db.commit()
    assert _changes(workspace.run_json(), fp) == [("update", "U02")]
    crm.db.execute("UPDATE tasks SET owner_id = 'U05' WHERE fingerprint = ?", (fp,))
    crm.db.commit()
    assert _changes(workspace.run_json(), fp) == [("keep", "U05")]
    crm.close()


def test_salesforce_keeps_a_delegate_and_follows_a_new_account_owner(salesforce: FirstNight) -> None:
    org, ws, account, fp, task = (salesforce.crm, salesforce.ws, salesforce.account, salesforce.fp,
                                  salesforce.task)
    owner = task["OwnerId"]
    assert read_assigned(task["Description"]) == owner
    delegate = next(u["Id"] for u in org.objects["User"] if u["Id"] != owner)
    task.update(OwnerId=delegate, SystemModstamp=sf_time())

    again = json.loads(ws.cli("run", "--as-of", "2026-11-02", "--json").stdout)
    assert _changes(again, fp) == [("keep", delegate)] and task["OwnerId"] == delegate

    new_owner = next(u["Id"] for u in org.objects["User"] if u["Id"] not in (owner, delegate))
    account.update(OwnerId=new_owner, SystemModstamp=sf_time())
    handed = json.loads(ws.cli("run", "--as-of", "2026-11-03", "--json").stdout)
    assert _changes(handed, fp) == [("update", new_owner)]
    assert task["OwnerId"] == new_owner and read_assigned(task["Description"]) == new_owner


def test_hubspot_keeps_a_delegate_and_follows_a_new_company_owner(hubspot: FirstNight) -> None:
    fake, hs, fp, task = hubspot.crm, hubspot.ws, hubspot.fp, hubspot.task
    owner = task["properties"]["hubspot_owner_id"]
    assert read_assigned(task["properties"]["hs_task_body"]) == owner
    others = [o["id"] for o in fake.owners if o["id"] != owner]
    fake.update("tasks", task["id"], {"hubspot_owner_id": others[0]})

    again = json.loads(hs.cli("run", "--as-of", "2026-11-02", "--json").stdout)
    assert _changes(again, fp) == [("keep", others[0])]

    fake.update("companies", hubspot.account_id, {"hubspot_owner_id": others[1]})
    handed = json.loads(hs.cli("run", "--as-of", "2026-11-03", "--json").stdout)
    assert _changes(handed, fp) == [("update", others[1])]
    props = fake.objects["tasks"][task["id"]]["properties"]
    assert props["hubspot_owner_id"] == others[1]
    assert read_assigned(props["hs_task_body"]) == others[1]


def test_the_marker_tells_a_text_a_person_changed() -> None:
    written = add_marker("Call them.\nAsk for the buyer.", "p/R1/A", {"contacts": 2}, 32_000)
    assert edited_hash(written) is None
    assert edited_hash(written.replace("\n", "\r\n")) is None  # line ends a CRM rewrote
    noted = written.replace("Ask for the buyer.", "Ask for the buyer.\nCalled twice, left messages.")
    assert edited_hash(noted) is not None
    again = add_marker(strip_marker(noted), "p/R1/A", {"contacts": 1}, 32_000, written=edited_hash(noted))
    assert edited_hash(again) == edited_hash(noted) and "left messages" in again  # still theirs
    assert edited_hash("no marker") is None


def _note(text: str) -> str:
    head, marker = text.rsplit("\n\n", 1)
    return f"{head}\nCalled their buyer twice, left messages. - Ana\n\n{marker}"


def test_salesforce_keeps_the_notes_a_person_wrote_in_a_task_when_its_evidence_moves(
        salesforce: FirstNight) -> None:
    org, ws, account, fp, task = (salesforce.crm, salesforce.ws, salesforce.account, salesforce.fp,
                                  salesforce.task)
    task.update(Description=_note(task["Description"]), SystemModstamp=sf_time())
    noted = strip_marker(task["Description"])
    contact = next(c for c in org.objects["Contact"] if c["AccountId"] == account["Id"])
    org.add("Contact", {**contact, "Id": "003NEW000000001", "Name": "Nina New",
                        "SystemModstamp": sf_time()})  # 2 contacts -> 3: the evidence moves

    report = json.loads(ws.cli("run", "--as-of", "2026-11-02", "--json").stdout)
    assert [c["action"] for c in report["changes"] if c["fingerprint"] == fp] == ["update"]
    assert strip_marker(task["Description"]) == noted  # their notes, not the new text over them
    assert read_marker(task["Description"])[1]["contacts"] == 3 and "3 contacts" in task["Subject"]
    others = [t for t in org.tasks() if t is not task and t["WhatId"] == account["Id"]]
    assert others and all(edited_hash(t["Description"]) is None for t in others)


def test_hubspot_keeps_the_notes_a_person_wrote_in_a_task_when_its_evidence_moves(
        hubspot: FirstNight) -> None:
    from tests.support.hubspot_data import UNLABELED

    fake, hs, fp, task = hubspot.crm, hubspot.ws, hubspot.fp, hubspot.task
    fake.update("tasks", task["id"], {"hs_task_body": _note(task["properties"]["hs_task_body"])})
    props = fake.objects["tasks"][task["id"]]["properties"]
    noted = strip_marker(props["hs_task_body"])
    contact = fake.add("contacts", {"firstname": "Nina", "lastname": "New",
                                    "kam_contact_status": "ACTIVE",
                                    "createdate": "2026-10-20T09:00:00.000Z"})
    fake.link("companies", hubspot.account_id, "contacts", contact, [UNLABELED["contacts"]])

    report = json.loads(hs.cli("run", "--as-of", "2026-11-02", "--json").stdout)
    assert [c["action"] for c in report["changes"] if c["fingerprint"] == fp] == ["update"]
    assert strip_marker(props["hs_task_body"]) == noted
    assert read_marker(props["hs_task_body"])[1]["contacts"] == 3
    assert "3 contacts" in props["hs_task_subject"]
