"""Active plays per account and per owner, with overdue steps, for the report and the run report.

The state is the one `run` and `explain` use: rebuilt from the CRM's own tasks
(`playbooks.state.rebuild`), the latest instance of each play per account; nothing is stored.
A play is active while it has open steps or steps still to open; a play whose steps are all
done, or that exited, is not listed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

from kamrules.construct import changed
from kamrules.language.loader import LoadedPack
from kamrules.model import SEVERITIES, Task
from kamrules.playbooks.loader import plays_of
from kamrules.playbooks.model import Playbook
from kamrules.playbooks.state import Instance, is_play_task, rebuild
from kamrules.protocol.changes import Change, ChangeResult
from kamrules.report.models import (
    AccountPlays,
    OverdueStep,
    OwnedPlay,
    OwnerPlays,
    PlayRow,
    PlaysOverview,
    PlayStepRow,
)

STATE = {"open": "open", "completed": "done", "closed": "closed"}


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _no_url(task_id: str) -> str | None:
    return None


class _Context:
    """Names and links the rows need: users, accounts (name, owner), the CRM's task links."""

    def __init__(self, as_of: date, users: dict[str, str], accounts: dict[str, tuple[str, str | None]],
                 task_url: Callable[[str], str | None]):
        self.as_of, self.users, self.accounts, self.task_url = as_of, users, accounts, task_url

    def user(self, user_id: str | None) -> str:
        return self.users.get(user_id or "", user_id or "unassigned")

    def url(self, task: Task) -> str | None:
        return self.task_url(task.crm_id) if task.crm_id else None


def _step(play: Playbook, step_id: str, title: str, current: Instance, ctx: _Context) -> PlayStepRow:
    task = current.steps.get(step_id)
    if task is None:
        return PlayStepRow(id=step_id, title=title, state="waiting")
    escalation = current.escalations.get(step_id)
    overdue = (ctx.as_of - task.due).days if task.status == "open" and task.due else 0
    raised = _date(task.evidence.get("escalated"))
    return PlayStepRow(
        id=step_id, title=title, state=STATE.get(task.status, "closed"),  # type: ignore[arg-type]
        owner_id=task.owner_id, owner_name=ctx.user(task.owner_id) if task.owner_id else None,
        opened=_date(task.evidence.get("opened")) or task.created, due=task.due,
        overdue_days=max(0, overdue), escalated=escalation is not None or raised is not None,
        escalated_on=raised or (escalation.created if escalation else None),
        escalated_to=ctx.user(escalation.owner_id) if escalation and escalation.owner_id else None,
        crm_id=task.crm_id, url=ctx.url(task),
    )


def _row(pack: LoadedPack, play: Playbook, account_id: str, current: Instance,
         ctx: _Context) -> PlayRow | None:
    step_ids = [s.id for s in play.steps]
    phase = current.phase(step_ids, ctx.as_of)
    if phase not in ("active", "exiting") or current.all_done(step_ids):
        return None
    name, owner = ctx.accounts.get(account_id, (account_id, None))
    steps = [_step(play, s.id, s.title, current, ctx) for s in play.steps]
    return PlayRow(
        pack=pack.id, play_id=play.id, title=play.title, severity=play.severity,
        account_id=account_id, account_name=name, owner_id=owner, owner_name=ctx.user(owner),
        phase=phase, started=current.started,  # type: ignore[arg-type]
        days_running=(ctx.as_of - current.started).days, steps=steps,
        overdue_steps=sum(1 for s in steps if s.overdue_days > 0),
    )


def active_plays(packs: list[LoadedPack], tasks: Iterable[Task], as_of: date, users: dict[str, str],
                 accounts: dict[str, tuple[str, str | None]],
                 task_url: Callable[[str], str | None] = _no_url) -> PlaysOverview:
    """Every loaded play's latest instance per account, if active, grouped per account and owner.

    `accounts`: id -> (name, owner id); `users`: id -> name; `task_url` the CRM's task link.
    """
    ctx = _Context(as_of, users, accounts, task_url)
    defined = {(p.id, play.id): (p, play) for p, play in plays_of(packs)}
    instances = rebuild(tasks)
    rows: list[PlayRow] = []
    latest: dict[tuple[str, str, str], Instance] = {}
    for (pack_id, play_id, account_id), history in sorted(instances.items()):
        if (pack_id, play_id) not in defined or not history:
            continue
        pack, play = defined[(pack_id, play_id)]
        row = _row(pack, play, account_id, history[-1], ctx)
        if row is not None:
            rows.append(row)
            latest[(pack_id, play_id, account_id)] = history[-1]
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    rows.sort(key=lambda r: (r.account_name.lower(), r.account_id, -rank[r.severity], r.title))
    per_account: dict[str, list[PlayRow]] = defaultdict(list)
    for r in rows:
        per_account[r.account_id].append(r)
    return PlaysOverview(
        as_of=as_of, active=len(rows), overdue_steps=sum(r.overdue_steps for r in rows),
        accounts=[AccountPlays(account_id=a, account_name=ps[0].account_name, owner_id=ps[0].owner_id,
                               owner_name=ps[0].owner_name, plays=ps) for a, ps in per_account.items()],
        owners=_owners(rows, latest, ctx),
    )


