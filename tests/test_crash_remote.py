"""Crash safety against fake CRM servers: a run killed at any point and run again leaves each task
exactly once in the CRM (the local-CRM version is in test_unattended.py).

The fake servers live in this test process, so they outlive the killed CLI, as a real CRM would.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from kamrules.protocol.marker import read_marker
from tests import kamrules_process
from tests.conftest import ANCHOR, ROOT
from tests.support.hubspot_workspace import TOKEN as HS_TOKEN
from tests.support.hubspot_workspace import TOKEN_ENV as HS_ENV
from tests.support.hubspot_workspace import HsWorkspace, start_fake
from tests.support.salesforce import FakeServer
from tests.support.salesforce_workspace import ENV as SF_ENV
from tests.support.salesforce_workspace import TOKEN as SF_TOKEN
from tests.support.salesforce_workspace import new_org, sf_workspace, tls_cert  # noqa: F401  (fixture)

Fingerprints = Callable[[], Counter[str]]


@contextmanager
def salesforce(root: Path, records: dict[str, Any], cert: tuple[Path, Path]
               ) -> Iterator[tuple[Path, dict[str, str], Fingerprints]]:
    with FakeServer(new_org(records), *cert) as server:
        ws = sf_workspace(root, server, cert[0])

        def tasks() -> Counter[str]:
            marks = (read_marker(t.get("Description")) for t in server.org.tasks())
            return Counter(m[0] for m in marks if m)

        yield ws.root, {SF_ENV: SF_TOKEN}, tasks


@contextmanager
def hubspot(root: Path, records: dict[str, Any], cert: tuple[Path, Path]
            ) -> Iterator[tuple[Path, dict[str, str], Fingerprints]]:
    fake, url, _ = start_fake(records, window=1.0)
    try:
        ws = HsWorkspace(root, fake, url)
        ws.write_config()

        def tasks() -> Counter[str]:
            marks = (read_marker(t["properties"].get("hs_task_body")) for t in fake.tasks())
            return Counter(m[0] for m in marks if m)

        yield ws.root, {HS_ENV: HS_TOKEN}, tasks
    finally:
        fake.stop()


def kamrules(root: Path, env: dict[str, str],
             crash_at: str | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    full.pop("KAMRULES_CRASH_AT", None)
    if crash_at:
        full["KAMRULES_CRASH_AT"] = crash_at
    return kamrules_process.run(["run", "--as-of", ANCHOR.isoformat(), "--json"], cwd=root,
                                env=full)


@pytest.mark.parametrize("crm", [salesforce, hubspot], ids=["salesforce", "hubspot"])
@pytest.mark.parametrize("point", ["pulled", "reconciled", "write:1", "applied"])
def test_killed_anywhere_against_a_crm_server_then_rerun_leaves_each_task_once(
    crm: Any, point: str, tmp_path: Path, demo_records: dict[str, Any],
    tls_cert: tuple[Path, Path],  # noqa: F811
) -> None:
    with crm(tmp_path / "ws", demo_records, tls_cert) as (root, env, tasks):
        crashed = kamrules(root, env, crash_at=point)
        assert crashed.returncode == 137, crashed.stderr[-2000:]
        written = tasks()
        assert all(n == 1 for n in written.values())
        if point in ("pulled", "reconciled"):
            assert not written
        else:
            assert written  # the kill came after at least one batch reached the CRM

        rerun = kamrules(root, env)
        assert rerun.returncode == 0, rerun.stderr[-2000:]
        report = json.loads(rerun.stdout)
        wanted = {c["fingerprint"] for c in report["changes"]
                  if c["action"] in ("create", "keep", "update")}
        assert report["counts"]["created"] == len(wanted) - len(written)
        after = tasks()
        assert set(after) == wanted and all(n == 1 for n in after.values())

        again = json.loads(kamrules(root, env).stdout)
        assert again["counts"]["created"] == 0 and tasks() == after
