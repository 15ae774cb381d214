"""`kamrules run` against a fake Salesforce org over TLS on 127.0.0.1, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.salesforce import FakeServer
from tests.support.salesforce_workspace import ENV, TOKEN, fake_org, sf_workspace, tls_cert  # noqa: F401

pytestmark = pytest.mark.usefixtures("session_env")


@pytest.fixture
def session_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, TOKEN)


def test_run_twice_creates_tasks_once_and_second_run_writes_nothing(
        tmp_path: Path, fake_org: FakeServer, tls_cert: tuple[Path, Path]) -> None:  # noqa: F811
    org = fake_org.org
    # the documented troubles, each once: a 401 (session re-read), a request-limit refusal,
    # a 503, a query page and a child page of their own, and one record the org refuses
    org.fail_next("query", 401, [{"message": "Session expired or invalid",
                                  "errorCode": "INVALID_SESSION_ID"}])
    org.fail_next("query", 403, [{"message": "TotalRequests Limit exceeded.",
                                  "errorCode": "REQUEST_LIMIT_EXCEEDED"}])
    org.fail_next("write", 503, [{"message": "Service unavailable", "errorCode": "SERVER_UNAVAILABLE"}])
    org.page_size, org.child_page = 250, 1  # many pages, and every multi-contact activity paged
    refused = "kam-core/KAM-REL-004/ACC-000002"
    org.reject = lambda rec: ({"statusCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                               "message": "Owner is inactive", "fields": ["OwnerId"]}
                              if refused in str(rec.get("Description")) else None)
    ws = sf_workspace(tmp_path / "ws", fake_org, tls_cert[0])

    first = ws.cli("run", "--as-of", "2026-11-01", "--json", check=False)
    report = json.loads(first.stdout)
    assert first.returncode == 1, first.stderr  # one record refused: partial
    assert report["counts"]["failed"] == 1
    failed = [c for c in report["changes"] if not c["ok"]]
    assert failed[0]["fingerprint"] == refused and "Owner is inactive" in failed[0]["error"]
    created = report["counts"]["created"]
    assert created > 100
    ours = org.tasks()
    assert len(ours) == created
    assert all(t["Subject"].startswith("[kamrules] ") and t["Status"] == "Not Started" for t in ours)
    assert {t["Priority"] for t in ours} <= {"High", "Normal", "Low"}
    assert report["api_calls"] == sum(org.calls.values())
    assert org.calls["query"] > 20  # pages and child pages were followed
    assert not org.faults  # every injected fault was met and survived

    org.reject = lambda rec: None
    org.page_size, org.child_page = 2000, 200
    writes_before = org.calls["write"]
    second = ws.run_json()
    assert second["counts"]["created"] == 1  # only the one that failed before
    assert second["counts"]["kept"] == created
    writes_mid = org.calls["write"]
    assert writes_mid == writes_before + 1

    third = ws.run_json()
    assert third["counts"]["created"] == 0 and third["counts"]["failed"] == 0
    assert third["counts"]["kept"] == created + 1
    assert org.calls["write"] == writes_mid  # the run made no write call at all
    fps = [json.loads(t["Description"].rsplit("kamrules:", 1)[1])["fp"] for t in org.tasks()]
    assert len(fps) == len(set(fps)) == created + 1


def _leaks(ws_root: Path, secret: str, *texts: str) -> list[str]:
    """Where the secret shows up: in any of the texts, or any file under the workspace."""
    found = [f"output {i}" for i, t in enumerate(texts) if secret in t]
    for path in ws_root.rglob("*"):
        if path.is_file() and path.name != "kamrules.yaml" and secret.encode() in path.read_bytes():
            found.append(str(path))
    return found


def test_expired_session_and_crm_failure_exit_4_and_never_show_the_token(
        tmp_path: Path, fake_org: FakeServer, tls_cert: tuple[Path, Path]) -> None:  # noqa: F811
    org = fake_org.org
    ws = sf_workspace(tmp_path / "ws", fake_org, tls_cert[0])
    org.token = "00DFAKE!a-newer-token"  # the configured one has expired: every call answers 401
    expired = ws.cli("run", "--as-of", "2026-11-01", "--json", check=False)
    assert expired.returncode == 4, expired.stderr
    assert "INVALID_SESSION_ID" in expired.stderr and "Traceback" not in expired.stderr
    assert org.calls["describe"] == 2  # the first describe, once more after re-reading the token

    org.token = TOKEN
    # the org fails on every query: retried, then a clean CRM error; the 5xx body echoes the token
    org.fail_next("query", 500, [{"message": f"internal error for session {TOKEN}",
                                  "errorCode": "UNKNOWN_EXCEPTION"}], times=10)
    failing = ws.cli("run", "--as-of", "2026-11-01", "--json", check=False)
    assert failing.returncode == 4, failing.stderr
    assert "UNKNOWN_EXCEPTION" in failing.stderr and "***" in failing.stderr
    assert org.calls["write"] == 0
    history = ws.cli("history", "--json").stdout
    assert _leaks(ws.root, TOKEN, expired.stdout, expired.stderr, failing.stdout, failing.stderr,
                  history) == []


def test_mapping_that_does_not_fit_the_org_fails_before_any_data_moves(
        tmp_path: Path, fake_org: FakeServer, tls_cert: tuple[Path, Path]) -> None:  # noqa: F811
    org = fake_org.org
    del org.fields["KAM_Survey__c"]
    org.fields["Opportunity"].discard("StageName")
    org.fields["Account"].discard("KAM_Tier__c")  # optional: left empty, noted
    ws = sf_workspace(tmp_path / "ws", fake_org, tls_cert[0],
                      extra_crm="  fingerprint_field: Kamrules_Fingerprint__c\n")
    proc = ws.cli("plan", "--as-of", "2026-11-01", check=False)
    assert proc.returncode == 2, proc.stderr
    assert "object KAM_Survey__c does not exist" in proc.stderr
    assert "field Opportunity.StageName does not exist" in proc.stderr
    assert "Task.Kamrules_Fingerprint__c does not exist" in proc.stderr
    assert "KAM_Tier__c" not in proc.stderr and "Traceback" not in proc.stderr
    assert org.calls["query"] == 0  # describe only


def test_api_budget_from_sforce_limit_info_stops_the_run_cleanly(
        tmp_path: Path, fake_org: FakeServer, tls_cert: tuple[Path, Path]) -> None:  # noqa: F811
    org = fake_org.org
    org.api_used, org.api_limit = 9_980, 20_000  # another integration used most of today's half
    ws = sf_workspace(tmp_path / "ws", fake_org, tls_cert[0], extra_crm="  api_budget_share: 0.5\n")
    proc = ws.cli("run", "--as-of", "2026-11-01", "--json", check=False)
    assert proc.returncode == 4, proc.stderr
    assert "API budget reached" in proc.stderr and "of 20000" in proc.stderr
    assert org.api_used == 10_000 and org.calls["write"] == 0


def test_switching_to_a_fingerprint_field_adopts_the_tasks_marked_by_subject(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_org: FakeServer,  # noqa: F811
        tls_cert: tuple[Path, Path]) -> None:  # noqa: F811
    from kamrules.connectors.salesforce import connector as salesforce
    from tests.conftest import ANCHOR
    from tests.test_salesforce_cross import sf_config

    org = fake_org.org
    field = "Kamrules_Fingerprint__c"
    ws = sf_workspace(tmp_path / "ws", fake_org, tls_cert[0])
    created = ws.run_json()["counts"]["created"]
    legacy = org.tasks()
    assert len(legacy) == created > 100 and all(t["Subject"].startswith("[kamrules] ") for t in legacy)

    # the admin creates the field and configures it; one legacy task, written before kamrules
    # kept whom it assigned a task to, has been reassigned by hand: it is assigned again
    org.fields["Task"].add(field)
    reassigned = legacy[0]
    marked = f',"to":"{reassigned["OwnerId"]}"}}'
    assert reassigned["Description"].endswith(marked)
    reassigned["Description"] = reassigned["Description"][:-len(marked)] + "}"
    reassigned["OwnerId"] = "USR-someone-else"
    ws = sf_workspace(tmp_path / "ws", fake_org, tls_cert[0], extra_crm=f"  fingerprint_field: {field}\n")
    second = ws.run_json()["counts"]
    assert second["created"] == 0 and second["closed"] == 0 and second["failed"] == 0
    assert second["updated"] == 1 and second["kept"] == created - 1
    assert len(org.tasks()) == created  # no duplicate of any legacy task
    fp = json.loads(reassigned["Description"].rsplit("kamrules:", 1)[1])["fp"]
    assert reassigned[field] == fp and not reassigned["Subject"].startswith("[kamrules] ")
    assert all(not t.get(field) for t in legacy[1:])  # kept without a write

    third = ws.run_json()["counts"]
    assert third["created"] == 0 and third["updated"] == 0 and third["kept"] == created

    # legacy tasks are kamrules' own, never read as the account's activities
    conn = salesforce.open_connector(sf_config(fake_org, tls_cert[0], fingerprint_field=field,
                                               incremental=False), tmp_path, tmp_path / "state")
    snap = conn.pull(ANCHOR)
    conn.close()
    ours = {t["Id"] for t in org.tasks()}
    assert snap.activities and not ours & {a.id for a in snap.activities}
