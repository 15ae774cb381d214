"""The Salesforce field mapping: loaded from YAML, checked against the org's describe results,
and applied to raw rows to make canonical records (bad rows become warnings, never errors)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from kamrules.connectors.mapping.language import BadValue, Seen, Spec, as_spec, evaluate
from kamrules.connectors.mapping.tally import FieldTally, validate_fieldwise
from kamrules.connectors.salesforce.describe import MAX_HOPS, Describe, too_deep
from kamrules.errors import KamError, ValidationFailed
from kamrules.inputs.boundary import load_yaml_file, parse_yaml
from kamrules.inputs.shipped import shipped_file
from kamrules.model import RECORD_KINDS, RecordWarning

DEFAULT_MAPPING = "salesforce.mapping.yaml"
# a stream kind that is no canonical record: contacts' roles on opportunities, merged into contacts
CONTACT_ROLES = "contact_roles"
EACH = "_each"  # the reader of a stream's `each` items
ROLE_FIELDS = ("contact_id", "deal_id", "account_id", "role")


class MappingError(KamError):
    """The mapping does not fit the org (unknown objects or fields) or is malformed: exit 2."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FieldSpec(Spec):
    """One canonical field in the shared language (connectors/mapping/language.py), where a list
    in `field` names candidates (the first one the org has wins), plus a child subquery."""

    optional: bool = False
    children: str | None = None
    object: str | None = None
    fields: dict[str, str | FieldSpec] | None = None
    # with children: a field of the parent read instead (as a one-item list) when the org has no
    # such child relationship, e.g. WhoId for TaskWhoRelations in an org without Shared Activities
    fallback: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> FieldSpec:
        sources = self.sources() + (["children"] if "children" in self.model_fields_set else [])
        if self.children is not None and "field" in sources:
            sources.remove("field")  # a child subquery's own field
        if len(sources) != 1:
            raise ValueError("give exactly one of field, const, coalesce, items, relative_year or children")
        if self.children and (not self.object or (self.field is None) == (self.fields is None)):
            raise ValueError("a children field needs object and one of field or fields")
        return self


class RoleRules(_Strict):
    """How a contact's roles on opportunities become its one canonical `buying_role`."""

    # canonical roles, most senior first: a contact with several roles gets the most senior one
    seniority: list[str] = Field(min_length=1)
    # a closed opportunity still counts this many days after its close date (null: always)
    recent_days: int | None = Field(default=365, ge=0)


class StreamSpec(_Strict):
    """One SOQL query: an object, how it links to Account, and its canonical fields."""

    name: str = Field(pattern=r"^[a-z_]+$")
    kind: Literal[(*RECORD_KINDS, CONTACT_ROLES)]  # type: ignore[valid-type]
    object: str
    # the Account id field, or a one-hop relationship path to it (`Opportunity.AccountId`)
    account_field: str | None = Field(default=None, pattern=r"^\w+(\.\w+)?$")
    scope: Literal["key_accounts", "all_accounts"] = "key_accounts"
    where: str | None = None
    incremental: bool = True
    # child records whose changes leave the parent's SystemModstamp alone (custom children, e.g.
    # risk measures of a plan): an incremental pull also asks each child object what changed
    watch_children: bool = False
    exclude_kamrules_tasks: bool = False
    # rows can be deleted for good (not via the recycle bin, so an incremental pull never sees
    # them go): after an incremental pull a COUNT() query checks the cache, a mismatch re-reads
    hard_deletes: bool = False
    light_fields: list[str] = Field(default_factory=list)
    fields: dict[str, str | FieldSpec]
    # several records from each row, one per object these items compose (e.g. the account team
    # from owner lookups on Account, each with its role); merged with `fields`
    each: FieldSpec | None = None
    roles: RoleRules | None = None

    @model_validator(mode="after")
    def _contact_roles(self) -> StreamSpec:
        if self.kind != CONTACT_ROLES:
            if self.roles is not None:
                raise ValueError(f"roles is only for kind {CONTACT_ROLES}")
            return self
        missing = [f for f in ROLE_FIELDS if f not in self.fields]
        if missing or self.roles is None:
            raise ValueError(f"a {CONTACT_ROLES} stream needs fields {', '.join(ROLE_FIELDS)} and roles"
                             + (f" (missing: {', '.join(missing)})" if missing else ""))
        role = self.fields["role"]
        if not isinstance(role, FieldSpec) or not role.values:
            raise ValueError("the role field needs `values`: the org's Role values -> canonical roles")
        unranked = sorted({str(v) for v in role.values.values()} - set(self.roles.seniority))
        if unranked:
            raise ValueError(f"roles.seniority does not rank {', '.join(unranked)}")
        return self


