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

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from kamrules.errors import Location, Problem, ValidationFailed
from kamrules.evaluation.engine import Engine
from kamrules.evaluation.facts import account_views, facts_for
from kamrules.inputs.days import RunDay
from kamrules.inputs.yamlsrc import closest, load_yaml, locate, plain, problems_from, yaml_files
from kamrules.language.loader import LoadedPack, override_problems
from kamrules.language.pack import UserModel
from kamrules.model import RECORD_KINDS, Snapshot

Records = dict[str, list[dict[str, Any]]]
# how `drop`, `update` and `add` name records: by kind first, then id
SHAPES = {"drop": "drop: {contacts: [C1, C2]} (or {contacts: all})",
          "update": "update: {contacts: {C1: {title: CFO}}}",
          "add": "add: {contacts: [{id: C9, account_id: A, name: Dana}]}"}


class Case(UserModel):
    name: str = Field(min_length=1)
    as_of: RunDay | None = None
    base: str | None = None
    drop: dict[str, list[str] | Literal["all"]] = Field(default_factory=dict)
    update: dict[str, dict[str, dict[str, Any]]] = Field(default_factory=dict)
    add: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    account: str | None = None
    fires: list[str] = Field(default_factory=list)
    silent: list[str] = Field(default_factory=list)
    evidence: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("drop", "update", "add", mode="before")
    @classmethod
    def _by_kind(cls, value: Any, info: ValidationInfo) -> Any:
        """A key that is not a record kind (a record id written first: `update: {M1: {date:
        ...}}`) is named with the shape, before the nesting under it is read wrongly ("Input
        should be a valid dictionary" at the field)."""
        if isinstance(value, dict):
            for key in value:
                if str(key) not in RECORD_KINDS:
                    raise ValueError(
                        f"{key!r} is not a record kind{closest(str(key), RECORD_KINDS)}: records are"
                        f" named by kind, then id ({SHAPES[info.field_name]}); kinds:"
                        f" {', '.join(RECORD_KINDS)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Case:
        both = set(self.fires) & set(self.silent)
        if both:
            raise ValueError(f"rules both fire and stay silent: {sorted(both)}")
        unknown = set(self.evidence) - set(self.fires)
        if unknown:
            raise ValueError(f"evidence given for rules not in fires: {sorted(unknown)}"
                             f" (fires: {self.fires})")
        return self


class CaseFile(UserModel):
    as_of: RunDay
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
    for file in yaml_files(pack_dir / "tests"):
        raw = load_yaml(file)
        try:
            parsed = CaseFile.model_validate(raw)
        except ValidationError as exc:
            problems += problems_from(exc, raw, str(file), CaseFile)
            continue
        fixtures.update({name: plain(value) for name, value in parsed.fixtures.items()})
        parsed_files.append((file, raw, parsed))
    for file, raw, parsed in parsed_files:
        for name, kinds in parsed.fixtures.items():
            problems += record_problems(raw, ("fixtures", name), plain(kinds), file)
        for i, case in enumerate(parsed.cases):
            where = locate(raw, ("cases", i, "name"), str(file))
            if case.base and case.base not in fixtures:
                problems.append(Problem(where, f"cases[{i}].base",
                                        f"unknown fixture {case.base!r}; fixtures: {sorted(fixtures)}"))
                continue
            base = fixtures.get(case.base, {}) if case.base else {}
            found = case_problems(raw, i, case, base, file)
            if found:
                problems += found
                continue
            out.append(PackCase(pack_dir, file, where, case, case.as_of or parsed.as_of,
                                build_records(fixtures, case)))
    if problems:
        raise ValidationFailed(problems)
    return out


def record_problems(raw: Any, at: tuple[str | int, ...], kinds: Any, file: Path) -> list[Problem]:
    """Each record of a fixture (or a case's `add`) checked against its kind's model, located
    at the record's own line, so a misspelt field is `file:line`, not a dump of the dict."""
    problems: list[Problem] = []
    if not isinstance(kinds, dict):
        return problems
    for kind, records in kinds.items():
        model = RECORD_KINDS.get(kind)
        if model is None:
            problems.append(Problem(locate(raw, (*at, kind), str(file)), _dot((*at, kind)),
                                    f"unknown record kind {kind!r}; kinds: {', '.join(RECORD_KINDS)}"))
            continue
        for j, record in enumerate(records if isinstance(records, list) else []):
            try:
                model.model_validate(record)
            except ValidationError as exc:
                node = _node(raw, (*at, kind, j))
                for p in problems_from(exc, node, str(file), model):
                    path = _dot((*at, kind, j)) + (f".{p.path}" if p.path else "")
                    problems.append(Problem(p.location, path, p.message))
    return problems


def case_problems(raw: Any, i: int, case: Case, base: Records, file: Path) -> list[Problem]:
    """A case's `drop` and `update` name records its base has; its `add` records validate."""
    problems = record_problems(raw, ("cases", i, "add"), case.add, file)
    for verb, targets in (("drop", case.drop), ("update", case.update)):
        for kind, ids in targets.items():
            if ids == "all":
                continue
            have = {_key(r) for r in base.get(kind, [])}
            for record_id in ids:
                if str(record_id) not in have:
                    where = locate(raw, ("cases", i, verb, kind), str(file))
                    problems.append(Problem(where, f"cases[{i}].{verb}.{kind}",
                                            f"no {kind} record {record_id!r} in fixture"
                                            f" {case.base!r}; it has: {', '.join(sorted(have)) or 'none'}"))
    for kind, changes in case.update.items():
        model = RECORD_KINDS[kind]
        for record_id, fields in changes.items():
            at = ("cases", i, "update", kind, record_id)
            unknown = sorted(set(fields) - set(model.model_fields))
            if unknown:
                problems.append(Problem(locate(raw, at, str(file)), _dot(at),
                                        f"{kind} records have no field {', '.join(map(repr, unknown))};"
                                        f" fields: {', '.join(model.model_fields)}"))
                continue
            # the updated record as the case will hold it, each bad value at its own line (it
            # failed when the case ran, as "activities.0.date" of the whole portfolio)
            for record in (r for r in base.get(kind, []) if _key(r) == str(record_id)):
                try:
                    model.model_validate({**record, **fields})
                except ValidationError as exc:
                    problems += [Problem(p.location, _dot(at) + (f".{p.path}" if p.path else ""),
                                         p.message)
                                 for p in problems_from(exc, _node(raw, at), str(file), model)]
    return problems


def _node(root: Any, loc: tuple[str | int, ...]) -> Any:
    for key in loc:
        if (isinstance(root, dict) and key in root
                or isinstance(root, list) and isinstance(key, int) and 0 <= key < len(root)):
            root = root[key]
    return root


def _dot(loc: tuple[str | int, ...]) -> str:
    return "".join(f"[{k}]" if isinstance(k, int) else (f".{k}" if n else str(k))
                   for n, k in enumerate(loc))


def literal(value: Any) -> str:
    """A value as a rule or a case's `evidence` writes it: true, false, null, 12, [a, b]
    (what `kamrules explain` prints, so its output can be pasted into a case)."""
    if value is None or isinstance(value, bool):
        return "true" if value is True else "false" if value is False else "null"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list | tuple):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    return str(value)


