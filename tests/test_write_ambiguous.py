"""Creates whose outcome is ambiguous (HubSpot 504, Salesforce 500 after the write was carried out)
are read back by fingerprint, never repeated blindly: each task exists once, the report is true."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from kamrules.protocol.marker import read_marker
from tests.support.hubspot_workspace import HsWorkspace, start_fake
from tests.support.salesforce import FakeServer
from tests.support.salesforce_workspace import ENV, TOKEN, fake_org, sf_workspace, tls_cert  # noqa: F401


def test_hubspot_504_after_batch_create_creates_each_task_once(
        tmp_path: Path, demo_records: dict[str, list[dict[str, Any]]]) -> None:
    fake, url, _ = start_fake(demo_records, window=1.0)
    try:
        fake.failures_after = [("POST /crm/v3/objects/tasks/batch/create", 504)]
        ws = HsWorkspace(tmp_path / "hs", fake, url)
        ws.write_config()
        code, report = ws.run_json()
        assert code == 0, report
        created = report["counts"]["created"]
        assert created > 100 and report["counts"]["failed"] == 0
        fps = Counter(read_marker(t["properties"]["hs_task_body"])[0] for t in fake.tasks())  # type: ignore[index]
        assert len(fps) == created and set(fps.values()) == {1}  # each task exactly once
        # the first batch was carried out, answered 504, read back; never sent again
        batches = -(-created // 100)
        assert fake.calls["POST /crm/v3/objects/tasks/batch/create"] == batches
        assert not fake.failures_after
        ids = {t["id"] for t in fake.tasks()}
        assert all(c["crm_id"] in ids for c in report["changes"] if c["action"] == "create")
        code, again = ws.run_json()
        assert code == 0 and again["counts"]["created"] == 0 and again["counts"]["closed"] == 0
    finally:
        fake.stop()


def test_hubspot_504_before_create_writes_the_missing_tasks(
        tmp_path: Path, demo_records: dict[str, list[dict[str, Any]]]) -> None:
    """A 504 where nothing was carried out: the read-back finds nothing, the batch is sent again."""
    fake, url, _ = start_fake(demo_records, window=1.0)
    try:
        fake.failures = [("POST /crm/v3/objects/tasks/batch/create", 504, {"message": "timeout"})]
        ws = HsWorkspace(tmp_path / "hs", fake, url)
        ws.write_config()
        code, report = ws.run_json()
        assert code == 0, report
        created = report["counts"]["created"]
        assert len(fake.tasks()) == created and report["counts"]["failed"] == 0
        assert fake.calls["POST /crm/v3/objects/tasks/batch/create"] == -(-created // 100) + 1
    finally:
        fake.stop()


def test_salesforce_500_after_composite_create_creates_each_task_once(
        tmp_path: Path, fake_org: FakeServer, tls_cert: tuple[Path, Path],  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, TOKEN)
    org = fake_org.org
    org.faults_after = [("write", 500)]
    ws = sf_workspace(tmp_path / "ws", fake_org, tls_cert[0])
    proc = ws.cli("run", "--as-of", "2026-11-01", "--json", check=False)
    report = json.loads(proc.stdout)
    assert proc.returncode == 0, proc.stderr
    created = report["counts"]["created"]
    assert created > 100 and report["counts"]["failed"] == 0
    fps = Counter(read_marker(t["Description"])[0] for t in org.tasks())  # type: ignore[index]
    assert len(fps) == created and set(fps.values()) == {1}
    assert org.calls["write"] == -(-created // 200)  # the ambiguous batch was not sent again
    ids = {t["Id"] for t in org.tasks()}
    assert all(c["crm_id"] in ids for c in report["changes"] if c["action"] == "create")
    again = json.loads(ws.cli("run", "--as-of", "2026-11-01", "--json").stdout)
    assert again["counts"]["created"] == 0 and again["counts"]["closed"] == 0