class Mapping(_Strict):
    version: Literal[1] = 1
    streams: list[StreamSpec]


def load_mapping(path: Path | None) -> Mapping:
    """The admin's mapping file, or the one shipped in the package."""
    try:  # through the input boundary: size, UTF-8, aliases, depth, strict scalars
        if path is None:
            text, where = shipped_file(DEFAULT_MAPPING)
            raw = parse_yaml(text, where)
        else:
            raw, where = load_yaml_file(path), str(path)
    except ValidationFailed as exc:
        raise MappingError("the Salesforce mapping is not valid:\n" + str(exc)) from None
    try:
        return Mapping.model_validate(raw)
    except ValidationError as exc:  # located at the line and column, as a HubSpot mapping is
        from kamrules.inputs.yamlsrc import problems_from

        lines = [str(p) for p in problems_from(exc, raw, where, Mapping)]
        raise MappingError("the Salesforce mapping is not valid:\n" + "\n".join(lines)) from None
    except Exception as exc:  # YAML syntax
        raise MappingError(f"{where}: not valid YAML: {exc}") from None


# --- checking against the org --------------------------------------------------------------


def parents_needed(mapping: Mapping, describe: Describe) -> list[str]:
    """Objects that the mapping's relationship fields reach and that were not described yet (call
    again after describing them: a path two lookups long reaches one more object each time)."""
    names: list[str] = []
    for s in mapping.streams:
        paths = [s.account_field or ""]
        for raw in {**s.fields, **({EACH: s.each} if s.each is not None else {})}.values():
            spec = FieldSpec(field=raw) if isinstance(raw, str) else raw
            if not spec.children:
                paths += spec.names()
        for path in (p for p in paths if "." in p):
            target: str | None = s.object
            for rel in path.split(".")[:-1][:MAX_HOPS]:
                target = describe.parent(target, rel) if target in describe.fields else None
                if target is None or target not in describe.fields:
                    break
            if target and target not in describe.fields:
                names.append(target)
    return list(dict.fromkeys(names))


Reader = Callable[[dict[str, Any], date], Any]


class Resolved:
    """A stream checked against the org: its SELECT list and one reader per canonical field."""

    def __init__(self, spec: StreamSpec):
        self.spec = spec
        self.columns: list[str] = []
        self.subqueries: list[str] = []
        self.readers: dict[str, Reader] = {}
        self.light: dict[str, Reader] = {}
        self.light_columns: list[str] = []
        self.child_links: list[tuple[str, str]] = []  # (child object, its field naming the parent)
        self.cols: dict[str, str] = {}  # canonical field -> the (first) column it reads
        self.colmap: dict[str, list[str]] = {}  # canonical field -> every column it reads
        self.seen: dict[str, Seen] = {}  # value-mapped field -> raw values met, unmapped ones
        # with a dotted account_field: the relationship path to the Account (`Opportunity.Account`)
        self.account_path: str | None = None

    @property
    def has_children(self) -> bool:
        return bool(self.subqueries)

    def select(self, light: bool = False) -> str:
        base = self.light_columns if light else self.columns
        cols = list(dict.fromkeys(["Id", *base, "SystemModstamp"]))
        return ", ".join(cols + ([] if light else self.subqueries))

    def shape(self, light: bool = False) -> str:
        return self.select(light)


def objects_needed(mapping: Mapping) -> list[str]:
    names: list[str] = ["Account", "Task"]
    for s in mapping.streams:
        names.append(s.object)
        for spec in s.fields.values():
            if isinstance(spec, FieldSpec) and spec.children and spec.object:
                names.append(spec.object)
    return list(dict.fromkeys(names))


