"""The field-mapping language both CRM connectors share: how one canonical field is read from a
CRM record. One `Spec` per canonical field; `evaluate` applies it to a record's raw values.

  NAME                                     the CRM field as it is
  {field: NAME, convert: date|bool|float|int|text|split|revenue}
  {field: NAME, values: {CRM value: canonical value}, default: V}   case-insensitive value map
  {field: NAME, split: ";"}                a multi-select: a list of values (each through `values`)
  {field: NAME, split: ";", item: kind}    ... a list of objects, one per value: [{kind: v}, ...]
  {coalesce: [A, B, C]}                    the first of these fields that is not empty
  {items: [{year: {relative_year: -1}, amount: {field: X, convert: float}}, ...]}
                                           a list of objects composed from several fields; an
                                           object with an empty field is left out, and one whose
                                           field is a split list becomes one object per value
  {const: V}                               the same value for every record
  {relative_year: -1}                      the as-of year plus this (for `items`)
A value that does not convert raises `BadValue`: the connector leaves that field unknown.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from kamrules.connectors.written import Ambiguous, written_date, written_number

Convert = Literal["text", "date", "bool", "float", "int", "split", "revenue"]
NUMBER_READS = ("float", "int", "revenue")  # the conversions that read numbers
SOURCES = ("field", "const", "coalesce", "items", "relative_year")
Get = Callable[[str], Any]


class BadValue(ValueError):
    """A CRM value that does not convert to what the mapping asks for."""


class AmbiguousValue(BadValue):
    """A number people wrote that reads two ways (`250.000`): a mapping's `decimal:` settles it."""


def not_a_date(value: Any, past_calendar: bool = False) -> BadValue:
    """A value that does not read as a date; `past_calendar`: it is a moment, but its UTC
    date is outside the calendar (9999-12-31 late in the evening west of Greenwich)."""
    if past_calendar:
        return BadValue(f"{value!r} is outside the calendar as a UTC date"
                        " (0001-01-01 to 9999-12-31)")
    return BadValue(f"{value!r} is not a date")


def utc_day(value: Any, moment: datetime) -> date:
    """The UTC date of a moment read from `value` (a moment without a zone is taken as UTC)."""
    try:
        return (moment.astimezone(UTC) if moment.tzinfo else moment).date()
    except OverflowError:
        raise not_a_date(value, past_calendar=True) from None


