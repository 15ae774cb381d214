"""Task text filters remember what they formatted (issue #18); what they give must be what a
fresh formatter gives, for every locale kamrules ships and the numbers where keys could clash
(-0.0 and 0.0, 1 and 1.0 and True, NaN)."""

from __future__ import annotations

from datetime import date

import pytest

from kamrules.language import template
from kamrules.language.template import People, people

AS_OF = date(2026, 11, 1)
VALUES = [0, 0.0, -0.0, -0.04, 0.04, 1, 1.0, True, False, 1.04, 1.05, 2, 3, 4.5, 5, 11, 21, 22, 25,
          101, 1234.5, -7, -7.25, 9.96, 10, 10.4, 99.5, 1e6, -1e-9, float("nan"), "3", "2.5"]


def _fresh(locale: str, name: str, *args: object) -> object:
    try:
        return getattr(People(locale, "EUR", AS_OF), name)(*args)
    except Exception as exc:  # noqa: BLE001 (the same failure is the same answer)
        return type(exc)


@pytest.mark.parametrize("locale", ["en", "ru", "sr", "sr_Latn", "de_CH", "fr"])
def test_remembered_text_is_what_a_fresh_formatter_gives(locale: str) -> None:
    shared = People(locale, "EUR", AS_OF)
    calls: list[tuple[object, ...]] = []
    for v in VALUES:
        calls += [("num", v), ("num", v, 2), ("num", v, 0), ("pct", v), ("pct", v, 1), ("money", v),
                  ("plural", v, "day", "days"), ("plural", v, "a", "b", "c"), ("form", v, "x", "y", "z")]
    calls += [("date", "2026-02-03"), ("date", date(2025, 12, 31)), ("ago", 3), ("ago", 3.0), ("ago", 400)]
    for _round in range(2):  # the second time from the memo
        for name, *args in calls:
            try:
                got: object = getattr(shared, name)(*args)
            except Exception as exc:  # noqa: BLE001
                got = type(exc)
            assert got == _fresh(locale, name, *args), (locale, name, args)


def test_negative_zero_keeps_its_sign() -> None:
    p = People("en", "EUR", AS_OF)
    assert p.pct(-0.2) == "-0%" and p.pct(0.2) == "0%" and p.pct(-0.2) == "-0%"
    assert p.num(-0.04, 1) == "0" == p.num(0.04, 1)  # a whole number: no sign on zero


def test_the_memo_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(template, "MEMO_SIZE", 10)
    p = People("en", "EUR", AS_OF)
    for i in range(50):
        assert p.num(i + 0.25, 2) == f"{i}.25"
    assert len(p._memo) <= 10


def test_one_people_per_locale_currency_and_date() -> None:
    assert people("ru", "RUB", AS_OF) is people("ru", "RUB", AS_OF)
    assert people("ru", "RUB", AS_OF) is not people("ru", "EUR", AS_OF)