def resolve(mapping: Mapping, describe: Describe) -> tuple[list[Resolved], list[str], list[str]]:
    """Streams with concrete columns; the errors (missing objects or required fields), and notes
    about optional fields the org lacks (left empty)."""
    out: list[Resolved] = []
    errors: list[str] = []
    notes: list[str] = []
    for s in mapping.streams:
        if s.object not in describe.fields:
            errors.append(f"stream {s.name}: object {s.object} does not exist or is not visible "
                          "to the integration user")
            continue
        r = Resolved(s)
        each = {EACH: s.each} if s.each is not None else {}
        for canon, raw in {**s.fields, **each}.items():
            spec = FieldSpec(field=raw) if isinstance(raw, str) else raw
            where = f"stream {s.name}: {canon}"
            before = len(r.columns)
            reader = _reader(spec, s.object, describe, r, where, errors, notes, canon)
            if reader is not None:
                r.readers[canon] = reader
            if len(r.columns) > before:
                r.cols[canon] = r.columns[before]
                r.colmap[canon] = r.columns[before:]
        if s.account_field and not describe.has(s.object, s.account_field):
            errors.append(f"stream {s.name}: account_field {s.object}.{s.account_field} does not exist")
        elif s.account_field and "." in s.account_field:
            rel, _, field = s.account_field.partition(".")
            target = describe.parent(s.object, rel) or ""
            to_account = describe.relationship_of(target, field)
            if to_account is None:
                errors.append(f"stream {s.name}: account_field {s.object}.{s.account_field} is no lookup")
            else:
                r.account_path = f"{rel}.{to_account}"
        for name in s.light_fields:
            if name not in s.fields:
                errors.append(f"stream {s.name}: light field {name} is not one of its fields")
        r.light = {k: v for k, v in r.readers.items() if k in s.light_fields}
        r.light_columns = [c for k in s.light_fields for c in r.colmap.get(k, [])]
        out.append(r)
    return out, errors, notes


def _pick(spec: FieldSpec, obj: str, describe: Describe, where: str, errors: list[str],
          notes: list[str]) -> str | None:
    candidates = [spec.field] if isinstance(spec.field, str) else list(spec.field or [])
    found = next((c for c in candidates if describe.has(obj, c)), None)
    deep = [c for c in candidates if too_deep(c)]
    if found is None and deep:
        errors.append(f"{where}: field {obj}.{deep[0][:200]} is {deep[0].count('.')} relationships"
                      f" away; SOQL reads a parent's field at most {MAX_HOPS} away")
    elif found is None:
        names = " or ".join(f"{obj}.{c}" for c in candidates)
        (notes if spec.optional else errors).append(
            f"{where}: field {names} does not exist" + (" (left empty)" if spec.optional else ""))
    return found


def _reader(spec: FieldSpec, obj: str, describe: Describe, r: Resolved, where: str,
            errors: list[str], notes: list[str], canon: str = "") -> Reader | None:
    if "const" in spec.model_fields_set or spec.relative_year is not None:
        return lambda row, as_of: evaluate(spec, lambda name: None, as_of)
    if spec.children:
        rel, child = spec.children, str(spec.object)
        if describe.children.get(obj, {}).get(rel) is None:
            if spec.fallback and describe.has(obj, spec.fallback):
                notes.append(f"{where}: the org has no {obj}.{rel} (Shared Activities off?):"
                             f" reading {obj}.{spec.fallback} instead, one per record")
                r.columns.append(spec.fallback)
                col = spec.fallback
                return lambda row, as_of: [row[col]] if row.get(col) else []
            (notes if spec.optional else errors).append(
                f"{where}: child relationship {obj}.{rel} does not exist")
            return None
        if child not in describe.fields:
            errors.append(f"{where}: object {child} does not exist")
            return None
        subs: dict[str, Reader] = {}
        cols: list[str] = []
        inner = {"_": spec.field} if spec.field is not None else dict(spec.fields or {})
        for name, raw in inner.items():
            sub = FieldSpec(field=raw) if isinstance(raw, str) else raw
            col = _pick(sub, child, describe, f"{where}.{name}", errors, notes)
            if col is not None:
                cols.append(col)
                subs[name] = _value_reader({n: col for n in sub.names()}, sub,
                                           people=describe.people(child))
        r.subqueries.append(f"(SELECT {', '.join(dict.fromkeys(cols or ['Id']))} FROM {rel})")
        link = describe.links.get(obj, {}).get(rel)
        if link:
            r.child_links.append((child, link))
        elif r.spec.watch_children:
            errors.append(f"{where}: describe names no parent field for {obj}.{rel} (watch_children)")
        single = spec.field is not None

        def read_children(row: dict[str, Any], as_of: date) -> Any:
            block = row.get(rel) or {}
            items = block.get("records", []) if isinstance(block, dict) else []
            if single:
                return [v for v in (subs["_"](c, as_of) for c in items if "_" in subs) if v is not None]
            return [{k: v for k, f in subs.items() if (v := f(c, as_of)) is not None} for c in items]
        return read_children
    seen = r.seen.setdefault(canon, Seen()) if _has_values(spec) else None
    if spec.field is not None:
        col = _pick(spec, obj, describe, where, errors, notes)
        if col is None:
            return None
        r.columns.append(col)
        return _value_reader({n: col for n in spec.names()}, spec, seen, describe.people(obj))
    cols = {}
    for name in dict.fromkeys(spec.names()):  # coalesce and items: each field on its own
        found = _pick(FieldSpec(field=name, optional=spec.optional), obj, describe, where, errors, notes)
        if found is not None:
            cols[name] = found
            r.columns.append(found)
    return _value_reader(cols, spec, seen, describe.people(obj))


