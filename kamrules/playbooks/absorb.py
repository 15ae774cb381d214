"""Plays that take over rule tasks: while a play runs on an account, the rules it `absorbs`
create no task of their own there (its steps are the task), so nobody gets the same request
twice — "open the renewal opportunity" from the play and "no renewal opportunity" from a rule.
"""

from __future__ import annotations

from collections.abc import Iterable

from kamrules.model import Task
from kamrules.playbooks.advance import Plays
from kamrules.playbooks.state import is_play_task
from kamrules.protocol.changes import Change


def absorbed(plays: Plays, play_tasks: Iterable[Task], play_changes: Iterable[Change],
             fingerprints: Iterable[str]) -> dict[str, str]:
    """fingerprint -> why it creates no task, for the rule findings a running play absorbs.

    A play runs on an account when it has an open step task after this run's changes."""
    absorbing = {(c.pack.id, c.play.id): c.play for c in plays.compiled if c.play.absorbs}
    if not absorbing:
        return {}
    closed = {c.task.crm_id for c in play_changes if c.action == "close" and c.task.crm_id}
    open_now = [t for t in play_tasks if t.status == "open" and t.crm_id not in closed]
    open_now += [c.task for c in play_changes if c.action == "create" and is_play_task(c.task)]
    running: dict[tuple[str, str, str], str] = {}  # (pack, rule, account) -> the play's words
    for task in open_now:
        pack_id, play_id, account_id, _ = task.fingerprint.split("/", 3)
        play = absorbing.get((pack_id, play_id))
        for rule_id in play.absorbs if play else ():
            running[(pack_id, rule_id, account_id)] = (
                f"in play {play.title} ({play.id}): its steps are the task")
    out = {}
    for fp in fingerprints:
        parts = fp.split("/")
        if len(parts) == 3 and (reason := running.get((parts[0], parts[1], parts[2]))):
            out[fp] = reason
    return out
