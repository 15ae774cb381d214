"""The data-quality gate: before anything is written, a mapped field that failed to parse on more
than `data_quality.max_field_failure_share` of the records that have it stops the run; so do
accounts that could not be read at all, past the same share of the accounts.

A mapping mistake (a boolean where an enum is expected, a number where a history is) must never
raise or close tasks across a whole portfolio; this is where the run stops instead.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field

from kamrules.model import SAMPLES, WHOLE, FieldStat, RecordWarning, whole_records
from kamrules.run.cleaning import skipped_accounts

UNREAD = whole_records("accounts")


class DataQualitySettings(BaseModel):
    """`data_quality:` in kamrules.yaml."""

    model_config = ConfigDict(extra="forbid")

    max_field_failure_share: float = Field(
        default=0.05, ge=0, le=1,
        description="stop before writing when a mapped field fails on more than this share of "
        "the records that have a value for it")
    min_records: int = Field(
        default=10, ge=1,
        description="a field with a value on fewer records than this is never judged (one bad date "
        "on the only ticket that has one is not a mapping mistake)")


class GateProblem(BaseModel):
    """One field that tripped the gate: its share of failed values and three of them."""

    model_config = ConfigDict(extra="forbid")

    field: str
    source: str = ""
    failed: int
    present: int
    share: float
    samples: list[str] = Field(default_factory=list)

    def __str__(self) -> str:
        if self.field.endswith(WHOLE):  # records skipped whole: no value failed to parse
            return (f"{self.field.removesuffix(WHOLE)}: {self.failed:,} of {self.present:,} records"
                    f" could not be used ({self.share:.0%}; the warnings say why of each); e.g."
                    f" {', '.join(self.samples)}")
        source = f" (from {self.source})" if self.source else ""
        return (f"field {self.field}{source} failed to parse on {self.failed:,} of {self.present:,}"
                f" records ({self.share:.0%}); e.g. {', '.join(self.samples)}")


def check(stats: dict[str, FieldStat], settings: DataQualitySettings) -> list[GateProblem]:
    """The fields whose failure share is above the limit, worst first."""
    problems = [
        GateProblem(field=s.field, source=s.source, failed=s.failed, present=s.present,
                    share=round(s.share, 4), samples=s.samples)
        for s in stats.values()
        if s.present >= settings.min_records and s.failed and s.share > settings.max_field_failure_share
    ]
    return sorted(problems, key=lambda p: (-p.share, p.field))


def gate(stats: dict[str, FieldStat], warnings: Iterable[RecordWarning], read: set[str],
         settings: DataQualitySettings) -> list[GateProblem]:
    """`check` of the mapped fields and of the accounts a connector skipped because they did
    not validate, as a field every account has (`read`: the ids of those read): a CRM whose
    accounts mostly do not read (a column edited by hand, an import gone wrong) trips the gate
    like a mapped field, instead of the run judging the accounts left against a portfolio that
    lacks the rest."""
    skipped = skipped_accounts(warnings, read)
    unread = FieldStat(field=UNREAD, present=len(read) + len(skipped), failed=len(skipped),
                       samples=skipped[:SAMPLES])
    return check({**stats, UNREAD: unread}, settings)
