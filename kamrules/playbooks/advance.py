"""Each run's play transitions, as task changes for the same apply path as rule tasks.

`Plays.observe` keeps, per evaluated account, the few facts the plays read and the rules that
held; `Plays.advance` rebuilds every play's state from the CRM's tasks and asks the statecharts
what happens as of this run: start (open the steps that start at once), open further steps,
escalate an overdue step (once: the escalation task or the raised priority is in the CRM),
complete, or exit (close the open steps with a note).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict

from kamrules.evaluation.facts import REGISTRY
from kamrules.language.conditions import facts_read
from kamrules.language.loader import LoadedPack
from kamrules.language.pack import placeholders
from kamrules.language.template import render
from kamrules.model import Account, Task, TeamMember
from kamrules.playbooks.chart import RULE_HIT, PlayChart, trigger_condition
from kamrules.playbooks.idle import idle_filter
from kamrules.playbooks.model import Playbook, Step
from kamrules.playbooks.state import ESCALATION, STARTED, Instance, play_fingerprint, rebuild
from kamrules.protocol.changes import Change
from kamrules.writeback.reconcile import Limits, apply_limits
from kamrules.writeback.tasks import PRIORITY_BY_SEVERITY, Directory, evidence_text

Kind = Literal["started", "step_opened", "escalated", "completed", "exited"]
EXIT_NOTE = "play exited: its trigger no longer holds"


class PlayTransition(BaseModel):
    """One thing a play did (or, for `plan`, would do) in this run."""

    model_config = ConfigDict(extra="forbid")

    kind: Kind
    pack_id: str
    play_id: str
    account_id: str
    started: date
    step: str | None = None
    owner_id: str | None = None
    detail: str = ""


class Party(NamedTuple):
    """What plays (and their report) read of an account: its id, name and owner."""

    id: str
    name: str
    owner_id: str | None


@dataclass(slots=True)
class AccountInput:
    """What the plays keep of one evaluated account until `advance`: there is one per account
    (a million in a run over a million accounts), so it is compact: the account's id, name and
    owner, the plays' facts as a tuple in `names`' order (a tuple every input shares), the
    rules that held, and which plays may start without history (`may_start`, bit i: compiled
    play i), decided where the account was evaluated so `advance` skips idle accounts unread."""

    account: Party
    names: tuple[str, ...]
    values: tuple[Any, ...]
    hit_ids: tuple[str, ...]
    team: tuple[TeamMember, ...]
    users: dict[str, str]
    sales_ops_owner: str | None
    may_start: int = 0

    @property
    def facts(self) -> dict[str, Any]:
        return dict(zip(self.names, self.values, strict=True))

    @property
    def hits(self) -> frozenset[str]:
        return frozenset(self.hit_ids)

    def directory(self) -> Directory:
        return Directory({}, self.users, {self.account.id: list(self.team)}, self.sales_ops_owner)


@dataclass
class CompiledPlay:
    pack: LoadedPack
    play: Playbook
    chart: PlayChart
    trigger_rules: set[str]  # `pack/RULE` ids whose finding triggers the play

    def __post_init__(self) -> None:
        # an account without history: False only where the chart would not start the play
        self.may_start, reads = idle_filter(self.chart.charts[self.chart.name],
                                            {"cooling": False, "all_done": False})
        self.reads_hit = RULE_HIT in reads

    def idle_moves(self, facts: dict[str, Any], hits: Iterable[str]) -> bool:
        """Whether the play may start on an account with no history (see playbooks/idle.py)."""
        if self.reads_hit:
            return self.may_start({**facts, RULE_HIT: not self.trigger_rules.isdisjoint(hits)})
        return self.may_start(facts)


class Plays:
    """The enabled plays of the loaded packs, compiled, and what this run saw of each account."""

    def __init__(self, plays: Iterable[tuple[LoadedPack, Playbook]], packs: Iterable[str] = ()):
        self.packs = set(packs)  # loaded packs: their plays that are gone have tasks to close
        self.compiled: list[CompiledPlay] = []
        self.facts: set[str] = {"is_key"}
        for pack, play in plays:
            rules = {r.id for r in pack.active_rules
                     if r.id in play.trigger.rules or play.trigger.group in r.groups}
            self.compiled.append(CompiledPlay(pack, play, PlayChart(play, pack.values),
                                              {f"{pack.id}/{r}" for r in rules}))
            self.facts.update(facts_read(trigger_condition(play)))
            for step in play.steps:
                self.facts.update(n for n in placeholders(step.task.subject + step.task.body)
                                  if n in REGISTRY)
        self.facts.discard(RULE_HIT)
        self.names = tuple(sorted(self.facts))
        self.inputs: dict[str, AccountInput] = {}

    def __bool__(self) -> bool:
        return bool(self.compiled)

    def observe(self, account: Account, facts: dict[str, Any], hits: Iterable[str],
                directory: Directory) -> None:
        """Keep what the plays need of one evaluated account (a few facts, not the view)."""
        if not self.compiled:
            return
        self.inputs[account.id] = self.input_for(
            Party(account.id, account.name, account.owner_id), facts, hits,
            directory.team.get(account.id, ()), directory.users, directory.sales_ops_owner)

    def input_for(self, account: Party, facts: Mapping[str, Any], hits: Iterable[str],
                  team: Iterable[TeamMember], users: dict[str, str],
                  sales_ops_owner: str | None) -> AccountInput:
        """One account's `AccountInput`: the plays' facts read now (computed if lazy)."""
        values = tuple(facts.get(n) for n in self.names)
        hit_ids = tuple(sorted(sys.intern(h) for h in set(hits)))
        named = dict(zip(self.names, values, strict=True))
        may_start = 0
        for i, c in enumerate(self.compiled):
            if c.idle_moves(named, hit_ids):
                may_start |= 1 << i
        return AccountInput(account, self.names, values, hit_ids, tuple(team), users,
                            sales_ops_owner, may_start)

    def advance(self, tasks: Iterable[Task], as_of: date) -> tuple[list[Change], list[PlayTransition]]:
        """This run's changes to play tasks and the transitions they make."""
        instances = rebuild(tasks)
        changes: list[Change] = []
        moves: list[PlayTransition] = []
        # most accounts: no play, and no play's trigger holds (decided by `input_for`)
        asked: list[set[str]] = [set() for _ in self.compiled]
        for account_id, inp in self.inputs.items():
            if inp.may_start:
                for i, ids in enumerate(asked):
                    if inp.may_start >> i & 1:
                        ids.add(account_id)
        for i, c in enumerate(self.compiled):
            asked[i].update(a for (pack_id, play_id, a) in instances
                            if pack_id == c.pack.id and play_id == c.play.id and a in self.inputs)
            for account_id in sorted(asked[i]):
                history = instances.get((c.pack.id, c.play.id, account_id))
                _Run(c, self.inputs[account_id], history or [], as_of, changes, moves).go()
        active = {(c.pack.id, c.play.id) for c in self.compiled}
        for (pack_id, play_id, account_id), history in sorted(instances.items()):
            if pack_id in self.packs and (pack_id, play_id) not in active and account_id in self.inputs:
                changes += [Change(action="close", fingerprint=t.fingerprint,
                                   task=t.model_copy(update={"status": "closed", "completed": as_of}),
                                   reason="the play is disabled or no longer in the pack")
                            for i in history for t in i.open_tasks()]
        return changes, moves

    def state(self, account_id: str, tasks: Iterable[Task], as_of: date) -> list[dict[str, Any]]:
        """Each play's state for one account, for `explain`."""
        instances = rebuild(tasks)
        out = []
        for c in self.compiled:
            inp = self.inputs.get(account_id)
            history = instances.get((c.pack.id, c.play.id, account_id), [])
            current = history[-1] if history else None
            holds = inp is not None and _trigger_holds(c, inp)
            steps = {}
            if current is not None:
                steps = {s.id: (current.steps[s.id].status if s.id in current.steps else "waiting")
                         for s in c.play.steps}
            read = [n for n in facts_read(trigger_condition(c.play)) if n != RULE_HIT]
            out.append({
                "pack_id": c.pack.id, "play_id": c.play.id, "title": c.play.title,
                "facts": {n: inp.facts.get(n) for n in dict.fromkeys(read)} if inp else {},
                "trigger_rules": sorted(inp.hits & c.trigger_rules) if inp else [],
                "phase": current.phase([s.id for s in c.play.steps], as_of) if current else "idle",
                "started": current.started.isoformat() if current else None,
                "trigger_holds": holds, "steps": steps,
            })
        return out


