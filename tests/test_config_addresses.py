"""Host names and URLs in a config are checked where they are written (kamrules/inputs/addresses.py):
a Salesforce `instance_url` of `not a url` was "cannot reach Salesforce" (exit 4), a host with a
label past 63 characters was exit 5 (after the write-back, for a digest's SMTP host), and HubSpot
retried a `base_url` it could not parse. A webhook URL (a secret, read when sent) so broken is a
failed send, not exit 5."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from kamrules.inputs.addresses import host_name, http_url
from tests import kamrules_process

LONG_LABEL = "a" * 64

SALESFORCE = ("crm:\n  type: salesforce\n  domain: {domain}\n  auth: {{method: session, session_id:"
              " {{env: SF_SID}}, instance_url: '{url}'}}\n")
HUBSPOT = "crm:\n  type: hubspot\n  access_token: {{env: HS_TOKEN}}\n  base_url: '{url}'\n"
SMTP = ("crm: {{type: local, path: crm.sqlite, seed: empty}}\ndigest:\n  email: {{host: '{host}',"
        " sender: kam@example.com}}\n")


def _kamrules(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = kamrules_process.environment(SF_SID="00Dxx!abc", HS_TOKEN="pat-na1-abcdef")
    return kamrules_process.run(args, cwd=root, env=env, timeout=120)


@pytest.mark.parametrize("url", ["https://acme.my.salesforce.com", "http://127.0.0.1:8443/",
                                 "https://[::1]:443", "https://пример.рф"])
def test_addresses_people_write_are_taken(url: str) -> None:
    assert http_url(url) == url
    assert host_name("smtp.example.com") and host_name("::1") and host_name("acme.my")


@pytest.mark.parametrize("domain", ["login", "acme.my", "https://acme.my.salesforce.com/"])
def test_a_salesforce_domain_as_people_write_it_is_taken(tmp_path: Path, domain: str) -> None:
    """`login_domain` takes the My Domain host whole too (`https://...salesforce.com`)."""
    (tmp_path / "kamrules.yaml").write_text(
        SALESFORCE.format(domain=f"'{domain}'", url="https://acme.my.salesforce.com"))
    done = _kamrules(tmp_path, "validate")
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(("config", "where", "said"), [
    (SALESFORCE.format(domain="login", url="not a url"), "4:", "crm.auth.instance_url: not a URL"),
    (SALESFORCE.format(domain="login", url=f"https://{LONG_LABEL}.my.salesforce.com"), "4:",
     "crm.auth.instance_url: not a host name: a part between dots is empty or longer than 63"),
    (SALESFORCE.format(domain="login", url="ftp://acme.my.salesforce.com"), "4:",
     "not an http:// or https:// URL with a host"),
    (SALESFORCE.format(domain="acme my", url="https://acme.my.salesforce.com"), "3:",
     "crm.domain: not a host name"),
    (HUBSPOT.format(url="https://"), "4:", "crm.base_url: not an http:// or https:// URL"),
    (HUBSPOT.format(url="https://api.hubapi.com:99999"), "4:", "crm.base_url: not a URL"),
    (HUBSPOT.format(url="https://api.hubapi.com") + "  app_url: 'javascript:alert(1)'\n", "5:",
     "crm.app_url: not an http:// or https:// URL"),  # the report's task links start with it
    (SMTP.format(host=LONG_LABEL + ".example.com"), "3:", "digest.email.host: not a host name"),
])
def test_a_broken_address_is_a_config_error_at_its_line(
        tmp_path: Path, config: str, where: str, said: str) -> None:
    (tmp_path / "kamrules.yaml").write_text(config)
    done = _kamrules(tmp_path, "validate")
    assert done.returncode == 2, done.stderr
    assert f"kamrules.yaml:{where}" in done.stderr and said in done.stderr, done.stderr


def test_a_webhook_url_with_a_host_too_long_is_a_failed_send(tmp_path: Path) -> None:
    (tmp_path / "hook.url").write_text(f"https://{LONG_LABEL}.example.com/services/T0/B0/secret\n")
    (tmp_path / "kamrules.yaml").write_text(
        "crm: {type: local, path: crm.sqlite, seed: demo}\nstate_dir: state\n"
        "digest:\n  webhook: {url: {file: hook.url}}\n")
    done = _kamrules(tmp_path, "run", "--as-of", "2026-11-01", "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    sends = json.loads(done.stdout)["digest"]["messages"]
    assert sends and {m["status"] for m in sends} == {"failed"}
    assert {m["error"] for m in sends} == {
        "RuntimeError: the webhook URL is not a host name: a part between dots is empty or"
        " longer than 63 characters"}
