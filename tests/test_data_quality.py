"""Fail by field, stop by share: a value that does not parse loses its field (never its record),
and a mapped field failing on more than `data_quality.max_field_failure_share` of its records
stops the run before anything is written (exit 6), in `plan` too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.support.salesforce import FakeServer
from tests.support.salesforce_workspace import ENV, TOKEN, fake_org, sf_workspace, tls_cert  # noqa: F401

pytestmark = pytest.mark.usefixtures("session_env")


@pytest.fixture
def session_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, TOKEN)


def _mapping(root: Path, old: str, new: str) -> str:
    text = (ROOT / "config" / "salesforce.mapping.yaml").read_text()
    assert old in text
    root.mkdir(parents=True, exist_ok=True)
    (root / "mapping.yaml").write_text(text.replace(old, new))
    return "  mapping: mapping.yaml\n"


def test_a_few_bad_values_lose_their_field_not_their_record(
        tmp_path: Path, fake_org: FakeServer, tls_cert: tuple[Path, Path]) -> None:  # noqa: F811
    ws = sf_workspace(tmp_path / "ws", fake_org, tls_cert[0])
    baseline = ws.run_json("--as-of", "2026-11-01", command="plan")
    accounts = [a for a in fake_org.org.objects["Account"] if a.get("Type") == "Key Account"]
    bad = accounts[0]
    bad["KAM_Potential__c"] = "n/a"
    bad["KAM_Supplier_Status__c"] = "Maybe"  # a picklist value the mapping does not know
    proc = ws.cli("plan", "--as-of", "2026-11-01", "--json", check=False)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["accounts"] == baseline["accounts"]  # the record stayed in the run
    mine = [w for w in report["warnings"] if w["record_id"] == bad["Id"]]
    assert any("field potential" in w["message"] and "'n/a'" in w["message"]
               and "Account.KAM_Potential__c" in w["message"] for w in mine), mine
    assert any("field preferred_supplier" in w["message"] and "'Maybe'" in w["message"] for w in mine)
    stats = {s["field"]: s for s in report["field_failures"]}
    assert stats["accounts.potential"]["failed"] == 1
    assert stats["accounts.potential"]["present"] >= len(accounts) - 1
    assert stats["accounts.potential"]["samples"] == ["'n/a'"]
    assert report["data_quality"] == []


def test_a_mapping_breaking_one_field_on_every_record_trips_the_gate(
        tmp_path: Path, fake_org: FakeServer, tls_cert: tuple[Path, Path]) -> None:  # noqa: F811
    root = tmp_path / "ws"
    extra = _mapping(root, "potential: {field: KAM_Potential__c, optional: true, convert: float}",
                     "potential: {field: Name, optional: true, convert: float}")
    ws = sf_workspace(root, fake_org, tls_cert[0], extra_crm=extra)
    for command in ("plan", "run"):
        proc = ws.cli(command, "--as-of", "2026-11-01", "--json", check=False)
        assert proc.returncode == 6, proc.stderr
        report = json.loads(proc.stdout)
        assert report["outcome"] == "data_quality"
        [problem] = report["data_quality"]
        assert problem["field"] == "accounts.potential" and problem["share"] == 1.0
        assert problem["source"] == "Account.Name" and len(problem["samples"]) == 3
        assert report["changes"] == [] and report["counts"]["created"] == 0
    assert fake_org.org.calls["write"] == 0 and fake_org.org.tasks() == []  # nothing written
    proc = ws.cli("run", "--as-of", "2026-11-01", check=False)
    assert proc.returncode == 6
    assert "data-quality gate" in proc.stderr and "accounts.potential" in proc.stderr

    # the admin who accepts the share raises the limit in kamrules.yaml
    config = ws.root / "kamrules.yaml"
    config.write_text(config.read_text() + "data_quality: {max_field_failure_share: 1.0}\n")
    proc = ws.cli("plan", "--as-of", "2026-11-01", "--json", check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["field_failures"][0]["field"] == "accounts.potential"


def test_the_gate_trips_on_hubspot_too(tmp_path: Path, demo_records: dict[str, Any]) -> None:
    from tests.support.hubspot_workspace import HsWorkspace, start_fake

    fake, url, _ = start_fake(demo_records, window=1.0)
    try:
        ws = HsWorkspace(tmp_path / "hs", fake, url)
        ws.write_config(extra_crm="  mapping: broken.yaml\n")
        text = (ROOT / "config" / "hubspot.mapping.yaml").read_text()
        assert "  potential: kam_potential\n" in text
        (ws.root / "broken.yaml").write_text(text.replace("  potential: kam_potential\n",
                                                          "  potential: name\n"))
        code, report = ws.run_json()
        assert code == 6, report
        [problem] = report["data_quality"]
        assert problem["field"] == "accounts.potential" and problem["source"] == "name"
        assert problem["failed"] == problem["present"] == 300
        assert fake.tasks() == [] and not fake.calls["POST /crm/v3/objects/tasks/batch/create"]
        assert not fake.calls["GET /crm/v3/objects/tasks"]  # stopped before even reading tasks
    finally:
        fake.stop()


def test_a_required_field_empty_on_every_record_trips_the_gate(
        tmp_path: Path, fake_org: FakeServer, tls_cert: tuple[Path, Path]) -> None:  # noqa: F811
    """A deal's creation date mapped to a field the org leaves empty: every deal would be
    skipped (and every rule on deals would change its mind); the run stops instead."""
    fake_org.org.fields["Opportunity"].add("Created_On__c")
    root = tmp_path / "ws"
    extra = _mapping(root, "      created: {field: CreatedDate, convert: date}\n      close_date:",
                     "      created: {field: Created_On__c, convert: date}\n      close_date:")
    ws = sf_workspace(root, fake_org, tls_cert[0], extra_crm=extra)
    proc = ws.cli("plan", "--as-of", "2026-11-01", "--json", check=False)
    assert proc.returncode == 6, proc.stderr
    [problem] = json.loads(proc.stdout)["data_quality"]
    assert problem["field"] == "deals.created" and problem["share"] == 1.0
    assert problem["source"] == "Opportunity.Created_On__c"
