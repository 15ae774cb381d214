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

from kamrules.connectors.salesforce.client import SfError
from kamrules.connectors.salesforce.config import (
    ClientCredentialsAuth,
    JwtAuth,
    PasswordAuth,
    SalesforceConfig,
    SessionAuth,
)
from kamrules.connectors.secret import Secret, SecretError
from kamrules.errors import CrmError, KamError
from kamrules.inputs.environment import expand


def http_session(config: SalesforceConfig, base_dir: Path) -> requests.Session:
    """A requests session; with `ca_bundle`, it trusts exactly that file (env overrides off)."""
    session = requests.Session()
    if config.ca_bundle:
        path = expand(config.ca_bundle, "crm.ca_bundle")
        path = path if path.is_absolute() else base_dir / path
        if not path.is_file():  # else requests fails on the first call with an OSError
            raise KamError(f"crm.ca_bundle {path}: no such file; give the PEM file of the"
                           " certificate authority that signs the org's certificate")
        session.verify = str(path)
        session.trust_env = False  # else REQUESTS_CA_BUNDLE would override `verify`
        session.proxies.update(urllib.request.getproxies())
    return session


def read_secrets(config: SalesforceConfig, base_dir: Path) -> dict[str, Secret]:
    auth = config.auth
    refs = {name: getattr(auth, name) for name in
            ("password", "security_token", "private_key", "consumer_secret", "session_id")
            if hasattr(auth, name)}
    try:
        return {name: ref.read(base_dir) for name, ref in refs.items()}
    except SecretError as exc:  # a missing variable or file is the config's: exit 2
        raise KamError(f"Salesforce credentials: {exc}") from None


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
        if auth.instance_url:
            domain = auth.instance_url.removeprefix("https://").rstrip("/")
            domain = domain.removesuffix(".salesforce.com")
        if domain in ("login", "test"):
            raise CrmError("Salesforce client_credentials login needs your My Domain: set "
                           "crm.domain (acme.my) or crm.auth.instance_url")

        def make() -> Any:
            return Salesforce(consumer_key=auth.consumer_key,
                              consumer_secret=secrets["consumer_secret"].reveal(),
                              domain=domain, **common)

    values = list(secrets.values())

    def attempt() -> Any:
        try:
            return make()
        except SalesforceError as exc:
            raise _redacted(f"Salesforce login failed ({auth.method}): {exc}", values) from None
        except requests.RequestException as exc:
            raise _redacted(f"Salesforce login failed ({auth.method}): cannot reach Salesforce"
                            f" ({type(exc).__name__})", values) from None
        except (ValueError, TypeError) as exc:  # e.g. a private key that is not a key
            raise _redacted(f"Salesforce login failed ({auth.method}): {type(exc).__name__}",
                            values) from None

    sf = attempt()

    def reauth() -> int:
        """Log in again; the number of API calls that took (0: the token source was re-read)."""
        if isinstance(auth, SessionAuth):  # a refresher may have rotated the token source
            try:
                fresh = auth.session_id.read(base_dir)
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
    from kamrules.connectors.secret import redact

    return SfError(redact(message, secrets))