def limited(changes: list[Change], moves: list[PlayTransition],
            limits: Limits) -> tuple[list[Change], list[PlayTransition]]:
    """Alert limits over every create of the run, rule tasks and play steps together, each in
    its place; a play transition whose task was held back is dropped (it happens on a later run:
    the statechart asks again)."""
    creates = [c for c in changes if c.action == "create"]
    by_fp = {c.fingerprint: c for c in apply_limits(creates, limits)}
    out = [by_fp.get(c.fingerprint, c) if c.action == "create" else c for c in changes]
    held = {c.fingerprint for c in by_fp.values() if c.action == "held"}
    if not held:
        return out, moves
    written = {c.fingerprint for c in out if c.writes}
    kept: list[PlayTransition] = []
    for m in moves:
        base = f"{m.pack_id}/{m.play_id}/{m.account_id}"
        if m.kind == "step_opened" and f"{base}/{m.step}" in held:
            continue
        if m.kind == "escalated" and f"{base}/{m.step}" not in written and \
                f"{base}/{m.step}{ESCALATION}" in held:
            continue
        if m.kind == "started" and not any(fp.startswith(base + "/") for fp in written):
            continue
        kept.append(m)
    return out, kept


def _trigger_holds(c: CompiledPlay, inp: AccountInput) -> bool:
    event = _event(c, inp, cooling=False, all_done=False)
    return c.chart.phase_action("idle", event) == "start"


