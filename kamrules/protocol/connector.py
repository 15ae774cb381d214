"""The small protocol every CRM connector implements; the core depends on nothing else."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, NamedTuple, Protocol, runtime_checkable

from kamrules.model import Account, FieldStat, RecordWarning, RevenuePoint, Snapshot, Task, User
from kamrules.protocol.changes import Change, ChangeResult

# progress(step, done, total): connectors call it on long work; the CLI draws it.
Progress = Callable[[str, int, int | None], None]


def no_progress(step: str, done: int, total: int | None) -> None:
    return None


@runtime_checkable
class Connector(Protocol):
    """Reads records and kamrules' own tasks from a CRM, and writes task changes back."""

    def pull(self, as_of: date, progress: Progress = no_progress) -> Snapshot:
        """Every account with its related records, as canonical models; bad records as warnings."""
        ...

    def list_tasks(self, completed_since: date) -> list[Task]:
        """kamrules' tasks in the CRM: every open one, and those completed since the date."""
        ...

    def apply(self, changes: Sequence[Change], progress: Progress = no_progress) -> list[ChangeResult]:
        """Write the creates, updates and closes: one result per write, in order; never fatal."""
        ...

    def commit(self) -> None:
        """Called once the run's writes all succeeded: commit incremental-pull bookmarks."""
        ...

    @property
    def api_calls(self) -> int:
        """CRM API calls made so far by this connector (0 for the local CRM)."""
        ...

    def close(self) -> None:
        ...


@runtime_checkable
class TaskLinks(Protocol):
    """A connector that knows where a person opens a task in the CRM's own UI (optional)."""

    def task_url(self, task_id: str) -> str | None:
        """The task's address in the CRM's UI, or None where it has none (the local CRM)."""
        ...


@runtime_checkable
class PartWriter(Protocol):
    """A connector whose writes cost the same however many `apply` calls they come in (the
    local CRM: no API call, a transaction per batch anyway), so a run writes each part of its
    changes as soon as its task text is rendered, and lets that text go."""

    def writes_in_parts(self) -> bool:
        ...


def task_url(connector: object, task_id: str) -> str | None:
    """`connector.task_url(task_id)` where the connector has it, else None (the default)."""
    return connector.task_url(task_id) if isinstance(connector, TaskLinks) else None


@runtime_checkable
class StreamingConnector(Connector, Protocol):
    """A connector that can hand over the portfolio in chunks, so memory does not grow with it.

    A run uses these when a connector has them, else one `pull` as a single chunk.
    """

    def pull_accounts(self, as_of: date) -> Iterator[Account]:
        """Every account that validates (for the portfolio context), without related records."""
        ...

    def pull_chunks(self, as_of: date, size: int, progress: Progress = no_progress,
                    key_only: frozenset[str] = frozenset()) -> Iterator[Snapshot]:
        """Snapshots of up to `size` accounts each with all their related records (and the users);
        warnings for records that belong to no chunk come with the first. It may pull the kinds
        in `key_only` of key accounts only, saying so in each snapshot's `withheld` (nothing the
        run reads of the others: kamrules/run/projection.py)."""
        ...


class AccountSummary(NamedTuple):
    """What the portfolio context reads of an account (kamrules/evaluation/facts/view.py),
    under the same names as on `Account`."""

    id: str
    name: str
    is_key: bool
    revenue: list[RevenuePoint]


@runtime_checkable
class SummaryConnector(StreamingConnector, Protocol):
    """A streaming connector that reads the portfolio context's few account fields without
    building whole accounts (optional: a run uses `pull_accounts` where it is missing).

    A wrapper that changes accounts must not have it unless it changes the summaries too.
    """

    def pull_account_summaries(self, as_of: date) -> Iterator[AccountSummary]:
        """One summary per account `pull_accounts` yields, in its order, with its values."""
        ...


@dataclass
class ChunkPlan:
    """How a portfolio splits into chunks that worker processes pull themselves."""

    chunks: list[Any]  # per chunk, a small picklable description its reader understands
    users: list[User]  # every chunk's users (pulled once)
    warnings: list[RecordWarning]  # records that belong to no chunk: before the chunks' own
    # tallies of what the plan itself read (the users, the records of no account), merged
    # before the chunks' own
    stats: dict[str, FieldStat] = field(default_factory=dict)


class ChunkReader(Protocol):
    def chunk_plan(self, as_of: date, size: int) -> ChunkPlan | None:
        """Its connector's plan, made through this handle (in a process of its own)."""
        ...

    def pull_chunk(self, as_of: date, chunk: Any, users: list[User],
                   key_only: frozenset[str] = frozenset()) -> Snapshot:
        """One planned chunk, as `pull_chunks` would have handed it over (less the plan's
        warnings), with the record kinds in `key_only` of its key accounts only (nothing the
        run reads of the others: kamrules/run/projection.py)."""
        ...

    def pull_account_summaries(self, as_of: date, start: str | None = None,
                               stop: str | None = None) -> Iterator[AccountSummary]:
        """`SplitConnector.pull_account_summaries`, through this handle."""
        ...

    def close(self) -> None:
        ...


@runtime_checkable
class SplitConnector(StreamingConnector, Protocol):
    """A streaming connector whose chunks workers pull themselves (the local CRM: a file every
    process may read), so the run's process neither pulls nor ships the records."""

    def chunk_plan(self, as_of: date, size: int) -> ChunkPlan | None:
        """None where other processes cannot read this CRM (e.g. one in memory)."""
        ...

    def reader(self) -> ChunkReader:
        """A handle of its own on the same CRM, for the (forked) process that calls it."""
        ...

    def accounts_with_tasks(self, fingerprints: str) -> set[str]:
        """The ids of accounts with a task (of any status or age) whose fingerprint matches
        the glob `fingerprints` (`*`: any text): read before the chunks are evaluated, where
        reading costs no API call."""
        ...

    def pull_account_summaries(self, as_of: date, start: str | None = None,
                               stop: str | None = None) -> Iterator[AccountSummary]:
        """`SummaryConnector`'s, of the account keys from `start` to before `stop` where given
        (the portfolio context read in two parts at once: kamrules/run/planning.py)."""
        ...

    def context_split(self, share: float, more_than: int = 0) -> str | None:
        """The account key after the first `share` of the accounts in key order, where the
        second part of the portfolio context begins (None: a part would be empty, or there are
        no more than `more_than` accounts)."""
        ...

    def revision(self) -> tuple[int, ...]:
        """A value that changes whenever any process writes to the CRM: a what-if, whose two
        plans read it each for itself, checks that both read the same (kamrules/run/replay.py)."""
        ...
