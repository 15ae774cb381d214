"""`tenants.yaml`: the CRMs one deployment runs, each with its config, schedule and API budget.

Validated like every config: all problems at once, each with file:line:column. Connection
secrets (the Redis URL and password) are named by environment variable, never written here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator

from kamrules.distributed.cron import Cron
from kamrules.errors import Location, Problem, ValidationFailed
from kamrules.inputs.days import MAX_QUEUE_SECONDS, MAX_WAIT_SECONDS
from kamrules.inputs.yamlsrc import load_yaml, locate, problems_from
from kamrules.language.pack import UserModel

DEFAULT_TENANTS = Path("tenants.yaml")
TENANTS_ENV = "KAMRULES_TENANTS"


class TlsSettings(UserModel):
    """Client TLS for `rediss://` URLs: the CA to trust, and a client certificate if required."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None


class RedisSettings(UserModel):
    """Where the broker, result backend, locks, budgets and history live."""

    url_env: str = Field(default="KAMRULES_REDIS_URL", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    password_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    tls: TlsSettings | None = None
    prefix: str = Field(default="kamrules", pattern=r"^[A-Za-z0-9_.:-]+$")
    visibility_timeout_seconds: float = Field(default=3600.0, gt=0, le=MAX_QUEUE_SECONDS)


class Budget(UserModel):
    """A CRM's API budget, shared by every worker that calls it (the key names the budget)."""

    key: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:-]+$")
    requests: int | None = Field(default=None, ge=1, description="per window; default from the CRM")
    window_seconds: float | None = Field(default=None, gt=0, le=MAX_WAIT_SECONDS)
    daily: int | None = Field(default=None, ge=1, description="calls per UTC day, all workers")


class Tenant(UserModel):
    config: str
    schedule: str | None = None
    budget: Budget = Field(default_factory=Budget)
    split_accounts: int | None = Field(default=None, ge=1)
    queue: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:-]+$",
                              description="route its runs to workers started with --queues")

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None:
            Cron(value)
        return value


class TenantsFile(UserModel):
    redis: RedisSettings = Field(default_factory=RedisSettings)
    lease_seconds: float = Field(default=60.0, gt=0, le=MAX_WAIT_SECONDS)
    lock_retry_seconds: float = Field(default=30.0, gt=0, le=MAX_WAIT_SECONDS)
    # a queued run that no worker has started after this long is taken as lost and queued again
    queue_timeout_seconds: float = Field(default=3600.0, gt=0, le=MAX_QUEUE_SECONDS)
    tenants: dict[str, Tenant] = Field(min_length=1)

    @field_validator("tenants")
    @classmethod
    def _names(cls, value: dict[str, Tenant]) -> dict[str, Tenant]:
        bad = [n for n in value if not n or not all(c.isalnum() or c in "_.-" for c in n)]
        if bad:
            raise ValueError(f"tenant names use letters, digits, '_', '.' and '-': {bad[0]!r}")
        return value


@dataclass
class Tenants:
    settings: TenantsFile
    file: Path

    @property
    def base_dir(self) -> Path:
        return self.file.resolve().parent

    def config_path(self, name: str) -> Path:
        return (self.base_dir / self.settings.tenants[name].config).resolve()

    def get(self, name: str) -> Tenant:
        if name not in self.settings.tenants:
            known = ", ".join(sorted(self.settings.tenants))
            raise ValidationFailed([Problem(Location(str(self.file)), "tenants",
                                            f"no tenant {name!r}; tenants: {known}")])
        return self.settings.tenants[name]

    def redis_url(self) -> str:
        from kamrules.distributed.connection import redis_url

        return redis_url(self.settings.redis, self.base_dir)


def tenants_path(given: Path | None) -> Path:
    """--tenants, else $KAMRULES_TENANTS, else ./tenants.yaml."""
    if given is not None:
        return given
    return Path(os.environ.get(TENANTS_ENV) or DEFAULT_TENANTS)


def load_tenants(path: Path) -> Tenants:
    if not path.is_file():
        raise ValidationFailed([Problem(Location(str(path)), "", "tenants file not found")])
    raw: Any = load_yaml(path) or {}
    try:
        settings = TenantsFile.model_validate(raw)
    except ValidationError as exc:
        raise ValidationFailed(problems_from(exc, raw, str(path), TenantsFile)) from None
    tenants = Tenants(settings, path)
    problems = [
        Problem(locate(raw, ("tenants", name, "config"), str(path)), f"tenants.{name}.config",
                f"config file not found: {tenants.config_path(name)}")
        for name in settings.tenants if not tenants.config_path(name).is_file()
    ]
    if problems:
        raise ValidationFailed(problems)
    return tenants
