"""A mapped field several lookups up (`Owner.Manager.Name`): the REST API nests each parent in the
one before, and SOQL reads at most five relationships up; a longer path is a located pre-flight
error (exit 2), never a field read as empty on every row or a crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from kamrules.connectors.salesforce import connector as salesforce
from tests.conftest import ANCHOR, ROOT
from tests.support import salesforce as fake
from tests.support.salesforce import FakeServer
from tests.support.salesforce_workspace import ENV, TOKEN, fake_org, sf_config, sf_workspace, tls_cert  # noqa: F401


def _org_with_managers(org: fake.FakeOrg, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Account.Owner and User.Manager lookups; each user's manager is the next user: name by id."""
    monkeypatch.setitem(fake.REFERENCES, "Account", {"OwnerId": ("Owner", "User")})
    monkeypatch.setitem(fake.REFERENCES, "User", {"ManagerId": ("Manager", "User")})
    org.fields["User"].add("ManagerId")
    users = org.objects["User"]
    for n, user in enumerate(users):
        user["ManagerId"] = users[(n + 1) % len(users)]["Id"]
    return {u["Id"]: u["Name"] for u in users}


def _mapping(root: Path, path: str, users_stream: bool = True) -> str:
    text = (ROOT / "config" / "salesforce.mapping.yaml").read_text()
    if not users_stream:  # User is then described only because the path reaches it
        text = text[:text.index("  - name: users")] + text[text.index("  - name: accounts"):]
    before = "      department: {field: Department, optional: true}"
    assert before in text
    (root / "m.yaml").write_text(text.replace(before, f"      department: {path}", 1))
    return "  mapping: m.yaml\n"


@pytest.mark.parametrize("users_stream", [True, False])
def test_a_field_three_lookups_up_is_read(
        tmp_path: Path, fake_org: FakeServer, tls_cert: tuple[Path, Path],  # noqa: F811
        monkeypatch: pytest.MonkeyPatch, users_stream: bool) -> None:
    monkeypatch.setenv(ENV, TOKEN)
    org = fake_org.org
    names = _org_with_managers(org, monkeypatch)
    _mapping(tmp_path, "Account.Owner.Manager.Name", users_stream)
    config = sf_config(fake_org, tls_cert[0], incremental=False, mapping="m.yaml")
    conn = salesforce.open_connector(config, tmp_path, tmp_path / "state")
    snap = conn.pull(ANCHOR)
    conn.close()
    owner = {a["Id"]: a["OwnerId"] for a in org.objects["Account"]}
    manager = {u["Id"]: u["ManagerId"] for u in org.objects["User"]}
    assert len(snap.contacts) > 100
    for contact in snap.contacts:  # was None on every contact: the nested answer read one level deep
        assert contact.department == names[manager[owner[contact.account_id]]]


@pytest.mark.parametrize("hops", [6, 3000])
def test_a_path_past_five_lookups_is_refused_before_the_pull(
        tmp_path: Path, fake_org: FakeServer, tls_cert: tuple[Path, Path],  # noqa: F811
        monkeypatch: pytest.MonkeyPatch, hops: int) -> None:
    monkeypatch.setenv(ENV, TOKEN)
    _org_with_managers(fake_org.org, monkeypatch)
    path = "Account.Owner." + "Manager." * (hops - 2) + "Name"
    ws = sf_workspace(tmp_path, fake_org, tls_cert[0], extra_crm=_mapping(tmp_path, path))
    proc = ws.cli("doctor", "--as-of", "2026-11-01", check=False)
    assert proc.returncode == 2, proc.stderr  # 3000 was exit 5 (RecursionError)
    assert "department: field Contact.Account.Owner.Manager" in proc.stderr
    assert f"is {hops} relationships away; SOQL reads a parent's field at most 5 away" in proc.stderr
    assert fake_org.org.calls["query"] == 0
