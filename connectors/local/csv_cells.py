"""One CSV cell as the record model reads it: lists, dates, numbers and choices as exports
write them, and a refusal (`BadCell`) where the model would read a cell wrongly rather than
refuse it (kamrules/connectors/local/csv_import.py reads the files)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any, Literal, get_args, get_origin

from kamrules.connectors.written import Ambiguous, written_date, written_number
from kamrules.model import RECORD_KINDS


def _parse_list(name: str, value: str, decimal: str | None = None) -> list[Any]:
    items = [v.strip() for v in value.split(";") if v.strip()]
    if name == "revenue":
        points = []
        for item in items:
            year, _, amount = item.partition(":")
            points.append({"year": year, "amount": _number_text(f"{name} {item!r}", amount, decimal)})
        return points
    if name == "risk_measures":
        measures = []
        for item in items:
            kind, _, reviewed = item.partition("@")
            measures.append({"kind": kind, "reviewed": _date_text(f"{name} {item!r}", reviewed)
                             if reviewed else None})
        return measures
    return items


class BadCell(ValueError):
    """A cell the record model would read wrongly rather than refuse; the row is skipped."""


def _date_text(name: str, value: str) -> str:
    """A date cell as the record reads it: YYYY-MM-DD, or day first with dots (connectors/
    written.py); a number is refused (pydantic reads it as Unix time: `0` was 1970-01-01, an
    Excel day number 46023 a time on 1970-01-01), and so is a date with slashes, which may be
    either month or day first."""
    try:
        text = written_date(value)
    except Ambiguous as exc:
        raise BadCell(f"{name}: {exc}") from None
    try:
        float(text)
    except ValueError:
        return text
    raise BadCell(f"{name}: {value!r} is a number, not a date (write YYYY-MM-DD)")


def _number_text(name: str, value: str, decimal: str | None = None) -> str:
    """A number cell as the model reads it, whichever of `.` and `,` groups the thousands and
    which marks the decimals (every row of a Russian, Serbian or German export was refused);
    `250.000`, which may be either, is refused unless the column's `decimal` mark is given
    (connectors/written.py)."""
    try:
        return written_number(value, decimal)
    except Ambiguous as exc:
        raise BadCell(f"{name}: {exc} (or give the column its decimal mark in --columns:"
                      " `decimal: \",\"` or `\".\"`)") from None
    except ValueError as exc:  # a mark the column's `decimal` does not allow
        raise BadCell(f"{name}: {exc}") from None


def _numeric(annotation: Any) -> bool:
    return bool({float, int} & {annotation, *get_args(annotation)})


def number_field(kind: str, name: str) -> bool:
    """Whether a record field holds numbers (`revenue`: amounts)."""
    return name == "revenue" or _numeric(RECORD_KINDS[kind].model_fields[name].annotation)


# Yes and no as people write them and Excel exports its TRUE and FALSE in Russian, Serbian,
# German and French (pydantic takes English: true, yes, 1...); anything else it refuses
YES_NO = {
    **dict.fromkeys(("да", "истина", "da", "tačno", "тачно", "ja", "wahr", "oui", "vrai"), "true"),
    **dict.fromkeys(("нет", "ложь", "ne", "не", "netačno", "нетачно", "nein", "falsch", "non",
                     "faux"), "false"),
}


def literal_choices(annotation: Any) -> tuple[str, ...]:
    """The string values of a Literal field (also inside Optional or list), else ()."""
    if get_origin(annotation) is Literal:
        return tuple(a for a in get_args(annotation) if isinstance(a, str))
    return tuple(c for arg in get_args(annotation) for c in literal_choices(arg))


def fold_choice(value: str, choices: tuple[str, ...]) -> str:
    """`Meeting` -> `meeting`, `Account Manager` -> `account_manager` when the field takes it;
    anything else unchanged."""
    key = _folded(value)
    for choice in choices:
        if key == _folded(choice):
            return choice
    return value


def _folded(text: str) -> str:
    return re.sub(r"[\s_-]+", "_", text.strip().lower())


def _as_is(name: str, text: str) -> str:
    return text


def row_to_record(kind: str, row: dict[str, str],
                  value_of: Callable[[str, str], str] = _as_is,
                  decimals: dict[str, str] | None = None) -> dict[str, Any]:
    """A CSV row (keys already model field names) as the dict the record model validates;
    `value_of(field, text)` gives a columns file's value for the export's (each item of a
    list); `decimals`: a number field's decimal mark, as the columns file gives it."""
    decimals = decimals or {}
    model = RECORD_KINDS[kind]
    record: dict[str, Any] = {}
    for name, value in row.items():
        if name is None or name not in model.model_fields:
            continue
        value = (value or "").strip()
        if value == "":
            continue
        annotation = model.model_fields[name].annotation
        choices = literal_choices(annotation)
        if str(annotation).startswith("list"):
            items = _parse_list(name, value, decimals.get(name))
            record[name] = [fold_choice(value_of(name, i), choices) if isinstance(i, str) else i
                            for i in items]
            continue
        value = value_of(name, value)
        if annotation is date or date in get_args(annotation):
            record[name] = _date_text(name, value)
        elif _numeric(annotation):
            record[name] = _number_text(name, value, decimals.get(name))
        elif annotation is bool:
            record[name] = YES_NO.get(value.lower(), value)
        else:
            record[name] = fold_choice(value, choices)
    return record
