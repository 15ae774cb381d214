"""Optional connector capability: account-level fields kamrules writes (health score, worst
severity, open findings, last evaluated) so the CRM's own list views and dashboards show them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class HealthFields(Protocol):
    """A connector that reads and writes kamrules' account fields (by the configured names)."""

    def read_account_fields(self, names: Sequence[str]) -> dict[str, dict[str, Any]]:
        """account id -> {field name: value} for the accounts that have any of the fields."""
        ...

    def write_account_fields(self, values: Mapping[str, Mapping[str, Any]]) -> int:
        """Write {account id: {field name: value}}; the number of accounts written."""
        ...


@runtime_checkable
class HealthPreflight(Protocol):
    """A `HealthFields` connector that checks the fields before anything moves (optional)."""

    def prepare_account_fields(self, fields: Mapping[str, str]) -> None:
        """Called before the pull with {value key (health, worst_severity, open_findings,
        last_evaluated): CRM field name}: check the fields exist, fit and are writable (KamError,
        exit 2, if not), and read their current values with the pull."""
        ...
