"""Five-field cron expressions (minute hour day-of-month month day-of-week), checked strictly.

Small on purpose: `*`, numbers, ranges `a-b`, lists `a,b` and steps `*/n` or `a-b/n`; day of
week 0-7 with 0 and 7 for Sunday. A day-of-month and a day-of-week that are both restricted
match when either does, as in Vixie cron.
"""

from __future__ import annotations

from datetime import datetime

DAYS_IN = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}
FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12),
          ("day of week", 0, 7))


class Cron:
    def __init__(self, expression: str):
        parts = expression.split()
        if len(parts) != 5:
            raise ValueError(f"a cron expression has 5 fields (minute hour day month weekday),"
                             f" got {len(parts)}: {expression!r}")
        self.expression = expression
        self.sets = [_field(p, name, lo, hi) for p, (name, lo, hi) in zip(parts, FIELDS, strict=True)]
        if 7 in self.sets[4]:
            self.sets[4].add(0)
        self.any_day = parts[2] == "*"
        self.any_weekday = parts[4] == "*"
        # `0 2 30 2 *` (February 30th) parses and never fires: the tenant would never run
        if self.any_weekday and not any(d <= DAYS_IN[m] for m in self.sets[3] for d in self.sets[2]):
            raise ValueError(f"{expression!r} never fires: no month of it has such a day")

    def matches(self, at: datetime) -> bool:
        """Whether the minute `at` falls in is one this expression fires on."""
        minute, hour, day, month, weekday = self.sets
        if at.minute not in minute or at.hour not in hour or at.month not in month:
            return False
        day_ok, weekday_ok = at.day in day, (at.isoweekday() % 7) in weekday
        if self.any_day or self.any_weekday:
            return day_ok and weekday_ok
        return day_ok or weekday_ok


def _field(text: str, name: str, lo: int, hi: int) -> set[int]:
    values: set[int] = set()
    for item in text.split(","):
        base, _, step_text = item.partition("/")
        step = _number(step_text, name) if step_text else 1
        if step < 1:
            raise ValueError(f"{name}: step must be at least 1 in {item!r}")
        if base == "*":
            start, end = lo, hi
        elif "-" in base:
            a, b = base.split("-", 1)
            start, end = _number(a, name), _number(b, name)
        else:
            start = _number(base, name)
            end = hi if step_text else start
        if not (lo <= start <= hi and lo <= end <= hi) or start > end:
            raise ValueError(f"{name}: {item!r} is outside {lo}-{hi}")
        values.update(range(start, end + 1, step))
    return values


def _number(text: str, name: str) -> int:
    if not text.isdigit():
        raise ValueError(f"{name}: {text!r} is not a number")
    return int(text)
