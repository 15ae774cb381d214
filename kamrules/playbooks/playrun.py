"""One play for one account in one run: what its statechart decides, as task changes and
the transitions they make (`Plays.advance` runs one per play and account it asks about)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from kamrules.inputs.days import shifted
from kamrules.inputs.sanitize import formula_safe, one_line, terminal_safe
from kamrules.language.template import people, render, render_jinja
from kamrules.model import Task
from kamrules.playbooks.chart import RULE_HIT
from kamrules.playbooks.model import Step
from kamrules.playbooks.state import ESCALATION, STARTED, Instance, play_fingerprint
from kamrules.protocol.changes import Change
from kamrules.writeback.tasks import PRIORITY_BY_SEVERITY, evidence_text

if TYPE_CHECKING:
    from kamrules.language.loader import LoadedPack, PlayWords
    from kamrules.playbooks.advance import AccountInput, CompiledPlay

Kind = Literal["started", "step_opened", "escalated", "completed", "exited"]
# an escalation task's text, by the language of the run's locale (others: English)
OVERDUE = {
    "en": ("Overdue: {subject}",
           'The step "{step}" of the play "{play}" for {account} was due on {due} and is {days}'
           " overdue{assigned}.\n\nWhy it matters: {why}\n"
           "Next: help unblock the step, or agree a new date with its owner."),
    "ru": ("Просрочено: {subject}",
           "Шаг «{step}» сценария «{play}» для {account} нужно было выполнить к {due};"
           " просрочен на {days}{assigned}.\n\nПочему это важно: {why}\n"
           "Что сделать: помочь сдвинуть шаг с места или согласовать с ответственным новый срок."),
    "sr": ("Kasni: {subject}",
           "Korak „{step}” scenarija „{play}” za {account} trebalo je završiti do {due};"
           " kasni {days}{assigned}.\n\nZašto je važno: {why}\n"
           "Sledeći korak: pomozite da se korak pokrene ili sa zaduženim dogovorite novi rok."),
}
# who the overdue step is assigned to, or that nobody is ("unassigned" was English in every language)
ASSIGNED = {"en": (" (assigned to {who})", " (nobody is assigned)"),
            "ru": (" (ответственный: {who})", " (ответственный не назначен)"),
            "sr": (" (zadužen: {who})", " (niko nije zadužen)")}
# "7 days", "7 дней", "7 dana": the plural forms of a day in each language's CLDR order
DAYS = {"en": ("day", "days"), "ru": ("день", "дня", "дней"), "sr": ("dan", "dana", "dana")}
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



def play_event(c: CompiledPlay, inp: AccountInput, cooling: bool, all_done: bool) -> dict[str, Any]:
    return {**inp.facts, RULE_HIT: bool(inp.hits & c.trigger_rules), "cooling": cooling,
            "all_done": all_done}


@dataclass
class PlayRun:
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
                   and self.as_of < shifted(current.ended(), play.cooldown_days))
        all_done = current is not None and current.all_done(step_ids)
        if current is not None:
            self.changes += [self._close(t, "duplicate of an open task with the same fingerprint")
                             for t in current.duplicates]
        first = len(self.changes)
        action = self.c.chart.phase_action(phase, play_event(self.c, self.inp, cooling, all_done))
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
            words = self.c.pack.step_text(self.c.play, step)
            language = self.c.pack.locale.split("_")[0]
            subject, body = OVERDUE.get(language, OVERDUE["en"])
            someone, nobody = ASSIGNED.get(language, ASSIGNED["en"])
            assigned = (someone.format(who=directory.users.get(task.owner_id, task.owner_id))
                        if task.owner_id else nobody)
            shown = people(self.c.pack.locale, self.c.pack.currency, self.as_of)
            body = body.format(step=words.step_title, play=words.play_title, assigned=assigned,
                               account=self.inp.account.name, due=shown.date(task.due),
                               days=shown.plural(overdue, *DAYS.get(language, DAYS["en"])),
                               why=words.rationale)
            new = Task(fingerprint=fp, account_id=self.inp.account.id,
                       subject=formula_safe(one_line(subject.format(subject=task.subject)))[:255],
                       body=terminal_safe(body), owner_id=owner,  # names as the CRM holds them
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
        words = pack.step_text(play, step)  # in the run's locale
        values: dict[str, Any] = {**self.inp.facts, **pack.values}
        values.update(
            account_name=account.name, account_id=account.id, pack_id=pack.id,
            owner_name=directory.users.get(account.owner_id or "", account.owner_id or "unassigned"),
            rule_id=play.id, rule_title=words.play_title, severity=play.severity,
            principles=", ".join(play.principles), rationale=words.rationale,
            evidence=evidence_text({n: self.inp.facts.get(n) for n in self.inp.facts if n != "is_key"}),
            play_id=play.id, play_title=words.play_title, play_started=instance.started.isoformat(),
            step_id=step.id, step_title=words.step_title,
        )
        subject, body = _rendered(pack, words, values, self.as_of)
        return Task(
            fingerprint=play_fingerprint(pack.id, play.id, account.id, step.id),
            account_id=account.id,
            subject=subject,
            body=body,
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


def _rendered(pack: LoadedPack, words: PlayWords, values: dict[str, Any],
              as_of: date) -> tuple[str, str]:
    """A step's subject and body in the pack's template syntax (as its rules'); a Jinja text
    that fails on these values (or a bound of the sandbox) falls back to plain text with the
    facts, as a rule's does. Either syntax's text is made one line, terminal-safe and no
    spreadsheet formula, as a rule task's is."""
    if pack.template_syntax != "jinja":
        subject, body = render(words.subject, values, pack.locale), render(words.body, values, pack.locale)
    else:
        try:
            subject = render_jinja(words.subject, values, pack.locale, pack.currency, as_of)
            body = render_jinja(words.body, values, pack.locale, pack.currency, as_of)
        except Exception as exc:  # noqa: BLE001 (a value the text did not expect, a sandbox bound)
            subject = f"{values['account_name']}: {words.step_title}"
            body = f"{words.rationale}\n\n{values['evidence']}\n\n({type(exc).__name__})"
    return formula_safe(one_line(subject))[:255], terminal_safe(body).strip()
