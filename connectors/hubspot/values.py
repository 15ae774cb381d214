"""HubSpot property values (always strings) parsed carefully: numbers, booleans, dates (ISO or
epoch milliseconds, as UTC), `;`-separated lists and the compact text forms the mapping documents.
A value that does not parse raises `BadValue` naming the property and the value.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from pydantic import ValidationError

from kamrules.model import RevenuePoint, RiskMeasure

Getter = Callable[[str | None], Any]


from kamrules.connectors.mapping.language import (  # noqa: E402  one failure type for both CRMs
    BadValue,
    not_a_date,
    to_float,
    utc_day,
)
from kamrules.connectors.written import Ambiguous, written_date  # noqa: E402


def blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def parse_float(value: Any, people: bool = False) -> float | None:
    """A number as a mapping's `float` reads it (finite; a number property's text as a machine
    writes it, other text as people do: `people`); blank: None."""
    return None if blank(value) else to_float(value, date.min, people)  # the date: read by no number


def parse_bool(value: Any) -> bool | None:
    if blank(value):
        return None
    text = str(value).strip().lower()
    if text in ("true", "yes", "1"):
        return True
    if text in ("false", "no", "0"):
        return False
    raise BadValue(f"{value!r} is not true or false")


def parse_date(value: Any) -> date | None:
    """HubSpot dates: `YYYY-MM-DD`, ISO datetimes (`...Z`) or epoch milliseconds, as UTC dates;
    in a text property, day first with dots as people write them (`31.10.2026`)."""
    if blank(value):
        return None
    try:
        text = written_date(str(value).strip())
    except Ambiguous as exc:
        raise BadValue(str(exc)) from None
    try:
        if text.isdigit():
            return datetime.fromtimestamp(int(text) / 1000, UTC).date()
        if len(text) == 10:
            return date.fromisoformat(text)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):  # milliseconds: past the calendar's ends
        raise not_a_date(value, past_calendar=text.isdigit()) from None
    return utc_day(value, moment)


class Props:
    """A row's property reader (None for an unmapped property or a blank value), and which of
    its properties HubSpot types as numbers: their text is machine-written (`1234.5`); any other
    property's is what people typed (`250.000`, German for 250,000), read as such. `numbers`
    None: the types are not known (read as before they were: as a machine writes)."""

    def __init__(self, props: dict[str, Any], numbers: frozenset[str] | None = None):
        self.props, self.numbers = props, numbers

    def __call__(self, name: str | None) -> Any:
        if name is None:
            return None
        value = self.props.get(name)
        return None if blank(value) else value

    def people(self, name: str | None) -> bool:
        """Whether property `name` holds text people typed, not a number HubSpot wrote."""
        return self.numbers is not None and name not in self.numbers


def getter(props: dict[str, Any], numbers: frozenset[str] | None = None) -> Props:
    """A row's property reader (`Props`)."""
    return Props(props, numbers)


def named(parse: Callable[[Any], Any], name: str | None, value: Any) -> Any:
    """`parse(value)`, a failure naming the property."""
    try:
        return parse(value)
    except BadValue as exc:
        raise BadValue(f"{name}: {exc}") from None


def prop_float(get: Props, name: str | None) -> float | None:
    return named(lambda v: parse_float(v, get.people(name)), name, get(name))


def prop_date(get: Getter, name: str | None) -> date | None:
    return named(parse_date, name, get(name))


def prop_bool(get: Getter, name: str | None) -> bool | None:
    return named(parse_bool, name, get(name))


def split(value: Any) -> list[str]:
    """A `;`-separated list (HubSpot's multiple checkboxes), blanks left out."""
    return [] if blank(value) else [x.strip() for x in str(value).split(";") if x.strip()]


def revenue_points(value: Any) -> list[RevenuePoint]:
    """`2024:1200000;2025:1350000`: text people typed, its amounts read as people write numbers
    (`2025:1.350.000`; `2025:250.000` was read as 250)."""
    points = []
    for item in split(value):
        year, _, amount = item.partition(":")
        try:
            points.append(RevenuePoint(year=int(year), amount=to_float(amount, date.min, people=True)))
        except BadValue as exc:  # the amount: why it does not read
            raise BadValue(f"revenue history entry {item!r} is not YEAR:AMOUNT ({exc})") from None
        except ValueError:
            raise BadValue(f"revenue history entry {item!r} is not YEAR:AMOUNT") from None
    return points


def risk_measures(value: Any) -> list[RiskMeasure]:
    """`kind@YYYY-MM-DD;...` (the date may be empty)."""
    out = []
    for item in split(value):
        kind, _, reviewed = item.partition("@")
        out.append(
            RiskMeasure(kind=kind.strip(), reviewed=named(parse_date, "risk measure", reviewed or None))
        )
    return out


def stamp(value: Any) -> str:
    """A modification date as a sortable UTC ISO string ('' when missing or unreadable)."""
    if blank(value):
        return ""
    text = str(value).strip()
    try:
        if text.isdigit():
            return datetime.fromtimestamp(int(text) / 1000, UTC).isoformat()
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return (moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()
    except (ValueError, OverflowError, OSError):
        return ""


def id_key(value: str) -> tuple[int, str]:
    """HubSpot ids in numeric order (any non-numeric one after them)."""
    return (int(value), "") if str(value).isdigit() else (1 << 62, str(value))


def brief(exc: Exception) -> str:
    """A record warning's message: the parse failure, or the first validation errors."""
    if isinstance(exc, ValidationError):
        parts = [
            f"{'.'.join(str(x) for x in e['loc']) or 'record'}: {e['msg']}"
            for e in exc.errors(include_url=False)[:3]
        ]
        return "; ".join(parts)
    return str(exc)
