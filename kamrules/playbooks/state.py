"""A play's state rebuilt from the CRM's own tasks: nothing that matters lives on one machine.

Each step's task carries the fingerprint `pack/play/account/step` and, in its marker evidence,
the play's start date (`play_started`); an escalation's task has `step.escalation` as its last
part. Tasks sharing a start date are one instance of the play.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from kamrules.model import Task

STARTED = "play_started"
ESCALATION = ".escalation"
# a glob every play task's fingerprint (pack/play/account/step) matches, and a few others
PLAY_FINGERPRINTS = "*/*/*/*"
PlayKey = tuple[str, str, str]  # pack, play, account


def play_fingerprint(pack_id: str, play_id: str, account_id: str, step: str) -> str:
    return f"{pack_id}/{play_id}/{account_id}/{step}"


def is_play_task(task: Task) -> bool:
    return task.fingerprint.count("/") == 3 and STARTED in task.evidence


def _started(task: Task) -> date | None:
    try:
        return date.fromisoformat(str(task.evidence.get(STARTED)))
    except ValueError:
        return None


@dataclass
class Instance:
    """One run of a play for one account, as its tasks in the CRM show it."""

    started: date
    steps: dict[str, Task] = field(default_factory=dict)
    escalations: dict[str, Task] = field(default_factory=dict)
    duplicates: list[Task] = field(default_factory=list)

    def tasks(self) -> list[Task]:
        return [*self.steps.values(), *self.escalations.values()]

    def open_tasks(self) -> list[Task]:
        return [t for t in self.tasks() if t.status == "open"]

    def done(self, step_id: str) -> bool:
        task = self.steps.get(step_id)
        return task is not None and task.status == "completed"

    def all_done(self, step_ids: Iterable[str]) -> bool:
        return all(self.done(s) for s in step_ids)

    def ended(self) -> date:
        """The last completion or closing among its steps' tasks (the start when none is dated)."""
        dates = [t.completed for t in self.steps.values() if t.status != "open" and t.completed]
        return max(dates, default=self.started)

    def phase(self, step_ids: list[str], as_of: date) -> str:
        """exiting / exited (a step closed by kamrules), complete, or active.

        All steps done is `active` on the first run after the last completion, so the statechart
        makes (and reports) the completion once; later it is `complete`.
        """
        if any(t.status == "closed" for t in self.steps.values()):
            return "exiting" if self.open_tasks() else "exited"
        if self.all_done(step_ids):
            recent = self.ended() >= as_of - timedelta(days=1)
            return "active" if recent else "complete"
        return "active"


def rebuild(tasks: Iterable[Task]) -> dict[PlayKey, list[Instance]]:
    """Play tasks grouped into instances per pack, play and account, oldest first."""
    grouped: dict[PlayKey, dict[date, Instance]] = defaultdict(dict)
    rank = {"open": 0, "completed": 1, "closed": 2}  # a closed copy stands for a step only alone
    for task in sorted(tasks, key=lambda t: (rank[t.status], str(t.created or ""), t.crm_id or "")):
        started = _started(task)
        if started is None or not is_play_task(task):
            continue
        pack_id, play_id, account_id, step = task.fingerprint.split("/")
        instance = grouped[(pack_id, play_id, account_id)].setdefault(started, Instance(started))
        slot = instance.escalations if step.endswith(ESCALATION) else instance.steps
        name = step.removesuffix(ESCALATION)
        if name in slot:
            if task.status == "open" and slot[name].status == "open":
                instance.duplicates.append(task)  # a second open copy: closed as a duplicate
            continue  # the open copy (sorted first) stands for the step
        slot[name] = task
    return {key: [by_start[d] for d in sorted(by_start)] for key, by_start in grouped.items()}


def oldest_open_start(tasks: Iterable[Task]) -> date | None:
    """The earliest start of a play with an open task: its completed steps must be read too."""
    starts = [_started(t) for t in tasks if t.status == "open" and is_play_task(t)]
    return min((s for s in starts if s is not None), default=None)