def _written(values: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{k}: {literal(v)}" for k, v in values.items()) + "}"


def case_snapshot(as_of: date, records: Records) -> Snapshot | str:
    """A case's records as a run would read them, or what is wrong with them: a record that does
    not validate, or one a run would skip with a warning (a contact whose `account_id` is
    misspelt, a repeated id), which a case would otherwise pass or fail without."""
    from kamrules.run.cleaning import clean

    try:
        snapshot = Snapshot.model_validate({"as_of": as_of, **records})
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        return f"records do not validate: {'.'.join(map(str, first['loc']))}: {first['msg']}"
    skipped = clean(snapshot).warnings
    if skipped:
        shown = "; ".join(f"{w.kind} {w.record_id!r}: {w.message}" for w in skipped[:5])
        more = f"; and {len(skipped) - 5} more" if len(skipped) > 5 else ""
        return f"records a run would skip: {shown}{more}"
    return snapshot


def case_facts(item: PackCase) -> tuple[str, dict[str, Any]] | str:
    """(account id, its facts) for a case, or what is wrong with its records."""
    snapshot = case_snapshot(item.as_of, item.records)
    if isinstance(snapshot, str):
        return f"{snapshot} (at {item.location})"
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


def param_problems(pack: LoadedPack, params: dict[str, Any]) -> list[str]:
    """What is wrong with a case's `params`, checked as config overrides are: a list or text
    where the param takes a number was compared as it was, or failed to compile (exit 5)."""
    return [message for _, message in override_problems(with_params(pack, {}), params, [])]


def run_case(pack: LoadedPack, item: PackCase, engine: Engine | None = None,
             facts: tuple[str, dict[str, Any]] | str | None = None) -> list[str]:
    """Run one case; return what went wrong (empty when it passes).

    `engine` (compiled for this pack and the case's params) and `facts` may be passed in when
    many cases or many param variants are run, to compile and derive once.
    """
    case = item.case
    rule_ids = {r.id for r in pack.rules}
    errors = [f"unknown rule {r}" for r in (*case.fires, *case.silent) if r not in rule_ids]
    errors += param_problems(pack, case.params)
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
            errors.append(f"{rule} should stay silent but fires"
                          f" (evidence {_written(findings[rule].evidence)})")
    for rule, expected in case.evidence.items():
        if rule in findings:
            read = findings[rule].evidence
            unread = [k for k in expected if k not in read]
            if unread:  # a misspelt fact, or one the rule does not read: not "got null"
                errors.append(f"{rule}'s evidence has no {', '.join(map(repr, unread))}"
                              f"{closest(unread[0], read)}; it has: {', '.join(read) or 'nothing'}")
                continue
            got = {k: read.get(k) for k in expected}
            if got != expected:
                errors.append(f"{rule} evidence {_written(got)}, expected {_written(expected)}")
    return errors


def run_cases(pack: LoadedPack, items: list[PackCase],
              facts: dict[str, tuple[str, dict[str, Any]] | str] | None = None,
              kind: str | None = None) -> list[tuple[PackCase, list[str]]]:
    """Run many cases, compiling one engine (of `kind`, default auto) per distinct set of case
    params."""
    engines: dict[str, Engine] = {}
    results = []
    for item in items:
        bad = param_problems(pack, item.case.params)
        if bad:
            results.append((item, bad))
            continue
        key = repr(sorted(item.case.params.items()))
        if key not in engines:
            engines[key] = Engine([with_params(pack, item.case.params)], kind)
        given = facts.get(item.id) if facts is not None else None
        results.append((item, run_case(pack, item, engines[key], given)))
    return results
