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


class PlayStepRow(Out):
    """One step of an active play as the CRM's tasks show it (docs/plays-in-packs.md)."""

    id: str
    title: str
    state: Literal["waiting", "open", "done", "closed"]
    owner_id: str | None = None
    owner_name: str | None = None
    opened: date | None = None
    due: date | None = None
    overdue_days: int = Field(default=0, description="open and past its due date by this many days")
    escalated: bool = False
    escalated_on: date | None = None
    escalated_to: str | None = Field(default=None, description="who got the escalation task")
    crm_id: str | None = None
    url: str | None = Field(default=None, description="the step's task in the CRM's UI, where it has one")


class PlayRow(Out):
    """One active play of one account: rebuilt from the CRM's tasks, as `explain` and `run` do."""

    pack: str
    play_id: str
    title: str
    severity: Severity
    account_id: str
    account_name: str
    owner_id: str | None
    owner_name: str
    phase: Literal["active", "exiting"]
    started: date
    days_running: int
    steps: list[PlayStepRow]
    overdue_steps: int = 0


class OverdueStep(Out):
    """An open play task past its due date, in the name of the person who owns it."""

    pack: str
    play_id: str
    play_title: str
    account_id: str
    account_name: str
    step: str
    step_title: str
    due: date
    overdue_days: int
    escalated: bool = False
    escalation: bool = Field(default=False, description="the escalation task itself, not the step's")
    url: str | None = None


class OwnedPlay(Out):
    """An active play someone owns: on their account, or with an open step in their name."""

    key: str = Field(description="pack/play/account")
    play_id: str
    title: str
    account_id: str
    account_name: str
    account_owner: bool
    open_steps: list[str] = Field(default_factory=list, description="their open steps' ids")


class OwnerPlays(Out):
    owner_id: str | None
    owner_name: str
    plays: list[OwnedPlay]
    overdue_steps: list[OverdueStep]


class AccountPlays(Out):
    account_id: str
    account_name: str
    owner_id: str | None
    owner_name: str
    plays: list[PlayRow]


class PlaysOverview(Out):
    """Active plays per account and per owner, with overdue steps: the run report's `active_plays`."""

    as_of: date
    active: int = 0
    overdue_steps: int = 0
    accounts: list[AccountPlays] = Field(default_factory=list)
    owners: list[OwnerPlays] = Field(default_factory=list)


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
    plays: list[PlayRow] = Field(default_factory=list, description="its active plays")


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
    plays: list[OwnedPlay] = Field(default_factory=list, description="active plays they own")
    overdue_steps: list[OverdueStep] = Field(default_factory=list, description="their play steps past due")


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
    active_plays: int = 0
    overdue_play_steps: int = 0


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
