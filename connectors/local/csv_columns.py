"""`import-csv --columns FILE`: an export's own file names, column names and values, as a CRM
mapping names a CRM's fields, so a Bitrix24 or Excel export loads as it is written, every night.

    accounts:
      file: Компании.csv              # else accounts.csv
      columns:
        id: ID                        # canonical field: the export's column (any case)
        name: Название
        tier: {column: Уровень, values: {Стратегический: strategic}}

A field given here reads only its column; values not in a field's `values` are read as they are.
Every mistake is located in the file (an unknown kind or field with a did-you-mean, a value that
the field does not take, two fields from one column).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
)

from kamrules.connectors.local.csv_cells import fold_choice, literal_choices, number_field
from kamrules.connectors.mapping.language import value_key
from kamrules.errors import Problem, ValidationFailed
from kamrules.inputs.yamlsrc import closest, load_yaml, locate, problems_from
from kamrules.model import RECORD_KINDS


class UserModel(BaseModel):
    """What an admin writes: an unknown key is an error, located with a did-you-mean."""

    model_config = ConfigDict(extra="forbid")


def _as_text(value: Any) -> Any:
    """A header YAML reads as a number (`2025:`) is the column's name as written."""
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


Text = Annotated[str, BeforeValidator(_as_text), Field(min_length=1)]


def _bare_name(value: str) -> str:
    """A file of the export's folder: `exports/x.csv` was never found there, without a reason."""
    if "/" in value or "\\" in value or value in (".", ".."):
        raise ValueError(f"{value!r}: give the file's name in the folder import-csv reads,"
                         " without a path")
    return value


FileName = Annotated[str, Field(min_length=1), AfterValidator(_bare_name)]


class Column(UserModel):
    """One field's column, and its values as the export writes them -> as kamrules takes them."""

    column: Text
    values: dict[str, str] = Field(default_factory=dict)
    # the decimal mark the export writes in this number column (`250.000` is then 250,000)
    decimal: Literal[",", "."] | None = None

    @field_validator("values", mode="before")
    @classmethod
    def _text_keys(cls, value: Any) -> Any:
        """YAML reads `да:` as text but `true:` and `1:` as a boolean and a number."""
        if isinstance(value, dict):  # and `Ключевой: true` maps to a yes
            return {value_key(k): value_key(v) if isinstance(v, bool | int | float) else v
                    for k, v in value.items()}
        return value


def _kind_model(kind: str) -> type[UserModel]:
    """`file` and `columns`, whose keys are the kind's fields (an unknown one is located)."""
    names = RECORD_KINDS[kind].model_fields
    columns = create_model(  # type: ignore[call-overload]
        f"{kind}_columns", __base__=UserModel,
        **{name: (Text | Column | None, None) for name in names})
    return create_model(  # type: ignore[call-overload, no-any-return]
        f"{kind}_file", __base__=UserModel,
        file=(FileName | None, None),
        columns=(columns, Field(default_factory=columns)))


ColumnsFile = create_model(  # type: ignore[call-overload]
    "ColumnsFile", __base__=UserModel,
    **{kind: (_kind_model(kind) | None, None) for kind in RECORD_KINDS})


@dataclass
class KindColumns:
    """One kind's names: its file, and each mapped field's column and values (keys folded)."""

    file: str | None = None
    fields: dict[str, str] = field(default_factory=dict)  # folded column -> field
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # field -> folded -> value
    named: dict[str, str] = field(default_factory=dict)  # field -> its column as written
    decimals: dict[str, str] = field(default_factory=dict)  # number field -> its decimal mark

    def field_of(self, header: str) -> str | None:
        return self.fields.get(header.strip().casefold())

    def value(self, name: str, text: str) -> str:
        """The value kamrules takes for `text` in field `name` (unchanged when not mapped)."""
        mapped = self.values.get(name)
        return text if not mapped else mapped.get(value_key(text), text)


Columns = dict[str, KindColumns]


def load_columns(path: Path) -> Columns:
    """The columns file, validated; every mistake is a located problem."""
    raw: Any = load_yaml(path) or {}
    where = str(path)
    try:
        parsed = ColumnsFile.model_validate(raw)
    except ValidationError as exc:
        raise ValidationFailed(problems_from(exc, raw, where, ColumnsFile)) from None
    out: Columns = {}
    problems = _files_taken_twice(parsed, raw, where)
    for kind in RECORD_KINDS:
        spec = getattr(parsed, kind)
        if spec is None:
            continue
        names = KindColumns(file=spec.file)
        for name, given in spec.columns:
            if given is None:
                continue
            column = given if isinstance(given, str) else given.column
            at = (kind, "columns", name)
            key = column.strip().casefold()
            if key in names.fields:
                problems.append(Problem(locate(raw, at, where), ".".join(at),
                                        f"column {column!r} is read for {names.fields[key]!r}"
                                        " already; one column gives one field"))
                continue
            names.fields[key], names.named[name] = name, column.strip()
            if isinstance(given, Column) and given.values:
                problems += _unknown_values(kind, name, given, raw, where)
                names.values[name] = dict(given.values)
            if isinstance(given, Column) and given.decimal is not None:
                if not number_field(kind, name):
                    problems.append(Problem(locate(raw, (*at, "decimal"), where), f"{'.'.join(at)}.decimal",
                                            f"{kind}.{name} holds no number: decimal is for number columns"))
                names.decimals[name] = given.decimal
        out[kind] = names
    if problems:
        raise ValidationFailed(problems)
    return out


def _files_taken_twice(parsed: Any, raw: Any, where: str) -> list[Problem]:
    """A `file:` another kind reads too (`accounts: {file: contacts.csv}` beside contacts' own):
    one of the two was reported missing, the other loaded from the wrong file."""
    owner: dict[str, str] = {}
    for kind in RECORD_KINDS:  # the kinds' own names first: the file named differs from them
        spec = getattr(parsed, kind)
        if spec is None or spec.file is None:
            owner[f"{kind}.csv"] = kind
    problems = []
    for kind in RECORD_KINDS:
        spec = getattr(parsed, kind)
        if spec is None or spec.file is None:
            continue
        taken = owner.setdefault(spec.file.lower(), kind)
        if taken != kind:
            problems.append(Problem(locate(raw, (kind, "file"), where), f"{kind}.file",
                                    f"{spec.file!r} is the {taken} file already; one file holds"
                                    " one kind"))
    return problems


def _unknown_values(kind: str, name: str, given: Column, raw: Any, where: str) -> list[Problem]:
    """A value map's target the field does not take (`Meeting`, `In Progress` are fine: read as
    a row's cell is)."""
    choices = literal_choices(RECORD_KINDS[kind].model_fields[name].annotation)
    if not choices:
        return []
    problems = []
    for theirs, ours in given.values.items():
        if fold_choice(ours, choices) not in choices:  # as a row's cell is read
            at = (kind, "columns", name, "values")
            problems.append(Problem(locate(raw, at, where), ".".join(at) + f".{theirs}",
                                    f"{name} takes {', '.join(choices)}, not {ours!r}"
                                    f"{closest(ours, choices)}"))
    return problems
