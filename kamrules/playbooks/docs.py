"""Plays in generated docs and listings: trigger, steps, start conditions and escalations."""

from __future__ import annotations

from kamrules.language.conditions import describe
from kamrules.language.loader import LoadedPack
from kamrules.playbooks.chart import trigger_condition
from kamrules.playbooks.model import Playbook, Step


def trigger_words(play: Playbook, pack: LoadedPack) -> str:
    words = describe(trigger_condition(play), pack.values)
    names = [*play.trigger.rules] + ([f"any rule of group {play.trigger.group}"]
                                     if play.trigger.group else [])
    return words.replace("rule_trigger = true", f"({' or '.join(names)} holds)")


def start_words(step: Step) -> str:
    if step.start.after:
        return f"after {step.start.after} is completed"
    if step.start.days_after_start:
        return f"{step.start.days_after_start} days after the start"
    return "at once"


def escalation_words(step: Step) -> str:
    esc = step.escalate
    if esc is None:
        return ""
    parts = ([f"a task for {esc.assignee}"] if esc.assignee else []) + (
        ["priority raised"] if esc.raise_priority else [])
    return f"overdue by {esc.overdue_days} days: {' and '.join(parts)}"


def plays_markdown(pack: LoadedPack, plays: list[Playbook]) -> str:
    if not plays:
        return ""
    lines = ["", "## Plays", ""]
    for play in plays:
        lines += [f"### {play.id}: {play.title}", "",
                  f"{play.rationale.strip()} ({', '.join(play.principles) or 'no principle'};"
                  f" severity {play.severity}; cooldown {play.cooldown_days} days)", "",
                  f"Starts when {trigger_words(play, pack)}; exits (closing its open steps) when"
                  " that no longer holds; completes when every step is done.", "",
                  "| step | opens | due | assignee | escalation |", "|---|---|---|---|---|"]
        for s in play.steps:
            lines.append(f"| {s.id}: {s.title} | {start_words(s)} | {s.task.due_in_days} days |"
                         f" {s.task.assignee} | {escalation_words(s)} |")
        lines.append("")
    return "\n".join(lines) + "\n"
