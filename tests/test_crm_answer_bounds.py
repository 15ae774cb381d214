"""CRM answers are read within bounds (connectors/bounded.py): a body without end, a byte at a
time, or a small compressed body that is large unpacked stops the call with a CRM error (exit 4)
naming it. `timeout=` bounds only each wait for bytes: such answers held a run until memory ran
out, or for ever. Real sockets on 127.0.0.1 through both SDKs' own HTTP layers; the size bound is
lowered to 1 MiB so the flood is small."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kamrules.connectors import bounded
from kamrules.connectors.hubspot.http import AmbiguousWrite, HubSpotApi, HubSpotError
from kamrules.connectors.retry import RetrySettings
from kamrules.connectors.salesforce.auth import http_session, login, read_secrets
from kamrules.connectors.salesforce.client import SfClient, SfError
from kamrules.connectors.salesforce.config import SalesforceConfig
from kamrules.inputs.secrets import Secret
from tests.support.endless import TRICKLE_SECONDS, Endless
from tests.support.salesforce_workspace import tls_cert  # noqa: F401

TIMEOUT = 0.2  # so an answer's deadline is 2 s
TRIES = RetrySettings(attempts=2, base_seconds=0, max_seconds=0)


@pytest.fixture(autouse=True)
def one_mebibyte(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bounded, "MAX_ANSWER_BYTES", 2**20)


def hubspot(url: str) -> HubSpotApi:
    return HubSpotApi(Secret("pat-na1-secret"), url, 100, 10, TRIES, timeout=TIMEOUT)


def companies(api: HubSpotApi, idempotent: bool = True) -> Any:
    return api.call("companies", api.client.crm.companies.basic_api.get_page, limit=1,
                    idempotent=idempotent)


@pytest.mark.parametrize(("mode", "status"), [("flood", 200), ("flood", 500), ("bomb", 200)])
def test_hubspot_answers_past_the_size_bound_stop_the_call_once(mode: str, status: int) -> None:
    with Endless(mode, status) as server:
        api = hubspot(server.url)
        with pytest.raises(HubSpotError, match="companies: HubSpot sent an answer past 1 MiB"):
            companies(api)
        assert server.requests == 1  # it would come as large again: not retried
        with pytest.raises(AmbiguousWrite, match="past 1 MiB"):  # a create may have been made
            companies(api, idempotent=False)


@pytest.mark.parametrize("mode", ["trickle", "headers"])
def test_a_hubspot_answer_that_trickles_is_cut_at_its_deadline_and_retried(mode: str) -> None:
    """Its body, or its status line and headers, a byte at a time."""
    with Endless(mode) as server:
        started = time.monotonic()
        with pytest.raises(HubSpotError, match=r"after 2 tries \(an answer still coming after 2 seconds"):
            companies(hubspot(server.url))
        assert time.monotonic() - started < 2 * TRICKLE_SECONDS - 3  # was 2 x 8 s, each read in time
        assert server.requests == 2


@pytest.fixture
def salesforce(tmp_path: Path, tls_cert: tuple[Path, Path],  # noqa: F811
               monkeypatch: pytest.MonkeyPatch) -> Callable[[str], SfClient]:
    monkeypatch.setenv("SF_SID", "00Dxx!session-abc")

    def make(url: str) -> SfClient:
        cfg = SalesforceConfig.model_validate({
            "type": "salesforce", "ca_bundle": str(tls_cert[0]), "timeout_seconds": TIMEOUT,
            "auth": {"method": "session", "session_id": {"env": "SF_SID"}, "instance_url": url}})
        secrets = read_secrets(cfg, tmp_path)
        sf, reauth = login(cfg, tmp_path, http_session(cfg, tmp_path), secrets)
        return SfClient(sf, TRIES, 0.5, list(secrets.values()), reauth, timeout=TIMEOUT)

    return make


@pytest.mark.parametrize(("mode", "status"), [("flood", 200), ("flood", 500), ("bomb", 200)])
def test_salesforce_answers_past_the_size_bound_stop_the_call_once(
        mode: str, status: int, salesforce: Callable[[str], SfClient],
        tls_cert: tuple[Path, Path]) -> None:  # noqa: F811
    with Endless(mode, status, tls=tls_cert) as server:
        client = salesforce(server.url)
        with pytest.raises(SfError, match="limits: Salesforce sent an answer past 1 MiB"):
            client.get_json("limits", "limits")
        assert server.requests == 1


@pytest.mark.parametrize("mode", ["trickle", "headers"])
def test_a_salesforce_answer_that_trickles_is_cut_at_its_deadline(
        mode: str, salesforce: Callable[[str], SfClient], tls_cert: tuple[Path, Path]) -> None:  # noqa: F811
    with Endless(mode, tls=tls_cert) as server:
        started = time.monotonic()
        with pytest.raises(SfError, match=r"cannot reach Salesforce \(an answer still coming after 2"):
            salesforce(server.url).get_json("limits", "limits")
        assert time.monotonic() - started < 2 * TRICKLE_SECONDS - 3
        assert server.requests == 2


@pytest.mark.parametrize(("mode", "said"), [
    ("flood", r"cannot reach Salesforce \(an answer past 1 MiB"),
    ("headers", r"an answer still coming after 2 seconds"),  # its headers a byte at a time
])
def test_a_salesforce_login_answered_without_end_is_a_failed_login_in_time(
        mode: str, said: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SF_SECRET", "cs-secret")
    with Endless(mode) as server:
        cfg = SalesforceConfig.model_validate({
            "type": "salesforce", "timeout_seconds": TIMEOUT,
            "auth": {"method": "client_credentials", "consumer_key": "3MVG9",
                     "consumer_secret": {"env": "SF_SECRET"}, "instance_url": server.url}})
        started = time.monotonic()
        with pytest.raises(SfError, match=f"login failed .*{said}"):
            login(cfg, tmp_path, http_session(cfg, tmp_path), read_secrets(cfg, tmp_path))
        assert time.monotonic() - started < TRICKLE_SECONDS - 3
