"""Numbers a CRM writes as text (HubSpot's number properties, read as a machine writes them; text
people typed is read as tests/test_written.py says): commas that group thousands are
read, a decimal comma is refused with a located reason (it was read as a thousands comma: a
survey score of 4,5 became 45), and an integer past a float's range is a bad value, not an
OverflowError."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from kamrules.connectors.hubspot.values import parse_float
from kamrules.connectors.mapping.language import BadValue, Spec, to_float, to_int, to_revenue
from tests.conftest import ANCHOR

READERS = (lambda v: to_float(v, ANCHOR), parse_float)


@pytest.mark.parametrize(("text", "number"), [
    ("1,234", 1234.0), ("1,234,567.5", 1234567.5), ("-1,000", -1000.0), (" 7 ", 7.0),
    ("12.5", 12.5), ("1e3", 1000.0),
])
def test_thousands_commas_are_read(text: str, number: float) -> None:
    assert [read(text) for read in READERS] == [number, number]


@pytest.mark.parametrize("text", ["4,5", "12,5", "1,23", "1,2345", ",5", "1,234,5"])
def test_a_decimal_comma_is_refused_not_read_as_thousands(text: str) -> None:
    for read in READERS:
        with pytest.raises(BadValue, match="a comma may only group thousands"):
            read(text)


@pytest.mark.parametrize("value", [10**400, "1e400", "nan"])
def test_numbers_past_a_float_are_bad_values(value: Any) -> None:
    for read in (*READERS, lambda v: to_int(v, ANCHOR)):
        with pytest.raises(BadValue):
            read(value)


def test_a_revenue_history_reads_its_amounts_as_numbers() -> None:
    """An amount reads as any number does: thousands commas, and a decimal comma, NaN or an
    infinity fail the field here, naming the entry (NaN passed here, left to the record's
    validation)."""
    assert to_revenue("2024:1,200,000;2025:1350000", ANCHOR) == [
        {"year": 2024, "amount": 1200000.0}, {"year": 2025, "amount": 1350000.0}]
    for text in ("2025:nan", "2025:1e400", "2025:4,5", "soon:5"):
        with pytest.raises(BadValue, match="is not YEAR:AMOUNT"):
            to_revenue(text, ANCHOR)


def test_a_revenue_year_outside_the_calendar_fails_the_field() -> None:
    """`2024:1200000;20255:1350000` (a typo) read the second entry as year 20255, a future year every
    revenue fact passes over: the account's latest revenue was dropped without a word."""
    assert to_revenue(" 2025 :5", ANCHOR) == [{"year": 2025, "amount": 5.0}]
    for text in ("2024:1200000;20255:1350000", "0:5", "-2024:5", "99999999999999999999999:5"):
        with pytest.raises(BadValue, match="is not a year"):
            to_revenue(text, ANCHOR)
    with pytest.raises(ValidationError, match="relative_year"):
        Spec.model_validate({"relative_year": 9223372036854775000})
