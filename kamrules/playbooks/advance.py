"""Each run's play transitions, as task changes for the same apply path as rule tasks.

`Plays.observe` keeps, per evaluated account, the few facts the plays read and the rules that
held; `Plays.advance` rebuilds every play's state from the CRM's tasks and asks the statecharts
what happens as of this run: start (open the steps that start at once), open further steps,
escalate an overdue step (once: the escalation task or the raised priority is in the CRM),
complete, or exit (close the open steps with a note).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, NamedTuple

from kamrules.evaluation.facts import REGISTRY
from kamrules.language.conditions import facts_read
from kamrules.language.loader import LoadedPack
from kamrules.model import Account, Task, TeamMember
from kamrules.playbooks.chart import RULE_HIT, PlayChart, trigger_condition
from kamrules.playbooks.idle import idle_filter
from kamrules.playbooks.lanes import run_all
from kamrules.playbooks.model import Playbook
from kamrules.playbooks.playrun import PlayRun, PlayTransition, play_event
from kamrules.playbooks.state import ESCALATION, rebuild
from kamrules.protocol.changes import Change
from kamrules.writeback.reconcile import Limits, apply_limits
from kamrules.writeback.tasks import Directory, text_names


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

    def idle_moves(self, facts: Mapping[str, Any], hits: Iterable[str]) -> bool:
        """Whether the play may start on an account with no history (see playbooks/idle.py);
        `facts` may be lazy: only the facts the predicate reads are computed."""
        if self.reads_hit:
            return self.may_start(_WithHit(facts, not self.trigger_rules.isdisjoint(hits)))
        return self.may_start(facts)


class _WithHit(Mapping[str, Any]):
    """The facts and whether a trigger rule held, as the idle predicate reads them (`get`)."""

    def __init__(self, facts: Mapping[str, Any], hit: bool) -> None:
        self.facts, self.hit = facts, hit

    def get(self, name: str, default: Any = None) -> Any:
        return self.hit if name == RULE_HIT else self.facts.get(name, default)

    def __getitem__(self, name: str) -> Any:
        return self.hit if name == RULE_HIT else self.facts[name]

    def __iter__(self) -> Iterator[str]:
        return iter([*self.facts, RULE_HIT])

    def __len__(self) -> int:
        return len(self.facts) + 1


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
            for step in play.steps:  # the text the run writes: in its locale
                words = pack.step_text(play, step)
                names = text_names(pack.template_syntax, words.subject, words.body)
                self.facts.update(REGISTRY if names is None else (n for n in names if n in REGISTRY))
        self.facts.discard(RULE_HIT)
        self.names = tuple(sorted(self.facts))
        self.inputs: dict[str, AccountInput] = {}
        # the accounts that may have play history (a superset), where the CRM told before the
        # chunks were evaluated; None: any account may
        self.history: set[str] | None = None

    def __bool__(self) -> bool:
        return bool(self.compiled)

    def titles(self) -> dict[str, str]:
        """Each play's title in its pack's locale, by `pack/play id` (the digest names plays)."""
        return {f"{c.pack.id}/{c.play.id}": c.pack.step_text(c.play, c.play.steps[0]).play_title
                for c in self.compiled}

    def observe(self, account: Account, facts: dict[str, Any], hits: Iterable[str],
                directory: Directory) -> None:
        """Keep what the plays need of one evaluated account (a few facts, not the view);
        nothing where no play may start and, as `history` tells, none has run."""
        if not self.compiled:
            return
        hit_ids = tuple(sorted(sys.intern(h) for h in set(hits)))
        may_start = self._may_start(facts, hit_ids)
        if not may_start and self.history is not None and account.id not in self.history:
            return  # `advance` would not ask about it
        self.inputs[account.id] = self.input_for(
            Party(account.id, account.name, account.owner_id), facts, hit_ids,
            directory.team.get(account.id, ()), directory.users, directory.sales_ops_owner,
            may_start)

    def _may_start(self, facts: Mapping[str, Any], hit_ids: tuple[str, ...]) -> int:
        """Bit i: compiled play i may start on the account without history."""
        may_start = 0
        for i, c in enumerate(self.compiled):
            if c.idle_moves(facts, hit_ids):
                may_start |= 1 << i
        return may_start

    def input_for(self, account: Party, facts: Mapping[str, Any], hits: Iterable[str],
                  team: Iterable[TeamMember], users: dict[str, str],
                  sales_ops_owner: str | None, may_start: int | None = None) -> AccountInput:
        """One account's `AccountInput`: the plays' facts read now (computed if lazy);
        `may_start` where the caller has decided it already."""
        values = tuple(facts.get(n) for n in self.names)
        hit_ids = tuple(sorted(sys.intern(h) for h in set(hits)))
        if may_start is None:
            may_start = self._may_start(dict(zip(self.names, values, strict=True)), hit_ids)
        return AccountInput(account, self.names, values, hit_ids, tuple(team), users,
                            sales_ops_owner, may_start)

    def advance(self, tasks: Iterable[Task], as_of: date,
                lanes: int = 1) -> tuple[list[Change], list[PlayTransition]]:
        """This run's changes to play tasks and the transitions they make; `lanes`: decision
        children asked at once (kamrules/playbooks/lanes.py), the same result for any number."""
        instances = rebuild(tasks)
        # most accounts: no play, and no play's trigger holds (decided by `input_for`)
        asked: list[set[str]] = [set() for _ in self.compiled]
        for account_id, inp in self.inputs.items():
            if inp.may_start:
                for i, ids in enumerate(asked):
                    if inp.may_start >> i & 1:
                        ids.add(account_id)
        jobs = []
        for i, c in enumerate(self.compiled):
            asked[i].update(a for (pack_id, play_id, a) in instances
                            if pack_id == c.pack.id and play_id == c.play.id and a in self.inputs)
            jobs += [(c, account_id) for account_id in sorted(asked[i])]

        def run(job: tuple[CompiledPlay, str], changes: list[Change],
                moves: list[PlayTransition]) -> None:
            c, account_id = job
            history = instances.get((c.pack.id, c.play.id, account_id))
            PlayRun(c, self.inputs[account_id], history or [], as_of, changes, moves).go()

        changes, moves = run_all(jobs, run, lanes)
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
    event = play_event(c, inp, cooling=False, all_done=False)
    return c.chart.phase_action("idle", event) == "start"
