"""The connectors a what-if plans over (kamrules/run/whatif.py): both plans must read the same
records. A CRM behind an API is pulled once and its records held for the second plan; a CRM
every process can read (the local CRM's file) is read by each plan as a run reads it, its
workers pulling their own chunks, so nothing is held between the plans (a held pull of
100,000 accounts was 957 MB at its peak), and its `revision` says whether anything wrote to it
meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any

from kamrules.model import Account, Snapshot, Task
from kamrules.protocol.changes import Change, ChangeResult
from kamrules.protocol.connector import (
    AccountSummary,
    ChunkPlan,
    ChunkReader,
    Connector,
    Progress,
    SplitConnector,
    no_progress,
)


class Replay:
    """A connector that pulls from the real one once and hands the same records to every plan."""

    def __init__(self, inner: Connector):
        self.inner = inner
        self.pulls = 0  # reads of the real CRM's records
        self._snapshot: Snapshot | None = None
        self._tasks: tuple[date, list[Task]] | None = None

    def begin(self) -> None:
        """A plan starts (held records: nothing is read again)."""

    def revision(self) -> tuple[int, ...]:
        """The same for every plan: they read the records held."""
        return ()

    def pull(self, as_of: date, progress: Progress = no_progress) -> Snapshot:
        if self._snapshot is None:
            self.pulls += 1
            self._snapshot = self.inner.pull(as_of, progress)
        return self._snapshot

    def list_tasks(self, completed_since: date) -> list[Task]:
        """The tasks listed once; a later call asking for less history filters that list."""
        if self._tasks is None or completed_since < self._tasks[0]:
            self._tasks = (completed_since, self.inner.list_tasks(completed_since))
        return [t for t in self._tasks[1] if t.status == "open" or t.completed is None
                or t.completed >= completed_since]

    def apply(self, changes: Sequence[Change], progress: Progress = no_progress) -> list[ChangeResult]:
        raise RuntimeError("a what-if never writes")

    def commit(self) -> None:
        return None

    @property
    def api_calls(self) -> int:
        return int(getattr(self.inner, "api_calls", 0) or 0)

    @property
    def task_warnings(self) -> list[Any]:
        return list(getattr(self.inner, "task_warnings", []))

    def close(self) -> None:
        return None


class SplitReplay(Replay):
    """Replay for a CRM every process can read: each plan reads it (a pull per plan), through
    the connector's own reads, less its writes; nothing is held."""

    inner: SplitConnector

    def begin(self) -> None:
        self.pulls += 1

    def revision(self) -> tuple[int, ...]:
        return self.inner.revision()

    def pull(self, as_of: date, progress: Progress = no_progress) -> Snapshot:
        return self.inner.pull(as_of, progress)

    def list_tasks(self, completed_since: date) -> list[Task]:
        return self.inner.list_tasks(completed_since)

    def pull_accounts(self, as_of: date) -> Iterator[Account]:
        return self.inner.pull_accounts(as_of)

    def pull_account_summaries(self, as_of: date, start: str | None = None,
                               stop: str | None = None) -> Iterator[AccountSummary]:
        return self.inner.pull_account_summaries(as_of, start, stop)

    def pull_chunks(self, as_of: date, size: int, progress: Progress = no_progress,
                    key_only: frozenset[str] = frozenset()) -> Iterator[Snapshot]:
        return self.inner.pull_chunks(as_of, size, progress, key_only)

    def chunk_plan(self, as_of: date, size: int) -> ChunkPlan | None:
        return self.inner.chunk_plan(as_of, size)

    def reader(self) -> ChunkReader:
        return self.inner.reader()

    def accounts_with_tasks(self, fingerprints: str) -> set[str]:
        return self.inner.accounts_with_tasks(fingerprints)

    def context_split(self, share: float, more_than: int = 0) -> str | None:
        return self.inner.context_split(share, more_than)


def replay(connector: Connector) -> Replay:
    """The local CRM read by each plan; any other CRM pulled once, whole (a streaming one too:
    both plans then read every kind of every account, what either may need)."""
    return SplitReplay(connector) if isinstance(connector, SplitConnector) else Replay(connector)