class Spec(BaseModel):
    """How one canonical field is read (see the module docstring for each construct)."""

    model_config = ConfigDict(extra="forbid")

    # an empty list read nothing: the field was empty on every record, without a word
    field: str | Annotated[list[str], Field(min_length=1)] | None = None
    const: Any = None
    coalesce: Annotated[list[str], Field(min_length=1)] | None = None
    items: list[dict[str, str | Spec]] | None = None
    relative_year: int | None = Field(default=None, ge=-1000, le=1000)  # the year stays a year
    convert: Convert = "text"
    values: dict[str, Any] | None = None
    default: Any = None
    split: str | None = None
    item: str | None = None
    # the decimal mark people write in this field's text (`250.000` is then 250,000, not refused)
    decimal: Literal[",", "."] | None = None
    _lookup: dict[str, Any] = PrivateAttr(default_factory=dict)

    @field_validator("values", mode="before")
    @classmethod
    def _text_keys(cls, value: Any) -> Any:
        """YAML reads `true:` and `1:` as a boolean and a number: keys are CRM values as text."""
        if isinstance(value, dict):
            return {(str(k).lower() if isinstance(k, bool) else str(k)): v for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _check(self) -> Spec:
        if self.item is not None and self.split is None:
            raise ValueError("item needs split: the separator of the multi-select values")
        if self.split == "":  # str.split("") raised on the first record (exit 5)
            raise ValueError("split needs a separator of one or more characters (`;`)")
        if self.decimal is not None and self.convert not in NUMBER_READS:
            raise ValueError(f"decimal needs convert: {', '.join(NUMBER_READS)}")
        self._lookup = {value_key(k): v for k, v in (self.values or {}).items()}
        return self

    def lookup(self, raw: Any) -> tuple[bool, Any]:
        """(found, canonical value) of a CRM value in `values`, case-insensitively."""
        key = value_key(raw)
        return key in self._lookup, self._lookup.get(key)

    def sources(self) -> list[str]:
        return [k for k in SOURCES if k in self.model_fields_set]

    def names(self) -> list[str]:
        """Every CRM field this spec reads (for `field`, its candidates)."""
        if self.field is not None:
            return [self.field] if isinstance(self.field, str) else list(self.field)
        if self.coalesce:
            return list(self.coalesce)
        out: list[str] = []
        for item in self.items or []:
            for sub in item.values():
                out += as_spec(sub).names()
        return out


def as_spec(raw: str | Spec) -> Spec:
    return Spec(field=raw) if isinstance(raw, str) else raw


def value_key(value: Any) -> str:
    """A value-map key: case-insensitive, `1.0` as `1`, booleans as true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip().casefold()


def blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


# --- conversions (strict: a failure raises BadValue) ------------------------------------------


GROUPED = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?")  # 1,234,567.5


def number_text(v: Any) -> str:
    """A number's text without its thousands commas; a comma that does not group thousands
    (`12,5`: a decimal comma?) is refused, never read as 125."""
    text = str(v).strip()
    if "," not in text:
        return text
    if GROUPED.fullmatch(text):
        return text.replace(",", "")
    raise BadValue(f"{v!r} is not a number: a comma may only group thousands (1,234.5),"
                   " and a decimal comma is not read")


def to_float(v: Any, as_of: date, people: bool = False, decimal: str | None = None) -> float:
    """A number; `people`: text people typed (a CRM text field), read as people write numbers
    (`1.250.000,50`; `250.000` refused: connectors/written.py), else text a machine
    wrote (a HubSpot number property: thousands commas only); `decimal`: the mark people write
    for the decimals in this field (then nothing they write is ambiguous)."""
    if isinstance(v, bool):
        raise BadValue(f"{v!r} is not a number")
    try:
        text = (written_number(v, decimal) if people else number_text(v)) if isinstance(v, str) else v
        number = float(text)
    except Ambiguous as exc:
        raise AmbiguousValue(str(exc)) from None
    except BadValue:
        raise
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int past a float's range
        raise BadValue(f"{v!r} is not a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise BadValue(f"{v!r} is not a finite number")
    return number


def to_int(v: Any, as_of: date, people: bool = False, decimal: str | None = None) -> int:
    number = to_float(v, as_of, people, decimal)
    if not number.is_integer():
        raise BadValue(f"{v!r} is not a whole number")
    return int(number)


def to_bool(v: Any, as_of: date) -> bool:
    if isinstance(v, bool):
        return v
    text = str(v).strip().lower()
    if text in ("true", "yes", "1", "y"):
        return True
    if text in ("false", "no", "0", "n"):
        return False
    raise BadValue(f"{v!r} is not true or false")


def to_date(v: Any, as_of: date) -> date:
    """`YYYY-MM-DD`, ISO date-times (as UTC dates), epoch milliseconds, or day first with dots as
    people write dates (`31.10.2026`; one with slashes is refused: connectors/written.py)."""
    if isinstance(v, datetime):
        return v.date()
    if isinstance(v, date):
        return v
    try:
        text = written_date(str(v).strip())
    except Ambiguous as exc:
        raise BadValue(str(exc)) from None
    millis = text.isdigit() and len(text) > 8
    try:
        if millis:
            return datetime.fromtimestamp(int(text) / 1000, UTC).date()
        if len(text) == 10:
            return date.fromisoformat(text)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("+0000", "+00:00"))
    except (ValueError, OverflowError, OSError):  # milliseconds: past the calendar's ends
        raise not_a_date(v, past_calendar=millis) from None
    return utc_day(v, moment)


def to_split(v: Any, as_of: date) -> list[str]:
    return [p.strip() for p in str(v).split(";") if p.strip()]


def to_revenue(v: Any, as_of: date, people: bool = False,
               decimal: str | None = None) -> list[dict[str, Any]]:
    """`2024:1200000;2025:1350000` (a history), or one number (last year's revenue); `people`:
    as `to_float`."""
    if isinstance(v, int | float) or (isinstance(v, str) and ":" not in v):
        return [{"year": as_of.year - 1, "amount": to_float(v, as_of, people, decimal)}]
    points = []
    for part in to_split(v, as_of):
        year, _, amount = part.partition(":")
        try:
            points.append({"year": int(year), "amount": to_float(amount, as_of, people, decimal)})
        except AmbiguousValue as exc:  # `2025:250.000`: which of two amounts, and how to settle it
            raise AmbiguousValue(f"revenue entry {part!r}: {exc}") from None
        except ValueError:  # BadValue too: an amount that is not a finite number
            raise BadValue(f"revenue entry {part!r} is not YEAR:AMOUNT") from None
        if not 1 <= points[-1]["year"] <= 9999:  # `20255:...` (a typo) was dropped as a future year
            raise BadValue(f"revenue entry {part!r}: {year.strip()} is not a year")
    return points


CONVERTERS: dict[str, Callable[[Any, date], Any]] = {
    "text": lambda v, as_of: v, "date": to_date, "bool": to_bool, "float": to_float,
    "int": to_int, "split": to_split, "revenue": to_revenue,
}
# the converters that read text people typed apart from text a machine wrote
NUMBER_CONVERTERS: dict[str, Callable[[Any, date, bool, str | None], Any]] = {
    "float": to_float, "int": to_int, "revenue": to_revenue,
}


def people_wrote(name: str) -> bool:
    """Whether a CRM field's text is people's: every text is (a number a CRM types as one
    arrives as a number), unless the connector knows better (HubSpot sends numbers as text)."""
    return True


# --- evaluation -------------------------------------------------------------------------------


class Seen:
    """Raw values met by value maps: every one (a few hundred at most) and the unmapped ones."""

    def __init__(self) -> None:
        self.values: dict[str, int] = {}
        self.unmapped: set[str] = set()

    def add(self, raw: Any, mapped: bool) -> None:
        text = str(raw)
        if text in self.values or len(self.values) < 200:
            self.values[text] = self.values.get(text, 0) + 1
        if not mapped:
            self.unmapped.add(text)


def evaluate(spec: Spec, get: Get, as_of: date, seen: Seen | None = None,
             people: Callable[[str], bool] = people_wrote) -> Any:
    """The canonical value of one field of a record (None: empty); BadValue when it does not
    convert. `people(name)`: whether the text of CRM field `name` was typed by people."""
    if "const" in spec.model_fields_set:
        return spec.const
    if spec.relative_year is not None:
        return as_of.year + spec.relative_year
    if spec.items is not None:
        return list(_objects(spec.items, get, as_of, seen, people))
    names = spec.coalesce or ([spec.field] if isinstance(spec.field, str) else list(spec.field or []))
    name, raw = next(((n, v) for n in names if not blank(v := get(n))), ("", None))
    if raw is None:
        return spec.default
    by_people = people(name)
    if spec.split is not None:
        parts = [p.strip() for p in str(raw).split(spec.split) if p.strip()]
        out = [v for p in parts if (v := _one(spec, p, as_of, seen, by_people)) is not None]
        return [{spec.item: v} for v in out] if spec.item else out
    return _one(spec, raw, as_of, seen, by_people)


def _one(spec: Spec, raw: Any, as_of: date, seen: Seen | None, people: bool) -> Any:
    if spec.values is not None:
        mapped, value = spec.lookup(raw)
        if seen is not None:
            seen.add(raw, mapped)
        if mapped:
            raw, people = value, False  # the mapping file's value, not the CRM's text
        elif spec.default is not None:
            return spec.default
    if raw is None:
        return spec.default
    if spec.convert in NUMBER_CONVERTERS:
        try:
            return NUMBER_CONVERTERS[spec.convert](raw, as_of, people, spec.decimal)
        except AmbiguousValue as exc:
            raise BadValue(f"{exc}, or give the field in the mapping the decimal mark its people"
                           " write (`decimal: \",\"` or `decimal: \".\"`)") from None
    return CONVERTERS[spec.convert](raw, as_of)


def _objects(items: list[dict[str, str | Spec]], get: Get, as_of: date, seen: Seen | None,
             people: Callable[[str], bool]) -> Iterator[dict[str, Any]]:
    for item in items:
        obj = {k: evaluate(as_spec(s), get, as_of, seen, people) for k, s in item.items()}
        if any(blank(v) for v in obj.values()):
            continue
        lists = [k for k, s in item.items() if as_spec(s).split is not None and not as_spec(s).item]
        if not lists:
            yield obj
            continue
        key = lists[0]
        for value in obj[key]:
            yield {**obj, key: value}