def _event(c: CompiledPlay, inp: AccountInput, cooling: bool, all_done: bool) -> dict[str, Any]:
    return {**inp.facts, RULE_HIT: bool(inp.hits & c.trigger_rules), "cooling": cooling,
            "all_done": all_done}


@dataclass
class _Run:
    """One play for one account in one run."""

    c: CompiledPlay
    inp: AccountInput
    history: list[Instance]
    as_of: date
    changes: list[Change]
    moves: list[PlayTransition]

    def go(self) -> None:
        play = self.c.play
        step_ids = [s.id for s in play.steps]
        current = self.history[-1] if self.history else None
        phase = current.phase(step_ids, self.as_of) if current else "idle"
        cooling = (current is not None and phase in ("complete", "exited")
                   and self.as_of < current.ended() + timedelta(days=play.cooldown_days))
        all_done = current is not None and current.all_done(step_ids)
        if current is not None:
            self.changes += [self._close(t, "duplicate of an open task with the same fingerprint")
                             for t in current.duplicates]
        first = len(self.changes)
        action = self.c.chart.phase_action(phase, _event(self.c, self.inp, cooling, all_done))
        self._act(action, current, step_ids)
        if current is not None:  # every open task's fate is in the plan, as for rule tasks
            touched = {c.task.crm_id for c in self.changes[first:]}
            self.changes += [Change(action="keep", fingerprint=t.fingerprint, task=t,
                                    severity=play.severity, reason="play step open")
                             for t in current.open_tasks() if t.crm_id not in touched]

    def _act(self, action: str | None, current: Instance | None, step_ids: list[str]) -> None:
        play = self.c.play
        if action == "start":
            started = Instance(self.as_of)
            self._move("started", started, detail=play.title)
            self._steps(started)
        elif action == "advance" and current is not None:
            self._steps(current)
        elif action == "exit" and current is not None:
            closing = current.open_tasks()
            self.changes += [self._close(t, EXIT_NOTE) for t in closing]
            if closing:
                self._move("exited", current, detail=EXIT_NOTE)
        elif action == "complete" and current is not None:
            self.changes += [self._close(t, "play complete") for t in current.open_tasks()]
            self._move("completed", current, detail=f"all {len(step_ids)} steps done")

    def _steps(self, instance: Instance) -> None:
        for step in self.c.play.steps:
            task = instance.steps.get(step.id)
            state = "waiting" if task is None else {"open": "open", "completed": "done"}.get(
                task.status, "closed")
            pending = self._pending(step, instance)
            due = task.due if task is not None else None
            event = {
                "go": True, "age": (self.as_of - instance.started).days,
                "after_done": bool(step.start.after and instance.done(step.start.after)),
                "overdue": (self.as_of - due).days if due else 0, "pending": bool(pending),
            }
            action = self.c.chart.step_action(step.id, state, event)
            if action == "open":
                new = self._task(step, instance)
                self.changes.append(Change(action="create", fingerprint=new.fingerprint, task=new,
                                           severity=self.c.play.severity, reason=f"play step {step.id}"))
                self._move("step_opened", instance, step.id, new.owner_id, step.title)
            elif action == "escalate" and task is not None:
                self._escalate(step, instance, task, pending)

    def _pending(self, step: Step, instance: Instance) -> list[str]:
        """The parts of a step's escalation not yet in the CRM (each happens at most once)."""
        esc = step.escalate
        if esc is None:
            return []
        parts = []
        if esc.assignee is not None and step.id not in instance.escalations:
            parts.append("task")
        task = instance.steps.get(step.id)
        if esc.raise_priority and task is not None and "escalated" not in task.evidence:
            parts.append("priority")
        return parts

    def _escalate(self, step: Step, instance: Instance, task: Task, parts: list[str]) -> None:
        esc = step.escalate
        assert esc is not None and task.due is not None
        overdue = (self.as_of - task.due).days
        owner = None
        if "task" in parts and esc.assignee is not None:
            directory = self.inp.directory()
            owner = (directory.assignee(esc.assignee, self.inp.account)
                     or directory.assignee(esc.fallback, self.inp.account) or self.inp.account.owner_id)
            fp = play_fingerprint(self.c.pack.id, self.c.play.id, self.inp.account.id,
                                  step.id + ESCALATION)
            who = directory.users.get(task.owner_id or "", task.owner_id or "unassigned")
            body = (f"The step \"{step.title}\" of the play \"{self.c.play.title}\" for"
                    f" {self.inp.account.name} was due on {task.due} and is {overdue} days overdue"
                    f" (assigned to {who}).\n\nWhy it matters: {self.c.play.rationale.strip()}\n"
                    "Next: help unblock the step, or agree a new date with its owner.")
            new = Task(fingerprint=fp, account_id=self.inp.account.id,
                       subject=f"Overdue: {task.subject}"[:255], body=body, owner_id=owner,
                       due=self.as_of + timedelta(days=3), priority="high", status="open",
                       evidence={STARTED: instance.started.isoformat(), "escalation_of": step.id},
                       created=self.as_of)
            self.changes.append(Change(action="create", fingerprint=fp, task=new,
                                       severity=self.c.play.severity, reason=f"step {step.id} overdue"))
        if "priority" in parts:
            raised = task.model_copy(update={
                "priority": "high", "evidence": {**task.evidence, "escalated": self.as_of.isoformat()}})
            self.changes.append(Change(action="update", fingerprint=task.fingerprint, task=raised,
                                       severity=self.c.play.severity, reason=f"step {step.id} overdue"))
        self._move("escalated", instance, step.id, owner or task.owner_id,
                   f"{overdue} days overdue: {' and '.join(parts)}")

    def _task(self, step: Step, instance: Instance) -> Task:
        account, play, pack = self.inp.account, self.c.play, self.c.pack
        directory = self.inp.directory()
        owner = (directory.assignee(step.task.assignee, account)
                 or directory.assignee(step.task.fallback, account) or account.owner_id)
        values: dict[str, Any] = {**self.inp.facts, **pack.values}
        values.update(
            account_name=account.name, account_id=account.id, pack_id=pack.id,
            owner_name=directory.users.get(account.owner_id or "", account.owner_id or "unassigned"),
            rule_id=play.id, rule_title=play.title, severity=play.severity,
            principles=", ".join(play.principles), rationale=play.rationale.strip(),
            evidence=evidence_text({n: self.inp.facts.get(n) for n in self.inp.facts if n != "is_key"}),
            play_id=play.id, play_title=play.title, play_started=instance.started.isoformat(),
            step_id=step.id, step_title=step.title,
        )
        return Task(
            fingerprint=play_fingerprint(pack.id, play.id, account.id, step.id),
            account_id=account.id,
            subject=render(step.task.subject, values)[:255],
            body=render(step.task.body, values).strip(),
            owner_id=owner,
            due=self.as_of + timedelta(days=step.task.due_in_days),
            priority=step.task.priority or PRIORITY_BY_SEVERITY[play.severity],
            status="open",
            evidence={STARTED: instance.started.isoformat(), "opened": self.as_of.isoformat()},
            created=self.as_of,
        )

    def _close(self, task: Task, reason: str) -> Change:
        closed = task.model_copy(update={"status": "closed", "completed": self.as_of})
        return Change(action="close", fingerprint=task.fingerprint, task=closed, reason=reason)

    def _move(self, kind: Kind, instance: Instance, step: str | None = None,
              owner: str | None = None, detail: str = "") -> None:
        self.moves.append(PlayTransition(
            kind=kind, pack_id=self.c.pack.id, play_id=self.c.play.id,
            account_id=self.inp.account.id, started=instance.started, step=step,
            owner_id=owner or self.inp.account.owner_id, detail=detail))
