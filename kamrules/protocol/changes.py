"""The plan reconciliation makes and the per-change results a connector returns."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from kamrules.model import Severity, Task

Action = Literal["create", "keep", "update", "close", "held", "suppressed", "snoozed"]
WRITES: frozenset[str] = frozenset({"create", "update", "close"})


class Change(BaseModel):
    """One task's fate in this run: the task as it should be (or as it is, for keep/close)."""

    model_config = ConfigDict(extra="forbid")

    action: Action
    fingerprint: str
    task: Task
    severity: Severity | None = None
    reason: str = ""

    @property
    def writes(self) -> bool:
        return self.action in WRITES


class ChangeResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fingerprint: str
    action: Action
    ok: bool
    crm_id: str | None = None
    error: str | None = None
