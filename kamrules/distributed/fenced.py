"""A connector whose writes go out in batches, each only after the run's lease is checked.

The wrapped connector does the work; this only cuts `apply` into batches of at most `batch`
writes and calls the fencing check before each one (and before committing bookmarks), so a
worker that lost its lease stops at the next batch boundary.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import date

from kamrules.model import Account, Snapshot, Task
from kamrules.protocol.changes import Change, ChangeResult
from kamrules.protocol.connector import (
    AccountSummary,
    Connector,
    Progress,
    StreamingConnector,
    SummaryConnector,
    no_progress,
)

WRITE_BATCH = 100  # HubSpot's batch size; Salesforce's composite calls take 200


class Fenced:
    def __init__(self, inner: Connector, check: Callable[[], None], batch: int = WRITE_BATCH):
        self.inner, self.check, self.batch = inner, check, batch
        self.batches = 0

    def pull(self, as_of: date, progress: Progress = no_progress) -> Snapshot:
        return self.inner.pull(as_of, progress)

    def list_tasks(self, completed_since: date) -> list[Task]:
        return self.inner.list_tasks(completed_since)

    def apply(self, changes: Sequence[Change], progress: Progress = no_progress) -> list[ChangeResult]:
        results: list[ChangeResult] = []
        for part in _batches(changes, self.batch):
            self.check()
            self.batches += 1
            results += self.inner.apply(part, progress)
        return results

    def commit(self) -> None:
        self.check()
        self.inner.commit()

    @property
    def api_calls(self) -> int:
        return self.inner.api_calls

    def close(self) -> None:
        self.inner.close()


class FencedStreaming(Fenced):
    inner: StreamingConnector

    def pull_accounts(self, as_of: date) -> Iterator[Account]:
        return self.inner.pull_accounts(as_of)

    def pull_chunks(self, as_of: date, size: int, progress: Progress = no_progress,
                    key_only: frozenset[str] = frozenset()) -> Iterator[Snapshot]:
        return self.inner.pull_chunks(as_of, size, progress, key_only)


class FencedSummaries(FencedStreaming):
    """Reads pass through unchanged, so the narrow account read (`SummaryConnector`) does too."""

    inner: SummaryConnector

    def pull_account_summaries(self, as_of: date) -> Iterator[AccountSummary]:
        return self.inner.pull_account_summaries(as_of)


def fenced(inner: Connector, check: Callable[[], None], batch: int = WRITE_BATCH) -> Fenced:
    """The wrapper that keeps the inner connector's shape (streaming or not)."""
    if isinstance(inner, SummaryConnector):
        return FencedSummaries(inner, check, batch)
    if isinstance(inner, StreamingConnector):
        return FencedStreaming(inner, check, batch)
    return Fenced(inner, check, batch)


def _batches(changes: Sequence[Change], size: int) -> Iterator[list[Change]]:
    """Consecutive runs of changes holding at most `size` writes each (keeps ride along)."""
    part: list[Change] = []
    writes = 0
    for change in changes:
        if change.writes and writes == size:
            yield part
            part, writes = [], 0
        part.append(change)
        writes += change.writes
    if writes:
        yield part
