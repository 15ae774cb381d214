"""Salesforce field values -> the canonical model's values, by the mapping's `convert:` name.

A value that does not convert is returned as it is, so the record's validation names it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any


def to_text(v: Any, as_of: date) -> Any:
    return v


def to_date(v: Any, as_of: date) -> Any:
    return str(v)[:10]


def to_bool(v: Any, as_of: date) -> Any:
    if isinstance(v, str):
        return v.strip().lower() in ("true", "1", "yes")
    return bool(v)


def to_float(v: Any, as_of: date) -> Any:
    try:
        return float(v)
    except (TypeError, ValueError):
        return v  # let validation name it


def to_split(v: Any, as_of: date) -> Any:
    return [p.strip() for p in str(v).split(";") if p.strip()]


def to_revenue(v: Any, as_of: date) -> Any:
    """`2024:1200000;2025:1350000` (a history field), or one number (AnnualRevenue: last year)."""
    if isinstance(v, int | float) or (isinstance(v, str) and ":" not in v):
        try:
            return [{"year": as_of.year - 1, "amount": float(v)}]
        except ValueError:
            return v
    points = []
    for part in str(v).split(";"):
        year, _, amount = part.partition(":")
        try:
            points.append({"year": int(year), "amount": float(amount)})
        except ValueError:
            return v
    return points


CONVERTERS: dict[str, Callable[[Any, date], Any]] = {
    "text": to_text, "date": to_date, "bool": to_bool, "float": to_float, "split": to_split,
    "revenue": to_revenue,
}
