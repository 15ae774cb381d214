"""What evaluation produces: one finding per rule that holds for an account, with evidence."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from kamrules.model import Severity


def fingerprint(pack_id: str, rule_id: str, account_id: str) -> str:
    """The stable identity of a finding and of the task it becomes: `pack/rule/account`."""
    return f"{pack_id}/{rule_id}/{account_id}"


class Finding(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    pack_id: str
    rule_id: str
    account_id: str
    severity: Severity
    evidence: dict[str, Any]

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.pack_id, self.rule_id, self.account_id)
