"""`crm: {type: salesforce}`: the Salesforce connector's settings, as an admin writes them."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kamrules.connectors.retry import RetrySettings
from kamrules.inputs.addresses import HttpUrl, host_name
from kamrules.inputs.days import MAX_LOOKBACK_MINUTES, MAX_REFRESH_DAYS, MAX_WAIT_SECONDS
from kamrules.inputs.secrets import SecretRef

DEFAULT_API_VERSION = "60.0"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PasswordAuth(_Strict):
    """Username, password and security token (SOAP login, as simple-salesforce does it)."""

    method: Literal["password"]
    username: str
    password: SecretRef
    security_token: SecretRef
    instance_url: HttpUrl | None = Field(
        default=None, description="send API calls here exactly as given (a proxy, another host)")


class JwtAuth(_Strict):
    """OAuth 2.0 JWT bearer flow: a connected app's consumer key and its private key."""

    method: Literal["jwt"]
    username: str
    consumer_key: str
    private_key: SecretRef
    instance_url: HttpUrl | None = Field(
        default=None, description="send API calls here exactly as given (a proxy, another host)")


class ClientCredentialsAuth(_Strict):
    """OAuth 2.0 client credentials flow (needs a My Domain host or an instance URL)."""

    method: Literal["client_credentials"]
    consumer_key: str
    consumer_secret: SecretRef
    instance_url: HttpUrl | None = Field(
        default=None, description="https://acme.my.salesforce.com; default: the `domain` host")


class SessionAuth(_Strict):
    """An access token obtained elsewhere (an OAuth refresher, `sf org display`) and its instance."""

    method: Literal["session"]
    session_id: SecretRef
    instance_url: HttpUrl


Auth = Annotated[PasswordAuth | JwtAuth | ClientCredentialsAuth | SessionAuth,
                 Field(discriminator="method")]


class SalesforceConfig(_Strict):
    """Every key of the Salesforce connector; see docs/salesforce.md for each one."""

    type: Literal["salesforce"]
    auth: Auth
    domain: str = Field(default="login", description="login, test (sandbox) or a My Domain host")
    api_version: str = Field(default=DEFAULT_API_VERSION, pattern=r"^\d+\.\d$")
    mapping: str | None = Field(default=None, description="field-mapping YAML; default: shipped")
    key_account_filter: str = "Type = 'Key Account'"
    fingerprint_field: str | None = Field(default=None, pattern=r"^[A-Za-z][A-Za-z0-9_]*__c$")
    subject_prefix: str = Field(default="[kamrules] ", min_length=3)
    bulk_threshold: int = Field(default=50_000, ge=2_000)
    page_size: int = Field(default=2000, ge=200, le=2000)
    incremental: bool = True
    lookback_minutes: int = Field(default=15, ge=0, le=MAX_LOOKBACK_MINUTES)
    full_refresh_days: int | None = Field(default=7, ge=0, le=MAX_REFRESH_DAYS)
    api_budget_share: float = Field(default=0.5, gt=0, le=1)
    retry: RetrySettings = Field(default_factory=RetrySettings)
    timeout_seconds: float = Field(default=120.0, gt=0, le=MAX_WAIT_SECONDS)
    completed_status: str = "Completed"
    open_status: str = "Not Started"
    ca_bundle: str | None = Field(default=None, description="PEM file of CAs to trust (proxies)")

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        host_name(login_domain(value))  # `acme.my`, or `https://acme.my.salesforce.com` as well
        return value

    def login_domain(self) -> str:
        """The `domain` argument simple-salesforce wants: `login`, `test` or `acme.my`."""
        return login_domain(self.domain)


def login_domain(domain: str) -> str:
    """A `domain` as simple-salesforce wants it: without `https://` and `.salesforce.com`."""
    return domain.removeprefix("https://").rstrip("/").removesuffix(".salesforce.com")
