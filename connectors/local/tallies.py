"""Each kind's records a pull of the local CRM read, and those skipped whole, tallied for the
data-quality gate as a field of their own (`activities (whole records)`).

Salesforce and HubSpot tally each mapped field, and a record skipped for a required field that
fails counts there; the local CRM stores records typed, so a record fails whole (kept in
`records_unreadable`, or a row edited by hand past its table's constraints), or belongs to no
account in the CRM. Without this tally a CRM whose activities mostly do not read (or were
imported with account ids that match none) would have run on what was left and raised "no
touch in 90 days" across the portfolio.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence, Sized

from kamrules.model import SAMPLES, FieldStat, RecordWarning, merge_stats, whole_records


def tally(stats: dict[str, FieldStat], kind: str, read: int, skipped: Sequence[str]) -> None:
    """`read` records of `kind` built and `skipped` (their ids) did not, added to `stats`."""
    name = whole_records(kind)
    merge_stats(stats, {name: FieldStat(field=name, present=read + len(skipped),
                                        failed=len(skipped), samples=list(skipped[:SAMPLES]))})


def plan_tally(users: Sized, warnings: Iterable[RecordWarning], orphans: Iterable[RecordWarning]
               ) -> dict[str, FieldStat]:
    """What a chunk plan reads before the chunks: the users it built and the warnings of those
    it did not, and the records whose account is not in the CRM (no chunk holds them; each counts
    as skipped of its kind, whatever the run reads: records imported with account ids that match
    no account would leave every account without them)."""
    stats: dict[str, FieldStat] = {}
    tally(stats, "users", len(users), [w.record_id for w in warnings if w.kind == "users"])
    by_kind: dict[str, list[str]] = {}
    for w in orphans:
        by_kind.setdefault(w.kind, []).append(w.record_id)
    for kind, ids in by_kind.items():
        tally(stats, kind, 0, ids)
    return stats