def _owners(rows: list[PlayRow], latest: dict[tuple[str, str, str], Instance],
            ctx: _Context) -> list[OwnerPlays]:
    """Per owner: the plays on their accounts or with an open step (or escalation) of theirs,
    and their open play tasks past due, most overdue first."""
    owned: dict[str | None, dict[str, OwnedPlay]] = defaultdict(dict)
    overdue: dict[str | None, list[OverdueStep]] = defaultdict(list)
    for r in rows:
        key = f"{r.pack}/{r.play_id}/{r.account_id}"
        current = latest[(r.pack, r.play_id, r.account_id)]

        def mine(owner: str | None, row: PlayRow = r, key: str = key) -> OwnedPlay:
            return owned[owner].setdefault(key, OwnedPlay(
                key=key, play_id=row.play_id, title=row.title, account_id=row.account_id,
                account_name=row.account_name, account_owner=owner == row.owner_id))

        mine(r.owner_id)
        titles = {s.id: s.title for s in r.steps}
        for step in r.steps:
            if step.state == "open":
                mine(step.owner_id).open_steps.append(step.id)
            if step.overdue_days > 0 and step.due is not None:
                overdue[step.owner_id].append(OverdueStep(
                    pack=r.pack, play_id=r.play_id, play_title=r.title, account_id=r.account_id,
                    account_name=r.account_name, step=step.id, step_title=step.title, due=step.due,
                    overdue_days=step.overdue_days, escalated=step.escalated, url=step.url))
        for step_id, task in current.escalations.items():
            if task.status != "open":
                continue
            mine(task.owner_id).open_steps.append(f"{step_id}.escalation")
            if task.due is not None and task.due < ctx.as_of:
                overdue[task.owner_id].append(OverdueStep(
                    pack=r.pack, play_id=r.play_id, play_title=r.title, account_id=r.account_id,
                    account_name=r.account_name, step=f"{step_id}.escalation",
                    step_title=f"Overdue: {titles.get(step_id, step_id)}", due=task.due,
                    overdue_days=(ctx.as_of - task.due).days, escalated=True, escalation=True,
                    url=ctx.url(task)))
    people = sorted(set(owned) | set(overdue), key=lambda o: (ctx.user(o).lower(), o or ""))
    return [OwnerPlays(owner_id=o, owner_name=ctx.user(o), plays=list(owned[o].values()),
                       overdue_steps=sorted(overdue[o], key=lambda s: (-s.overdue_days, s.account_name)))
            for o in people]


def tasks_after(tasks: Iterable[Task], changes: list[Change],
                results: list[ChangeResult] | None) -> list[Task]:
    """Play tasks as they stand once this run's writes are in (a plan applies them on paper);
    unlike the digest's, closed and completed tasks stay: they are the plays' history."""
    by_key = {t.crm_id or t.fingerprint: t for t in tasks}
    pending = iter(results or [])
    for change in changes:
        result = next(pending, None) if change.writes and results is not None else None
        if result is not None and not result.ok:
            continue
        if change.action not in ("create", "update", "close") or not is_play_task(change.task):
            continue
        crm_id = change.task.crm_id or (result.crm_id if result else None)
        key = crm_id or change.fingerprint
        by_key[key] = changed(change.task, crm_id=crm_id) if crm_id else change.task
    return list(by_key.values())


def after_run(packs: list[LoadedPack], plays: Any, users: dict[str, Any], play_tasks: list[Task],
              changes: list[Change], results: list[ChangeResult] | None, as_of: date,
              task_url: Callable[[str], str | None] = _no_url) -> PlaysOverview | None:
    """The run report's `active_plays`: the play tasks with this run's writes in (`plan`: on
    paper), over the evaluated accounts (`plays`: the run's `playbooks.advance.Plays`)."""
    if not plays:
        return None
    accounts = {a: (i.account.name, i.account.owner_id) for a, i in plays.inputs.items()}
    names = {u: getattr(user, "name", None) or u for u, user in users.items()}
    return active_plays(packs, tasks_after(play_tasks, changes, results), as_of, names, accounts,
                        task_url)
