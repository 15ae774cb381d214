"""Salesforce connector units against `responses`: logins, retries, re-auth, budget, bulk, writes."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
import responses
from pydantic import ValidationError

from kamrules.connectors.retry import RetrySettings
from kamrules.connectors.salesforce.auth import login, read_secrets
from kamrules.connectors.salesforce.client import BudgetExceeded, SfClient, SfError
from kamrules.connectors.salesforce.config import SalesforceConfig
from kamrules.connectors.salesforce.write import TaskWriter
from kamrules.errors import CrmError, KamError
from kamrules.inputs.secrets import Secret
from kamrules.model import Task
from kamrules.protocol.changes import Change
from kamrules.protocol.marker import text_hash

PASSWORD, TOKEN, SESSION = "hunter2-pw", "tok-XYZ-secret", "00Dxx!session-abc"
HOST = "https://acme.my.salesforce.com"
DATA = f"{HOST}/services/data/v60.0/"
SOAP_NS = "xmlns:soapenv='http://schemas.xmlsoap.org/soap/envelope/'"
SOAP_OK = (f"<soapenv:Envelope {SOAP_NS}><soapenv:Body><loginResponse><result><serverUrl>"
           f"{HOST}/services/Soap/u/60.0/00D</serverUrl><sessionId>{SESSION}</sessionId></result></loginResponse>"
           "</soapenv:Body></soapenv:Envelope>")
SOAP_FAULT = (f"<soapenv:Envelope {SOAP_NS} xmlns:sf='urn:fault.partner.soap.sforce.com'><soapenv:Body>"
              "<soapenv:Fault><faultcode>INVALID_LOGIN</faultcode><detail><sf:LoginFault>"
              "<sf:exceptionCode>INVALID_LOGIN</sf:exceptionCode><sf:exceptionMessage>Invalid "
              "username, password, security token; or user locked out.</sf:exceptionMessage>"
              "</sf:LoginFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>")


def config(**auth: object) -> SalesforceConfig:
    return SalesforceConfig.model_validate({"type": "salesforce", "auth": auth, "domain": "acme.my"})


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SF_PW", PASSWORD)
    monkeypatch.setenv("SF_TOKEN", TOKEN)
    monkeypatch.setenv("SF_SID", SESSION)


def password_client(sleeps: list[float] | None = None, **kw: object) -> SfClient:
    cfg = config(method="password", username="kam@acme.com", password={"env": "SF_PW"},
                 security_token={"env": "SF_TOKEN"})
    secrets = read_secrets(cfg, Path("."))
    import requests

    sf, reauth = login(cfg, Path("."), requests.Session(), secrets)
    return SfClient(sf, RetrySettings(attempts=4, base_seconds=1, max_seconds=8),
                    kw.pop("share", 0.5), list(secrets.values()), reauth,  # type: ignore[arg-type]
                    sleep=(sleeps.append if sleeps is not None else lambda s: None))


def test_config_is_strict_and_auth_is_a_union_on_method() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        config(method="session", session_id={"env": "X"}, instance_url=HOST, password="inline")
    with pytest.raises(ValidationError, match="union_tag_invalid|does not match"):
        config(method="magic")
    with pytest.raises(ValidationError, match="Extra inputs"):
        SalesforceConfig.model_validate({"type": "salesforce", "auth": {
            "method": "session", "session_id": {"env": "X"}, "instance_url": HOST}, "colour": 1})
    cfg = config(method="jwt", username="u", consumer_key="ck", private_key={"file": "k.pem"})
    assert cfg.login_domain() == "acme.my" and cfg.api_budget_share == 0.5


@responses.activate
def test_password_login_and_reauth_on_expired_session(env: None) -> None:
    soap = responses.post(f"{HOST}/services/Soap/u/60.0", body=SOAP_OK)
    expired = responses.get(f"{DATA}limits", status=401, json=[
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
    ok = responses.get(f"{DATA}limits", json={"DailyApiRequests": {}},
                       headers={"Sforce-Limit-Info": "api-usage=120/15000"})
    client = password_client()
    assert client.get_json("limits", "other") == {"DailyApiRequests": {}}
    assert soap.call_count == 2 and expired.call_count == 1 and ok.call_count == 1
    assert client.calls == {"other": 2, "login": 1}
    assert client.usage == (120, 15000)
    body = soap.calls[0].request.body
    assert PASSWORD in str(body)  # it went to Salesforce, and only there


@responses.activate
def test_login_failure_is_a_crm_error_without_the_secrets(env: None) -> None:
    responses.post(f"{HOST}/services/Soap/u/60.0", body=SOAP_FAULT, status=500)
    with pytest.raises(CrmError) as info:
        password_client()
    assert "INVALID_LOGIN" in str(info.value)
    assert PASSWORD not in str(info.value) and TOKEN not in str(info.value)


def test_missing_secret_names_the_variable_not_a_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SF_PW", raising=False)
    cfg = config(method="password", username="u", password={"env": "SF_PW"},
                 security_token={"env": "SF_TOKEN"})
    with pytest.raises(KamError, match="crm.auth.password: environment variable SF_PW is not set") as info:
        read_secrets(cfg, Path("."))
    assert info.value.exit_code == 2  # a config error, not a CRM failure


@responses.activate
def test_jwt_and_client_credentials_logins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import requests
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (tmp_path / "key.pem").write_bytes(pem)
    token = responses.post(f"{HOST}/services/oauth2/token",
                           json={"access_token": SESSION, "instance_url": HOST})
    cfg = config(method="jwt", username="kam@acme.com", consumer_key="3MVG9",
                 private_key={"file": "key.pem"})
    sf, _ = login(cfg, tmp_path, requests.Session(), read_secrets(cfg, tmp_path))
    assert sf.session_id == SESSION and "jwt-bearer" in str(token.calls[0].request.body)

    monkeypatch.setenv("SF_SECRET", "cs-secret-1")
    cfg = config(method="client_credentials", consumer_key="3MVG9", consumer_secret={"env": "SF_SECRET"})
    sf, _ = login(cfg, tmp_path, requests.Session(), read_secrets(cfg, tmp_path))
    assert sf.sf_instance == "acme.my.salesforce.com"
    assert "client_credentials" in str(token.calls[1].request.body)
    with pytest.raises(CrmError, match="needs your My Domain"):
        login(cfg.model_copy(update={"domain": "login"}), tmp_path, requests.Session(),
              read_secrets(cfg, tmp_path))


@responses.activate
def test_retries_back_off_on_5xx_connection_errors_and_request_limits(env: None) -> None:
    import requests

    responses.post(f"{HOST}/services/Soap/u/60.0", body=SOAP_OK)
    url = f"{DATA}query/"
    responses.get(url, status=503, json=[{"message": "down", "errorCode": "SERVER_UNAVAILABLE"}])
    responses.get(url, body=requests.ConnectionError("reset"))
    responses.get(url, status=403, headers={"Retry-After": "7"}, json=[
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}])
    responses.get(url, json={"totalSize": 1, "done": True, "records": [{"Id": "001"}]})
    sleeps: list[float] = []
    client = password_client(sleeps)
    pages = list(client.query_pages("SELECT Id FROM Account"))
    assert pages[0]["records"] == [{"Id": "001"}]
    assert len(sleeps) == 3 and sleeps[2] >= 7  # Retry-After is a floor
    assert 0 <= sleeps[0] <= 1 and 0 <= sleeps[1] <= 2  # full jitter, growing window
    assert client.calls["query"] == 4


@responses.activate
def test_a_retry_after_that_is_not_seconds_is_a_date_or_ignored(env: None) -> None:
    """An HTTP date (RFC 9110 allows it; proxies send it) or text was exit 5 (float() of it);
    a day-long one slept a day."""
    responses.post(f"{HOST}/services/Soap/u/60.0", body=SOAP_OK)
    url = f"{DATA}query/"
    busy = [{"message": "busy", "errorCode": "SERVER_UNAVAILABLE"}]
    for header in ("Wed, 21 Oct 2015 07:28:00 GMT", "later", "86400"):
        responses.get(url, status=503, headers={"Retry-After": header}, json=busy)
    responses.get(url, json={"totalSize": 1, "done": True, "records": [{"Id": "001"}]})
    sleeps: list[float] = []
    client = password_client(sleeps)
    assert list(client.query_pages("SELECT Id FROM Account"))[0]["records"] == [{"Id": "001"}]
    assert len(sleeps) == 3 and max(sleeps[:2]) <= 2 and sleeps[2] == 3600

    responses.replace(responses.GET, url, status=500, json=[{"message": "boom", "errorCode": "X"}])
    with pytest.raises(SfError, match="500"):
        list(client.query_pages("SELECT Id FROM Account"))
    assert client.calls["query"] == 8  # attempts: 4


@responses.activate
def test_api_budget_stops_before_the_share_is_spent(env: None) -> None:
    responses.post(f"{HOST}/services/Soap/u/60.0", body=SOAP_OK)
    responses.get(f"{DATA}limits", json={}, headers={"Sforce-Limit-Info": "api-usage=7500/15000"})
    client = password_client(share=0.5)
    client.get_json("limits", "other")  # unknown usage: allowed; now 7500 of 15000 used: the share
    with pytest.raises(BudgetExceeded, match="7500 of 15000"):
        client.get_json("limits", "other")
    assert len(responses.calls) == 2


@responses.activate
def test_child_results_are_paged_and_bulk_is_used_above_the_threshold(env: None) -> None:
    responses.post(f"{HOST}/services/Soap/u/60.0", body=SOAP_OK)
    child_next = "/services/data/v60.0/query/01gCHILD-200"
    responses.get(f"{DATA}query/", json={"totalSize": 2, "done": False,
                                         "nextRecordsUrl": "/services/data/v60.0/query/01gTOP-1",
                                         "records": [{"Id": "A", "Kids": {
                                             "totalSize": 3, "done": False, "nextRecordsUrl": child_next,
                                             "records": [{"N": 1}, {"N": 2}]}}]})
    responses.get(f"{HOST}{child_next}", json={"totalSize": 3, "done": True, "records": [{"N": 3}]})
    responses.get(f"{DATA}query/01gTOP-1", json={"totalSize": 2, "done": True,
                                                 "records": [{"Id": "B", "Kids": None}]})
    client = password_client()
    pages = list(client.query_pages("SELECT Id, (SELECT N FROM Kids) FROM X"))
    assert [r["Id"] for p in pages for r in p["records"]] == ["A", "B"]
    assert [k["N"] for k in pages[0]["records"][0]["Kids"]["records"]] == [1, 2, 3]

    responses.post(f"{DATA}jobs/query", json={"id": "750J", "state": "UploadComplete"})
    responses.get(f"{DATA}jobs/query/750J", json={"id": "750J", "state": "InProgress"})
    responses.get(f"{DATA}jobs/query/750J", json={"id": "750J", "state": "JobComplete"})
    responses.get(f"{DATA}jobs/query/750J/results", body="Id,Name\n1,a\n",
                  headers={"Sforce-Locator": "LOC2"})
    responses.get(f"{DATA}jobs/query/750J/results", body='Id,Name\n2,"b, c"\n',
                  headers={"Sforce-Locator": "null"})
    rows = [r for chunk in client.bulk_query("SELECT Id, Name FROM Account") for r in chunk]
    assert rows == [{"Id": "1", "Name": "a"}, {"Id": "2", "Name": "b, c"}]
    assert "locator=LOC2" in responses.calls[-1].request.url
    assert client.calls["bulk"] == 5


def _change(action: str, n: int) -> Change:
    task = Task(fingerprint=f"kam-core/R/{n}", account_id=f"001{n}", subject=f"s{n}", body="b",
                owner_id="005A", due=date(2026, 12, 1), priority="high", evidence={"x": n},
                crm_id=None if action == "create" else f"00T{n}")
    return Change(action=action, fingerprint=task.fingerprint, task=task, reason="resolved")


@responses.activate
def test_writes_batch_200_per_call_and_report_each_record(env: None) -> None:
    responses.post(f"{HOST}/services/Soap/u/60.0", body=SOAP_OK)

    def created(request):  # noqa: ANN001, ANN202
        records = json.loads(request.body)["records"]
        assert json.loads(request.body)["allOrNone"] is False and len(records) <= 200
        out = [{"id": f"00T{i}", "success": True, "errors": []} for i in range(len(records))]
        out[0] = {"id": None, "success": False, "errors": [{
            "statusCode": "INVALID_CROSS_REFERENCE_KEY", "message": "invalid owner", "fields": ["OwnerId"]}]}
        return 200, {}, json.dumps(out)

    responses.add_callback(responses.POST, f"{DATA}composite/sobjects", callback=created)
    patched = responses.patch(f"{DATA}composite/sobjects",
                              json=[{"id": "00T1", "success": True, "errors": []}])
    client = password_client()
    cfg = config(method="session", session_id={"env": "SF_SID"}, instance_url=HOST)
    changes = [_change("create", n) for n in range(450)] + [_change("close", 1)]
    results = TaskWriter(client, cfg).apply(changes)
    assert len(results) == 451 and [r.fingerprint for r in results] == [c.fingerprint for c in changes]
    assert client.calls["write"] == 4  # 200 + 200 + 50 creates, 1 close
    failed = [r for r in results if not r.ok]
    assert len(failed) == 3 and "INVALID_CROSS_REFERENCE_KEY: invalid owner (OwnerId)" in failed[0].error
    sent = json.loads(responses.calls[1].request.body)["records"][1]
    assert sent["Subject"] == "[kamrules] s1" and sent["WhatId"] == "0011"
    assert sent["Status"] == "Not Started" and sent["Priority"] == "High"
    body, marker = sent["Description"].split("\n\nkamrules:")
    assert json.loads(marker) == {"ev": {"x": 1}, "fp": "kam-core/R/1", "h": text_hash(body)}
    closed = json.loads(patched.calls[0].request.body)["records"][0]
    assert closed["Status"] == "Completed" and "Closed by kamrules: resolved" in closed["Description"]


@responses.activate
def test_budget_reached_mid_write_fails_the_rest_cleanly(env: None) -> None:
    responses.post(f"{HOST}/services/Soap/u/60.0", body=SOAP_OK)
    responses.post(f"{DATA}composite/sobjects", headers={"Sforce-Limit-Info": "api-usage=50/100"},
                   json=[{"id": f"00T{i}", "success": True, "errors": []} for i in range(200)])
    client = password_client(share=0.5)
    cfg = config(method="session", session_id={"env": "SF_SID"}, instance_url=HOST)
    results = TaskWriter(client, cfg).apply([_change("create", n) for n in range(300)])
    assert [r.ok for r in results].count(True) == 200
    assert all("API budget reached" in (r.error or "") for r in results[200:])
    assert client.calls["write"] == 1


def test_secret_prints_as_stars() -> None:
    assert "s3" not in repr(Secret("s3cr3t"))


@responses.activate
def test_password_and_jwt_logins_call_the_api_at_the_instance_url_as_given(
        env: None, tmp_path: Path) -> None:
    import requests
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    proxy = "https://kam-proxy.acme.internal:8443"
    responses.post(f"{HOST}/services/Soap/u/60.0", body=SOAP_OK)
    responses.post(f"{HOST}/services/oauth2/token", json={"access_token": SESSION, "instance_url": HOST})
    limits = responses.get(f"{proxy}/services/data/v60.0/limits", json={})
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (tmp_path / "key.pem").write_bytes(pem)
    for cfg in (config(method="password", username="kam@acme.com", password={"env": "SF_PW"},
                       security_token={"env": "SF_TOKEN"}, instance_url=proxy),
                config(method="jwt", username="kam@acme.com", consumer_key="3MVG9",
                       private_key={"file": "key.pem"}, instance_url=proxy)):
        sf, _ = login(cfg, tmp_path, requests.Session(), read_secrets(cfg, tmp_path))
        client = SfClient(sf, RetrySettings(attempts=1), 0.5, [], None)
        client.get_json("limits", "limits")
        assert sf.sf_instance == "kam-proxy.acme.internal:8443" and sf.session_id == SESSION
    assert len(limits.calls) == 2
