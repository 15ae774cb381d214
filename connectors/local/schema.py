"""The local CRM's typed tables, one per record kind, derived from the canonical models.

Each model field is a column whose type and CHECK constraint admit exactly the values the
model accepts (STRICT tables), so a stored row is valid by construction and is read back
without validation; a list of values or sub-records is a JSON column validated when read.
"""

from __future__ import annotations

import contextlib
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from pydantic import TypeAdapter, ValidationError
from pydantic_core import from_json

from kamrules.model import RECORD_KINDS, Record

MAX_FLOAT = "1.7976931348623157e308"


@dataclass(frozen=True)
class Column:
    """One model field as a column: `form` is how its values are stored and read back."""

    name: str
    form: Literal["text", "bool", "float", "int", "date", "json"]
    nullable: bool
    choices: tuple[str, ...] = ()
    adapter: TypeAdapter[Any] | None = None

    def ddl(self) -> str:
        sql = {"text": "TEXT", "bool": "INTEGER", "float": "REAL", "int": "INTEGER",
               "date": "TEXT", "json": "TEXT"}[self.form]
        q = f'"{self.name}"'
        check = {
            "bool": f"{q} IN (0, 1)",
            "float": f"{q} BETWEEN -{MAX_FLOAT} AND {MAX_FLOAT}",
            # julianday normalises 2026-02-30 to March: only a real calendar date survives
            "date": f"date(julianday({q})) IS {q} AND {q} >= '0001-01-01'",
            "json": f"json_valid({q})",
        }.get(self.form, "")
        if self.choices:
            check = f"{q} IN ({', '.join(_quote(c) for c in self.choices)})"
        if check and self.nullable:
            check = f"{q} IS NULL OR ({check})"
        return f"{q} {sql}" + ("" if self.nullable else " NOT NULL") + (
            f" CHECK ({check})" if check else "")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _column(name: str, annotation: Any) -> Column:
    nullable = False
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        nullable = True
        rest = [a for a in args if a is not type(None)]
        if len(rest) != 1:
            raise TypeError(f"{name}: unsupported union {annotation!r}")
        annotation = rest[0]
    if typing.get_origin(annotation) is Literal:
        choices = typing.get_args(annotation)
        if not all(isinstance(c, str) for c in choices):
            raise TypeError(f"{name}: only text literals are supported")
        return Column(name, "text", nullable, tuple(choices))
    simple = {str: "text", bool: "bool", float: "float", int: "int", date: "date"}
    if annotation in simple:
        return Column(name, simple[annotation], nullable)  # type: ignore[arg-type]
    if typing.get_origin(annotation) is list:
        return Column(name, "json", nullable, adapter=TypeAdapter(annotation))
    raise TypeError(f"{name}: no column form for {annotation!r}")


class Dates(dict[Any, Any]):
    """ISO text -> date, each distinct day parsed once (a portfolio has a few thousand)."""

    def __missing__(self, key: str) -> date:
        value = self[key] = date.fromisoformat(key)
        return value


