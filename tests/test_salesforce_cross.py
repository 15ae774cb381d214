"""The same demo portfolio gives the same findings through Salesforce as through the local CRM."""

from __future__ import annotations

from pathlib import Path

import pytest

from kamrules.connectors.salesforce import connector as salesforce
from kamrules.language.loader import LoadedPack
from kamrules.model import Snapshot
from kamrules.run.sync import evaluate
from tests.conftest import ANCHOR, ROOT
from tests.support.salesforce import FakeServer
from tests.support.salesforce_workspace import ENV, TOKEN, fake_org, sf_config, tls_cert  # noqa: F401


def fingerprints(snapshot: Snapshot, pack: LoadedPack) -> set[str]:
    return {f.fingerprint for f in evaluate(snapshot, [pack])[0]}


def test_findings_match_the_local_crm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      fake_org: FakeServer, tls_cert: tuple[Path, Path],  # noqa: F811
                                      demo_snapshot: Snapshot, kam_core: LoadedPack) -> None:
    monkeypatch.setenv(ENV, TOKEN)
    local = fingerprints(demo_snapshot, kam_core)

    # default mapping: children of key accounts only, every account's revenue
    conn = salesforce.open_connector(sf_config(fake_org, tls_cert[0], incremental=False),
                                     tmp_path, tmp_path / "state")
    snap = conn.pull(ANCHOR)
    conn.close()
    assert snap.warnings == []
    assert len(snap.accounts) == len(demo_snapshot.accounts)
    key_ids = {a.id for a in demo_snapshot.accounts if a.is_key}
    # buying roles and primary contacts came from contact roles on opportunities alone: the
    # custom Contact fields are empty, yet every key-account contact has the local CRM's role
    org = fake_org.org
    assert all(c["KAM_Buying_Role__c"] is None and not c["KAM_Is_Primary__c"]
               for c in org.objects["Contact"])
    assert any(r["Role"] == "Business User" for r in org.objects["OpportunityContactRole"])
    who = {(c.id, c.buying_role, c.is_primary) for c in demo_snapshot.contacts if c.account_id in key_ids}
    assert {(c.id, c.buying_role, c.is_primary) for c in snap.contacts} == who
    assert any(role for _, role, _ in who) and any(primary for _, _, primary in who)
    assert {a.id for a in snap.accounts if a.is_key} == key_ids
    remote = fingerprints(snap, kam_core)
    assert {fp for fp in local if fp.rsplit("/", 1)[1] in key_ids} == \
        {fp for fp in remote if fp.rsplit("/", 1)[1] in key_ids}
    # the Pareto rule sees every account's revenue without their children
    assert any("/KAM-ID-005/" in fp for fp in remote)
    missed = local - remote
    assert missed and all(fp.rsplit("/", 1)[1] not in key_ids for fp in missed)

    # deals and activities of every account (scope all_accounts): identical findings
    text = (ROOT / "config" / "salesforce.mapping.yaml").read_text()
    for name in ("deals", "tasks", "events"):
        text = text.replace(f"  - name: {name}\n", f"  - name: {name}\n    scope: all_accounts\n")
    (tmp_path / "wide.yaml").write_text(text)
    conn = salesforce.open_connector(
        sf_config(fake_org, tls_cert[0], incremental=False, mapping="wide.yaml"),
        tmp_path, tmp_path / "state")
    wide = conn.pull(ANCHOR)
    conn.close()
    assert fingerprints(wide, kam_core) == local