def _has_values(spec: Spec) -> bool:
    return spec.values is not None or any(
        _has_values(as_spec(sub)) for item in spec.items or [] for sub in item.values())


def _value_reader(cols: dict[str, str], spec: Spec, seen: Seen | None = None,
                  people: Callable[[str], bool] | None = None) -> Reader:
    """Reads one canonical field through the shared language; `cols`: field name -> its column;
    `people(column)`: whether a column's text is people's (`Describe.people`; default: all)."""

    # known once, not per record: a column's type does not change from row to row
    by_people = {name: people is None or people(column) for name, column in cols.items()}

    def read(row: dict[str, Any], as_of: date) -> Any:
        return evaluate(spec, lambda name: row.get(cols[name]) if name in cols else None, as_of, seen,
                        lambda name: by_people.get(name, True))
    return read


def to_records(r: Resolved, rows: Iterable[dict[str, Any]], as_of: date, light: bool = False,
               extra: dict[str, Any] | None = None, tally: FieldTally | None = None,
               ) -> tuple[list[Any], list[RecordWarning]]:
    """Canonical records of one stream's rows. A value that does not fit loses its field (tallied,
    with a warning); a row whose required fields do not validate becomes a warning."""
    model = RECORD_KINDS[r.spec.kind]
    readers = r.light if light else r.readers
    tally = tally if tally is not None else FieldTally()
    sources = {k: f"{r.spec.object}.{c}" for k, c in r.cols.items()}
    good: list[Any] = []
    warnings: list[RecordWarning] = []
    for row in rows:
        rid = str(row.get("Id"))
        data: dict[str, Any] = {}
        for k, f in readers.items():
            try:
                value = f(row, as_of)
            except BadValue as exc:  # loses this field only
                raw = [row.get(c) for c in r.colmap.get(k, [])]
                tally.failed(r.spec.kind, k, rid, raw[0] if len(raw) == 1 else raw,
                             f"does not parse ({exc})", sources.get(k, ""), counted=False)
                continue
            if value is not None:
                data[k] = value
        data.update(extra or {})
        objects = data.pop(EACH, None) if EACH in readers else [{}]
        try:
            for obj in objects or []:
                good.append(validate_fieldwise(model, {**data, **obj}, r.spec.kind, rid, tally,
                                               sources))
        except ValidationError as exc:
            warnings.append(RecordWarning(kind=r.spec.kind, record_id=str(row.get("Id")),
                                          message=f"{r.spec.object}: {brief(exc)}"))
    return good, warnings


def brief(exc: ValidationError) -> str:
    parts = [f"{'.'.join(str(x) for x in e['loc']) or 'record'}: {e['msg']}"
             for e in exc.errors(include_url=False)[:3]]
    more = exc.error_count() - 3
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")
