"""A CRM that cannot be reached is named for why (connectors/bounded.py `what_failed`): "cannot
reach Salesforce (ConnectionError)" and "HubSpot unreachable ... (MaxRetryError)" did not say
whether the connection was refused or the server's certificate was not trusted. Real sockets on
127.0.0.1, through both SDKs' own HTTP layers."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from kamrules.connectors.hubspot.http import HubSpotApi, HubSpotError
from kamrules.connectors.retry import RetrySettings
from kamrules.connectors.salesforce.auth import http_session, login, read_secrets
from kamrules.connectors.salesforce.client import SfClient, SfError
from kamrules.connectors.salesforce.config import SalesforceConfig
from kamrules.inputs.secrets import Secret
from tests.support.endless import Endless
from tests.support.salesforce_workspace import tls_cert  # noqa: F401

ONCE = RetrySettings(attempts=1, base_seconds=0, max_seconds=0)


def _closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture
def salesforce(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str, str | None], SfClient]:
    monkeypatch.setenv("SF_SID", "00Dxx!session-abc")

    def make(url: str, ca: str | None) -> SfClient:
        cfg = SalesforceConfig.model_validate({
            "type": "salesforce", "ca_bundle": ca, "timeout_seconds": 2, "retry": {"attempts": 1},
            "auth": {"method": "session", "session_id": {"env": "SF_SID"}, "instance_url": url}})
        secrets = read_secrets(cfg, tmp_path)
        sf, reauth = login(cfg, tmp_path, http_session(cfg, tmp_path), secrets)
        return SfClient(sf, ONCE, 0.5, list(secrets.values()), reauth, timeout=2)

    return make


def _hubspot(url: str) -> HubSpotApi:
    return HubSpotApi(Secret("pat-na1-secret"), url, 100, 10, ONCE, timeout=2)


def test_a_refused_connection_says_so(salesforce: Callable[[str, str | None], SfClient]) -> None:
    with pytest.raises(SfError, match=r"cannot reach Salesforce \(ConnectionError: connection refused\)"):
        salesforce(f"http://{_closed_port()}", None).get_json("limits", "limits")
    api = _hubspot(f"http://{_closed_port()}")
    with pytest.raises(HubSpotError, match=r"after 1 tries \(MaxRetryError: connection refused\)"):
        api.call("companies", api.client.crm.companies.basic_api.get_page, limit=1)


def test_a_certificate_not_trusted_says_so(salesforce: Callable[[str, str | None], SfClient],
                                           tls_cert: tuple[Path, Path]) -> None:  # noqa: F811
    with Endless("bomb", tls=tls_cert) as server:  # never answered: the handshake fails first
        with pytest.raises(SfError, match=r"\(SSLError: its TLS certificate is not trusted \(self-signed"):
            salesforce(server.url, None).get_json("limits", "limits")
        api = _hubspot(server.url)
        with pytest.raises(HubSpotError, match=r"its TLS certificate is not trusted \("):
            api.call("companies", api.client.crm.companies.basic_api.get_page, limit=1)
        assert server.requests == 0
