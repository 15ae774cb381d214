"""Fixtures for Salesforce tests: a TLS certificate, a fake org with the demo portfolio served on
127.0.0.1, and a workspace whose kamrules.yaml points the CLI at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kamrules.connectors.salesforce.config import SalesforceConfig
from tests.conftest import Workspace
from tests.support.salesforce import FakeOrg, FakeServer, make_cert
from tests.support.salesforce_data import load_demo

TOKEN = "00DFAKE!AQ8AQsessiontoken-s3cr3t-value"
ENV = "KR_SF_SESSION"


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_cert(tmp_path_factory.mktemp("tls"))


def new_org(records: dict[str, list[dict[str, Any]]], **kw: Any) -> FakeOrg:
    org = FakeOrg(token=TOKEN, **kw)
    load_demo(org, records)
    return org


@pytest.fixture
def fake_org(demo_records: dict[str, list[dict[str, Any]]],
             tls_cert: tuple[Path, Path]) -> Iterator[FakeServer]:
    with FakeServer(new_org(demo_records), *tls_cert) as server:
        yield server


def sf_workspace(root: Path, server: FakeServer, cert: Path, extra_crm: str = "",
                 extra: str = "") -> Workspace:
    root.mkdir(parents=True, exist_ok=True)
    (root / "kamrules.yaml").write_text(
        "crm:\n  type: salesforce\n"
        f"  auth: {{method: session, session_id: {{env: {ENV}}}, instance_url: '{server.url}'}}\n"
        f"  ca_bundle: '{cert}'\n"
        "  retry: {attempts: 4, base_seconds: 0.01, max_seconds: 0.05}\n"
        + extra_crm + "packs: [kam-core]\nstate_dir: state\n"
        + "overrides:\n  kam-core: {tasks: per_rule}\n" + extra)  # bundles: see test_bundles.py
    return Workspace(root)


def sf_config(server: FakeServer, cert: Path, **extra: Any) -> SalesforceConfig:
    """A config signing in to the fake org with the session id in ENV (quick retries)."""
    return SalesforceConfig.model_validate({
        "type": "salesforce", "ca_bundle": str(cert),
        "auth": {"method": "session", "session_id": {"env": ENV}, "instance_url": server.url},
        "retry": {"attempts": 3, "base_seconds": 0, "max_seconds": 0}, **extra})
