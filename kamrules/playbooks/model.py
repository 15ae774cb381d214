"""The playbook language: what sales ops write in `playbooks/*.yaml` of a pack.

A play starts for an account when its trigger holds, opens its steps as their start conditions
are met, escalates a step left overdue (once), completes when every step is done and exits
(closing its open steps) when the trigger no longer holds. Unknown keys are errors.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator, model_validator

from kamrules.language.pack import Assignee, Condition, Scope, TaskTemplate, UserModel
from kamrules.model import TEAM_ROLES, Severity

STEP_ID = r"^[a-z][a-z0-9-]*$"
PLAY_ID = r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$"
# Template names a step's task can use besides facts, params and the rules' built-in names.


class Trigger(UserModel):
    """When a play runs: any listed rule (or rule of a group) holds, or the condition holds."""

    rules: list[str] = Field(default_factory=list)
    group: str | None = None
    when: Condition | None = None

    @model_validator(mode="after")
    def _something(self) -> Trigger:
        if not self.rules and self.group is None and self.when is None:
            raise ValueError("a trigger needs rules, a group or a when condition")
        return self


class Start(UserModel):
    """When a step opens: at once, after another step is completed, or N days after the start."""

    after: str | None = Field(default=None, pattern=STEP_ID)
    days_after_start: int | None = Field(default=None, ge=0, le=3650)

    @model_validator(mode="after")
    def _one(self) -> Start:
        if self.after is not None and self.days_after_start is not None:
            raise ValueError("a step starts either `after` a step or `days_after_start`, not both")
        return self

    @property
    def at_once(self) -> bool:
        return self.after is None and not self.days_after_start


class Escalation(UserModel):
    """A step overdue by `overdue_days`: a task for another role and/or a raised priority, once."""

    overdue_days: int = Field(ge=0, le=365)
    assignee: Assignee | None = None
    fallback: Assignee = "owner"
    raise_priority: bool = False

    @model_validator(mode="after")
    def _does_something(self) -> Escalation:
        if self.assignee is None and not self.raise_priority:
            raise ValueError("an escalation needs an assignee (a task for them), raise_priority, or both")
        return self

    @field_validator("assignee", "fallback")
    @classmethod
    def _known_role(cls, value: str | None) -> str | None:
        if value and value.startswith("role:") and value[5:] not in TEAM_ROLES:
            raise ValueError(f"unknown team role {value[5:]!r}; roles: {', '.join(TEAM_ROLES)}")
        return value


class Step(UserModel):
    id: str = Field(pattern=STEP_ID, max_length=40)
    title: str = Field(min_length=1)
    start: Start = Field(default_factory=Start)
    task: TaskTemplate
    escalate: Escalation | None = None


class Playbook(UserModel):
    id: str = Field(pattern=PLAY_ID)
    title: str = Field(min_length=1)
    severity: Severity = "medium"
    principles: list[Annotated[str, Field(pattern=r"^P\d{2}$")]] = Field(default_factory=list)
    rationale: str = Field(min_length=1)
    scope: Scope = "key_accounts"
    trigger: Trigger
    cooldown_days: int = Field(default=90, ge=0, le=3650)
    steps: list[Step] = Field(min_length=1, max_length=20)
    # rules of the pack whose own task the play's steps replace while it runs on an account
    # (the finding still counts; its task is closed with a note and comes back after the play)
    absorbs: list[str] = Field(default_factory=list, max_length=50)
    enabled: bool = True

    @model_validator(mode="after")
    def _steps_fit(self) -> Playbook:
        ids = [s.id for s in self.steps]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate step ids: {', '.join(dupes)}")
        for step in self.steps:
            after = step.start.after
            if after is not None and after not in ids:
                raise ValueError(f"step {step.id!r} starts after unknown step {after!r};"
                                 f" steps: {', '.join(ids)}")
            if after == step.id:
                raise ValueError(f"step {step.id!r} starts after itself")
        if not any(s.start.at_once for s in self.steps):
            raise ValueError("at least one step must start at once (the play's start is recorded"
                             " in the tasks it opens)")
        _no_cycle(self.steps)
        return self

    def step(self, step_id: str) -> Step:
        return next(s for s in self.steps if s.id == step_id)


def _no_cycle(steps: list[Step]) -> None:
    after = {s.id: s.start.after for s in steps}
    for step in steps:
        seen = {step.id}
        current = after[step.id]
        while current is not None:
            if current in seen:
                raise ValueError(f"steps wait for each other in a circle: {' -> '.join(sorted(seen))}")
            seen.add(current)
            current = after.get(current)
