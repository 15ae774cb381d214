"""Reconciliation: desired tasks against kamrules' tasks read back from the CRM -> a plan.

The CRM is the source of truth: a fingerprint with an open task is kept (or updated), never
created again; an open task whose finding no longer holds is closed; extra open copies of one
fingerprint are closed as duplicates. Only accounts evaluated this run, and packs loaded this
run, are touched, so a skipped record never closes its account's tasks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from kamrules.construct import made
from kamrules.inputs.days import shifted
from kamrules.model import SEVERITIES, Severity, Task
from kamrules.protocol.changes import Change


@dataclass(frozen=True)
class Policy:
    """Lifecycle settings for one rule (pack and config defaults, rule overrides applied)."""

    close_resolved: bool = True
    renotify_after_days: int = 30
    update_tolerance: float = 0.2


@dataclass(slots=True)
class Desired:
    """A task a finding wants. `text`, when set, renders its subject and body (the renderer of
    kamrules/writeback/bundles.py, for the changes that show them): a task that is only kept
    never needs them."""

    task: Task
    severity: Severity
    text: Any = None


@dataclass
class Limits:
    """Alert-fatigue limits: new tasks per owner per run, and the least severity that creates."""

    max_new_per_owner: int | None = None
    min_severity: Severity = "info"


@dataclass
class Scope:
    """What this run may touch: the accounts it evaluated and the packs it loaded."""

    accounts: set[str]
    packs: set[str]
    snoozed: dict[str, str] = field(default_factory=dict)
    # fingerprint -> the running play that took over its task (a play's `absorbs:`)
    taken: dict[str, str] = field(default_factory=dict)
    rules: set[str] | None = None  # active `pack/rule`s; None: every rule of the packs
    # fingerprint -> where its finding now lives, when a pack switched per rule <-> per group
    moved: Callable[[str], str | None] | None = None


def materially_changed(old: dict[str, Any], new: dict[str, Any], tolerance: float) -> bool:
    """Evidence changed enough to rewrite a task: a new fact, a changed value, or a number
    moved by more than `tolerance` of its old size (days-since facts tick daily; that's noise)."""
    if set(old) != set(new):
        return True
    for name, before in old.items():
        after = new[name]
        if isinstance(before, bool) or isinstance(after, bool):
            if before != after:
                return True
        elif isinstance(before, int | float) and isinstance(after, int | float):
            if abs(after - before) > tolerance * max(abs(before), 1.0):
                return True
        elif before != after:
            return True
    return False


def reconcile(
    desired: Iterable[Desired],
    existing: Iterable[Task],
    scope: Scope,
    policy_for: Callable[[str], Policy],
    as_of: date,
    limits: Limits | None = None,
) -> list[Change]:
    """The plan: one change per desired task and per existing task this run may touch. A task
    whose text is pending keeps it so: `run` renders the texts of the changes that show them
    afterwards (kamrules/run/rendering.py)."""
    limits = limits or Limits()
    open_by_fp: dict[str, list[Task]] = defaultdict(list)
    completed_by_fp: dict[str, list[Task]] = defaultdict(list)
    for task in existing:
        if _in_scope(task, scope):
            (open_by_fp if task.status == "open" else completed_by_fp)[task.fingerprint].append(task)

    changes: list[Change] = []
    creates: list[Change] = []
    wanted: set[str] = set()
    for item in desired:
        fp = item.task.fingerprint
        wanted.add(fp)
        policy = policy_for(fp)
        current = sorted(open_by_fp.get(fp, []), key=_age_key)
        if fp in scope.snoozed:
            changes.append(Change(action="snoozed", fingerprint=fp, task=item.task,
                                  severity=item.severity, reason=scope.snoozed[fp]))
            # its open task is closed with the snooze as the note; after expiry it comes back
            changes += [_close(t, scope.snoozed[fp]) for t in current]
            continue
        if fp in scope.taken:  # the finding holds; a play's steps are its task for now
            changes.append(Change(action="suppressed", fingerprint=fp, task=item.task,
                                  severity=item.severity, reason=scope.taken[fp]))
            changes += [_close(t, scope.taken[fp]) for t in current]
            continue
        if current:
            keep, *extra = current
            changes.append(_keep_or_update(keep, item, policy))
            changes += [_close(t, "duplicate of an open task with the same fingerprint")
                        for t in extra]
            continue
        recent = _recently_completed(completed_by_fp.get(fp, []), policy, as_of)
        if recent is not None:
            again = shifted(recent.completed, policy.renotify_after_days)
            changes.append(Change(
                action="suppressed", fingerprint=fp, task=item.task, severity=item.severity,
                reason=f"completed by hand on {recent.completed}; raised again from {again}",
            ))
            continue
        creates.append(made(Change, action="create", fingerprint=fp, task=item.task,
                            severity=item.severity))

    changes += _apply_limits(creates, limits)
    for fp, tasks in open_by_fp.items():
        if fp in wanted:
            continue
        rule = fp.rsplit("/", 1)[0]
        target = scope.moved(fp) if scope.moved else None
        if target is not None and (target in wanted or "/bundle:" not in target):
            changes += [_close(t, f"moved: the pack's tasks setting changed; now in {target}")
                        for t in tasks]
        elif scope.rules is not None and rule not in scope.rules:
            changes += [_close(t, "the rule is disabled or no longer in the pack") for t in tasks]
        elif policy_for(fp).close_resolved:
            changes += [_close(t, "resolved: the rule no longer holds") for t in tasks]
        else:  # one stays open by policy; copies of it are still duplicates
            keep, *extra = sorted(tasks, key=_age_key)
            changes.append(Change(action="keep", fingerprint=fp, task=keep,
                                  reason="resolved, left open by policy"))
            changes += [_close(t, "duplicate of an open task with the same fingerprint")
                        for t in extra]
    return changes


def _in_scope(task: Task, scope: Scope) -> bool:
    pack = task.fingerprint.split("/", 1)[0]
    return task.account_id in scope.accounts and pack in scope.packs


def _age_key(task: Task) -> tuple[str, str]:
    return (str(task.created or ""), task.crm_id or "")


def _recently_completed(tasks: list[Task], policy: Policy, as_of: date) -> Task | None:
    done = [t for t in tasks if t.status == "completed" and t.completed is not None]
    if not done:
        return None
    latest = max(done, key=lambda t: t.completed or as_of)
    assert latest.completed is not None
    if as_of < shifted(latest.completed, policy.renotify_after_days):
        return latest
    return None


def _keep_or_update(current: Task, item: Desired, policy: Policy) -> Change:
    """Kept, or updated when the evidence moved or the owner it should have changed. A task a
    person reassigned (its owner is not whom kamrules assigned it to: a delegate) keeps that
    owner; it was handed back to the account's owner at every run. One left with no owner (or
    none that reads) is given the finding's again."""
    desired = item.task
    changed = materially_changed(current.evidence, desired.evidence, policy.update_tolerance)
    # whom the task was last given by kamrules; without a record of it (a task from before
    # `assigned`, or one with no owner) its owner as it stands
    known = current.assigned is not None and current.owner_id is not None
    was = current.assigned if known else current.owner_id
    reassigned = desired.owner_id != was
    if changed or reassigned:
        owner = desired.owner_id if reassigned else current.owner_id
        updated = desired.model_copy(
            update={"crm_id": current.crm_id, "due": current.due or desired.due,
                    "created": current.created, "owner_id": owner,
                    "assigned": desired.owner_id}
        )
        why = "evidence changed" if changed else "assignee changed"
        return Change(action="update", fingerprint=desired.fingerprint, task=updated,
                      severity=item.severity, reason=why)
    return made(Change, action="keep", fingerprint=desired.fingerprint, task=current,
                severity=item.severity)


def _close(task: Task, reason: str) -> Change:
    return Change(action="close", fingerprint=task.fingerprint,
                  task=task.model_copy(update={"status": "closed"}), reason=reason)


def apply_limits(creates: list[Change], limits: Limits) -> list[Change]:
    """The alert limits over some creates (public: the run applies them to plays' creates too)."""
    return _apply_limits(creates, limits)


def _apply_limits(creates: list[Change], limits: Limits) -> list[Change]:
    """Most severe first; hold back what is below the minimum or over an owner's cap."""
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    floor = rank[limits.min_severity]
    ordered = sorted(creates, key=lambda c: (-rank[c.severity or "info"], c.fingerprint))
    per_owner: dict[str | None, int] = defaultdict(int)
    out = []
    for change in ordered:
        if rank[change.severity or "info"] < floor:
            out.append(change.model_copy(update={
                "action": "held", "reason": f"below the minimum severity {limits.min_severity}"}))
            continue
        owner = change.task.owner_id
        if limits.max_new_per_owner is not None and per_owner[owner] >= limits.max_new_per_owner:
            out.append(change.model_copy(update={
                "action": "held",
                "reason": f"owner already got {limits.max_new_per_owner} new tasks this run"}))
            continue
        per_owner[owner] += 1
        out.append(change)
    return out
