"""HubSpot pre-flight: what a run will write must exist before any data moves."""

from __future__ import annotations

from pathlib import Path

from tests.support.hubspot_workspace import HsWorkspace, start_fake


def test_hubspot_fingerprint_property_that_does_not_exist_is_a_config_error(
        tmp_path: Path, demo_records: dict) -> None:
    fake, url, _ = start_fake(demo_records, window=1.0)
    try:
        ws = HsWorkspace(tmp_path / "hs", fake, url)
        ws.write_config(extra_crm="  fingerprint_property: kam_fingerprint\n")
        proc = ws.cli("plan")
        assert proc.returncode == 2, proc.stderr
        assert "kam_fingerprint" in proc.stderr and "create it" in proc.stderr
        assert not fake.calls["GET /crm/v3/objects/companies"]  # checked before any data moved
    finally:
        fake.stop()
