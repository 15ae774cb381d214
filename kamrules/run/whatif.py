"""What-if: the current configuration and a changed one (params set, rules disabled, a pack
swapped in) planned over the same records of the CRM, and the difference between the two plans.

Both plans are real `plan`s (`kamrules.run.sync.run` with nothing written) over a connector
that gives both the same records (kamrules/run/replay.py: one pull held, or, for the local CRM,
its file read by each plan and left unwritten in between), so the difference is exactly what
deploying the change would do.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from kamrules.errors import ExitCode, KamError, Location, LockedError, Problem, ValidationFailed
from kamrules.inputs.boundary import parse_yaml
from kamrules.inputs.sanitize import SURROGATES, cell, one_line
from kamrules.inputs.yamlsrc import plain
from kamrules.language.loader import LoadedPack, load_pack, override_problems, resolve_pack
from kamrules.language.registry import bases, loaded_twice, unknown_pack
from kamrules.playbooks.loader import play_ids
from kamrules.protocol.connector import Connector, Progress, no_progress
from kamrules.run.config import LoadedConfig, load_configured_packs
from kamrules.run.replay import replay
from kamrules.run.snooze import Snooze
from kamrules.run.sync import RunReport, run

# Actions that mean "the finding holds and its task is (or will be) open".
OPEN_ACTIONS = ("create", "update", "keep")
# times both plans are made before a CRM written to during each is given up on
TRIES = 3


class Changes(BaseModel):
    """What the what-if changes: `--set`, `--disable` and `--pack`, as given."""

    model_config = ConfigDict(extra="forbid")

    set: dict[str, Any] = Field(default_factory=dict)
    disable: list[str] = Field(default_factory=list)
    packs: list[str] = Field(default_factory=list)


class RuleDelta(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule: str  # pack/rule
    added: int = 0
    removed: int = 0


class TaskDelta(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fingerprint: str
    account: str
    owner: str
    subject: str
    severity: str | None
    current: str | None  # the action of the current configuration's plan (None: no such task)
    changed: str | None  # the action of the changed configuration's plan


class WhatIf(BaseModel):
    """The difference between the plans of the current and the changed configuration."""

    model_config = ConfigDict(extra="forbid")

    as_of: date
    changes: Changes
    pulls: int
    api_calls: int
    current: dict[str, int]  # the current plan's counts
    changed: dict[str, int]
    findings_current: int
    findings_changed: int
    rules: list[RuleDelta] = Field(default_factory=list)
    created: list[TaskDelta] = Field(default_factory=list)  # tasks only the change would open
    closed: list[TaskDelta] = Field(default_factory=list)  # open under current, closed by change
    other: list[TaskDelta] = Field(default_factory=list)  # any other difference in action
    owners: dict[str, dict[str, int]] = Field(default_factory=dict)  # owner -> created, closed
    accounts: list[str] = Field(default_factory=list)  # names of the accounts affected


def parse_set(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """`PACK.PARAM=VALUE` items -> {pack: {param: value}}; values read as YAML scalars/lists."""
    problems: list[Problem] = []
    result: dict[str, dict[str, Any]] = {}
    for item in items:
        target, sep, text = item.partition("=")
        pack_id, dot, param = target.strip().rpartition(".")
        if not sep or not dot or not pack_id or not param:
            problems.append(Problem(Location("--set"), item,
                                    "write it as PACK.PARAM=VALUE, e.g. kam-core.min_contacts=4"))
            continue
        try:
            value = _set_value(text)
        except ValidationFailed as exc:  # an alias to itself, a tag, .inf: as in a file
            problems.append(Problem(Location("--set"), target.strip(), exc.problems[0].message))
            continue
        if SURROGATES.search(item) or SURROGATES.search(json.dumps(value, ensure_ascii=False, default=str)):
            problems.append(Problem(Location("--set"), SURROGATES.sub("\ufffd", item),
                                    "holds half of a UTF-16 pair (a \\ud800 escape, or a byte"
                                    " that is not UTF-8): give the character itself"))
            continue
        given = result.setdefault(pack_id, {})
        if param in given and given[param] != value:  # the last won, unsaid
            problems.append(Problem(Location("--set"), target.strip(),
                                    f"is set twice ({given[param]!r}, then {value!r}): give one"))
            continue
        given[param] = value
    if problems:
        raise ValidationFailed(problems)
    return result


def _set_value(text: str) -> Any:
    """A `--set` value read as YAML through the boundary that reads pack files (so an alias to
    itself or an alias bomb is refused, not expanded); text that is not YAML stays text."""
    if not text.strip():
        return ""
    try:
        list(YAML(typ="safe", pure=True).parse(text))
    except YAMLError:
        return text
    return plain(parse_yaml(text, "--set"))


def changed_packs(loaded: LoadedConfig, sets: dict[str, dict[str, Any]], disable: Sequence[str],
                  extra: Sequence[str], base: Path) -> list[LoadedPack]:
    """The configured packs (loaded afresh) with `--pack` folders swapped in or added, then the
    config's and the command line's overrides applied: every bad one is a located problem."""
    packs = load_configured_packs(loaded)
    problems: list[Problem] = []
    for ref in extra:
        pack = load_pack(resolve_pack(ref, base))
        # the configured pack of its id, else the one it extends: added beside its base, every
        # finding of the base was counted twice (once under each id)
        index = next((i for i, p in enumerate(packs) if p.id == pack.id), None)
        if index is None:
            index = next((i for i, p in enumerate(packs)
                          if any(b.id == p.id for b in bases(pack))), None)
        if index is None:
            packs.append(pack)
        else:
            replaced, packs[index] = packs[index].id, pack
            for pack_id in dict.fromkeys((replaced, pack.id)):  # the base's overrides still hold
                if pack_id in loaded.config.overrides:
                    o = loaded.config.overrides[pack_id]
                    for loc, message in override_problems(pack, o.params, o.disable, play_ids(pack)):
                        problems.append(loaded.problem(("overrides", pack_id, *loc), message))
                    pack.tasks = o.tasks or pack.tasks
        pack.locale, pack.currency = loaded.config.locale, loaded.config.currency
    problems += [Problem(Location("--pack"), p.id, why) for p in packs if (why := loaded_twice(p, packs))]
    by_id = {p.id: p for p in packs}
    for pack_id, params in sets.items():
        if pack_id not in by_id:
            problems.append(Problem(Location("--set"), pack_id, unknown_pack(pack_id, packs)))
            continue
        for loc, message in override_problems(by_id[pack_id], params, []):
            problems.append(Problem(Location("--set"), f"{pack_id}.{loc[-1]}", message))
    plays = {p.id: play_ids(p) for p in packs} if disable else {}
    for ref in disable:
        pack_id, slash, rule_id = ref.rpartition("/")
        owners = [p for p in packs if (not slash or p.id == pack_id)
                  and (any(r.id == rule_id for r in p.rules) or rule_id in plays[p.id])]
        if len(owners) != 1:
            why = "no loaded pack has" if not owners else "several packs have"
            problems.append(Problem(Location("--disable"), ref,
                                    f"{why} a rule or play {rule_id!r}; name it as PACK/ID"))
            continue
        override_problems(owners[0], {}, [rule_id], plays[owners[0].id])
    if problems:
        raise ValidationFailed(problems)
    return packs


def _raised(report: RunReport) -> set[str]:
    """The tasks a plan raises (kept, created, updated...): not closed, nor kept as no finding's."""
    return {c.fingerprint for c in report.changes
            if c.action != "close" and not (c.action == "keep" and c.severity is None)}


