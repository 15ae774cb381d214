"""The portfolio report's records, as JSON consumers (BI tools) and the HTML page read them.

Fields are only ever added, so a dashboard built on `kamrules report --format json` keeps working.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from kamrules.model import Severity

# Health bands, best first: (name, lowest score in the band). Shown by colour and by word.
BANDS: tuple[tuple[str, int], ...] = (("good", 80), ("watch", 60), ("at risk", 40), ("critical", 0))
Band = Literal["good", "watch", "at risk", "critical"]


def band_of(score: int) -> Band:
    """The band a health score falls in (80+ good, 60+ watch, 40+ at risk, below critical)."""
    return next(name for name, floor in BANDS if score >= floor)  # type: ignore[return-value]


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TaskRow(Out):
    crm_id: str | None
    fingerprint: str
    subject: str
    owner_id: str | None
    severity: Severity | None
    age_days: int | None
    due: date | None
    overdue: bool
    owner_name: str | None = None
    url: str | None = Field(default=None, description="the task in the CRM's UI, where it has one")


class SnoozeNote(Out):
    """Why a finding creates no task and counts for nothing in health: who asked, why, how long."""

    reason: str
    requested_by: str
    until: date


class SnoozeRow(SnoozeNote):
    """One active snooze and the findings it holds back today."""

    account_id: str | None
    account_name: str | None
    rule: str | None
    days_left: int
    findings: list[str]


class FindingRow(Out):
    pack: str
    rule_id: str
    title: str
    severity: Severity
    principles: list[str]
    groups: list[str]
    evidence: dict[str, Any]
    task: TaskRow | None = None
    principle_names: dict[str, str] = Field(default_factory=dict, description="id -> name, where declared")
    next_step: str | None = None
    snooze: SnoozeNote | None = None
    rationale: str = ""


class TrendPoint(Out):
    as_of: date
    health: int


class AccountRow(Out):
    id: str
    name: str
    is_key: bool
    owner_id: str | None
    owner_name: str
    revenue: float | None
    health: int
    worst: Severity | None
    cells: dict[str, Severity | None]
    findings: list[FindingRow]
    open_tasks: list[TaskRow]
    trend: list[TrendPoint]
    band: Band = "good"
    trend_delta: int | None = Field(default=None, description="health now minus at the previous run")
    snoozed: int = Field(default=0, description="findings held back by a snooze (not in health)")


class OwnerRow(Out):
    id: str | None
    name: str
    open_by_severity: dict[str, int]
    open_tasks: int
    overdue: int
    oldest_age_days: int | None
    key_accounts: list[str] = Field(default_factory=list, description="key accounts they own, worst first")
    lowest_health: int | None = None
    findings: int = 0


class PrincipleRow(Out):
    principle: str
    findings: int
    accounts: int
    rules: list[str]
    name: str | None = None


class RunChanges(Out):
    """What the latest run changed, and what people completed since the run before it."""

    run_id: int | None = None
    run_as_of: date | None = None
    previous_as_of: date | None = None
    created: list[str] = Field(default_factory=list)
    closed: list[str] = Field(default_factory=list)
    snoozed: list[str] = Field(default_factory=list)
    completed_by_hand: list[str] = Field(default_factory=list)


class Summary(Out):
    accounts_evaluated: int
    key_accounts: int
    findings: int
    key_accounts_without_serious: int
    share_without_serious: float
    open_tasks: int
    overdue_tasks: int
    findings_by_severity: dict[str, int]
    top_principles: list[PrincipleRow]
    changes: RunChanges
    snoozed_findings: int = 0
    key_accounts_by_band: dict[str, int] = Field(default_factory=dict)


class PortfolioReport(Out):
    as_of: date
    generated: str
    packs: list[str]
    weights: dict[str, int]
    groups: list[str]
    summary: Summary
    accounts: list[AccountRow]
    other_accounts: list[AccountRow]
    owners: list[OwnerRow]
    currency: str | None = None
    locale: str = "en"
    snoozes: list[SnoozeRow] = Field(default_factory=list)
    group_notes: dict[str, str] = Field(default_factory=dict, description="group -> what it covers")
