"""Pack test cases: YAML beside a pack saying which rules fire on a small portfolio, and why.

A case file (`tests/*.yaml` in the pack) has `fixtures` (named record sets, shared by all the
pack's case files) and `cases`. A case
starts from a fixture (`base`), drops, updates and adds records, then names the rules that must
fire and stay silent for one account, and the evidence expected. `kamrules test` runs them for
any pack; `cases_of(pack_dir)` hands them to pytest the same way (the loader ships here so users
test their own packs with it).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from kamrules.errors import Location, Problem, ValidationFailed
from kamrules.evaluation.engine import Engine
from kamrules.evaluation.facts import account_views, facts_for
from kamrules.inputs.yamlsrc import load_yaml, locate, plain, problems_from
from kamrules.language.loader import LoadedPack
from kamrules.language.pack import UserModel
from kamrules.model import RECORD_KINDS, Snapshot

Records = dict[str, list[dict[str, Any]]]


class Case(UserModel):
    name: str = Field(min_length=1)
    as_of: date | None = None
    base: str | None = None
    drop: dict[str, list[str] | Literal["all"]] = Field(default_factory=dict)
    update: dict[str, dict[str, dict[str, Any]]] = Field(default_factory=dict)
    add: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    account: str | None = None
    fires: list[str] = Field(default_factory=list)
    silent: list[str] = Field(default_factory=list)
    evidence: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> Case:
        both = set(self.fires) & set(self.silent)
        if both:
            raise ValueError(f"rules both fire and stay silent: {sorted(both)}")
        unknown = set(self.evidence) - set(self.fires)
        if unknown:
            raise ValueError(f"evidence given for rules not in fires: {sorted(unknown)}")
        kinds = set(self.drop) | set(self.update) | set(self.add)
        bad = kinds - set(RECORD_KINDS)
        if bad:
            raise ValueError(f"unknown record kinds {sorted(bad)}; kinds: {', '.join(RECORD_KINDS)}")
        return self


class CaseFile(UserModel):
    as_of: date
    fixtures: dict[str, dict[str, list[dict[str, Any]]]] = Field(default_factory=dict)
    cases: list[Case] = Field(min_length=1)


@dataclass
class PackCase:
    """One case ready to run, with where it was written."""

    pack_dir: Path
    file: Path
    location: Location
    case: Case
    as_of: date
    records: Records

    @property
    def id(self) -> str:
        return f"{self.file.stem}::{self.case.name}"


def _key(record: dict[str, Any]) -> str:
    return str(record.get("id", record.get("account_id")))


def build_records(fixtures: dict[str, Records], case: Case) -> Records:
    """The case's records: its base fixture with drops, updates and additions applied."""
    records: Records = copy.deepcopy(fixtures.get(case.base, {})) if case.base else {}
    for kind, ids in case.drop.items():
        records[kind] = [] if ids == "all" else [
            r for r in records.get(kind, []) if _key(r) not in set(ids)
        ]
    for kind, changes in case.update.items():
        for record in records.get(kind, []):
            if _key(record) in changes:
                record.update(changes[_key(record)])
    for kind, added in case.add.items():
        records.setdefault(kind, []).extend(copy.deepcopy(added))
    return records


def cases_of(pack_dir: Path) -> list[PackCase]:
    """Every case of a pack, validated; problems raise ValidationFailed with locations."""
    problems: list[Problem] = []
    out: list[PackCase] = []
    parsed_files: list[tuple[Path, Any, CaseFile]] = []
    fixtures: dict[str, Records] = {}  # shared by every case file of the pack
    for file in sorted((pack_dir / "tests").glob("*.yaml")):
        raw = load_yaml(file)
        try:
            parsed = CaseFile.model_validate(raw)
        except ValidationError as exc:
            problems += problems_from(exc, raw, str(file), CaseFile)
            continue
        fixtures.update({name: plain(value) for name, value in parsed.fixtures.items()})
        parsed_files.append((file, raw, parsed))
    for file, raw, parsed in parsed_files:
        for i, case in enumerate(parsed.cases):
            where = locate(raw, ("cases", i, "name"), str(file))
            if case.base and case.base not in fixtures:
                problems.append(Problem(where, f"cases[{i}].base",
                                        f"unknown fixture {case.base!r}; fixtures: {sorted(fixtures)}"))
                continue
            out.append(PackCase(pack_dir, file, where, case, case.as_of or parsed.as_of,
                                build_records(fixtures, case)))
    if problems:
        raise ValidationFailed(problems)
    return out


def case_facts(item: PackCase) -> tuple[str, dict[str, Any]] | str:
    """(account id, its facts) for a case, or what is wrong with its records."""
    try:
        snapshot = Snapshot.model_validate({"as_of": item.as_of, **item.records})
    except ValidationError as exc:
        return f"records do not validate: {exc.errors(include_url=False)[:3]}"
    views = {v.account.id: v for v in account_views(snapshot)}
    account = item.case.account or (snapshot.accounts[0].id if snapshot.accounts else "")
    if account not in views:
        return f"no account {account!r} in the case's records"
    return account, facts_for(views[account])


def with_params(pack: LoadedPack, params: dict[str, Any]) -> LoadedPack:
    """A copy of the pack with some param values replaced and every rule enabled."""
    clone = copy.copy(pack)
    clone.values = {**pack.values, **params}
    clone.disabled = set()
    return clone


def run_case(pack: LoadedPack, item: PackCase, engine: Engine | None = None,
             facts: tuple[str, dict[str, Any]] | str | None = None) -> list[str]:
    """Run one case; return what went wrong (empty when it passes).

    `engine` (compiled for this pack and the case's params) and `facts` may be passed in when
    many cases or many param variants are run, to compile and derive once.
    """
    case = item.case
    rule_ids = {r.id for r in pack.rules}
    errors = [f"unknown rule {r}" for r in (*case.fires, *case.silent) if r not in rule_ids]
    errors += [f"unknown param {p}" for p in sorted(set(case.params) - set(pack.values))]
    if errors:
        return errors
    facts = facts if facts is not None else case_facts(item)
    if isinstance(facts, str):
        return [facts]
    account, values = facts
    engine = engine or Engine([with_params(pack, case.params)])
    findings = {f.rule_id: f for f in engine.findings_for(account, values)}
    for rule in case.fires:
        if rule not in findings:
            errors.append(f"{rule} should fire but does not")
    for rule in case.silent:
        if rule in findings:
            errors.append(f"{rule} should stay silent but fires (evidence {findings[rule].evidence})")
    for rule, expected in case.evidence.items():
        if rule in findings:
            got = {k: findings[rule].evidence.get(k) for k in expected}
            if got != expected:
                errors.append(f"{rule} evidence {got}, expected {expected}")
    return errors


def run_cases(pack: LoadedPack, items: list[PackCase],
              facts: dict[str, tuple[str, dict[str, Any]] | str] | None = None,
              kind: str | None = None) -> list[tuple[PackCase, list[str]]]:
    """Run many cases, compiling one engine (of `kind`, default auto) per distinct set of case
    params."""
    engines: dict[str, Engine] = {}
    results = []
    for item in items:
        key = repr(sorted(item.case.params.items()))
        if key not in engines:
            engines[key] = Engine([with_params(pack, item.case.params)], kind)
        given = facts.get(item.id) if facts is not None else None
        results.append((item, run_case(pack, item, engines[key], given)))
    return results