def compare(current: RunReport, changed: RunReport, changes: Changes, pulls: int) -> WhatIf:
    """The two plans' difference: findings per rule, tasks created and closed, per owner."""
    result = WhatIf(as_of=current.as_of, changes=changes, pulls=pulls, api_calls=changed.api_calls,
                    current=current.counts, changed=changed.counts,
                    findings_current=current.findings, findings_changed=changed.findings)
    # by the findings' own fingerprints (pack/RULE/ACCOUNT), in a bundle or not: by the tasks',
    # kam-core's default of one checklist per account and problem showed `bundle:buying_centre`
    before, after = set(current._finding_fps), set(changed._finding_fps)
    per_rule: dict[str, Counter[str]] = {}
    for fp in before ^ after:
        rule = "/".join(fp.split("/", 2)[:2])
        per_rule.setdefault(rule, Counter())["added" if fp in after else "removed"] += 1
    result.rules = [RuleDelta(rule=r, added=c["added"], removed=c["removed"])
                    for r, c in sorted(per_rule.items())]
    raised, raised_after = _raised(current), _raised(changed)
    a = {c.fingerprint: c for c in current.changes}
    b = {c.fingerprint: c for c in changed.changes}
    owners: dict[str, Counter[str]] = {}
    accounts: set[str] = set()
    for fp in sorted(a.keys() | b.keys()):
        was, now = a.get(fp), b.get(fp)
        if was is not None and now is not None and (was.action, was.severity) == (now.action, now.severity):
            continue
        c = now or was
        assert c is not None
        delta = TaskDelta(fingerprint=fp, account=c.account_name or c.account_id,
                          owner=c.owner_name or c.owner_id or "(no owner)", subject=c.subject,
                          severity=c.severity, current=was.action if was else None,
                          changed=now.action if now else None)
        if delta.changed == "create" and delta.current != "create":
            kind = "created"
        elif delta.current in OPEN_ACTIONS and fp in raised and fp not in raised_after:
            kind = "closed"
        else:
            kind = "other"
        getattr(result, kind).append(delta)
        if kind != "other":
            owners.setdefault(delta.owner, Counter())[kind] += 1
        accounts.add(delta.account)
    result.owners = {o: {"created": c["created"], "closed": c["closed"]}
                     for o, c in sorted(owners.items())}
    result.accounts = sorted(accounts)
    return result


