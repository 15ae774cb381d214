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
class HealthFieldsCheck(Protocol):
    """A connector that checks the configured account fields against the CRM before anything is
    pulled or written (optional; a remote CRM's fields can be missing, read-only or mistyped)."""

    def prepare_account_fields(self, fields: Mapping[str, str]) -> list[str]:
        """{value: field name} -> what does not fit (empty when all do, or when the connector
        checks them at the start of its pull, as HubSpot does with the property list it reads
        anyway); the pull then reads their current values."""
        ...
