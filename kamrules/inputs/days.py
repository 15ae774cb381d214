"""Days: the dates a run may be evaluated as of, arithmetic on the dates a CRM gives, and the
longest waits and windows a user may write.

A CRM holds any date its calendar allows: 9999-12-31 is a common "never" (an open-ended
contract, a task closed by an import), and such a date plus a cooling period is past Python's
calendar. `shifted` stops at the calendar's ends instead of raising. A run's own date is
bounded (`RUN_DAYS`): a run looks back up to ten years (renotify periods, play cooldowns) and
ahead up to a year (due dates), so a date near either end is a typo, refused where it is given.
Likewise a wait of 10^10 seconds is a typo, and past Python's clock (a socket timeout or a sleep
that long raises OverflowError): the config refuses it, located.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from pydantic import AfterValidator

RUN_DAYS = (date(1900, 1, 1), date(2999, 12, 31))  # the first and last day a run may be as of
MAX_WAIT_SECONDS = 3600.0  # a network timeout, a retry's backoff, a lease, a rate window
MAX_QUEUE_SECONDS = 7 * 86400.0  # how long a queued run may wait
MAX_LOOKBACK_MINUTES = 365 * 24 * 60  # an incremental pull's look-back
MAX_REFRESH_DAYS = 3650  # days between full pulls


def shifted(day: date, days: int) -> date:
    """`day` plus `days` days, held at the calendar's first or last day."""
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return date.max if days > 0 else date.min


def run_day_problem(day: date) -> str | None:
    """Why `day` cannot be a run's date (None: it can)."""
    first, last = RUN_DAYS
    if first <= day <= last:
        return None
    return f"{day} is outside the days a run may be as of ({first} to {last})"


def _run_day(day: date) -> date:
    problem = run_day_problem(day)
    if problem is not None:
        raise ValueError(problem)
    return day


# a date a pack's test case or play case runs as of: `as_of: 0001-01-01` was exit 5
RunDay = Annotated[date, AfterValidator(_run_day)]