def what_if(connector: Connector, current: list[LoadedPack], changed: list[LoadedPack],
            loaded: LoadedConfig, as_of: date, changes: Changes,
            progress: Progress = no_progress, snoozes: list[Snooze] | None = None,
            **run_options: Any) -> WhatIf:
    """Plan both configurations over the same records and compare them (account health fields
    aside); planned again where something wrote to the CRM while they read it. `run_options`:
    `run`'s `workers` and `chunk_size`."""
    loaded = replace(loaded, config=loaded.config.model_copy(update={"health_fields": None}))
    source = replay(connector)
    for _ in range(TRIES):
        before = source.revision()
        reports = []
        for packs in (current, changed):
            source.begin()
            reports.append(run(source, packs, loaded, as_of, True, progress,  # type: ignore[arg-type]
                               snoozes, digest=False, **run_options))
        if source.revision() == before:
            break
    else:
        raise LockedError(f"the CRM was written to while the what-if read it, in each of {TRIES}"
                          " tries (a run, an import or another program writing to it): its two"
                          " plans would not compare the same records; run it again when nothing"
                          " writes to the CRM")
    first, second = reports
    for label, report in (("current", first), ("changed", second)):
        if report.exit_code:  # e.g. the data-quality gate: there is no plan to compare
            stopped = KamError(f"the {label} configuration's plan stopped ({report.outcome}):"
                               f" {'; '.join(map(str, report.data_quality)) or report.error}")
            stopped.exit_code = ExitCode(report.exit_code)
            raise stopped
    return compare(first, second, changes, source.pulls)


def render(result: WhatIf, limit: int = 10) -> list[str]:
    """The difference for people: per rule, per owner, the accounts, then the tasks."""
    lines = ["what-if (dry run: nothing written), as of " + result.as_of.isoformat()]
    said = [f"{k}={v}" for k, v in result.changes.set.items()]
    said += [f"disable {r}" for r in result.changes.disable]
    said += [f"pack {p}" for p in result.changes.packs]
    lines.append("change: " + ("; ".join(said) or "(none)"))
    lines.append(f"findings: {result.findings_current} now, {result.findings_changed} with the"
                 f" change; tasks: {len(result.created)} more created, {len(result.closed)}"
                 f" closed or no longer raised; {len(result.accounts)} account(s) affected")
    if not result.rules and not result.created and not result.closed and not result.other:
        lines.append("no difference")
        return lines
    lines.append("\nfindings by rule (added / removed):")
    lines += [f"  {r.rule}\t+{r.added}\t-{r.removed}" for r in result.rules] or [
        "  (none: the same findings; their tasks change)"]
    lines.append("\ntasks by owner (created / closed):")
    lines += [f"  {cell(o)}\t+{c['created']}\t-{c['closed']}" for o, c in result.owners.items()]
    shown = result.accounts if not limit else result.accounts[:limit]
    more = len(result.accounts) - len(shown)
    lines.append("\naccounts affected: " + ", ".join(one_line(a) for a in shown)
                 + (f", ... {more} more" if more else ""))
    for title, group in (("would be created", result.created),
                         ("would be closed or no longer raised", result.closed),
                         ("would change otherwise", result.other)):
        if not group:
            continue
        lines.append(f"\n{title} ({len(group)}):")
        for d in group if not limit else group[:limit]:
            how = "" if title != "would change otherwise" else f"\t{d.current} -> {d.changed}"
            lines.append(f"  {d.severity or '-'}\t{cell(d.fingerprint)}\t{cell(d.owner)}"
                         f"\t{cell(d.subject)}{how}")
        if limit and len(group) > limit:
            lines.append(f"  ... {len(group) - limit} more (--format json for all)")
    lines.append(f"\n{result.pulls} pull(s) of the CRM, {result.api_calls} API calls")
    return lines
