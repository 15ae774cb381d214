"""Play test cases: `playbooks/tests/*.yaml` in a pack walk one play for one account through
several as-of dates, completing steps by hand and adding records between nights, and name the
transitions each night must make. They run without a CRM: the play's tasks live in a list that
plays the CRM's part (created, completed, closed), so a case is fast and exact.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from kamrules.errors import Location, Problem, ValidationFailed
from kamrules.evaluation.engine import Engine
from kamrules.evaluation.facts import account_views, facts_for, portfolio_context
from kamrules.inputs.days import RunDay
from kamrules.inputs.yamlsrc import load_yaml, locate, plain, problems_from, yaml_files
from kamrules.language.loader import LoadedPack
from kamrules.language.pack import UserModel
from kamrules.language.packtest import case_snapshot
from kamrules.model import Task
from kamrules.playbooks.advance import Plays
from kamrules.playbooks.loader import load_plays
from kamrules.protocol.changes import Change
from kamrules.writeback.tasks import Directory


class Night(UserModel):
    as_of: RunDay
    complete: list[str] = Field(default_factory=list)  # steps done by hand the day before
    add: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)  # records added before
    expect: list[str] = Field(default_factory=list)  # e.g. started, step_opened:first-meeting


class PlayCase(UserModel):
    name: str = Field(min_length=1)
    play: str
    account: str
    records: dict[str, list[dict[str, Any]]]
    nights: list[Night] = Field(min_length=1)


class PlayCaseFile(UserModel):
    cases: list[PlayCase] = Field(min_length=1)


@dataclass
class LocatedCase:
    file: Path
    location: Location
    case: PlayCase

    @property
    def id(self) -> str:
        return f"{self.file.stem}::{self.case.name}"


def play_cases_of(pack_dir: Path) -> list[LocatedCase]:
    problems: list[Problem] = []
    out: list[LocatedCase] = []
    for file in yaml_files(pack_dir / "playbooks" / "tests"):
        raw = load_yaml(file)
        try:
            parsed = PlayCaseFile.model_validate(raw)
        except ValidationError as exc:
            problems += problems_from(exc, raw, str(file), PlayCaseFile)
            continue
        for i, case in enumerate(parsed.cases):
            case.records = plain(case.records)
            out.append(LocatedCase(file, locate(raw, ("cases", i, "name"), str(file)), case))
    if problems:
        raise ValidationFailed(problems)
    return out


def run_play_case(pack: LoadedPack, item: LocatedCase) -> list[str]:
    """Walk the case's nights; return what went wrong (empty when it passes)."""
    case = item.case
    play = next((p for p in load_plays(pack) if p.id == case.play), None)
    if play is None:
        return [f"no play {case.play!r} in pack {pack.id!r}"]
    plays, engine = Plays([(pack, play)]), Engine([pack])
    records = copy.deepcopy(case.records)
    tasks: list[Task] = []
    errors: list[str] = []
    for night in case.nights:
        for kind, added in night.add.items():
            records.setdefault(kind, []).extend(copy.deepcopy(added))
        for step in night.complete:
            fp = f"{pack.id}/{play.id}/{case.account}/{step}"
            match = [t for t in tasks if t.fingerprint == fp and t.status == "open"]
            if not match:
                errors.append(f"{night.as_of}: no open task of step {step!r} to complete")
            for t in match:
                t.status, t.completed = "completed", night.as_of - timedelta(days=1)
        snapshot = case_snapshot(night.as_of, records)
        if isinstance(snapshot, str):
            return errors + [f"{night.as_of}: {snapshot}"]
        directory = Directory.from_snapshot(snapshot, None)
        plays.inputs.clear()
        for view in account_views(snapshot, portfolio_context(snapshot.accounts, night.as_of)):
            if view.account.id == case.account:
                facts = facts_for(view)
                hits = [f"{f.pack_id}/{f.rule_id}" for f in engine.findings_for(case.account, facts)]
                plays.observe(view.account, facts, hits, directory)
        if not plays.inputs:
            return [f"no account {case.account!r} in the case's records"]
        changes, moves = plays.advance(copy.deepcopy(tasks), night.as_of)
        _apply(tasks, changes)
        got = sorted(m.kind + (f":{m.step}" if m.step else "") for m in moves)
        if got != sorted(night.expect):
            errors.append(f"{night.as_of}: transitions {got}, expected {sorted(night.expect)}")
    return errors


def _apply(tasks: list[Task], changes: list[Change]) -> None:
    """The CRM's part: creates get an id, updates and closes change the task with that id."""
    for change in changes:
        if change.action == "create":
            tasks.append(change.task.model_copy(update={"crm_id": str(len(tasks) + 1)}))
        elif change.action in ("update", "close"):
            for i, t in enumerate(tasks):
                if t.crm_id == change.task.crm_id:
                    tasks[i] = change.task.model_copy()
