"""Each kind's records a pull of the local CRM read, and those skipped whole, tallied for the
data-quality gate as a field of their own (`activities (whole records)`).

Salesforce and HubSpot tally each mapped field, and a record skipped for a required field that
fails counts there; the local CRM stores records typed, so a record fails whole (kept in
`records_unreadable`, or a row edited by hand past its table's constraints). Without this tally
a CRM whose activities mostly do not read would have run on what was left and raised "no touch
in 90 days" across the portfolio.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence, Sized

from kamrules.model import FieldStat, RecordWarning, whole_records

SAMPLES = 3


def tally(stats: dict[str, FieldStat], kind: str, read: int, skipped: Sequence[str]) -> None:
    """`read` records of `kind` built and `skipped` (their ids) did not, added to `stats`."""
    name = whole_records(kind)
    stat = stats.get(name)
    if stat is None:
        stat = stats[name] = FieldStat(field=name)
    stat.present += read + len(skipped)
    stat.failed += len(skipped)
    for rid in skipped[:SAMPLES]:
        if len(stat.samples) < SAMPLES and rid not in stat.samples:
            stat.samples.append(rid)


def users_tally(users: Sized, warnings: Iterable[RecordWarning]) -> dict[str, FieldStat]:
    """The users' tally, from the users a pull built and the warnings of those it did not."""
    stats: dict[str, FieldStat] = {}
    tally(stats, "users", len(users), [w.record_id for w in warnings if w.kind == "users"])
    return stats
