"""Account health written back to the CRM: the report's score (100 minus the configured
weights of the account's findings, snoozed ones not counted), its worst severity, the number of
open findings and the date they were evaluated; only accounts whose values changed are written."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from kamrules.errors import KamError
from kamrules.protocol.health import HealthFields, HealthPreflight
from kamrules.report.portfolio import health, worst

KEYS = ("health", "worst_severity", "open_findings", "last_evaluated")


def account_health(findings: Iterable[tuple[str, str]], accounts: Iterable[str],
                   weights: dict[str, int], as_of: date) -> dict[str, dict[str, Any]]:
    """(account id, severity) of each counted finding -> account id -> the four values."""
    severities: dict[str, list[str]] = {a: [] for a in accounts}
    for account, severity in findings:
        severities.setdefault(account, []).append(severity)
    return {a: {"health": health(s, weights), "worst_severity": worst(s),
                "open_findings": len(s), "last_evaluated": as_of.isoformat()}
            for a, s in severities.items()}


def to_write(values: Mapping[str, Mapping[str, Any]], fields: Mapping[str, str],
             current: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The accounts whose score, worst severity or count differ from the CRM's, by field name;
    `last_evaluated` alone changing writes nothing (else every run would rewrite every account)."""
    out: dict[str, dict[str, Any]] = {}
    for account, row in values.items():
        named = {fields[k]: row[k] for k in KEYS if k in fields}
        have = current.get(account, {})
        if any(have.get(fields[k]) != row[k] for k in KEYS if k in fields and k != "last_evaluated") \
                or not have:
            out[account] = named
    return out


def sync_health(connector: object, fields: Mapping[str, str], weights: dict[str, int],
                findings: Iterable[tuple[str, str]], accounts: Iterable[str], as_of: date,
                dry_run: bool) -> int:
    """Write the changed accounts' fields (a plan only counts them); the number of accounts."""
    check_supported(connector)
    assert isinstance(connector, HealthFields)
    values = account_health(findings, accounts, weights, as_of)
    changes = to_write(values, fields, connector.read_account_fields(list(fields.values())))
    return len(changes) if dry_run or not changes else connector.write_account_fields(changes)


def check_supported(connector: object, fields: Mapping[str, str] | None = None) -> None:
    """`health_fields:` needs a connector that writes account fields: say so before pulling;
    a connector that can also check them (HealthPreflight) is given the fields to check."""
    if not isinstance(connector, HealthFields):
        raise KamError(f"`health_fields:` is set, but this CRM's connector ({type(connector).__name__})"
                       " cannot write account fields yet; remove `health_fields:` for it")
    if fields and isinstance(connector, HealthPreflight):
        connector.prepare_account_fields(fields)
