"""Salesforce orgs shaped unlike the default: no Shared Activities, client credentials against an
instance URL used exactly as given, and auth files that are wrong (a config error, exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.salesforce import FakeServer
from tests.support.salesforce_workspace import ENV, TOKEN, fake_org, sf_workspace, tls_cert  # noqa: F401

SECRET_ENV = "KR_SF_CLIENT_SECRET"


def _without_shared_activities(server: FakeServer) -> int:
    """The org as one without Shared Activities: no *WhoRelation objects, one WhoId per activity."""
    org = server.org
    linked = 0
    for parent, rel, child, fk in (("Task", "TaskWhoRelations", "TaskWhoRelation", "TaskId"),
                                   ("Event", "EventWhoRelations", "EventWhoRelation", "EventId")):
        org.relationships[parent].pop(rel)
        org.fields[parent].add("WhoId")
        first: dict[str, str] = {}
        for row in org.objects.pop(child):
            first.setdefault(row[fk], row["RelationId"])
        del org.fields[child]
        for row in org.objects[parent]:
            if row["Id"] in first:
                row["WhoId"] = first[row["Id"]]
                linked += 1
    return linked


def test_org_without_shared_activities_runs_with_the_shipped_mapping(
        tmp_path: Path, fake_org: FakeServer, tls_cert: tuple[Path, Path],  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, TOKEN)
    assert _without_shared_activities(fake_org) > 50
    ws = sf_workspace(tmp_path / "ws", fake_org, tls_cert[0])
    proc = ws.cli("plan", "--as-of", "2026-11-01", "--json", check=False)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    notes = [w["message"] for w in report["warnings"] if "Shared Activities" in w["message"]]
    assert len(notes) == 2  # once for tasks, once for events
    assert any("Task.WhoId" in n for n in notes) and any("Event.WhoId" in n for n in notes)
    assert report["findings"] > 100
    assert any("WhoId" in q and "FROM Task" in q for q in fake_org.org.soql)
    assert not any("WhoRelations" in q for q in fake_org.org.soql)


def test_client_credentials_use_the_instance_url_exactly_as_given(
        tmp_path: Path, fake_org: FakeServer, tls_cert: tuple[Path, Path],  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, fake_org.org.client_secret)
    ws = sf_workspace(tmp_path / "ws", fake_org, tls_cert[0])
    config = (ws.root / "kamrules.yaml").read_text().splitlines()
    config[2] = (f"  auth: {{method: client_credentials, consumer_key: 3MVG9fake,"
                 f" consumer_secret: {{env: {SECRET_ENV}}}, instance_url: '{fake_org.url}'}}")
    (ws.root / "kamrules.yaml").write_text("\n".join(config) + "\n")
    proc = ws.cli("plan", "--as-of", "2026-11-01", "--json", check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["findings"] > 100
    # the token answer named another host; the loopback URL as given was used for everything
    assert fake_org.org.log[0] == ("POST", "/services/oauth2/token")

    monkeypatch.setenv(SECRET_ENV, "wrong-secret")
    proc = ws.cli("plan", "--as-of", "2026-11-01", check=False)
    assert proc.returncode == 4 and "invalid client credentials" in proc.stderr
    assert "wrong-secret" not in proc.stderr + proc.stdout


@pytest.mark.parametrize("content, reason", [
    ("-----BEGIN PRIVATE KEY-----\nnot a key at all\n-----END PRIVATE KEY-----\n", "does not parse"),
    ("just some text\n", "does not parse"),
])
def test_malformed_jwt_key_is_a_config_error_naming_the_file(
        tmp_path: Path, fake_org: FakeServer, tls_cert: tuple[Path, Path],  # noqa: F811
        content: str, reason: str) -> None:
    ws = sf_workspace(tmp_path / "ws", fake_org, tls_cert[0])
    (ws.root / "bad-key.pem").write_text(content)
    config = (ws.root / "kamrules.yaml").read_text().splitlines()
    config[2] = ("  auth: {method: jwt, username: kam@acme.com, consumer_key: 3MVG9fake,"
                 " private_key: {file: bad-key.pem}}")
    (ws.root / "kamrules.yaml").write_text("\n".join(config) + "\n")
    proc = ws.cli("plan", "--as-of", "2026-11-01", check=False)
    assert proc.returncode == 2, proc.stderr
    assert "bad-key.pem" in proc.stderr and reason in proc.stderr
    assert "internal error" not in proc.stderr and "not a key at all" not in proc.stderr


def test_unreadable_auth_files_are_config_errors_naming_the_file(
        tmp_path: Path, fake_org: FakeServer, tls_cert: tuple[Path, Path],  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, TOKEN)
    ws = sf_workspace(tmp_path / "ws", fake_org, tmp_path / "missing-ca.pem")
    proc = ws.cli("plan", "--as-of", "2026-11-01", check=False)
    assert proc.returncode == 2 and "missing-ca.pem" in proc.stderr, proc.stderr
    config = (ws.root / "kamrules.yaml").read_text().splitlines()
    config[2] = ("  auth: {method: jwt, username: kam@acme.com, consumer_key: 3MVG9fake,"
                 " private_key: {file: no-such-key.pem}}")
    (ws.root / "kamrules.yaml").write_text("\n".join(config) + "\n")
    proc = ws.cli("plan", "--as-of", "2026-11-01", check=False)
    assert proc.returncode == 2 and "no-such-key.pem" in proc.stderr, proc.stderr


def test_preflight_lists_every_field_a_run_would_touch_that_is_missing_at_once(
        tmp_path: Path, fake_org: FakeServer, tls_cert: tuple[Path, Path],  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, TOKEN)
    org = fake_org.org
    org.fields["Task"] -= {"CompletedDateTime", "Priority"}  # hidden by field-level security
    org.fields["Opportunity"].discard("StageName")
    ws = sf_workspace(tmp_path / "ws", fake_org, tls_cert[0])
    proc = ws.cli("plan", "--as-of", "2026-11-01", check=False)
    assert proc.returncode == 2, proc.stderr
    for name in ("Task.CompletedDateTime", "Task.Priority", "Opportunity.StageName"):
        assert name in proc.stderr
    assert "reads back" in proc.stderr and "writes" in proc.stderr
    assert org.calls["query"] == 0  # nothing was pulled