class Table:
    """A record kind's table: its DDL, how a validated record becomes a row and back."""

    def __init__(self, kind: str, model: type[Record]):
        self.kind = kind
        self.model = model
        self.columns = [_column(n, f.annotation) for n, f in model.model_fields.items()]
        self.names = tuple(c.name for c in self.columns)
        self.has_id = "id" in self.names
        self.account_column = "id" if kind == "accounts" else (
            "account_id" if "account_id" in self.names else None)
        self.select = ", ".join(f'"{n}"' for n in self.names)
        # what a read selects: the columns, and the key only where it is not the id column
        # (`CHECK ("key" = "id")`: 1.1 million texts fewer for SQLite to hand over at 100,000
        # accounts)
        self.read = self.select if self.has_id else f'{self.select}, "key"'
        self._id_at = self.names.index("id") if self.has_id else -1
        self._one, self.build_rows = _compile(self)

    def ddl(self) -> list[str]:
        cols = ['"key" TEXT NOT NULL PRIMARY KEY', *(c.ddl() for c in self.columns)]
        if self.has_id:
            cols.append('CHECK ("key" = "id")')  # a record is found by its id
        statements = [f'CREATE TABLE "{self.kind}" ({", ".join(cols)}) STRICT']
        if self.account_column == "account_id":
            statements.append(
                f'CREATE INDEX "{self.kind}_account" ON "{self.kind}" ("account_id")')
        return statements

    def insert_sql(self, verb: str) -> str:
        marks = ", ".join("?" * (len(self.names) + 1))
        return f'{verb} INTO "{self.kind}" ("key", {self.select}) VALUES ({marks})'

    def row(self, key: str, record: Record) -> tuple[Any, ...]:
        """A validated record's row (its key first)."""
        out: list[Any] = [key]
        for c in self.columns:
            v = getattr(record, c.name)
            if v is None:
                out.append(None)
            elif c.form == "bool":
                out.append(int(v))
            elif c.form == "date":
                out.append(v.isoformat())
            elif c.form == "json" and c.adapter is not None:
                out.append(c.adapter.dump_json(v).decode())
            else:
                out.append(v)
        return tuple(out)

    def key_of(self, row: tuple[Any, ...]) -> Any:
        """A row's key, from a row as `read` selects it."""
        return row[self._id_at]

    def values_of(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        """A row's column values in `names` order, from a row as `read` selects it."""
        return row if self.has_id else row[:-1]

    def build(self, row: tuple[Any, ...]) -> Any:
        """The record of a row as `read` selects it (columns in `names` order, then the key of a
        table without an id column), unvalidated: the
        table's constraints admit only valid values. Raises ValueError, KeyError (or a
        ValidationError) if a row is not what the constraints promise (see `build_rows`)."""
        return self._one(row)

    def as_dict(self, row: tuple[Any, ...]) -> dict[str, Any]:
        """A stored row as the record a user would have written (JSON columns parsed)."""
        out = dict(zip(self.names, row, strict=True))
        for c in self.columns:
            if c.form == "json" and isinstance(out[c.name], str):
                with contextlib.suppress(ValueError):  # else left as text: validation names it
                    out[c.name] = stored_json(out[c.name])
            elif c.form == "bool" and out[c.name] in (0, 1):
                out[c.name] = bool(out[c.name])
        return out


def stored_json(text: str | bytes) -> Any:
    """A JSON value stored in the local CRM, by pydantic-core's parser: unlike `json` it refuses
    a `\\ud800` escape (half a character, that nothing downstream can encode). ValueError."""
    return from_json(text)


BOOLS = {0: False, 1: True}
NULLABLE_BOOLS = {0: False, 1: True, None: None}
DATES = Dates({None: None})  # one cache for every table: days repeat across kinds


def _compile(table: Table) -> tuple[Callable[[tuple[Any, ...]], Any], Callable[..., None]]:
    """Builders generated from the table's columns, compiled once: `one(row)` -> record and
    `many(rows, append, salvage)`, which appends each row's record (a row that does not build
    goes to `salvage(row, exc)`, whose record, if any, is appended in its place). A row is
    unpacked into locals, each value converted inline (no calls but the JSON columns'
    validator), and set on a new record's slots: the table's constraints have validated it."""
    env: dict[str, Any] = {"M": table.model, "D": DATES, "new": object.__new__}
    names = [f"v{i}" for i in range(len(table.columns))]
    values = [value_expression(c, v, env) for c, v in zip(table.columns, names, strict=True)]
    unpack = f"{', '.join(names)}{'' if table.has_id else ', _key'} = row"
    # every value converted before the record is made, so a bad row leaves no half-set record
    convert = [f"{v} = {e}" for v, e in zip(names, values, strict=True) if e != v]
    make = ["o = new(M)", *(f"o.{c.name} = {v}" for c, v in zip(table.columns, names, strict=True))]
    source = "\n".join([
        "def one(row):", f"    {unpack}", *(f"    {x}" for x in convert),
        *(f"    {m}" for m in make), "    return o",
        # what the loop uses as defaults: locals are cheaper than globals
        f"def many(rows, append, salvage, {', '.join(f'{n}={n}' for n in env)}):",
        "    for row in rows:",
        "        try:", f"            {unpack}", *(f"            {x}" for x in convert),
        "        except (ValueError, TypeError, KeyError) as exc:",
        "            o = salvage(row, exc)",
        "            if o is not None:",
        "                append(o)",
        "            continue",
        *(f"        {m}" for m in make), "        append(o)"])
    exec(compile(source, f"<kamrules build {table.kind}>", "exec"), env)  # noqa: S102 - our own columns
    return env["one"], env["many"]


def value_expression(c: Column, v: str, env: dict[str, Any]) -> str:
    """Python source converting `v`, a stored value of column `c`, to the record's value (`v`
    itself where it is stored as it is held); it raises KeyError, ValueError or TypeError for
    a value the constraints do not admit. The converters it names are put in `env`."""
    if c.form == "bool":
        env[f"B_{v}"] = NULLABLE_BOOLS if c.nullable else BOOLS
        return f"B_{v}[{v}]"  # KeyError for anything but 0 and 1
    if c.form == "date":
        env["D"] = DATES
        return f"D[{v}]"
    if c.choices:
        # one text object per choice, shared by every record; KeyError for any other
        env[f"C_{v}"] = {**{x: x for x in c.choices}, **({None: None} if c.nullable else {})}
        return f"C_{v}[{v}]"
    if c.form == "json" and c.adapter is not None:
        env[f"J_{v}"] = _json_validator(c.adapter)
        value = f"[] if {v} == '[]' else J_{v}({v})"
        return f"None if {v} is None else ({value})" if c.nullable else value
    return v


def _json_validator(adapter: TypeAdapter[Any]) -> Callable[[Any], Any]:
    # the core validator itself: TypeAdapter.validate_json's Python wrapper costs as much
    validate = getattr(adapter, "validator", None)
    return validate.validate_json if validate is not None else adapter.validate_json  # type: ignore[no-any-return]


TABLES: dict[str, Table] = {kind: Table(kind, model) for kind, model in RECORD_KINDS.items()}

def _json_value(c: Column) -> str:
    q = f'"{c.name}"'
    if c.form == "bool":
        return f"CASE {q} WHEN 1 THEN json('true') ELSE json('false') END"
    if c.form == "json":
        return f"json({q})"
    return q


def records_view() -> str:
    """Every record as the previous version's `records` table showed it (kind, id, account_id,
    data as JSON), for reading: queries and scripts written for it keep working, and an older
    kamrules, which cannot index a view, stops instead of seeding the demo into this CRM."""
    parts = []
    for kind, table in TABLES.items():
        account = f'"{table.account_column}"' if table.account_column else "NULL"
        data = ", ".join(f"'{c.name}', {_json_value(c)}" for c in table.columns)
        parts.append(f"SELECT '{kind}' AS kind, \"key\" AS id, {account} AS account_id,"
                     f" json_object({data}) AS data FROM \"{kind}\"")
    parts.append("SELECT kind, id, account_id, data FROM records_unreadable")
    return "CREATE VIEW records AS " + " UNION ALL ".join(parts)


UNREADABLE = """CREATE TABLE IF NOT EXISTS records_unreadable (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    account_id TEXT,
    data TEXT NOT NULL,
    PRIMARY KEY (kind, id)
)"""
UNREADABLE_INDEX = ("CREATE INDEX IF NOT EXISTS unreadable_account"
                    " ON records_unreadable(kind, account_id)")


def brief(exc: ValidationError) -> str:
    """A validation error in a line: its first three problems, each with where it is."""
    parts = []
    for err in exc.errors(include_url=False)[:3]:
        where = ".".join(str(x) for x in err["loc"]) or "record"
        parts.append(f"{where}: {err['msg']}")
    more = exc.error_count() - 3
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")
