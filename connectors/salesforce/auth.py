"""Logging in to Salesforce with simple-salesforce, in each of the four ways an org allows.

Secrets are read from their env variables or files only here, and every login error is redacted
of them before it leaves this module.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from kamrules.connectors.bounded import AnswerCutOff, BoundedAdapter, what_failed
from kamrules.connectors.salesforce.client import SfError
from kamrules.connectors.salesforce.config import (
    ClientCredentialsAuth,
    JwtAuth,
    PasswordAuth,
    SalesforceConfig,
    SessionAuth,
)
from kamrules.errors import CrmError, KamError
from kamrules.inputs.environment import expand
from kamrules.inputs.secrets import Secret, SecretError


def http_session(config: SalesforceConfig, base_dir: Path) -> requests.Session:
    """A requests session whose answers are read within bounds (bounded.py); with `ca_bundle`,
    it trusts exactly that file (env overrides off)."""
    session = requests.Session()
    for scheme in ("https://", "http://"):
        session.mount(scheme, BoundedAdapter(config.timeout_seconds))
    if config.ca_bundle:
        path = expand(config.ca_bundle, "crm.ca_bundle")
        path = path if path.is_absolute() else base_dir / path
        try:
            with path.open("rb") as handle:
                handle.read(1)
        except OSError as exc:
            raise KamError(f"crm.ca_bundle: cannot read certificate file {path}:"
                           f" {exc.strerror or exc}") from None
        session.verify = str(path)
        session.trust_env = False  # else REQUESTS_CA_BUNDLE would override `verify`
        session.proxies.update(urllib.request.getproxies())
    return session


def read_secrets(config: SalesforceConfig, base_dir: Path) -> dict[str, Secret]:
    auth = config.auth
    refs = {name: getattr(auth, name) for name in
            ("password", "security_token", "private_key", "consumer_secret", "session_id")
            if hasattr(auth, name)}
    out: dict[str, Secret] = {}
    for name, ref in refs.items():
        try:
            out[name] = ref.read(base_dir, token=name == "session_id")
        except SecretError as exc:  # the config names a source that is not there: exit 2
            raise KamError(f"crm.auth.{name}: {exc}") from None
    if isinstance(auth, JwtAuth):
        check_private_key(out["private_key"], auth.private_key.where())
    return out


def check_private_key(key: Secret, where: str) -> None:
    """A JWT key that is no unencrypted PEM private key is a config error naming its source."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        load_pem_private_key(key.reveal().encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        reason = "it is encrypted" if "password" in str(exc).lower() else "it does not parse"
        raise KamError(f"crm.auth.private_key: {where} holds no usable PEM private key ({reason});"
                       " give the connected app's unencrypted private key (BEGIN PRIVATE KEY)") from None


def login(config: SalesforceConfig, base_dir: Path, session: requests.Session,
          secrets: dict[str, Secret]) -> tuple[Any, Callable[[], int]]:
    """A logged-in `Salesforce` object and a function that logs in again (for 401s)."""
    from simple_salesforce import Salesforce
    from simple_salesforce.exceptions import SalesforceError

    auth = config.auth
    common: dict[str, Any] = {"session": session, "version": config.api_version}
    if isinstance(auth, SessionAuth):
        def make() -> Any:
            return Salesforce(session_id=secrets["session_id"].reveal(),
                              instance_url=auth.instance_url, **common)
    elif isinstance(auth, PasswordAuth):
        def make() -> Any:
            return Salesforce(username=auth.username, password=secrets["password"].reveal(),
                              security_token=secrets["security_token"].reveal(),
                              domain=config.login_domain(), **common)
    elif isinstance(auth, JwtAuth):
        def make() -> Any:
            return Salesforce(username=auth.username, consumer_key=auth.consumer_key,
                              privatekey=secrets["private_key"].reveal(),
                              domain=config.login_domain(), **common)
    else:
        assert isinstance(auth, ClientCredentialsAuth)
        domain = config.login_domain()
        if not auth.instance_url and domain in ("login", "test"):
            raise CrmError("Salesforce client_credentials login needs your My Domain: set "
                           "crm.domain (acme.my) or crm.auth.instance_url")
        # the instance URL exactly as given (My Domain, sandbox, proxy, any host and port)
        host = auth.instance_url.rstrip("/") if auth.instance_url else f"https://{domain}.salesforce.com"

        def make() -> Any:
            resp = session.post(f"{host}/services/oauth2/token", timeout=config.timeout_seconds, data={
                "grant_type": "client_credentials", "client_id": auth.consumer_key,
                "client_secret": secrets["consumer_secret"].reveal()})
            try:
                body = resp.json()
            except ValueError:
                body = {}
            if resp.status_code != 200 or not body.get("access_token"):
                raise SfError(f"{resp.status_code} {body.get('error', '')}:"
                              f" {body.get('error_description', resp.text[:200])}")
            instance = auth.instance_url or str(body.get("instance_url") or host)
            return Salesforce(session_id=body["access_token"], instance_url=instance, **common)

    values = list(secrets.values())
    login_only = make
    if isinstance(auth, PasswordAuth | JwtAuth) and auth.instance_url:
        given = auth.instance_url

        def make() -> Any:  # log in where the org says, then call the API exactly where given
            sf = login_only()
            return Salesforce(session_id=sf.session_id, instance_url=given, **common)

    def attempt() -> Any:
        try:
            return make()
        except (SalesforceError, SfError) as exc:
            raise _redacted(f"Salesforce login failed ({auth.method}): {exc}", values) from None
        except (requests.RequestException, AnswerCutOff) as exc:
            raise _redacted(f"Salesforce login failed ({auth.method}): cannot reach Salesforce"
                            f" ({what_failed(exc)})", values) from None
        except (ValueError, TypeError) as exc:  # e.g. a private key that is not a key
            raise _redacted(f"Salesforce login failed ({auth.method}): {type(exc).__name__}",
                            values) from None

    sf = attempt()

    def reauth() -> int:
        """Log in again; the number of API calls that took (0: the token source was re-read)."""
        if isinstance(auth, SessionAuth):  # a refresher may have rotated the token source
            try:
                fresh = auth.session_id.read(base_dir, token=True)
            except SecretError as exc:
                raise CrmError(f"Salesforce session expired; {exc}") from None
            secrets["session_id"] = fresh
            values.append(fresh)
            sf.session_id = fresh.reveal()
            sf._generate_headers()
            return 0
        new = attempt()
        sf.session_id, sf.sf_instance = new.session_id, new.sf_instance
        sf.headers = new.headers
        sf.base_url = new.base_url
        return 1
    return sf, reauth


def _redacted(message: str, secrets: list[Secret]) -> SfError:
    from kamrules.inputs.secrets import redact

    return SfError(redact(message, secrets))
